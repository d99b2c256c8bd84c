package web

import (
	"fmt"

	"github.com/imapmigrate/imapmigrate/internal/mailsync"
	"github.com/imapmigrate/imapmigrate/internal/service"
)

// verifyBatch queues a verification of the batch's synced users, or of the
// one user of the form's "user" field, and comes back to the page it was
// posted from. The grades change as each verification ends; the batch
// page's polling shows them.
func (h *handler) verifyBatch(c *call) error {
	name, user := c.r.PathValue("name"), c.form.Get("user")
	back := localPath(c.form.Get("next"), batchPath(name))
	g, err := h.svc.VerifyBatch(c.r.Context(), name, user)
	if err != nil {
		h.flashError(c, err)
		return c.redirect(back)
	}
	if user != "" {
		h.flashOK(c, "Verification of %s queued: it compares the destination with the source and changes nothing.", user)
	} else {
		h.flashOK(c, "Verification of batch %s queued for its synced users (%d running or waiting): each grade changes when its verification ends.",
			name, g.Verifying)
	}
	return c.redirect(back)
}

// diffTable is a list of differences of a verification, as shown: at most
// service.MaxVerificationItems of Total.
type diffTable struct {
	ID, Title string
	Items     []mailsync.Difference
	Note      capNote
}

// capNote says how many of a list's items are shown.
type capNote struct{ Shown, Total int }

// verificationLists are the lists of a user's last verification.
type verificationLists struct {
	Missing, Extra diffTable
	Flags, Dates   capNote
}

func newVerificationLists(v *service.Verification) *verificationLists {
	if v == nil || v.Details == nil || v.Totals == nil {
		return nil
	}
	d, t := v.Details, v.Totals
	return &verificationLists{
		Missing: diffTable{ID: "verify-missing", Title: "Missing at the destination", Items: d.Missing, Note: capNote{len(d.Missing), t.Missing}},
		Extra: diffTable{ID: "verify-extra", Title: "Extra at the destination (destination UID)", Items: d.Extra,
			Note: capNote{len(d.Extra), t.Extra}},
		Flags: capNote{len(d.FlagsDiffer), t.FlagsDiffer},
		Dates: capNote{len(d.DatesDiffer), t.DatesDiffer},
	}
}

// batchGrade is the batch's grade, its worst user's, with the reason.
func batchGrade(users []service.User) (string, string) {
	grades := make([]mailsync.Grade, 0, len(users))
	for _, u := range users {
		grades = append(grades, service.GradeUser(u).Grade)
	}
	g, why := mailsync.BatchGrade(grades)
	return string(g), why
}

// loadDNS checks the batch's domains for the page, when asked: a failure
// is shown on the page rather than replacing it.
func (h *handler) loadDNS(c *call, d *batchData) {
	dns, err := h.svc.BatchDNS(c.r.Context(), d.Batch.Name)
	if err != nil {
		_, msg := h.describe(c.r, err)
		d.DNSError = fmt.Sprintf("The DNS check failed: %s", msg)
		return
	}
	d.DNS = dns
}

// belowGood lists the users of the batch that grade below Good, for the
// confirmation of a completion: the console completes as batch complete
// does without --require-grade, but says first what the warnings would.
func (h *handler) belowGood(c *call, name string) ([]service.GradeNote, error) {
	us, err := h.svc.Users(c.r.Context(), name)
	if err != nil {
		return nil, err
	}
	var out []service.GradeNote
	for _, u := range us {
		if g := service.GradeUser(u); g.Grade == mailsync.GradeInvestigate || g.Grade == mailsync.GradePoor {
			out = append(out, service.GradeNote{User: u.EmailAddress, UserGrade: g})
		}
	}
	return out, nil
}
