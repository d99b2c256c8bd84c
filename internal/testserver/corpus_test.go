package testserver

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"reflect"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
)

func TestCorpusIsDeterministic(t *testing.T) {
	opt := CorpusOptions{Seed: 7, Messages: 30, Folders: []string{"INBOX", "Sent"}, BigEvery: 15}
	a, b := Corpus(opt), Corpus(opt)
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("Corpus(%+v) differs between two calls", opt)
	}
	opt.Seed = 8
	if c := Corpus(opt); reflect.DeepEqual(a, c) {
		t.Fatalf("Corpus with seeds 7 and 8 are equal")
	}
}

func TestCorpusIsWellFormed(t *testing.T) {
	folders := []string{"INBOX", "Archive/2019", "Entwürfe", "Sent"}
	opt := CorpusOptions{Seed: 42, Messages: 40, Folders: folders, MinSize: 2000, MaxSize: 30000, BigEvery: 20}
	msgs := Corpus(opt)
	if len(msgs) != opt.Messages {
		t.Fatalf("Corpus gave %d messages; want %d", len(msgs), opt.Messages)
	}
	ids := map[string]int{}
	flags := map[imap.Flag]bool{}
	inFolder := map[string]int{}
	decoder := new(mime.WordDecoder)
	for i, m := range msgs {
		inFolder[m.Folder]++
		for _, f := range m.Flags {
			flags[f] = true
		}
		if bytes.Contains(bytes.ReplaceAll(m.Raw, []byte("\r\n"), nil), []byte("\n")) ||
			bytes.Contains(bytes.ReplaceAll(m.Raw, []byte("\r\n"), nil), []byte("\r")) {
			t.Errorf("message %d: bare CR or LF", i)
		}
		if !bytes.HasSuffix(m.Raw, []byte("\r\n")) {
			t.Errorf("message %d: does not end with CRLF", i)
		}
		for n, line := range bytes.Split(m.Raw, []byte("\r\n")) {
			if len(line) > 998 {
				t.Errorf("message %d line %d: %d bytes, over RFC 5322's 998", i, n+1, len(line))
			}
		}
		if m.Date.Nanosecond() != 0 {
			t.Errorf("message %d: date %v has fractions of a second", i, m.Date)
		}
		if i > 0 && m.Date.Before(msgs[i-1].Date.Add(-10*60*1e9)) {
			t.Errorf("message %d: date %v well before message %d's %v", i, m.Date, i-1, msgs[i-1].Date)
		}
		big := (i+1)%opt.BigEvery == 0
		switch size := len(m.Raw); {
		case big && (size < 1<<20 || size > 3<<20+4096):
			t.Errorf("big message %d: %d bytes; want 1-3 MB", i, size)
		case !big && (size < opt.MinSize-200 || size > opt.MaxSize+1000):
			t.Errorf("message %d: %d bytes; want about %d-%d", i, size, opt.MinSize, opt.MaxSize)
		}

		parsed, err := mail.ReadMessage(bytes.NewReader(m.Raw))
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if _, err := parsed.Header.Date(); err != nil {
			t.Errorf("message %d: Date: %v", i, err)
		}
		if _, err := decoder.DecodeHeader(parsed.Header.Get("Subject")); err != nil {
			t.Errorf("message %d: Subject: %v", i, err)
		}
		id := parsed.Header.Get("Message-ID")
		if (id == "") != (i == NoMessageIDIndex) {
			t.Errorf("message %d: Message-ID %q; want one on every message but %d", i, id, NoMessageIDIndex)
		}
		if id != "" {
			if j, dup := ids[id]; dup {
				t.Errorf("messages %d and %d share Message-ID %s", j, i, id)
			}
			ids[id] = i
		}
		if err := walkMIME(parsed.Header.Get("Content-Type"), parsed.Header.Get("Content-Transfer-Encoding"), parsed.Body); err != nil {
			t.Errorf("message %d: %v", i, err)
		}
	}
	for _, f := range folders {
		if inFolder[f] == 0 {
			t.Errorf("folder %q got no messages", f)
		}
	}
	for _, f := range []imap.Flag{imap.FlagSeen, imap.FlagAnswered, imap.FlagFlagged, imap.FlagDeleted, imap.FlagDraft, "$Forwarded", "$label1", "Important"} {
		if !flags[f] {
			t.Errorf("no message has flag %s", f)
		}
	}
}

// walkMIME checks that every part parses and decodes.
func walkMIME(contentType, encoding string, body io.Reader) error {
	mediaType, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return fmt.Errorf("content type %q: %w", contentType, err)
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		r := multipart.NewReader(body, params["boundary"])
		parts := 0
		for {
			p, err := r.NextRawPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				return fmt.Errorf("%s part %d: %w", mediaType, parts+1, err)
			}
			parts++
			if err := walkMIME(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p); err != nil {
				return err
			}
		}
		if parts < 2 {
			return fmt.Errorf("%s with %d parts", mediaType, parts)
		}
		return nil
	}
	var dec io.Reader = body
	switch strings.ToLower(encoding) {
	case "base64":
		dec = base64LineReader(body)
	case "quoted-printable":
		dec = qpReader(body)
	}
	if _, err := io.Copy(io.Discard, dec); err != nil {
		return fmt.Errorf("%s (%s): %w", mediaType, encoding, err)
	}
	return nil
}

func ExampleCorpus() {
	for _, m := range Corpus(CorpusOptions{Seed: 1, Messages: 4, Folders: []string{"INBOX", "Archive/2019"}}) {
		msg, _ := mail.ReadMessage(bytes.NewReader(m.Raw))
		fmt.Println(m.Folder, m.Flags, m.Date.Year(), msg.Header.Get("Message-ID") != "")
	}
	// Output:
	// INBOX [\Seen] 2016 true
	// Archive/2019 [\Seen \Answered] 2017 true
	// Archive/2019 [] 2019 true
	// INBOX [\Seen \Flagged $label1] 2019 false
}

func base64LineReader(r io.Reader) io.Reader {
	return base64.NewDecoder(base64.StdEncoding, r) // skips CR and LF itself
}

func qpReader(r io.Reader) io.Reader { return quotedprintable.NewReader(r) }
