package notify_test

import (
	"strings"
	"testing"

	"github.com/imapmigrate/imapmigrate/internal/notify"
)

// fullData sets every field, each to a value found nowhere else in the
// letters, so that a test can tell each one was used.
func fullData() notify.WelcomeData {
	return notify.WelcomeData{
		Organization:    "Acme Mail Team",
		Address:         "alice@new.example",
		SourceUser:      "alice.old",
		DestinationUser: "alice.new",
		IMAP:            notify.Server{Host: "imap.new.example", Port: 10993, Security: "tls"},
		SMTP:            &notify.Server{Host: "smtp.new.example", Port: 10587, Security: "starttls"},
		WebmailURL:      "https://webmail.new.example/",
		Message:         "Call 555-0100 for your new password.",
	}
}

func TestRender(t *testing.T) {
	t.Parallel()
	minimal := notify.WelcomeData{Address: "bob@new.example", IMAP: notify.Server{Host: "imap.new.example", Security: "starttls"}}
	noneSMTP := minimal
	noneSMTP.SMTP = &notify.Server{Host: "relay.new.example", Security: "none"}
	tests := []struct {
		name        string
		lang        string
		custom      string
		data        notify.WelcomeData
		wantSubject string
		want        []string // in the body, in this order
		notWant     []string
	}{
		{
			name: "English", lang: "en", data: fullData(),
			wantSubject: "Your mailbox alice@new.example is moving to a new server",
			want: []string{
				"Hello,\n\nAcme Mail Team is moving your mailbox alice@new.example to a new\n",
				"\n\nCall 555-0100 for your new password.\n\n",
				"Incoming mail (IMAP)\n  Server:     imap.new.example\n  Port:       10993\n  Security:   SSL/TLS\n  User name:  alice.new\n",
				"\nOutgoing mail (SMTP)\n  Server:     smtp.new.example\n  Port:       10587\n  Security:   STARTTLS\n  User name:  alice.new\n",
				"web browser at https://webmail.new.example/\n",
				"Your user name on the old server was alice.old; on the new\nserver it is alice.new.\n",
				"Regards,\nAcme Mail Team\n",
			},
		},
		{
			name: "French", lang: "fr", data: fullData(),
			wantSubject: "Votre boîte aux lettres alice@new.example change de serveur",
			want: []string{
				"Bonjour,\n\nAcme Mail Team déplace votre boîte aux lettres alice@new.example vers un\n",
				"\n\nCall 555-0100 for your new password.\n\n",
				"Courrier entrant (IMAP)\n  Serveur :            imap.new.example\n  Port :               10993\n  Sécurité :           SSL/TLS\n  Nom d'utilisateur :  alice.new\n",
				"\nCourrier sortant (SMTP)\n  Serveur :            smtp.new.example\n  Port :               10587\n  Sécurité :           STARTTLS\n",
				"navigateur web :\nhttps://webmail.new.example/\n",
				"Votre nom d'utilisateur sur l'ancien serveur était alice.old ;\nsur le nouveau, c'est alice.new.\n",
				"Cordialement,\nAcme Mail Team\n",
			},
		},
		{
			name: "EnglishMinimal", data: minimal,
			wantSubject: "Your mailbox bob@new.example is moving to a new server",
			want: []string{
				"Hello,\n\nWe are moving your mailbox bob@new.example",
				"marks: you have nothing to do for that.\n\nTo read and send",
				"  Port:       143\n  Security:   STARTTLS\n  User name:  bob@new.example\n\nUntil the move",
				"Regards,\nYour mail administrators\n",
			},
			notWant: []string{"Outgoing", "web browser", "old server was", "\n\n\n"},
		},
		{
			name: "FrenchVariantMinimal", lang: "fr-CA", data: minimal,
			wantSubject: "Votre boîte aux lettres bob@new.example change de serveur",
			want:        []string{"Nous déplaçons votre boîte", "  Port :               143\n", "Cordialement,\nVos administrateurs de messagerie\n"},
			notWant:     []string{"Courrier sortant", "navigateur", "ancien serveur était", "\n\n\n"},
		},
		{
			name: "DefaultPorts", lang: "fr_FR", data: noneSMTP,
			wantSubject: "Votre boîte aux lettres bob@new.example change de serveur",
			want:        []string{"Courrier sortant (SMTP)\n  Serveur :            relay.new.example\n  Port :               25\n  Sécurité :           Aucune\n"},
		},
		{
			name: "Custom", lang: "fr",
			custom: "Subject: Bienvenue {{.Address}}\r\n\r\n\r\nIMAP {{.IMAP.Host}}:{{.IMAP.Port}} ({{security .IMAP.Security}})\n" +
				"{{with .SMTP}}SMTP {{.Host}}\n{{end}}\n\n\n{{.Message}}\n",
			data:        notify.WelcomeData{Address: "eve@new.example", IMAP: notify.Server{Host: "imap.new.example", Security: "none"}, Message: "À bientôt."},
			wantSubject: "Bienvenue eve@new.example",
			want:        []string{"IMAP imap.new.example:143 (Aucune)\n\nÀ bientôt.\n"},
			notWant:     []string{"SMTP", "Bonjour"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l, err := notify.Render(tt.lang, tt.custom, tt.data)
			if err != nil {
				t.Fatalf("Render(%q): %v", tt.lang, err)
			}
			if l.Subject != tt.wantSubject {
				t.Errorf("Render(%q) subject = %q; want %q", tt.lang, l.Subject, tt.wantSubject)
			}
			rest := l.Body
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("Render(%q) body lacks %q (after the previous ones):\n%s", tt.lang, w, l.Body)
				}
				rest = rest[i+len(w):]
			}
			for _, w := range tt.notWant {
				if strings.Contains(l.Body, w) {
					t.Errorf("Render(%q) body has %q:\n%s", tt.lang, w, l.Body)
				}
			}
			if strings.HasPrefix(l.Body, "\n") || strings.Contains(l.Body, "<no value>") {
				t.Errorf("Render(%q) body starts blank or has <no value>:\n%s", tt.lang, l.Body)
			}
		})
	}
}

// TestDefaultTemplatesUseEveryField checks that each default letter shows
// every value it is given.
func TestDefaultTemplatesUseEveryField(t *testing.T) {
	t.Parallel()
	d := fullData()
	for _, lang := range notify.Languages {
		l, err := notify.Render(lang, "", d)
		if err != nil {
			t.Fatalf("Render(%q): %v", lang, err)
		}
		for _, v := range []string{d.Organization, d.Address, d.SourceUser, d.DestinationUser, d.IMAP.Host, "10993",
			d.SMTP.Host, "10587", d.WebmailURL, d.Message} {
			if !strings.Contains(l.Subject+"\n"+l.Body, v) {
				t.Errorf("Render(%q) does not show %q", lang, v)
			}
		}
	}
}

func TestRenderErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, lang, custom string
		data               notify.WelcomeData
		want               []string
	}{
		{name: "UnknownLanguage", lang: "de", want: []string{`no welcome letter in "de"; there is one in en, fr`}},
		{name: "Syntax", custom: "Subject: x\n\nHello {{.Address}}\n{{if .Message}}\n", want: []string{"welcome letter: template: custom:", "unexpected EOF"}},
		{name: "SyntaxLine", custom: "Subject: x\n\nline 3\n{{.Address}\n", want: []string{"template: custom:4:", "bad character U+007D '}'"}},
		{name: "UnknownField", custom: "Subject: x\n\nHello {{.Adress}}\n", want: []string{"template: custom:3:", "Adress"}},
		{name: "UnknownFunction", custom: "Subject: x\n{{upper .Address}}\n", want: []string{"template: custom:2:", `function "upper" not defined`}},
		{name: "NilSMTP", custom: "Subject: x\n\n{{.SMTP.Host}}\n", want: []string{"template: custom:3:", "nil pointer evaluating *notify.Server.Host"}},
		{name: "NoSubjectLine", custom: "Hello {{.Address}}\n", want: []string{"template: custom:1: the first line must be the subject"}},
		{name: "EmptySubject", custom: "Subject: {{.Organization}}\n\nHello\n", want: []string{"the subject is empty"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := notify.Render(tt.lang, tt.custom, notify.WelcomeData{Address: "a@new.example"})
			if err == nil {
				t.Fatalf("Render(%q, %q) succeeded", tt.lang, tt.custom)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Render(%q, %q) error %q does not contain %q", tt.lang, tt.custom, err, w)
				}
			}
		})
	}
}

func TestDefaultTemplate(t *testing.T) {
	t.Parallel()
	for _, lang := range []string{"", "en", "EN-gb", "fr"} {
		text, err := notify.DefaultTemplate(lang)
		if err != nil || !strings.HasPrefix(text, "Subject: ") || !strings.Contains(text, "{{.IMAP.Host}}") {
			t.Errorf("DefaultTemplate(%q) = %.40q..., %v; want a template starting with its subject", lang, text, err)
		}
	}
	// A default template used as a custom one gives the same letter.
	fr, _ := notify.DefaultTemplate("fr")
	a, errA := notify.Render("fr", fr, fullData())
	b, errB := notify.Render("fr", "", fullData())
	if errA != nil || errB != nil || a != b {
		t.Errorf("Render with the French default as custom = %v, %v; want %v, %v", a, errA, b, errB)
	}
}
