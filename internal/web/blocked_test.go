package web

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/imapmigrate/imapmigrate/internal/api"
	"github.com/imapmigrate/imapmigrate/internal/api/apitest"
	"github.com/imapmigrate/imapmigrate/internal/service"
)

// TestBlockedUser: a user Blocked by a full destination mailbox is
// explained on its page, with a button that retries the batch's blocked
// and failed users and comes back to the page; the batch page can filter
// on the status and the batch list counts blocked users apart.
func TestBlockedUser(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	u := detailedUser()
	retry := time.Date(2026, 3, 1, 13, 0, 0, 0, time.UTC)
	u.Status, u.NextSync = service.UserBlocked, &retry
	u.LastError = `blocked: destination over quota: the mailbox alice@example.com is full, the server said "NO [OVERQUOTA] Quota exceeded"`
	tb.fake.PutUser(u)
	c := tb.signIn(t)

	body := c.get("/users/alice@example.com").Body.String()
	for _, want := range []string{`<span id="user-status" class="badge">Blocked</span>`, `<span id="grade">Poor</span>`,
		"blocked: the destination mailbox is full; 4 of 104 messages missing at the destination: 3 items failed, 1 rejected by the destination", `<section id="blocked"`,
		"Blocked: the destination mailbox is full", "tries again by itself at 2026-03-01 13:00",
		`<form method="post" action="/batches/spring/retry-failed"`, `<input type="hidden" name="next" value="/users/alice@example.com">`,
		`<button id="retry-blocked" type="submit">`} {
		if !strings.Contains(body, want) {
			t.Errorf("GET /users/alice@example.com has no %s", want)
		}
	}
	if w := c.post("/batches/spring/retry-failed", url.Values{"next": {"/users/alice@example.com"}}); w.Code != http.StatusSeeOther ||
		w.Header().Get("Location") != "/users/alice@example.com" {
		t.Errorf("POST retry-failed from the user page = %d to %q; want 303 back to the user", w.Code, w.Header().Get("Location"))
	}

	if body := c.get("/batches/spring?status=Blocked").Body.String(); !strings.Contains(body, `<option value="Blocked" selected>`) {
		t.Errorf("the batch page cannot filter on Blocked")
	}
	w := c.get("/ui/batches.json")
	var list struct {
		Batches []struct {
			Name    string `json:"name"`
			Blocked int    `json:"blocked"`
		} `json:"batches"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &list); err != nil || len(list.Batches) == 0 || list.Batches[0].Blocked != 1 {
		t.Errorf("GET /ui/batches.json = %s (%v); want spring with 1 blocked user", w.Body, err)
	}
	if body := c.get("/batches").Body.String(); !strings.Contains(body, `<td class="blocked num">1</td>`) {
		t.Errorf("the batch list has no blocked count")
	}
}

// TestEndpointConnections: the endpoints page shows the connections per
// mailbox the service opens to each server now, as a source and as a
// destination.
func TestEndpointConnections(t *testing.T) {
	t.Parallel()
	tb := setup(t, func(f *apitest.Fake) api.Service { return throttledDest{f} })
	c := tb.signIn(t)
	body := c.get("/endpoints").Body.String()
	if !strings.Contains(body, `<td class="connections num">4 / 2</td>`) {
		t.Errorf("GET /endpoints has no connections cell saying 4 / 2:\n%s", body)
	}
}

// throttledDest is a service whose endpoints were lowered to 2
// connections as destinations.
type throttledDest struct{ *apitest.Fake }

func (f throttledDest) Endpoints(ctx context.Context) ([]service.Endpoint, error) {
	eps, err := f.Fake.Endpoints(ctx)
	for i := range eps {
		eps[i].SourceConnections, eps[i].DestConnections = 4, 2
	}
	return eps, err
}
