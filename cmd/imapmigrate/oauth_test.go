package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imapmigrate/imapmigrate/internal/testserver"
)

// TestSyncOAuthNoSecretInOutput runs `imapmigrate sync --trace --report`
// with every OAuth login the command line offers: a Google service
// account at the source and an Office 365 app with a client secret at the
// destination, then again with a refresh token at the source and the app's
// certificate at the destination, and last with the app refused by the
// destination (exit 4, naming the side and quoting the server). Nothing
// the run was given or got (client secrets, private keys, refresh token,
// every token issued, plain or in the base64 SASL strings that carry it)
// may appear in stdout, stderr or the report.
func TestSyncOAuthNoSecretInOutput(t *testing.T) {
	const (
		appID, appSecret         = "app-7f1e", "app~Secret.Value-19"
		webID, webSecret         = "web-client-2", "GOCSPX-web-secret-77"
		refreshToken             = "1//0refresh-Token-of-alice"
		saEmail                  = "migrator@proj.iam.gserviceaccount.com"
		srcPassword, dstPassword = "src-pw-only-for-seeding", "dst-pw-only-for-snapshots"
	)
	auth := testserver.StartOAuthServer(t, testserver.OAuthServerConfig{Lifetime: 5 * time.Second})
	auth.AddClient(appID, appSecret)
	auth.AddClient(webID, webSecret)
	auth.AddRefreshToken(refreshToken, webID, user)
	saKey, certKey := mustRSA(t), mustRSA(t)
	auth.AddServiceAccount(saEmail, &saKey.PublicKey)
	cert := mustCert(t, certKey)
	auth.AddClientCertificate(appID, cert)

	dc := func(pw string) testserver.DovecotConfig {
		return testserver.DovecotConfig{Users: map[string]string{user: pw},
			OAuth2: testserver.DovecotOAuth2{IntrospectionURL: auth.IntrospectionURL, DomainWide: true}}
	}
	src, dst := testserver.StartDovecot(t, dc(srcPassword)), testserver.StartDovecot(t, dc(dstPassword))
	msgs := small()[:8]
	if err := testserver.Seed(context.Background(), src.Addr, user, srcPassword, msgs); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	file := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	saPEM := pemKey(t, saKey)
	certKeyPEM := pemKey(t, certKey)
	saJSON, _ := json.Marshal(map[string]string{"type": "service_account", "client_email": saEmail, "private_key": saPEM, "token_uri": auth.TokenURL})
	saFile := file("sa.json", saJSON)
	appSecretFile := file("app-secret", []byte(appSecret+"\n"))
	webSecretFile := file("web-secret", []byte(webSecret+"\n"))
	rtFile := file("refresh-token", []byte(refreshToken+"\n"))
	certFile := file("app.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}))
	keyFile := file("app.key", []byte(certKeyPEM))
	report := filepath.Join(dir, "report.json")

	common := []string{"sync", "-v", "--report", report, "--state", filepath.Join(dir, "state.db"),
		"--source", src.Addr, "--source-user", user, "--source-security", "none",
		"--dest", dst.Addr, "--dest-user", user, "--dest-security", "none"}
	first := append(append([]string{}, common...),
		"--source-oauth", "google", "--source-oauth-key-file", saFile,
		"--dest-oauth", "microsoft", "--dest-oauth-client-id", appID, "--dest-oauth-token-url", auth.TokenURL,
		"--dest-oauth-client-secret-file", appSecretFile)
	second := append(append([]string{}, common...),
		"--source-oauth", "refresh", "--source-oauth-client-id", webID, "--source-oauth-token-url", auth.TokenURL,
		"--source-oauth-client-secret-file", webSecretFile, "--source-oauth-refresh-token-file", rtFile,
		"--dest-oauth", "microsoft", "--dest-oauth-client-id", appID, "--dest-oauth-token-url", auth.TokenURL,
		"--dest-oauth-cert-file", certFile, "--dest-oauth-key-file", keyFile)

	var output []string
	runOK := func(name string, args []string) {
		code, out, errOut := run(t, args...)
		rep, _ := os.ReadFile(report)
		output = append(output, out, errOut, string(rep))
		if code != 0 {
			t.Fatalf("%s run: exit %d:\n%s", name, code, errOut)
		}
		logins := map[string]int{}
		for _, line := range strings.Split(errOut, "\n") {
			if strings.HasSuffix(line, " AUTHENTICATE OAUTHBEARER ***") {
				logins[strings.Fields(line)[0]]++
			}
		}
		if logins["source"] == 0 || logins["dest"] == 0 {
			t.Errorf("%s run: redacted logins by side %v; want both sides:\n%.3000s", name, logins, errOut)
		}
	}
	runOK("first", first)
	runOK("second", second)
	srcSnap, err := testserver.Take(context.Background(), src.Addr, user, srcPassword)
	if err != nil {
		t.Fatal(err)
	}
	dstSnap, err := testserver.Take(context.Background(), dst.Addr, user, dstPassword)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range testserver.CompareFolders(srcSnap, dstSnap, map[string]string{"INBOX": "INBOX", "Sent": "Sent", "Archive/2020": "Archive/2020"}, nil) {
		t.Error(d)
	}

	auth.Deny(appID + "@example.com")
	code, out, errOut := run(t, first...)
	rep, _ := os.ReadFile(report)
	output = append(output, out, errOut, string(rep))
	for _, want := range []string{"destination " + dst.Addr, `{"status":"invalid_token"}`, "NO [AUTHENTICATIONFAILED]"} {
		if code != 4 || !strings.Contains(errOut, want) {
			t.Errorf("refused run: exit %d, stderr:\n%s\nwant exit 4 and %q", code, errOut, want)
		}
	}

	grants := map[string]int{}
	secrets := []string{appSecret, webSecret, refreshToken, saPEM, certKeyPEM}
	for _, k := range []string{saPEM, certKeyPEM} {
		// Any line of the keys' base64, not only the whole PEM.
		lines := strings.Split(k, "\n")
		secrets = append(secrets, lines[1], lines[len(lines)/2])
	}
	_, srcPort, _ := net.SplitHostPort(src.Addr)
	_, dstPort, _ := net.SplitHostPort(dst.Addr)
	for _, it := range auth.Issued() {
		grants[it.Grant]++
		secrets = append(secrets, it.Token, base64.StdEncoding.EncodeToString([]byte("user="+user+"\x01auth=Bearer "+it.Token+"\x01\x01")))
		for _, port := range []string{srcPort, dstPort} {
			sasl := "n,a=" + user + ",\x01host=127.0.0.1\x01port=" + port + "\x01auth=Bearer " + it.Token + "\x01\x01"
			secrets = append(secrets, base64.StdEncoding.EncodeToString([]byte(sasl)))
		}
	}
	if len(grants) != 3 {
		t.Errorf("tokens issued by grant: %v; want all three grants used", grants)
	}
	all := strings.Join(output, "\n")
	for _, s := range secrets {
		if strings.Contains(all, s) {
			t.Errorf("the output holds a secret: %.60q", s)
		}
	}
}

func mustRSA(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustCert(t *testing.T, key *rsa.PrivateKey) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "imapmigrate app"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func pemKey(t *testing.T, key *rsa.PrivateKey) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// TestSyncOAuthUsage: OAuth flags that do not fit are usage errors (exit
// 2) that say what to give, before any connection.
func TestSyncOAuthUsage(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	os.WriteFile(pw, []byte("x\n"), 0o600)
	base := []string{"sync", "--state", filepath.Join(dir, "state.db"),
		"--source", "127.0.0.1:1", "--source-user", user, "--dest", "127.0.0.1:2", "--dest-user", user, "--dest-password-file", pw}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"UnknownProvider", []string{"--source-oauth", "yahoo"}, `--source-oauth: parse oauth provider "yahoo": want microsoft, google or refresh`},
		{"FlagWithoutProvider", []string{"--source-password-file", pw, "--source-oauth-tenant", "contoso"}, "--source-oauth-tenant needs --source-oauth"},
		{"NoClientSecret", []string{"--source-oauth", "microsoft", "--source-oauth-tenant", "contoso", "--source-oauth-client-id", "app"},
			"give --source-oauth-client-secret-file or set IMAPMIGRATE_SOURCE_OAUTH_CLIENT_SECRET"},
		{"NoKeyFile", []string{"--source-oauth", "google"}, "--source-oauth google needs --source-oauth-key-file"},
		{"TokenAndPassword", []string{"--source-oauth", "google", "--source-password-file", pw}, "excludes --source-password-file"},
		{"NoTenant", []string{"--source-oauth", "microsoft", "--source-oauth-client-id", "app", "--source-oauth-client-secret-file", pw},
			"the tenant ID (or a token URL) is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := run(t, append(base, tt.args...)...)
			if code != 2 || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit 2 and %q", code, errOut, tt.want)
			}
		})
	}
}
