package main

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// phase is one timed phase of one run: the harness's result line and its
// '#' detail line, merged ("msgs=4000 wall_s=2.39 ... load1_before=0.5").
type phase map[string]string

func (p phase) num(key string) (float64, bool) {
	v, err := strconv.ParseFloat(p[key], 64)
	return v, err == nil
}

// run is what one tool did in one round.
type run struct {
	tool  string
	round int
	full  phase
	incr  phase
	// noChange is the pass after the incremental one, with nothing new at
	// the source (wall_s, verified, duplicates, load1_before).
	noChange phase
	dir      string // the harness's run directory
}

// parseHarness reads run.sh's output: per phase a result line
//
//	mbsync small msgs=4000 bytes=165256133 wall_s=4.12 ... verified=yes
//
// then a detail line "# mbsync small variant=default par=1 rc=0 ...".
// It returns the phases by label (small, small-incr) in their order.
func parseHarness(out string) (labels []string, phases map[string]phase) {
	phases = map[string]phase{}
	var last phase
	for _, line := range strings.Split(out, "\n") {
		detail := strings.HasPrefix(line, "# ")
		f := strings.Fields(strings.TrimPrefix(line, "# "))
		if len(f) < 3 || !strings.Contains(f[2], "=") {
			continue
		}
		kv := phase{}
		for _, x := range f[2:] {
			if k, v, ok := strings.Cut(x, "="); ok {
				kv[k] = v
			}
		}
		switch {
		case !detail && kv["msgs"] != "":
			last = kv
			phases[f[1]] = kv
			labels = append(labels, f[1])
		case detail && last != nil && kv["rc"] != "":
			for k, v := range kv {
				last[k] = v
			}
			last = nil
		}
	}
	return labels, phases
}

// stats formats the median of the values with their range, "2649 (1674-2701)".
func stats(vals []float64, format string) string {
	if len(vals) == 0 {
		return "-"
	}
	s := slices.Clone(vals)
	sort.Float64s(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	out := fmt.Sprintf(format, med)
	if len(s) > 1 && fmt.Sprintf(format, s[0]) != fmt.Sprintf(format, s[len(s)-1]) {
		out += fmt.Sprintf(" ("+format+"-"+format+")", s[0], s[len(s)-1])
	}
	return out
}

// collect gathers one number over runs; per is a divisor taken from the
// same phase (msgs, for a cost per message), or "".
func collect(runs []run, pick func(run) phase, key, per string, scale float64) []float64 {
	var out []float64
	for _, r := range runs {
		p := pick(r)
		if p == nil {
			continue
		}
		v, ok := p.num(key)
		if !ok {
			continue
		}
		if per != "" {
			d, ok := p.num(per)
			if !ok || d == 0 {
				continue
			}
			v /= d
		}
		out = append(out, v*scale)
	}
	return out
}

// toolNames are the names the table shows for the harness's tools.
var toolNames = map[string]string{
	"ours":    "imapmigrate",
	"mbsync":  "mbsync",
	"doveadm": "doveadm backup (dsync over imapc)",
}

// writeTable prints the Markdown table: one row per tool, medians over the
// rounds with their range, then the ratio to mbsync within each round.
func writeTable(w io.Writer, tools []string, runs []run, versions map[string]string) {
	fmt.Fprintln(w, "| tool | full msgs/s | full MB/s | peak RSS MB | incremental s | no-change s | tool CPU ms/msg | servers CPU ms/msg | verified | flags / keywords / dates differing | headers added | load1 |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---|---|---:|---|")
	full := func(r run) phase { return r.full }
	incr := func(r run) phase { return r.incr }
	none := func(r run) phase { return r.noChange }
	for _, t := range tools {
		var rs []run
		for _, r := range runs {
			if r.tool == t && r.full != nil {
				rs = append(rs, r)
			}
		}
		if len(rs) == 0 {
			continue
		}
		name := toolNames[t]
		if name == "" {
			name = t
		}
		if v := versions[t]; v != "" {
			name += " (" + v + ")"
		}
		var verified, loads []string
		for _, r := range rs {
			for _, p := range []phase{r.full, r.incr, r.noChange} {
				if p != nil && !slices.Contains(verified, p["verified"]) {
					verified = append(verified, p["verified"])
				}
			}
			loads = append(loads, r.full["load1_before"])
		}
		f := rs[0].full
		servers := collect(rs, full, "servers_cpu_s", "msgs", 1000)
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s / %s / %s | %s | %s |\n",
			name,
			stats(collect(rs, full, "msgs_per_s", "", 1), "%.0f"),
			stats(collect(rs, full, "MB_per_s", "", 1), "%.1f"),
			stats(collect(rs, full, "peak_rss_mb", "", 1), "%.0f"),
			stats(collect(rs, incr, "wall_s", "", 1), "%.2f"),
			stats(collect(rs, none, "wall_s", "", 1), "%.2f"),
			stats(collect(rs, full, "tool_cpu_s", "msgs", 1000), "%.3f"),
			stats(servers, "%.3f"),
			strings.Join(verified, ","),
			f["sysflag_mismatch"], f["keyword_mismatch"], f["date_mismatch"],
			f["tool_headers"],
			strings.Join(loads, " "))
	}
	if ratios := ratiosTo(runs, "ours", "mbsync"); len(ratios) > 0 {
		var each []string
		for _, r := range ratios {
			each = append(each, fmt.Sprintf("%.2f", r))
		}
		fmt.Fprintf(w, "\nimapmigrate / mbsync, full-pass msgs/s within each round: %s (median %s)\n", strings.Join(each, ", "), stats(ratios, "%.2f"))
	}
}

// ratiosTo divides a's full-pass msgs/s by b's, round by round: the two
// ran minutes apart on the same machine, which is the only fair
// comparison on a shared host.
func ratiosTo(runs []run, a, b string) []float64 {
	byRound := map[int]map[string]float64{}
	for _, r := range runs {
		if r.full == nil {
			continue
		}
		if v, ok := r.full.num("msgs_per_s"); ok {
			if byRound[r.round] == nil {
				byRound[r.round] = map[string]float64{}
			}
			byRound[r.round][r.tool] = v
		}
	}
	var rounds []int
	for k := range byRound {
		rounds = append(rounds, k)
	}
	sort.Ints(rounds)
	var out []float64
	for _, k := range rounds {
		if x, y := byRound[k][a], byRound[k][b]; x > 0 && y > 0 {
			out = append(out, x/y)
		}
	}
	return out
}
