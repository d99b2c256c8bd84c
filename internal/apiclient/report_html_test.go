package apiclient

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/imapmigrate/imapmigrate/internal/service"
)

func TestHistoryAndHTMLReport(t *testing.T) {
	c, fake := setup(t)
	ctx := context.Background()
	for _, name := range []string{"old", "new"} {
		if _, err := c.AddEndpoint(ctx, service.EndpointSpec{Endpoint: service.Endpoint{Name: name, Host: name + ".example.com"}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := c.CreateBatch(ctx, service.BatchSpec{Name: "spring", SourceEndpoint: "old", DestEndpoint: "new", CSV: usersCSV}); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	fake.AddPass("spring", service.Pass{User: "alice@example.com", Kind: "initial", Started: at, Finished: at.Add(time.Minute),
		Copied: 4, Bytes: 4096, ItemsSynced: 4, BytesTotal: 4096, Outcome: service.PassOK})
	ps, err := c.History(ctx, "spring")
	if err != nil || len(ps) != 1 || ps[0].User != "alice@example.com" || !ps[0].Finished.Equal(at.Add(time.Minute)) || ps[0].BytesTotal != 4096 {
		t.Errorf("History = %+v, %v; want alice's pass", ps, err)
	}
	page, err := c.ReportHTML(ctx, "spring")
	if err != nil || !strings.HasPrefix(string(page), "<!DOCTYPE html>") || !strings.Contains(string(page), "; 4 messages at the destination") {
		t.Errorf("ReportHTML = %.200q, %v; want the page with alice's pass", page, err)
	}
	if _, err := c.ReportHTML(ctx, "winter"); !errors.Is(err, service.ErrNotFound) {
		t.Errorf("ReportHTML of a batch that does not exist: %v; want not found", err)
	}
	if _, err := c.History(ctx, "winter"); !errors.Is(err, service.ErrNotFound) {
		t.Errorf("History of a batch that does not exist: %v; want not found", err)
	}
}
