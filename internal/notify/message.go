package notify

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
	"time"
)

// Message is one mail to build and send.
type Message struct {
	From mail.Address
	// To are the recipients, in the To header and as the envelope
	// recipients. At least one.
	To      []mail.Address
	Subject string
	// Date is when the message was written. Zero means when it is built.
	Date time.Time
	// MessageID is the Message-ID without angle brackets. Empty means a
	// random one at the sender's domain, made when the message is built.
	MessageID string
	// Text is the body, plain UTF-8 text with "\n" or "\r\n" line ends.
	Text        string
	Attachments []Attachment
}

// Attachment is a file attached to a Message.
type Attachment struct {
	// Filename is what the recipient's mail program saves it as. Non-ASCII
	// names are allowed.
	Filename string
	// ContentType is a MIME type such as "text/csv; charset=utf-8".
	// Empty means application/octet-stream.
	ContentType string
	Data        []byte
}

// maxLineLen is where header lines are folded: RFC 5322 section 2.1.1
// asks for lines of at most 78 characters.
const maxLineLen = 78

// Build fills in Date and MessageID when they are empty and returns the
// message's bytes, ready for SMTP DATA: CRLF line ends, 7-bit clean (the
// body is quoted-printable, attachments base64, header text RFC 2047
// encoded words), so that no server on the way has to convert it.
func (m *Message) Build() ([]byte, error) {
	if m.From.Address == "" {
		return nil, errors.New("build message: no sender")
	}
	if len(m.To) == 0 {
		return nil, errors.New("build message: no recipient")
	}
	if m.Date.IsZero() {
		// The Date header has whole seconds; so does what the caller
		// records.
		m.Date = time.Now().Truncate(time.Second)
	}
	if m.MessageID == "" {
		m.MessageID = newMessageID(m.From.Address)
	}
	to := make([]string, len(m.To))
	for i, a := range m.To {
		to[i] = a.String()
	}

	var b bytes.Buffer
	writeHeader(&b, "Date", m.Date.Format(time.RFC1123Z))
	writeHeader(&b, "From", m.From.String())
	writeHeader(&b, "To", strings.Join(to, ", "))
	writeHeader(&b, "Subject", mime.QEncoding.Encode("utf-8", clean(m.Subject)))
	writeHeader(&b, "Message-ID", "<"+m.MessageID+">")
	writeHeader(&b, "MIME-Version", "1.0")
	// Machine-written mail: out-of-office and other automatic replies must
	// not answer it (RFC 3834 section 5).
	writeHeader(&b, "Auto-Submitted", "auto-generated")

	if len(m.Attachments) == 0 {
		writeHeader(&b, "Content-Type", "text/plain; charset=utf-8")
		writeHeader(&b, "Content-Transfer-Encoding", "quoted-printable")
		b.WriteString("\r\n")
		if err := writeText(&b, m.Text); err != nil {
			return nil, fmt.Errorf("build message: %w", err)
		}
		return b.Bytes(), nil
	}

	mw := multipart.NewWriter(&b)
	writeHeader(&b, "Content-Type", mime.FormatMediaType("multipart/mixed", map[string]string{"boundary": mw.Boundary()}))
	b.WriteString("\r\n")
	part, err := mw.CreatePart(textproto.MIMEHeader{
		"Content-Type":              {"text/plain; charset=utf-8"},
		"Content-Transfer-Encoding": {"quoted-printable"},
	})
	if err != nil {
		return nil, fmt.Errorf("build message: %w", err)
	}
	if err := writeText(part, m.Text); err != nil {
		return nil, fmt.Errorf("build message: %w", err)
	}
	for _, a := range m.Attachments {
		if err := writeAttachment(mw, a); err != nil {
			return nil, fmt.Errorf("build message: attachment %q: %w", a.Filename, err)
		}
	}
	if err := mw.Close(); err != nil {
		return nil, fmt.Errorf("build message: %w", err)
	}
	return b.Bytes(), nil
}

// writeHeader writes one header field, folded before a space wherever the
// line would pass maxLineLen, right after the colon if need be (a 75
// character encoded word does not fit after "Subject: "). Folding only
// ever inserts CRLF before white space, so unfolding gives back the value
// exactly; a word longer than a line stays whole (lines may reach 998
// characters).
func writeHeader(b *bytes.Buffer, name, value string) {
	b.WriteString(name)
	b.WriteByte(':')
	n := len(name) + 1
	for word := range strings.SplitSeq(value, " ") {
		// n > 0: a word too long even for a line of its own stays where
		// it is.
		if word != "" && n > 0 && n+1+len(word) > maxLineLen {
			b.WriteString("\r\n")
			n = 0
		}
		b.WriteByte(' ')
		b.WriteString(word)
		n += 1 + len(word)
	}
	b.WriteString("\r\n")
}

// writeText writes s as quoted-printable, which turns every line end
// into CRLF and keeps lines under 76 characters (RFC 2045 section 6.7).
func writeText(w io.Writer, s string) error {
	if s != "" && !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	qp := quotedprintable.NewWriter(w)
	if _, err := qp.Write([]byte(s)); err != nil {
		return err
	}
	return qp.Close()
}

func writeAttachment(mw *multipart.Writer, a Attachment) error {
	if a.Filename == "" {
		return errors.New("no file name")
	}
	ct := a.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	mediaType, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return fmt.Errorf("content type %q: %w", ct, err)
	}
	// The name parameter is for old mail programs that ignore
	// Content-Disposition.
	params["name"] = a.Filename
	part, err := mw.CreatePart(textproto.MIMEHeader{
		"Content-Type":              {mime.FormatMediaType(mediaType, params)},
		"Content-Disposition":       {mime.FormatMediaType("attachment", map[string]string{"filename": a.Filename})},
		"Content-Transfer-Encoding": {"base64"},
	})
	if err != nil {
		return err
	}
	// Base64 in lines of 76 characters (RFC 2045 section 6.8).
	enc := base64.StdEncoding.EncodeToString(a.Data)
	for len(enc) > 76 {
		if _, err := fmt.Fprintf(part, "%s\r\n", enc[:76]); err != nil {
			return err
		}
		enc = enc[76:]
	}
	_, err = fmt.Fprintf(part, "%s\r\n", enc)
	return err
}

// newMessageID returns a unique Message-ID at the sender's domain (RFC
// 5322 section 3.6.4): 26 random base32 characters are 130 bits.
func newMessageID(from string) string {
	domain := "imapmigrate.invalid"
	if i := strings.LastIndexByte(from, '@'); i >= 0 && i < len(from)-1 {
		domain = from[i+1:]
	}
	return rand.Text() + "@" + domain
}
