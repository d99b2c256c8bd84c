package testserver

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
)

// withLiteral returns a literal marker and its data.
func withLiteral(data string) string { return fmt.Sprintf("{%d}\r\n%s", len(data), data) }

func TestLineSplitter(t *testing.T) {
	hidden := "x\r\na9 LOGIN evil pw\r\na9 OK yes\r\n"
	big := strings.Repeat("a2 OK\r\n", 300)
	tests := []struct {
		name   string
		stream string
		want   [][]string // the leading tokens of each logical line
	}{
		{"Atoms", "a1 LOGIN alice secret\r\na2 NOOP\r\n", [][]string{{"a1", "LOGIN", "alice", "secret"}, {"a2", "NOOP"}}},
		{"Quoted", `a1 LOGIN "al ice" "p\"w\\"` + "\r\n", [][]string{{"a1", "LOGIN", "al ice", `p"w\`}}},
		{"Literals", "a1 LOGIN {5}\r\nalice {2}\r\npw\r\n", [][]string{{"a1", "LOGIN", "alice", "pw"}}},
		{"NonSynchronizingLiterals", "a1 LOGIN {3+}\r\nbob {2+}\r\npw\r\n", [][]string{{"a1", "LOGIN", "bob", "pw"}}},
		{"EmptyLiteral", "a1 LOGIN {0}\r\n {2}\r\npw\r\n", [][]string{{"a1", "LOGIN", "", "pw"}}},
		{"BareLF", "a1 LOGIN alice pw\n", [][]string{{"a1", "LOGIN", "alice", "pw"}}},
		{"LiteralHidesLines", "a1 APPEND INBOX " + withLiteral(hidden) + "\r\na2 LOGOUT\r\n", [][]string{{"a1", "APPEND", "INBOX", hidden}, {"a2", "LOGOUT"}}},
		{"BinaryLiteral", "* 1 FETCH (BINARY[] ~" + withLiteral(hidden) + ")\r\na1 OK done\r\n", [][]string{{"*", "1", "FETCH", "(BINARY[]"}, {"a1", "OK", "done"}}},
		{"BigLiteral", "a1 APPEND INBOX " + withLiteral(big) + "\r\na2 OK\r\n", [][]string{{"a1", "APPEND", "INBOX"}, {"a2", "OK"}}},
		{"NotAMarker", "* OK [ALERT] {x}\r\na1 OK\r\n", [][]string{{"*", "OK", "[ALERT]"}, {"a1", "OK"}}},
		{"LongLine", "a1 UID FETCH " + strings.Repeat("1,", 20<<10) + "2 " + withLiteral("xy") + "\r\na2 OK\r\n", [][]string{{"a1", "UID", "FETCH"}, {"a2", "OK"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, chunk := range []int{len(tt.stream), 1, 7} {
				var lines [][]lineItem
				sp := lineSplitter{onLine: func(line []lineItem) { lines = append(lines, line) }}
				for s := tt.stream; s != ""; {
					n := min(chunk, len(s))
					sp.feed([]byte(s[:n]))
					s = s[n:]
				}
				var got [][]string
				for i, line := range lines {
					n := 4
					if i < len(tt.want) {
						n = len(tt.want[i])
					}
					got = append(got, tokens(line, n))
				}
				if !slices.EqualFunc(got, tt.want, slices.Equal) {
					t.Errorf("lines of %q in reads of %d = %q; want %q", tt.stream[:min(len(tt.stream), 60)], chunk, got, tt.want)
				}
			}
		})
	}
}

func TestPlainUser(t *testing.T) {
	tests := []struct {
		name, msg, want string
		ok              bool
	}{
		{"AuthcidOnly", "\x00alice\x00pw", "alice", true},
		{"Authzid", "alice\x00master\x00pw", "alice", true},
		{"NoUser", "\x00\x00pw", "", false},
		{"TwoFields", "alice\x00pw", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := plainUser(base64.StdEncoding.EncodeToString([]byte(tt.msg)))
			if got != tt.want || ok != tt.ok {
				t.Errorf("plainUser(%q) = %q, %v; want %q, %v", tt.msg, got, ok, tt.want, tt.ok)
			}
		})
	}
	if _, ok := plainUser("not base64!"); ok {
		t.Errorf("plainUser(%q) succeeded; want failure", "not base64!")
	}
}

// FuzzLineSplitter checks that the lines do not depend on how the stream is
// cut into reads.
func FuzzLineSplitter(f *testing.F) {
	f.Add("a1 LOGIN {5}\r\nalice {2+}\r\npw\r\n* 1 FETCH (BODY[] {3}\r\nabc)\r\na1 OK\r\n", 3)
	f.Add("a1 AUTHENTICATE PLAIN\r\nAGFsaWNlAHB3\r\n", 1)
	f.Fuzz(func(t *testing.T, stream string, chunk int) {
		chunk = max(1, chunk%64)
		lines := func(chunk int) [][]string {
			var got [][]string
			sp := lineSplitter{onLine: func(line []lineItem) { got = append(got, tokens(line, 4)) }}
			for s := stream; s != ""; {
				n := min(chunk, len(s))
				sp.feed([]byte(s[:n]))
				s = s[n:]
			}
			return got
		}
		whole, cut := lines(len(stream)+1), lines(chunk)
		if !slices.EqualFunc(whole, cut, slices.Equal) {
			t.Errorf("lines in one read = %q; in reads of %d = %q", whole, chunk, cut)
		}
	})
}

// alice is dovecot_test.go's.
const (
	bob   = "bob@example.com"
	carol = "carol@example.com"
)

func loginDovecot(t *testing.T) *Dovecot {
	return StartDovecot(t, DovecotConfig{
		Users:          map[string]string{alice: "alice-pw", bob: "bob-pw", carol: "carol-pw"},
		MasterUser:     "master",
		MasterPassword: "master-pw",
	})
}

func loginClient(t *testing.T, addr, user, pw string) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatalf("DialInsecure(%s) = %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(user, pw).Wait(); err != nil {
		t.Fatalf("Login(%q).Wait() = %v", user, err)
	}
	return c
}

// waitLoggedIn waits until the counter has seen the connections close.
func waitLoggedIn(t *testing.T, c *LoginCounter, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for c.LoggedIn() != want {
		if time.Now().After(deadline) {
			t.Fatalf("LoggedIn() = %d after 5 s; want %d", c.LoggedIn(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func checkCounts(t *testing.T, c *LoginCounter, maxUsers int, perUser, logins map[string]int) {
	t.Helper()
	if got := c.MaxConcurrentUsers(); got != maxUsers {
		t.Errorf("MaxConcurrentUsers() = %d; want %d", got, maxUsers)
	}
	if got := c.MaxConcurrentPerUser(); !maps.Equal(got, perUser) {
		t.Errorf("MaxConcurrentPerUser() = %v; want %v", got, perUser)
	}
	if got := c.Logins(); !maps.Equal(got, logins) {
		t.Errorf("Logins() = %v; want %v", got, logins)
	}
}

func TestLoginCounterCountsConcurrentLogins(t *testing.T) {
	t.Parallel()
	d := loginDovecot(t)
	counter := StartLoginCounter(t, d.Addr)

	a1 := loginClient(t, counter.Addr(), alice, "alice-pw")
	b := loginClient(t, counter.Addr(), bob, "bob-pw")
	a2 := loginClient(t, counter.Addr(), alice, "alice-pw")
	if got := counter.LoggedIn(); got != 3 {
		t.Errorf("LoggedIn() with three sessions = %d; want 3", got)
	}
	checkCounts(t, counter, 2, map[string]int{alice: 2, bob: 1}, map[string]int{alice: 2, bob: 1})

	// LOGOUT, then close, as a client that is done would.
	for _, c := range []*imapclient.Client{a1, b, a2} {
		if err := c.Logout().Wait(); err != nil {
			t.Errorf("Logout().Wait() = %v", err)
		}
		c.Close()
	}
	waitLoggedIn(t, counter, 0)

	// One user after another never overlaps: the maximums stay.
	for _, user := range []string{carol, bob, bob} {
		c := loginClient(t, counter.Addr(), user, strings.TrimSuffix(user, "@example.com")+"-pw")
		c.Close()
		waitLoggedIn(t, counter, 0)
	}
	checkCounts(t, counter, 2, map[string]int{alice: 2, bob: 1, carol: 1}, map[string]int{alice: 2, bob: 3, carol: 1})

	// A refused login counts for nothing. It comes last because Dovecot
	// then delays every login from 127.0.0.1 by seconds (auth penalty).
	refused, err := imapclient.DialInsecure(counter.Addr(), nil)
	if err != nil {
		t.Fatalf("DialInsecure = %v", err)
	}
	defer refused.Close()
	if err := refused.Login(alice, "wrong").Wait(); err == nil {
		t.Fatalf("Login(%q, wrong password) succeeded", alice)
	}
	checkCounts(t, counter, 2, map[string]int{alice: 2, bob: 1, carol: 1}, map[string]int{alice: 2, bob: 3, carol: 1})
}

// A client that closes one session and at once opens the next, as a
// migration with a concurrency cap does, must never show as an overlap.
func TestLoginCounterHandOffs(t *testing.T) {
	t.Parallel()
	d := loginDovecot(t)
	counter := StartLoginCounter(t, d.Addr)
	users := []string{alice, bob, carol}
	const lanes, jobs = 2, 30
	sem := make(chan struct{}, lanes)
	var wg sync.WaitGroup
	for i := range jobs {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			user := users[i%len(users)]
			c, err := imapclient.DialInsecure(counter.Addr(), nil)
			if err != nil {
				t.Errorf("DialInsecure = %v", err)
				return
			}
			defer c.Close()
			if err := c.Login(user, strings.TrimSuffix(user, "@example.com")+"-pw").Wait(); err != nil {
				t.Errorf("Login(%q).Wait() = %v", user, err)
				return
			}
			if i%2 == 0 {
				// Half say LOGOUT; the others just drop the connection.
				c.Logout().Wait()
			}
		})
	}
	wg.Wait()
	waitLoggedIn(t, counter, 0)
	if got := counter.MaxConcurrentUsers(); got < 1 || got > lanes {
		t.Errorf("MaxConcurrentUsers() = %d with %d lanes; want 1 to %d", got, lanes, lanes)
	}
	total := 0
	for user, n := range counter.Logins() {
		total += n
		if got := counter.MaxConcurrentPerUser()[user]; got > lanes {
			t.Errorf("MaxConcurrentPerUser()[%q] = %d with %d lanes", user, got, lanes)
		}
	}
	if total != jobs {
		t.Errorf("Logins() = %v, %d in all; want %d", counter.Logins(), total, jobs)
	}
}

// rawIMAP speaks IMAP by hand, for the login forms imapclient never sends.
type rawIMAP struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawIMAP {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	raw := &rawIMAP{t: t, c: c, r: bufio.NewReader(c)}
	raw.expect("* OK")
	return raw
}

func (raw *rawIMAP) send(s string) {
	raw.t.Helper()
	if _, err := raw.c.Write([]byte(s)); err != nil {
		raw.t.Fatalf("send %q: %v", s, err)
	}
}

// expect reads lines until one starts with prefix and fails at a tagged
// answer that does not.
func (raw *rawIMAP) expect(prefix string) {
	raw.t.Helper()
	for {
		line, err := raw.r.ReadString('\n')
		if err != nil {
			raw.t.Fatalf("read, waiting for %q: %v", prefix, err)
		}
		if strings.HasPrefix(line, prefix) {
			return
		}
		if !strings.HasPrefix(line, "* ") {
			raw.t.Fatalf("got %q; want %q", line, prefix)
		}
	}
}

func TestLoginCounterLoginForms(t *testing.T) {
	t.Parallel()
	d := loginDovecot(t)
	plain := func(authzid, authcid, pw string) string {
		return base64.StdEncoding.EncodeToString([]byte(authzid + "\x00" + authcid + "\x00" + pw))
	}
	tests := []struct {
		name  string
		login func(t *testing.T, addr string)
		want  string // the user counted
	}{
		{"Quoted", func(t *testing.T, addr string) {
			raw := dialRaw(t, addr)
			raw.send(`a1 LOGIN "bob@example.com" "bob-pw"` + "\r\n")
			raw.expect("a1 OK")
		}, bob},
		{"SynchronizingLiterals", func(t *testing.T, addr string) {
			raw := dialRaw(t, addr)
			raw.send("a1 LOGIN {17}\r\n")
			raw.expect("+")
			raw.send(carol + " {8}\r\n")
			raw.expect("+")
			raw.send("carol-pw\r\n")
			raw.expect("a1 OK")
		}, carol},
		{"NonSynchronizingLiterals", func(t *testing.T, addr string) {
			raw := dialRaw(t, addr)
			raw.send("a1 LOGIN {17+}\r\n" + alice + " {8+}\r\nalice-pw\r\n")
			raw.expect("a1 OK")
		}, alice},
		{"AuthenticatePlainInitialResponse", func(t *testing.T, addr string) {
			c, err := imapclient.DialInsecure(addr, nil)
			if err != nil {
				t.Fatalf("DialInsecure = %v", err)
			}
			defer c.Close()
			if err := c.Authenticate(sasl.NewPlainClient("", bob, "bob-pw")); err != nil {
				t.Fatalf("Authenticate(PLAIN %s) = %v", bob, err)
			}
		}, bob},
		{"AuthenticatePlainContinuation", func(t *testing.T, addr string) {
			raw := dialRaw(t, addr)
			raw.send("a1 AUTHENTICATE PLAIN\r\n")
			raw.expect("+")
			raw.send(plain("", carol, "carol-pw") + "\r\n")
			raw.expect("a1 OK")
		}, carol},
		{"AuthenticatePlainMasterUser", func(t *testing.T, addr string) {
			raw := dialRaw(t, addr)
			raw.send("a1 AUTHENTICATE PLAIN " + plain(alice, "master", "master-pw") + "\r\n")
			raw.expect("a1 OK")
		}, alice},
		{"AfterRefusedAuthenticate", func(t *testing.T, addr string) {
			// Refused at once: the next line is a command, not a response.
			raw := dialRaw(t, addr)
			raw.send("a1 AUTHENTICATE NOSUCH\r\n")
			raw.expect("a1 NO")
			raw.send("a2 AUTHENTICATE PLAIN\r\n")
			raw.expect("+")
			raw.send("*\r\n")
			raw.expect("a2 BAD")
			raw.send("a3 LOGIN " + bob + " bob-pw\r\n")
			raw.expect("a3 OK")
		}, bob},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			counter := StartLoginCounter(t, d.Addr)
			tt.login(t, counter.Addr())
			want := map[string]int{tt.want: 1}
			checkCounts(t, counter, 1, want, want)
		})
	}
}
