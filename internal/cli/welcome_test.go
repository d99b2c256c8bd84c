package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWelcomePreview(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	custom := write("letter.txt", "Subject: Welcome {{.Address}}\n\nIMAP {{.IMAP.Host}}:{{.IMAP.Port}} {{security .IMAP.Security}}\n{{.Message}}\n")
	bad := write("bad.txt", "Subject: x\n\nline 3\nHello {{.Adress}}\n")
	note := write("note.txt", "Your password is in the envelope.\n")
	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     []string // on stdout, or stderr when wantCode is not 0
	}{
		{
			name: "SampleEnglish",
			args: []string{"welcome", "preview"},
			want: []string{"To: alice@example.com\nSubject: Your mailbox alice@example.com is moving to a new server\n\nHello,\n",
				"  Server:     imap.example.com\n  Port:       993\n  Security:   SSL/TLS\n"},
		},
		{
			name: "French",
			args: []string{"welcome", "preview", "--lang", "fr", "--user", "bob@new.example", "--source-user", "bob",
				"--dest-user", "bob.new", "--imap-host", "imap.new.example", "--imap-security", "starttls",
				"--smtp-host", "smtp.new.example", "--smtp-security", "tls", "--organization", "Service informatique",
				"--webmail-url", "https://webmail.new.example/", "--message-file", note},
			want: []string{
				"To: bob@new.example\nSubject: Votre boîte aux lettres bob@new.example change de serveur\n",
				"Service informatique déplace votre boîte aux lettres bob@new.example",
				"Your password is in the envelope.\n\n",
				"  Serveur :            imap.new.example\n  Port :               143\n  Sécurité :           STARTTLS\n  Nom d'utilisateur :  bob.new\n",
				"Courrier sortant (SMTP)\n  Serveur :            smtp.new.example\n  Port :               465\n",
				"https://webmail.new.example/",
				"ancien serveur était bob ;",
			},
		},
		{
			name: "CustomTemplate",
			args: []string{"welcome", "preview", "--template", custom, "--imap-port", "1993", "--message", "See you."},
			want: []string{"Subject: Welcome alice@example.com\n\nIMAP imap.example.com:1993 SSL/TLS\nSee you.\n"},
		},
		{
			name: "DefaultTemplate",
			args: []string{"welcome", "template", "--lang", "fr"},
			want: []string{"Subject: Votre boîte aux lettres {{.Address}} change de serveur\n"},
		},
		{
			name: "BadTemplate", args: []string{"welcome", "preview", "--template", bad}, wantCode: ExitUsage,
			want: []string{"--template " + bad + ": welcome letter: template: custom:4:", "Adress"},
		},
		{
			name: "MissingTemplate", args: []string{"welcome", "preview", "--template", filepath.Join(dir, "nope")}, wantCode: ExitUsage,
			want: []string{"--template: open " + filepath.Join(dir, "nope")},
		},
		{
			name: "UnknownLanguage", args: []string{"welcome", "preview", "--lang", "de"}, wantCode: ExitUsage,
			want: []string{`no welcome letter in "de"; there is one in en, fr`},
		},
		{
			name: "BadSecurity", args: []string{"welcome", "preview", "--smtp-security", "ssl"}, wantCode: ExitUsage,
			want: []string{`--smtp-security "ssl": want tls, starttls or none`},
		},
		{
			name: "MessageTwice", args: []string{"welcome", "preview", "--message", "x", "--message-file", note}, wantCode: ExitUsage,
			want: []string{"give --message or --message-file, not both"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := Main(context.Background(), tt.args, &out, &errOut)
			if code != tt.wantCode {
				t.Fatalf("%q: exit %d; want %d\nstdout: %s\nstderr: %s", tt.args, code, tt.wantCode, out.String(), errOut.String())
			}
			got := out.String()
			if tt.wantCode != ExitOK {
				got = errOut.String()
			}
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("%q output lacks %q:\n%s", tt.args, w, got)
				}
			}
		})
	}
}
