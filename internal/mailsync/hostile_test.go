package mailsync_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imapmigrate/imapmigrate/internal/mailsync"
	"github.com/imapmigrate/imapmigrate/internal/store"
	"github.com/imapmigrate/imapmigrate/internal/testserver"
)

// hostileMessages are messages that break naive parsers and some servers
// (RELIABILITY §3 rows 21-24). The engine never parses or re-encodes a
// body, so each must arrive byte for byte, or, if a destination refuses
// it, be a skipped item with the server's words.
func hostileMessages() map[string][]byte {
	const from = "From: Bob <bob@example.com>\r\nTo: Alice <alice@example.com>\r\nDate: Mon, 2 Jan 2023 10:00:00 +0100\r\n"
	return map[string][]byte{
		"NUL bytes": []byte(from + "Message-ID: <nul@example.com>\r\nSubject: NUL bytes\r\n\r\nbefore\x00after\r\n\x00\x00\x00\r\n"),
		"8-bit headers": []byte("From: J\xf6rg M\xfcller <jorg@example.com>\r\nTo: Alice <alice@example.com>\r\n" +
			"Date: Mon, 2 Jan 2023 10:00:00 +0100\r\nMessage-ID: <8bit@example.com>\r\nSubject: \xc3\x84rger \xfcber Umlaute\r\n\r\n\xe4\xf6\xfc in Latin-1\r\n"),
		"1 MB line": []byte(from + "Message-ID: <longline@example.com>\r\nSubject: 1 MB line\r\n\r\n" + strings.Repeat("0123456789abcdef", 1<<16) + "\r\n"),
		"Broken boundary": []byte(from + "Message-ID: <boundary@example.com>\r\nSubject: Broken boundary\r\nMIME-Version: 1.0\r\n" +
			"Content-Type: multipart/mixed; boundary=\"declared\"\r\n\r\n--other\r\nContent-Type: text/plain\r\n\r\npart one\r\n--declared\r\n" +
			"Content-Type: text/plain\r\n\r\nunterminated part, no closing delimiter\r\n"),
		"Bad base64": []byte(from + "Message-ID: <b64@example.com>\r\nSubject: Bad base64\r\nMIME-Version: 1.0\r\n" +
			"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nSGVsbG8*!!not base64 at all===\r\n====\r\n"),
		"No header/body split": []byte(from + "Message-ID: <nosplit@example.com>\r\nSubject: No header/body split\r\n" +
			"this line is not a header and no empty line came before it\r\n"),
	}
}

// TestSyncHostileMessages copies hostile messages, between ordinary ones,
// into a real Dovecot: each is either at the destination with the SHA-256
// of the bytes that were put at the source (for NULs: as the source serves
// them), or skipped with the server's words; the ordinary ones all arrive. A second run copies nothing, and a
// run with a lost state recognises every one of them by content rather
// than copying it again.
func TestSyncHostileMessages(t *testing.T) {
	t.Parallel()
	hostile := hostileMessages()
	msgs := testserver.Corpus(testserver.CorpusOptions{Seed: 41, Messages: 6, MinSize: 800, MaxSize: 3000})
	wantSHA := map[string]string{} // SHA-256 of the bytes the destination must hold -> fixture name
	i := 0
	for name, raw := range hostile {
		msgs = append(msgs, testserver.Message{Folder: "INBOX", Raw: raw, Date: day(60 + i)})
		if name == "NUL bytes" {
			// Dovecot stores the NULs but serves BODY[] with each NUL as
			// 0x80 (only BINARY[] has them, RFC 3516): what reaches any
			// IMAP client, and so the destination, is that.
			raw = bytes.ReplaceAll(raw, []byte{0}, []byte{0x80})
		}
		sum := sha256.Sum256(raw)
		wantSHA[hex.EncodeToString(sum[:])] = name
		i++
	}
	b := setup(t, setupOpts{messages: msgs})
	before := b.snap(t, b.src, srcPW)

	rep := b.sync(t)
	if rep.Totals.Failed != 0 || len(rep.Errors) != 0 {
		t.Fatalf("failed %+v, errors %v; want none", rep.Failed, rep.Errors)
	}
	refused := map[string]bool{}
	for _, it := range rep.Skipped {
		if it.Reason != mailsync.ReasonRejected || !strings.Contains(it.Detail, "destination said") {
			t.Errorf("skipped item %+v; only a destination's refusal, in its words, may leave a message behind", it)
		}
		refused[it.Subject] = true
	}
	dst := b.snap(t, b.dst, dstPW)
	arrived := map[string]int{}
	for _, m := range dst.Folders["INBOX"].Messages {
		if name, ok := wantSHA[m.SHA256]; ok {
			arrived[name]++
		}
	}
	for name := range hostile {
		switch {
		case arrived[name] == 1 && !refused[name]:
		case arrived[name] == 0 && refused[name]:
			t.Logf("%s: refused by the destination", name)
		default:
			t.Errorf("%s: %d byte-identical copies at the destination, refused %v; want exactly one copy, or a refusal",
				name, arrived[name], refused[name])
		}
	}
	if rep.Totals.Copied+len(refused) != len(msgs) {
		t.Errorf("copied %d, refused %d; want %d in all", rep.Totals.Copied, len(refused), len(msgs))
	}
	skip := map[string]bool{}
	for sha, name := range wantSHA {
		if refused[name] {
			skip[sha] = true
		}
	}
	checkMirrors(t, before, dst, map[string]string{"INBOX": "INBOX"}, skip)

	if again := b.sync(t); again.Totals.Copied != 0 || again.Totals.Present != rep.Totals.Copied {
		t.Errorf("second run: copied %d, present %d; want 0, %d", again.Totals.Copied, again.Totals.Present, rep.Totals.Copied)
	}
	fresh, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "lost.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	b.opts.State = fresh
	if lost := b.sync(t); lost.Totals.Copied != 0 || lost.Totals.Present != rep.Totals.Copied {
		t.Errorf("run with a lost state: copied %d, present %d; want 0, %d (recognised by content)", lost.Totals.Copied, lost.Totals.Present, rep.Totals.Copied)
	}
	checkMirrors(t, before, b.snap(t, b.dst, dstPW), map[string]string{"INBOX": "INBOX"}, skip)
}
