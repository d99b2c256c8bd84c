package imapconn

import (
	"strings"
	"testing"
	"time"
)

// TestServerBye: a server that says BYE on its own and hangs up (Dovecot's
// "Server shutting down." on a restart or doveadm kick, its "Disconnected
// for inactivity.", Gmail's "Session expired") must have its words in the
// error of the command that was waiting, and of a command sent after the
// connection is gone, rather than go-imap's bare "unexpected EOF". The
// BYE that answers LOGOUT is not an error.
func TestServerBye(t *testing.T) {
	const words = "Server shutting down."
	for _, tc := range []struct {
		name string
		// idle: the BYE comes after a completed command, while nothing is
		// pending; else it answers the command in place of its reply.
		idle bool
	}{{"MidCommand", false}, {"WhileIdle", true}} {
		t.Run(tc.name, func(t *testing.T) {
			hungUp := make(chan struct{})
			rs := startRaw(t, "* OK [CAPABILITY IMAP4rev1] hi", "IMAP4rev1", map[string]rawHandler{
				"NOOP": func(rc *rawConn, tag, _, _ string) {
					if tc.idle {
						rc.send(tag + " OK done")
						time.Sleep(50 * time.Millisecond) // the client has its answer first
					}
					rc.send("* BYE " + words)
					rc.Close()
					close(hungUp)
				},
			})
			c := mustDial(t, testConfig(rs.addr, SecurityNone))

			err := c.Noop().Wait()
			if tc.idle {
				if err != nil {
					t.Fatalf("Noop() = %v; want its OK", err)
				}
				<-hungUp
				select {
				case <-c.Closed():
				case <-time.After(5 * time.Second):
					t.Fatal("the connection was not closed after the server's BYE")
				}
				err = c.Noop().Wait()
			}
			if err == nil || !strings.Contains(err.Error(), "BYE "+words) {
				t.Errorf("Noop() error = %v; want the server's %q", err, "BYE "+words)
			}
			if c.Err() != nil {
				t.Errorf("Err() = %v; want nil (the server closed it, not imapconn)", c.Err())
			}
		})
	}

	t.Run("LogoutIsNotAnError", func(t *testing.T) {
		rs := startRaw(t, "* OK [CAPABILITY IMAP4rev1] hi", "IMAP4rev1", nil)
		c := mustDial(t, testConfig(rs.addr, SecurityNone))
		if err := c.Logout().Wait(); err != nil {
			t.Errorf("Logout() = %v; want nil", err)
		}
		if err := c.wire.byeError(); err != nil {
			t.Errorf("after LOGOUT, byeError() = %v; want nil", err)
		}
		c.Close()
	})
}

// TestServerByeAtLogin: a server that hangs up with BYE while answering
// the login has gone away for now; it is a connection failure (retried by
// callers), not a protocol error, and the error says what the server said.
func TestServerByeAtLogin(t *testing.T) {
	rs := startRaw(t, "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] hi", "IMAP4rev1 AUTH=PLAIN", map[string]rawHandler{
		"AUTHENTICATE": func(rc *rawConn, _, _, _ string) {
			rc.send("* BYE Server shutting down.")
			rc.Close()
		},
	})
	_, err := Dial(t.Context(), testConfig(rs.addr, SecurityNone))
	wantKind(t, err, KindConnect)
	if err == nil || !strings.Contains(err.Error(), "BYE Server shutting down.") {
		t.Errorf("Dial() error = %v; want the server's BYE text", err)
	}
}
