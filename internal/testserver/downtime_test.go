package testserver

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// TestStopWithClientThenRelaunch stops an instance while a client is logged
// in: the client hears the server's BYE and the stop is clean (before, the
// master waited for the session until it was killed 10 s later, and Stop
// failed). While stopped, the port refuses connections; Relaunch serves the
// same mail on the same port.
func TestStopWithClientThenRelaunch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := StartDovecot(t, DovecotConfig{Users: map[string]string{alice: alicePW}})
	if err := Seed(ctx, d.Addr, alice, alicePW, Corpus(CorpusOptions{Seed: 6, Messages: 3})); err != nil {
		t.Fatal(err)
	}
	before, err := Take(ctx, d.Addr, alice, alicePW)
	if err != nil {
		t.Fatal(err)
	}

	// A raw session: go-imap does not show the BYE.
	c, err := net.Dial("tcp", d.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(c)
	fmt.Fprintf(c, "A1 LOGIN %q %q\r\n", alice, alicePW)
	for line := ""; !strings.HasPrefix(line, "A1 "); {
		if line, err = r.ReadString('\n'); err != nil {
			t.Fatalf("login: %v", err)
		}
	}
	if err := d.Stop(); err != nil {
		t.Fatalf("Stop() with a client logged in = %v; want a clean stop", err)
	}
	rest, _ := io.ReadAll(r)
	if !strings.HasPrefix(string(rest), "* BYE ") {
		t.Errorf("the client got %q at the stop; want Dovecot's BYE", rest)
	}
	if _, err := net.Dial("tcp", d.Addr); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial %s while stopped = %v; want connection refused", d.Addr, err)
	}

	if err := d.Relaunch(); err != nil {
		t.Fatal(err)
	}
	after, err := Take(ctx, d.Addr, alice, alicePW)
	if err != nil {
		t.Fatal(err)
	}
	if diff := before.Diff(after); len(diff) != 0 {
		t.Errorf("Diff across Stop and Relaunch = %q; want none", diff)
	}
}

func TestAppendLimitAdvertised(t *testing.T) {
	t.Parallel()
	d := StartDovecot(t, DovecotConfig{Users: map[string]string{alice: alicePW}, AppendLimit: 50000, MaxMailSize: "50000"})
	c, err := imapclient.DialInsecure(d.Addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(alice, alicePW).Wait(); err != nil {
		t.Fatal(err)
	}
	caps, err := c.Capability().Wait()
	if err != nil {
		t.Fatal(err)
	}
	if limit, ok := caps.AppendLimit(); !ok || limit == nil || *limit != 50000 {
		t.Errorf("AppendLimit() = %v, %v; want 50000 (capabilities %v)", limit, ok, caps)
	}
	// Dovecot enforces it through quota_max_mail_size.
	raw := []byte("Subject: big\r\n\r\n" + strings.Repeat("x", 60000) + "\r\n")
	cmd := c.Append("INBOX", int64(len(raw)), nil)
	_, _ = cmd.Write(raw)
	_ = cmd.Close()
	var imapErr *imap.Error
	if _, err := cmd.Wait(); !errors.As(err, &imapErr) {
		t.Errorf("APPEND of %d bytes = %v; want a NO", len(raw), err)
	}
}
