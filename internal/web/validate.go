package web

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/imapmigrate/imapmigrate/internal/service"
)

// validateBatch runs the batch's Validate step (all users, or the form's
// "sample" of them) and comes back to the batch's page, which shows each
// user's result. It takes a few seconds per user, a few users at a time,
// and the page waits for it.
func (h *handler) validateBatch(c *call) error {
	name := c.r.PathValue("name")
	back := batchPath(name)
	var opts service.ValidateOptions
	if text := strings.TrimSpace(c.form.Get("sample")); text != "" {
		n, err := strconv.Atoi(text)
		if err != nil || n < 1 {
			h.flashError(c, fmt.Errorf("users to check: a number, or empty for all: %w", service.ErrInvalid))
			return c.redirect(back)
		}
		opts.Sample = n
	}
	v, err := h.svc.ValidateBatch(c.r.Context(), name, opts)
	if err != nil {
		h.flashError(c, err)
		return c.redirect(back)
	}
	h.flashOK(c, "Batch %s validated: %d users, %d ok, %d with warnings, %d with errors; nothing was copied.",
		name, v.Validated, v.OK, v.Warnings, v.Errors)
	return c.redirect(back)
}
