package testserver

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"maps"
	"net/mail"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
)

const (
	alice   = "alice@example.com"
	alicePW = `p:w d"é` // ':' and '"' would break a plain passwd-file line or a quoted LOGIN
)

var testFolders = []string{"INBOX", "Archive", "Archive/2019", "Entwürfe", "Sent", "INBOX/Lists"}

func TestSeedAndTake(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  DovecotConfig
		// want maps display paths to the server names Seed must use.
		want map[string]string
	}{
		{"Slash", DovecotConfig{}, map[string]string{
			"Archive/2019": "Archive/2019", "Entwürfe": "Entwürfe", "INBOX/Lists": "INBOX/Lists",
		}},
		{"Courier", DovecotConfig{Separator: ".", Prefix: "INBOX."}, map[string]string{
			"Archive/2019": "INBOX.Archive.2019", "Entwürfe": "INBOX.Entwürfe", "INBOX/Lists": "INBOX.Lists",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			cfg := tc.cfg
			cfg.Users = map[string]string{alice: alicePW}
			cfg.SpecialUse = true
			d := StartDovecot(t, cfg)
			msgs := Corpus(CorpusOptions{Seed: 1, Messages: 24, Folders: testFolders, BigEvery: 24})
			if err := Seed(ctx, d.Addr, alice, alicePW, msgs); err != nil {
				t.Fatal(err)
			}
			snap, err := Take(ctx, d.Addr, alice, alicePW)
			if err != nil {
				t.Fatal(err)
			}

			for display, name := range tc.want {
				if f := snap.Folder(display); f == nil || f.Name != name {
					t.Errorf("Folder(%q) = %+v; want server name %q (have %v)", display, f, name, slices.Sorted(maps.Keys(snap.Folders)))
				}
			}
			if sent := snap.Folder("Sent"); sent == nil || !hasAttr(sent.Attrs, imap.MailboxAttrSent) {
				t.Errorf("Folder(\"Sent\") = %+v; want attribute \\Sent", sent)
			}
			for _, display := range testFolders {
				name := snap.Folder(display)
				if name == nil {
					continue
				}
				if !slices.Contains(snap.Subscribed, name.Name) {
					t.Errorf("folder %q not subscribed (subscribed: %q)", name.Name, snap.Subscribed)
				}
			}
			checkSnapshotMatchesCorpus(t, snap, msgs)

			again, err := Take(ctx, d.Addr, alice, alicePW)
			if err != nil {
				t.Fatal(err)
			}
			if diff := snap.Diff(again); len(diff) != 0 {
				t.Errorf("Diff of two snapshots of an unchanged server = %q; want none", diff)
			}

			// Change one flag from another connection; Diff must say so.
			archive := snap.Folder("Archive/2019")
			uid := archive.Messages[0].UID
			c := mustLogin(t, d.Addr, alice, alicePW)
			if _, err := c.Select(archive.Name, nil).Wait(); err != nil {
				t.Fatal(err)
			}
			store := &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{"$Changed"}, Silent: true}
			if err := c.Store(imap.UIDSetNum(imap.UID(uid)), store, nil).Close(); err != nil {
				t.Fatal(err)
			}
			after, err := Take(ctx, d.Addr, alice, alicePW)
			if err != nil {
				t.Fatal(err)
			}
			diff := snap.Diff(after)
			if len(diff) != 1 || !strings.Contains(diff[0], "flags") || !strings.Contains(diff[0], "$Changed") {
				t.Errorf("Diff after adding $Changed to uid %d of %q = %q; want one flags line", uid, archive.Name, diff)
			}
		})
	}
}

// checkSnapshotMatchesCorpus checks each message of msgs against the
// snapshot, in append order within each folder.
func checkSnapshotMatchesCorpus(t *testing.T, snap *Snapshot, msgs []Message) {
	t.Helper()
	byFolder := map[string][]Message{}
	for _, m := range msgs {
		byFolder[m.Folder] = append(byFolder[m.Folder], m)
	}
	for display, want := range byFolder {
		f := snap.Folder(display)
		if f == nil {
			t.Errorf("folder %q missing from snapshot", display)
			continue
		}
		if f.UIDValidity == 0 || f.UIDNext <= uint32(len(want)) {
			t.Errorf("folder %q: uidvalidity %d, uidnext %d", display, f.UIDValidity, f.UIDNext)
		}
		if len(f.Messages) != len(want) {
			t.Errorf("folder %q: %d messages; want %d", display, len(f.Messages), len(want))
			continue
		}
		for i, m := range want {
			got := f.Messages[i]
			sum := sha256.Sum256(m.Raw)
			var wantFlags []string
			for _, fl := range m.Flags {
				wantFlags = append(wantFlags, string(fl))
			}
			slices.Sort(wantFlags)
			parsed, err := mail.ReadMessage(bytes.NewReader(m.Raw))
			if err != nil {
				t.Fatal(err)
			}
			wantID := strings.Trim(parsed.Header.Get("Message-ID"), "<>")
			switch {
			case got.SHA256 != hex.EncodeToString(sum[:]):
				t.Errorf("folder %q uid %d: sha256 %s; want %x", display, got.UID, got.SHA256, sum)
			case got.Size != int64(len(m.Raw)):
				t.Errorf("folder %q uid %d: size %d; want %d", display, got.UID, got.Size, len(m.Raw))
			case !slices.Equal(got.Flags, wantFlags):
				t.Errorf("folder %q uid %d: flags %q; want %q", display, got.UID, got.Flags, wantFlags)
			case !got.Date.Equal(m.Date):
				t.Errorf("folder %q uid %d: date %v; want %v", display, got.UID, got.Date, m.Date)
			case got.MessageID != wantID:
				t.Errorf("folder %q uid %d: Message-ID %q; want %q", display, got.UID, got.MessageID, wantID)
			case got.Subject == "":
				t.Errorf("folder %q uid %d: empty subject", display, got.UID)
			}
		}
	}
}

func TestTLS(t *testing.T) {
	t.Parallel()
	d := StartDovecot(t, DovecotConfig{Users: map[string]string{alice: alicePW}, TLS: true})
	pem, err := os.ReadFile(d.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		t.Fatalf("no certificate in %s", d.CAFile)
	}

	t.Run("ImplicitTLS", func(t *testing.T) {
		conn, err := tls.Dial("tcp", d.TLSAddr, &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12})
		if err != nil {
			t.Fatalf("tls.Dial(%s) with CAFile: %v", d.TLSAddr, err)
		}
		c := imapclient.New(conn, nil)
		defer c.Close()
		if err := c.Login(alice, alicePW).Wait(); err != nil {
			t.Fatalf("login over TLS: %v", err)
		}
	})
	t.Run("UnknownCAFails", func(t *testing.T) {
		conn, err := tls.Dial("tcp", d.TLSAddr, &tls.Config{MinVersion: tls.VersionTLS12})
		if err == nil {
			conn.Close()
			t.Fatalf("tls.Dial(%s) without CAFile succeeded; want a verification error", d.TLSAddr)
		}
		if !errors.As(err, new(*tls.CertificateVerificationError)) {
			t.Errorf("tls.Dial without CAFile: %v; want a certificate verification error", err)
		}
	})
	t.Run("StartTLS", func(t *testing.T) {
		c, err := imapclient.DialInsecure(d.Addr, nil)
		if err != nil {
			t.Fatal(err)
		}
		caps := c.Caps()
		c.Close()
		if !caps.Has(imap.CapStartTLS) {
			t.Fatalf("capabilities on %s = %v; want STARTTLS", d.Addr, caps)
		}
		c, err = imapclient.DialStartTLS("localhost:"+strings.Split(d.Addr, ":")[1], &imapclient.Options{TLSConfig: &tls.Config{RootCAs: roots}})
		if err != nil {
			t.Fatalf("STARTTLS with CAFile and server name localhost: %v", err)
		}
		defer c.Close()
		if err := c.Login(alice, alicePW).Wait(); err != nil {
			t.Fatalf("login after STARTTLS: %v", err)
		}
	})
}

func TestMasterUser(t *testing.T) {
	t.Parallel()
	d := StartDovecot(t, DovecotConfig{
		Users:      map[string]string{alice: alicePW, "bob@example.com": "bobpw"},
		MasterUser: "admin", MasterPassword: "adminpw",
	})
	ctx := context.Background()
	if err := Seed(ctx, d.Addr, alice, alicePW, Corpus(CorpusOptions{Seed: 3, Messages: 2})); err != nil {
		t.Fatal(err)
	}
	inboxCount := func(t *testing.T, c *imapclient.Client) uint32 {
		t.Helper()
		data, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait()
		if err != nil {
			t.Fatal(err)
		}
		return data.NumMessages
	}

	t.Run("SASLPlainAuthzid", func(t *testing.T) {
		c := mustDial(t, d.Addr)
		if err := c.Authenticate(sasl.NewPlainClient(alice, "admin", "adminpw")); err != nil {
			t.Fatalf("AUTHENTICATE PLAIN authzid=%s authcid=admin: %v", alice, err)
		}
		if n := inboxCount(t, c); n != 2 {
			t.Errorf("INBOX of %s as master has %d messages; want 2", alice, n)
		}
	})
	t.Run("LoginSeparator", func(t *testing.T) {
		c := mustLogin(t, d.Addr, alice+"*admin", "adminpw")
		if n := inboxCount(t, c); n != 2 {
			t.Errorf("INBOX of %s as master has %d messages; want 2", alice, n)
		}
	})
	t.Run("WrongMasterPassword", func(t *testing.T) {
		c := mustDial(t, d.Addr)
		err := c.Authenticate(sasl.NewPlainClient(alice, "admin", "wrong"))
		var imapErr *imap.Error
		if !errors.As(err, &imapErr) || imapErr.Code != imap.ResponseCodeAuthenticationFailed {
			t.Errorf("AUTHENTICATE with a wrong master password: %v; want NO [AUTHENTICATIONFAILED]", err)
		}
	})
}

func TestRestartKeepsDataAndPorts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := StartDovecot(t, DovecotConfig{Users: map[string]string{alice: alicePW}, TLS: true})
	if err := Seed(ctx, d.Addr, alice, alicePW, Corpus(CorpusOptions{Seed: 4, Messages: 5, Folders: []string{"INBOX", "Work"}})); err != nil {
		t.Fatal(err)
	}
	before, err := Take(ctx, d.Addr, alice, alicePW)
	if err != nil {
		t.Fatal(err)
	}
	addr, tlsAddr := d.Addr, d.TLSAddr
	if err := d.Restart(); err != nil {
		t.Fatal(err)
	}
	if d.Addr != addr || d.TLSAddr != tlsAddr {
		t.Errorf("after Restart: addresses %s, %s; want %s, %s", d.Addr, d.TLSAddr, addr, tlsAddr)
	}
	after, err := Take(ctx, addr, alice, alicePW)
	if err != nil {
		t.Fatal(err)
	}
	if diff := before.Diff(after); len(diff) != 0 {
		t.Errorf("Diff across Restart = %q; want none", diff)
	}
	if !strings.Contains(d.Log(), "starting up") {
		t.Errorf("Log() lacks the start-up line:\n%s", d.Log())
	}
}

func TestLimits(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := StartDovecot(t, DovecotConfig{
		Users:          map[string]string{alice: alicePW},
		QuotaStorageKB: 200, MaxMailSize: "100k", MaxUserIPConnections: 2,
	})
	big := Corpus(CorpusOptions{Seed: 5, Messages: 1, MinSize: 150 << 10, MaxSize: 150 << 10})
	err := Seed(ctx, d.Addr, alice, alicePW, big)
	if err == nil {
		t.Errorf("Seed of a %d-byte message with quota_max_mail_size=100k succeeded; want a rejection", len(big[0].Raw))
	}
	fill := Corpus(CorpusOptions{Seed: 6, Messages: 4, MinSize: 80 << 10, MaxSize: 90 << 10})
	err = Seed(ctx, d.Addr, alice, alicePW, fill)
	var imapErr *imap.Error
	if !errors.As(err, &imapErr) || imapErr.Code != imap.ResponseCodeOverQuota {
		t.Errorf("Seed of 4 × 80 KB into a 200 KB quota: %v; want NO [OVERQUOTA]", err)
	}

	mustLogin(t, d.Addr, alice, alicePW)
	mustLogin(t, d.Addr, alice, alicePW)
	c := mustDial(t, d.Addr)
	err = c.Login(alice, alicePW).Wait()
	if !errors.As(err, &imapErr) || imapErr.Code != imap.ResponseCodeLimit {
		t.Errorf("third login with mail_max_userip_connections=2: %v; want NO [LIMIT]", err)
	}

	out, err := d.Doveadm("quota", "get", "-u", alice)
	if err != nil || !strings.Contains(string(out), "STORAGE") {
		t.Errorf("Doveadm(quota get) = %q, %v; want a STORAGE line", out, err)
	}
}

func TestStartStop(t *testing.T) {
	requireDovecot(t)
	d, err := Start(DovecotConfig{Users: map[string]string{alice: alicePW}})
	if err != nil {
		t.Fatal(err)
	}
	c := mustLogin(t, d.Addr, alice, alicePW)
	c.Close()
	if err := d.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(d.Dir); !os.IsNotExist(err) {
		t.Errorf("Stop left %s behind (stat: %v)", d.Dir, err)
	}
	if _, err := imapclient.DialInsecure(d.Addr, &imapclient.Options{}); err == nil {
		t.Errorf("%s still accepts connections after Stop", d.Addr)
	}
	if err := d.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func TestConfigValidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  DovecotConfig
	}{
		{"NoUsers", DovecotConfig{}},
		{"BadSeparator", DovecotConfig{Separator: "\\", Users: map[string]string{"a": "b"}}},
		{"PrefixWithoutSeparator", DovecotConfig{Prefix: "INBOX.", Users: map[string]string{"a": "b"}}},
		{"BadUserName", DovecotConfig{Users: map[string]string{"a:b": "c"}}},
		{"MasterIsUser", DovecotConfig{Users: map[string]string{"a": "b"}, MasterUser: "a", MasterPassword: "x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.cfg.withDefaults(); err == nil {
				t.Errorf("withDefaults(%+v) = nil error; want one", tc.cfg)
			}
		})
	}
}

func TestAncestry(t *testing.T) {
	for _, tc := range []struct {
		prefix  string
		delim   rune
		display string
		want    []string
	}{
		{"", '/', "INBOX", []string{"INBOX"}},
		{"", '/', "inbox", []string{"INBOX"}},
		{"", '/', "Archive/2019", []string{"Archive", "Archive/2019"}},
		{"", '.', "Archive/2019", []string{"Archive", "Archive.2019"}},
		{"", '/', "INBOX/Lists", []string{"INBOX", "INBOX/Lists"}},
		{"INBOX.", '.', "INBOX", []string{"INBOX"}},
		{"INBOX.", '.', "Entwürfe", []string{"INBOX.Entwürfe"}},
		{"INBOX.", '.', "Archive/2019", []string{"INBOX.Archive", "INBOX.Archive.2019"}},
		{"INBOX.", '.', "INBOX/Lists", []string{"INBOX", "INBOX.Lists"}},
	} {
		got, err := serverNamespace{tc.prefix, tc.delim}.ancestry(tc.display)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("ancestry(%q, %q, %q) = %q, %v; want %q", tc.prefix, tc.delim, tc.display, got, err, tc.want)
		}
	}
	if got, err := (serverNamespace{"", '.'}).ancestry("v1.2/x"); err == nil {
		t.Errorf("ancestry(\"v1.2/x\") with separator '.' = %q; want an error", got)
	}
}

func mustDial(t *testing.T, addr string) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.WaitGreeting(); err != nil {
		t.Fatal(err)
	}
	return c
}

func mustLogin(t *testing.T, addr, user, password string) *imapclient.Client {
	t.Helper()
	c := mustDial(t, addr)
	if err := c.Login(user, password).Wait(); err != nil {
		t.Fatalf("login as %s: %v", user, err)
	}
	return c
}
