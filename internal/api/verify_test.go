package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/imapmigrate/imapmigrate/internal/mailsync"
	"github.com/imapmigrate/imapmigrate/internal/service"
)

// TestVerifyAndCompleteRoutes: POST verify answers 202 with the grades,
// with or without a body; GET verify shows them; complete takes an
// optional body, answers with the batch and its warnings, and a grade
// refusal is 409 listing every user below the bar.
func TestVerifyAndCompleteRoutes(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tb.fake.PutUser(service.User{Batch: "spring", EmailAddress: "alice@example.com", Status: service.UserSynced, ItemsSynced: 10, LastSync: &at,
		Verification: &service.Verification{State: service.VerifyDone, VerifiedAt: &at, Grade: mailsync.GradePoor, GradeReason: "9 of 10 messages missing at the destination"}})

	w := tb.do("POST", "/api/v1/batches/spring/verify", "")
	var g service.BatchGrades
	if w.Code != http.StatusAccepted || json.Unmarshal(w.Body.Bytes(), &g) != nil || g.Verifying != 1 || g.Grade != mailsync.GradePoor {
		t.Errorf("POST verify = %d %s; want 202, 1 verifying, grade Poor", w.Code, w.Body)
	}
	if w := tb.do("POST", "/api/v1/batches/spring/verify", `{"user":"nobody@example.com"}`); w.Code != http.StatusNotFound {
		t.Errorf("POST verify of a stranger = %d; want 404", w.Code)
	}
	if w := tb.do("POST", "/api/v1/batches/spring/verify", `{"usr":"alice@example.com"}`); w.Code != http.StatusBadRequest {
		t.Errorf("POST verify with a misspelt field = %d; want 400", w.Code)
	}
	if w := tb.do("GET", "/api/v1/batches/spring/verify", ""); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"grade":"Poor"`) {
		t.Errorf("GET verify = %d %s; want 200 with the grades", w.Code, w.Body)
	}

	tb.do("POST", "/api/v1/batches/spring/start", "")
	w = tb.do("POST", "/api/v1/batches/spring/complete", `{"require_grade":"investigate"}`)
	eb := decodeError(t, w)
	if w.Code != http.StatusConflict || len(eb.Below) != 1 || eb.Below[0].User != "alice@example.com" || eb.Below[0].Grade != mailsync.GradePoor ||
		!strings.Contains(eb.Error, "below Investigate") {
		t.Errorf("POST complete requiring investigate = %d %+v; want 409 listing alice (Poor)", w.Code, eb)
	}
	if w := tb.do("POST", "/api/v1/batches/spring/complete", `{"require_grade":"great"}`); w.Code != http.StatusUnprocessableEntity {
		t.Errorf("POST complete requiring great = %d; want 422", w.Code)
	}
	w = tb.do("POST", "/api/v1/batches/spring/complete", "")
	var c service.Completion
	if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &c) != nil || c.State != service.BatchCompleting ||
		len(c.Warnings) != 1 || c.Warnings[0].User != "alice@example.com" || c.Warnings[0].From != service.GradeFromVerification {
		t.Errorf("POST complete = %d %s; want 200, Completing, a warning for alice from her verification", w.Code, w.Body)
	}
}

func TestBatchDNSRoute(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	w := tb.do("GET", "/api/v1/batches/spring/dns", "")
	var d service.BatchDNS
	if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &d) != nil || len(d.Domains) != 1 || d.Domains[0].Domain != "example.com" || d.Domains[0].Users != 2 {
		t.Errorf("GET dns = %d %s; want example.com with 2 users", w.Code, w.Body)
	}
	if w := tb.do("GET", "/api/v1/batches/autumn/dns", ""); w.Code != http.StatusNotFound {
		t.Errorf("GET dns of no batch = %d; want 404", w.Code)
	}
}
