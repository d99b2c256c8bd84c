package fingerprint_test

import (
	"bytes"
	"testing"

	"github.com/imapmigrate/imapmigrate/internal/fingerprint"
	"github.com/imapmigrate/imapmigrate/internal/testserver"
)

// corpusMessages is a sample of the generated corpus: realistic headers
// (Received chains, DKIM, folded RFC 2047 subjects) of the size real mail
// has, a few with attachments.
func corpusMessages(n int) [][]byte {
	msgs := testserver.Corpus(testserver.CorpusOptions{Seed: 3, Messages: n, Folders: []string{"INBOX"}, MinSize: 2 << 10, MaxSize: 60 << 10, BigEvery: 50})
	out := make([][]byte, len(msgs))
	for i, m := range msgs {
		out[i] = m.Raw
	}
	return out
}

// BenchmarkOf is the reconciliation path: a fingerprint from
// BODY.PEEK[HEADER], once per destination message nobody accounts for and
// once per source message still to copy.
func BenchmarkOf(b *testing.B) {
	msgs := corpusMessages(200)
	headers := make([][]byte, len(msgs))
	var total int64
	for i, m := range msgs {
		end := bytes.Index(m, []byte("\r\n\r\n"))
		headers[i] = m[:end+4]
		total += int64(len(headers[i]))
	}
	b.SetBytes(total / int64(len(headers)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		h := headers[i%len(headers)]
		fingerprint.Of(int64(len(msgs[i%len(msgs)])), h)
	}
}

// BenchmarkHasherStream is the copy path: every message streams through a
// Hasher beside the APPEND (an io.TeeReader) in chunks of the 64 KiB copy
// buffer. The Hasher stops looking at the end of the header, so its cost
// must not grow with the body: the subtests compare a text message with
// one that carries a 2 MB attachment (ns/op alike, MB/s far apart).
func BenchmarkHasherStream(b *testing.B) {
	msgs := corpusMessages(200)
	var small, large []byte
	for _, m := range msgs {
		if small == nil && len(m) > 8<<10 && len(m) < 20<<10 {
			small = m
		}
		if len(m) > len(large) {
			large = m
		}
	}
	for _, tc := range []struct {
		name string
		msg  []byte
	}{{"Text", small}, {"Attachment", large}} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(tc.msg)))
			b.ReportAllocs()
			for b.Loop() {
				h := fingerprint.New()
				for rest := tc.msg; len(rest) > 0; {
					n := min(len(rest), 64<<10)
					h.Write(rest[:n])
					rest = rest[n:]
				}
				h.Sum(int64(len(tc.msg)))
			}
		})
	}
}
