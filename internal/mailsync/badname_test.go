package mailsync_test

import (
	"bufio"
	"io"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/imapmigrate/imapmigrate/internal/folder"
	"github.com/imapmigrate/imapmigrate/internal/testserver"
)

// listRewriter is a TCP proxy in front of an IMAP server that rewrites
// server LIST lines matching re into repl, to serve a folder name the
// server itself would never produce.
type listRewriter struct {
	addr string

	mu       sync.Mutex
	accepted int
	rewrites int
}

// startListRewriter proxies to upstream on 127.0.0.1 until the test ends.
func startListRewriter(t *testing.T, upstream string, re *regexp.Regexp, repl string) *listRewriter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lr := &listRewriter{addr: ln.Addr().String()}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", upstream)
			if err != nil {
				c.Close()
				continue
			}
			lr.mu.Lock()
			lr.accepted++
			lr.mu.Unlock()
			wg.Add(2)
			go func() {
				defer wg.Done()
				io.Copy(up, c)
				up.Close()
			}()
			go func() {
				defer wg.Done()
				defer c.Close()
				br := bufio.NewReader(up)
				for {
					line, err := br.ReadString('\n')
					if strings.HasPrefix(line, "* LIST ") && re.MatchString(line) {
						line = re.ReplaceAllString(line, repl)
						lr.mu.Lock()
						lr.rewrites++
						lr.mu.Unlock()
					}
					if _, werr := io.WriteString(c, line); werr != nil || err != nil {
						return
					}
				}
			}()
		}
	}()
	return lr
}

func (lr *listRewriter) counts() (accepted, rewrites int) {
	lr.mu.Lock()
	defer lr.mu.Unlock()
	return lr.accepted, lr.rewrites
}

// TestSyncInvalidFolderName: the source lists one folder under a name that
// is not valid modified UTF-7 ("Bad&AGE": a shift without its "-"), which
// kills a plain go-imap connection. The sync goes on: the other folders
// are copied over the same connection and the bad one is reported as
// skipped, unmappable, with its raw name (RELIABILITY.md §2 row 25).
func TestSyncInvalidFolderName(t *testing.T) {
	msgs := memCorpus()
	msgs = append(msgs, testserver.Message{Folder: "Zbad", Raw: msg("bad1", "In the badly named folder", "x"), Date: day(2)})
	_, dst, opts := memBundle(t, msgs)
	proxy := startListRewriter(t, opts.Source.Addr, regexp.MustCompile(`"?Zbad"?`), `"Bad&AGE"`)
	opts.Source.Addr = proxy.addr

	rep := memSync(t, opts)

	accepted, rewrites := proxy.counts()
	if rewrites == 0 {
		t.Fatal("no LIST line was rewritten: the bad name never reached the client")
	}
	if accepted != 1 {
		t.Errorf("the source was connected to %d times; want 1 (the connection must survive the LIST)", accepted)
	}
	if !rep.OK() {
		t.Errorf("Report.OK() = false; want true (errors %v, failed %+v)", rep.Errors, rep.Failed)
	}
	if rep.Totals.Copied != 7 {
		t.Errorf("copied %d; want 7 (INBOX and Archive)", rep.Totals.Copied)
	}
	checkDest(t, dst, map[string]int{"INBOX": 5, "Archive": 2})

	var bad []string
	for _, f := range rep.Folders {
		if f.Status == "skipped: "+string(folder.SkipUnmappable) {
			bad = append(bad, f.Source)
			if f.Source != "Bad&AGE" || f.Destination != "" || !strings.Contains(f.Note, `"Bad&AGE"`) || !strings.Contains(f.Note, "modified UTF-7") {
				t.Errorf("skipped folder %+v; want source Bad&AGE, no destination, and a note naming the raw name", f)
			}
		}
	}
	if len(bad) != 1 {
		t.Errorf("unmappable folders %q; want exactly Bad&AGE (folders %+v)", bad, rep.Folders)
	}

	snap, err := testserver.Take(t.Context(), dst.Addr, user, dstPW)
	if err != nil {
		t.Fatal(err)
	}
	for name := range snap.Folders {
		if strings.Contains(name, "unmappable") || strings.Contains(name, "Bad") || strings.Contains(name, "Zbad") {
			t.Errorf("destination has folder %q; want the bad one not created", name)
		}
	}
}
