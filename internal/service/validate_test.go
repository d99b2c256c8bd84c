package service_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/imapmigrate/imapmigrate/internal/service"
	"github.com/imapmigrate/imapmigrate/internal/testserver"
)

// TestValidateBatch validates a batch of three users before it starts,
// from a Dovecot to a destination with a 60 KiB quota and the office365
// profile:
// u01 fits (ok); u02 holds four messages of 25 KB, over the batch's 20,000
// byte limit and together over the quota, and a "Files" folder, which
// Office 365 keeps for itself (warnings); u03 has no destination mailbox
// (an error, in the words a failed pass would use). The figures are the
// source's own, and nothing is copied or started.
func TestValidateBatch(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{users: 3, messagesBase: 8, missingDest: "u03", dstQuotaKB: 60})
	big := testserver.Corpus(testserver.CorpusOptions{Seed: 77, Messages: 4, Folders: []string{"INBOX", "Files"}, MinSize: 25000, MaxSize: 26000})
	if err := testserver.Seed(b.ctx, b.src.Addr, "u02", b.password["u02"], big); err != nil {
		t.Fatal(err)
	}
	b.corpus["u02"] = append(b.corpus["u02"], big...)
	// The source is a Dovecot (no groupware: its "Files" is mail), the
	// destination an Office 365 as far as folder names go.
	for name, profile := range map[string]string{"src": "dovecot", "dst": "office365"} {
		e := b.endpoint(name)
		e.Profile, e.Effective = profile, nil
		if _, err := b.svc.UpdateEndpoint(b.ctx, name, service.EndpointSpec{Endpoint: *e}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := b.svc.CreateBatch(b.ctx, service.BatchSpec{Name: "wave", SourceEndpoint: "src", DestEndpoint: "dst",
		CSV: b.csv(1, 3, nil), Options: service.BatchOptions{MaxMessageSize: 20000}}); err != nil {
		t.Fatal(err)
	}

	// A sample of two takes the first user and one further on.
	v, err := b.svc.ValidateBatch(b.ctx, "wave", service.ValidateOptions{Sample: 2})
	if err != nil {
		t.Fatal(err)
	}
	if v.Validated != 2 || v.Users[0].Validation == nil || v.Users[1].Validation == nil || v.Users[2].Validation != nil {
		t.Errorf("sample of 2: %d validated (%+v); want u01 and u02", v.Validated, v.Users)
	}

	v, err = b.svc.ValidateBatch(b.ctx, "wave", service.ValidateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if v.Validated != 3 || v.OK != 1 || v.Warnings != 1 || v.Errors != 1 {
		t.Errorf("validation: %d validated, %d ok, %d with warnings, %d with errors; want 3, 1, 1, 1", v.Validated, v.OK, v.Warnings, v.Errors)
	}
	byUser := map[string]*service.Validation{}
	for _, u := range v.Users {
		byUser[strings.TrimSuffix(u.EmailAddress, "@example.com")] = u.Validation
	}
	size := func(user string) (n int64) {
		for _, m := range b.corpus[user] {
			n += int64(len(m.Raw))
		}
		return n
	}
	for _, tt := range []struct {
		user     string
		result   string
		tooLarge int
		want     []string // in the errors and warnings
	}{
		{"u01", service.ValidationOK, 0, nil},
		{"u02", service.ValidationWarnings, 4, []string{
			`the destination's quota "User quota" leaves 60.0 KiB free, but the folders to copy hold`,
			"4 messages are larger than 19.5 KiB, the most the destination takes",
			`source folder "Files" goes to "Files (imported)": the destination keeps "Files" for itself`,
		}},
		{"u03", service.ValidationErrors, 0, []string{
			"the destination server refused the login of u03@example.com: the mailbox may not exist yet (create it before migrating)",
		}},
	} {
		got := byUser[tt.user]
		if got == nil {
			t.Errorf("%s: not validated", tt.user)
			continue
		}
		said := strings.Join(append(got.Errors, got.Warnings...), "\n")
		if got.Result != tt.result || got.TooLarge != tt.tooLarge || got.SizeLimit != 20000 && tt.user != "u03" {
			t.Errorf("%s: result %s, %d too large (limit %d); want %s, %d, 20000\n%s", tt.user, got.Result, got.TooLarge, got.SizeLimit,
				tt.result, tt.tooLarge, said)
		}
		for _, w := range tt.want {
			if !strings.Contains(said, w) {
				t.Errorf("%s: errors and warnings:\n%s\nwant %q", tt.user, said, w)
			}
		}
		if got.Messages != len(b.corpus[tt.user]) || got.Bytes != size(tt.user) {
			t.Errorf("%s: %d messages, %d bytes; want the source's %d, %d", tt.user, got.Messages, got.Bytes, len(b.corpus[tt.user]), size(tt.user))
		}
	}
	if u1 := byUser["u01"]; u1.QuotaFree == nil || *u1.QuotaFree != 60*1024 || len(u1.Mapping) == 0 {
		t.Errorf("u01: quota free %v, mapping %+v; want 60 KiB and the folder mapping", u1.QuotaFree, u1.Mapping)
	}

	// Stored: the same answer later. Nothing moved.
	again, err := b.svc.Validation(b.ctx, "wave")
	if err != nil || again.Validated != 3 || again.Users[2].Validation.Result != service.ValidationErrors {
		t.Errorf("Validation() = %+v, %v; want the stored results", again, err)
	}
	if bt, _ := b.svc.Batch(b.ctx, "wave"); bt.State != service.BatchCreated || bt.Totals.UsersByState[service.UserQueued] != 3 {
		t.Errorf("batch after validation: %s, users %v; want Created, all Queued", bt.State, bt.Totals.UsersByState)
	}
	if n := b.destMessages(2); n != 0 {
		t.Errorf("%d messages at the destination after a validation; want none", n)
	}
	if _, err := b.svc.ValidateBatch(b.ctx, "nosuch", service.ValidateOptions{}); !errors.Is(err, service.ErrNotFound) {
		t.Errorf("ValidateBatch(nosuch) = %v; want not found", err)
	}
}
