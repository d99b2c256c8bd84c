package main

// The web console in a real browser: Debian's headless Chromium, driven
// over the DevTools protocol, does what an admin does on the console of
// `imapmigrate serve` (sign in, endpoints, a CSV with a mistake, a batch
// that syncs, a user, the report, complete, sign out) against real Dovecot
// servers. Each page it shows is saved as a screenshot for a person to
// look at.

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/imapmigrate/imapmigrate/internal/testserver"
)

// chromiumPath is where Debian's chromium package (scripts/deps.sh)
// installs the browser.
const chromiumPath = "/usr/bin/chromium"

// Screenshot file names, in the order the test shows the pages.
const (
	shotLogin          = "01-login.png"
	shotLoginError     = "02-login-error.png"
	shotEndpoints      = "03-endpoints.png"
	shotEndpointTest   = "04-endpoint-test.png"
	shotNewBatchErrors = "05-new-batch-errors.png"
	shotNewBatchPlan   = "06-new-batch-plan.png"
	shotBatchSyncing   = "07-batch-syncing.png"
	shotBatchSynced    = "08-batch-synced.png"
	shotUser           = "09-user.png"
	shotBatches        = "10-batches.png"
	shotConfirm        = "11-confirm-complete.png"
	shotCompleted      = "12-batch-completed.png"
	shotFailure        = "failure.png"
)

// screenshotDir is $IMAPMIGRATE_SCREENSHOTS, or screenshots/ at the root
// of the repository (the tests run in cmd/imapmigrate).
func screenshotDir() string {
	if dir := os.Getenv("IMAPMIGRATE_SCREENSHOTS"); dir != "" {
		return dir
	}
	return filepath.Join("..", "..", "screenshots")
}

// browser is one Chromium tab on the console of a site. Its methods fail
// the test, with a screenshot and the text of the page, when the page does
// not do what they expect.
type browser struct {
	t       *testing.T
	ctx     context.Context
	base    string
	shots   string
	secrets []string // must never be in a page

	mu       sync.Mutex
	problems []string // uncaught JavaScript exceptions, 5xx answers
}

// pageTimeout bounds one browser action (a click, a query, a screenshot).
const pageTimeout = 20 * time.Second

// requireChromium skips the test unless IMAPMIGRATE_INTEGRATION=1, and
// then fails it if Chromium is missing.
func requireChromium(t *testing.T) {
	t.Helper()
	if os.Getenv(testserver.IntegrationEnv) != "1" {
		t.Skipf("needs Chromium and Dovecot; set %s=1 to run it", testserver.IntegrationEnv)
	}
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("Chromium is not installed at %s (%v): run scripts/deps.sh", chromiumPath, err)
	}
}

func startBrowser(t *testing.T, base string, secrets ...string) *browser {
	t.Helper()
	shots := screenshotDir()
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	// Remove the previous run's pictures, so that a failed run does not
	// leave a mix of old and new.
	for _, name := range []string{shotLogin, shotLoginError, shotEndpoints, shotEndpointTest, shotNewBatchErrors,
		shotNewBatchPlan, shotBatchSyncing, shotBatchSynced, shotUser, shotBatches, shotConfirm, shotCompleted, shotFailure} {
		os.Remove(filepath.Join(shots, name))
	}

	// Tests run as root in CI, where Chromium's sandbox cannot start; the
	// browser only ever visits the site on loopback.
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	ctx, cancelTab := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
	b := &browser{t: t, ctx: ctx, base: base, shots: shots, secrets: secrets}

	started := time.Now()
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		cancelTab()
		cancelAlloc()
		t.Fatalf("start %s: %v", chromiumPath, err)
	}
	t.Logf("Chromium started in %v", time.Since(started).Round(time.Millisecond))

	// Record what the pages get wrong outside what the test looks at.
	var wg sync.WaitGroup
	exceptions := chromedp.Events(ctx, runtime.ExceptionThrown)
	responses := chromedp.Events(ctx, network.ResponseReceived)
	wg.Go(func() {
		for ev, err := range exceptions {
			if err != nil {
				return
			}
			d := ev.ExceptionDetails
			msg := d.Text
			if d.Exception != nil && d.Exception.Description != "" {
				msg += " " + d.Exception.Description
			}
			b.problem("JavaScript exception at %s:%d: %s", d.URL, d.LineNumber+1, msg)
		}
	})
	wg.Go(func() {
		for ev, err := range responses {
			if err != nil {
				return
			}
			if ev.Response != nil && ev.Response.Status >= 500 {
				b.problem("%s answered %d", ev.Response.URL, ev.Response.Status)
			}
		}
	})
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
		wg.Wait()
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, p := range b.problems {
			t.Error(p)
		}
	})
	return b
}

func (b *browser) problem(format string, args ...any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.problems = append(b.problems, fmt.Sprintf(format, args...))
}

// fatalf fails the test with what the browser shows: the address, the
// text of the page, and a screenshot in failure.png.
func (b *browser) fatalf(format string, args ...any) {
	b.t.Helper()
	msg := fmt.Sprintf(format, args...)
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
		os.WriteFile(filepath.Join(b.shots, shotFailure), png, 0o644)
	}
	b.t.Fatalf("%s\nthe browser is at %s, showing (see %s):\n%s", msg, loc, filepath.Join(b.shots, shotFailure), truncate(text, 3000))
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// do runs actions, each within pageTimeout.
func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	for _, a := range actions {
		ctx, cancel := context.WithTimeout(b.ctx, pageTimeout)
		err := chromedp.Do(ctx, a)
		cancel()
		if err != nil {
			b.fatalf("%s: %v", what, err)
		}
	}
}

// open loads path of the site.
func (b *browser) open(path string) {
	b.t.Helper()
	b.do("open "+path, chromedp.Navigate(b.base+path))
}

func (b *browser) click(sel string) {
	b.t.Helper()
	b.do("click "+sel, chromedp.Click(chromedp.CSS(sel)))
}

// fill types value into the input sel, replacing what it held.
func (b *browser) fill(sel, value string) {
	b.t.Helper()
	b.do("wait for "+sel, chromedp.WaitVisible(chromedp.CSS(sel)))
	b.eval(fmt.Sprintf(`(() => { document.querySelector(%s).value = ""; return "" })()`, jsString(sel)))
	b.do("type into "+sel, chromedp.SendKeys(chromedp.CSS(sel), value))
	if got := b.eval(fmt.Sprintf(`document.querySelector(%s).value`, jsString(sel))); got != value {
		b.fatalf("%s holds %q after typing %q", sel, got, value)
	}
}

// choose selects the option of value in select sel, as a user would
// (with a change event), and fails if there is no such option.
func (b *browser) choose(sel, value string) {
	b.t.Helper()
	js := fmt.Sprintf(`(() => {
		const s = document.querySelector(%s);
		if (!s) return "no element";
		const opts = Array.from(s.options || []).map(o => o.value);
		if (!opts.includes(%s)) return "options are " + JSON.stringify(opts);
		s.value = %s;
		s.dispatchEvent(new Event("input", {bubbles: true}));
		s.dispatchEvent(new Event("change", {bubbles: true}));
		return "";
	})()`, jsString(sel), jsString(value), jsString(value))
	b.do("wait for "+sel, chromedp.WaitReady(chromedp.CSS(sel)))
	if problem := b.eval(js); problem != "" {
		b.fatalf("choose %q in %s: %s", value, sel, problem)
	}
}

// check ticks the checkbox sel by clicking it, unless it is ticked.
func (b *browser) check(sel string) {
	b.t.Helper()
	b.do("wait for "+sel, chromedp.WaitReady(chromedp.CSS(sel)))
	if b.eval(fmt.Sprintf(`String(document.querySelector(%s).checked)`, jsString(sel))) != "true" {
		b.click(sel)
	}
	if b.eval(fmt.Sprintf(`String(document.querySelector(%s).checked)`, jsString(sel))) != "true" {
		b.fatalf("%s is not ticked after a click", sel)
	}
}

func (b *browser) upload(sel, file string) {
	b.t.Helper()
	b.do("upload to "+sel, chromedp.SetUploadFiles(chromedp.CSS(sel), []string{file}, chromedp.NodeReady))
}

func jsString(s string) string {
	j, _ := json.Marshal(s)
	return string(j)
}

// eval runs a JavaScript expression that gives a string.
func (b *browser) eval(js string) string {
	b.t.Helper()
	v, err := b.try(js)
	if err != nil {
		b.fatalf("evaluate %s: %v", truncate(js, 200), err)
	}
	return v
}

// try is eval for a page that may be on its way out: it gives the error.
func (b *browser) try(js string) (string, error) {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[string](js))
}

// element is what the page shows of one element.
type element struct {
	Found bool   `json:"found"`
	Text  string `json:"text"`
}

// read gives the text of the first element that sel matches, as the user
// sees it. An error (the page is being replaced) reads as not found.
func (b *browser) read(sel string) element {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	e, err := chromedp.Run(ctx, chromedp.Evaluate[element](fmt.Sprintf(`(() => {
		const e = document.querySelector(%s);
		return {found: !!e, text: e ? (e.innerText ?? e.textContent).trim() : ""};
	})()`, jsString(sel))))
	if err != nil {
		return element{}
	}
	return e
}

// text gives the text of sel, which must be on the page.
func (b *browser) text(sel string) string {
	b.t.Helper()
	b.do("wait for "+sel, chromedp.WaitReady(chromedp.CSS(sel)))
	e := b.read(sel)
	if !e.Found {
		b.fatalf("%s is not on the page", sel)
	}
	return e.Text
}

// count gives the number of elements that sel matches.
func (b *browser) count(sel string) int {
	b.t.Helper()
	n, _ := strconv.Atoi(b.eval(fmt.Sprintf(`String(document.querySelectorAll(%s).length)`, jsString(sel))))
	return n
}

// waitFor polls until ok holds for the text of sel (the pages update
// themselves), and gives that text. Pages may be replaced meanwhile.
func (b *browser) waitFor(sel string, timeout time.Duration, want string, ok func(text string) bool) string {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		e := b.read(sel)
		if e.Found && ok(e.Text) {
			return e.Text
		}
		if time.Now().After(deadline) {
			if !e.Found {
				b.fatalf("%s did not appear within %v (waiting for %s)", sel, timeout, want)
			}
			b.fatalf("%s shows %q after %v; want %s", sel, e.Text, timeout, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (b *browser) waitText(sel string, timeout time.Duration, want string) string {
	b.t.Helper()
	return b.waitFor(sel, timeout, fmt.Sprintf("%q", want), func(s string) bool { return s == want })
}

func (b *browser) waitContains(sel string, timeout time.Duration, want string) string {
	b.t.Helper()
	return b.waitFor(sel, timeout, fmt.Sprintf("text with %q", want), func(s string) bool { return strings.Contains(s, want) })
}

func (b *browser) waitPresent(sel string, timeout time.Duration) {
	b.t.Helper()
	b.waitFor(sel, timeout, "the element", func(string) bool { return true })
}

// mark tags the document shown, so that stillSame can tell whether the
// page was reloaded since.
func (b *browser) mark() {
	b.t.Helper()
	b.eval(`(() => { window.consoleTestMark = "same page"; return "" })()`)
}

// stillSame says whether the document marked last is still the one shown:
// live updates must not reload the page.
func (b *browser) stillSame() bool {
	b.t.Helper()
	v, _ := b.try(`window.consoleTestMark || ""`)
	return v == "same page"
}

// path gives the path of the page shown, e.g. "/batches/b1".
func (b *browser) path() string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		return ""
	}
	u, err := url.Parse(loc)
	if err != nil {
		return ""
	}
	return u.Path
}

// waitPath waits until the browser shows path.
func (b *browser) waitPath(path string, timeout time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := b.path()
		if state, _ := b.try(`document.readyState`); got == path && state == "complete" {
			return
		}
		if time.Now().After(deadline) {
			b.fatalf("the browser is at %q after %v; want %q", got, timeout, path)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// shot saves a full-page screenshot as name, after checking that the page
// holds no password.
func (b *browser) shot(name string) {
	b.t.Helper()
	html := b.eval(`document.documentElement.outerHTML`)
	for _, s := range b.secrets {
		if strings.Contains(html, s) {
			b.t.Errorf("the page of %s (%s) contains the password %q", b.path(), name, s)
		}
	}
	ctx, cancel := context.WithTimeout(b.ctx, pageTimeout)
	defer cancel()
	// Quality 100 makes a PNG; below it Chromium writes a JPEG.
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(b.shots, name), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// cookies gives the browser's cookies for the site.
func (b *browser) cookies() []*http.Cookie {
	b.t.Helper()
	res, err := chromedp.Call(b.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{b.base + "/"}})
	if err != nil {
		b.fatalf("read the browser's cookies: %v", err)
	}
	var cookies []*http.Cookie
	for _, c := range res.Cookies {
		cookies = append(cookies, &http.Cookie{Name: c.Name, Value: c.Value})
	}
	return cookies
}

// get fetches path of the site with cookies, outside the browser, as a
// script given the session would. It does not follow redirects.
func (b *browser) get(path string, cookies []*http.Cookie) (*http.Response, []byte) {
	b.t.Helper()
	req, err := http.NewRequestWithContext(b.ctx, "GET", resolve(b.t, b.base, path), nil)
	if err != nil {
		b.t.Fatal(err)
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		b.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatalf("GET %s: %v", path, err)
	}
	return resp, body
}

// resolve makes ref, as found in an href, an absolute URL of the site.
func resolve(t *testing.T, base, ref string) string {
	t.Helper()
	bu, err := url.Parse(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	r, err := url.Parse(ref)
	if err != nil {
		t.Fatalf("link %q: %v", ref, err)
	}
	return bu.ResolveReference(r).String()
}

// figure reads a figure as the console shows it ("1,234" is 1234).
func figure(s string) int {
	digits := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
	n, err := strconv.Atoi(digits)
	if err != nil {
		return -1
	}
	return n
}

// TestConsoleInChromium is the admin's way through the console, in a
// real browser: the list of what the console must do.
func TestConsoleInChromium(t *testing.T) {
	began := time.Now()
	lap := func(what string) { t.Logf("%-32s %v", what, time.Since(began).Round(100*time.Millisecond)) }
	const (
		users   = 3
		batch   = "b1"
		adminPW = "console admin pw 42"
	)
	var secrets []string
	for i := 1; i <= users; i++ {
		secrets = append(secrets, fmt.Sprintf("src pw %d", i), fmt.Sprintf("dst,pw;%d", i))
	}
	secrets = append(secrets, adminPW)

	requireChromium(t)
	m := startMailUsers(t, users, func(i int) []testserver.Message {
		return testserver.Corpus(testserver.CorpusOptions{Seed: int64(10 + i), Messages: 30 * i,
			Folders: []string{"INBOX", "Sent", "Archive"}, MinSize: 1000, MaxSize: 6000})
	})
	// A few milliseconds between the service and the source, so that the
	// batch page can be seen while it syncs.
	srcAddr := testserver.StartDelayProxy(t, m.src.Addr, 3*time.Millisecond)
	s := newSite(t, "")
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "admin.pw")
	if err := os.WriteFile(pwFile, []byte(adminPW+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.must("admin", "set-password", "--password-file", pwFile)
	s.serve()
	lap("mail servers and serve up")

	b := startBrowser(t, s.server, secrets...)
	lap("Chromium up")

	// Sign in: a wrong password is refused, the right one lets in.
	b.open("/login")
	b.waitPresent("form#login-form", pageTimeout)
	b.shot(shotLogin)
	b.fill("input#password", "not the password")
	b.click("button#signin")
	b.waitPresent("p#login-error", pageTimeout)
	b.shot(shotLoginError)
	if p := b.path(); p != "/login" {
		t.Errorf("after a wrong password the browser is at %q; want /login", p)
	}
	b.fill("input#password", adminPW)
	b.click("button#signin")
	b.waitFor("a#nav-batches", pageTimeout, "the header of a signed-in page", func(string) bool { return b.path() != "/login" })
	for _, sel := range []string{"a#nav-endpoints", "a#nav-new-batch", "button#signout"} {
		if !b.read(sel).Found {
			t.Errorf("the header after sign-in has no %s", sel)
		}
	}
	lap("signed in")

	// Endpoints, added through the form, and a connection test.
	b.click("a#nav-endpoints")
	b.waitPath("/endpoints", pageTimeout)
	addEndpoint := func(name, addr string) {
		t.Helper()
		host, port := hostPort(t, addr)
		b.waitPresent("button#ep-add", pageTimeout)
		b.fill("input#ep-name", name)
		b.fill("#ep-host", host)
		b.fill("#ep-port", port)
		b.choose("select#ep-security", "none")
		b.choose("select#ep-credentials", "per_user")
		b.click("button#ep-add")
		b.waitPresent(fmt.Sprintf(`table#endpoints tr[data-endpoint=%q]`, name), pageTimeout)
		if e := b.read("p.error"); e.Found && e.Text != "" {
			t.Errorf("adding endpoint %s shows an error: %s", name, e.Text)
		}
	}
	addEndpoint("src", srcAddr)
	addEndpoint("dst", m.dst.Addr)
	b.shot(shotEndpoints)
	row := `table#endpoints tr[data-endpoint="src"]`
	b.fill(row+` input[name="user"]`, "user01@example.com")
	b.fill(row+` input[name="password"]`, "src pw 1")
	b.click(row + ` button[data-action="test"]`)
	// The result may be shown in the row or, after a reload, elsewhere.
	b.waitFor("div.test-result", 30*time.Second, "capabilities with IMAP4rev1", func(string) bool {
		all, _ := b.try(`Array.from(document.querySelectorAll("div.test-result")).map(e => e.innerText).join("\n")`)
		return strings.Contains(all, "IMAP4rev1")
	})
	b.shot(shotEndpointTest)
	lap("endpoints added and tested")

	// The new-batch page: a CSV with a bad address on line 3 is reported
	// with its line, and nothing is created.
	bad := strings.Replace(m.csv, "user02@example.com,user02", "user02@,user02", 1)
	if bad == m.csv {
		t.Fatal("the bad CSV is not bad")
	}
	badCSV, goodCSV := filepath.Join(dir, "bad.csv"), filepath.Join(dir, "users.csv")
	os.WriteFile(badCSV, []byte(bad), 0o600)
	os.WriteFile(goodCSV, []byte(m.csv), 0o600)
	fillNewBatch := func(csvFile string) {
		t.Helper()
		b.waitPresent("button#create", pageTimeout)
		b.choose("select#source-endpoint", "src")
		b.choose("select#dest-endpoint", "dst")
		b.fill("input#name", batch)
		b.upload("input#csv", csvFile)
	}
	noBatches := func(when string) {
		t.Helper()
		var list []json.RawMessage
		out := s.must("batch", "list", "--json")
		if err := json.Unmarshal([]byte(out), &list); err != nil {
			t.Fatalf("batch list --json: %v\n%s", err, out)
		}
		if len(list) != 0 {
			t.Errorf("%s, batch list shows %d batches; want none:\n%s", when, len(list), out)
		}
	}
	b.click("a#nav-new-batch")
	b.waitPath("/batches/new", pageTimeout)
	fillNewBatch(badCSV)
	b.click("button#validate")
	b.waitContains("ul#csv-problems", pageTimeout, "line 3")
	for _, li := range strings.Split(b.text("ul#csv-problems"), "\n") {
		if li = strings.TrimSpace(li); li != "" && !strings.HasPrefix(li, "line ") {
			t.Errorf("CSV problem %q does not start with its line", li)
		}
	}
	if n := b.count("ul#csv-problems li"); n != 1 {
		t.Errorf("ul#csv-problems has %d items; want 1 (the address on line 3):\n%s", n, b.text("ul#csv-problems"))
	}
	b.shot(shotNewBatchErrors)
	noBatches("after validating a CSV with a mistake")

	// The fixed CSV: the dry run shows the plan, then create and start.
	fillNewBatch(goodCSV)
	b.click("button#validate")
	b.waitPresent("table#plan", pageTimeout)
	if e := b.read("ul#csv-problems"); e.Found && e.Text != "" {
		t.Errorf("the fixed CSV still shows problems: %s", e.Text)
	}
	b.shot(shotNewBatchPlan)
	noBatches("after validating the fixed CSV")
	fillNewBatch(goodCSV)
	b.check("input#start")
	b.click("button#create")
	b.waitPath("/batches/"+batch, pageTimeout)
	b.waitPresent("span#batch-state", pageTimeout)
	b.mark()
	b.shot(shotBatchSyncing)
	lap("batch created")

	// The batch page follows the sync to Synced without a reload.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		st := b.read("span#batch-state")
		if st.Found && st.Text == "Synced" {
			break
		}
		if time.Now().After(deadline) {
			b.fatalf("span#batch-state shows %q after 2 minutes; want Synced (the CLI says %s)", st.Text, s.batch(batch).State)
		}
		time.Sleep(250 * time.Millisecond)
	}
	if !b.stillSame() {
		t.Errorf("the batch page reloaded itself while the batch synced; want its figures updated in place")
	}
	lap("batch Synced on the page")
	total := 0
	for i := 1; i <= users; i++ {
		u := fmt.Sprintf("user%02d@example.com", i)
		total += m.count[u]
		row := fmt.Sprintf(`table#users tr[data-user=%q]`, u)
		b.waitText(row+" td.status", 30*time.Second, "Synced")
		b.waitText(row+" td.synced", 30*time.Second, strconv.Itoa(m.count[u]))
		if got := b.text(row + " td.failed"); figure(got) != 0 {
			t.Errorf("%s: td.failed %q; want 0", u, got)
		}
		if got := b.text(row + " td.bytes"); got == "" {
			t.Errorf("%s: td.bytes is empty", u)
		}
		if !b.read(row + " progress").Found {
			t.Errorf("%s: the row has no progress bar", u)
		}
	}
	// The summary above the table follows too.
	b.waitContains("dd#batch-items", 30*time.Second, fmt.Sprintf("%d synced, 0 skipped, 0 failed", total))
	if n := b.count("table#users tr[data-user]"); n != users {
		t.Errorf("table#users has %d user rows; want %d", n, users)
	}
	for _, sel := range []string{"select#status-filter", "a#report-json", "input#add-csv", "button#add-users"} {
		if !b.read(sel).Found {
			t.Errorf("the batch page has no %s", sel)
		}
	}
	b.shot(shotBatchSynced)

	// One user: the grade and the folders.
	b.click(`table#users tr[data-user="user02@example.com"] a.user-link`)
	b.waitPath("/users/user02@example.com", pageTimeout)
	b.waitText("span#grade", pageTimeout, "Perfect")
	if n := b.count("table#folders tbody tr"); n < 3 {
		t.Errorf("table#folders has %d rows; want one per folder (INBOX, Sent, Archive)", n)
	}
	if got := b.text("table#folders"); !strings.Contains(got, "INBOX") || !strings.Contains(got, "Archive") {
		t.Errorf("table#folders does not name the folders:\n%s", got)
	}
	for _, sel := range []string{"span#user-status", "table#skipped"} {
		if !b.read(sel).Found {
			t.Errorf("the user page has no %s", sel)
		}
	}
	b.shot(shotUser)
	lap("user page")

	// The report, downloaded with the browser's session.
	b.open("/batches/" + batch)
	b.waitPresent("a#report-csv", pageTimeout)
	href := b.eval(`document.querySelector("a#report-csv").getAttribute("href") || ""`)
	if want := "/batches/" + batch + "/report.csv"; !strings.HasSuffix(strings.SplitN(href, "?", 2)[0], want) {
		t.Errorf("a#report-csv links to %q; want %s", href, want)
	}
	session := b.cookies()
	resp, body := b.get(href, session)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s with the session: %s\n%s", href, resp.Status, truncate(string(body), 1000))
	}
	records, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil || len(records) < 2 {
		t.Fatalf("report %s: %v\n%s", href, err, truncate(string(body), 2000))
	}
	userRows := 0
	for _, r := range records[1:] {
		if r[0] != "user" {
			continue
		}
		userRows++
		if len(r) < 5 {
			t.Errorf("report row %v is short", r)
		} else if n, _ := strconv.Atoi(r[4]); n != m.count[r[1]] {
			t.Errorf("report row %v: ItemsSynced %d; want %d", r, n, m.count[r[1]])
		}
	}
	if userRows != users {
		t.Errorf("the report has %d user rows; want %d:\n%s", userRows, users, body)
	}
	jsonHref := b.eval(`(document.querySelector("a#report-json") || {getAttribute: () => ""}).getAttribute("href") || ""`)
	if jsonHref != "" {
		if resp, body := b.get(jsonHref, session); resp.StatusCode != 200 || !json.Valid(body) {
			t.Errorf("GET %s with the session: %s, valid JSON %v", jsonHref, resp.Status, json.Valid(body))
		}
	}
	lap("report checked")

	// The batches list, then complete with its confirmation.
	b.click("a#nav-batches")
	b.waitPath("/batches", pageTimeout)
	brow := fmt.Sprintf(`table#batches tr[data-batch=%q]`, batch)
	b.waitText(brow+" td.state", pageTimeout, "Synced")
	for _, c := range []struct {
		cell string
		want int
	}{{"users", users}, {"synced", users}, {"failed", 0}, {"items", total}, {"skipped", 0}} {
		if got := b.text(brow + " td." + c.cell); figure(got) != c.want {
			t.Errorf("batches table, td.%s = %q; want %d", c.cell, got, c.want)
		}
	}
	for _, sel := range []string{" progress", " td.last-sync", " td.next-sync"} {
		if !b.read(brow + sel).Found {
			t.Errorf("the batch row has no %s", strings.TrimSpace(sel))
		}
	}
	b.shot(shotBatches)
	b.click(brow + ` button[data-action="complete"]`)
	b.waitPath("/batches/"+batch+"/confirm/complete", pageTimeout)
	b.waitPresent("button#confirm", pageTimeout)
	b.shot(shotConfirm)
	b.click("button#confirm")
	b.waitFor("body", pageTimeout, "to leave the confirmation page", func(string) bool {
		return !strings.Contains(b.path(), "/confirm/")
	})
	if b.path() != "/batches" {
		b.open("/batches")
	}
	b.waitPresent(brow, pageTimeout)
	b.mark()
	b.waitText(brow+" td.state", time.Minute, "Completed")
	if !b.stillSame() {
		t.Errorf("the batches page reloaded itself while the batch completed; want its figures updated in place")
	}
	b.shot(shotCompleted)
	lap("batch Completed on the page")

	// Sign out: the pages send the browser back to the sign-in page.
	b.click("button#signout")
	b.waitPath("/login", pageTimeout)
	b.open("/batches")
	b.waitPath("/login", pageTimeout)
	if resp, _ := b.get("/batches", session); resp.StatusCode == 200 {
		t.Errorf("after sign-out, GET /batches with the old session cookie answers 200; want the session ended")
	}
	lap("signed out")

	for i := 1; i <= users; i++ {
		m.checkUser(t, i)
	}
	t.Logf("screenshots in %s", b.shots)
}
