package service

import (
	"strings"
	"testing"
)

// TestCheckWelcome: every wrong setting is named, and a template is
// rendered with sample values so that a misspelt field is caught when the
// settings are given, not at the first letter.
func TestCheckWelcome(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    *WelcomeOptions
		want []string // substrings of the problems, in order; none means valid
	}{
		{"None", nil, nil},
		{"Defaults", &WelcomeOptions{}, nil},
		{"French", &WelcomeOptions{Language: "fr-CA", SMTP: &WelcomeServer{Host: "smtp.new.example", Port: 465, Security: "tls"},
			WebmailURL: "https://webmail.new.example/"}, nil},
		{"UnknownLanguage", &WelcomeOptions{Language: "de"}, []string{`welcome.language: no welcome letter in "de"`}},
		{"BadServers", &WelcomeOptions{IMAP: WelcomeServer{Security: "ssl", Port: 70000}, SMTP: &WelcomeServer{Security: "none"}},
			[]string{`welcome.imap.security: "ssl"`, "welcome.imap.port: 70000 is out of range", "welcome.smtp.host: required"}},
		{"Webmail", &WelcomeOptions{WebmailURL: "ftp://files.example"}, []string{`welcome.webmail_url: "ftp://files.example"`}},
		{"MisspeltField", &WelcomeOptions{Template: "Subject: Hello\n\n{{.Adress}}\n"}, []string{"welcome.template: ", "custom:3", "Adress"}},
		{"NoSubject", &WelcomeOptions{Template: "Hello {{.Address}}\n"}, []string{"the first line must be the subject"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := strings.Join(checkWelcome(tc.o), "; ")
			if len(tc.want) == 0 && got != "" {
				t.Fatalf("checkWelcome(%+v) = %q; want no problem", tc.o, got)
			}
			rest := got
			for _, w := range tc.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("checkWelcome(%+v) = %q; want %q (in order)", tc.o, got, w)
				}
				rest = rest[i+len(w):]
			}
		})
	}
}

// TestWelcomeIMAP: the letters name the destination endpoint unless the
// batch says otherwise, field by field.
func TestWelcomeIMAP(t *testing.T) {
	dst := &endpoint{Endpoint: Endpoint{Host: "imap.internal.example", Port: 10993, Security: "tls"}}
	for _, tc := range []struct {
		name string
		in   WelcomeServer
		want WelcomeServer
	}{
		{"Endpoint", WelcomeServer{}, WelcomeServer{Host: "imap.internal.example", Port: 10993, Security: "tls"}},
		{"OwnHost", WelcomeServer{Host: "imap.new.example"}, WelcomeServer{Host: "imap.new.example", Security: "tls"}},
		{"OwnAll", WelcomeServer{Host: "imap.new.example", Port: 143, Security: "starttls"}, WelcomeServer{Host: "imap.new.example", Port: 143, Security: "starttls"}},
		{"OwnSecurity", WelcomeServer{Security: "starttls"}, WelcomeServer{Host: "imap.internal.example", Port: 10993, Security: "starttls"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := welcomeIMAP(WelcomeOptions{IMAP: tc.in}, dst); got != tc.want {
				t.Errorf("welcomeIMAP(%+v) = %+v; want %+v", tc.in, got, tc.want)
			}
		})
	}
}
