package web

import (
	"maps"
	"net/http"
	"slices"

	"github.com/imapmigrate/imapmigrate/internal/mailsync"
	"github.com/imapmigrate/imapmigrate/internal/service"
)

// Grades of a user's data consistency, after Exchange Online's data
// consistency score (mailsync.GradeOf).
const (
	GradePerfect     = string(mailsync.GradePerfect)
	GradeGood        = string(mailsync.GradeGood)
	GradeInvestigate = string(mailsync.GradeInvestigate)
	GradePoor        = string(mailsync.GradePoor)
)

// grade says how much of a user's source mail is at the destination, and
// why the rest is not, with the one definition of the grade
// (mailsync.GradeOf) that verifications use: the last verification's
// grade when one has run, else service.StatisticsGrade, from the figures
// of the passes. There, only what should have been copied and was not
// counts as missing: the failed items and the items the destination
// refused (rejected, over its APPENDLIMIT). Items skipped by the batch's
// own limits and items expunged from the source during the pass were
// meant to stay behind. A Failed or Blocked user is Poor.
func grade(u service.User) (name, reason string) {
	g := service.GradeUser(u)
	return string(g.Grade), g.Reason
}

// gradeSource says where the grade shown comes from.
func gradeSource(g service.UserGrade) string {
	if g.From == service.GradeFromVerification && g.At != nil {
		return "from verification at " + formatTime(g.At)
	}
	return "from sync statistics"
}

// reasonCount is one line of "skipped by reason".
type reasonCount struct {
	Reason  string
	Count   int64
	Missing bool // counts as missing in the grade
}

type folderRow struct {
	service.Folder
	SkippedTotal int
}

type userData struct {
	User     *service.User
	Grade    string
	Why      string
	From     string // where the grade comes from
	Lists    *verificationLists
	Progress progress
	Skipped  []reasonCount
	Folders  []folderRow
}

func (h *handler) user(c *call) error {
	u, err := h.svc.User(c.r.Context(), c.r.PathValue("email"))
	if err != nil {
		return err
	}
	d := userData{User: u, Progress: userProgress(*u)}
	d.Grade, d.Why = grade(*u)
	d.From = gradeSource(service.GradeUser(*u))
	d.Lists = newVerificationLists(u.Verification)
	for _, reason := range slices.Sorted(maps.Keys(u.SkippedBy)) {
		d.Skipped = append(d.Skipped, reasonCount{Reason: reason, Count: u.SkippedBy[reason], Missing: service.CountsAsMissing(reason)})
	}
	for _, f := range u.Folders {
		row := folderRow{Folder: f}
		for _, n := range f.Skipped {
			row.SkippedTotal += n
		}
		d.Folders = append(d.Folders, row)
	}
	h.render(c, http.StatusOK, "user", view{Title: u.EmailAddress, Nav: "batches", Data: d})
	return nil
}
