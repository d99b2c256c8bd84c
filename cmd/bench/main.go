// Command bench measures imapmigrate beside mbsync and Dovecot's own dsync
// (doveadm backup over imapc) with the shared benchmark harness
// (../shared/bench: two Dovecot servers on loopback, a generated corpus,
// every destination verified message by message), and prints one table.
//
// Each round runs every tool once, in a rotated order, so that a burst of
// load on this shared machine does not land on one tool's runs only; the
// table shows medians with their range, and the ratio to mbsync within
// each round. Per tool and round: the harness's full pass and incremental
// pass (+1 % new messages, flags changed on 1 %), then a pass with no
// change at all, timed and verified here. Finally, unless -service=false,
// the full corpus again as one batch through `imapmigrate serve` and its
// CLI, all mailboxes at once, for the service's aggregate throughput.
//
// `make bench` runs it on the small corpus; `make bench PROFILE=medium`
// on the medium one. Everything it writes is under $BENCH_ROOT
// (/tmp/imapbench by default); the table is also saved there.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// harnessPassword is every harness mailbox's password on both servers
// (run.sh's PASS, dovecot.sh's passwd-file).
const harnessPassword = "pass"

// bench is one invocation: where the harness is, what it runs, and what
// it found.
type bench struct {
	ctx      context.Context
	harness  string // directory of run.sh, lib.sh, dovecot.sh, mailscan.py
	root     string // $BENCH_ROOT
	srcPort  string
	dstPort  string
	bin      string // absolute path of imapmigrate
	profile  string
	syncArgs []string
	stderr   io.Writer
}

func main() {
	harness := flag.String("harness", envOr("BENCH_DIR", "../shared/bench"), "directory of the shared benchmark harness (run.sh)")
	bin := flag.String("bin", "bin/imapmigrate", "imapmigrate binary")
	profile := flag.String("profile", "small", "corpus: tiny, small (2 x 2,000 messages) or medium (10 x 5,000)")
	toolList := flag.String("tools", "ours,mbsync,doveadm", "tools to run, in the harness's names (ours is imapmigrate)")
	repeat := flag.Int("repeat", 3, "rounds (every tool once per round)")
	withService := flag.Bool("service", true, "also migrate the corpus as one batch through imapmigrate serve")
	syncArgs := flag.String("sync-args", "", "extra arguments for imapmigrate sync (space separated), e.g. --connections 2")
	unchanged := flag.Int("unchanged", 0, "instead of the harness: time the incremental pass over an unchanged mailbox of this many messages (100000 for the issue's figure)")
	unchangedPasses := flag.Int("unchanged-passes", 5, "with -unchanged: unchanged passes to time")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	b := &bench{
		ctx: ctx, profile: *profile, syncArgs: strings.Fields(*syncArgs), stderr: os.Stderr,
		root:    envOr("BENCH_ROOT", "/tmp/imapbench"),
		srcPort: envOr("SRC_PORT", "14301"), dstPort: envOr("DST_PORT", "14302"),
	}
	var err error
	if b.harness, err = filepath.Abs(*harness); err == nil {
		b.bin, err = filepath.Abs(*bin)
	}
	switch {
	case err == nil && *unchanged > 0:
		err = b.unchanged(*unchanged, *unchangedPasses)
	case err == nil:
		err = b.main(strings.Split(*toolList, ","), *repeat, *withService)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func (b *bench) main(tools []string, repeat int, withService bool) error {
	if _, err := os.Stat(filepath.Join(b.harness, "run.sh")); err != nil {
		return fmt.Errorf("no benchmark harness in %s (set -harness or BENCH_DIR): %w", b.harness, err)
	}
	if _, err := os.Stat(b.bin); err != nil {
		return fmt.Errorf("imapmigrate binary: %w (run make build)", err)
	}
	if repeat < 1 {
		return fmt.Errorf("-repeat %d: want 1 or more", repeat)
	}
	defer b.stopServers()

	started := time.Now()
	var runs []run
	unavailable := map[string]bool{}
	for round := 1; round <= repeat; round++ {
		for i := range tools {
			// Rotate the order, so no tool always runs first after the
			// fixture copy or right after another tool's pass.
			tool := tools[(i+round-1)%len(tools)]
			if unavailable[tool] {
				continue
			}
			b.logf("round %d/%d: %s on %s", round, repeat, tool, b.profile)
			r, err := b.runTool(tool, round)
			if errors.Is(err, errUnavailable) {
				unavailable[tool] = true
				b.logf("%s is not available: left out", tool)
				continue
			}
			if err != nil {
				return err
			}
			runs = append(runs, r)
		}
		if err := b.ctx.Err(); err != nil {
			return err
		}
	}

	var svc *serviceResult
	if withService && slices.Contains(tools, "ours") && !unavailable["ours"] {
		var err error
		if svc, err = b.runService(); err != nil {
			return fmt.Errorf("batch through imapmigrate serve: %w", err)
		}
		var ours []run
		for _, r := range runs {
			if r.tool == "ours" {
				ours = append(ours, r)
			}
		}
		svc.oneShot = stats(collect(ours, func(r run) phase { return r.full }, "msgs_per_s", "", 1), "%.0f")
	}

	var out bytes.Buffer
	b.writeReport(&out, tools, runs, svc, repeat, time.Since(started))
	fmt.Print("\n" + out.String())
	path := filepath.Join(b.root, fmt.Sprintf("bench-%s-%s.md", b.profile, started.Format("20060102-150405")))
	if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
		return err
	}
	fmt.Printf("\nsaved as %s; the harness's raw lines are in %s\n", path, filepath.Join(b.root, "results.tsv"))
	return nil
}

// errUnavailable is run.sh's exit status 3: the tool is not installed.
var errUnavailable = errors.New("tool not available")

// runTool runs the harness for one tool (full and incremental pass, both
// verified), then the pass with no change, on the servers the harness
// leaves running.
func (b *bench) runTool(tool string, round int) (run, error) {
	r := run{tool: tool, round: round}
	cmd := exec.CommandContext(b.ctx, filepath.Join(b.harness, "run.sh"), tool, b.profile)
	cmd.Env = append(os.Environ(), "KEEP_SERVERS=1", "INCR=1")
	if tool == "ours" {
		state := b.stateDir()
		if err := os.RemoveAll(state); err != nil {
			return r, err
		}
		cmd.Env = append(cmd.Env, "OURS_CMD="+b.oursTemplate(), "OURS_VERSION="+b.oursVersion())
	}
	// Files, not pipes: the Dovecot servers run.sh leaves running inherit
	// its descriptors, and a pipe would never see its end.
	out, err := os.CreateTemp(b.root, "run-*.out")
	if err != nil {
		return r, err
	}
	defer os.Remove(out.Name())
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, os.Stderr
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit) && exit.ExitCode() == 3:
		return r, errUnavailable
	case errors.As(err, &exit) && exit.ExitCode() == 1:
		// A phase did not verify: it is in the table as verified=no.
	case err != nil:
		return r, fmt.Errorf("run.sh %s %s: %w", tool, b.profile, err)
	}
	stdout, rerr := os.ReadFile(out.Name())
	if rerr != nil {
		return r, rerr
	}
	os.Stderr.Write(stdout)
	labels, phases := parseHarness(string(stdout))
	if len(labels) < 2 {
		return r, fmt.Errorf("run.sh %s %s printed no result lines", tool, b.profile)
	}
	r.full, r.incr = phases[labels[0]], phases[labels[1]]
	r.dir = r.full["run"]
	if r.full["rc"] != "0" || r.incr["rc"] != "0" {
		b.logf("%s exited %s/%s: no no-change pass", tool, r.full["rc"], r.incr["rc"])
		return r, nil
	}
	r.noChange, err = b.noChangePass(tool, r.dir)
	return r, err
}

// noChangePass runs the tool once more over every mailbox, with nothing
// new at the source since its incremental pass: what every later
// scheduled sync of a finished migration costs. It must copy nothing: the
// destination is verified against the same fingerprint again.
func (b *bench) noChangePass(tool, runDir string) (phase, error) {
	users, err := harnessUsers(runDir)
	if err != nil {
		return nil, err
	}
	p := phase{"load1_before": loadavg()}
	start := time.Now()
	for _, u := range users {
		argv, env := b.toolCommand(tool, runDir, u)
		cmd := exec.CommandContext(b.ctx, argv[0], argv[1:]...)
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("no-change pass of %s for %s: %w\n%s", tool, u, err, lastLines(string(out), 5))
		}
	}
	p["wall_s"] = fmt.Sprintf("%.2f", time.Since(start).Seconds())
	v, err := b.verify("B.json")
	if err != nil {
		return nil, err
	}
	p["verified"] = v.verdict()
	b.logf("%s no-change pass: %s s, verified=%s", tool, p["wall_s"], p["verified"])
	return p, nil
}

// toolCommand is the command that migrates one mailbox, as run.sh runs it
// (see its tool_cmd), with the environment it needs.
func (b *bench) toolCommand(tool, runDir, user string) (argv, env []string) {
	switch tool {
	case "ours":
		return b.oursArgs("127.0.0.1", b.srcPort, "127.0.0.1", b.dstPort, user),
			[]string{"IMAPMIGRATE_SOURCE_PASSWORD=" + harnessPassword, "IMAPMIGRATE_DEST_PASSWORD=" + harnessPassword}
	case "mbsync":
		return []string{"mbsync", "-c", filepath.Join(runDir, "state", user, "mbsyncrc"), "-a"}, nil
	case "doveadm":
		return []string{"doveadm", "-c", filepath.Join(b.root, "dst", "etc", "dovecot.conf"),
			"-o", "imapc_host=127.0.0.1", "-o", "imapc_port=" + b.srcPort, "-o", "imapc_user=" + user,
			"-o", "imapc_password=" + harnessPassword, "-o", "imapc_ssl=no",
			"-o", "imapc_features=rfc822.size fetch-headers modseq", "-o", "mail_prefetch_count=20",
			"backup", "-R", "-u", user, "imapc:"}, nil
	}
	panic("no command for tool " + tool)
}

// oursArgs is `imapmigrate sync` for one harness mailbox, with its state
// in this round's state directory.
func (b *bench) oursArgs(srcHost, srcPort, dstHost, dstPort, user string) []string {
	return append([]string{b.bin, "sync",
		"--source", srcHost + ":" + srcPort, "--source-user", user, "--source-security", "none",
		"--dest", dstHost + ":" + dstPort, "--dest-user", user, "--dest-security", "none",
		"--state", filepath.Join(b.stateDir(), user+".db")}, b.syncArgs...)
}

// oursTemplate is OURS_CMD: oursArgs with run.sh's placeholders, the
// passwords in the environment.
func (b *bench) oursTemplate() string {
	argv := b.oursArgs("{src_host}", "{src_port}", "{dst_host}", "{dst_port}", "{user}")
	quoted := make([]string, len(argv))
	for i, a := range argv {
		quoted[i] = shellQuote(a)
	}
	return "IMAPMIGRATE_SOURCE_PASSWORD={pass} IMAPMIGRATE_DEST_PASSWORD={pass} " + strings.Join(quoted, " ")
}

// stateDir holds imapmigrate's state databases for the current run: the
// harness empties the destination before every full pass, so each run
// starts with none.
func (b *bench) stateDir() string { return filepath.Join(b.root, "imapmigrate-state") }

func (b *bench) oursVersion() string {
	v := "imapmigrate"
	if rev, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output(); err == nil {
		v += " " + strings.TrimSpace(string(rev))
		if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(st) > 0 {
			v += "+changes"
		}
	}
	return v
}

// verdict is mailscan.py's answer on a destination.
type verdict struct {
	Verified   string `json:"verified"` // "yes" or "no"
	Msgs       int    `json:"msgs_dst"`
	Missing    int    `json:"missing"`
	Extra      int    `json:"extra"`
	Duplicates int    `json:"duplicates"`
}

func (v verdict) verdict() string {
	if v.Verified == "yes" {
		return "yes"
	}
	return fmt.Sprintf("no(missing=%d,extra=%d,duplicates=%d)", v.Missing, v.Extra, v.Duplicates)
}

// verify compares the destination's Maildir files with the fixture's
// fingerprint (A.json after a full copy, B.json after the changes).
func (b *bench) verify(manifest string) (verdict, error) {
	var v verdict
	cmd := exec.CommandContext(b.ctx, "python3", filepath.Join(b.harness, "mailscan.py"), "verify",
		filepath.Join(b.root, "fixtures", b.profile, manifest), filepath.Join(b.root, "dst", "mail"))
	out, err := cmd.Output()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		return v, fmt.Errorf("mailscan.py verify: %w", err)
	}
	if err := json.Unmarshal(out, &v); err != nil {
		return v, fmt.Errorf("mailscan.py verify: %w", err)
	}
	return v, nil
}

// harnessUsers lists the mailboxes of a run (user1, user2, ...) from the
// per-user directories run.sh made, in numeric order.
func harnessUsers(runDir string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(runDir, "state"))
	if err != nil {
		return nil, fmt.Errorf("users of run %s: %w", runDir, err)
	}
	var users []string
	for _, e := range entries {
		if e.IsDir() && strings.HasPrefix(e.Name(), "user") {
			users = append(users, e.Name())
		}
	}
	slices.SortFunc(users, func(a, c string) int {
		x, _ := strconv.Atoi(strings.TrimPrefix(a, "user"))
		y, _ := strconv.Atoi(strings.TrimPrefix(c, "user"))
		return x - y
	})
	if len(users) == 0 {
		return nil, fmt.Errorf("no users in run %s", runDir)
	}
	return users, nil
}

// stopServers stops the two Dovecot instances the harness left running.
func (b *bench) stopServers() {
	for _, name := range []string{"src", "dst"} {
		cmd := exec.Command(filepath.Join(b.harness, "dovecot.sh"), "stop", name, filepath.Join(b.root, name))
		cmd.Run() // nothing to say if it was not running
	}
}

// harnessShell runs bash with the harness's lib.sh loaded (its
// restore_src, reset_dst and friends), for the service run.
func (b *bench) harnessShell(script string) error {
	cmd := exec.CommandContext(b.ctx, "bash", "-c", "set -euo pipefail; source \"$BENCH_DIR/lib.sh\"; "+script)
	cmd.Env = append(os.Environ(), "BENCH_DIR="+b.harness, "BENCH_ROOT="+b.root, "SRC_PORT="+b.srcPort, "DST_PORT="+b.dstPort, "PROFILE="+b.profile)
	// Not a pipe: the servers it starts keep the descriptors (see runTool).
	cmd.Stdout, cmd.Stderr = nil, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("harness: %s: %w", script, err)
	}
	return nil
}

// writeReport writes the results in Markdown: the machine, the corpus, the
// table, and the service's run.
func (b *bench) writeReport(w io.Writer, tools []string, runs []run, svc *serviceResult, repeat int, took time.Duration) {
	fmt.Fprintf(w, "## %s corpus, %s\n\n", b.profile, time.Now().Format("2006-01-02 15:04"))
	fmt.Fprintf(w, "Machine: %s, %d cores, %s RAM, Linux %s; %s. Corpus: %s. %d round(s), took %s.\n\n",
		cpuModel(), runtime.NumCPU(), memTotal(), kernel(), dovecotVersion(), corpus(b.root, b.profile), repeat, took.Round(time.Second))
	versions := map[string]string{"ours": b.oursVersion(), "mbsync": firstLine("mbsync", "--version"), "doveadm": dovecotVersion()}
	for k, v := range versions {
		versions[k] = strings.TrimPrefix(v, "imapmigrate ")
	}
	writeTable(w, tools, runs, versions)
	fmt.Fprintln(w, "\nFull and incremental passes: the harness's run.sh (one mailbox after the other, PAR=1); incremental = +1 % new messages and flags changed on 1 %;")
	fmt.Fprintln(w, "no-change = the same tool run again right after, nothing new. Medians over the rounds (min-max). load1 = load average before each full pass.")
	if svc != nil {
		fmt.Fprintf(w, "\n%s\n", svc.summary())
	}
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.stderr, "[bench %s] %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); len(f) > 0 {
		return f[0]
	}
	return "?"
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

func memTotal() string {
	b, _ := os.ReadFile("/proc/meminfo")
	var kb float64
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "MemTotal:") {
			fmt.Sscan(strings.TrimPrefix(line, "MemTotal:"), &kb)
		}
	}
	return fmt.Sprintf("%.0f GB", kb/1024/1024)
}

func kernel() string {
	b, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return strings.TrimSpace(string(b))
}

func dovecotVersion() string {
	v := firstLine("dovecot", "--version")
	if f := strings.Fields(v); len(f) > 0 {
		return "Dovecot " + f[0]
	}
	return "Dovecot ?"
}

func firstLine(name string, args ...string) string {
	out, _ := exec.Command(name, args...).Output()
	line, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(line)
}

// fixture is the harness's meta.json of a corpus.
type fixture struct {
	Mailboxes int   `json:"mailboxes"`
	PerBox    int   `json:"messages_per_mailbox"`
	Msgs      int64 `json:"msgs"`
	Bytes     int64 `json:"bytes"`
}

func readFixture(root, profile string) (fixture, error) {
	var f fixture
	b, err := os.ReadFile(filepath.Join(root, "fixtures", profile, "meta.json"))
	if err == nil {
		err = json.Unmarshal(b, &f)
	}
	if err != nil {
		return f, fmt.Errorf("read the %s fixture's meta.json: %w", profile, err)
	}
	return f, nil
}

// corpus describes the fixture.
func corpus(root, profile string) string {
	f, err := readFixture(root, profile)
	if err != nil {
		return profile
	}
	return fmt.Sprintf("%d mailboxes x %d messages, %d messages, %.0f MB", f.Mailboxes, f.PerBox, f.Msgs, float64(f.Bytes)/1e6)
}

// shellQuote quotes a word for bash when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=,@{}+") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
