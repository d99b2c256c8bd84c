package imapconn

import (
	"bytes"
	"fmt"
	"io"
	"testing"
	"time"
)

// TestIdleTimeoutSlowUpload checks that a large APPEND that takes longer
// than IdleTimeout to upload, but keeps moving, is not cut: the server owes
// a reply all along, yet the client is making progress.
func TestIdleTimeoutSlowUpload(t *testing.T) {
	const idle = 300 * time.Millisecond
	// Drain slowly: about a second for the whole literal.
	slow := func(r io.Reader, n int64) error {
		for n > 0 {
			k, err := io.CopyN(io.Discard, r, min(n, 1<<20))
			if err != nil {
				return err
			}
			n -= k
			time.Sleep(60 * time.Millisecond)
		}
		return nil
	}
	cfg := testConfig(literalServer(t, "IMAP4rev1", slow, nil), SecurityNone)
	cfg.IdleTimeout = idle
	c := mustDial(t, cfg)
	body := bytes.Repeat([]byte("x"), 16<<20)
	start := time.Now()
	cmd := c.Append("INBOX", int64(len(body)), nil)
	if _, err := cmd.Write(body); err != nil {
		t.Fatalf("write literal: %v (after %v; Err() = %v)", err, time.Since(start), c.Err())
	}
	if err := cmd.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := cmd.Wait(); err != nil {
		t.Fatalf("slow but moving APPEND = %v after %v; want success", err, time.Since(start))
	}
	if d := time.Since(start); d < 2*idle {
		t.Skip(fmt.Sprintf("the upload took %v, not longer than the idle timeout: the kernel buffered it", d))
	}
}
