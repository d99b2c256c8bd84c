package api

import (
	"net/http"

	"github.com/imapmigrate/imapmigrate/internal/service"
)

// VerifyRequest is the optional body of POST /api/v1/batches/{name}/verify:
// an empty User verifies every synced user of the batch.
type VerifyRequest struct {
	User string `json:"user,omitempty"`
}

// optionalBody decodes a JSON body into v when the request has one: the
// routes below take none for their default.
func optionalBody(w http.ResponseWriter, r *http.Request, v any) error {
	if r.ContentLength == 0 {
		return nil
	}
	return decode(w, r, maxBody, v)
}

// verifyBatch answers 202: the verifications run in the background; GET
// on the same path follows them.
func (h *handler) verifyBatch(w http.ResponseWriter, r *http.Request) error {
	var req VerifyRequest
	if err := optionalBody(w, r, &req); err != nil {
		return err
	}
	g, err := h.svc.VerifyBatch(r.Context(), r.PathValue("name"), req.User)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusAccepted, g)
}

func (h *handler) batchGrades(w http.ResponseWriter, r *http.Request) error {
	g, err := h.svc.BatchGrades(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, g)
}

// complete takes an optional service.CompleteOptions body and answers with
// the batch and the users below Good (service.Completion, a superset of
// the batch the other actions answer with), or 409 with ErrorBody.Below
// when users grade below the bar asked for.
func (h *handler) complete(w http.ResponseWriter, r *http.Request) error {
	var opts service.CompleteOptions
	if err := optionalBody(w, r, &opts); err != nil {
		return err
	}
	c, err := h.svc.CompleteBatchWith(r.Context(), r.PathValue("name"), opts)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, c)
}

// batchDNS runs the checks on each request: the console asks for them on
// demand, never while polling.
func (h *handler) batchDNS(w http.ResponseWriter, r *http.Request) error {
	d, err := h.svc.BatchDNS(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, d)
}
