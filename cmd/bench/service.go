package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// serviceResult is one batch of every corpus mailbox through `imapmigrate
// serve`, all at once within its defaults (10 workers, 4 connections per
// side per mailbox, endpoint caps of 20).
type serviceResult struct {
	mailboxes   int
	msgs        int64 // the corpus's
	bytes       int64
	synced      int64 // the batch's items synced
	wall        time.Duration
	state       string
	peakRSSMB   float64
	cpuS        float64 // serve's own user+system CPU
	serversCPUS float64 // both Dovecot instances', during the batch
	verified    string
	load1       string
	oneShot     string // imapmigrate sync's full-pass msgs/s in the rounds
}

func (s *serviceResult) summary() string {
	secs := s.wall.Seconds()
	return fmt.Sprintf("imapmigrate serve, one batch of all %d mailboxes (default settings: 10 workers, 4 connections per side per mailbox): "+
		"%d messages, %.0f MB (items synced: %d) in %.1f s from `batch create --start` to %s: %.0f msgs/s, %.1f MB/s aggregate "+
		"(imapmigrate sync one mailbox after the other, above: %s msgs/s); serve's peak RSS %.0f MB, CPU %.2f ms/msg; "+
		"servers' CPU %.2f ms/msg; verified=%s; load1 before %s.",
		s.mailboxes, s.msgs, float64(s.bytes)/1e6, s.synced, secs, s.state, float64(s.msgs)/secs, float64(s.bytes)/1e6/secs,
		s.oneShot, s.peakRSSMB, s.cpuS*1000/float64(s.msgs), s.serversCPUS*1000/float64(s.msgs), s.verified, s.load1)
}

// runService restores the pristine source, empties the destination, and
// migrates every mailbox as one batch through serve and its CLI, as an
// administrator would (README, "The migration service").
func (b *bench) runService() (*serviceResult, error) {
	b.logf("batch of every mailbox through imapmigrate serve")
	if err := b.harnessShell(`restore_src "$PROFILE" A; reset_dst "$PROFILE"; sync`); err != nil {
		return nil, err
	}
	dir := filepath.Join(b.root, "imapmigrate-serve")
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	url := "http://127.0.0.1:" + strconv.Itoa(port)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "IMAPMIGRATE_") {
			env = append(env, kv)
		}
	}
	env = append(env, "IMAPMIGRATE_DATA="+filepath.Join(dir, "data"), "IMAPMIGRATE_SERVER="+url)
	cli := func(args ...string) ([]byte, error) {
		cmd := exec.CommandContext(b.ctx, b.bin, args...)
		cmd.Dir, cmd.Env = dir, env
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("imapmigrate %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
		}
		return out, nil
	}

	logFile, err := os.Create(filepath.Join(dir, "serve.log"))
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	serve := exec.Command(b.bin, "serve")
	// The scheduler looks for work every 500 ms rather than 2 s, so that
	// the wait for the first look does not count as copying time.
	serve.Dir, serve.Env = dir, append(slices.Clone(env), "IMAPMIGRATE_LISTEN=127.0.0.1:"+strconv.Itoa(port), "IMAPMIGRATE_LOG_FORMAT=text", "IMAPMIGRATE_POLL=500ms")
	serve.Stdout, serve.Stderr = logFile, logFile
	if err := serve.Start(); err != nil {
		return nil, fmt.Errorf("start imapmigrate serve: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- serve.Wait() }()
	defer func() {
		serve.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			serve.Process.Kill()
			<-exited
		}
	}()
	if err := waitHealthy(url, exited); err != nil {
		return nil, fmt.Errorf("%w (log: %s)", err, logFile.Name())
	}

	for _, ep := range []struct{ name, port string }{{"src", b.srcPort}, {"dst", b.dstPort}} {
		if _, err := cli("endpoint", "add", ep.name, "--host", "127.0.0.1", "--port", ep.port, "--security", "none"); err != nil {
			return nil, err
		}
	}
	users, err := harnessUsersOf(b.root, b.profile)
	if err != nil {
		return nil, err
	}
	var csv strings.Builder
	csv.WriteString("EmailAddress,UserName,Password,DestinationUserName,DestinationPassword\n")
	for _, u := range users {
		fmt.Fprintf(&csv, "%s@bench.example,%s,%s,%s,%s\n", u, u, harnessPassword, u, harnessPassword)
	}
	if err := os.WriteFile(filepath.Join(dir, "users.csv"), []byte(csv.String()), 0o600); err != nil {
		return nil, err
	}

	fix, err := readFixture(b.root, b.profile)
	if err != nil {
		return nil, err
	}
	res := &serviceResult{mailboxes: len(users), msgs: fix.Msgs, bytes: fix.Bytes, load1: loadavg()}
	cpu0 := serversCPU(filepath.Join(b.root, "src"), filepath.Join(b.root, "dst"))
	start := time.Now()
	if _, err := cli("batch", "create", "bench", "--source-endpoint", "src", "--dest-endpoint", "dst", "--csv", "users.csv", "--start"); err != nil {
		return nil, err
	}
	settled := []string{"Synced", "SyncedWithErrors", "Failed", "Stopped", "Completed"}
	for {
		out, err := cli("batch", "status", "bench", "--json")
		if err != nil {
			return nil, err
		}
		var st struct {
			State  string `json:"state"`
			Totals struct {
				ItemsSynced int64 `json:"items_synced"`
			} `json:"totals"`
		}
		if err := json.Unmarshal(out, &st); err != nil {
			return nil, fmt.Errorf("batch status: %w", err)
		}
		if slices.Contains(settled, st.State) {
			res.wall = time.Since(start)
			res.state, res.synced = st.State, st.Totals.ItemsSynced
			break
		}
		select {
		case err := <-exited:
			return nil, fmt.Errorf("imapmigrate serve exited during the batch: %v (log: %s)", err, logFile.Name())
		case <-b.ctx.Done():
			return nil, b.ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	res.serversCPUS = serversCPU(filepath.Join(b.root, "src"), filepath.Join(b.root, "dst")) - cpu0
	res.peakRSSMB, res.cpuS = procUsage(serve.Process.Pid)
	b.logf("batch %s after %.1f s", res.state, res.wall.Seconds())
	v, err := b.verify("A.json")
	if err != nil {
		return nil, err
	}
	res.verified = v.verdict()
	return res, nil
}

// harnessUsersOf lists the fixture's mailboxes (user1..userN) from the
// pristine source snapshot.
func harnessUsersOf(root, profile string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(root, "fixtures", profile, "A"))
	if err != nil {
		return nil, fmt.Errorf("mailboxes of the %s fixture: %w", profile, err)
	}
	var users []string
	for _, e := range entries {
		if e.IsDir() && strings.HasPrefix(e.Name(), "user") {
			users = append(users, e.Name())
		}
	}
	if len(users) == 0 {
		return nil, fmt.Errorf("no mailboxes in the %s fixture", profile)
	}
	return users, nil
}

// waitHealthy waits until serve answers GET /healthz.
func waitHealthy(url string, exited <-chan error) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-exited:
			return fmt.Errorf("imapmigrate serve exited at start: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("imapmigrate serve does not answer at %s/healthz after 30 s", url)
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// procUsage reads a live process's peak resident set (VmHWM) in MB and
// its user+system CPU seconds.
func procUsage(pid int) (peakMB, cpuS float64) {
	status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb float64
			fmt.Sscan(v, &kb)
			peakMB = kb / 1024
		}
	}
	if f := procStat(pid); len(f) > 14 {
		cpuS = (atof(f[11]) + atof(f[12])) / clockTicks
	}
	return peakMB, cpuS
}

// clockTicks is USER_HZ, which is 100 on every Linux architecture Go
// supports.
const clockTicks = 100

// serversCPU is the CPU seconds used so far by the Dovecot instances in
// dirs: each master's own and its reaped children's, plus its live
// children's (as run.sh's servers_cpu counts them).
func serversCPU(dirs ...string) float64 {
	masters := map[string]bool{}
	for _, d := range dirs {
		if b, err := os.ReadFile(filepath.Join(d, "run", "master.pid")); err == nil {
			masters[strings.TrimSpace(string(b))] = true
		}
	}
	entries, _ := os.ReadDir("/proc")
	var ticks float64
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		pid, _ := strconv.Atoi(e.Name())
		f := procStat(pid)
		if len(f) < 15 || !(masters[e.Name()] || masters[f[1]]) {
			continue
		}
		ticks += atof(f[11]) + atof(f[12]) + atof(f[13]) + atof(f[14])
	}
	return ticks / clockTicks
}

// procStat returns the fields of /proc/PID/stat after the command name:
// state, ppid, ... (so utime is [11], stime [12], cutime [13], cstime [14]).
func procStat(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 > len(b) {
		return nil
	}
	return strings.Fields(string(b[i+2:]))
}

func atof(s string) float64 {
	v, _ := strconv.ParseFloat(s, 64)
	return v
}
