package api

import (
	"bytes"
	"cmp"
	"context"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"maps"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/imapmigrate/imapmigrate/internal/mailsync"
	"github.com/imapmigrate/imapmigrate/internal/service"
	"github.com/imapmigrate/imapmigrate/internal/size"
)

// The HTML report is one file an admin can send to a customer: it opens
// offline, in a browser or a mail client, so it holds everything itself.
// Its CSS is inline and its charts are SVG drawn here, in Go: no script,
// no font, no image, no link to anything. Every value goes through
// html/template, so that a subject or a folder name written by whoever
// sent the mail is text, never markup.

//go:embed report_html.tmpl
var reportHTMLText string

var reportHTML = template.Must(template.New("report").Parse(reportHTMLText))

// HTMLReport is what the HTML report of a batch shows.
type HTMLReport struct {
	Batch *service.Batch
	// Source and Dest are the batch's endpoints: only their names and
	// addresses are shown.
	Source, Dest *service.Endpoint
	Users        []service.User
	Passes       []service.Pass
	Generated    time.Time
}

// BuildHTMLReport gathers the HTML report of batch name from svc.
func BuildHTMLReport(ctx context.Context, svc Service, name string) (*HTMLReport, error) {
	r := &HTMLReport{Generated: time.Now()}
	var err error
	if r.Batch, err = svc.Batch(ctx, name); err != nil {
		return nil, err
	}
	if r.Source, err = svc.Endpoint(ctx, r.Batch.SourceEndpoint); err != nil {
		return nil, fmt.Errorf("report of batch %q: source endpoint: %w", name, err)
	}
	if r.Dest, err = svc.Endpoint(ctx, r.Batch.DestEndpoint); err != nil {
		return nil, fmt.Errorf("report of batch %q: destination endpoint: %w", name, err)
	}
	if r.Users, err = svc.Report(ctx, name); err != nil {
		return nil, err
	}
	if r.Passes, err = svc.History(ctx, name); err != nil {
		return nil, err
	}
	return r, nil
}

// WriteReportHTML writes r as one self-contained HTML page. Times are in
// the batch's time zone (UTC when it has none).
func WriteReportHTML(w io.Writer, r *HTMLReport) error {
	return reportHTML.Execute(w, newReportView(r))
}

// writeHTMLAttachment answers with the report as a file to save. Built in
// memory first, so that a failure is still a JSON error. The policy keeps
// a browser that opens it in place from running or fetching anything.
func writeHTMLAttachment(w http.ResponseWriter, r *HTMLReport) error {
	var buf bytes.Buffer
	if err := WriteReportHTML(&buf, r); err != nil {
		return fmt.Errorf("report of batch %q: %w", r.Batch.Name, err)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", ReportCSP)
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": r.Batch.Name + "-report.html"}))
	w.WriteHeader(http.StatusOK)
	w.Write(buf.Bytes())
	return nil
}

// ReportCSP is the Content-Security-Policy the HTML report is served
// with: its own inline style, nothing else.
const ReportCSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"

// Caps of the report's lists; the rest is counted, and in the CSV report.
const (
	maxReportItems  = 50  // listed per reason
	maxReportPasses = 100 // newest passes listed
)

type reportView struct {
	Name, State, Zone, Generated string
	Facts                        []fact
	Grade, GradeWhy              string
	Stale                        string
	Charts                       []chart
	Users                        []reportUser
	Reasons                      []reasonItems
	Passes                       []reportPass
	MorePasses                   int
}

type fact struct{ Label, Value string }

type reportUser struct {
	Email, Status, Bytes, LastSync, Grade, GradeWhy, Error string
	Synced, Skipped, Failed                                int64
	Folders                                                []reportFolder
}

type reportFolder struct {
	service.Folder
	SkippedTotal int
	BytesText    string
}

type reasonItems struct {
	Kind, Reason string // Kind: skipped or failed
	Count        int64
	Items        []reportItem
	More         int64
}

type reportItem struct {
	User, Folder, Date, Subject, Size, Detail string
	UID                                       uint32
}

type reportPass struct {
	Finished, User, Kind, Outcome, Duration, Bytes, Error string
	Copied, Synced                                        int64
}

func newReportView(r *HTMLReport) reportView {
	b := r.Batch
	loc := b.Options.Zone()
	when := func(t *time.Time) string {
		if t == nil || t.IsZero() {
			return "-"
		}
		return t.In(loc).Format("2006-01-02 15:04 MST")
	}
	t := b.Totals
	v := reportView{
		Name: b.Name, State: b.State, Zone: loc.String(), Generated: when(&r.Generated),
		Facts: []fact{
			{"Source", endpointText(r.Source)},
			{"Destination", endpointText(r.Dest)},
			{"Created", when(&b.Created)},
			{"Started", when(b.Started)},
		},
	}
	if b.Options.StartAfter != nil {
		v.Facts = append(v.Facts, fact{"Start after", when(b.Options.StartAfter)})
	}
	if b.Options.CompleteAfter != nil {
		v.Facts = append(v.Facts, fact{"Complete after", when(b.Options.CompleteAfter)})
	}
	v.Facts = append(v.Facts,
		fact{"Completed", when(b.Completed)},
		fact{"Last sync", when(b.LastSync)},
		fact{"Users", fmt.Sprintf("%d (%s)", t.Users, usersByState(t.UsersByState))},
		fact{"Items", fmt.Sprintf("%d synced, %d skipped, %d failed", t.ItemsSynced, t.ItemsSkipped, t.ItemsFailed)},
		fact{"Size copied", size.Format(t.Bytes)},
	)
	if b.Stale && b.StaleSince != nil {
		v.Stale = fmt.Sprintf("Synced with no action since %s: complete the batch, or remove it.", when(b.StaleSince))
	}
	v.Grade, v.GradeWhy = batchGrade(r.Users)
	v.Charts = progressCharts(r.Passes, loc)
	for _, u := range r.Users {
		ru := reportUser{Email: u.EmailAddress, Status: u.Status, Synced: u.ItemsSynced, Skipped: u.ItemsSkipped,
			Failed: u.ItemsFailed, Bytes: size.Format(u.Bytes), LastSync: when(u.LastSync), Error: u.LastError}
		ru.Grade, ru.GradeWhy = userGrade(u, loc)
		for _, f := range u.Folders {
			rf := reportFolder{Folder: f, BytesText: size.Format(f.Bytes)}
			for _, n := range f.Skipped {
				rf.SkippedTotal += n
			}
			ru.Folders = append(ru.Folders, rf)
		}
		v.Users = append(v.Users, ru)
	}
	v.Reasons = itemsByReason(r.Users, loc)
	for i := len(r.Passes) - 1; i >= 0 && len(v.Passes) < maxReportPasses; i-- {
		p := r.Passes[i]
		v.Passes = append(v.Passes, reportPass{Finished: when(&p.Finished), User: p.User, Kind: p.Kind, Outcome: p.Outcome,
			Duration: p.Finished.Sub(p.Started).Round(time.Second).String(), Bytes: size.Format(p.Bytes), Error: p.Error,
			Copied: p.Copied, Synced: p.ItemsSynced})
	}
	v.MorePasses = len(r.Passes) - len(v.Passes)
	return v
}

// endpointText names an endpoint and its server; never its credentials.
func endpointText(e *service.Endpoint) string {
	return fmt.Sprintf("%s (%s:%d, %s)", e.Name, e.Host, e.Port, e.Security)
}

// reportStates orders the users-by-state figures the way a mailbox moves.
var reportStates = []string{
	service.UserQueued, service.UserValidating, service.UserSyncing, service.UserSynced,
	service.UserIncrementalSyncing, service.UserCompleting, service.UserCompleted,
	service.UserStopped, service.UserFailed, service.UserBlocked,
}

func usersByState(m map[string]int) string {
	var out []string
	for _, s := range reportStates {
		if m[s] > 0 {
			out = append(out, fmt.Sprintf("%d %s", m[s], s))
		}
	}
	for _, s := range slices.Sorted(maps.Keys(m)) {
		if !slices.Contains(reportStates, s) && m[s] > 0 {
			out = append(out, fmt.Sprintf("%d %s", m[s], s))
		}
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ", ")
}

// itemsByReason groups the skipped and failed items of every user by
// reason, most frequent first, listing up to maxReportItems of each. The
// counts are the users' figures, which include items not listed by the
// service at all (over_max_items is only counted).
func itemsByReason(users []service.User, loc *time.Location) []reasonItems {
	groups := map[[2]string]*reasonItems{}
	group := func(kind, reason string) *reasonItems {
		g := groups[[2]string{kind, reason}]
		if g == nil {
			g = &reasonItems{Kind: kind, Reason: reason}
			groups[[2]string{kind, reason}] = g
		}
		return g
	}
	for _, u := range users {
		for reason, n := range u.SkippedBy {
			group("skipped", reason).Count += n
		}
		failed := map[string]int64{}
		for _, it := range u.FailedItems {
			failed[it.Reason]++
		}
		// Items failed in earlier passes are counted but not listed.
		if listed := int64(len(u.FailedItems)); u.ItemsFailed > listed {
			failed["failed"] += u.ItemsFailed - listed
		}
		for reason, n := range failed {
			group("failed", reason).Count += n
		}
		for _, list := range []struct {
			kind  string
			items []service.Item
		}{{"skipped", u.SkippedItems}, {"failed", u.FailedItems}} {
			for _, it := range list.items {
				g := group(list.kind, it.Reason)
				if len(g.Items) == maxReportItems {
					continue
				}
				var date string
				if !it.Date.IsZero() {
					date = it.Date.In(loc).Format("2006-01-02 15:04")
				}
				g.Items = append(g.Items, reportItem{User: u.EmailAddress, Folder: it.Folder, UID: it.UID,
					Date: date, Subject: it.Subject, Size: size.Format(it.Size), Detail: it.Detail})
			}
		}
	}
	var out []reasonItems
	for _, g := range groups {
		if g.Count == 0 {
			continue
		}
		g.More = max(0, g.Count-int64(len(g.Items)))
		out = append(out, *g)
	}
	slices.SortFunc(out, func(a, b reasonItems) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(b.Count, a.Count), cmp.Compare(a.Reason, b.Reason))
	})
	return out
}

// userGrade is the user's consistency grade and why, with where it comes
// from when a verification measured it.
func userGrade(u service.User, loc *time.Location) (grade, why string) {
	g := u.Grade
	why = g.Reason
	if g.From == service.GradeFromVerification && g.At != nil {
		why += " (verified " + g.At.In(loc).Format("2006-01-02 15:04 MST") + ")"
	}
	return string(g.Grade), why
}

// batchGrade is the worst of the users' grades (mailsync.BatchGrade),
// empty when no user has one.
func batchGrade(users []service.User) (grade, why string) {
	var grades []mailsync.Grade
	for _, u := range users {
		if u.Grade.Grade != "" {
			grades = append(grades, u.Grade.Grade)
		}
	}
	if len(grades) == 0 {
		return "", ""
	}
	g, why := mailsync.BatchGrade(grades)
	return string(g), why
}

// history answers with the batch's passes, oldest first.
func (h *handler) history(w http.ResponseWriter, r *http.Request) error {
	ps, err := h.svc.History(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, nonNil(ps))
}
