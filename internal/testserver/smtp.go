package testserver

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// SMTP is go-smtp's server on a free 127.0.0.1 port, as a submission
// server the service sends through: no TLS and no AUTH (security "none",
// no username), storing every message it takes. A test can make it refuse
// recipients, and hold senders at MAIL FROM to catch a send half-way.
type SMTP struct {
	// Host and Port are where it listens: config.SMTP's host and port.
	Host string
	Port int

	srv      *smtp.Server
	mu       sync.Mutex
	messages []SMTPMessage
	refuse   map[string]bool
	hold     chan struct{} // non-nil while senders are held
	waiting  int
	queued   int
}

// SMTPMessage is one message the server took: the envelope and the data.
type SMTPMessage struct {
	From string
	To   []string
	Data []byte
	// Response is what the server answered to the data, after the code
	// 250: "2.0.0 OK: queued as T0001".
	Response string
}

// StartSMTP starts a server for the test and stops it when the test ends.
func StartSMTP(tb testing.TB) *SMTP {
	tb.Helper()
	s := &SMTP{Host: "127.0.0.1", refuse: map[string]bool{}}
	s.srv = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &smtpSession{srv: s}, nil }))
	s.srv.Domain = "localhost"
	s.srv.ErrorLog = log.New(io.Discard, "", 0)
	s.srv.ReadTimeout = 30 * time.Second
	s.srv.WriteTimeout = 30 * time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s.Port = ln.Addr().(*net.TCPAddr).Port
	go s.srv.Serve(ln)
	tb.Cleanup(func() {
		s.Release()
		s.srv.Close()
	})
	return s
}

// Messages returns what the server has taken so far, in order.
func (s *SMTP) Messages() []SMTPMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]SMTPMessage(nil), s.messages...)
}

// WaitMessages waits until the server has taken at least n messages and
// returns them all; the test fails after timeout.
func (s *SMTP) WaitMessages(tb testing.TB, n int, timeout time.Duration) []SMTPMessage {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		msgs := s.Messages()
		if len(msgs) >= n {
			return msgs
		}
		if time.Now().After(deadline) {
			tb.Fatalf("SMTP server took %d message(s) in %v; want %d", len(msgs), timeout, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Refuse makes the server answer RCPT TO:<addr> with 550 5.1.1, as for a
// mailbox that does not exist.
func (s *SMTP) Refuse(addr string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refuse[strings.ToLower(addr)] = true
}

// Hold makes every MAIL FROM wait until Release: a sender is then caught
// after it connected and before the server took anything.
func (s *SMTP) Hold() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hold == nil {
		s.hold = make(chan struct{})
	}
}

// Release lets held senders go on, and new ones through.
func (s *SMTP) Release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hold != nil {
		close(s.hold)
		s.hold = nil
	}
}

// Waiting is how many senders are held at MAIL FROM now.
func (s *SMTP) Waiting() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.waiting
}

type smtpSession struct {
	srv *SMTP
	msg SMTPMessage
}

func (c *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	c.srv.mu.Lock()
	hold := c.srv.hold
	if hold != nil {
		c.srv.waiting++
	}
	c.srv.mu.Unlock()
	if hold != nil {
		<-hold
		c.srv.mu.Lock()
		c.srv.waiting--
		c.srv.mu.Unlock()
	}
	c.msg = SMTPMessage{From: from}
	return nil
}

func (c *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	c.srv.mu.Lock()
	refused := c.srv.refuse[strings.ToLower(to)]
	c.srv.mu.Unlock()
	if refused {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user here"}
	}
	c.msg.To = append(c.msg.To, to)
	return nil
}

func (c *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	c.srv.mu.Lock()
	defer c.srv.mu.Unlock()
	c.srv.queued++
	c.msg.Data = b
	// go-smtp answers "250 2.0.0 OK: queued" to a nil error; a real server
	// adds its queue ID, which is what the service records. A 250 "error"
	// is go-smtp's way to say so.
	text := fmt.Sprintf("OK: queued as T%04d", c.srv.queued)
	c.msg.Response = "2.0.0 " + text
	c.srv.messages = append(c.srv.messages, c.msg)
	return &smtp.SMTPError{Code: 250, EnhancedCode: smtp.EnhancedCode{2, 0, 0}, Message: text}
}

func (c *smtpSession) Reset()        { c.msg = SMTPMessage{} }
func (c *smtpSession) Logout() error { return nil }

// ParsedMail is a message as a mail program shows it: the header, the
// text decoded, the attachments by file name.
type ParsedMail struct {
	Header mail.Header
	// Subject is the Subject header decoded (RFC 2047).
	Subject     string
	MessageID   string // without angle brackets
	Text        string // the text/plain body, decoded, with \n line ends
	Attachments map[string][]byte
}

// Parse reads m's data as a MIME message: a text/plain body, or
// multipart/mixed with a text/plain part and attachments in base64.
func (m SMTPMessage) Parse() (*ParsedMail, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		return nil, fmt.Errorf("parse message: %w", err)
	}
	var dec mime.WordDecoder
	subject, err := dec.DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		return nil, fmt.Errorf("parse subject: %w", err)
	}
	p := &ParsedMail{Header: msg.Header, Subject: subject, Attachments: map[string][]byte{},
		MessageID: strings.Trim(msg.Header.Get("Message-ID"), "<>")}
	mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		return nil, fmt.Errorf("parse content type: %w", err)
	}
	if !strings.HasPrefix(mediaType, "multipart/") {
		p.Text, err = decodeText(msg.Body, msg.Header.Get("Content-Transfer-Encoding"))
		return p, err
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		part, err := mr.NextRawPart()
		if errors.Is(err, io.EOF) {
			return p, nil
		}
		if err != nil {
			return nil, fmt.Errorf("parse part: %w", err)
		}
		_, dparams, _ := mime.ParseMediaType(part.Header.Get("Content-Disposition"))
		if name := dparams["filename"]; name != "" {
			b, err := io.ReadAll(base64.NewDecoder(base64.StdEncoding, part))
			if err != nil {
				return nil, fmt.Errorf("parse attachment %s: %w", name, err)
			}
			p.Attachments[name] = b
			continue
		}
		if p.Text, err = decodeText(part, part.Header.Get("Content-Transfer-Encoding")); err != nil {
			return nil, err
		}
	}
}

func decodeText(r io.Reader, encoding string) (string, error) {
	if strings.EqualFold(encoding, "quoted-printable") {
		r = quotedprintable.NewReader(r)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return "", fmt.Errorf("parse text: %w", err)
	}
	return strings.ReplaceAll(string(b), "\r\n", "\n"), nil
}
