package testserver

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
)

// Message is one generated mail and where it belongs.
type Message struct {
	// Folder is the display path with "/" separators, e.g. "INBOX",
	// "Archive/2019" or "Entwürfe"; Seed maps it to the server's names.
	Folder string
	// Raw is the RFC 5322 message with CRLF line endings.
	Raw []byte
	// Flags are system flags and keywords, e.g. \Seen, $Forwarded.
	Flags []imap.Flag
	// Date is the INTERNALDATE, in whole seconds (UTC).
	Date time.Time
}

// CorpusOptions controls Corpus. The same options give the same corpus.
type CorpusOptions struct {
	// Seed selects the corpus.
	Seed int64
	// Messages is the number of messages. Zero gives none.
	Messages int
	// Folders are display paths. The first len(Folders) messages go one to
	// each folder in order, so every folder gets mail; the rest are spread
	// at random. Defaults to ["INBOX"].
	Folders []string
	// MinSize and MaxSize bound the size of ordinary messages in bytes; the
	// result lands within a few hundred bytes of a size drawn between them,
	// but never below what the message's structure needs (about 500 bytes
	// for plain text, 2 KB with attachments).
	// Default to 1000 and 20000.
	MinSize, MaxSize int
	// BigEvery makes every Nth message (the Nth, 2Nth, …) a 1-3 MB message
	// with a large base64 attachment, for size limits and slow transfers.
	// Zero means none.
	BigEvery int
}

// NoMessageIDIndex is the index of the one corpus message that has no
// Message-ID header (when the corpus is that long). Real mailboxes hold such
// messages (drafts, some mailing software), so identity must not rely on
// Message-ID alone (RELIABILITY #27). Every other Message-ID is unique.
const NoMessageIDIndex = 3

// flagCycle assigns flags by message index rather than at random, so that
// even a ten-message corpus holds every system flag and keyword the sync
// must preserve, including \Deleted (which a copy must keep, not expunge).
var flagCycle = [][]imap.Flag{
	{imap.FlagSeen},
	{imap.FlagSeen, imap.FlagAnswered},
	{},
	{imap.FlagSeen, imap.FlagFlagged, "$label1"},
	{imap.FlagSeen, "$Forwarded"},
	{imap.FlagSeen, imap.FlagDeleted},
	{imap.FlagDraft},
	{imap.FlagSeen, "Important"},
	{imap.FlagSeen, imap.FlagAnswered, imap.FlagFlagged},
	{imap.FlagSeen},
}

var people = []mail.Address{
	{Name: "Alice Example", Address: "alice@example.com"},
	{Name: "Bob O'Neil", Address: "bob@example.org"},
	{Name: "Dr. Carol Smith", Address: "carol.smith@example.net"},
	{Name: "Jürgen Müller", Address: "juergen.mueller@example.de"},
	{Name: "Zoë Durand", Address: "zoe.durand@example.fr"},
	{Name: "山田 太郎", Address: "yamada@example.jp"},
	{Name: "Ольга Иванова", Address: "olga@example.ru"},
	{Name: "", Address: "noreply@billing.example.com"},
	{Name: "Team \"Ops\"", Address: "ops@example.com"},
	{Name: "François Lefèvre", Address: "f.lefevre@example.fr"},
}

var subjects = []string{
	"Quarterly report",
	"Meeting notes",
	"Invoice",
	"Photos from the trip",
	"Your order has shipped",
	"Grüße aus München",
	"Réunion de l'équipe à 14 h",
	"会議の議事録",
	"Ещё один отчёт",
	"Release party 🎉",
	"Budget 2020: final numbers",
	"A very long subject line that goes on and on to make sure header folding is exercised by the corpus",
}

var words = strings.Fields(`the of and to in is that for it as was with be by on not he this are or
his from at which but have an they you were her she there been one all we their has would when
if so no out up into do time only could new them now some two may then first any like
über straße naïve café déjà vu smörgåsbord 東京 привет ελληνικά`)

var attachments = []struct{ name, typ string }{
	{"report.pdf", "application/pdf"},
	{"photo.jpg", "image/jpeg"},
	{"Präsentation.pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation"},
	{"data.csv", "text/csv"},
	{"archive.zip", "application/zip"},
}

var zones = []*time.Location{
	time.UTC,
	time.FixedZone("", 1*3600),
	time.FixedZone("", 2*3600),
	time.FixedZone("", -5*3600),
	time.FixedZone("", -8*3600),
	time.FixedZone("", 9*3600),
	time.FixedZone("", 5*3600+1800),
}

// Corpus generates deterministic, realistic mail: RFC 2047 encoded names
// and subjects, 8bit and quoted-printable UTF-8 bodies, multipart/alternative
// and multipart/mixed with base64 attachments, dates from 2009 to 2024 in
// ascending order (so UID order follows date order, as in a real mailbox).
// Message i carries flagCycle[i%10]; see also NoMessageIDIndex.
func Corpus(opt CorpusOptions) []Message {
	if opt.Messages <= 0 {
		return nil
	}
	folders := opt.Folders
	if len(folders) == 0 {
		folders = []string{"INBOX"}
	}
	if opt.MinSize <= 0 {
		opt.MinSize = 1000
	}
	if opt.MaxSize <= 0 {
		opt.MaxSize = 20000
	}
	if opt.MaxSize < opt.MinSize {
		opt.MaxSize = opt.MinSize
	}
	rng := rand.New(rand.NewPCG(uint64(opt.Seed), 0x636f72707573))

	start := time.Date(2009, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	end := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	dates := make([]int64, opt.Messages)
	for i := range dates {
		dates[i] = start + rng.Int64N(end-start)
	}
	slices.Sort(dates)

	msgs := make([]Message, opt.Messages)
	for i := range msgs {
		folder := folders[i%len(folders)]
		if i >= len(folders) {
			folder = folders[rng.IntN(len(folders))]
		}
		sent := time.Unix(dates[i], 0).In(zones[rng.IntN(len(zones))])
		g := &generator{rng: rng, seed: opt.Seed, index: i, sent: sent}
		size := opt.MinSize + rng.IntN(opt.MaxSize-opt.MinSize+1)
		big := opt.BigEvery > 0 && (i+1)%opt.BigEvery == 0
		if big {
			size = 1<<20 + rng.IntN(2<<20)
		}
		msgs[i] = Message{
			Folder: folder,
			Raw:    g.message(size, big),
			Flags:  slices.Clone(flagCycle[i%len(flagCycle)]),
			// Delivery happens a little after the Date header.
			Date: time.Unix(dates[i]+int64(5+rng.IntN(600)), 0).UTC(),
		}
	}
	return msgs
}

// generator builds one message.
type generator struct {
	rng   *rand.Rand
	seed  int64
	index int
	sent  time.Time
	buf   bytes.Buffer
}

func (g *generator) line(format string, args ...any) {
	fmt.Fprintf(&g.buf, format, args...)
	g.buf.WriteString("\r\n")
}

func (g *generator) message(size int, big bool) []byte {
	rng := g.rng
	from := people[rng.IntN(len(people))]
	to := people[rng.IntN(len(people))]
	subject := subjects[rng.IntN(len(subjects))]
	reply := rng.IntN(4) == 0
	if reply {
		subject = "Re: " + subject
	}
	subject = fmt.Sprintf("%s #%d", subject, g.index)

	g.line("Received: from mail.example.net (mail.example.net [192.0.2.%d])", 1+rng.IntN(250))
	g.line("\tby mx.example.com with ESMTPS id %08X; %s", rng.Uint32(), g.sent.Format(time.RFC1123Z))
	g.line("Date: %s", g.sent.Format(time.RFC1123Z))
	g.line("%s", fold("From: "+from.String()))
	g.line("%s", fold("To: "+to.String()))
	if rng.IntN(3) == 0 {
		g.line("%s", fold("Cc: "+people[rng.IntN(len(people))].String()))
	}
	g.line("%s", fold("Subject: "+encodeHeader(subject, rng.IntN(2) == 0)))
	if g.index != NoMessageIDIndex {
		g.line("Message-ID: %s", g.messageID(g.index))
	}
	if reply && g.index > 0 {
		parent := g.messageID(rng.IntN(g.index))
		g.line("In-Reply-To: %s", parent)
		g.line("References: %s", parent)
	}
	if rng.IntN(2) == 0 {
		g.line("X-Mailer: imapmigrate corpus 1.0")
	}
	g.line("MIME-Version: 1.0")

	kind := rng.IntN(3)
	if big {
		kind = 2
	}
	boundary := fmt.Sprintf("=_corpus_%d_%08x", g.index, rng.Uint32())
	switch kind {
	case 0: // text/plain, the headers end in writeText
		g.writeText(size - g.buf.Len())
	case 1:
		g.line("Content-Type: multipart/alternative; boundary=%q", boundary)
		g.line("")
		g.line("This is a multi-part message in MIME format.")
		budget := size - g.buf.Len()
		g.line("--%s", boundary)
		g.writeText(budget / 3)
		g.line("--%s", boundary)
		g.writeHTML(size - g.buf.Len() - len(boundary) - 8)
		g.line("--%s--", boundary)
	default:
		g.line("Content-Type: multipart/mixed; boundary=%q", boundary)
		g.line("")
		g.line("--%s", boundary)
		g.writeText(300 + rng.IntN(1500))
		n := 1 + rng.IntN(2)
		for a := 0; a < n; a++ {
			g.line("--%s", boundary)
			remaining := size - g.buf.Len() - len(boundary) - 8
			g.writeAttachment(remaining / (n - a))
		}
		g.line("--%s--", boundary)
	}
	return bytes.Clone(g.buf.Bytes())
}

func (g *generator) messageID(i int) string {
	// The index makes it unique; the random part makes it look real.
	return fmt.Sprintf("<%d.%d.%08x@corpus.imapmigrate.test>", g.seed, i, uint32(i)*2654435761)
}

// encodeHeader applies RFC 2047 to non-ASCII text, alternating B and Q
// encodings because servers and parsers have met bugs in each.
func encodeHeader(s string, b bool) string {
	if b {
		return mime.BEncoding.Encode("UTF-8", s)
	}
	return mime.QEncoding.Encode("UTF-8", s)
}

// fold folds a header field at spaces to lines of at most 78 characters
// (RFC 5322 section 2.2.3). Go's RFC 2047 encoder splits long text into
// several encoded words separated by spaces, so those fold too.
func fold(field string) string {
	var b strings.Builder
	lineLen := 0
	for i, w := range strings.Split(field, " ") {
		if i > 0 {
			if lineLen+1+len(w) > 78 {
				b.WriteString("\r\n")
				lineLen = 0
			}
			b.WriteByte(' ')
			lineLen++
		}
		b.WriteString(w)
		lineLen += len(w)
	}
	return b.String()
}

// paragraphs returns wrapped text of at least n bytes, lines joined by CRLF.
func (g *generator) paragraphs(n int) string {
	var b strings.Builder
	lineLen := 0
	for b.Len() < n {
		w := words[g.rng.IntN(len(words))]
		if lineLen > 0 && lineLen+1+len(w) > 72 {
			b.WriteString("\r\n")
			lineLen = 0
			if g.rng.IntN(6) == 0 {
				b.WriteString("\r\n")
			}
		} else if lineLen > 0 {
			b.WriteByte(' ')
			lineLen++
		}
		b.WriteString(w)
		lineLen += len(w)
	}
	b.WriteString("\r\n")
	return b.String()
}

// writeText writes the Content-Type header of a text/plain part and a body
// of about n bytes (headers included).
func (g *generator) writeText(n int) {
	n = max(n-100, 40)
	if g.rng.IntN(2) == 0 {
		g.line("Content-Type: text/plain; charset=utf-8")
		g.line("Content-Transfer-Encoding: 8bit")
		g.line("")
		g.buf.WriteString(g.paragraphs(n))
		return
	}
	g.line("Content-Type: text/plain; charset=utf-8")
	g.line("Content-Transfer-Encoding: quoted-printable")
	g.line("")
	g.buf.Write(g.quotedPrintable(n, func(n int) string { return g.paragraphs(n) }))
}

func (g *generator) writeHTML(n int) {
	g.line("Content-Type: text/html; charset=utf-8")
	g.line("Content-Transfer-Encoding: quoted-printable")
	g.line("")
	g.buf.Write(g.quotedPrintable(max(n-80, 40), func(n int) string {
		text := g.paragraphs(n)
		return "<html><body>\r\n<p>" + strings.ReplaceAll(text, "\r\n\r\n", "</p>\r\n<p>") + "</p>\r\n</body></html>\r\n"
	}))
}

// quotedPrintable encodes text(n) with CRLF line ends (the encoder turns
// each "\r\n" into a hard line break). Encoding inflates UTF-8 by an amount
// known only afterwards, so an encoding that came out too long is redone
// once from shorter text.
func (g *generator) quotedPrintable(n int, text func(n int) string) []byte {
	encode := func(s string) []byte {
		var b bytes.Buffer
		w := quotedprintable.NewWriter(&b)
		w.Write([]byte(s))
		w.Close()
		return b.Bytes()
	}
	enc := encode(text(n))
	if len(enc) > n+100 {
		enc = encode(text(n * n / len(enc)))
	}
	return enc
}

// writeAttachment writes a base64 attachment part of about n bytes.
func (g *generator) writeAttachment(n int) {
	a := attachments[g.rng.IntN(len(attachments))]
	if isASCII(a.name) {
		g.line("Content-Type: %s; name=%q", a.typ, a.name)
		g.line("Content-Disposition: attachment; filename=%q", a.name)
	} else {
		// RFC 2231 for the filename, and RFC 2047 in name= for old readers.
		g.line("Content-Type: %s; name=\"%s\"", a.typ, mime.BEncoding.Encode("UTF-8", a.name))
		g.line("Content-Disposition: attachment; filename*=utf-8''%s", url.PathEscape(a.name))
	}
	g.line("Content-Transfer-Encoding: base64")
	g.line("")
	// 57 raw bytes make one 76-character line plus CRLF: 78 bytes.
	raw := make([]byte, max((n-200)*57/78, 16))
	for i := range raw {
		raw[i] = byte(g.rng.Uint32())
	}
	enc := base64.StdEncoding.EncodeToString(raw)
	for len(enc) > 76 {
		g.line("%s", enc[:76])
		enc = enc[76:]
	}
	g.line("%s", enc)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
