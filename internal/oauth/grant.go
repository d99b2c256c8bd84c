package oauth

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/imapmigrate/imapmigrate/internal/secret"
)

const (
	grantClientCredentials = "client_credentials"
	grantJWTBearer         = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	grantRefreshToken      = "refresh_token"
	clientAssertionType    = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

	// assertionLifetime: Microsoft asks for a short-lived client assertion
	// ("5-10 minutes after nbf"); Google accepts at most an hour.
	assertionLifetime = 10 * time.Minute

	// maxAnswer bounds what is read of a token endpoint's answer.
	maxAnswer = 1 << 20
	// maxQuoted bounds an error_description (or a non-JSON answer) quoted
	// in an error.
	maxQuoted = 400
)

// microsoft is the client credentials grant of the Microsoft identity
// platform. Its token is the application's and serves every mailbox.
type microsoft struct {
	url, clientID, scope string
	clientSecret         secret.Secret
	key                  *rsa.PrivateKey
	x5t, x5tS256         string // the certificate's thumbprints, base64url
}

func newMicrosoft(cfg Config, sec Secrets) (*microsoft, error) {
	g := &microsoft{url: cfg.TokenURL, clientID: cfg.ClientID, scope: cfg.Scope, clientSecret: sec.ClientSecret}
	if g.clientID == "" {
		return nil, errors.New("microsoft oauth: the client (application) ID is required")
	}
	if g.url == "" {
		if cfg.Tenant == "" {
			return nil, errors.New("microsoft oauth: the tenant ID (or a token URL) is required")
		}
		g.url = strings.ReplaceAll(MicrosoftTokenURL, "{tenant}", url.PathEscape(cfg.Tenant))
	}
	if err := checkURL(g.url); err != nil {
		return nil, fmt.Errorf("microsoft oauth: %w", err)
	}
	if g.scope == "" {
		g.scope = MicrosoftScope
	}
	switch {
	case cfg.Certificate != "" && sec.ClientSecret != "":
		return nil, errors.New("microsoft oauth: give a client secret or a certificate, not both")
	case cfg.Certificate != "":
		cert, err := parseCertificate(cfg.Certificate)
		if err != nil {
			return nil, fmt.Errorf("microsoft oauth: certificate: %w", err)
		}
		key, err := parseRSAKey(sec.PrivateKey)
		if err != nil {
			return nil, fmt.Errorf("microsoft oauth: private key: %w", err)
		}
		if pub, ok := cert.PublicKey.(*rsa.PublicKey); !ok || !pub.Equal(&key.PublicKey) {
			return nil, errors.New("microsoft oauth: the private key does not belong to the certificate")
		}
		s1, s256 := sha1.Sum(cert.Raw), sha256.Sum256(cert.Raw)
		g.key = key
		g.x5t = base64.RawURLEncoding.EncodeToString(s1[:])
		g.x5tS256 = base64.RawURLEncoding.EncodeToString(s256[:])
	case sec.ClientSecret == "":
		return nil, errors.New("microsoft oauth: a client secret or a certificate and its private key is required")
	}
	return g, nil
}

func (g *microsoft) slotKey(string) string { return "" }

func (g *microsoft) fetch(ctx context.Context, s *Source, _ string) (Token, error) {
	form := url.Values{
		"grant_type": {grantClientCredentials},
		"client_id":  {g.clientID},
		"scope":      {g.scope},
	}
	var secrets []string
	if g.key != nil {
		now := s.now()
		// The header carries both thumbprints: x5t#S256 is what the
		// platform documents now, x5t (SHA-1) what older tenants and
		// libraries look for.
		jwt, err := signJWT(g.key, map[string]string{"alg": "RS256", "typ": "JWT", "x5t": g.x5t, "x5t#S256": g.x5tS256}, map[string]any{
			"aud": g.url,
			"iss": g.clientID,
			"sub": g.clientID,
			"jti": randomID(),
			"nbf": now.Unix(),
			"iat": now.Unix(),
			"exp": now.Add(assertionLifetime).Unix(),
		})
		if err != nil {
			return Token{}, &Error{Grant: grantClientCredentials, URL: redactURL(g.url), Err: err}
		}
		form.Set("client_assertion_type", clientAssertionType)
		form.Set("client_assertion", jwt)
		secrets = append(secrets, jwt)
	} else {
		form.Set("client_secret", g.clientSecret.Reveal())
		secrets = append(secrets, g.clientSecret.Reveal())
	}
	tok, _, err := s.post(ctx, g.url, grantClientCredentials, form, secrets)
	return tok, err
}

// google is a service account with domain-wide delegation: one token per
// mailbox, each asked for with a JWT that names the mailbox in sub.
type google struct {
	url, scope, email, keyID string
	key                      *rsa.PrivateKey
}

// serviceAccountKey is the JSON key file Google's console gives out.
type serviceAccountKey struct {
	Type         string `json:"type"`
	ClientEmail  string `json:"client_email"`
	PrivateKeyID string `json:"private_key_id"`
	PrivateKey   string `json:"private_key"`
	TokenURI     string `json:"token_uri"`
}

func newGoogle(cfg Config, sec Secrets) (*google, error) {
	if sec.ServiceAccountKey == "" {
		return nil, errors.New("google oauth: the service account's JSON key is required")
	}
	var k serviceAccountKey
	// The decoder's errors quote no input, so the key cannot leak here.
	if err := json.Unmarshal([]byte(sec.ServiceAccountKey.Reveal()), &k); err != nil {
		return nil, fmt.Errorf("google oauth: service account key: not JSON: %w", err)
	}
	switch {
	case k.Type != "service_account":
		return nil, fmt.Errorf("google oauth: service account key: type %q, want service_account", k.Type)
	case k.ClientEmail == "":
		return nil, errors.New("google oauth: service account key: no client_email")
	}
	key, err := parseRSAKey(secret.Secret(k.PrivateKey))
	if err != nil {
		return nil, fmt.Errorf("google oauth: service account key %s: private_key: %w", k.ClientEmail, err)
	}
	g := &google{url: cfg.TokenURL, scope: cfg.Scope, email: k.ClientEmail, keyID: k.PrivateKeyID, key: key}
	if g.url == "" {
		g.url = k.TokenURI
	}
	if g.url == "" {
		g.url = GoogleTokenURL
	}
	if err := checkURL(g.url); err != nil {
		return nil, fmt.Errorf("google oauth: %w", err)
	}
	if g.scope == "" {
		g.scope = GoogleScope
	}
	return g, nil
}

func (g *google) slotKey(user string) string { return user }

func (g *google) fetch(ctx context.Context, s *Source, user string) (Token, error) {
	now := s.now()
	header := map[string]string{"alg": "RS256", "typ": "JWT"}
	if g.keyID != "" {
		header["kid"] = g.keyID
	}
	jwt, err := signJWT(g.key, header, map[string]any{
		"iss":   g.email,
		"sub":   user,
		"scope": g.scope,
		"aud":   g.url,
		"iat":   now.Unix(),
		"exp":   now.Add(assertionLifetime).Unix(),
	})
	if err != nil {
		return Token{}, &Error{Grant: "jwt-bearer", URL: redactURL(g.url), Err: err}
	}
	form := url.Values{"grant_type": {grantJWTBearer}, "assertion": {jwt}}
	tok, _, err := s.post(ctx, g.url, "jwt-bearer", form, []string{jwt})
	if err != nil {
		return Token{}, fmt.Errorf("for %s as %s: %w", user, g.email, err)
	}
	return tok, nil
}

// refresh is the refresh token grant, one refresh token per mailbox.
// A provider that rotates refresh tokens (Microsoft does) sends a new one
// with each access token; it replaces the old one for the rest of the
// run.
type refresh struct {
	url, clientID, scope string
	clientSecret         secret.Secret

	mu     sync.Mutex
	tokens map[string]secret.Secret
}

func newRefresh(cfg Config, sec Secrets) (*refresh, error) {
	g := &refresh{url: cfg.TokenURL, clientID: cfg.ClientID, scope: cfg.Scope, clientSecret: sec.ClientSecret,
		tokens: map[string]secret.Secret{}}
	if g.clientID == "" {
		return nil, errors.New("refresh token oauth: the client ID is required")
	}
	if len(sec.RefreshTokens) == 0 {
		return nil, errors.New("refresh token oauth: no refresh token given")
	}
	for user, t := range sec.RefreshTokens {
		g.tokens[user] = t
	}
	if g.url == "" {
		g.url = GoogleTokenURL
	}
	if err := checkURL(g.url); err != nil {
		return nil, fmt.Errorf("refresh token oauth: %w", err)
	}
	return g, nil
}

func (g *refresh) slotKey(user string) string { return user }

func (g *refresh) fetch(ctx context.Context, s *Source, user string) (Token, error) {
	g.mu.Lock()
	rt := g.tokens[user]
	g.mu.Unlock()
	if rt == "" {
		return Token{}, fmt.Errorf("refresh token oauth: no refresh token for %s", user)
	}
	form := url.Values{
		"grant_type":    {grantRefreshToken},
		"refresh_token": {rt.Reveal()},
		"client_id":     {g.clientID},
	}
	secrets := []string{rt.Reveal()}
	if g.clientSecret != "" {
		form.Set("client_secret", g.clientSecret.Reveal())
		secrets = append(secrets, g.clientSecret.Reveal())
	}
	if g.scope != "" {
		form.Set("scope", g.scope)
	}
	tok, next, err := s.post(ctx, g.url, grantRefreshToken, form, secrets)
	if err != nil {
		return Token{}, fmt.Errorf("for %s: %w", user, err)
	}
	if next != "" && next != rt {
		g.mu.Lock()
		g.tokens[user] = next
		g.mu.Unlock()
		if s.rotated != nil {
			s.rotated(user, next)
		}
	}
	return tok, nil
}

// tokenAnswer is a token endpoint's JSON answer (RFC 6749 sections 5.1
// and 5.2). expires_in is a number, or a string at some endpoints (Azure
// AD v1).
type tokenAnswer struct {
	AccessToken      string          `json:"access_token"`
	TokenType        string          `json:"token_type"`
	ExpiresIn        json.RawMessage `json:"expires_in"`
	RefreshToken     string          `json:"refresh_token"`
	Error            string          `json:"error"`
	ErrorDescription string          `json:"error_description"`
}

// post sends a token request and reads the answer. sent are the secrets in
// the form, which never appear in an error. It also returns a new refresh
// token, when the answer holds one.
func (s *Source) post(ctx context.Context, endpoint, grant string, form url.Values, sent []string) (Token, secret.Secret, error) {
	fail := &Error{Grant: grant, URL: redactURL(endpoint)}
	scrub := func(text string) string {
		for _, v := range sent {
			if v != "" {
				text = strings.ReplaceAll(text, v, "***")
			}
		}
		return quotable(text)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		fail.Err = errors.New(scrub(err.Error()))
		return Token{}, "", fail
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	sentAt := s.now()
	resp, err := s.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			fail.Err = context.Cause(ctx)
		} else {
			fail.Err = errors.New(scrub(err.Error()))
		}
		return Token{}, "", fail
	}
	defer resp.Body.Close()
	fail.Status = resp.StatusCode
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		fail.Err = fmt.Errorf("read answer: %s", scrub(err.Error()))
		return Token{}, "", fail
	}
	var a tokenAnswer
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if jerr := json.Unmarshal(body, &a); jerr != nil {
		// An HTML error page of a proxy, say: show its start.
		fail.Err = fmt.Errorf("answer is not JSON (%s): %q", mt, scrub(string(body)))
		return Token{}, "", fail
	}
	fail.Code, fail.Description = scrub(a.Error), scrub(a.ErrorDescription)
	switch {
	case resp.StatusCode != http.StatusOK || a.Error != "":
		if fail.Code == "" && fail.Description == "" {
			fail.Err = fmt.Errorf("answer: %q", scrub(string(body)))
		}
		return Token{}, "", fail
	case a.AccessToken == "":
		fail.Err = errors.New("the answer holds no access_token")
		return Token{}, "", fail
	case a.TokenType != "" && !strings.EqualFold(a.TokenType, "bearer"):
		fail.Err = fmt.Errorf("token_type %q, want Bearer", scrub(a.TokenType))
		return Token{}, "", fail
	}
	life := unknownLifetime
	if len(a.ExpiresIn) > 0 && string(a.ExpiresIn) != "null" {
		n, err := strconv.ParseInt(strings.Trim(string(a.ExpiresIn), `"`), 10, 64)
		if err != nil || n < 0 {
			fail.Err = fmt.Errorf("expires_in %s is not a number of seconds", quotable(string(a.ExpiresIn)))
			return Token{}, "", fail
		}
		life = time.Duration(n) * time.Second
	}
	// Counted from when the request left, so that time on the way makes
	// the token look older, not younger, than it is.
	return Token{AccessToken: secret.Secret(a.AccessToken), Expiry: sentAt.Add(life)}, secret.Secret(a.RefreshToken), nil
}

// signJWT makes a compact JWS (RFC 7515) signed with RS256 (RSASSA-PKCS1-v1_5
// with SHA-256, RFC 7518 section 3.3).
func signJWT(key *rsa.PrivateKey, header map[string]string, claims map[string]any) (string, error) {
	h, err := json.Marshal(header)
	if err != nil {
		return "", err
	}
	c, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	input := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	sum := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, sum[:])
	if err != nil {
		return "", fmt.Errorf("sign assertion: %w", err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// parseRSAKey reads the first private key of a PEM text: PKCS #8 ("PRIVATE
// KEY", what Google's key files and openssl give) or PKCS #1 ("RSA PRIVATE
// KEY"). Errors never show key material.
func parseRSAKey(pemText secret.Secret) (*rsa.PrivateKey, error) {
	rest := []byte(pemText.Reveal())
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("no PEM private key found")
		}
		switch block.Type {
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("parse PKCS #8 key: %w", err)
			}
			rk, ok := k.(*rsa.PrivateKey)
			if !ok {
				return nil, fmt.Errorf("a %T key, want RSA (RS256)", k)
			}
			return rk, nil
		case "RSA PRIVATE KEY":
			k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("parse PKCS #1 key: %w", err)
			}
			return k, nil
		}
	}
}

// parseCertificate reads the first certificate of a PEM text.
func parseCertificate(pemText string) (*x509.Certificate, error) {
	rest := []byte(pemText)
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("no PEM certificate found")
		}
		if block.Type == "CERTIFICATE" {
			return x509.ParseCertificate(block.Bytes)
		}
	}
}

// checkURL accepts absolute http and https URLs; http is for tests and
// for endpoints on the same machine.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("token URL: %w", err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("token URL %q: want an absolute https URL", redactURL(raw))
	}
	return nil
}

// redactURL drops credentials and the query from a URL for messages.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}

// quotable keeps text short and printable for an error message.
func quotable(text string) string {
	text = strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return ' '
	}, strings.TrimSpace(text))
	if r := []rune(text); len(r) > maxQuoted {
		text = string(r[:maxQuoted]) + "…"
	}
	return text
}

// randomID is a random UUID (version 4), for jti.
func randomID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
