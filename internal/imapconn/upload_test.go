package imapconn

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestIdleTimeoutSlowUpload checks that a large APPEND that takes longer
// than IdleTimeout to upload, but keeps moving, is not cut: the server owes
// a reply all along, yet the client is making progress.
func TestIdleTimeoutSlowUpload(t *testing.T) {
	const idle = 300 * time.Millisecond
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	literal := regexp.MustCompile(`\{(\d+)\}$`)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		conn.(*net.TCPConn).SetReadBuffer(16 << 10)
		br := bufio.NewReaderSize(conn, 4096)
		send := func(s string) { conn.Write([]byte(s + "\r\n")) }
		send("* OK [CAPABILITY IMAP4rev1] slow server")
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			line = strings.TrimRight(line, "\r\n")
			tag, rest, _ := strings.Cut(line, " ")
			switch name, _, _ := strings.Cut(rest, " "); strings.ToUpper(name) {
			case "CAPABILITY":
				send("* CAPABILITY IMAP4rev1")
				send(tag + " OK done")
			case "APPEND":
				n, _ := strconv.ParseInt(literal.FindStringSubmatch(line)[1], 10, 64)
				send("+ go ahead")
				// Drain slowly: about a second for the whole literal.
				for n > 0 {
					k, err := io.CopyN(io.Discard, br, min(n, 1<<20))
					if err != nil {
						return
					}
					n -= k
					time.Sleep(60 * time.Millisecond)
				}
				br.ReadString('\n')
				send(tag + " OK [APPENDUID 1 1] stored")
			case "LOGOUT":
				send("* BYE bye")
				send(tag + " OK bye")
				return
			default:
				send(tag + " OK done")
			}
		}
	}()

	cfg := testConfig(ln.Addr().String(), SecurityNone)
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
