package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/imapmigrate/imapmigrate/internal/testserver"
)

// unchangedFolders are the folders of the -unchanged mailbox: as many as a
// typical user's mailbox, with the names that need encoding.
var unchangedFolders = []string{"INBOX", "Sent", "Drafts", "Trash", "Archive/2019", "Archive/2020", "Projects/Alpha", "Entwürfe", "日本語", "Clients/Müller GmbH"}

// unchangedResult is the -unchanged measurement: the incremental pass over
// a mailbox where nothing changed since the last pass, which is what
// almost every pass of the service's 24-hour schedule is.
type unchangedResult struct {
	messages, folders int
	firstPass         time.Duration
	passes            []float64 // seconds of each unchanged pass
	peakRSSMB         float64   // the highest of the unchanged passes
	loads             []string  // load1 before each unchanged pass
}

// runUnchanged seeds one mailbox of n small messages on a throwaway
// Dovecot (not the harness's: its corpora stop at 5,000 per mailbox),
// copies it once, then times `passes` passes with nothing changed, each
// under GNU time for its peak RSS, and checks that they copied nothing.
func (b *bench) runUnchanged(n, passes int) (*unchangedResult, error) {
	const user, srcPW, dstPW = "alice@example.com", "alice-source-pw", "alice-dest-pw"
	src, err := testserver.Start(testserver.DovecotConfig{Users: map[string]string{user: srcPW}, SpecialUse: true})
	if err != nil {
		return nil, fmt.Errorf("start source Dovecot: %w", err)
	}
	defer src.Stop()
	dst, err := testserver.Start(testserver.DovecotConfig{Users: map[string]string{user: dstPW}, SpecialUse: true})
	if err != nil {
		return nil, fmt.Errorf("start destination Dovecot: %w", err)
	}
	defer dst.Stop()
	// Small messages: what is measured is per message and per folder, and
	// small ones keep seeding 100,000 of them to a few minutes.
	msgs := testserver.Corpus(testserver.CorpusOptions{Seed: 3, Messages: n, Folders: unchangedFolders, MinSize: 1000, MaxSize: 4000})
	b.logf("unchanged: seeding %d messages in %d folders at %s", n, len(unchangedFolders), src.Addr)
	if err := testserver.Seed(b.ctx, src.Addr, user, srcPW, msgs); err != nil {
		return nil, fmt.Errorf("seed source: %w", err)
	}
	msgs = nil

	dir, err := os.MkdirTemp(b.root, "unchanged-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	pw1, pw2 := filepath.Join(dir, "pw1"), filepath.Join(dir, "pw2")
	if err := os.WriteFile(pw1, []byte(srcPW), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(pw2, []byte(dstPW), 0o600); err != nil {
		return nil, err
	}
	reportFile, rssFile := filepath.Join(dir, "report.json"), filepath.Join(dir, "rss")
	sync := func() (time.Duration, totals, float64, error) {
		args := append([]string{"-f", "%M", "-o", rssFile, b.bin, "sync",
			"--source", src.Addr, "--source-user", user, "--source-password-file", pw1, "--source-security", "none",
			"--dest", dst.Addr, "--dest-user", user, "--dest-password-file", pw2, "--dest-security", "none",
			"--state", filepath.Join(dir, "state.db"), "--report", reportFile}, b.syncArgs...)
		cmd := exec.CommandContext(b.ctx, "/usr/bin/time", args...)
		cmd.Stdout, cmd.Stderr = io.Discard, b.stderr
		start := time.Now()
		if err := cmd.Run(); err != nil {
			return 0, totals{}, 0, fmt.Errorf("imapmigrate sync: %w", err)
		}
		took := time.Since(start)
		t, err := readTotals(reportFile)
		if err != nil {
			return 0, totals{}, 0, err
		}
		rss, err := os.ReadFile(rssFile)
		if err != nil {
			return 0, totals{}, 0, fmt.Errorf("read peak RSS from GNU time: %w", err)
		}
		kb, err := strconv.ParseFloat(strings.TrimSpace(string(rss)), 64)
		if err != nil {
			return 0, totals{}, 0, fmt.Errorf("GNU time's peak RSS %q: %w", rss, err)
		}
		return took, t, kb / 1024, nil
	}

	r := &unchangedResult{messages: n, folders: len(unchangedFolders)}
	b.logf("unchanged: first pass")
	d, t, _, err := sync()
	if err != nil {
		return nil, err
	}
	if t.Copied != n {
		return nil, fmt.Errorf("first pass copied %d messages; want %d", t.Copied, n)
	}
	r.firstPass = d
	for i := range passes {
		r.loads = append(r.loads, loadavg())
		d, t, rss, err := sync()
		if err != nil {
			return nil, err
		}
		if t.Copied != 0 || t.FlagsUpdated != 0 || t.SourceCount != n {
			return nil, fmt.Errorf("unchanged pass %d: copied %d, flags updated %d, source count %d; want 0, 0, %d", i+1, t.Copied, t.FlagsUpdated, t.SourceCount, n)
		}
		b.logf("unchanged pass %d: %.3f s, peak RSS %.1f MB", i+1, d.Seconds(), rss)
		r.passes = append(r.passes, d.Seconds())
		r.peakRSSMB = max(r.peakRSSMB, rss)
	}
	return r, nil
}

// totals is the part of `imapmigrate sync --report`'s JSON checked here.
type totals struct {
	SourceCount  int `json:"source_count"`
	Copied       int `json:"copied"`
	FlagsUpdated int `json:"flags_updated"`
}

func readTotals(path string) (totals, error) {
	var rep struct {
		Totals totals `json:"totals"`
	}
	data, err := os.ReadFile(path)
	if err == nil {
		err = json.Unmarshal(data, &rep)
	}
	if err != nil {
		return totals{}, fmt.Errorf("read sync report %s: %w", path, err)
	}
	return rep.Totals, nil
}

// writeUnchanged prints the -unchanged measurement as a table.
func writeUnchanged(w io.Writer, r *unchangedResult) {
	fmt.Fprintf(w, "Unchanged mailbox (incremental pass with nothing new, %d passes):\n\n", len(r.passes))
	fmt.Fprintln(w, "| messages | folders | first pass s | unchanged pass s | per folder ms | peak RSS MB | load1 |")
	fmt.Fprintln(w, "|---:|---:|---:|---:|---:|---:|---|")
	perFolder := make([]float64, len(r.passes))
	for i, s := range r.passes {
		perFolder[i] = s * 1000 / float64(r.folders)
	}
	fmt.Fprintf(w, "| %d | %d | %.1f | %s | %s | %.0f | %s |\n", r.messages, r.folders, r.firstPass.Seconds(),
		stats(r.passes, "%.3f"), stats(perFolder, "%.1f"), r.peakRSSMB, strings.Join(r.loads, " "))
}

// unchanged runs -unchanged, prints its table and saves it in BENCH_ROOT.
func (b *bench) unchanged(n, passes int) error {
	if _, err := os.Stat(b.bin); err != nil {
		return fmt.Errorf("imapmigrate binary: %w (run make build)", err)
	}
	if passes < 1 {
		return fmt.Errorf("-unchanged-passes %d: want 1 or more", passes)
	}
	if err := os.MkdirAll(b.root, 0o755); err != nil {
		return err
	}
	started := time.Now()
	r, err := b.runUnchanged(n, passes)
	if err != nil {
		return err
	}
	var out strings.Builder
	writeUnchanged(&out, r)
	fmt.Print("\n" + out.String())
	path := filepath.Join(b.root, fmt.Sprintf("bench-unchanged-%d-%s.md", n, started.Format("20060102-150405")))
	return os.WriteFile(path, []byte(out.String()), 0o644)
}
