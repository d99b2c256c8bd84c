package apiclient

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/imapmigrate/imapmigrate/internal/mailsync"
	"github.com/imapmigrate/imapmigrate/internal/service"
)

// TestClientGrades: the verification, grade and DNS calls round-trip, and
// a completion refused for grades comes back as a *service.GradeError
// listing the users, that is also a conflict.
func TestClientGrades(t *testing.T) {
	c, fake := setup(t)
	ctx := context.Background()
	for _, name := range []string{"old", "new"} {
		if _, err := c.AddEndpoint(ctx, service.EndpointSpec{Endpoint: service.Endpoint{Name: name, Host: name + ".example.com"}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := c.CreateBatch(ctx, service.BatchSpec{Name: "spring", SourceEndpoint: "old", DestEndpoint: "new", CSV: usersCSV, Start: true}); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	fake.PutUser(service.User{Batch: "spring", EmailAddress: "alice@example.com", Status: service.UserSynced, ItemsSynced: 1000, LastSync: &at,
		SkippedBy: map[string]int64{"rejected": 20}})

	g, err := c.VerifyBatch(ctx, "spring", "alice@example.com")
	if err != nil || g.Verifying != 1 || g.Users[0].Verification.State != service.VerifyQueued {
		t.Fatalf("VerifyBatch = %+v, %v; want alice queued", g, err)
	}
	if g, err := c.BatchGrades(ctx, "spring"); err != nil || g.Grade != mailsync.GradeInvestigate || g.Users[0].Grade.From != service.GradeFromStatistics {
		t.Errorf("BatchGrades = %+v, %v; want Investigate (alice's 20 rejected), from statistics", g, err)
	}
	_, err = c.CompleteBatchWith(ctx, "spring", service.CompleteOptions{RequireGrade: "good"})
	var ge *service.GradeError
	if !errors.As(err, &ge) || !errors.Is(err, service.ErrConflict) || len(ge.Users) != 1 || ge.Users[0].User != "alice@example.com" {
		t.Errorf("CompleteBatchWith(require good) = %v; want a GradeError listing alice, a conflict", err)
	}
	comp, err := c.CompleteBatchWith(ctx, "spring", service.CompleteOptions{AfterMXSwitch: true, ExpectMX: []string{"mx.new.example"}})
	if err != nil || comp.Cutover == nil || comp.Cutover.ExpectMX[0] != "mx.new.example" || len(comp.Warnings) != 1 {
		t.Errorf("CompleteBatchWith(after the MX switch) = %+v, %v; want the cut-over and a warning for alice", comp, err)
	}
	if d, err := c.BatchDNS(ctx, "spring"); err != nil || len(d.Domains) != 1 || d.Domains[0].Domain != "example.com" {
		t.Errorf("BatchDNS = %+v, %v; want example.com", d, err)
	}
}
