package main

// End-to-end tests of the real binary against real Dovecot servers: what a
// script or an admin sees (exit codes, output, the report file), and
// SIGKILL at random points of a migration.

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/imapmigrate/imapmigrate/internal/mailsync"
	"github.com/imapmigrate/imapmigrate/internal/testserver"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "imapmigrate-bin-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "imapmigrate")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		panic("build imapmigrate: " + err.Error() + "\n" + string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const (
	user  = "alice@example.com"
	srcPW = "s3cret-source-pw"
	dstPW = "s3cret-dest-pw"
)

type servers struct {
	src, dst *testserver.Dovecot
	dir      string
	msgs     []testserver.Message
}

func start(t *testing.T, dstCfg testserver.DovecotConfig, msgs []testserver.Message) *servers {
	t.Helper()
	src := testserver.StartDovecot(t, testserver.DovecotConfig{Users: map[string]string{user: srcPW}, SpecialUse: true})
	dstCfg.Users = map[string]string{user: dstPW}
	dstCfg.SpecialUse = true
	dst := testserver.StartDovecot(t, dstCfg)
	if err := testserver.Seed(context.Background(), src.Addr, user, srcPW, msgs); err != nil {
		t.Fatalf("seed: %v", err)
	}
	s := &servers{src: src, dst: dst, dir: t.TempDir(), msgs: msgs}
	os.WriteFile(filepath.Join(s.dir, "pw1"), []byte(srcPW+"\n"), 0o600)
	os.WriteFile(filepath.Join(s.dir, "pw2"), []byte(dstPW+"\n"), 0o600)
	return s
}

// args gives the stable flag set of the contract, plus extra.
func (s *servers) args(extra ...string) []string {
	return append([]string{"sync",
		"--source", s.src.Addr, "--source-user", user, "--source-password-file", filepath.Join(s.dir, "pw1"), "--source-security", "none",
		"--dest", s.dst.Addr, "--dest-user", user, "--dest-password-file", filepath.Join(s.dir, "pw2"), "--dest-security", "none",
		"--state", filepath.Join(s.dir, "state.db")}, extra...)
}

// checkMirrored fails t for every difference between each source folder and
// the destination folder of the same name: messages missing, extra or
// twice, bytes, flags or dates.
func (s *servers) checkMirrored(t *testing.T) {
	t.Helper()
	src, err := testserver.Take(context.Background(), s.src.Addr, user, srcPW)
	if err != nil {
		t.Fatal(err)
	}
	dst, err := testserver.Take(context.Background(), s.dst.Addr, user, dstPW)
	if err != nil {
		t.Fatal(err)
	}
	mapping := map[string]string{}
	for name := range src.Folders {
		mapping[name] = name
	}
	for _, d := range testserver.CompareFolders(src, dst, mapping, nil) {
		t.Error(d)
	}
}

func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+t.TempDir())
	err := cmd.Run()
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("run imapmigrate: %v", err)
		}
	}
	return cmd.ProcessState.ExitCode(), o.String(), e.String()
}

func small() []testserver.Message {
	return testserver.Corpus(testserver.CorpusOptions{Seed: 7, Messages: 40, Folders: []string{"INBOX", "Sent", "Archive/2020"}, MinSize: 1 << 10, MaxSize: 8 << 10})
}

func TestSyncReportAndRerun(t *testing.T) {
	s := start(t, testserver.DovecotConfig{}, small())
	report := filepath.Join(s.dir, "report.json")
	code, out, errOut := run(t, s.args("--report", report)...)
	if code != 0 {
		t.Fatalf("exit %d; stdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	var rep mailsync.Report
	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("report is not JSON: %v", err)
	}
	if rep.Totals.Copied != 40 || rep.Totals.Folders != 4 || rep.Totals.MessagesPerSec <= 0 {
		t.Errorf("report totals = %+v; want 40 copied in 4 folders (INBOX, Sent, Archive, Archive/2020) and a rate", rep.Totals)
	}
	if !strings.Contains(out, "Copied 40 messages") {
		t.Errorf("stdout does not summarise the copy:\n%s", out)
	}
	code, out, _ = run(t, s.args()...)
	if code != 0 || !strings.Contains(out, "Copied 0 messages") || !strings.Contains(out, "Already present 40") {
		t.Errorf("re-run: exit %d, stdout:\n%s\nwant nothing copied, 40 present", code, out)
	}
}

func TestSyncExitCodes(t *testing.T) {
	s := start(t, testserver.DovecotConfig{MaxMailSize: "4k"}, small())
	tests := []struct {
		name    string
		args    []string
		env     []string
		code    int
		inError string
	}{
		{"MissingPassword", []string{"sync", "--source", s.src.Addr, "--source-user", user, "--dest", s.dst.Addr, "--dest-user", user}, nil, 2, "no source password"},
		{"BadSize", s.args("--max-message-size", "lots"), nil, 2, "--max-message-size"},
		{"WrongDestPassword", append(s.args(), "--dest-password-file", filepath.Join(s.dir, "pw1")), nil, 4, "destination"},
		{"ConnectionRefused", append(s.args(), "--source", "127.0.0.1:1"), nil, 3, "source"},
		{"StartTLSNotOffered", append(s.args(), "--source-security", "starttls"), nil, 3, "STARTTLS"},
		{"RejectedByDestination", s.args(), nil, 5, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := run(t, tc.args...)
			if code != tc.code || !strings.Contains(errOut+out, tc.inError) {
				t.Errorf("exit %d; want %d with %q\nstdout:\n%s\nstderr:\n%s", code, tc.code, tc.inError, out, errOut)
			}
			for _, pw := range []string{srcPW, dstPW} {
				if strings.Contains(out+errOut, pw) {
					t.Errorf("a password appears in the output:\n%s\n%s", out, errOut)
				}
			}
		})
	}
}

func TestSyncTraceRedactsSecrets(t *testing.T) {
	s := start(t, testserver.DovecotConfig{}, small()[:3])
	code, out, errOut := run(t, s.args("-v")...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(errOut, "APPEND") || !strings.Contains(errOut, "EXAMINE") {
		t.Fatalf("trace shows no protocol:\n%.2000s", errOut)
	}
	for _, pw := range []string{srcPW, dstPW} {
		if strings.Contains(out+errOut, pw) {
			t.Errorf("password %q appears in the trace", pw)
		}
	}
}

func TestSyncTLS(t *testing.T) {
	s := start(t, testserver.DovecotConfig{TLS: true}, small()[:5])
	tls := func(extra ...string) []string {
		return append(s.args(extra...), "--dest", s.dst.TLSAddr, "--dest-security", "tls")
	}
	if code, _, errOut := run(t, tls()...); code != 3 || !strings.Contains(errOut, "certificate") {
		t.Errorf("untrusted certificate: exit %d, %s; want 3 and a certificate error", code, errOut)
	}
	if code, out, errOut := run(t, tls("--dest-ca-file", s.dst.CAFile)...); code != 0 {
		t.Errorf("with --dest-ca-file: exit %d\n%s\n%s", code, out, errOut)
	}
	args := append(s.args(), "--dest-security", "starttls", "--dest-ca-file", s.dst.CAFile)
	if code, out, errOut := run(t, args...); code != 0 || !strings.Contains(out, "Already present 5") {
		t.Errorf("STARTTLS with CA: exit %d\n%s\n%s", code, out, errOut)
	}
	code, _, errOut := run(t, tls("--dest-insecure-skip-verify")...)
	if code != 0 || !strings.Contains(errOut, "not verified") {
		t.Errorf("insecure skip verify: exit %d, stderr %s; want 0 and a warning", code, errOut)
	}
}

// counter returns a function that counts the messages in folders at addr.
func counter(t *testing.T, addr, password string, folders []string) func() int {
	t.Helper()
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(user, password).Wait(); err != nil {
		t.Fatal(err)
	}
	return func() int {
		n := 0
		for _, f := range folders {
			if st, err := c.Status(f, &imap.StatusOptions{NumMessages: true}).Wait(); err == nil {
				n += int(*st.NumMessages)
			}
		}
		return n
	}
}

// TestSyncSurvivesSIGKILL kills the real binary at random points of one
// migration (when the destination has received a random share of what is
// left), runs it again each time, and checks that in the end every source
// message is at the destination exactly once.
func TestSyncSurvivesSIGKILL(t *testing.T) {
	folders := []string{"INBOX", "Sent", "Archive/2019", "Archive/2020"}
	msgs := testserver.Corpus(testserver.CorpusOptions{Seed: 3, Messages: 2500, Folders: folders, MinSize: 2 << 10, MaxSize: 24 << 10, BigEvery: 500})
	s := start(t, testserver.DovecotConfig{}, msgs)
	arrived := counter(t, s.dst.Addr, dstPW, folders)
	rng := rand.New(rand.NewPCG(1, uint64(time.Now().UnixNano())))
	killedMidway := 0
	for i := 0; i < 4; i++ {
		before := arrived()
		if before >= len(msgs) {
			break
		}
		target := before + 1 + rng.IntN(max(1, (len(msgs)-before)*3/4))
		cmd := exec.Command(binary, s.args("--connections", "2")...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
	poll:
		for {
			select {
			case <-exited:
				break poll
			case <-time.After(5 * time.Millisecond):
			}
			if n := arrived(); n >= target {
				cmd.Process.Signal(syscall.SIGKILL)
				<-exited
				break
			}
		}
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			killedMidway++
			t.Logf("killed with %d of %d messages at the destination", arrived(), len(msgs))
		} else {
			t.Logf("run %d finished before the kill point (exit %d)", i+1, cmd.ProcessState.ExitCode())
		}
	}
	if killedMidway == 0 {
		t.Fatalf("no run was killed in the middle")
	}
	code, out, errOut := run(t, s.args()...)
	if code != 0 {
		t.Fatalf("final run: exit %d\n%s\n%s", code, out, errOut)
	}
	s.checkMirrored(t)
}

// TestSyncInterrupted sends SIGINT in the middle of a migration: the run
// stops at once with exit status 130, and the next run completes it with
// nothing missing and nothing twice.
func TestSyncInterrupted(t *testing.T) {
	msgs := testserver.Corpus(testserver.CorpusOptions{Seed: 4, Messages: 2500, Folders: []string{"INBOX", "Sent"}, MinSize: 2 << 10, MaxSize: 24 << 10})
	s := start(t, testserver.DovecotConfig{}, msgs)
	arrived := counter(t, s.dst.Addr, dstPW, []string{"INBOX", "Sent"})
	cmd := exec.Command(binary, s.args("--connections", "2")...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	for n := 0; n < 300; n = arrived() {
		select {
		case <-exited:
		case <-time.After(5 * time.Millisecond):
			continue
		}
		break
	}
	cmd.Process.Signal(syscall.SIGINT)
	stopped := time.Now()
	<-exited
	if code := cmd.ProcessState.ExitCode(); code == 0 {
		t.Skip("the migration finished before the interrupt; nothing to check")
	} else if code != 130 {
		t.Errorf("exit status after SIGINT = %d; want 130", code)
	}
	if d := time.Since(stopped); d > 5*time.Second {
		t.Errorf("the run took %v to stop after SIGINT", d)
	}
	if code, out, errOut := run(t, s.args()...); code != 0 {
		t.Fatalf("run after the interrupt: exit %d\n%s\n%s", code, out, errOut)
	}
	s.checkMirrored(t)
}
