package testserver

import (
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestCommandRecorder(t *testing.T) {
	t.Parallel()
	got := make(chan []byte, 1)
	srv := scripted(t, func(c *net.TCPConn) {
		b, _ := io.ReadAll(c)
		got <- b
	})
	r := StartCommandRecorder(t, srv)
	// A session's worth of commands, sent in odd pieces, with literals
	// whose data looks like commands.
	script := []string{
		"A1 LOGIN alice {6+}\r\nsecret\r\n",
		"A2 EXAMINE INBOX\r\n",
		"A3 UID FETCH 1:* (UID FLAGS RFC822.SIZE BODY.PEEK[HEADER] BINARY.SIZE[] RFC822.HEADER)\r\n",
		"A4 APPEND INBOX {30+}\r\nA9 STORE 1 +FLAGS (\\Deleted)\r\n\r\n",
		"A5 uid store 1:2 -FLAGS (\\Seen)\r\n",
		"A6 FETCH 1 (BODY[TEXT])\r\n",
		"A7 UID FETCH 2 BINARY[1]\r\n",
		"A8 FETCH 3 RFC822\r\n",
		"A9 SELECT Sent\r\n",
		"A10 UID EXPUNGE 4\r\n",
		"A11 AUTHENTICATE PLAIN\r\n", "c2VjcmV0\r\n",
		"A12 FETCH 1:2 (UID BODY.PEEK[])\r\n",
		"A13 LOGOUT\r\n",
	}
	c, err := net.Dial("tcp", r.Addr())
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(script, "")
	for i := 0; i < len(all); i += 7 {
		if _, err := c.Write([]byte(all[i:min(i+7, len(all))])); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
	select {
	case b := <-got:
		if string(b) != all {
			t.Fatalf("server got %q; want the bytes unchanged", b)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("server never saw the connection end")
	}

	var names []string
	for _, cmd := range r.Commands() {
		names = append(names, cmd.Tag+" "+cmd.Name)
		if strings.Contains(cmd.Text, "secret") || strings.Contains(cmd.Text, "c2VjcmV0") {
			t.Errorf("recorded text %q shows a credential", cmd.Text)
		}
	}
	want := []string{"A1 LOGIN", "A2 EXAMINE", "A3 UID FETCH", "A4 APPEND", "A5 UID STORE", "A6 FETCH", "A7 UID FETCH",
		"A8 FETCH", "A9 SELECT", "A10 UID EXPUNGE", "A11 AUTHENTICATE", "A12 FETCH", "A13 LOGOUT"}
	if !slices.Equal(names, want) {
		t.Errorf("Commands() = %q; want %q", names, want)
	}
	var mutating []string
	for _, cmd := range r.Mutating() {
		mutating = append(mutating, cmd.Tag)
	}
	if want := []string{"A4", "A5", "A6", "A7", "A8", "A9", "A10"}; !slices.Equal(mutating, want) {
		t.Errorf("Mutating() = %q; want %q", mutating, want)
	}
}
