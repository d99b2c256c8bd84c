package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/imapmigrate/imapmigrate/internal/api"
	"github.com/imapmigrate/imapmigrate/internal/api/apitest"
	"github.com/imapmigrate/imapmigrate/internal/service"
)

const remoteToken = "cli-test-token"

// remoteBundle is a running API over a fake service, and the flags that
// point the commands at it.
type remoteBundle struct {
	fake    *apitest.Fake
	url     string
	dataDir string
	dir     string // for the test's files
}

// setupRemote starts the API with endpoints "old" and "new" and writes the
// token file. The environment is cleared of the variables the commands
// read, so the developer's own settings do not leak in.
func setupRemote(t *testing.T) *remoteBundle {
	t.Helper()
	for _, env := range []string{serverEnv, tokenEnv, dataEnv, "IMAPMIGRATE_ADMIN_PASSWORD", "IMAPMIGRATE_TEST_PASSWORD"} {
		t.Setenv(env, "")
	}
	rb := &remoteBundle{fake: apitest.NewFake(), dataDir: t.TempDir(), dir: t.TempDir()}
	srv := httptest.NewServer(api.New(rb.fake, remoteToken, slog.New(slog.DiscardHandler)))
	t.Cleanup(srv.Close)
	rb.url = srv.URL
	if err := os.WriteFile(filepath.Join(rb.dataDir, tokenFile), []byte(remoteToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"old", "new"} {
		if _, err := rb.fake.AddEndpoint(context.Background(), service.EndpointSpec{Endpoint: service.Endpoint{Name: name, Host: "imap." + name + ".example.com", Port: 993, Security: "tls"}}); err != nil {
			t.Fatal(err)
		}
	}
	return rb
}

// file writes a file for the test and returns its path.
func (rb *remoteBundle) file(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(rb.dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// run runs the command line against the server, with --server and --data
// added unless the test sets them.
func (rb *remoteBundle) run(args ...string) (code int, stdout, stderr string) {
	joined := strings.Join(args, " ")
	if !strings.Contains(joined, "--server") {
		args = append(args, "--server", rb.url)
	}
	if !strings.Contains(joined, "--data") {
		args = append(args, "--data", rb.dataDir)
	}
	return runRemoteCLI(args...)
}

// runRemoteCLI runs the remote commands as Main does once they are added
// to its table.
func runRemoteCLI(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	root := &cobra.Command{Use: "imapmigrate", SilenceUsage: true, SilenceErrors: true}
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.AddCommand(newEndpointCmd(&out, &errOut), newBatchCmd(&out, &errOut), newUserCmd(&out, &errOut))
	err := root.ExecuteContext(context.Background())
	var ee *exitError
	switch {
	case err == nil:
		code = ExitOK
	case errors.As(err, &ee):
		code = ee.code
		errOut.WriteString("imapmigrate: " + err.Error() + "\n")
	default:
		code = ExitUsage
		errOut.WriteString("imapmigrate: " + err.Error() + "\n")
	}
	return code, out.String(), errOut.String()
}

const twoUsersCSV = "EmailAddress,UserName,Password\nalice@example.com,alice,Alic3-pw\nbob@example.com,bob,B0b-pw\n"

// mustRun runs a command that must succeed and returns its output.
func (rb *remoteBundle) mustRun(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errOut := rb.run(args...)
	if code != ExitOK {
		t.Fatalf("imapmigrate %s = exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

func wantLines(t *testing.T, cmd, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("%s: output lacks %q:\n%s", cmd, w, out)
		}
	}
}

func TestEndpointCommands(t *testing.T) {
	rb := setupRemote(t)
	pwFile := rb.file(t, "admin.pw", "Adm1n-secret\n")
	out := rb.mustRun(t, "endpoint", "add", "dovecot", "--host", "mail.example.org", "--port", "143", "--security", "starttls",
		"--credentials", "admin", "--admin-format", "dovecot", "--admin-user", "migrator", "--admin-password-file", pwFile)
	wantLines(t, "endpoint add", out, `endpoint "dovecot" added: mail.example.org:143 starttls, credentials admin`, "imapmigrate endpoint test dovecot")

	out = rb.mustRun(t, "endpoint", "list")
	wantLines(t, "endpoint list", out, "NAME", "MAX MIGRATIONS", "CONNECTIONS (SRC/DST)", "dovecot", "mail.example.org", "migrator (dovecot, password set)", "old", "imap.old.example.com")

	testPw := rb.file(t, "user.pw", "Us3r-secret")
	out = rb.mustRun(t, "endpoint", "test", "dovecot", "--user", "alice", "--password-file", testPw)
	wantLines(t, "endpoint test", out, "logged in as alice in 0.42s", "Capabilities:\n  IMAP4rev1 SASL-IR", "CONDSTORE",
		`"Other Users/"  separator "/"`, `Hierarchy separator: "/"`, "Folders: 7")
	for _, line := range strings.Split(out, "\n") {
		if len(line) > 80 {
			t.Errorf("endpoint test: line longer than 80 characters: %q", line)
		}
	}
	out = rb.mustRun(t, "endpoint", "test", "dovecot")
	wantLines(t, "endpoint test (admin)", out, "logged in as migrator")

	if got := rb.fake.Secrets(); strings.Join(got, ",") != "Adm1n-secret,Us3r-secret" {
		t.Errorf("the service got passwords %q; want the files' contents without line end", got)
	}
	out = rb.mustRun(t, "endpoint", "remove", "dovecot")
	wantLines(t, "endpoint remove", out, `endpoint "dovecot" removed`)
}

func TestBatchCommands(t *testing.T) {
	rb := setupRemote(t)
	csvFile := rb.file(t, "users.csv", twoUsersCSV)
	create := []string{"batch", "create", "spring", "--source-endpoint", "old", "--dest-endpoint", "new", "--csv", csvFile,
		"--exclude-folder", "Junk*", "--max-message-size", "50MiB", "--received-after", "2024-01-31", "--notify", "a@x,b@y", "--incremental-interval", "12h"}

	out := rb.mustRun(t, append(create, "--dry-run")...)
	wantLines(t, "batch create --dry-run", out, `Dry run: nothing was created. Batch "spring" would have 2 users`,
		"LINE  EMAIL", "2     alice@example.com  alice", "3     bob@example.com    bob")
	out = rb.mustRun(t, create...)
	wantLines(t, "batch create", out, `batch "spring" created with 2 users: Created`, "imapmigrate batch start spring")

	out = rb.mustRun(t, "batch", "start", "spring")
	wantLines(t, "batch start", out, `batch "spring": Syncing`)
	csv2 := rb.file(t, "more.csv", "EmailAddress,UserName,Password\ncarol@example.com,carol,C4rol-pw\n")
	out = rb.mustRun(t, "batch", "add-users", "spring", "--csv", csv2)
	wantLines(t, "batch add-users", out, `added 1 users to batch "spring"`)

	synced := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	rb.fake.PutUser(service.User{Batch: "spring", EmailAddress: "alice@example.com", SourceUser: "alice", Status: service.UserSynced,
		ItemsSynced: 1200, ItemsSkipped: 3, Bytes: 5 << 20, LastSync: &synced})
	rb.fake.PutUser(service.User{Batch: "spring", EmailAddress: "bob@example.com", SourceUser: "bob", Status: service.UserFailed,
		LastError: "log in to the source as bob: NO [AUTHENTICATIONFAILED] Authentication failed, and this text goes on for a while"})

	out = rb.mustRun(t, "batch", "status", "spring")
	wantLines(t, "batch status", out, "State:", "Syncing", "old to new", "3 (Queued 1, Synced 1, Failed 1)",
		"1200 synced, 3 skipped, 0 failed", "5.0 MiB", "Exclude folders:", "Junk*", "50.0 MiB", "2024-01-31 00:00", "a@x, b@y", "every 12h0m0s")

	out = rb.mustRun(t, "batch", "list")
	wantLines(t, "batch list", out, "NAME    STATE    USERS  SYNCED  FAILED  BLOCKED  ITEMS  SKIPPED  LAST SYNC", "spring  Syncing  3      1       1       0        1200   3")

	out = rb.mustRun(t, "batch", "users", "spring")
	wantLines(t, "batch users", out, "EMAIL", "LAST SYNC", "alice@example.com  Synced", "5.0 MiB", "bob@example.com    Failed",
		"log in to the source as bob: NO [AUTHENTICATIONFAILED] Auth…")
	if strings.Contains(out, "goes on") {
		t.Errorf("batch users: the error is not shortened:\n%s", out)
	}

	out = rb.mustRun(t, "batch", "report", "spring")
	wantLines(t, "batch report", out, "Record,EmailAddress,Status", "user,alice@example.com,Synced,,1200,3,0,5242880,2026-03-01T12:00:00Z")
	reportFile := filepath.Join(rb.dir, "report.json")
	out = rb.mustRun(t, "batch", "report", "spring", "--format", "json", "--output", reportFile)
	wantLines(t, "batch report --output", out, "written to "+reportFile)
	var users []service.User
	if b, err := os.ReadFile(reportFile); err != nil || json.Unmarshal(b, &users) != nil || len(users) != 3 {
		t.Errorf("batch report --format json: %s is not the JSON of 3 users (%v)", reportFile, err)
	}

	for _, verb := range []string{"sync-now", "retry-failed", "complete", "stop"} {
		rb.mustRun(t, "batch", verb, "spring")
	}
	out = rb.mustRun(t, "batch", "remove", "spring")
	wantLines(t, "batch remove", out, "removal started: mail is never deleted")
	out = rb.mustRun(t, "batch", "list")
	wantLines(t, "batch list (empty)", out, "No batches")
}

func TestUserStatus(t *testing.T) {
	rb := setupRemote(t)
	rb.mustRun(t, "batch", "create", "spring", "--source-endpoint", "old", "--dest-endpoint", "new", "--csv", rb.file(t, "u.csv", twoUsersCSV))
	when := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	rb.fake.PutUser(service.User{
		Batch: "spring", EmailAddress: "alice@example.com", SourceUser: "alice", DestUser: "alice@example.com", Status: service.UserSynced,
		ItemsSynced: 120, ItemsSkipped: 2, ItemsFailed: 1, Bytes: 4096, LastSync: &when, Duration: 42,
		SkippedBy: map[string]int64{"too_large": 2}, LastError: "append to Sent: NO [OVERQUOTA]",
		Folders: []service.Folder{
			{Source: "INBOX", Destination: "INBOX", Status: "synced", SourceCount: 100, DestCount: 100, Copied: 100, Bytes: 3000},
			{Source: "Projects/2025", Destination: "Projects/2025", Status: "synced", SourceCount: 23, DestCount: 20, Copied: 20,
				Skipped: map[string]int{"too_large": 2}, Failed: 1, Bytes: 1096},
		},
		SkippedItems: []service.Item{{Folder: "Projects/2025", UID: 7, Date: when, Subject: "Big scan\x1b[2J", Size: 40 << 20, Reason: "too_large"}},
		FailedItems:  []service.Item{{Folder: "Projects/2025", UID: 9, Date: when, Subject: "Broken", Size: 10, Reason: "rejected", Detail: "NO [TOOBIG]"}},
	})
	out := rb.mustRun(t, "user", "status", "alice@example.com")
	wantLines(t, "user status", out, "alice@example.com (batch spring)", "Synced", "120 synced, 2 skipped, 1 failed", "(took 42s)",
		"Skipped, too_large: 2", "append to Sent: NO [OVERQUOTA]",
		"SOURCE FOLDER", "Projects/2025  Projects/2025  synced  23      20    20      2 too_large  1",
		"Skipped messages:", "Projects/2025  7    ", "40.0 MiB", "Big scan [2J", "Failed messages:", "NO [TOOBIG]")
	if strings.Contains(out, "\x1b") {
		t.Errorf("user status printed an escape sequence from a subject: %q", out)
	}
}

// TestRemoteJSON checks that --json prints what the API answered.
func TestRemoteJSON(t *testing.T) {
	rb := setupRemote(t)
	csvFile := rb.file(t, "u.csv", twoUsersCSV)
	tests := []struct {
		args []string
		into any
	}{
		{[]string{"batch", "create", "spring", "--source-endpoint", "old", "--dest-endpoint", "new", "--csv", csvFile, "--dry-run"}, &service.BatchPlan{}},
		{[]string{"batch", "create", "spring", "--source-endpoint", "old", "--dest-endpoint", "new", "--csv", csvFile}, &service.Batch{}},
		{[]string{"batch", "start", "spring"}, &service.Batch{}},
		{[]string{"batch", "status", "spring"}, &service.Batch{}},
		{[]string{"batch", "list"}, &[]service.Batch{}},
		{[]string{"batch", "users", "spring"}, &[]service.User{}},
		{[]string{"batch", "report", "spring"}, &[]service.User{}},
		{[]string{"batch", "add-users", "spring", "--csv", rb.file(t, "c.csv", "EmailAddress,UserName,Password\nc@x,c,p\n")}, &api.AddUsersResponse{}},
		{[]string{"user", "status", "alice@example.com"}, &service.User{}},
		{[]string{"endpoint", "list"}, &[]service.Endpoint{}},
		{[]string{"endpoint", "test", "old"}, &service.EndpointTest{}},
		{[]string{"endpoint", "add", "x", "--host", "h"}, &service.Endpoint{}},
	}
	for _, tc := range tests {
		out := rb.mustRun(t, append(tc.args, "--json")...)
		dec := json.NewDecoder(strings.NewReader(out))
		dec.DisallowUnknownFields()
		if err := dec.Decode(tc.into); err != nil {
			t.Errorf("imapmigrate %s --json: %v:\n%s", strings.Join(tc.args, " "), err, out)
		}
	}
}

func TestRemoteExitCodes(t *testing.T) {
	closed := httptest.NewServer(nil)
	closed.Close()
	tests := []struct {
		name   string
		setup  func(t *testing.T, rb *remoteBundle) []string
		code   int
		stderr []string
	}{
		{"WrongToken", func(t *testing.T, rb *remoteBundle) []string {
			rb.file(t, tokenFile, "stale-token\n")
			return []string{"batch", "list", "--data", rb.dir}
		}, ExitAuth, []string{"refused the API token read from " + "DIR/" + tokenFile}},
		{"WrongTokenFromEnv", func(t *testing.T, rb *remoteBundle) []string {
			t.Setenv(tokenEnv, "stale-token")
			return []string{"batch", "list"}
		}, ExitAuth, []string{"refused the API token read from $IMAPMIGRATE_TOKEN"}},
		{"NoTokenFile", func(t *testing.T, rb *remoteBundle) []string {
			return []string{"batch", "list", "--data", filepath.Join(rb.dir, "nowhere")}
		}, ExitAuth, []string{"no API token", "nowhere/admin.token", "IMAPMIGRATE_TOKEN", "imapmigrate serve"}},
		{"Unreachable", func(t *testing.T, rb *remoteBundle) []string {
			return []string{"batch", "list", "--server", closed.URL}
		}, ExitConnect, []string{"cannot reach the imapmigrate server at " + closed.URL, "imapmigrate serve"}},
		{"UnreachableFromEnv", func(t *testing.T, rb *remoteBundle) []string {
			t.Setenv(serverEnv, closed.URL)
			return []string{"endpoint", "list", "--data", rb.dataDir, "--server", ""}
		}, ExitConnect, []string{closed.URL}},
		{"BadServerURL", func(t *testing.T, rb *remoteBundle) []string {
			return []string{"batch", "list", "--server", "127.0.0.1:8080"}
		}, ExitUsage, []string{"want a URL"}},
		{"NotFound", func(t *testing.T, rb *remoteBundle) []string {
			return []string{"batch", "status", "nope"}
		}, ExitInternal, []string{`batch "nope": not found`}},
		{"UserNotFound", func(t *testing.T, rb *remoteBundle) []string {
			return []string{"user", "status", "nobody@example.com"}
		}, ExitInternal, []string{`user "nobody@example.com": not found`}},
		{"Conflict", func(t *testing.T, rb *remoteBundle) []string {
			rb.mustRun(t, "batch", "create", "b", "--source-endpoint", "old", "--dest-endpoint", "new", "--csv", rb.file(t, "u.csv", twoUsersCSV))
			return []string{"batch", "complete", "b"}
		}, ExitInternal, []string{`complete batch "b": it is Created: conflict`}},
		{"InvalidEndpoint", func(t *testing.T, rb *remoteBundle) []string {
			return []string{"endpoint", "add", "nohost"}
		}, ExitUsage, []string{"name and host are required"}},
		{"CSVProblems", func(t *testing.T, rb *remoteBundle) []string {
			csv := rb.file(t, "bad.csv", "EmailAddress,UserName,Password\nok@example.com,ok,pw\nbob@,bob,pw\ncarol,carol,\n")
			return []string{"batch", "create", "b", "--source-endpoint", "old", "--dest-endpoint", "new", "--csv", csv}
		}, ExitUsage, []string{"line 3: EmailAddress \"bob@\": missing domain\nline 4: EmailAddress \"carol\": missing domain\nline 4: Password is empty\n", "3 problem(s)"}},
		{"IMAPServerRefused", func(t *testing.T, rb *remoteBundle) []string {
			// A server may put escape sequences in its answer text.
			rb.fake.Fail(fmt.Errorf("test endpoint %q: endpoint old 127.0.0.1:1143: login as alice: imap: NO [AUTHENTICATIONFAILED] Authentication\x1b[2J failed.: %w", "old", service.ErrRemote))
			t.Setenv("IMAPMIGRATE_TEST_PASSWORD", "pw")
			return []string{"endpoint", "test", "old", "--user", "alice"}
		}, ExitConnect, []string{`imapmigrate: test endpoint "old": endpoint old 127.0.0.1:1143: login as alice: imap: NO [AUTHENTICATIONFAILED] Authentication [2J failed.`}},
		{"Internal", func(t *testing.T, rb *remoteBundle) []string {
			rb.fake.Fail(errors.New("database is locked"))
			return []string{"batch", "list"}
		}, ExitInternal, []string{"imapmigrate: internal error"}},
		{"MissingName", func(t *testing.T, rb *remoteBundle) []string {
			return []string{"batch", "start"}
		}, ExitUsage, []string{"accepts 1 arg"}},
		{"NoCSV", func(t *testing.T, rb *remoteBundle) []string {
			return []string{"batch", "create", "b", "--source-endpoint", "old", "--dest-endpoint", "new"}
		}, ExitUsage, []string{"--csv is required"}},
		{"ZeroMessageSize", func(t *testing.T, rb *remoteBundle) []string {
			return []string{"batch", "create", "b", "--source-endpoint", "old", "--dest-endpoint", "new", "--csv", "x", "--max-message-size", "0"}
		}, ExitUsage, []string{"--max-message-size"}},
		{"BadDate", func(t *testing.T, rb *remoteBundle) []string {
			return []string{"batch", "create", "b", "--source-endpoint", "old", "--dest-endpoint", "new", "--csv", "x", "--received-after", "31/01/2024"}
		}, ExitUsage, []string{"--received-after", "2006-01-02 or RFC 3339"}},
		{"TestPasswordWithoutUser", func(t *testing.T, rb *remoteBundle) []string {
			return []string{"endpoint", "test", "old", "--password-file", rb.file(t, "pw", "x")}
		}, ExitUsage, []string{"--password-file needs --user"}},
		{"TestUserWithoutPassword", func(t *testing.T, rb *remoteBundle) []string {
			return []string{"endpoint", "test", "old", "--user", "alice"}
		}, ExitUsage, []string{"no password for --user alice"}},
		{"ReportFormat", func(t *testing.T, rb *remoteBundle) []string {
			return []string{"batch", "report", "b", "--format", "xlsx"}
		}, ExitUsage, []string{"want csv, json or html"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rb := setupRemote(t)
			args := tc.setup(t, rb)
			code, out, errOut := rb.run(args...)
			if code != tc.code {
				t.Errorf("imapmigrate %s = exit %d; want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, tc.code, out, errOut)
			}
			for _, w := range tc.stderr {
				if w = strings.ReplaceAll(w, "DIR", rb.dir); !strings.Contains(errOut, w) {
					t.Errorf("imapmigrate %s: stderr lacks %q:\n%s", strings.Join(args, " "), w, errOut)
				}
			}
			if strings.ContainsRune(errOut, 0x1b) {
				t.Errorf("imapmigrate %s: stderr has an escape character: %q", strings.Join(args, " "), errOut)
			}
		})
	}
}

// TestRemotePasswordsNeverPrinted sends passwords every way the commands
// take them and greps all output for them.
func TestRemotePasswordsNeverPrinted(t *testing.T) {
	rb := setupRemote(t)
	t.Setenv("IMAPMIGRATE_ADMIN_PASSWORD", "Env-adm1n-pw")
	t.Setenv("IMAPMIGRATE_TEST_PASSWORD", "Env-t3st-pw")
	passwords := []string{"Env-adm1n-pw", "Env-t3st-pw", "F1le-adm1n-pw", "F1le-t3st-pw", "Alic3-pw", "B0b-pw", "Bad-r0w-pw"}
	csvFile := rb.file(t, "u.csv", twoUsersCSV)
	badCSV := rb.file(t, "bad.csv", "EmailAddress,UserName,Password\nbob@,bob,Bad-r0w-pw\n")
	commands := [][]string{
		{"endpoint", "add", "a", "--host", "h", "--credentials", "admin", "--admin-user", "adm"},
		{"endpoint", "add", "b", "--host", "h", "--credentials", "admin", "--admin-user", "adm", "--admin-password-file", rb.file(t, "adm.pw", "F1le-adm1n-pw\n")},
		{"endpoint", "add", "b", "--host", "h", "--admin-password-file", rb.file(t, "adm2.pw", "F1le-adm1n-pw")},
		{"endpoint", "test", "a", "--user", "alice"},
		{"endpoint", "test", "b", "--user", "alice", "--password-file", rb.file(t, "t.pw", "F1le-t3st-pw")},
		{"endpoint", "list"},
		{"endpoint", "list", "--json"},
		{"batch", "create", "s", "--source-endpoint", "a", "--dest-endpoint", "b", "--csv", csvFile, "--dry-run"},
		{"batch", "create", "s", "--source-endpoint", "a", "--dest-endpoint", "b", "--csv", csvFile, "--dry-run", "--json"},
		{"batch", "create", "s", "--source-endpoint", "a", "--dest-endpoint", "b", "--csv", csvFile},
		{"batch", "create", "t", "--source-endpoint", "a", "--dest-endpoint", "b", "--csv", badCSV},
		{"batch", "add-users", "s", "--csv", badCSV},
		{"batch", "status", "s", "--json"},
		{"batch", "users", "s"},
		{"batch", "users", "s", "--json"},
		{"batch", "report", "s"},
		{"batch", "report", "s", "--format", "json"},
		{"user", "status", "alice@example.com"},
		{"user", "status", "alice@example.com", "--json"},
	}
	var all strings.Builder
	for _, args := range commands {
		_, out, errOut := rb.run(args...)
		all.WriteString(out + errOut)
	}
	got := strings.Join(rb.fake.Secrets(), ",")
	for _, pw := range passwords {
		if !strings.Contains(got, pw) {
			t.Errorf("the service never got password %q (got %q)", pw, got)
		}
		if strings.Contains(all.String(), pw) {
			t.Errorf("password %q was printed:\n%s", pw, all.String())
		}
	}
}

func TestParseWhen(t *testing.T) {
	local := func(s string) time.Time {
		tm, err := time.ParseInLocation("2006-01-02 15:04", s, time.Local)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	tests := []struct {
		in, layout string
		want       time.Time
		ok         bool
	}{
		{"2024-01-31", "2006-01-02", local("2024-01-31 00:00"), true},
		{"2026-12-01 18:00", "2006-01-02 15:04", local("2026-12-01 18:00"), true},
		{"2026-12-01T18:00:00+01:00", "2006-01-02 15:04", time.Date(2026, 12, 1, 17, 0, 0, 0, time.UTC), true},
		{"2024-01-31", "2006-01-02 15:04", time.Time{}, false},
		{"yesterday", "2006-01-02", time.Time{}, false},
	}
	for _, tc := range tests {
		got, err := parseWhen(tc.in, tc.layout)
		if (err == nil) != tc.ok || (tc.ok && !got.Equal(tc.want)) {
			t.Errorf("parseWhen(%q, %q) = %v, %v; want %v, ok=%v", tc.in, tc.layout, got, err, tc.want, tc.ok)
		}
	}
	if got, err := parseWhen("", "2006-01-02"); got != nil || err != nil {
		t.Errorf("parseWhen(\"\") = %v, %v; want nil, nil", got, err)
	}
}

func TestWrapWords(t *testing.T) {
	tests := []struct {
		words []string
		width int
		want  []string
	}{
		{[]string{"IMAP4rev1", "IDLE", "MOVE"}, 14, []string{"IMAP4rev1 IDLE", "MOVE"}},
		{[]string{"AUTH=SCRAM-SHA-256-PLUS", "X"}, 10, []string{"AUTH=SCRAM-SHA-256-PLUS", "X"}},
		{nil, 10, nil},
	}
	for _, tc := range tests {
		if got := wrapWords(tc.words, tc.width); strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("wrapWords(%q, %d) = %q; want %q", tc.words, tc.width, got, tc.want)
		}
	}
}
