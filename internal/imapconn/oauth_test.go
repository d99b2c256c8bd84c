package imapconn

import (
	"context"
	"encoding/base64"
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-imap/v2"

	"github.com/imapmigrate/imapmigrate/internal/oauth"
	"github.com/imapmigrate/imapmigrate/internal/secret"
)

// tokens is a TokenSource that hands out a list of tokens in turn and
// records what is dropped.
type tokens struct {
	mu      sync.Mutex
	list    []oauth.Token
	err     error
	dropped []string
}

func (ts *tokens) Token(context.Context, string) (oauth.Token, error) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.err != nil {
		return oauth.Token{}, ts.err
	}
	tok := ts.list[0]
	if len(ts.list) > 1 {
		ts.list = ts.list[1:]
	}
	return tok, nil
}

func (ts *tokens) Invalidate(_ string, tok oauth.Token) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.dropped = append(ts.dropped, tok.AccessToken.Reveal())
}

const (
	goodToken  = "ya29.good-Token_1"
	staleToken = "ya29.stale-Token_0"
	// dovecotXOAUTH2Error is Dovecot 2.3's challenge for a refused token.
	dovecotXOAUTH2Error = `{"status":"401","schemes":"bearer","scope":"mail"}`
)

// oauthServer is a raw server that behaves as Dovecot does with XOAUTH2
// and OAUTHBEARER (measured on 2.3.19): a login with goodToken succeeds;
// any other gets the JSON error challenge and, after the client's answer,
// NO [AUTHENTICATIONFAILED]. answers receives the client's answer to the
// challenge.
func oauthServer(t *testing.T, caps string) (*rawServer, chan string) {
	t.Helper()
	answers := make(chan string, 8)
	greeting := "* OK [CAPABILITY IMAP4rev1 SASL-IR " + caps + "] hi"
	rs := startRaw(t, greeting, "IMAP4rev1 SASL-IR "+caps, map[string]rawHandler{
		"AUTHENTICATE": func(rc *rawConn, tag, _, cmd string) {
			f := strings.Fields(cmd)
			raw, _ := base64.StdEncoding.DecodeString(f[len(f)-1])
			if strings.Contains(string(raw), "auth=Bearer "+goodToken+"\x01") {
				rc.send(tag + " OK [CAPABILITY IMAP4rev1] Logged in")
				return
			}
			challenge := dovecotXOAUTH2Error
			if strings.EqualFold(f[2], "OAUTHBEARER") {
				challenge = `{"status":"invalid_token"}`
			}
			rc.send("+ " + base64.StdEncoding.EncodeToString([]byte(challenge)))
			line, _ := rc.br.ReadString('\n')
			answers <- strings.TrimRight(line, "\r\n")
			rc.send(tag + " NO [AUTHENTICATIONFAILED] Authentication failed.")
		},
	})
	return rs, answers
}

func oauthConfig(addr string, ts oauth.TokenSource) Config {
	cfg := testConfig(addr, SecurityNone)
	cfg.Password, cfg.TokenSource, cfg.Side = "", ts, "destination"
	return cfg
}

func tok(s string, fresh bool) oauth.Token {
	return oauth.Token{AccessToken: secret.Secret(s), Fresh: fresh}
}

// TestOAuthMechanism: OAUTHBEARER when the server offers it, else XOAUTH2,
// unless the endpoint asks for one; a server with neither fails before a
// token is asked for.
func TestOAuthMechanism(t *testing.T) {
	tests := []struct {
		name, caps, asked string
		want              string // the mechanism on the wire, or the error
	}{
		{"AutoPrefersOAUTHBEARER", "AUTH=XOAUTH2 AUTH=OAUTHBEARER", "", "AUTHENTICATE OAUTHBEARER"},
		{"AutoXOAUTH2", "AUTH=PLAIN AUTH=XOAUTH2", "", "AUTHENTICATE XOAUTH2"},
		{"AskedXOAUTH2", "AUTH=XOAUTH2 AUTH=OAUTHBEARER", "xoauth2", "AUTHENTICATE XOAUTH2"},
		{"AskedButNotOffered", "AUTH=XOAUTH2", "oauthbearer", "does not offer AUTH=OAUTHBEARER"},
		{"NeitherOffered", "AUTH=PLAIN", "", "neither AUTH=OAUTHBEARER nor AUTH=XOAUTH2"},
		{"PasswordMechanism", "AUTH=PLAIN AUTH=XOAUTH2", "plain", `mechanism "plain" cannot carry a token`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rs, _ := oauthServer(t, tt.caps)
			cfg := oauthConfig(rs.addr, &tokens{list: []oauth.Token{tok(goodToken, true)}})
			cfg.Mechanism = tt.asked
			c, err := Dial(context.Background(), cfg)
			if err == nil {
				c.Close()
			}
			cmds := strings.Join(rs.commands(t), "\n")
			if strings.HasPrefix(tt.want, "AUTHENTICATE") {
				if err != nil || !strings.Contains(cmds, tt.want) {
					t.Errorf("Dial = %v, commands:\n%s\nwant success with %s", err, cmds, tt.want)
				}
				return
			}
			if kind, _ := KindOf(err); kind != KindAuth || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Dial = %v (kind %v); want an auth error containing %q", err, kind, tt.want)
			}
			if strings.Contains(cmds, "AUTHENTICATE") {
				t.Errorf("commands:\n%s\nwant no AUTHENTICATE", cmds)
			}
		})
	}
}

// TestOAuthRefused: a refused token fails the login with the server's
// JSON error and its NO, as an auth error naming the side, after the
// client answered the challenge with %x01 (not "=", on which Dovecot hangs
// up). A token from the cache is dropped and a new one tried once; a
// fresh one is not.
func TestOAuthRefused(t *testing.T) {
	tests := []struct {
		name     string
		mech     string
		list     []oauth.Token
		wantErr  string // "" for success
		dropped  int
		attempts int
	}{
		{"FreshTokenXOAUTH2", "xoauth2", []oauth.Token{tok(staleToken, true)},
			`destination 127.0.0.1:\d+: login as alice@example.com with XOAUTH2: XOAUTH2 token refused: server said ` + regexp.QuoteMeta(dovecotXOAUTH2Error), 0, 1},
		{"FreshTokenOAUTHBEARER", "oauthbearer", []oauth.Token{tok(staleToken, true)},
			`OAUTHBEARER token refused: server said {"status":"invalid_token"}: imap: NO \[AUTHENTICATIONFAILED\]`, 0, 1},
		{"CachedTokenReplaced", "xoauth2", []oauth.Token{tok(staleToken, false), tok(goodToken, true)}, "", 1, 2},
		{"CachedTokenReplacedRefusedToo", "xoauth2", []oauth.Token{tok(staleToken, false), tok(staleToken+"2", true)},
			`XOAUTH2 token refused`, 1, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rs, answers := oauthServer(t, "AUTH=XOAUTH2 AUTH=OAUTHBEARER")
			ts := &tokens{list: tt.list}
			var trace syncBuffer
			cfg := oauthConfig(rs.addr, ts)
			cfg.Mechanism, cfg.Trace = tt.mech, &trace
			c, err := Dial(context.Background(), cfg)
			if err == nil {
				c.Close()
			}
			cmds := rs.commands(t)
			auths := 0
			for _, cmd := range cmds {
				if strings.Contains(cmd, "AUTHENTICATE") {
					auths++
				}
			}
			if auths != tt.attempts || len(ts.dropped) != tt.dropped {
				t.Errorf("%d AUTHENTICATE, %d tokens dropped; want %d and %d", auths, len(ts.dropped), tt.attempts, tt.dropped)
			}
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Dial = %v; want success with the new token", err)
				}
				return
			}
			if err == nil || !regexp.MustCompile(tt.wantErr).MatchString(err.Error()) {
				t.Fatalf("Dial = %v; want an error matching %q", err, tt.wantErr)
			}
			var oe *OAuthError
			var ie *imap.Error
			if kind, _ := KindOf(err); kind != KindAuth || !errors.As(err, &oe) || !errors.As(err, &ie) || ie.Code != imap.ResponseCodeAuthenticationFailed {
				t.Errorf("Dial = %#v; want KindAuth with an *OAuthError over the *imap.Error", err)
			}
			if tt.mech == "xoauth2" && (oe.Status != "401" || oe.Schemes != "bearer" || oe.Scope != "mail") {
				t.Errorf("OAuthError status %q, schemes %q, scope %q; want 401, bearer, mail", oe.Status, oe.Schemes, oe.Scope)
			}
			if a := <-answers; a != "AQ==" {
				t.Errorf("answer to the error challenge %q; want AQ== (%%x01)", a)
			}
			tr := trace.String()
			if strings.Contains(tr, staleToken) || strings.Contains(tr, "AQ==") ||
				!regexp.MustCompile(`C: T\d+ AUTHENTICATE (XOAUTH2|OAUTHBEARER) \*\*\*\nS: \+ \S+\nC: \*\*\*\nS: T\d+ NO`).MatchString(tr) {
				t.Errorf("transcript shows the SASL data, or not the exchange:\n%s", tr)
			}
		})
	}
}

// TestOAuthTokenSourceFails: the token endpoint's refusal is an auth
// error, its outage a connection error (worth a retry), both naming the
// side; nothing is sent to the IMAP server.
func TestOAuthTokenSourceFails(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want Kind
	}{
		{"Refused", &oauth.Error{Grant: "client_credentials", URL: "https://login.example/token", Status: 401, Code: "invalid_client"}, KindAuth},
		{"Outage", &oauth.Error{Grant: "client_credentials", URL: "https://login.example/token", Status: 503}, KindConnect},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rs, _ := oauthServer(t, "AUTH=XOAUTH2")
			_, err := Dial(context.Background(), oauthConfig(rs.addr, &tokens{err: tt.err}))
			if kind, _ := KindOf(err); kind != tt.want || !strings.Contains(err.Error(), "destination 127.0.0.1") ||
				!strings.Contains(err.Error(), "get oauth token for alice@example.com: oauth client_credentials token request") {
				t.Errorf("Dial = %v (kind %v); want kind %v naming the side and the token request", err, kind, tt.want)
			}
			if cmds := strings.Join(rs.commands(t), "\n"); strings.Contains(cmds, "AUTHENTICATE") {
				t.Errorf("commands:\n%s\nwant no AUTHENTICATE", cmds)
			}
		})
	}
}

// oauthTraceCase is TestTraceRedaction's case for the token mechanisms:
// neither the token nor the base64 SASL string that carries it may show.
func oauthTraceCase(t *testing.T, mech string) {
	rs, _ := oauthServer(t, "AUTH=XOAUTH2 AUTH=OAUTHBEARER")
	var trace syncBuffer
	cfg := oauthConfig(rs.addr, &tokens{list: []oauth.Token{tok(goodToken, true)}})
	cfg.Mechanism, cfg.Trace = strings.ToLower(mech), &trace
	c := mustDial(t, cfg)
	if err := c.Noop().Wait(); err != nil {
		t.Fatalf("Noop = %v", err)
	}
	c.Close()
	cmds := strings.Join(rs.commands(t), "\n")
	ir := base64.StdEncoding.EncodeToString([]byte("user=" + testUser + "\x01auth=Bearer " + goodToken + "\x01\x01"))
	if mech == "OAUTHBEARER" {
		_, port, _ := strings.Cut(rs.addr, ":")
		ir = base64.StdEncoding.EncodeToString([]byte("n,a=" + testUser + ",\x01host=127.0.0.1\x01port=" + port + "\x01auth=Bearer " + goodToken + "\x01\x01"))
	}
	if !strings.Contains(cmds, "AUTHENTICATE "+mech+" "+ir) {
		t.Fatalf("server received:\n%s\nwant AUTHENTICATE %s %s", cmds, mech, ir)
	}
	checkTranscript(t, trace.String(), []string{goodToken, ir, ir[:20]}, `C: T\d+ AUTHENTICATE `+mech+` \*\*\*\nS: T\d+ OK`)
}
