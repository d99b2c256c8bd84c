package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/imapmigrate/imapmigrate/internal/service"
	"github.com/imapmigrate/imapmigrate/internal/testserver"
)

const (
	batchName = "demo"
	// newMessages is how much mail arrives at the source between the
	// initial sync and `batch sync-now`.
	newMessages = 3
	// settleTimeout bounds every wait for the service; the demo fails
	// rather than hang when a batch never gets there.
	settleTimeout = 5 * time.Minute
)

// serviceFolders are the folders of every generated mailbox.
var serviceFolders = []string{"INBOX", "Sent", "Drafts", "Trash", "Archive/2023", "Projects/Alpha", "Entwürfe"}

// mailbox is one user of the batch, with the passwords the two servers know.
type mailbox struct {
	email, sourcePassword, destPassword string
}

// runService shows the migration service end to end, the way the README
// tells an administrator to run it: two Dovecot servers, `imapmigrate
// serve` on SQLite in a temporary data directory, and the CLI for every
// step. Two users are meant to fail (a wrong source password in the CSV
// file, no mailbox at the destination); anything else going wrong is an
// error.
func runService(bin string, users, perUser int, keep bool) (err error) {
	if users < 3 {
		return fmt.Errorf("-users %d: want at least 3 (one that migrates and the two that fail)", users)
	}
	if perUser < 1 {
		return fmt.Errorf("-user-messages %d: want at least 1", perUser)
	}
	// Ctrl-C, SIGTERM or a closed terminal stops everything (deferred below).
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	boxes := demoMailboxes(users)
	watched, badPassword, noMailbox := boxes[0], boxes[1], boxes[users/2+1]

	step("Two IMAP servers: %d mailboxes at the source, all but %s at the destination", users, noMailbox.email)
	src, dst, err := startServers(boxes, noMailbox)
	if err != nil {
		return err
	}
	defer src.Stop()
	defer dst.Stop()
	if err := seedMailboxes(ctx, src.Addr, boxes, perUser); err != nil {
		return err
	}

	step("Start the migration service on its embedded database (SQLite)")
	d, err := startServe(ctx, bin)
	if err != nil {
		return err
	}
	defer d.close(&err)

	step("Tell it about the two servers, and check a login at the source")
	if err := d.addEndpoint("src", src.Addr); err != nil {
		return err
	}
	if err := d.addEndpoint("dst", dst.Addr); err != nil {
		return err
	}
	pwFile, err := d.writeFile(strings.Split(watched.email, "@")[0]+".password", watched.sourcePassword+"\n")
	if err != nil {
		return err
	}
	if err := d.imapmigrate("endpoint", "test", "src", "--user", watched.email, "--password-file", pwFile); err != nil {
		return err
	}

	step("Create the batch from a CSV file; %s's source password in it is wrong", badPassword.email)
	csv, err := d.writeFile("users.csv", usersCSV(boxes, badPassword))
	if err != nil {
		return err
	}
	fmt.Printf("\n$ cat %s\n%s", csv, readFile(filepath.Join(d.dir, csv)))
	create := []string{"batch", "create", batchName, "--source-endpoint", "src", "--dest-endpoint", "dst", "--csv", csv}
	if err := d.imapmigrate(append(create, "--dry-run")...); err != nil {
		return err
	}
	if err := d.imapmigrate(append(create, "--start")...); err != nil {
		return err
	}

	step("Watch the initial sync")
	if err := d.waitBatch(ctx, service.BatchSyncedWithErrors); err != nil {
		return err
	}
	if err := d.imapmigrate("batch", "status", batchName); err != nil {
		return err
	}
	if err := d.imapmigrate("batch", "users", batchName); err != nil {
		return err
	}
	if err := d.checkUsers(perUser, badPassword, noMailbox); err != nil {
		return err
	}
	if err := d.imapmigrate("user", "status", watched.email); err != nil {
		return err
	}
	if err := d.imapmigrate("user", "status", noMailbox.email); err != nil {
		return err
	}

	step("New mail for %s at the source; sync now instead of in 24 hours", watched.email)
	if err := d.syncNow(ctx, src.Addr, watched); err != nil {
		return err
	}

	step("The batch report")
	if err := d.showReport(); err != nil {
		return err
	}

	step("Complete the batch (after switching the MX records): a last sync, then no more")
	if err := d.imapmigrate("batch", "complete", batchName); err != nil {
		return err
	}
	if err := d.waitBatch(ctx, service.BatchCompleted); err != nil {
		return err
	}
	if err := d.imapmigrate("batch", "list"); err != nil {
		return err
	}

	step("Prometheus metrics")
	if err := d.showMetrics(ctx); err != nil {
		return err
	}

	if keep {
		fmt.Printf("\nEverything keeps running; press Ctrl-C to stop.\n"+
			"  console and API: %s\n  data directory:  %s\n  admin token:     %s\n  serve log:       %s\n"+
			"Try the CLI in another terminal:\n  cd %s\n  export IMAPMIGRATE_SERVER=%s IMAPMIGRATE_DATA=%s\n  %s batch users %s\n",
			d.url, d.data, filepath.Join(d.data, "admin.token"), d.log, d.dir, d.url, d.data, d.bin, batchName)
		<-ctx.Done()
	}
	return nil
}

// step prints a heading, so the transcript reads like a tutorial.
func step(format string, args ...any) {
	fmt.Printf("\n== %s\n", fmt.Sprintf(format, args...))
}

// demoMailboxes names n users; the two servers know them with different
// passwords, as when moving to a new provider.
func demoMailboxes(n int) []mailbox {
	names := []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "niaj", "olivia", "peggy", "rupert", "sybil"}
	boxes := make([]mailbox, n)
	for i := range boxes {
		name := fmt.Sprintf("user%02d", i+1)
		if i < len(names) {
			name = names[i]
		}
		boxes[i] = mailbox{email: name + "@example.com", sourcePassword: name + "-old-pw", destPassword: name + "-new-pw"}
	}
	return boxes
}

// startServers starts the source with every mailbox and the destination
// with all but noMailbox.
func startServers(boxes []mailbox, noMailbox mailbox) (src, dst *testserver.Dovecot, err error) {
	srcUsers, dstUsers := map[string]string{}, map[string]string{}
	for _, b := range boxes {
		srcUsers[b.email] = b.sourcePassword
		if b != noMailbox {
			dstUsers[b.email] = b.destPassword
		}
	}
	src, err = testserver.Start(testserver.DovecotConfig{Users: srcUsers, SpecialUse: true})
	if err != nil {
		return nil, nil, fmt.Errorf("start source server: %w", err)
	}
	dst, err = testserver.Start(testserver.DovecotConfig{Users: dstUsers, SpecialUse: true})
	if err != nil {
		src.Stop()
		return nil, nil, fmt.Errorf("start destination server: %w", err)
	}
	fmt.Printf("source Dovecot at %s, destination Dovecot at %s\n", src.Addr, dst.Addr)
	return src, dst, nil
}

// seedMailboxes fills every source mailbox with its own generated mail.
func seedMailboxes(ctx context.Context, addr string, boxes []mailbox, perUser int) error {
	var total int64
	for i, b := range boxes {
		msgs := testserver.Corpus(testserver.CorpusOptions{Seed: int64(i + 1), Messages: perUser, Folders: serviceFolders, MinSize: 1 << 10, MaxSize: 40 << 10})
		for _, m := range msgs {
			total += int64(len(m.Raw))
		}
		if err := testserver.Seed(ctx, addr, b.email, b.sourcePassword, msgs); err != nil {
			return fmt.Errorf("seed source mailbox: %w", err)
		}
	}
	fmt.Printf("generated %d messages (%.1f MB) per mailbox, %.1f MB in all, in %d folders: %s\n",
		perUser, float64(total)/float64(len(boxes))/1e6, float64(total)/1e6, len(serviceFolders), strings.Join(serviceFolders, ", "))
	return nil
}

// usersCSV is the batch's CSV file, in Exchange Online's columns, with a
// wrong source password for badPassword.
func usersCSV(boxes []mailbox, badPassword mailbox) string {
	var b strings.Builder
	b.WriteString("EmailAddress,UserName,Password,DestinationUserName,DestinationPassword\n")
	for _, m := range boxes {
		pw := m.sourcePassword
		if m == badPassword {
			pw = "not-the-password"
		}
		fmt.Fprintf(&b, "%s,%s,%s,%s,%s\n", m.email, m.email, pw, m.email, m.destPassword)
	}
	return b.String()
}

// serviceDemo is a running `imapmigrate serve` and what the CLI needs to
// talk to it.
type serviceDemo struct {
	bin  string   // absolute path of the imapmigrate binary
	dir  string   // temporary working directory: CSV and password files, serve.log, data/
	data string   // IMAPMIGRATE_DATA
	url  string   // IMAPMIGRATE_SERVER
	log  string   // serve's log file
	env  []string // environment of every imapmigrate command

	serve    *exec.Cmd
	exited   chan struct{} // closed once serve has exited
	serveErr error         // serve's exit, once exited is closed
}

// startServe starts `imapmigrate serve` in a new temporary directory, with
// its settings in IMAPMIGRATE_* variables, and waits until it answers.
func startServe(ctx context.Context, bin string) (d *serviceDemo, err error) {
	if bin, err = filepath.Abs(bin); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "imapmigrate-service-demo-")
	if err != nil {
		return nil, err
	}
	listen := "127.0.0.1:" + strconv.Itoa(port)
	d = &serviceDemo{bin: bin, dir: dir, data: filepath.Join(dir, "data"), url: "http://" + listen,
		log: filepath.Join(dir, "serve.log"), exited: make(chan struct{})}
	// A variable left in the caller's shell (IMAPMIGRATE_TOKEN, say) must
	// not point the demo at another server or database.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "IMAPMIGRATE_") {
			d.env = append(d.env, kv)
		}
	}
	d.env = append(d.env, "IMAPMIGRATE_DATA="+d.data, "IMAPMIGRATE_SERVER="+d.url)
	settings := []string{"IMAPMIGRATE_LISTEN=" + listen, "IMAPMIGRATE_LOG_FORMAT=text", "IMAPMIGRATE_POLL=500ms"}

	logFile, err := os.Create(d.log)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	defer logFile.Close() // serve has its own copy
	d.serve = exec.Command(bin, "serve")
	d.serve.Dir, d.serve.Env = dir, append(slices.Clone(d.env), settings...)
	d.serve.Stdout, d.serve.Stderr = logFile, logFile
	fmt.Printf("\n$ cd %s\n$ export IMAPMIGRATE_DATA=$PWD/data IMAPMIGRATE_SERVER=%s\n$ %s imapmigrate serve >serve.log 2>&1 &\n",
		dir, d.url, strings.Join(settings, " "))
	if err := d.serve.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start imapmigrate serve: %w", err)
	}
	go func() {
		d.serveErr = d.serve.Wait()
		close(d.exited)
	}()
	if err := d.waitHealthy(ctx); err != nil {
		d.close(&err)
		return nil, err
	}
	fmt.Printf("serve answers at %s; its log is %s\n", d.url, d.log)
	return d, nil
}

// waitHealthy waits until serve answers GET /healthz.
func (d *serviceDemo) waitHealthy(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(d.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-d.exited:
			return fmt.Errorf("imapmigrate serve exited at start: %v", d.serveErr)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("imapmigrate serve does not answer at %s/healthz after 30s", d.url)
		}
	}
}

// close stops serve with SIGTERM, as a service manager would, and removes
// the directory. After a failure it shows the end of serve's log first, as
// the directory holding it is about to go.
func (d *serviceDemo) close(errp *error) {
	select {
	case <-d.exited:
		// Gone already: Ctrl-C reached it too (exit 0), or it died, which
		// the step that was waiting on it reports.
		if d.serveErr != nil && *errp == nil {
			*errp = fmt.Errorf("imapmigrate serve exited: %w", d.serveErr)
		}
	default:
		d.serve.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.exited:
		case <-time.After(20 * time.Second):
			d.serve.Process.Kill()
			<-d.exited
		}
		if d.serveErr != nil {
			*errp = errors.Join(*errp, fmt.Errorf("stop imapmigrate serve with SIGTERM: %w", d.serveErr))
		}
	}
	if *errp != nil {
		fmt.Fprintf(os.Stderr, "\nlast lines of %s:\n%s", d.log, lastLines(readFile(d.log), 30))
	}
	os.RemoveAll(d.dir)
}

// addEndpoint registers a loopback Dovecot without TLS.
func (d *serviceDemo) addEndpoint(name, addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	return d.imapmigrate("endpoint", "add", name, "--host", host, "--port", port, "--security", "none")
}

// checkUsers makes sure the initial sync went as planned: the two users
// meant to fail are Failed, with a reason, and every other mailbox is
// Synced with all its messages at the destination.
func (d *serviceDemo) checkUsers(perUser int, failing ...mailbox) error {
	var users []service.User
	if err := d.query(&users, "batch", "users", batchName); err != nil {
		return err
	}
	var problems []string
	for _, u := range users {
		switch {
		case slices.ContainsFunc(failing, func(m mailbox) bool { return m.email == u.EmailAddress }):
			if u.Status != service.UserFailed || u.LastError == "" {
				problems = append(problems, fmt.Sprintf("%s is %s (error %q); want Failed with a reason", u.EmailAddress, u.Status, u.LastError))
			}
		case u.Status != service.UserSynced || u.ItemsSynced != int64(perUser):
			problems = append(problems, fmt.Sprintf("%s is %s with %d messages synced; want Synced with %d", u.EmailAddress, u.Status, u.ItemsSynced, perUser))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("check the users of batch %q:\n  %s", batchName, strings.Join(problems, "\n  "))
	}
	fmt.Printf("\nAs planned: %d mailboxes synced with %d messages each, and these two failed:\n", len(users)-len(failing), perUser)
	for _, u := range users {
		if u.Status == service.UserFailed {
			fmt.Printf("  %s: %s\n", u.EmailAddress, u.LastError)
		}
	}
	return nil
}

// syncNow delivers new mail to m at the source, asks for an incremental
// sync and waits until m's mailbox has it.
func (d *serviceDemo) syncNow(ctx context.Context, srcAddr string, m mailbox) error {
	var before service.User
	if err := d.query(&before, "user", "status", m.email); err != nil {
		return err
	}
	if err := testserver.Seed(ctx, srcAddr, m.email, m.sourcePassword, newMail(m.email)); err != nil {
		return fmt.Errorf("deliver new mail at the source: %w", err)
	}
	fmt.Printf("%d new messages delivered to %s's INBOX at the source\n", newMessages, m.email)
	asked := time.Now().Truncate(time.Millisecond) // the service keeps milliseconds
	if err := d.imapmigrate("batch", "sync-now", batchName); err != nil {
		return err
	}
	fmt.Printf("\n$ imapmigrate user status %s --json   # every second, until its last sync is newer\n", m.email)
	var after service.User
	err := poll(ctx, func(elapsed time.Duration) (bool, error) {
		if err := d.query(&after, "user", "status", m.email); err != nil {
			return false, err
		}
		fmt.Printf("  %3.0fs  %-18s %d messages synced\n", elapsed.Seconds(), after.Status, after.ItemsSynced)
		return after.LastSync != nil && after.LastSync.After(asked) && after.Status == service.UserSynced, nil
	})
	if err != nil {
		return fmt.Errorf("wait for the incremental sync of %s: %w", m.email, err)
	}
	fmt.Printf("%s: ItemsSynced %d -> %d\n", m.email, before.ItemsSynced, after.ItemsSynced)
	if want := before.ItemsSynced + newMessages; after.ItemsSynced != want {
		return fmt.Errorf("incremental sync of %s: %d messages synced; want %d", m.email, after.ItemsSynced, want)
	}
	return nil
}

// newMail is mail that arrives after the initial sync.
func newMail(to string) []testserver.Message {
	msgs := make([]testserver.Message, newMessages)
	now := time.Now().UTC().Truncate(time.Second)
	for i := range msgs {
		raw := fmt.Sprintf("From: Bob <bob@example.org>\r\nTo: %s\r\nSubject: New mail %d, after the initial sync\r\n"+
			"Message-ID: <service-demo-new-%d@example.org>\r\nDate: %s\r\n\r\nArrived while the migration was running.\r\n",
			to, i+1, i+1, now.Format(time.RFC1123Z))
		msgs[i] = testserver.Message{Folder: "INBOX", Raw: []byte(raw), Date: now}
	}
	return msgs
}

// showReport prints the start of the batch's CSV report.
func (d *serviceDemo) showReport() error {
	out, err := d.output("batch", "report", batchName, "--format", "csv")
	if err != nil {
		return err
	}
	lines := strings.SplitAfter(strings.TrimRight(string(out), "\n"), "\n")
	const show = 12
	if len(lines) <= show {
		fmt.Println(string(out))
		return nil
	}
	fmt.Printf("%s\n... (%d more lines)\n", strings.Join(lines[:show], ""), len(lines)-show)
	return nil
}

// showMetrics prints the service's own Prometheus metrics, histogram
// buckets left out.
func (d *serviceDemo) showMetrics(ctx context.Context) error {
	fmt.Printf("\nGET %s/metrics   # imapmigrate_* lines, without histogram buckets\n", d.url)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.url+"/metrics", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("get metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("get metrics: %s", resp.Status)
	}
	var n int
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "imapmigrate_") && !strings.Contains(line, "_bucket{") {
			fmt.Println(line)
			n++
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read metrics: %w", err)
	}
	if n == 0 {
		return errors.New("get metrics: no imapmigrate_* metric")
	}
	return nil
}

// waitBatch polls `batch status` every second, printing a progress line,
// until the batch is in state want. Any other settled state is an error.
func (d *serviceDemo) waitBatch(ctx context.Context, want string) error {
	settled := []string{service.BatchSynced, service.BatchSyncedWithErrors, service.BatchCompleted,
		service.BatchStopped, service.BatchFailed}
	fmt.Printf("\n$ imapmigrate batch status %s --json   # every second, until %s\n", batchName, want)
	err := poll(ctx, func(elapsed time.Duration) (bool, error) {
		var b service.Batch
		if err := d.query(&b, "batch", "status", batchName); err != nil {
			return false, err
		}
		t := b.Totals
		fmt.Printf("  %3.0fs  %-16s users: %s; %d messages at the destination", elapsed.Seconds(), b.State, usersByState(t.UsersByState), t.ItemsSynced)
		if t.ItemsToCopy > 0 {
			fmt.Printf("; this pass %d/%d", t.ItemsCopied, t.ItemsToCopy)
		}
		fmt.Println()
		if b.State != want && slices.Contains(settled, b.State) {
			return false, fmt.Errorf("batch %q is %s; want %s", batchName, b.State, want)
		}
		return b.State == want, nil
	})
	if err != nil {
		return fmt.Errorf("wait for batch %q to be %s: %w", batchName, want, err)
	}
	return nil
}

// usersByState reads "6 Synced, 2 Failed", in the order of the life of a user.
func usersByState(by map[string]int) string {
	order := []string{service.UserQueued, service.UserValidating, service.UserSyncing, service.UserSynced,
		service.UserIncrementalSyncing, service.UserCompleting, service.UserCompleted, service.UserFailed, service.UserStopped}
	var parts []string
	for _, s := range order {
		if by[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", by[s], s))
		}
	}
	for s, n := range by {
		if !slices.Contains(order, s) && n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, s))
		}
	}
	return strings.Join(parts, ", ")
}

// poll calls check every second until it reports done, fails, or
// settleTimeout passes.
func poll(ctx context.Context, check func(elapsed time.Duration) (done bool, err error)) error {
	start := time.Now()
	for {
		done, err := check(time.Since(start))
		if done || err != nil {
			return err
		}
		if time.Since(start) > settleTimeout {
			return fmt.Errorf("still not there after %s", settleTimeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// imapmigrate runs the CLI as a tutorial shows it: the command line, then
// its output. A non-zero exit is an error.
func (d *serviceDemo) imapmigrate(args ...string) error {
	fmt.Printf("\n$ imapmigrate %s\n", shellJoin(args))
	cmd := d.command(args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("imapmigrate %s: %w", shellJoin(args), err)
	}
	return nil
}

// output is imapmigrate, but returns the output instead of printing it.
func (d *serviceDemo) output(args ...string) ([]byte, error) {
	fmt.Printf("\n$ imapmigrate %s\n", shellJoin(args))
	cmd := d.command(args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("imapmigrate %s: %w", shellJoin(args), err)
	}
	return out, nil
}

// query runs a command with --json, quietly, and decodes its answer into v.
func (d *serviceDemo) query(v any, args ...string) error {
	args = append(args, "--json")
	cmd := d.command(args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("imapmigrate %s: %w: %s", shellJoin(args), err, strings.TrimSpace(stderr.String()))
	}
	if err := json.Unmarshal(out, v); err != nil {
		return fmt.Errorf("imapmigrate %s: read its JSON: %w", shellJoin(args), err)
	}
	return nil
}

func (d *serviceDemo) command(args ...string) *exec.Cmd {
	cmd := exec.Command(d.bin, args...)
	cmd.Dir, cmd.Env = d.dir, d.env
	return cmd
}

// writeFile writes a file for the CLI into the working directory, readable
// by the owner only (it holds passwords), and returns its relative name.
func (d *serviceDemo) writeFile(name, content string) (string, error) {
	if err := os.WriteFile(filepath.Join(d.dir, name), []byte(content), 0o600); err != nil {
		return "", err
	}
	return name, nil
}

// freePort asks the kernel for a loopback port that is free now.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// shellJoin quotes the arguments that a shell would split or expand.
func shellJoin(args []string) string {
	quoted := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\n'\"\\$`*?[]{}()<>|&;#~!") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		quoted[i] = a
	}
	return strings.Join(quoted, " ")
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

func lastLines(s string, n int) string {
	lines := strings.SplitAfter(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "")
}
