package api

import (
	"net/http"

	"github.com/imapmigrate/imapmigrate/internal/service"
)

// validateBatch runs the Validate step (service.ValidateOptions as an
// optional body: {"sample": N}) and answers with every user's last
// validation once it is done; the logins and counts take a few seconds
// per user, a few users at a time.
func (h *handler) validateBatch(w http.ResponseWriter, r *http.Request) error {
	var opts service.ValidateOptions
	if err := optionalBody(w, r, &opts); err != nil {
		return err
	}
	v, err := h.svc.ValidateBatch(r.Context(), r.PathValue("name"), opts)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}

func (h *handler) validation(w http.ResponseWriter, r *http.Request) error {
	v, err := h.svc.Validation(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}
