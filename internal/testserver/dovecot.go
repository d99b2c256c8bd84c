package testserver

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

const (
	// DovecotPath is where Debian's dovecot-core installs the master binary.
	DovecotPath = "/usr/sbin/dovecot"
	// DoveadmPath is the admin tool used by Dovecot.Doveadm.
	DoveadmPath = "/usr/bin/doveadm"

	// IntegrationEnv, when set to "1", turns a missing Dovecot into a test
	// failure instead of a skip. CI sets it so integration tests cannot
	// silently stop running.
	IntegrationEnv = "IMAPMIGRATE_INTEGRATION"

	// mailUID and mailGID own the mail: Dovecot refuses to access mail as
	// root, so the users in the passwd-file map to nobody:nogroup.
	mailUID = 65534
	mailGID = 65534

	startTimeout = 10 * time.Second
	stopTimeout  = 10 * time.Second
)

// DovecotConfig describes one isolated Dovecot instance. The zero value of
// every field except Users is a usable default.
type DovecotConfig struct {
	// Separator is the hierarchy separator of the personal namespace: "/"
	// or ".". Defaults to "/".
	Separator string
	// Prefix is the personal namespace prefix: "" or "INBOX." (Courier
	// style, which needs Separator "."). Defaults to "".
	Prefix string
	// Users maps user names to passwords, e.g. {"alice@example.com": "pw"}.
	// At least one is required. Names are limited to Dovecot's default
	// auth_username_chars (letters, digits and ".-_@"); passwords may hold
	// any byte except NUL.
	Users map[string]string
	// MasterUser and MasterPassword, when set, add a Dovecot master user:
	// log in as "user*master" with the master password, or with SASL PLAIN
	// authzid=user, authcid=master.
	MasterUser, MasterPassword string
	// TLS sets ssl=yes: STARTTLS is offered on Addr and implicit TLS on
	// TLSAddr. The certificate is valid for 127.0.0.1 and localhost and is
	// signed by a CA generated for this instance (Dovecot.CAFile).
	TLS bool
	// SpecialUse declares Sent, Drafts, Trash, Junk and Archive with their
	// RFC 6154 attributes. They are not created (auto = no): the attribute
	// shows only once a client creates the mailbox.
	SpecialUse bool
	// Mailboxes declares further special-use mailboxes, name (with the
	// namespace's separator) → attribute, e.g. "[Gmail]/All Mail" → `\All`
	// to imitate Gmail's views. Like SpecialUse's, they are not created.
	Mailboxes map[string]string
	// MaxUserIPConnections is mail_max_userip_connections, the limit that
	// answers NO [LIMIT] at LOGIN. Defaults to 50.
	MaxUserIPConnections int
	// QuotaStorageKB, when > 0, enables the quota plugin with
	// quota_rule = *:storage=<n>K and imap_quota, so APPEND beyond it
	// fails with NO [OVERQUOTA].
	QuotaStorageKB int
	// MaxMailSize is quota_max_mail_size, e.g. "1M": larger APPENDs are
	// rejected. Empty means no limit.
	MaxMailSize string
	// AppendLimit, when > 0, advertises APPENDLIMIT=<n> (RFC 7889) in the
	// capabilities, with imap_capability, as an admin does: Dovecot 2.3
	// does not advertise it by itself, even with quota_max_mail_size
	// (which is what then enforces it).
	AppendLimit int
	// NoMultiAppend leaves MULTIAPPEND (RFC 3502) out of the capabilities,
	// as Gmail and Exchange do, so that a client appends one message per
	// command.
	NoMultiAppend bool
	// OAuth2, when its IntrospectionURL is set, adds XOAUTH2 and
	// OAUTHBEARER logins checked by Dovecot's oauth2 passdb.
	OAuth2 DovecotOAuth2
}

// Dovecot is a running (or stopped) Dovecot instance.
type Dovecot struct {
	// Addr is 127.0.0.1:port for plain IMAP (and STARTTLS when TLS).
	Addr string
	// TLSAddr is 127.0.0.1:port for implicit TLS; "" unless TLS.
	TLSAddr string
	// CAFile is the PEM file of the CA that signed the server certificate;
	// "" unless TLS.
	CAFile string
	// Dir is the directory holding configuration, state, log and mail.
	Dir string

	cfg      DovecotConfig
	conf     string // Dir/etc/dovecot.conf
	instance string // instance_name
	ownsDir  bool   // Start made Dir, so Stop removes it

	mu     sync.Mutex
	proc   *exec.Cmd     // the master, run in the foreground; nil when stopped
	exited chan struct{} // closed once proc has been waited for
	stderr lockedBuffer  // the master's stderr: errors before the log is open
}

var instanceSeq atomic.Int64

// StartDovecot starts an instance for a test and stops it in tb.Cleanup.
// When the test fails, the Dovecot log is written to the test log. Without
// Dovecot (or without root) the test is skipped, unless IMAPMIGRATE_INTEGRATION=1,
// in which case it fails: CI must never skip integration tests silently.
func StartDovecot(tb testing.TB, cfg DovecotConfig) *Dovecot {
	tb.Helper()
	requireDovecot(tb)
	// A short directory of our own rather than tb.TempDir: Dovecot's unix
	// sockets live under it, and a path of a long test name goes past the
	// 107-byte limit of a socket address.
	dir, err := os.MkdirTemp("", "dc")
	if err != nil {
		tb.Fatalf("start dovecot: %v", err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	d, err := start(dir, cfg, false)
	if d != nil {
		tb.Cleanup(func() {
			if tb.Failed() {
				tb.Logf("dovecot log (%s):\n%s", d.Dir, d.Log())
			}
			if err := d.stop(); err != nil {
				tb.Errorf("stop dovecot: %v", err)
			}
		})
	}
	if err != nil {
		tb.Fatalf("start dovecot: %v", err)
	}
	return d
}

// Start starts an instance in a new temporary directory, for callers that
// are not tests (the demo command). The caller must call Stop, which also
// removes the directory.
func Start(cfg DovecotConfig) (*Dovecot, error) {
	if reason := unavailable(); reason != "" {
		return nil, errors.New(reason)
	}
	dir, err := os.MkdirTemp("", "imapmigrate-dovecot-")
	if err != nil {
		return nil, fmt.Errorf("start dovecot: %w", err)
	}
	d, err := start(dir, cfg, true)
	if err != nil {
		if d != nil {
			d.stop()
		}
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start dovecot: %w", err)
	}
	return d, nil
}

// requireDovecot skips the test, or fails it under IMAPMIGRATE_INTEGRATION=1,
// when Dovecot cannot run here.
func requireDovecot(tb testing.TB) {
	tb.Helper()
	if reason := unavailable(); reason != "" {
		if os.Getenv(IntegrationEnv) == "1" {
			tb.Fatalf("%s (%s=1 requires it)", reason, IntegrationEnv)
		}
		tb.Skipf("%s; set %s=1 to make this a failure", reason, IntegrationEnv)
	}
}

// unavailable says why Dovecot cannot run here, or "" if it can.
func unavailable() string {
	if _, err := os.Stat(DovecotPath); err != nil {
		return fmt.Sprintf("dovecot not found at %s (apt-get install dovecot-imapd)", DovecotPath)
	}
	if os.Geteuid() != 0 {
		// The configuration relies on root to drop to nobody and dovenull;
		// a rootless Dovecot needs a different configuration.
		return "dovecot tests must run as root"
	}
	return ""
}

func start(dir string, cfg DovecotConfig, ownsDir bool) (*Dovecot, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	d := &Dovecot{
		Dir:      dir,
		cfg:      cfg,
		conf:     filepath.Join(dir, "etc", "dovecot.conf"),
		instance: fmt.Sprintf("imapmigrate-test-%d-%d", os.Getpid(), instanceSeq.Add(1)),
		ownsDir:  ownsDir,
	}
	if err := d.prepareDir(); err != nil {
		return nil, err
	}
	// A free port is found by binding :0 and closing it; another process
	// (or a parallel test) may take it before Dovecot binds, so retry on
	// "Address already in use" with fresh ports.
	for attempt := 1; ; attempt++ {
		if err := d.pickPorts(); err != nil {
			return nil, err
		}
		err := d.launch()
		if err == nil {
			return d, nil
		}
		if !errors.Is(err, errAddrInUse) || attempt == 5 {
			return d, err
		}
	}
}

func (cfg DovecotConfig) withDefaults() (DovecotConfig, error) {
	if cfg.Separator == "" {
		cfg.Separator = "/"
	}
	if cfg.Separator != "/" && cfg.Separator != "." {
		return cfg, fmt.Errorf("separator %q: must be \"/\" or \".\"", cfg.Separator)
	}
	if cfg.Prefix != "" && !strings.HasSuffix(cfg.Prefix, cfg.Separator) {
		return cfg, fmt.Errorf("prefix %q: must end with the separator %q", cfg.Prefix, cfg.Separator)
	}
	if len(cfg.Users) == 0 {
		return cfg, errors.New("users: at least one is required")
	}
	for user, pw := range cfg.Users {
		if err := checkUsername(user); err != nil {
			return cfg, err
		}
		if strings.ContainsRune(pw, 0) {
			return cfg, fmt.Errorf("password of user %q: contains NUL", user)
		}
	}
	if cfg.MasterUser != "" || cfg.MasterPassword != "" {
		if err := checkUsername(cfg.MasterUser); err != nil {
			return cfg, fmt.Errorf("master %w", err)
		}
		if _, ok := cfg.Users[cfg.MasterUser]; ok {
			return cfg, fmt.Errorf("master user %q: also a normal user", cfg.MasterUser)
		}
	}
	if cfg.MaxUserIPConnections <= 0 {
		cfg.MaxUserIPConnections = 50
	}
	if cfg.QuotaStorageKB < 0 {
		return cfg, fmt.Errorf("quota %d KB: must not be negative", cfg.QuotaStorageKB)
	}
	if strings.ContainsAny(cfg.MaxMailSize, " \t\r\n#{}") {
		return cfg, fmt.Errorf("max mail size %q: not a Dovecot size", cfg.MaxMailSize)
	}
	return cfg, nil
}

// checkUsername keeps names within Dovecot's default auth_username_chars,
// which also keeps them safe as passwd-file fields and home directory names.
func checkUsername(name string) error {
	if name == "" {
		return errors.New("user name: empty")
	}
	for _, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(".-_@", r)
		if !ok {
			return fmt.Errorf("user name %q: character %q not allowed by auth_username_chars", name, r)
		}
	}
	if name == "." || name == ".." {
		return fmt.Errorf("user name %q: not allowed", name)
	}
	return nil
}

// prepareDir writes everything except dovecot.conf, which depends on the
// ports.
func (d *Dovecot) prepareDir() error {
	for _, sub := range []string{"etc", "run", "state", "log", "mail"} {
		if err := os.MkdirAll(filepath.Join(d.Dir, sub), 0o755); err != nil {
			return fmt.Errorf("create %s: %w", sub, err)
		}
	}
	// The login processes run as dovenull and the mail processes as nobody;
	// both must reach base_dir and the homes through Dir and its parents.
	// t.TempDir makes its directories 0700, so open up the ones it made.
	if err := makeTraversable(d.Dir); err != nil {
		return err
	}
	if err := os.Chown(filepath.Join(d.Dir, "mail"), mailUID, mailGID); err != nil {
		return fmt.Errorf("chown mail dir: %w", err)
	}

	var users bytes.Buffer
	for _, user := range slices.Sorted(maps.Keys(d.cfg.Users)) {
		line, err := d.makeUser(user, d.cfg.Users[user])
		if err != nil {
			return err
		}
		users.WriteString(line)
	}
	// The file is world-readable because auth runs as the dovecot user;
	// it only ever holds test passwords.
	if err := os.WriteFile(filepath.Join(d.Dir, "etc", "passwd"), users.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write passwd: %w", err)
	}
	if d.cfg.MasterUser != "" {
		line := fmt.Sprintf("%s:%s\n", d.cfg.MasterUser, plainPassword(d.cfg.MasterPassword))
		if err := os.WriteFile(filepath.Join(d.Dir, "etc", "masters"), []byte(line), 0o644); err != nil {
			return fmt.Errorf("write masters: %w", err)
		}
	}
	if err := d.cfg.OAuth2.writeArgs(filepath.Join(d.Dir, "etc")); err != nil {
		return err
	}
	if d.cfg.TLS {
		if err := writeCertificates(filepath.Join(d.Dir, "etc")); err != nil {
			return fmt.Errorf("generate certificates: %w", err)
		}
		d.CAFile = filepath.Join(d.Dir, "etc", "ca.pem")
	}
	return nil
}

// makeUser creates the home of a user and returns its passwd-file line:
// user:password:uid:gid:gecos:home:shell:extra.
func (d *Dovecot) makeUser(user, password string) (string, error) {
	home := filepath.Join(d.Dir, "mail", user)
	if err := os.MkdirAll(home, 0o700); err != nil {
		return "", fmt.Errorf("create home of %s: %w", user, err)
	}
	if err := os.Chown(home, mailUID, mailGID); err != nil {
		return "", fmt.Errorf("chown home of %s: %w", user, err)
	}
	return fmt.Sprintf("%s:%s:%d:%d::%s::\n", user, plainPassword(password), mailUID, mailGID, home), nil
}

// AddUser creates a mailbox on the running instance, as an admin does
// before migrating a user whose mailbox did not exist. Dovecot reads its
// passwd-file again when the file changes, but looks at the file at most
// once a second: AddUser returns once the second it wrote in is over, so
// that every login after it finds the user.
func (d *Dovecot) AddUser(name, password string) error {
	if err := checkUsername(name); err != nil {
		return fmt.Errorf("add user: %w", err)
	}
	if strings.ContainsRune(password, 0) {
		return fmt.Errorf("add user %q: password contains NUL", name)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.cfg.Users[name]; ok || name == d.cfg.MasterUser {
		return fmt.Errorf("add user %q: exists", name)
	}
	line, err := d.makeUser(name, password)
	if err != nil {
		return fmt.Errorf("add user %q: %w", name, err)
	}
	f, err := os.OpenFile(filepath.Join(d.Dir, "etc", "passwd"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("add user %q: %w", name, err)
	}
	_, err = f.WriteString(line)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("add user %q: %w", name, err)
	}
	// The caller's map stays as it was.
	users := maps.Clone(d.cfg.Users)
	users[name] = password
	d.cfg.Users = users
	written := time.Now()
	time.Sleep(time.Until(written.Truncate(time.Second).Add(time.Second + 10*time.Millisecond)))
	return nil
}

// makeTraversable adds search permission for group and others to dir and to
// every parent below the system temp directory. A parent outside it that
// is still closed (TMPDIR under /root, say) is reported, since Dovecot would
// fail later with a much less obvious error.
func makeTraversable(dir string) error {
	tmp, _ := filepath.Abs(os.TempDir())
	for p := dir; ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("make %s traversable: %w", dir, err)
		}
		if mode := fi.Mode().Perm(); mode&0o011 != 0o011 {
			inside := strings.HasPrefix(p, tmp+string(filepath.Separator)) || p == dir
			if !inside {
				return fmt.Errorf("make %s traversable: %s has mode %v, so dovenull and nobody cannot reach it; set TMPDIR elsewhere", dir, p, mode)
			}
			if err := os.Chmod(p, mode|0o055); err != nil {
				return fmt.Errorf("make %s traversable: %w", dir, err)
			}
		}
		if parent := filepath.Dir(p); parent == p {
			return nil
		}
	}
}

// plainPassword encodes a password for passwd-file. The base64 form of
// the PLAIN scheme keeps ':' and other special bytes from breaking the
// line format, so tests can use hostile passwords.
func plainPassword(pw string) string {
	return "{PLAIN.b64}" + base64.StdEncoding.EncodeToString([]byte(pw))
}

func (d *Dovecot) pickPorts() error {
	port, err := freePort()
	if err != nil {
		return err
	}
	d.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if d.cfg.TLS {
		tlsPort, err := freePort()
		if err != nil {
			return err
		}
		d.TLSAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(tlsPort))
	}
	return os.WriteFile(d.conf, []byte(d.config()), 0o644)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

var errAddrInUse = errors.New("address already in use")

// launch runs the master in the foreground (-F) as our child, so that we
// can wait for it and so that it dies with the test binary (see
// setProcAttr); its pid is the one in run/master.pid.
func (d *Dovecot) launch() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.proc != nil {
		return errors.New("already running")
	}
	d.stderr.Reset()
	cmd := exec.Command(DovecotPath, "-F", "-c", d.conf)
	cmd.Dir = d.Dir
	cmd.Stdout = &d.stderr
	cmd.Stderr = &d.stderr
	setProcAttr(cmd)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("run %s: %w", DovecotPath, err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	d.proc, d.exited = cmd, exited

	if err := d.waitReady(); err != nil {
		d.stopLocked()
		if strings.Contains(d.stderr.String()+d.readLog(), "Address already in use") {
			return fmt.Errorf("%w: %v", errAddrInUse, err)
		}
		return err
	}
	return nil
}

// waitReady waits until the plain port greets with "* OK" and the TLS port
// accepts connections, or the master exits, or startTimeout passes.
func (d *Dovecot) waitReady() error {
	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case <-d.exited:
			return fmt.Errorf("dovecot exited during start-up: %s", d.failureText())
		default:
		}
		err := greets(d.Addr)
		if err == nil && d.TLSAddr != "" {
			var c net.Conn
			if c, err = net.DialTimeout("tcp", d.TLSAddr, time.Second); err == nil {
				c.Close()
			}
		}
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("dovecot not ready on %s after %v: %v; %s", d.Addr, startTimeout, err, d.failureText())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func greets(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return fmt.Errorf("read greeting: %w", err)
	}
	if !strings.HasPrefix(line, "* OK") {
		return fmt.Errorf("unexpected greeting %q", strings.TrimSpace(line))
	}
	return nil
}

// failureText is the master's stderr and the end of the log, for errors.
func (d *Dovecot) failureText() string {
	text := strings.TrimSpace(d.stderr.String())
	log := d.readLog()
	if len(log) > 2000 {
		log = "…" + log[len(log)-2000:]
	}
	if log = strings.TrimSpace(log); log != "" {
		text += "\nlog:\n" + log
	}
	if text == "" {
		return "no output"
	}
	return text
}

// Stop stops the instance: SIGTERM to the master (the pid in
// run/master.pid), then it waits for the master and its children to exit,
// so that nothing writes to Dir afterwards. An instance made by Start also
// has its directory removed. Stopping a stopped instance does nothing.
func (d *Dovecot) Stop() error {
	err := d.stop()
	if d.ownsDir {
		if rmErr := os.RemoveAll(d.Dir); rmErr != nil && err == nil {
			err = fmt.Errorf("remove %s: %w", d.Dir, rmErr)
		}
	}
	return err
}

func (d *Dovecot) stop() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stopLocked()
}

func (d *Dovecot) stopLocked() error {
	if d.proc == nil {
		return nil
	}
	pid := d.proc.Process.Pid
	if filePID, err := d.masterPID(); err == nil && filePID != pid {
		return fmt.Errorf("stop dovecot: run/master.pid says %d, but the master is %d", filePID, pid)
	}
	children := childPIDs(pid)
	d.proc.Process.Signal(syscall.SIGTERM)
	// The master would wait for the imap processes, and they for the
	// master to go (measured: 10 s, then SIGKILL); a real restart has them
	// say BYE to their clients and go at once, as doveadm kick does.
	for _, child := range children {
		syscall.Kill(child, syscall.SIGTERM)
	}
	var err error
	select {
	case <-d.exited:
	case <-time.After(stopTimeout):
		d.proc.Process.Kill()
		<-d.exited
		err = fmt.Errorf("stop dovecot: master %d ignored SIGTERM for %v; killed", pid, stopTimeout)
	}
	// shutdown_clients = yes makes the master signal its children, but it
	// does not wait for all of them; a late imap process could still write
	// to the mail directory while the test removes it.
	deadline := time.Now().Add(stopTimeout)
	for _, child := range children {
		for processAlive(child) {
			if time.Now().After(deadline) {
				syscall.Kill(child, syscall.SIGKILL)
				if err == nil {
					err = fmt.Errorf("stop dovecot: child %d still running after %v; killed", child, stopTimeout)
				}
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	d.proc = nil
	return err
}

func (d *Dovecot) masterPID() (int, error) {
	b, err := os.ReadFile(filepath.Join(d.Dir, "run", "master.pid"))
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// Restart stops the instance and starts it again on the same ports with
// the same data, as a server restart during a migration would.
func (d *Dovecot) Restart() error {
	if err := d.stop(); err != nil {
		return fmt.Errorf("restart dovecot: %w", err)
	}
	if err := d.launch(); err != nil {
		return fmt.Errorf("restart dovecot: %w", err)
	}
	return nil
}

// Doveadm runs doveadm with this instance's configuration and returns its
// standard output. It is the test's way to change the server behind a
// client's back: kick, mailbox update --uid-validity, rename, expunge….
// The error holds doveadm's standard error.
func (d *Dovecot) Doveadm(args ...string) ([]byte, error) {
	cmd := exec.Command(DoveadmPath, append([]string{"-c", d.conf}, args...)...)
	cmd.Dir = d.Dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("doveadm %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// Log returns the Dovecot log so far, preceded by anything the master
// wrote to its standard error (start-up errors come before the log opens).
func (d *Dovecot) Log() string {
	text := d.readLog()
	if stderr := d.stderr.String(); stderr != "" {
		text = "stderr:\n" + stderr + "\n" + text
	}
	return text
}

func (d *Dovecot) readLog() string {
	b, _ := os.ReadFile(filepath.Join(d.Dir, "log", "dovecot.log"))
	return string(b)
}

// config renders dovecot.conf. It includes nothing from /etc/dovecot, so
// the system configuration cannot change test behaviour.
func (d *Dovecot) config() string {
	cfg := d.cfg
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	dir := d.Dir
	w("# Generated by internal/testserver. Test settings, not for production.")
	w("instance_name = %s", d.instance)
	w("base_dir = %s/run", dir)
	w("state_dir = %s/state", dir)
	w("log_path = %s/log/dovecot.log", dir)
	w("info_log_path = %s/log/dovecot.log", dir)
	w("protocols = imap")
	w("listen = 127.0.0.1")
	w("shutdown_clients = yes")
	w("default_internal_user = dovecot")
	w("default_login_user = dovenull")
	w("")
	if cfg.TLS {
		w("ssl = yes")
		w("ssl_cert = <%s/etc/cert.pem", dir)
		w("ssl_key = <%s/etc/key.pem", dir)
	} else {
		w("ssl = no")
	}
	// Plaintext auth stays allowed even with TLS: tests decide whether a
	// client may send credentials in clear.
	w("disable_plaintext_auth = no")
	oauth := cfg.OAuth2.enabled()
	if oauth {
		w("auth_mechanisms = plain login xoauth2 oauthbearer")
		// No cached verdicts: an expired token must be refused at once.
		w("auth_cache_size = 0")
	} else {
		w("auth_mechanisms = plain login")
	}
	w("auth_verbose = yes")
	if cfg.MasterUser != "" {
		w("auth_master_user_separator = *")
		w("passdb {")
		w("  driver = passwd-file")
		w("  args = username_format=%%u %s/etc/masters", dir)
		w("  master = yes")
		// Also look the target user up, so a master login to an unknown
		// user fails like a normal one would.
		w("  result_success = continue")
		w("}")
	}
	w("passdb {")
	w("  driver = passwd-file")
	w("  args = username_format=%%u %s/etc/passwd", dir)
	if oauth {
		// Else XOAUTH2 would also try the token as a password here.
		w("  mechanisms = plain login")
	}
	w("}")
	if oauth {
		cfg.OAuth2.passdb(w, dir)
	}
	w("userdb {")
	w("  driver = passwd-file")
	w("  args = username_format=%%u %s/etc/passwd", dir)
	w("}")
	w("")
	w("mail_location = maildir:~/Maildir")
	w("first_valid_uid = 100")
	w("mail_fsync = never")
	w("mail_max_keyword_length = 50")
	quota := cfg.QuotaStorageKB > 0 || cfg.MaxMailSize != ""
	if quota {
		w("mail_plugins = $mail_plugins quota")
	}
	w("")
	w("namespace inbox {")
	w("  inbox = yes")
	w("  separator = %s", cfg.Separator)
	w("  prefix = %s", cfg.Prefix)
	if cfg.SpecialUse {
		for _, mb := range []struct{ name, attr string }{
			{"Sent", `\Sent`}, {"Drafts", `\Drafts`}, {"Trash", `\Trash`}, {"Junk", `\Junk`}, {"Archive", `\Archive`},
		} {
			w("  mailbox %s {", mb.name)
			w("    special_use = %s", mb.attr)
			w("    auto = no")
			w("  }")
		}
	}
	for _, name := range slices.Sorted(maps.Keys(cfg.Mailboxes)) {
		w("  mailbox %q {", name)
		w("    special_use = %s", cfg.Mailboxes[name])
		w("    auto = no")
		w("  }")
	}
	w("}")
	w("")
	w("protocol imap {")
	w("  mail_max_userip_connections = %d", cfg.MaxUserIPConnections)
	var caps []string
	if cfg.NoMultiAppend {
		// imap_capability can add to the defaults or replace them: this is
		// Dovecot 2.3's own list after login, less MULTIAPPEND.
		caps = append(caps, "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT SORT=DISPLAY THREAD=REFERENCES",
			"THREAD=REFS THREAD=ORDEREDSUBJECT URL-PARTIAL CATENATE UNSELECT CHILDREN NAMESPACE UIDPLUS LIST-EXTENDED",
			"I18NLEVEL=1 CONDSTORE QRESYNC ESEARCH ESORT SEARCHRES WITHIN CONTEXT=SEARCH LIST-STATUS BINARY MOVE",
			"SNIPPET=FUZZY PREVIEW=FUZZY PREVIEW STATUS=SIZE SAVEDATE LITERAL+ NOTIFY SPECIAL-USE")
	}
	if cfg.AppendLimit > 0 {
		caps = append(caps, fmt.Sprintf("APPENDLIMIT=%d", cfg.AppendLimit))
		if !cfg.NoMultiAppend {
			caps[0] = "+" + caps[0]
		}
	}
	if len(caps) > 0 {
		w("  imap_capability = %s", strings.Join(caps, " "))
	}
	if quota {
		w("  mail_plugins = $mail_plugins imap_quota")
	}
	w("}")
	if quota {
		w("plugin {")
		w("  quota = count:User quota")
		w("  quota_vsizes = yes")
		if cfg.QuotaStorageKB > 0 {
			w("  quota_rule = *:storage=%dK", cfg.QuotaStorageKB)
		}
		if cfg.MaxMailSize != "" {
			w("  quota_max_mail_size = %s", cfg.MaxMailSize)
		}
		w("}")
	}
	w("")
	_, port, _ := net.SplitHostPort(d.Addr)
	tlsPort := "0" // 0 disables the default imaps listener on 993
	if d.TLSAddr != "" {
		_, tlsPort, _ = net.SplitHostPort(d.TLSAddr)
	}
	w("service imap-login {")
	w("  inet_listener imap {")
	w("    address = 127.0.0.1")
	w("    port = %s", port)
	w("  }")
	w("  inet_listener imaps {")
	w("    address = 127.0.0.1")
	w("    port = %s", tlsPort)
	w("  }")
	w("}")
	return b.String()
}

// lockedBuffer collects the master's output, which exec writes from its
// own goroutine while Log may read it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *lockedBuffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Reset()
}
