package notify_test

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/imapmigrate/imapmigrate/internal/notify"
)

// part is one MIME leaf of a parsed message, its body decoded.
type part struct {
	ContentType string
	Params      map[string]string
	Filename    string
	Body        []byte
}

// parsed is a message as a mail program reads it.
type parsed struct {
	Header mail.Header
	Parts  []part
}

// mustParse reads raw with net/mail and mime/multipart, the way a mail
// program would, after checking that it is fit for SMTP: CRLF line ends
// only, 7-bit, no line over 998 characters.
func mustParse(t *testing.T, raw []byte) parsed {
	t.Helper()
	if bytes.Contains(bytes.ReplaceAll(raw, []byte("\r\n"), nil), []byte("\n")) {
		t.Errorf("message has a bare LF")
	}
	for i, c := range raw {
		if c >= 0x80 {
			t.Fatalf("message has 8-bit byte %#x at %d", c, i)
		}
	}
	for line := range strings.SplitSeq(string(raw), "\r\n") {
		if len(line) > 998 {
			t.Errorf("line of %d characters: %.60q...", len(line), line)
		}
	}
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("mail.ReadMessage: %v", err)
	}
	p := parsed{Header: m.Header}
	ct, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		t.Fatalf("Content-Type %q: %v", m.Header.Get("Content-Type"), err)
	}
	if !strings.HasPrefix(ct, "multipart/") {
		p.Parts = []part{{ContentType: ct, Params: params, Body: mustDecode(t, m.Header.Get("Content-Transfer-Encoding"), m.Body)}}
		return p
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		mp, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("multipart: %v", err)
		}
		ct, params, err := mime.ParseMediaType(mp.Header.Get("Content-Type"))
		if err != nil {
			t.Fatalf("part Content-Type %q: %v", mp.Header.Get("Content-Type"), err)
		}
		pp := part{ContentType: ct, Params: params, Body: mustDecode(t, mp.Header.Get("Content-Transfer-Encoding"), mp)}
		if cd := mp.Header.Get("Content-Disposition"); cd != "" {
			disp, dparams, err := mime.ParseMediaType(cd)
			if err != nil || disp != "attachment" {
				t.Fatalf("Content-Disposition %q: %v", cd, err)
			}
			pp.Filename = dparams["filename"]
		}
		p.Parts = append(p.Parts, pp)
	}
	return p
}

func mustDecode(t *testing.T, cte string, r io.Reader) []byte {
	t.Helper()
	var dec io.Reader
	switch strings.ToLower(cte) {
	case "quoted-printable":
		dec = quotedprintable.NewReader(r)
	case "base64":
		dec = base64.NewDecoder(base64.StdEncoding, r)
	default:
		t.Fatalf("Content-Transfer-Encoding %q; want quoted-printable or base64", cte)
	}
	b, err := io.ReadAll(dec)
	if err != nil {
		t.Fatalf("decode %s: %v", cte, err)
	}
	return b
}

func decodeHeader(t *testing.T, v string) string {
	t.Helper()
	s, err := new(mime.WordDecoder).DecodeHeader(v)
	if err != nil {
		t.Fatalf("DecodeHeader(%q): %v", v, err)
	}
	return s
}

func TestMessageBuild(t *testing.T) {
	t.Parallel()
	csv := []byte("EmailAddress,Status,ItemsSynced\r\nélodie@example.com,Synced,12\r\n\"o'brien@example.com\",Failed,0\r\n")
	date := time.Date(2026, 3, 1, 9, 30, 0, 0, time.FixedZone("CET", 3600))
	longSubject := "Rapport de migration : lot « vague-1 » terminé avec des erreurs pour plusieurs utilisateurs, voir la pièce jointe"
	text := "Première ligne.\n\nA line much longer than seventy-six characters, which quoted-printable must soft-break somewhere.\nlast line with trailing space \n"
	tests := []struct {
		name        string
		msg         notify.Message
		wantParts   []string // content types of the leaves
		wantSubject string
	}{
		{
			name: "Plain",
			msg: notify.Message{
				From: mail.Address{Address: "migration@example.com"}, To: []mail.Address{{Address: "admin@example.com"}},
				Subject: "Batch wave1: initial sync finished", Date: date, Text: text,
			},
			wantParts:   []string{"text/plain"},
			wantSubject: "Batch wave1: initial sync finished",
		},
		{
			name: "NonASCIIHeadersAndAttachment",
			msg: notify.Message{
				From:    mail.Address{Name: "Équipe migration", Address: "migration@example.com"},
				To:      []mail.Address{{Name: "Zoë Admin", Address: "zoe@example.com"}, {Address: "ops@example.com"}},
				Subject: longSubject, Date: date, Text: text,
				Attachments: []notify.Attachment{{Filename: "vague-1 – rapport.csv", ContentType: "text/csv; charset=utf-8", Data: csv}},
			},
			wantParts:   []string{"text/plain", "text/csv"},
			wantSubject: longSubject,
		},
		{
			name: "HeaderInjection",
			msg: notify.Message{
				From: mail.Address{Address: "migration@example.com"}, To: []mail.Address{{Address: "admin@example.com"}},
				Subject: "wave1\r\nBcc: attacker@example.net", Date: date, Text: text,
			},
			wantParts:   []string{"text/plain"},
			wantSubject: "wave1 Bcc: attacker@example.net",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			msg := tt.msg
			raw, err := msg.Build()
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			// Header lines are folded to 78 characters where there is
			// white space to fold at.
			head, _, _ := strings.Cut(string(raw), "\r\n\r\n")
			for line := range strings.SplitSeq(head, "\r\n") {
				if len(line) > 78 && strings.Contains(strings.TrimSpace(line), " ") {
					t.Errorf("header line of %d characters not folded: %q", len(line), line)
				}
			}
			p := mustParse(t, raw)
			h := p.Header

			if got := decodeHeader(t, h.Get("Subject")); got != tt.wantSubject {
				t.Errorf("Subject = %q; want %q", got, tt.wantSubject)
			}
			from, err := h.AddressList("From")
			if err != nil || len(from) != 1 || *from[0] != msg.From {
				t.Errorf("From = %v, %v; want %v", from, err, msg.From)
			}
			to, err := h.AddressList("To")
			if err != nil || len(to) != len(msg.To) {
				t.Fatalf("To = %v, %v; want %v", to, err, msg.To)
			}
			for i := range to {
				if *to[i] != msg.To[i] {
					t.Errorf("To[%d] = %v; want %v", i, to[i], msg.To[i])
				}
			}
			if h.Get("Bcc") != "" {
				t.Errorf("a Bcc header got in: %q", h.Get("Bcc"))
			}
			if d, err := h.Date(); err != nil || !d.Equal(date) {
				t.Errorf("Date = %v, %v; want %v", d, err, date)
			}
			if got, want := h.Get("Message-ID"), "<"+msg.MessageID+">"; got != want || !strings.HasSuffix(msg.MessageID, "@example.com") {
				t.Errorf("Message-ID = %q, Build set MessageID %q; want <...@example.com> and the two the same", got, msg.MessageID)
			}
			if h.Get("MIME-Version") != "1.0" || h.Get("Auto-Submitted") != "auto-generated" {
				t.Errorf("MIME-Version = %q, Auto-Submitted = %q", h.Get("MIME-Version"), h.Get("Auto-Submitted"))
			}

			if len(p.Parts) != len(tt.wantParts) {
				t.Fatalf("%d parts; want %v", len(p.Parts), tt.wantParts)
			}
			for i, want := range tt.wantParts {
				if p.Parts[i].ContentType != want {
					t.Errorf("part %d is %s; want %s", i, p.Parts[i].ContentType, want)
				}
			}
			body := p.Parts[0]
			if body.Params["charset"] != "utf-8" {
				t.Errorf("body charset %q; want utf-8", body.Params["charset"])
			}
			if got, want := string(body.Body), strings.ReplaceAll(msg.Text, "\n", "\r\n"); got != want {
				t.Errorf("body =\n%q\nwant\n%q", got, want)
			}
			for i, a := range msg.Attachments {
				got := p.Parts[i+1]
				if got.Filename != a.Filename || got.Params["name"] != a.Filename {
					t.Errorf("attachment %d filename %q (name %q); want %q", i, got.Filename, got.Params["name"], a.Filename)
				}
				if !bytes.Equal(got.Body, a.Data) {
					t.Errorf("attachment %d bytes =\n%q\nwant\n%q", i, got.Body, a.Data)
				}
			}
		})
	}
}

// TestMessageBuildDefaults checks that Build dates and identifies a
// message that has neither, and gives each message its own Message-ID.
func TestMessageBuildDefaults(t *testing.T) {
	t.Parallel()
	ids := map[string]bool{}
	for range 3 {
		msg := notify.Message{From: mail.Address{Address: "m@example.com"}, To: []mail.Address{{Address: "a@example.com"}}, Text: "x"}
		if _, err := msg.Build(); err != nil {
			t.Fatal(err)
		}
		if msg.Date.IsZero() || ids[msg.MessageID] {
			t.Errorf("Build left Date %v, MessageID %q (seen: %v)", msg.Date, msg.MessageID, ids)
		}
		ids[msg.MessageID] = true
	}
}

func TestMessageBuildErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		msg  notify.Message
		want string
	}{
		{"NoSender", notify.Message{To: []mail.Address{{Address: "a@example.com"}}}, "no sender"},
		{"NoRecipient", notify.Message{From: mail.Address{Address: "m@example.com"}}, "no recipient"},
		{"AttachmentWithoutName", notify.Message{
			From: mail.Address{Address: "m@example.com"}, To: []mail.Address{{Address: "a@example.com"}},
			Attachments: []notify.Attachment{{Data: []byte("x")}},
		}, "no file name"},
		{"BadContentType", notify.Message{
			From: mail.Address{Address: "m@example.com"}, To: []mail.Address{{Address: "a@example.com"}},
			Attachments: []notify.Attachment{{Filename: "r.csv", ContentType: "text/", Data: []byte("x")}},
		}, `attachment "r.csv": content type "text/"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := tt.msg.Build()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Build() error = %v; want one containing %q", err, tt.want)
			}
		})
	}
}
