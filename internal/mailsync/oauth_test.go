package mailsync_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imapmigrate/imapmigrate/internal/imapconn"
	"github.com/imapmigrate/imapmigrate/internal/mailsync"
	"github.com/imapmigrate/imapmigrate/internal/oauth"
	"github.com/imapmigrate/imapmigrate/internal/secret"
	"github.com/imapmigrate/imapmigrate/internal/store"
	"github.com/imapmigrate/imapmigrate/internal/testserver"
)

const (
	appID     = "0d6c-imapmigrate-app"
	appSecret = "app~Secret.9"
	saEmail   = "migrator@proj.iam.gserviceaccount.com"
)

// oauthBundle is a source and a destination Dovecot that take tokens from
// one authorization server: the source as Google (a service account with
// domain-wide delegation), the destination as Office 365 (an app-only
// token for the whole domain). Passwords still work, for seeding and
// snapshots.
type oauthBundle struct {
	auth     *testserver.OAuthServer
	src, dst *testserver.Dovecot
	corpus   []testserver.Message
	opts     mailsync.Options
}

func setupOAuth(t *testing.T, lifetime time.Duration, msgs []testserver.Message) *oauthBundle {
	t.Helper()
	auth := testserver.StartOAuthServer(t, testserver.OAuthServerConfig{Lifetime: lifetime})
	auth.AddClient(appID, appSecret)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	auth.AddServiceAccount(saEmail, &key.PublicKey)
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	saKey, _ := json.Marshal(map[string]string{"type": "service_account", "client_email": saEmail,
		"private_key": string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), "token_uri": auth.TokenURL})

	dc := func(pw string) testserver.DovecotConfig {
		return testserver.DovecotConfig{Users: map[string]string{user: pw},
			OAuth2: testserver.DovecotOAuth2{IntrospectionURL: auth.IntrospectionURL, DomainWide: true}}
	}
	// The destination stands for Office 365, which has no MULTIAPPEND: one
	// APPEND per message, as TestSyncOAuthTokenExpiresMidSync counts them.
	dstCfg := dc(dstPW)
	dstCfg.NoMultiAppend = true
	src, dst := testserver.StartDovecot(t, dc(srcPW)), testserver.StartDovecot(t, dstCfg)
	ctx := context.Background()
	if err := testserver.Seed(ctx, src.Addr, user, srcPW, msgs); err != nil {
		t.Fatalf("seed source: %v", err)
	}
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	google, err := oauth.New(oauth.Config{Provider: oauth.Google}, oauth.Secrets{ServiceAccountKey: secret.Secret(saKey)}, oauth.Options{})
	if err != nil {
		t.Fatal(err)
	}
	microsoft, err := oauth.New(oauth.Config{Provider: oauth.Microsoft, ClientID: appID, TokenURL: auth.TokenURL},
		oauth.Secrets{ClientSecret: appSecret}, oauth.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return &oauthBundle{auth: auth, src: src, dst: dst, corpus: msgs, opts: mailsync.Options{
		Source:         imapconn.Config{Addr: src.Addr, Security: imapconn.SecurityNone, User: user, TokenSource: google, Side: "source"},
		Dest:           imapconn.Config{Addr: dst.Addr, Security: imapconn.SecurityNone, User: user, TokenSource: microsoft, Side: "destination"},
		State:          db,
		MaxMessageSize: mailsync.DefaultMaxMessageSize,
		MaxItems:       mailsync.DefaultMaxItems,
		Connections:    1,
	}}
}

// issued counts the tokens issued with grant.
func (b *oauthBundle) issued(grant string) int {
	n := 0
	for _, it := range b.auth.Issued() {
		if it.Grant == grant {
			n++
		}
	}
	return n
}

const clientCredentials = "client_credentials"

// checkCopied checks that every message arrived once, with its flags and
// date, and that the source did not change.
func (b *oauthBundle) checkCopied(t *testing.T, before *testserver.Snapshot, rep *mailsync.Report) {
	t.Helper()
	if !rep.OK() || rep.Totals.Copied != len(b.corpus) || rep.Totals.Failed != 0 {
		t.Errorf("report: OK %v, copied %d, failed %d; want OK, %d copied (failed %+v, errors %v)",
			rep.OK(), rep.Totals.Copied, rep.Totals.Failed, len(b.corpus), rep.Failed, rep.Errors)
	}
	ctx := context.Background()
	after, err := testserver.Take(ctx, b.dst.Addr, user, dstPW)
	if err != nil {
		t.Fatal(err)
	}
	checkMirrors(t, before, after, map[string]string{"INBOX": "INBOX"}, nil)
	if src, err := testserver.Take(ctx, b.src.Addr, user, srcPW); err != nil || len(before.Diff(src)) > 0 {
		t.Errorf("source changed: %v %v", err, before.Diff(src))
	}
}

// TestSyncOAuthTokenExpiresMidSync: tokens live 3 seconds (renewed from
// 2.7 s on) and the destination is 400 ms away each way and cut just
// before the 49th APPEND's answer. The engine keeps at most 16 APPENDs
// unanswered, so the 49th goes out only after the 33rd's answer came, which
// waited for the 17th's, which waited for the 1st's: four round trips,
// 3.2 s at the least after the first APPEND, itself after the token was
// issued. The session that outlives its token goes on (Dovecot checks a
// token at login only); the lane's new connection needs a fresh token and
// gets one, and every message arrives exactly once.
func TestSyncOAuthTokenExpiresMidSync(t *testing.T) {
	msgs := testserver.Corpus(testserver.CorpusOptions{Seed: 61, Messages: 50, Folders: []string{"INBOX"}, MinSize: 1000, MaxSize: 3000})
	b := setupOAuth(t, 3*time.Second, msgs)
	before, err := testserver.Take(context.Background(), b.src.Addr, user, srcPW)
	if err != nil {
		t.Fatal(err)
	}
	slow := testserver.StartDelayProxy(t, b.dst.Addr, 400*time.Millisecond)
	cut := testserver.StartProxy(t, slow, testserver.Cut{ToClient: true, After: []byte("APPENDUID"), Nth: 49, Before: true})
	b.opts.Dest.Addr = cut.Addr
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := mailsync.Sync(ctx, b.opts)
	if err != nil {
		t.Fatalf("Sync() error: %v", err)
	}
	b.checkCopied(t, before, rep)
	if cut.Fired() != 1 || cut.Accepted() < 2 {
		t.Errorf("cut fired %d times, %d connections; want one cut and a reconnection", cut.Fired(), cut.Accepted())
	}
	if n := b.issued(clientCredentials); n < 2 {
		t.Errorf("the destination's app got %d tokens; want a new one for the reconnection after the first expired", n)
	}
	if n := b.issued("urn:ietf:params:oauth:grant-type:jwt-bearer"); n < 1 {
		t.Errorf("the source's service account got %d tokens; want at least one", n)
	}
	if log := b.dst.Log(); strings.Count(log, "method=OAUTHBEARER") < 2 || strings.Contains(log, "auth failed") {
		t.Errorf("destination log: want two OAUTHBEARER logins or more and no failed one:\n%s", log)
	}
}

// TestSyncOAuthRevokedTokenReplaced: the token in the cache was revoked
// behind its back (it has not expired); the server refuses it at login,
// the source drops it and the login goes on with a new one.
func TestSyncOAuthRevokedTokenReplaced(t *testing.T) {
	msgs := testserver.Corpus(testserver.CorpusOptions{Seed: 62, Messages: 5, Folders: []string{"INBOX"}})
	b := setupOAuth(t, time.Hour, msgs)
	before, err := testserver.Take(context.Background(), b.src.Addr, user, srcPW)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.opts.Dest.TokenSource.Token(context.Background(), user); err != nil {
		t.Fatal(err)
	}
	b.auth.RevokeAll()
	rep, err := mailsync.Sync(context.Background(), b.opts)
	if err != nil {
		t.Fatalf("Sync() error: %v", err)
	}
	b.checkCopied(t, before, rep)
	if n := b.issued(clientCredentials); n != 2 {
		t.Errorf("the destination's app got %d tokens; want 2: the revoked one and its replacement", n)
	}
	if log := b.dst.Log(); !strings.Contains(log, "Introspection failed: Provided token is not valid") {
		t.Errorf("destination log does not show the revoked token refused:\n%s", log)
	}
}

// TestSyncOAuthTokenRefused: the authorization server issues tokens, but
// the destination refuses them (the app lost its access to the mailbox):
// the run stops with an auth error that names the side and quotes the
// server's JSON error and its NO.
func TestSyncOAuthTokenRefused(t *testing.T) {
	b := setupOAuth(t, time.Hour, testserver.Corpus(testserver.CorpusOptions{Seed: 63, Messages: 2, Folders: []string{"INBOX"}}))
	b.auth.Deny(appID + "@example.com")
	_, err := mailsync.Sync(context.Background(), b.opts)
	var oe *imapconn.OAuthError
	if kind, _ := imapconn.KindOf(err); kind != imapconn.KindAuth || !errors.As(err, &oe) {
		t.Fatalf("Sync() = %v (kind %v); want an auth error with the server's OAuth answer", err, kind)
	}
	for _, want := range []string{
		"destination " + b.dst.Addr, "login as " + user + " with OAUTHBEARER",
		`server said {"status":"invalid_token"}`, "NO [AUTHENTICATIONFAILED] Authentication failed.",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Sync() = %v; want it to contain %q", err, want)
		}
	}
	if n := b.issued(clientCredentials); n != 1 {
		t.Errorf("the destination's app got %d tokens; want 1: a fresh token that is refused is not asked for again", n)
	}
}
