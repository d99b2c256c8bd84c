package api

import (
	"net/http"

	"github.com/imapmigrate/imapmigrate/internal/service"
)

// The routes of the service's mail: a batch's report mails, and its
// welcome letters (settings, preview, send, and what was sent to whom).

func (h *handler) notifications(w http.ResponseWriter, r *http.Request) error {
	ns, err := h.svc.Notifications(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, nonNil(ns))
}

func (h *handler) welcome(w http.ResponseWriter, r *http.Request) error {
	st, err := h.svc.Welcome(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, st)
}

// setWelcome replaces the settings whole: a field left out is reset to its
// default.
func (h *handler) setWelcome(w http.ResponseWriter, r *http.Request) error {
	var opts service.WelcomeOptions
	if err := decode(w, r, maxBody, &opts); err != nil {
		return err
	}
	st, err := h.svc.SetWelcome(r.Context(), r.PathValue("name"), opts)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, st)
}

func (h *handler) previewWelcome(w http.ResponseWriter, r *http.Request) error {
	var req service.WelcomeRequest
	if err := decode(w, r, maxBody, &req); err != nil {
		return err
	}
	p, err := h.svc.PreviewWelcome(r.Context(), r.PathValue("name"), req)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, p)
}

// sendWelcome answers 202: the letters are queued and go out in the
// background; GET .../welcome shows how each went.
func (h *handler) sendWelcome(w http.ResponseWriter, r *http.Request) error {
	var req service.WelcomeRequest
	if err := decode(w, r, maxBody, &req); err != nil {
		return err
	}
	res, err := h.svc.SendWelcome(r.Context(), r.PathValue("name"), req)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusAccepted, res)
}
