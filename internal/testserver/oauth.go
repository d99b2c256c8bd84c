package testserver

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// OAuthServer is an OAuth 2.0 authorization server on 127.0.0.1 for tests.
// Its token endpoint issues short-lived opaque tokens for three grants,
// checking what a real identity provider checks:
//
//   - client_credentials (RFC 6749 section 4.4), the Microsoft identity
//     platform's app-only grant: client_id with client_secret, or with a
//     client assertion (RFC 7523 section 2.2) signed RS256 by the key of a
//     registered certificate that the header's x5t#S256 (or x5t) names,
//     for aud = the token URL, iss = sub = client_id, not expired, its jti
//     never seen before;
//   - urn:ietf:params:oauth:grant-type:jwt-bearer (RFC 7523 section 2.1),
//     Google's domain-wide delegation: an assertion signed RS256 by a
//     registered service account, aud = the token URL, a scope, sub = the
//     mailbox;
//   - refresh_token (RFC 6749 section 6), with the client's secret.
//
// Its introspection endpoint (RFC 7662) is what Dovecot's oauth2 passdb
// asks (see DovecotOAuth2): a token is active until its lifetime is over
// or it is revoked. Errors are answered as RFC 6749 section 5.2 says, with
// an error_description in the style of the Microsoft identity platform.
type OAuthServer struct {
	// TokenURL and IntrospectionURL are the two endpoints.
	TokenURL, IntrospectionURL string

	lifetime time.Duration
	domain   string
	srv      *httptest.Server

	mu             sync.Mutex
	clients        map[string]string            // client_id → client_secret ("" = none)
	certs          map[string]*x509.Certificate // client_id → certificate
	accounts       map[string]*rsa.PublicKey    // service account email → key
	refresh        map[string]refreshGrant      // refresh token → grant
	jtis           map[string]bool
	denied         map[string]bool // principals whose tokens are never active
	issued         []IssuedToken
	forms          []url.Values
	introspections int
}

type refreshGrant struct{ clientID, user string }

// IssuedToken is a token the server issued.
type IssuedToken struct {
	Token   string
	Grant   string // grant_type as sent
	User    string // the mailbox, or client_id@Domain for app-only tokens
	Expiry  time.Time
	Revoked bool
}

// OAuthServerConfig sets up an OAuthServer.
type OAuthServerConfig struct {
	// Lifetime of each token, whole seconds (expires_in). Defaults to an
	// hour; integration tests use a few seconds so that tokens expire
	// during a sync.
	Lifetime time.Duration
	// Domain of the mailboxes: an app-only token is introspected as
	// client_id@Domain, valid for every mailbox of the domain (see
	// DovecotOAuth2.DomainWide). Defaults to example.com.
	Domain string
}

// StartOAuthServer starts an OAuthServer, closed in tb.Cleanup.
func StartOAuthServer(tb testing.TB, cfg OAuthServerConfig) *OAuthServer {
	tb.Helper()
	if cfg.Lifetime == 0 {
		cfg.Lifetime = time.Hour
	}
	if cfg.Lifetime < time.Second {
		tb.Fatalf("start oauth server: lifetime %v: at least a second (expires_in counts whole seconds)", cfg.Lifetime)
	}
	if cfg.Domain == "" {
		cfg.Domain = "example.com"
	}
	s := &OAuthServer{
		lifetime: cfg.Lifetime.Truncate(time.Second),
		domain:   cfg.Domain,
		clients:  map[string]string{},
		certs:    map[string]*x509.Certificate{},
		accounts: map[string]*rsa.PublicKey{},
		refresh:  map[string]refreshGrant{},
		jtis:     map[string]bool{},
		denied:   map[string]bool{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", s.token)
	mux.HandleFunc("/introspect", s.introspect)
	s.srv = httptest.NewServer(mux) // on 127.0.0.1
	tb.Cleanup(s.srv.Close)
	s.TokenURL = s.srv.URL + "/token"
	s.IntrospectionURL = s.srv.URL + "/introspect"
	return s
}

// AddClient registers an application and its client secret ("" for one
// that only proves itself with a certificate).
func (s *OAuthServer) AddClient(clientID, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clients[clientID] = secret
}

// AddClientCertificate registers a certificate of an application, whose
// key may sign client assertions.
func (s *OAuthServer) AddClientCertificate(clientID string, cert *x509.Certificate) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.clients[clientID]; !ok {
		s.clients[clientID] = ""
	}
	s.certs[clientID] = cert
}

// AddServiceAccount registers a service account with domain-wide
// delegation: its assertions may name any mailbox in sub.
func (s *OAuthServer) AddServiceAccount(email string, key *rsa.PublicKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.accounts[email] = key
}

// AddRefreshToken registers a refresh token of user for a client added
// with AddClient.
func (s *OAuthServer) AddRefreshToken(refreshToken, clientID, user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refresh[refreshToken] = refreshGrant{clientID, user}
}

// Issued returns every token issued so far, oldest first.
func (s *OAuthServer) Issued() []IssuedToken {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]IssuedToken(nil), s.issued...)
}

// Forms returns the form of every token request, oldest first.
func (s *OAuthServer) Forms() []url.Values {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]url.Values(nil), s.forms...)
}

// Introspections counts the introspection requests (Dovecot's checks).
func (s *OAuthServer) Introspections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.introspections
}

// RevokeAll makes every token issued so far inactive, as an admin who
// revokes an application's consent does.
func (s *OAuthServer) RevokeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.issued {
		s.issued[i].Revoked = true
	}
}

// Deny makes every token of principal (a mailbox, or client_id@Domain for
// an app-only client) inactive, those issued and those to come, while the
// token endpoint goes on issuing them: as Exchange Online refuses the
// tokens of an application that has lost its access to the mailboxes.
func (s *OAuthServer) Deny(principal string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.denied[principal] = true
}

// tokenError is an RFC 6749 section 5.2 answer.
type tokenError struct {
	status      int
	code, descr string
}

func (s *OAuthServer) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeTokenError(w, tokenError{http.StatusBadRequest, "invalid_request", err.Error()})
		return
	}
	form := r.PostForm
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forms = append(s.forms, form)
	var user string
	var terr *tokenError
	switch gt := form.Get("grant_type"); gt {
	case "client_credentials":
		user, terr = s.clientCredentials(form)
	case "urn:ietf:params:oauth:grant-type:jwt-bearer":
		user, terr = s.jwtBearer(form)
	case "refresh_token":
		user, terr = s.refreshToken(form)
	default:
		terr = &tokenError{http.StatusBadRequest, "unsupported_grant_type", fmt.Sprintf("AADSTS70003: grant type %q is not supported", gt)}
	}
	if terr != nil {
		writeTokenError(w, *terr)
		return
	}
	tok := "tok-" + randomText(24)
	s.issued = append(s.issued, IssuedToken{Token: tok, Grant: form.Get("grant_type"), User: user, Expiry: time.Now().Add(s.lifetime)})
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"access_token": tok,
		"token_type":   "Bearer",
		"expires_in":   int(s.lifetime / time.Second),
	})
}

func (s *OAuthServer) clientCredentials(form url.Values) (string, *tokenError) {
	id := form.Get("client_id")
	secret, ok := s.clients[id]
	switch {
	case !ok:
		return "", &tokenError{http.StatusBadRequest, "unauthorized_client", fmt.Sprintf("AADSTS700016: Application with identifier '%s' was not found in the directory.", id)}
	case form.Get("scope") == "":
		return "", &tokenError{http.StatusBadRequest, "invalid_request", "AADSTS90014: The required field 'scope' is missing."}
	case form.Has("client_assertion"):
		if form.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
			return "", &tokenError{http.StatusBadRequest, "invalid_request", "AADSTS50027: wrong client_assertion_type"}
		}
		if err := s.checkClientAssertion(id, form.Get("client_assertion")); err != nil {
			return "", &tokenError{http.StatusUnauthorized, "invalid_client", "AADSTS700027: Client assertion failed signature validation: " + err.Error()}
		}
	case secret == "" || form.Get("client_secret") != secret:
		return "", &tokenError{http.StatusUnauthorized, "invalid_client", "AADSTS7000215: Invalid client secret provided."}
	}
	return id + "@" + s.domain, nil
}

func (s *OAuthServer) checkClientAssertion(clientID, assertion string) error {
	cert := s.certs[clientID]
	if cert == nil {
		return errors.New("no certificate registered")
	}
	var header struct {
		Alg     string `json:"alg"`
		X5t     string `json:"x5t"`
		X5tS256 string `json:"x5t#S256"`
	}
	var claims struct {
		Aud, Iss, Sub, Jti string
		Exp, Nbf           int64
	}
	pub, _ := cert.PublicKey.(*rsa.PublicKey)
	if err := verifyJWT(assertion, pub, &header, &claims); err != nil {
		return err
	}
	s1, s256 := sha1.Sum(cert.Raw), sha256.Sum256(cert.Raw)
	now := time.Now().Unix()
	switch {
	case header.Alg != "RS256":
		return fmt.Errorf("alg %q", header.Alg)
	case header.X5tS256 != base64.RawURLEncoding.EncodeToString(s256[:]) &&
		header.X5t != base64.RawURLEncoding.EncodeToString(s1[:]):
		return errors.New("the thumbprint names no registered certificate")
	case claims.Aud != s.TokenURL:
		return fmt.Errorf("aud %q", claims.Aud)
	case claims.Iss != clientID || claims.Sub != clientID:
		return fmt.Errorf("iss %q, sub %q", claims.Iss, claims.Sub)
	case claims.Exp <= now || claims.Nbf > now+60:
		return errors.New("outside its validity")
	case claims.Jti == "" || s.jtis[claims.Jti]:
		return errors.New("jti missing or replayed")
	}
	s.jtis[claims.Jti] = true
	return nil
}

func (s *OAuthServer) jwtBearer(form url.Values) (string, *tokenError) {
	var header struct{ Alg string }
	var claims struct {
		Iss, Sub, Scope, Aud string
		Iat, Exp             int64
	}
	bad := func(why string) (string, *tokenError) {
		return "", &tokenError{http.StatusBadRequest, "invalid_grant", why}
	}
	// The issuer is read before the signature is checked, to find the key.
	parts := strings.Split(form.Get("assertion"), ".")
	if len(parts) != 3 {
		return bad("Invalid JWT.")
	}
	raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
	json.Unmarshal(raw, &claims)
	key := s.accounts[claims.Iss]
	if key == nil {
		return bad("Invalid JWT Signature.")
	}
	if err := verifyJWT(form.Get("assertion"), key, &header, &claims); err != nil {
		return bad("Invalid JWT Signature.")
	}
	now := time.Now().Unix()
	switch {
	case header.Alg != "RS256":
		return bad("Invalid JWT: alg")
	case claims.Aud != s.TokenURL:
		return bad("Invalid JWT: aud")
	case claims.Scope == "":
		return bad("Invalid JWT: No scope")
	case claims.Exp <= now || claims.Exp-claims.Iat > 3600:
		return bad("Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.")
	case claims.Sub == "":
		return claims.Iss, nil
	}
	return claims.Sub, nil
}

func (s *OAuthServer) refreshToken(form url.Values) (string, *tokenError) {
	g, ok := s.refresh[form.Get("refresh_token")]
	if !ok || g.clientID != form.Get("client_id") {
		return "", &tokenError{http.StatusBadRequest, "invalid_grant", "Token has been expired or revoked."}
	}
	if secret := s.clients[g.clientID]; secret != "" && form.Get("client_secret") != secret {
		return "", &tokenError{http.StatusUnauthorized, "invalid_client", "Unauthorized"}
	}
	return g.user, nil
}

func writeTokenError(w http.ResponseWriter, e tokenError) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.status)
	json.NewEncoder(w).Encode(map[string]string{"error": e.code, "error_description": e.descr})
}

// introspect answers as RFC 7662 says, with the username always present:
// Dovecot 2.3 checks the username before the active flag, and without one
// it reports an internal failure instead of a refused token.
func (s *OAuthServer) introspect(w http.ResponseWriter, r *http.Request) {
	tok := r.FormValue("token")
	s.mu.Lock()
	s.introspections++
	answer := map[string]any{"active": false, "username": ""}
	for _, it := range s.issued {
		if it.Token == tok && tok != "" {
			answer = map[string]any{
				"active":   !it.Revoked && !s.denied[it.User] && time.Now().Before(it.Expiry),
				"username": it.User,
				"exp":      it.Expiry.Unix(),
			}
		}
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(answer)
}

// verifyJWT checks an RS256 compact JWS with key and decodes its header
// and claims.
func verifyJWT(jws string, key *rsa.PublicKey, header, claims any) error {
	parts := strings.Split(jws, ".")
	if len(parts) != 3 || key == nil {
		return errors.New("not a JWS")
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return fmt.Errorf("signature: %w", err)
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(key, crypto.SHA256, sum[:], sig); err != nil {
		return err
	}
	for i, v := range []any{header, claims} {
		raw, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			return err
		}
		if err := json.Unmarshal(raw, v); err != nil {
			return err
		}
	}
	return nil
}

func randomText(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// DovecotOAuth2 turns on Dovecot's oauth2 passdb (DovecotConfig.OAuth2):
// AUTH=XOAUTH2 and AUTH=OAUTHBEARER are offered, and each token is checked
// by a POST to IntrospectionURL (introspection_mode = post), which must
// say active = true and name the user in "username". Passwords keep
// working with PLAIN and LOGIN for the users of DovecotConfig.Users (the
// userdb: an OAuth user must be there too). Dovecot's auth cache is off,
// so that every login asks and an expired token is refused at once.
type DovecotOAuth2 struct {
	// IntrospectionURL, e.g. OAuthServer.IntrospectionURL. Empty: no OAuth.
	IntrospectionURL string
	// DomainWide accepts a token whose username is in the login user's
	// domain (username_format = %d), as an Office 365 app-only token is
	// valid for every mailbox of the tenant.
	DomainWide bool
}

func (o DovecotOAuth2) enabled() bool { return o.IntrospectionURL != "" }

// writeArgs writes the passdb's args file.
func (o DovecotOAuth2) writeArgs(etc string) error {
	if !o.enabled() {
		return nil
	}
	if strings.ContainsAny(o.IntrospectionURL, " \t\r\n#") {
		return fmt.Errorf("oauth2 introspection URL %q: not a Dovecot setting value", o.IntrospectionURL)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "introspection_url = %s\n", o.IntrospectionURL)
	b.WriteString("introspection_mode = post\n")
	b.WriteString("username_attribute = username\n")
	b.WriteString("active_attribute = active\n")
	b.WriteString("active_value = true\n")
	if o.DomainWide {
		b.WriteString("username_format = %d\n")
	}
	return os.WriteFile(filepath.Join(etc, "oauth2.conf"), []byte(b.String()), 0o644)
}

// passdb renders the oauth2 passdb of dovecot.conf.
func (o DovecotOAuth2) passdb(w func(string, ...any), dir string) {
	w("passdb {")
	w("  driver = oauth2")
	w("  mechanisms = xoauth2 oauthbearer")
	w("  args = %s/etc/oauth2.conf", dir)
	w("}")
}
