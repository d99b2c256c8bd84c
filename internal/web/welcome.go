package web

import (
	"errors"
	"fmt"

	"github.com/imapmigrate/imapmigrate/internal/service"
)

// welcomePanel is the "Welcome letters" panel of a batch's page: the
// settings, the letter of the batch's first user as a preview, the send
// button, and each user's last letter.
type welcomePanel struct {
	Status  *service.WelcomeStatus
	Preview *service.WelcomePreview
	// PreviewError says why the letter cannot be written (a template
	// that names an unknown field); empty otherwise.
	PreviewError string
	CSRF         string
}

func (h *handler) welcomePanel(c *call, batch string) (*welcomePanel, error) {
	ctx := c.r.Context()
	st, err := h.svc.Welcome(ctx, batch)
	if err != nil {
		return nil, err
	}
	p := &welcomePanel{Status: st, CSRF: c.s.csrf}
	if len(st.Letters) == 0 {
		return p, nil
	}
	p.Preview, err = h.svc.PreviewWelcome(ctx, batch, service.WelcomeRequest{})
	if errors.Is(err, service.ErrInvalid) {
		p.PreviewError, err = err.Error(), nil
	}
	return p, err
}

// sendWelcome queues the batch's welcome letters (again to those sent
// one already when "resend" is ticked) and comes back to the panel.
func (h *handler) sendWelcome(c *call) error {
	name := c.r.PathValue("name")
	back := batchPath(name) + "#welcome"
	res, err := h.svc.SendWelcome(c.r.Context(), name, service.WelcomeRequest{Resend: c.form.Get("resend") != ""})
	if err != nil {
		h.flashError(c, err)
		return c.redirect(back)
	}
	msg := fmt.Sprintf("Batch %s: %d welcome letter(s) queued; they go out in the background (reload to see how each went).", name, len(res.Queued))
	if n := len(res.Skipped); n > 0 {
		msg += fmt.Sprintf(" %d user(s) skipped: sent one already or one is queued (tick \"Send again\" to resend).", n)
	}
	h.flashOK(c, "%s", msg)
	return c.redirect(back)
}
