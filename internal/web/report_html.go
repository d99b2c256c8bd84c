package web

import (
	"bytes"
	"mime"
	"time"

	"github.com/imapmigrate/imapmigrate/internal/api"
	"github.com/imapmigrate/imapmigrate/internal/service"
)

// reportHTML serves the batch's HTML report as a file to save and send
// (see api.WriteReportHTML), under the report's own policy: it runs and
// loads nothing, not even the console's files.
func (h *handler) reportHTML(c *call) error {
	name := c.r.PathValue("name")
	rep, err := api.BuildHTMLReport(c.r.Context(), h.svc, name)
	if err != nil {
		return err
	}
	// Built in memory first, so that a failure is an error page, not a
	// truncated file.
	var buf bytes.Buffer
	if err := api.WriteReportHTML(&buf, rep); err != nil {
		return err
	}
	c.w.Header().Set("Content-Type", "text/html; charset=utf-8")
	c.w.Header().Set("Content-Security-Policy", api.ReportCSP)
	c.w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name + "-report.html"}))
	c.w.Write(buf.Bytes())
	return nil
}

// staleDays says whether the batch is flagged stale and for how many
// whole days it has had no action.
func staleDays(b service.Batch) (bool, int) {
	if !b.Stale || b.StaleSince == nil {
		return false, 0
	}
	return true, int(time.Since(*b.StaleSince) / (24 * time.Hour))
}
