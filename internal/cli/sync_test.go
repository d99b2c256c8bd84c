package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"

	"github.com/imapmigrate/imapmigrate/internal/imapconn"
)

// TestSyncHelpNamesTheContract checks that the flags other tools call stay
// in the help (and so in the command).
func TestSyncHelpNamesTheContract(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := Main(context.Background(), []string{"sync", "--help"}, &out, &errOut); code != ExitOK {
		t.Fatalf("sync --help exit %d: %s", code, errOut.String())
	}
	for _, side := range []string{"source", "dest"} {
		for _, f := range []string{"", "-user", "-password-file", "-security", "-auth-user", "-ca-file", "-insecure-skip-verify", "-cert-sha256"} {
			if flag := "--" + side + f + " "; !strings.Contains(out.String(), flag) {
				t.Errorf("sync --help does not list %s", flag)
			}
		}
	}
	for _, flag := range []string{"--state", "--include-folder", "--exclude-folder", "--max-message-size", "--max-items", "--connections", "--dry-run", "--report", "--trace", "-v,"} {
		if !strings.Contains(out.String(), flag) {
			t.Errorf("sync --help does not list %s", flag)
		}
	}
}

func TestSyncUsageErrors(t *testing.T) {
	t.Setenv("IMAPMIGRATE_SOURCE_PASSWORD", "x")
	t.Setenv("IMAPMIGRATE_DEST_PASSWORD", "y")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"NoSource", []string{"sync", "--dest", "h:1", "--dest-user", "u", "--source-user", "u"}, "--source is required"},
		{"NoPort", []string{"sync", "--source", "host", "--source-user", "u", "--dest", "h:1", "--dest-user", "u"}, "want HOST:PORT"},
		{"BadSecurity", []string{"sync", "--source", "h:1", "--source-user", "u", "--source-security", "ssl", "--dest", "h:1", "--dest-user", "u"}, "--source-security"},
		{"UnknownFlag", []string{"sync", "--bogus"}, "unknown flag"},
		{"BadPin", []string{"sync", "--source", "h:1", "--source-user", "u", "--source-cert-sha256", "ab:cd", "--dest", "h:1", "--dest-user", "u"}, "--source-cert-sha256: parse certificate pin"},
		{"PinAndInsecure", []string{"sync", "--source", "h:1", "--source-user", "u", "--dest", "h:1", "--dest-user", "u",
			"--dest-cert-sha256", strings.Repeat("AB:", 31) + "AB", "--dest-insecure-skip-verify"}, "--dest-cert-sha256 excludes --dest-insecure-skip-verify"},
		{"PinWithoutTLS", []string{"sync", "--source", "h:1", "--source-user", "u", "--dest", "h:1", "--dest-user", "u",
			"--dest-cert-sha256", strings.Repeat("ab", 32), "--dest-security", "none"}, "--dest-cert-sha256 needs --dest-security tls or starttls"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := Main(context.Background(), tc.args, &out, &errOut)
			if code != ExitUsage || !strings.Contains(errOut.String(), tc.want) {
				t.Errorf("Main(%q) = %d, stderr %q; want %d and %q", tc.args, code, errOut.String(), ExitUsage, tc.want)
			}
		})
	}
}

func TestExitCode(t *testing.T) {
	authErr := func(code imap.ResponseCode) error {
		return &imapconn.Error{Side: "source", Kind: imapconn.KindAuth, Err: &imap.Error{Type: imap.StatusResponseTypeNo, Code: code, Text: "x"}}
	}
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"WrongPassword", authErr(imap.ResponseCodeAuthenticationFailed), ExitAuth},
		{"TooManyConnections", authErr(imap.ResponseCodeLimit), ExitConnect},
		{"Unavailable", authErr(imap.ResponseCodeUnavailable), ExitConnect},
		{"TLS", &imapconn.Error{Kind: imapconn.KindTLS, Err: errors.New("x509")}, ExitConnect},
		{"Canceled", fmt.Errorf("copy: %w", context.Canceled), ExitCanceled},
		{"Other", errors.New("disk full"), ExitInternal},
	}
	for _, tc := range tests {
		if got := exitCode(tc.err); got != tc.want {
			t.Errorf("%s: exitCode(%v) = %d; want %d", tc.name, tc.err, got, tc.want)
		}
	}
}
