package imapconn_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"

	"github.com/imapmigrate/imapmigrate/internal/imapconn"
)

// A read-only source connection with a transcript: the password never
// appears, EXAMINE passes, SELECT is refused before it reaches the server.
func ExampleDial() {
	addr := exampleServer("alice@example.com", "Secret-1")

	c, err := imapconn.Dial(context.Background(), imapconn.Config{
		Addr:       addr,
		Security:   imapconn.SecurityNone, // a loopback test server; use tls or starttls otherwise
		User:       "alice@example.com",
		Password:   "Secret-1",
		ReadOnly:   true,
		Trace:      os.Stdout,
		TraceLabel: "source",
		Side:       "source",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	if _, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		log.Fatal(err)
	}
	_, err = c.Select("INBOX", nil).Wait()
	fmt.Println(errors.Is(c.Err(), imapconn.ErrReadOnly), err != nil)
	// Output:
	// source S: * OK [CAPABILITY IMAP4rev2 AUTH=PLAIN] IMAP server ready
	// source C: T1 AUTHENTICATE PLAIN ***
	// source S: T1 OK [CAPABILITY IMAP4rev2] PLAIN authentication successful
	// source C: T2 EXAMINE INBOX
	// source S: * 0 EXISTS
	// source S: * OK [UIDVALIDITY 1] UIDs valid
	// source S: * OK [UIDNEXT 1] Predicted next UID
	// source S: * FLAGS ()
	// source S: * OK [PERMANENTFLAGS (\*)] Permanent flags
	// source S: T2 OK [READ-ONLY] EXAMINE completed
	// source C: refused, not sent (read-only): T3 SELECT INBOX
	// true true
}

func exampleServer(user, password string) string {
	mem := imapmemserver.New()
	u := imapmemserver.NewUser(user, password)
	u.Create("INBOX", nil)
	mem.AddUser(u)
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		Caps:         imap.CapSet{imap.CapIMAP4rev2: {}},
		InsecureAuth: true,
		Logger:       log.New(io.Discard, "", 0),
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go srv.Serve(ln)
	return ln.Addr().String()
}
