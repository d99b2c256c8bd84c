package service_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imapmigrate/imapmigrate/internal/oauth"
	"github.com/imapmigrate/imapmigrate/internal/secret"
	"github.com/imapmigrate/imapmigrate/internal/service"
	"github.com/imapmigrate/imapmigrate/internal/store"
	"github.com/imapmigrate/imapmigrate/internal/testserver"
)

// bareService is a service on its own SQLite file, not started: enough
// for endpoints.
func bareService(t *testing.T) (*service.Service, *store.DB) {
	t.Helper()
	db, err := store.Open(t.Context(), filepath.Join(t.TempDir(), "imapmigrate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	key, err := secret.NewKey(testKey)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := service.New(t.Context(), service.Config{DB: db, Key: key, Connections: 4, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return svc, db
}

// TestEndpointProfileAndOAuth adds and changes endpoints with a provider
// profile and OAuth logins, and checks what the API would show: the
// settings as given, the effective ones from the profile, which secrets
// are stored, never a secret itself; and that the database holds the
// secrets sealed.
func TestEndpointProfileAndOAuth(t *testing.T) {
	t.Parallel()
	const clientSecret = "cs~Profile-Test-Secret-1"
	tests := []struct {
		name    string
		spec    service.EndpointSpec
		wantErr string
		check   func(t *testing.T, e *service.Endpoint)
	}{
		{
			name: "Office365ServerFromProfile",
			spec: service.EndpointSpec{Endpoint: service.Endpoint{Profile: "Office365"}},
			check: func(t *testing.T, e *service.Endpoint) {
				eff := e.Effective
				if e.Profile != "office365" || e.Host != "" || e.Port != 0 {
					t.Errorf("as set: profile %q host %q port %d; want office365 and the server left to it", e.Profile, e.Host, e.Port)
				}
				if eff.Host != "outlook.office365.com" || eff.Port != 993 || eff.Security != "tls" || eff.MaxMessageSize != 35<<20 ||
					eff.MaxConcurrentMigrations != 20 || eff.ConnectionsPerMailbox != 4 || eff.ServerConnectionCap != 20 {
					t.Errorf("effective %+v; want Office 365's server, 35 MiB, 20 mailboxes, 4 connections (cap 20)", eff)
				}
				if !strings.Contains(strings.Join(eff.ReservedFolders, ","), "Files") || !eff.Groupware {
					t.Errorf("effective folder rules %+v; want Files reserved and groupware", eff)
				}
				if e.SourceConnections != 4 || e.DestConnections != 4 {
					t.Errorf("connections %d/%d; want 4/4", e.SourceConnections, e.DestConnections)
				}
			},
		},
		{
			name: "ExplicitSettingsWin",
			spec: service.EndpointSpec{Endpoint: service.Endpoint{Profile: "dovecot", Host: "127.0.0.1", MaxConcurrentMigrations: 3,
				MaxMessageSize: 10 << 20, Credentials: service.CredentialsAdmin, AdminUser: "master"}, AdminPassword: "pw"},
			check: func(t *testing.T, e *service.Endpoint) {
				eff := e.Effective
				if eff.Host != "127.0.0.1" || eff.Port != 143 || eff.Security != "starttls" || eff.MaxConcurrentMigrations != 3 ||
					eff.MaxConcurrentIncrementalSyncs != 3 || eff.MaxMessageSize != 10<<20 || eff.AdminFormat != "authzid" || !eff.CaseSensitiveFolders {
					t.Errorf("effective %+v; want the server, caps and size given, Dovecot's master user format and case rule", eff)
				}
				if e.AdminFormat != "" {
					t.Errorf("admin format as set %q; want it left to the profile", e.AdminFormat)
				}
			},
		},
		{
			name: "GenericKeepsItsDefaults",
			spec: service.EndpointSpec{Endpoint: service.Endpoint{Profile: "generic", Host: "imap.example.org", Port: 993}},
			check: func(t *testing.T, e *service.Endpoint) {
				if e.Profile != "" || e.Security != "tls" || e.MaxConcurrentMigrations != 20 || e.MaxConcurrentIncrementalSyncs != 10 {
					t.Errorf("generic endpoint %+v; want the defaults stored as before", e)
				}
			},
		},
		{
			name: "MicrosoftAppOnly",
			spec: service.EndpointSpec{Endpoint: service.Endpoint{Profile: "office365", OAuth: &service.EndpointOAuth{
				Config: oauth.Config{Provider: "Microsoft", Tenant: "contoso.onmicrosoft.com", ClientID: "app-1"}}},
				OAuthClientSecret: clientSecret, OAuthServiceAccountKey: "{not for microsoft}"},
			check: func(t *testing.T, e *service.Endpoint) {
				if e.Credentials != service.CredentialsOAuth || e.OAuth.Provider != oauth.Microsoft || !e.OAuth.HasClientSecret ||
					e.OAuth.HasServiceAccountKey || e.OAuth.HasPrivateKey {
					t.Errorf("endpoint %+v, oauth %+v; want oauth credentials with the client secret only", e, e.OAuth)
				}
			},
		},
		{
			name:    "UnknownProfile",
			spec:    service.EndpointSpec{Endpoint: service.Endpoint{Profile: "lotus", Host: "h"}},
			wantErr: `profile: no provider profile "lotus" (want one of generic, gmail, office365`,
		},
		{
			name:    "NoServer",
			spec:    service.EndpointSpec{Endpoint: service.Endpoint{Profile: "dovecot"}},
			wantErr: "host: required",
		},
		{
			name: "NoAdminLoginAtGmail",
			spec: service.EndpointSpec{Endpoint: service.Endpoint{Profile: "gmail", Credentials: service.CredentialsAdmin, AdminUser: "a"},
				AdminPassword: "pw"},
			wantErr: "credentials: gmail offers no admin login over IMAP",
		},
		{
			name: "MicrosoftWithoutClientID",
			spec: service.EndpointSpec{Endpoint: service.Endpoint{Host: "h", OAuth: &service.EndpointOAuth{
				Config: oauth.Config{Provider: "microsoft", Tenant: "t"}}}, OAuthClientSecret: "s"},
			wantErr: "oauth: ",
		},
		{
			name: "GoogleWithoutKey",
			spec: service.EndpointSpec{Endpoint: service.Endpoint{Profile: "gmail", OAuth: &service.EndpointOAuth{
				Config: oauth.Config{Provider: "google"}}}},
			wantErr: "oauth: ",
		},
		{
			name: "PasswordMechanismWithOAuth",
			spec: service.EndpointSpec{Endpoint: service.Endpoint{Host: "h", AuthMechanism: "plain", OAuth: &service.EndpointOAuth{
				Config: oauth.Config{Provider: "refresh", ClientID: "c"}}}},
			wantErr: "auth_mechanism: want auto, xoauth2, oauthbearer",
		},
	}
	svc, db := bareService(t)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.spec.Name = fmt.Sprintf("ep%d", i)
			e, err := svc.AddEndpoint(t.Context(), tt.spec)
			if tt.wantErr != "" {
				if !errors.Is(err, service.ErrInvalid) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("AddEndpoint() = %v; want invalid input with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, e)
			again, err := svc.Endpoint(t.Context(), tt.spec.Name)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := json.Marshal(again)
			want, _ := json.Marshal(e)
			if string(got) != string(want) {
				t.Errorf("Endpoint() = %s; want what AddEndpoint answered, %s", got, want)
			}
		})
	}

	// An update without secrets keeps them while the provider stays; a
	// change of provider needs the new one's.
	ms := fmt.Sprintf("ep%d", 3)
	e, err := svc.Endpoint(t.Context(), ms)
	if err != nil {
		t.Fatal(err)
	}
	e.OAuth.Scope = "https://outlook.office365.com/.default offline_access"
	e.Effective = nil
	if e, err = svc.UpdateEndpoint(t.Context(), ms, service.EndpointSpec{Endpoint: *e}); err != nil || !e.OAuth.HasClientSecret {
		t.Fatalf("UpdateEndpoint(same provider, no secret) = %+v, %v; want the client secret kept", e, err)
	}
	e.OAuth = &service.EndpointOAuth{Config: oauth.Config{Provider: oauth.Google}}
	if _, err := svc.UpdateEndpoint(t.Context(), ms, service.EndpointSpec{Endpoint: *e}); !errors.Is(err, service.ErrInvalid) {
		t.Errorf("UpdateEndpoint(to google, no key) = %v; want invalid input", err)
	}

	var settings, sealed string
	if err := db.SQL().QueryRow(`SELECT settings, oauth_secrets FROM endpoints WHERE name = $1`, ms).Scan(&settings, &sealed); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(sealed, "v1:") || strings.Contains(sealed+settings, clientSecret) || strings.Contains(settings, "effective") {
		t.Errorf("stored settings %s, oauth_secrets %q; want the secret sealed, and nothing derived stored", settings, sealed)
	}
	eps, err := svc.Endpoints(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if all, _ := json.Marshal(eps); strings.Contains(string(all), clientSecret) || !strings.Contains(string(all), `"has_client_secret":true`) {
		t.Errorf("Endpoints() = %s; want no secret, and has_client_secret", all)
	}
}

// tokenProxy stands in front of an OAuthServer's token endpoint and
// rotates refresh tokens the way Microsoft's consumer accounts do: each
// answer to a refresh brings a new refresh token, and one that was used
// once is refused after (replay detection), so that a service that did not
// keep the new one cannot log in again.
type tokenProxy struct {
	auth     *testserver.OAuthServer
	clientID string
	URL      string

	mu    sync.Mutex
	user  map[string]string // live refresh token → its mailbox
	used  map[string]bool
	n     int
	sent  []string // refresh tokens presented, in order
	fresh []string // refresh tokens issued, in order
}

func startTokenProxy(t *testing.T, auth *testserver.OAuthServer, clientID string, tokens map[string]string) *tokenProxy {
	p := &tokenProxy{auth: auth, clientID: clientID, user: map[string]string{}, used: map[string]bool{}}
	for rt, user := range tokens {
		auth.AddRefreshToken(rt, clientID, user)
		p.user[rt] = user
	}
	srv := httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(srv.Close)
	p.URL = srv.URL + "/token"
	return p
}

func (p *tokenProxy) serve(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	rt := r.PostForm.Get("refresh_token")
	p.mu.Lock()
	p.sent = append(p.sent, rt)
	replay := p.used[rt]
	p.used[rt] = true
	p.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if replay {
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]string{"error": "invalid_grant", "error_description": "the refresh token was already used"})
		return
	}
	resp, err := http.PostForm(p.auth.TokenURL, r.PostForm)
	if err != nil {
		w.WriteHeader(http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	var answer map[string]any
	body, _ := io.ReadAll(resp.Body)
	json.Unmarshal(body, &answer)
	if resp.StatusCode == http.StatusOK {
		p.mu.Lock()
		p.n++
		user := p.user[rt]
		next := fmt.Sprintf("M.rotated-%d-%s", p.n, user)
		p.user[next] = user
		p.fresh = append(p.fresh, next)
		p.mu.Unlock()
		p.auth.AddRefreshToken(next, p.clientID, user)
		answer["refresh_token"] = next
	}
	w.WriteHeader(resp.StatusCode)
	json.NewEncoder(w).Encode(answer)
}

func (p *tokenProxy) history() (sent, fresh []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.sent...), append([]string(nil), p.fresh...)
}

// TestBatchOAuthAndProfile runs a batch between two real Dovecots that
// log in with OAuth 2.0 tokens only, the way a consumer Gmail mailbox
// moves to Office 365: the source endpoint with each user's refresh token
// from the CSV (rotated at every use here, as Microsoft does; Gmail has no
// groupware, so its "Files" label is mail), the destination endpoint
// with an app-only token (client credentials) and the office365 profile.
// Every message arrives once with its bytes, flags and date; the source's
// "Files" folder goes to "Files (imported)", as Exchange Online keeps
// Files for itself; one app token serves both mailboxes; and after a
// restart the service logs in with the rotated refresh tokens it saved,
// the old ones being refused by then.
func TestBatchOAuthAndProfile(t *testing.T) {
	t.Parallel()
	const (
		appID, appSecret         = "o365-migration-app", "app~Secret.Batch-1"
		consumerID, consumerPass = "consumer-client", "consumer~Secret-2"
	)
	auth := testserver.StartOAuthServer(t, testserver.OAuthServerConfig{})
	auth.AddClient(appID, appSecret)
	auth.AddClient(consumerID, consumerPass)
	b := setup(t, setupOpts{users: 2, workers: 2, messagesBase: 4,
		srcOAuth: testserver.DovecotOAuth2{IntrospectionURL: auth.IntrospectionURL},
		dstOAuth: testserver.DovecotOAuth2{IntrospectionURL: auth.IntrospectionURL, DomainWide: true}})
	for i, u := range []string{"u01", "u02"} {
		files := testserver.Corpus(testserver.CorpusOptions{Seed: int64(40 + i), Messages: 3, Folders: []string{"Files"}})
		if err := testserver.Seed(b.ctx, b.src.Addr, u, b.password[u], files); err != nil {
			t.Fatal(err)
		}
		b.corpus[u] = append(b.corpus[u], files...)
	}
	rotating := startTokenProxy(t, auth, consumerID, map[string]string{"1//rt-u01": "u01", "1//rt-u02": "u02"})

	hostPort := func(addr string) (string, int) {
		h, p, _ := net.SplitHostPort(addr)
		n, _ := strconv.Atoi(p)
		return h, n
	}
	srcHost, srcPort := hostPort(b.src.Addr)
	dstHost, dstPort := hostPort(b.dst.Addr)
	if _, err := b.svc.AddEndpoint(b.ctx, service.EndpointSpec{Endpoint: service.Endpoint{Name: "consumer", Profile: "gmail",
		Host: srcHost, Port: srcPort, Security: "none", OAuth: &service.EndpointOAuth{
			Config: oauth.Config{Provider: oauth.Refresh, ClientID: consumerID, TokenURL: rotating.URL}}},
		OAuthClientSecret: consumerPass}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.svc.AddEndpoint(b.ctx, service.EndpointSpec{Endpoint: service.Endpoint{Name: "o365", Profile: "office365",
		Host: dstHost, Port: dstPort, Security: "none", OAuth: &service.EndpointOAuth{
			Config: oauth.Config{Provider: oauth.Microsoft, ClientID: appID, TokenURL: auth.TokenURL}}},
		OAuthClientSecret: appSecret}); err != nil {
		t.Fatal(err)
	}
	csv := "EmailAddress,UserName,RefreshToken\nu01@example.com,u01,1//rt-u01\nu02@example.com,u02,1//rt-u02\n"
	if _, _, err := b.svc.CreateBatch(b.ctx, service.BatchSpec{Name: "consumers", SourceEndpoint: "consumer",
		DestEndpoint: "o365", CSV: csv, Start: true}); err != nil {
		t.Fatal(err)
	}
	b.waitBatch("consumers", 2*time.Minute, service.BatchSynced)

	for _, u := range []string{"u01", "u02"} {
		got := b.user(u)
		if got.ItemsSynced != int64(len(b.corpus[u])) || got.ItemsFailed != 0 || got.LastError != "" {
			t.Errorf("%s: %d synced, %d failed, last error %q; want %d synced", u, got.ItemsSynced, got.ItemsFailed, got.LastError, len(b.corpus[u]))
		}
		mapping := map[string]string{}
		for _, f := range got.Folders {
			mapping[f.Source] = f.Destination
		}
		if mapping["Files"] != "Files (imported)" {
			t.Errorf("%s: Files went to %q; want \"Files (imported)\" (office365 keeps Files): folders %+v", u, mapping["Files"], got.Folders)
		}
		b.checkMirroredAs(u, mapping)
	}
	var appTokens int
	for _, it := range auth.Issued() {
		if it.Grant == "client_credentials" {
			appTokens++
		}
	}
	if appTokens != 1 {
		t.Errorf("the destination app got %d tokens; want 1, shared by both mailboxes and every connection", appTokens)
	}
	sent, fresh := rotating.history()
	if len(sent) != 2 || len(fresh) != 2 {
		t.Fatalf("refresh requests %q, tokens issued %q; want one each per user", sent, fresh)
	}

	// A new process has only the database: it must log in with the
	// rotated tokens, as the first ones are refused now.
	b.svc = restartTuned(b, func(*service.Config) {})
	before := b.user("u01")
	if _, err := b.svc.SyncNow(b.ctx, "consumers"); err != nil {
		t.Fatal(err)
	}
	b.waitNextSync("u01", before, time.Minute)
	sent, _ = rotating.history()
	if len(sent) < 3 || !strings.HasPrefix(sent[2], "M.rotated-") {
		t.Errorf("refresh tokens presented %q; want the rotated ones after the restart", sent)
	}
	if u := b.user("u01"); u.Status != service.UserSynced || u.LastError != "" {
		t.Errorf("u01 after the restart: %s, %q; want Synced", u.Status, u.LastError)
	}
	var sealed string
	if err := b.db.SQL().QueryRow(`SELECT source_refresh_token FROM batch_users WHERE email = 'u01@example.com'`).Scan(&sealed); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(sealed, "v1:") || strings.Contains(sealed, "rotated") {
		t.Errorf("stored refresh token %q; want it sealed", sealed)
	}
}

// checkMirroredAs compares a user's source and destination mailboxes
// through a folder mapping (source name → destination name).
func (b *bundle) checkMirroredAs(user string, mapping map[string]string) {
	b.t.Helper()
	srcSnap, err := testserver.Take(b.ctx, b.src.Addr, user, b.password[user])
	if err != nil {
		b.t.Fatal(err)
	}
	dstSnap, err := testserver.Take(b.ctx, b.dst.Addr, user+"@example.com", "dest-"+user)
	if err != nil {
		b.t.Fatal(err)
	}
	for _, d := range testserver.CompareFolders(srcSnap, dstSnap, mapping, nil) {
		b.t.Errorf("%s: %s", user, d)
	}
}
