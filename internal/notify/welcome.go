package notify

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"text/template"
)

// The default welcome letters, one file per language: welcome.<lang>.txt.
//
//go:embed templates/welcome.*.txt
var defaultTemplates embed.FS

// Languages are the languages of the default welcome letter.
var Languages = []string{"en", "fr"}

// WelcomeData is what a welcome letter template can use, as {{.Address}},
// {{.IMAP.Host}}, {{with .SMTP}}{{.Port}}{{end}} and so on. A template that
// names any other field fails to render.
type WelcomeData struct {
	// Organization is who sends the letter ("Example Corp IT"); empty in
	// the defaults means a neutral wording.
	Organization string
	// Address is the user's e-mail address, as the user knows it (the
	// CSV's EmailAddress); the letter is sent there.
	Address string
	// SourceUser is the login at the old server (the CSV's UserName).
	SourceUser string
	// DestinationUser is the login at the new server. Empty means Address,
	// as in the batch CSV.
	DestinationUser string
	// IMAP is the new server for reading mail.
	IMAP Server
	// SMTP is the new server for sending mail; nil leaves it out.
	SMTP *Server
	// WebmailURL is the address of the new webmail; empty leaves it out.
	WebmailURL string
	// Message is the admin's own words, as a paragraph of its own in the
	// defaults (for example how to get the new password).
	Message string
}

// Server is a mail server's settings as a user types them into a mail
// program.
type Server struct {
	Host string
	// Port 0 means the usual port for Security: 993 for tls, else 143 for IMAP; 465,
	// 587 or 25 for SMTP.
	Port int
	// Security is "tls", "starttls" or "none"; the template function
	// security prints it as mail programs label it ("SSL/TLS").
	Security string
}

// Letter is a rendered welcome letter.
type Letter struct {
	Subject string
	Body    string
}

// securityLabels are the names mail programs (Thunderbird, Outlook, Apple
// Mail) show for each setting, per language.
var securityLabels = map[string]map[string]string{
	"en": {"tls": "SSL/TLS", "starttls": "STARTTLS", "none": "None"},
	"fr": {"tls": "SSL/TLS", "starttls": "STARTTLS", "none": "Aucune"},
}

// DefaultTemplate returns the default welcome letter of lang ("en", "fr";
// "fr-CA" and "fr_FR" count as "fr"; "" is "en"), to show or to start a
// custom template from.
func DefaultTemplate(lang string) (string, error) {
	lang, err := language(lang)
	if err != nil {
		return "", err
	}
	b, err := defaultTemplates.ReadFile("templates/welcome." + lang + ".txt")
	if err != nil {
		return "", fmt.Errorf("welcome letter in %s: %w", lang, err)
	}
	return string(b), nil
}

func language(lang string) (string, error) {
	if lang == "" {
		return "en", nil
	}
	base, _, _ := strings.Cut(strings.ToLower(lang), "-")
	base, _, _ = strings.Cut(base, "_")
	if !slices.Contains(Languages, base) {
		return "", fmt.Errorf("no welcome letter in %q; there is one in %s", lang, strings.Join(Languages, ", "))
	}
	return base, nil
}

// blankLines matches two or more blank lines in a row.
var blankLines = regexp.MustCompile(`\n{3,}`)

// Render writes the welcome letter for data from the default template of
// lang, or from custom when it is not empty (lang then only picks the
// words of the security function).
//
// A template is Go text/template text whose first line is the subject,
// "Subject: ..." (the subject can use fields too); the body follows. The
// body's leading blank lines are dropped and blank lines in a row become
// one, so that optional sections ({{with .SMTP}}...{{end}}) need no care
// with white space. The function security turns "tls", "starttls" and
// "none" into the labels mail programs show. Errors name the line of the
// template: a syntax error, an unknown field (.Adress), a missing subject
// line.
func Render(lang, custom string, data WelcomeData) (Letter, error) {
	lang, err := language(lang)
	if err != nil {
		return Letter{}, err
	}
	name, text := "custom", custom
	if custom == "" {
		name = "welcome." + lang + ".txt"
		if text, err = DefaultTemplate(lang); err != nil {
			return Letter{}, err
		}
	}
	labels := securityLabels[lang]
	t, err := template.New(name).
		Option("missingkey=error").
		Funcs(template.FuncMap{"security": func(s string) string {
			if l, ok := labels[s]; ok {
				return l
			}
			return s
		}}).
		Parse(text)
	if err != nil {
		return Letter{}, fmt.Errorf("welcome letter: %w", err)
	}

	if data.DestinationUser == "" {
		data.DestinationUser = data.Address
	}
	data.IMAP = withPort(data.IMAP, map[string]int{"tls": 993}, 143)
	if data.SMTP != nil {
		s := withPort(*data.SMTP, map[string]int{"tls": 465, "none": 25}, 587)
		data.SMTP = &s
	}

	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return Letter{}, fmt.Errorf("welcome letter: %w", err)
	}
	first, body, _ := strings.Cut(strings.ReplaceAll(b.String(), "\r\n", "\n"), "\n")
	subject, ok := strings.CutPrefix(first, "Subject:")
	if !ok {
		return Letter{}, fmt.Errorf("welcome letter: template: %s:1: the first line must be the subject, \"Subject: ...\"", name)
	}
	if subject = clean(subject); subject == "" {
		return Letter{}, errors.New("welcome letter: the subject is empty")
	}
	body = blankLines.ReplaceAllString(strings.TrimLeft(body, "\n"), "\n\n")
	return Letter{Subject: subject, Body: body}, nil
}

// withPort gives s its usual port when it has none: ports[Security], else
// otherwise.
func withPort(s Server, ports map[string]int, otherwise int) Server {
	if s.Port != 0 {
		return s
	}
	if p, ok := ports[s.Security]; ok {
		s.Port = p
	} else {
		s.Port = otherwise
	}
	return s
}
