package cli

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/imapmigrate/imapmigrate/internal/imapconn"
	"github.com/imapmigrate/imapmigrate/internal/mailsync"
	"github.com/imapmigrate/imapmigrate/internal/store"
	"github.com/imapmigrate/imapmigrate/internal/testserver"
)

const (
	verifyUser  = "bob@example.com"
	verifySrcPW = "source-pw"
	verifyDstPW = "dest-pw"
)

// formulaSubject is a subject a spreadsheet would run as a formula.
const formulaSubject = `=HYPERLINK("http://127.0.0.1/x","click")`

// verifyBundle is a source mailbox synced to a destination, and the flags
// that name both.
type verifyBundle struct {
	dst  *testserver.Dovecot
	dir  string
	args []string
}

func setupVerify(t *testing.T) *verifyBundle {
	t.Helper()
	for _, env := range []string{"IMAPMIGRATE_SOURCE_PASSWORD", "IMAPMIGRATE_DEST_PASSWORD"} {
		t.Setenv(env, "")
	}
	src := testserver.StartDovecot(t, testserver.DovecotConfig{Users: map[string]string{verifyUser: verifySrcPW}})
	dst := testserver.StartDovecot(t, testserver.DovecotConfig{Users: map[string]string{verifyUser: verifyDstPW}})
	var msgs []testserver.Message
	for i, subject := range []string{"Hello", formulaSubject, "Minutes", "Invoice", "Photos"} {
		raw := fmt.Sprintf("From: Ann <ann@example.com>\r\nMessage-ID: <%d@example.com>\r\nDate: Mon, 2 Jan 2023 10:00:00 +0100\r\nSubject: %s\r\n\r\nbody %d\r\n", i, subject, i)
		msgs = append(msgs, testserver.Message{Folder: "INBOX", Raw: []byte(raw), Flags: []imap.Flag{imap.FlagSeen}, Date: time.Date(2024, 1, 1+i, 0, 0, 0, 0, time.UTC)})
	}
	ctx := context.Background()
	if err := testserver.Seed(ctx, src.Addr, verifyUser, verifySrcPW, msgs); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rep, err := mailsync.Sync(ctx, mailsync.Options{
		Source: imapconn.Config{Addr: src.Addr, Security: imapconn.SecurityNone, User: verifyUser, Password: verifySrcPW},
		Dest:   imapconn.Config{Addr: dst.Addr, Security: imapconn.SecurityNone, User: verifyUser, Password: verifyDstPW},
		State:  db,
	})
	if err != nil || rep.Totals.Copied != len(msgs) {
		t.Fatalf("sync: %v, report %+v", err, rep)
	}
	vb := &verifyBundle{dst: dst, dir: t.TempDir()}
	vb.args = []string{"verify",
		"--source", src.Addr, "--source-user", verifyUser, "--source-security", "none", "--source-password-file", vb.file(t, "src.pw", verifySrcPW+"\n"),
		"--dest", dst.Addr, "--dest-user", verifyUser, "--dest-security", "none", "--dest-password-file", vb.file(t, "dst.pw", verifyDstPW+"\n"),
	}
	return vb
}

func (vb *verifyBundle) file(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(vb.dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// run runs imapmigrate with the bundle's flags, replacing the value of any
// flag given again in extra.
func (vb *verifyBundle) run(extra ...string) (code int, stdout, stderr string) {
	args := append([]string(nil), vb.args...)
	for i := 0; i < len(extra); i++ {
		if j := indexOf(args, extra[i]); j >= 0 && i+1 < len(extra) && !strings.HasPrefix(extra[i+1], "--") {
			args[j+1] = extra[i+1]
			i++
			continue
		}
		args = append(args, extra[i])
	}
	var out, errOut bytes.Buffer
	code = Main(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func indexOf(l []string, s string) int {
	for i, x := range l {
		if x == s {
			return i
		}
	}
	return -1
}

func TestVerifyCommand(t *testing.T) {
	vb := setupVerify(t)

	t.Run("PerfectJSON", func(t *testing.T) {
		code, out, errOut := vb.run("--json")
		if code != ExitOK {
			t.Fatalf("exit %d; want 0; stderr %s", code, errOut)
		}
		var v mailsync.Verification
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatalf("--json output is not JSON: %v\n%s", err, out)
		}
		if v.Grade != mailsync.GradePerfect || v.Totals.Matched != 5 || v.Totals.Expected != 5 || v.Totals.Missing != 0 || len(v.Folders) != 1 {
			t.Errorf("verification %s (%s), totals %+v, %d folders; want Perfect with 5 matched in 1 folder", v.Grade, v.GradeReason, v.Totals, len(v.Folders))
		}
	})

	t.Run("UsageErrors", func(t *testing.T) {
		tests := []struct {
			name  string
			extra []string
			want  string
		}{
			{"ReportName", []string{"--report", filepath.Join(vb.dir, "out.txt")}, "name a .csv or .json file"},
			{"NoPassword", []string{"--dest-password-file", filepath.Join(vb.dir, "none")}, "--dest-password-file"},
			{"WriteOnlyFlag", []string{"--dry-run"}, "unknown flag: --dry-run"},
			{"MaxItems", []string{"--max-items", "-1"}, "--max-items must be 0 or more"},
		}
		for _, tc := range tests {
			code, _, errOut := vb.run(tc.extra...)
			if code != ExitUsage || !strings.Contains(errOut, tc.want) {
				t.Errorf("%s: exit %d, stderr %q; want %d and %q", tc.name, code, errOut, ExitUsage, tc.want)
			}
		}
	})

	t.Run("ConnectAndAuthFailures", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		closed := l.Addr().String()
		l.Close()
		tests := []struct {
			name  string
			extra []string
			code  int
			want  string
		}{
			{"WrongPassword", []string{"--dest-password-file", vb.file(t, "wrong.pw", "wrong")}, ExitAuth, "destination"},
			{"NoServer", []string{"--dest", closed}, ExitConnect, "connect"},
		}
		for _, tc := range tests {
			code, _, errOut := vb.run(tc.extra...)
			if code != tc.code || !strings.Contains(errOut, tc.want) || strings.Contains(errOut, verifyDstPW) {
				t.Errorf("%s: exit %d, stderr %q; want %d and %q, no password", tc.name, code, errOut, tc.code, tc.want)
			}
		}
	})

	// Three of five messages gone at the destination, the formula among
	// them: Poor.
	c, err := imapclient.DialInsecure(vb.dst.Addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login(verifyUser, verifyDstPW).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	gone := imap.UIDSetNum(2, 3, 4)
	if err := c.Store(gone, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.UIDExpunge(gone).Close(); err != nil {
		t.Fatal(err)
	}
	c.Close()

	t.Run("PoorExitsPartialWithReport", func(t *testing.T) {
		csvPath := filepath.Join(vb.dir, "verify.csv")
		code, out, errOut := vb.run("--report", csvPath)
		if code != ExitPartial {
			t.Fatalf("exit %d; want %d; stderr %s", code, ExitPartial, errOut)
		}
		for _, want := range []string{
			"Grade: Poor: 3 of 5 messages missing at the destination",
			"Missing at the destination (3):",
			`subject "Minutes"`,
		} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
		f, err := os.Open(csvPath)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		rows, err := csv.NewReader(f).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		col := map[string]int{}
		for i, c := range rows[0] {
			col[c] = i
		}
		var missing []string
		for _, r := range rows[1:] {
			if r[col["Record"]] == "missing" {
				missing = append(missing, r[col["UID"]]+" "+r[col["Subject"]])
			}
		}
		want := []string{"2 '" + formulaSubject, "3 Minutes", "4 Invoice"}
		if strings.Join(missing, "|") != strings.Join(want, "|") {
			t.Errorf("CSV missing rows %q; want %q (the formula escaped)", missing, want)
		}
	})

	t.Run("JSONReportFile", func(t *testing.T) {
		path := filepath.Join(vb.dir, "verify.json")
		if code, _, errOut := vb.run("--report", path); code != ExitPartial {
			t.Fatalf("exit %d; want %d; stderr %s", code, ExitPartial, errOut)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var v mailsync.Verification
		if err := json.Unmarshal(b, &v); err != nil || v.Grade != mailsync.GradePoor || len(v.Missing) != 3 || v.Missing[0].Subject != formulaSubject {
			t.Errorf("report %s: grade %s, missing %+v, err %v; want Poor, 3 missing, the formula as written", path, v.Grade, v.Missing, err)
		}
	})
}

// TestVerifyHelpSharesSyncFlags checks that verify takes sync's flags for
// the servers and the policy, and none of those that only make sense for
// writing.
func TestVerifyHelpSharesSyncFlags(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := Main(context.Background(), []string{"verify", "--help"}, &out, &errOut); code != ExitOK {
		t.Fatalf("verify --help exit %d: %s", code, errOut.String())
	}
	help := out.String()
	for _, side := range []string{"source", "dest"} {
		for _, f := range []string{"", "-user", "-password-file", "-security", "-auth-user", "-ca-file", "-insecure-skip-verify", "-cert-sha256"} {
			if flag := "--" + side + f + " "; !strings.Contains(help, flag) {
				t.Errorf("verify --help does not list %s", flag)
			}
		}
	}
	for _, flag := range []string{"--include-folder", "--exclude-folder", "--max-message-size", "--max-items", "--trace", "--json", "--report", "--all"} {
		if !strings.Contains(help, flag) {
			t.Errorf("verify --help does not list %s", flag)
		}
	}
	for _, flag := range []string{"--state", "--connections", "--dry-run"} {
		if strings.Contains(help, flag) {
			t.Errorf("verify --help lists %s, which only sync needs", flag)
		}
	}
}
