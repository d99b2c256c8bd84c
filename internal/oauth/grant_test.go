package oauth_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imapmigrate/imapmigrate/internal/oauth"
	"github.com/imapmigrate/imapmigrate/internal/secret"
	"github.com/imapmigrate/imapmigrate/internal/testserver"
)

const (
	clientID     = "3f2a9c1e-app"
	clientSecret = "cs~Very.Secret-42"
	alice        = "alice@example.com"
	bob          = "bob@example.com"
)

// rsaKey is one 2048-bit key for the whole package: making one is slow.
var rsaKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

// selfSigned makes a certificate for key, as an admin uploads one to an
// Entra application.
func selfSigned(t *testing.T, key *rsa.PrivateKey) (*x509.Certificate, string) {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7),
		Subject:      pkix.Name{CommonName: "imapmigrate app"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func keyPEM(t *testing.T, key *rsa.PrivateKey) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// decodeJWT checks an RS256 signature with pub and returns header and
// claims.
func decodeJWT(t *testing.T, jws string, pub *rsa.PublicKey) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(jws, ".")
	if len(parts) != 3 {
		t.Fatalf("assertion %q: not a compact JWS", jws)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
		t.Fatalf("assertion signature: %v", err)
	}
	for i, v := range []*map[string]any{&header, &claims} {
		raw, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, v); err != nil {
			t.Fatal(err)
		}
	}
	return header, claims
}

func mustNew(t *testing.T, cfg oauth.Config, sec oauth.Secrets) *oauth.Source {
	t.Helper()
	s, err := oauth.New(cfg, sec, oauth.Options{})
	if err != nil {
		t.Fatalf("New(%+v) = %v", cfg, err)
	}
	return s
}

func mustToken(t *testing.T, s oauth.TokenSource, user string) oauth.Token {
	t.Helper()
	tok, err := s.Token(context.Background(), user)
	if err != nil {
		t.Fatalf("Token(%q) = %v", user, err)
	}
	return tok
}

// TestMicrosoftClientSecret: one app-only token, asked for with the client
// secret, serves every mailbox.
func TestMicrosoftClientSecret(t *testing.T) {
	srv := testserver.StartOAuthServer(t, testserver.OAuthServerConfig{})
	srv.AddClient(clientID, clientSecret)
	s := mustNew(t, oauth.Config{Provider: oauth.Microsoft, ClientID: clientID, TokenURL: srv.TokenURL},
		oauth.Secrets{ClientSecret: clientSecret})
	a, b := mustToken(t, s, alice), mustToken(t, s, bob)
	issued := srv.Issued()
	if len(issued) != 1 || a.AccessToken.Reveal() != issued[0].Token || b.AccessToken != a.AccessToken {
		t.Fatalf("issued %v; alice and bob got %q and %q; want one token for both", issued, a.AccessToken.Reveal(), b.AccessToken.Reveal())
	}
	if !a.Fresh || b.Fresh {
		t.Errorf("Fresh = %v, %v; want the first fetched, the second cached", a.Fresh, b.Fresh)
	}
	form := srv.Forms()[0]
	want := map[string]string{"grant_type": "client_credentials", "client_id": clientID, "client_secret": clientSecret,
		"scope": "https://outlook.office365.com/.default"}
	for k, v := range want {
		if got := form.Get(k); got != v {
			t.Errorf("form %s = %q; want %q", k, got, v)
		}
	}
	if until := time.Until(a.Expiry); until < 59*time.Minute || until > time.Hour {
		t.Errorf("expiry in %v; want the hour the server gave", until)
	}
	if text := fmt.Sprintf("%v %+v %#v", a, a, a); strings.Contains(text, a.AccessToken.Reveal()) {
		t.Errorf("a printed Token shows the access token: %s", text)
	}
}

// TestMicrosoftCertificate: the client proves itself with an assertion
// signed by the certificate's key, which the server checks (signature,
// thumbprint, aud, iss, sub, validity, jti), as the Microsoft identity
// platform does.
func TestMicrosoftCertificate(t *testing.T) {
	srv := testserver.StartOAuthServer(t, testserver.OAuthServerConfig{})
	key := rsaKey()
	cert, certPEM := selfSigned(t, key)
	srv.AddClientCertificate(clientID, cert)
	cfg := oauth.Config{Provider: oauth.Microsoft, ClientID: clientID, TokenURL: srv.TokenURL, Certificate: certPEM}
	s := mustNew(t, cfg, oauth.Secrets{PrivateKey: secret.Secret(keyPEM(t, key))})
	mustToken(t, s, alice)

	form := srv.Forms()[0]
	if form.Has("client_secret") || form.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
		t.Errorf("form %v; want a client assertion and no client secret", form)
	}
	header, claims := decodeJWT(t, form.Get("client_assertion"), &key.PublicKey)
	s1, s256 := sha1.Sum(cert.Raw), sha256.Sum256(cert.Raw)
	if header["alg"] != "RS256" || header["x5t#S256"] != base64.RawURLEncoding.EncodeToString(s256[:]) ||
		header["x5t"] != base64.RawURLEncoding.EncodeToString(s1[:]) {
		t.Errorf("assertion header %v; want RS256 with the certificate's SHA-256 and SHA-1 thumbprints", header)
	}
	if claims["aud"] != srv.TokenURL || claims["iss"] != clientID || claims["sub"] != clientID || claims["jti"] == "" {
		t.Errorf("assertion claims %v; want aud = token URL, iss = sub = client ID, a jti", claims)
	}
	if life := claims["exp"].(float64) - claims["nbf"].(float64); life != 600 {
		t.Errorf("assertion valid for %vs; want 600", life)
	}

	t.Run("OtherCertificateRegistered", func(t *testing.T) {
		otherKey, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		other, _ := selfSigned(t, otherKey)
		srv.AddClientCertificate(clientID, other)
		_, err = mustNew(t, cfg, oauth.Secrets{PrivateKey: secret.Secret(keyPEM(t, key))}).Token(context.Background(), alice)
		if err == nil || !strings.Contains(err.Error(), "invalid_client") || !strings.Contains(err.Error(), "AADSTS700027") {
			t.Errorf("Token with an unregistered certificate = %v; want invalid_client, AADSTS700027", err)
		}
	})
}

// TestGoogleServiceAccount: one token per mailbox, each asked for with a
// JWT naming the mailbox in sub, signed with the service account's key.
func TestGoogleServiceAccount(t *testing.T) {
	srv := testserver.StartOAuthServer(t, testserver.OAuthServerConfig{})
	key := rsaKey()
	const email = "migrator@proj.iam.gserviceaccount.com"
	srv.AddServiceAccount(email, &key.PublicKey)
	keyJSON, _ := json.Marshal(map[string]string{
		"type": "service_account", "client_email": email, "private_key_id": "kid-1",
		"private_key": keyPEM(t, key), "token_uri": srv.TokenURL,
	})
	s := mustNew(t, oauth.Config{Provider: oauth.Google}, oauth.Secrets{ServiceAccountKey: secret.Secret(keyJSON)})
	a, b := mustToken(t, s, alice), mustToken(t, s, bob)
	mustToken(t, s, alice)
	issued := srv.Issued()
	if len(issued) != 2 || issued[0].User != alice || issued[1].User != bob || a.AccessToken == b.AccessToken {
		t.Fatalf("issued %+v; want one token for alice, then one for bob", issued)
	}
	form := srv.Forms()[1]
	if form.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		t.Errorf("grant_type %q", form.Get("grant_type"))
	}
	header, claims := decodeJWT(t, form.Get("assertion"), &key.PublicKey)
	if header["alg"] != "RS256" || header["kid"] != "kid-1" {
		t.Errorf("assertion header %v; want RS256 and the key's ID", header)
	}
	if claims["iss"] != email || claims["sub"] != bob || claims["scope"] != "https://mail.google.com/" || claims["aud"] != srv.TokenURL {
		t.Errorf("assertion claims %v; want iss = the account, sub = bob, Gmail's scope, aud = token URL", claims)
	}
}

// TestRefreshTokenGrant: each mailbox has its refresh token; a mailbox
// without one is an error that names it.
func TestRefreshTokenGrant(t *testing.T) {
	srv := testserver.StartOAuthServer(t, testserver.OAuthServerConfig{})
	srv.AddClient(clientID, clientSecret)
	const rt = "1//refresh-alice"
	srv.AddRefreshToken(rt, clientID, alice)
	s := mustNew(t, oauth.Config{Provider: oauth.Refresh, ClientID: clientID, TokenURL: srv.TokenURL},
		oauth.Secrets{ClientSecret: clientSecret, RefreshTokens: map[string]secret.Secret{alice: rt}})
	mustToken(t, s, alice)
	form := srv.Forms()[0]
	for k, v := range map[string]string{"grant_type": "refresh_token", "refresh_token": rt, "client_id": clientID, "client_secret": clientSecret} {
		if form.Get(k) != v {
			t.Errorf("form %s = %q; want %q", k, form.Get(k), v)
		}
	}
	if _, err := s.Token(context.Background(), bob); err == nil || !strings.Contains(err.Error(), "no refresh token for "+bob) {
		t.Errorf("Token(bob) = %v; want no refresh token for bob", err)
	}
}

// TestTokenErrors: a refused request names the grant and the endpoint,
// quotes error and error_description, and never shows what was sent.
func TestTokenErrors(t *testing.T) {
	srv := testserver.StartOAuthServer(t, testserver.OAuthServerConfig{})
	srv.AddClient(clientID, "the-right-secret")
	// echo answers with the client secret in error_description, as a
	// careless endpoint might.
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]string{"error": "invalid_request", "error_description": "bad secret " + r.PostForm.Get("client_secret")})
	}))
	defer echo.Close()
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
		fmt.Fprint(w, "<html><body>502 Bad Gateway</body></html>")
	}))
	defer proxy.Close()

	tests := []struct {
		name      string
		url       string
		want      []string
		temporary bool
	}{
		{"WrongSecret", srv.TokenURL, []string{"client_credentials", srv.TokenURL, "HTTP 401", "invalid_client", `"AADSTS7000215: Invalid client secret provided."`}, false},
		{"EchoedSecret", echo.URL, []string{"HTTP 400", "invalid_request", `"bad secret ***"`}, false},
		{"ProxyPage", proxy.URL, []string{"HTTP 502", "not JSON", "502 Bad Gateway"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustNew(t, oauth.Config{Provider: oauth.Microsoft, ClientID: clientID, TokenURL: tt.url}, oauth.Secrets{ClientSecret: clientSecret})
			_, err := s.Token(context.Background(), alice)
			if err == nil {
				t.Fatal("Token = nil error; want a refusal")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), clientSecret) {
				t.Errorf("error %q shows the client secret", err)
			}
			if got := oauth.IsTemporary(err); got != tt.temporary {
				t.Errorf("IsTemporary = %v; want %v", got, tt.temporary)
			}
		})
	}
}

// TestNewChecksConfig: a missing or bad setting is named before any
// request.
func TestNewChecksConfig(t *testing.T) {
	key := rsaKey()
	_, certPEM := selfSigned(t, key)
	other, _ := rsa.GenerateKey(rand.Reader, 1024)
	tests := []struct {
		name string
		cfg  oauth.Config
		sec  oauth.Secrets
		want string
	}{
		{"NoProvider", oauth.Config{}, oauth.Secrets{}, "want microsoft, google or refresh"},
		{"MicrosoftNoTenant", oauth.Config{Provider: oauth.Microsoft, ClientID: clientID}, oauth.Secrets{ClientSecret: "x"}, "tenant"},
		{"MicrosoftNoCredential", oauth.Config{Provider: oauth.Microsoft, ClientID: clientID, Tenant: "t"}, oauth.Secrets{}, "client secret or a certificate"},
		{"MicrosoftBoth", oauth.Config{Provider: oauth.Microsoft, ClientID: clientID, Tenant: "t", Certificate: certPEM}, oauth.Secrets{ClientSecret: "x"}, "not both"},
		{"MicrosoftKeyMismatch", oauth.Config{Provider: oauth.Microsoft, ClientID: clientID, Tenant: "t", Certificate: certPEM},
			oauth.Secrets{PrivateKey: secret.Secret(keyPEM(t, other))}, "does not belong to the certificate"},
		{"MicrosoftPlainHTTPScheme", oauth.Config{Provider: oauth.Microsoft, ClientID: clientID, TokenURL: "ftp://x/token"}, oauth.Secrets{ClientSecret: "x"}, "absolute https URL"},
		{"GoogleNotJSON", oauth.Config{Provider: oauth.Google}, oauth.Secrets{ServiceAccountKey: "-----BEGIN"}, "not JSON"},
		{"GoogleWrongType", oauth.Config{Provider: oauth.Google}, oauth.Secrets{ServiceAccountKey: `{"type":"authorized_user"}`}, `type "authorized_user"`},
		{"RefreshNoToken", oauth.Config{Provider: oauth.Refresh, ClientID: clientID}, oauth.Secrets{}, "no refresh token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := oauth.New(tt.cfg, tt.sec, oauth.Options{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New = %v; want an error containing %q", err, tt.want)
			}
		})
	}
}
