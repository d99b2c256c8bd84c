package web

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/imapmigrate/imapmigrate/internal/mailsync"
	"github.com/imapmigrate/imapmigrate/internal/service"
)

// Grades of a user's data consistency, after Exchange Online's data
// consistency score.
const (
	GradePerfect     = "Perfect"
	GradeGood        = "Good"
	GradeInvestigate = "Investigate"
	GradePoor        = "Poor"
)

// grade says how much of a user's source mail is at the destination, and
// why the rest is not. Only what should have been copied and was not
// counts as missing: the failed items and the items the destination
// rejected. Items skipped by the batch's own limits (too large, over the
// item cap, received before the cut-off date) and items expunged from the
// source during the pass were meant to stay behind, so they do not lower
// the grade.
//
//   - Perfect: the user is Synced or Completed and nothing is missing.
//   - Good: at most 1 item, or 0.1% of the items synced, is missing.
//   - Investigate: at most 5% of the items synced is missing.
//   - Poor: more, or the user's migration Failed or is Blocked (the
//     destination mailbox is full: what is left cannot arrive until the
//     admin raises the quota).
func grade(u service.User) (name, reason string) {
	rejected := u.SkippedBy[mailsync.ReasonRejected]
	missing := u.ItemsFailed + rejected
	var parts []string
	if u.ItemsFailed > 0 {
		parts = append(parts, fmt.Sprintf("%d %s failed", u.ItemsFailed, plural(u.ItemsFailed, "item", "items")))
	}
	if rejected > 0 {
		parts = append(parts, fmt.Sprintf("%d rejected by the destination", rejected))
	}
	why := strings.Join(parts, ", ")
	synced := float64(u.ItemsSynced)
	switch {
	case u.Status == service.UserFailed:
		if why == "" {
			return GradePoor, "the migration failed"
		}
		return GradePoor, "the migration failed; " + why
	case u.Status == service.UserBlocked:
		if why == "" {
			return GradePoor, "blocked: the destination mailbox is full"
		}
		return GradePoor, "blocked: the destination mailbox is full; " + why
	case missing == 0 && (u.Status == service.UserSynced || u.Status == service.UserCompleted):
		return GradePerfect, "every item is at the destination"
	case missing == 0:
		return GradeGood, "nothing missing so far; the user is " + u.Status
	case float64(missing) <= max(1, 0.001*synced):
		return GradeGood, why
	case float64(missing) <= 0.05*synced:
		return GradeInvestigate, why
	}
	return GradePoor, why
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
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
	for _, reason := range slices.Sorted(maps.Keys(u.SkippedBy)) {
		d.Skipped = append(d.Skipped, reasonCount{Reason: reason, Count: u.SkippedBy[reason], Missing: reason == mailsync.ReasonRejected})
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
