package mailsync

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Verification says how a destination mailbox compares with its source,
// folder by folder, as Verify found it. It is written as JSON or CSV by
// `imapmigrate verify --report` and rendered as a table on the terminal.
type Verification struct {
	Source      string    `json:"source"`
	Destination string    `json:"destination"`
	Started     time.Time `json:"started"`
	Finished    time.Time `json:"finished"`
	// Grade and GradeReason are GradeOf the totals.
	Grade       Grade         `json:"grade"`
	GradeReason string        `json:"grade_reason"`
	Folders     []FolderCheck `json:"folders"`
	Totals      CheckTotals   `json:"totals"`
	// Missing lists the source messages the policy keeps that are not at
	// the destination: what a sync would copy.
	Missing []Difference `json:"missing"`
	// Extra lists the destination messages that match no source message:
	// mail deleted at the source after it was copied, or mail that arrived
	// at the destination by other ways.
	Extra       []Difference `json:"extra"`
	FlagsDiffer []FlagsDiff  `json:"flags_differ"`
	DatesDiffer []DateDiff   `json:"dates_differ"`
	// Skipped lists the source messages left out as too large; the other
	// policy skips (over the item cap, received before the cut-off date, in
	// an excluded folder) are only counted, as in the sync's report.
	Skipped []Difference `json:"skipped"`
	// BodiesFetched counts the whole messages fetched, on both sides, to
	// settle a doubt that headers and sizes left (see Verify). It is 0 when
	// nothing was in doubt.
	BodiesFetched int `json:"bodies_fetched"`
}

// FolderCheck is the comparison of one source folder with its destination
// folder.
type FolderCheck struct {
	Source      string `json:"source"`
	Destination string `json:"destination,omitempty"`
	// Status is "compared", "skipped: <reason>" (a folder the rules leave
	// out), "missing" (no destination folder) or "error" (not readable).
	Status      string `json:"status"`
	Note        string `json:"note,omitempty"`
	Error       string `json:"error,omitempty"`
	SourceCount int    `json:"source_count"`
	DestCount   int    `json:"destination_count"`
	// Matched counts source messages found at the destination, whatever
	// the policy says of them.
	Matched     int `json:"matched"`
	Missing     int `json:"missing"`
	Extra       int `json:"extra"`
	FlagsDiffer int `json:"flags_differ"`
	DatesDiffer int `json:"dates_differ"`
	// Skipped counts the source messages not at the destination that the
	// policy leaves out, by reason: the sync's reasons, and "folder_<why>"
	// for every message of a folder the rules leave out.
	Skipped map[string]int `json:"skipped"`
}

// CheckTotals adds up the folders.
type CheckTotals struct {
	Folders     int `json:"folders"`
	SourceCount int `json:"source_count"`
	DestCount   int `json:"destination_count"`
	// Expected counts the source messages that should be at the
	// destination: matched plus missing, the base of the grade's
	// percentages.
	Expected    int            `json:"expected"`
	Matched     int            `json:"matched"`
	Missing     int            `json:"missing"`
	Extra       int            `json:"extra"`
	FlagsDiffer int            `json:"flags_differ"`
	DatesDiffer int            `json:"dates_differ"`
	Skipped     map[string]int `json:"skipped"`
	// MissingFolders and UnreadableFolders name the folders that could not
	// be compared: no destination folder, or a folder that failed to open
	// or to list its messages.
	MissingFolders    []string `json:"missing_folders"`
	UnreadableFolders []string `json:"unreadable_folders"`
}

// Difference is one message found at one end and not the other, named so
// that an admin can find it: folder (as the user sees it), UID, size, date
// and subject.
type Difference struct {
	Folder string `json:"folder"`
	// UID is the source UID, but for an extra message the destination's.
	UID     uint32    `json:"uid"`
	Size    int64     `json:"size"`
	Date    time.Time `json:"date"`
	Subject string    `json:"subject,omitempty"`
	// Reason is a policy skip's reason (ReasonTooLarge...), else empty.
	Reason string `json:"reason,omitempty"`
	Detail string `json:"detail,omitempty"`
}

// FlagsDiff is a message at both ends whose flags differ. Flags the
// destination folder cannot store are left out of both sets.
type FlagsDiff struct {
	Difference
	DestUID     uint32   `json:"destination_uid"`
	SourceFlags []string `json:"source_flags"`
	DestFlags   []string `json:"destination_flags"`
}

// DateDiff is a message at both ends whose INTERNALDATE differs.
type DateDiff struct {
	Difference
	DestUID  uint32    `json:"destination_uid"`
	DestDate time.Time `json:"destination_date"`
}

// Grade is a mailbox's data consistency, in the spirit of Exchange Online's
// data consistency score.
type Grade string

const (
	GradePerfect     Grade = "Perfect"
	GradeGood        Grade = "Good"
	GradeInvestigate Grade = "Investigate"
	GradePoor        Grade = "Poor"
)

// gradeRank orders the grades, best first.
var gradeRank = map[Grade]int{GradePerfect: 0, GradeGood: 1, GradeInvestigate: 2, GradePoor: 3}

// GradeFigures are what a grade is made of.
type GradeFigures struct {
	// Expected is the number of source messages that should be at the
	// destination: those the policy keeps (or found there anyway).
	Expected int
	// Missing is how many of them are not at the destination. Policy skips
	// (too large, over the item cap, received before the cut-off date, in
	// an excluded folder) were chosen and are not missing.
	Missing int
	// Differ is the number of flag differences plus the number of date
	// differences among the messages found at both ends.
	Differ int
	// MissingFolders are folders absent at the destination; Unreadable are
	// folders that could not be compared at all.
	MissingFolders []string
	Unreadable     []string
}

// GradeOf grades a mailbox and says why in words for an admin:
//
//   - Perfect: nothing missing, no flag or date difference, every folder
//     there.
//   - Good: missing at most 0.1% of the expected messages (at least 1
//     allowed), flag and date differences at most 1% (at least 1).
//   - Investigate: missing at most 5%, whatever the differences.
//   - Poor: more missing, or a folder could not be read.
//
// Messages at the destination that the source does not have (extra) do
// not lower the grade: nothing is lost by them.
func GradeOf(f GradeFigures) (Grade, string) {
	var parts []string
	if f.Missing > 0 {
		parts = append(parts, fmt.Sprintf("%d of %d %s missing at the destination", f.Missing, f.Expected, plural(f.Expected, "message", "messages")))
	}
	if f.Differ > 0 {
		parts = append(parts, fmt.Sprintf("%d flag or date %s", f.Differ, plural(f.Differ, "difference", "differences")))
	}
	if n := len(f.MissingFolders); n > 0 {
		parts = append(parts, fmt.Sprintf("%s not at the destination", listNames("folder", f.MissingFolders)))
	}
	if n := len(f.Unreadable); n > 0 {
		parts = append([]string{fmt.Sprintf("%s could not be read", listNames("folder", f.Unreadable))}, parts...)
	}
	why := strings.Join(parts, "; ")
	expected := float64(f.Expected)
	switch {
	case len(f.Unreadable) > 0:
		return GradePoor, why
	case f.Missing == 0 && f.Differ == 0 && len(f.MissingFolders) == 0:
		return GradePerfect, "every message is at the destination with its flags and date"
	case float64(f.Missing) <= max(1, 0.001*expected) && float64(f.Differ) <= max(1, 0.01*expected):
		return GradeGood, why
	case float64(f.Missing) <= max(1, 0.05*expected):
		return GradeInvestigate, why
	}
	return GradePoor, why
}

// BatchGrade grades a batch: its worst user's grade, so that one user's
// lost mail is never averaged away by a thousand perfect mailboxes. The
// reason counts the users by grade.
func BatchGrade(users []Grade) (Grade, string) {
	if len(users) == 0 {
		return GradePerfect, "no users"
	}
	worst := GradePerfect
	count := map[Grade]int{}
	for _, g := range users {
		count[g]++
		if gradeRank[g] > gradeRank[worst] {
			worst = g
		}
	}
	var parts []string
	for _, g := range []Grade{GradePoor, GradeInvestigate, GradeGood, GradePerfect} {
		if count[g] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", count[g], g))
		}
	}
	return worst, fmt.Sprintf("the worst of %d %s: %s", len(users), plural(len(users), "user", "users"), strings.Join(parts, ", "))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// listNames says "folder "Sent"" or "3 folders ("A", "B", "C")".
func listNames(what string, names []string) string {
	if len(names) == 1 {
		return fmt.Sprintf("%s %q", what, names[0])
	}
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = strconv.Quote(n)
	}
	return fmt.Sprintf("%d %ss (%s)", len(names), what, strings.Join(quoted, ", "))
}

// total fills in Totals and the grade from the folders, and sorts the
// lists by folder and UID.
func (v *Verification) total() {
	t := CheckTotals{Skipped: map[string]int{}, MissingFolders: []string{}, UnreadableFolders: []string{}}
	for _, f := range v.Folders {
		t.Folders++
		t.SourceCount += f.SourceCount
		t.DestCount += f.DestCount
		t.Matched += f.Matched
		t.Missing += f.Missing
		t.Extra += f.Extra
		t.FlagsDiffer += f.FlagsDiffer
		t.DatesDiffer += f.DatesDiffer
		for k, n := range f.Skipped {
			t.Skipped[k] += n
		}
		switch f.Status {
		case checkMissing:
			t.MissingFolders = append(t.MissingFolders, f.Source)
		case checkError:
			t.UnreadableFolders = append(t.UnreadableFolders, f.Source)
		}
	}
	t.Expected = t.Matched + t.Missing
	v.Totals = t
	v.Grade, v.GradeReason = GradeOf(GradeFigures{
		Expected: t.Expected, Missing: t.Missing, Differ: t.FlagsDiffer + t.DatesDiffer,
		MissingFolders: t.MissingFolders, Unreadable: t.UnreadableFolders,
	})
	for _, l := range [][]Difference{v.Missing, v.Extra, v.Skipped} {
		sortDifferences(l, func(i int) Difference { return l[i] })
	}
	sortDifferences(v.FlagsDiffer, func(i int) Difference { return v.FlagsDiffer[i].Difference })
	sortDifferences(v.DatesDiffer, func(i int) Difference { return v.DatesDiffer[i].Difference })
}

func sortDifferences[T any](l []T, at func(int) Difference) {
	sort.SliceStable(l, func(i, j int) bool {
		a, b := at(i), at(j)
		if a.Folder != b.Folder {
			return a.Folder < b.Folder
		}
		return a.UID < b.UID
	})
}

// WriteJSON writes the verification as indented JSON.
func (v *Verification) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// CSVColumns are the columns of CSVRows. One table holds every kind of
// record, told apart by the first column, so that a spreadsheet filter on
// Record gives the mailbox, folder or difference view; cells that do not
// apply to a record are empty.
var CSVColumns = []string{
	"Record", "Mailbox", "Folder", "DestinationFolder", "Status", "Grade",
	"SourceCount", "DestinationCount", "Matched", "Missing", "Extra", "FlagsDiffer", "DatesDiffer", "Skipped",
	"UID", "DestinationUID", "Date", "DestinationDate", "Size", "Subject", "Reason",
	"SourceFlags", "DestinationFlags", "Detail",
}

// CSVRows returns the verification as CSV rows under CSVColumns: a
// "mailbox" row with the totals and the grade (its reason in Detail), a
// "folder" row per folder, then a row per difference, its record named
// missing, extra, flags, date or skipped. Cells hold text from mailboxes
// as is: the writer must escape what a spreadsheet would run as a formula.
// Times are RFC 3339 in UTC.
func (v *Verification) CSVRows() [][]string {
	itoa := strconv.Itoa
	skipped := func(m map[string]int) string {
		var parts []string
		for _, k := range sortedKeys(m) {
			parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
		}
		return strings.Join(parts, " ")
	}
	date := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	}
	uid := func(u uint32) string {
		if u == 0 {
			return ""
		}
		return strconv.FormatUint(uint64(u), 10)
	}
	t := v.Totals
	rows := [][]string{{
		"mailbox", v.Source, "", v.Destination, "", string(v.Grade),
		itoa(t.SourceCount), itoa(t.DestCount), itoa(t.Matched), itoa(t.Missing), itoa(t.Extra), itoa(t.FlagsDiffer), itoa(t.DatesDiffer), skipped(t.Skipped),
		"", "", "", "", "", "", "", "", "", v.GradeReason,
	}}
	for _, f := range v.Folders {
		rows = append(rows, []string{
			"folder", v.Source, f.Source, f.Destination, f.Status, "",
			itoa(f.SourceCount), itoa(f.DestCount), itoa(f.Matched), itoa(f.Missing), itoa(f.Extra), itoa(f.FlagsDiffer), itoa(f.DatesDiffer), skipped(f.Skipped),
			"", "", "", "", "", "", "", "", "", joinNote(f.Note, f.Error),
		})
	}
	item := func(record string, d Difference, destUID uint32, destDate time.Time, srcFlags, dstFlags []string) []string {
		return []string{
			record, v.Source, d.Folder, "", "", "",
			"", "", "", "", "", "", "", "",
			uid(d.UID), uid(destUID), date(d.Date), date(destDate), strconv.FormatInt(d.Size, 10), d.Subject, d.Reason,
			strings.Join(srcFlags, " "), strings.Join(dstFlags, " "), d.Detail,
		}
	}
	for _, d := range v.Missing {
		rows = append(rows, item("missing", d, 0, time.Time{}, nil, nil))
	}
	for _, d := range v.Extra {
		atDest := d
		atDest.UID = 0 // an extra message has no source UID
		rows = append(rows, item("extra", atDest, d.UID, time.Time{}, nil, nil))
	}
	for _, d := range v.FlagsDiffer {
		rows = append(rows, item("flags", d.Difference, d.DestUID, time.Time{}, d.SourceFlags, d.DestFlags))
	}
	for _, d := range v.DatesDiffer {
		rows = append(rows, item("date", d.Difference, d.DestUID, d.DestDate, nil, nil))
	}
	for _, d := range v.Skipped {
		rows = append(rows, item("skipped", d, 0, time.Time{}, nil, nil))
	}
	return rows
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
