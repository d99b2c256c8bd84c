package main

import (
	"bytes"
	"strings"
	"testing"
)

// harnessOutput is run.sh's stdout for one tool, as it prints it (lines
// shortened to the keys the table reads).
const harnessOutput = `ours small msgs=4000 bytes=165256133 wall_s=1.51 msgs_per_s=2649.0 MB_per_s=109.44 peak_rss_mb=40.4 verified=yes
# ours small variant=default par=1 rc=0 tool_cpu_s=0.78 servers_cpu_s=1.78 load1_before=0.17 sysflag_mismatch=0 keyword_mismatch=0 date_mismatch=0 tool_headers=0 run=/tmp/imapbench/runs/ours-small-1
#   problem: none
ours small-incr msgs=40 bytes=2187321 wall_s=0.19 msgs_per_s=210.5 MB_per_s=11.51 peak_rss_mb=25.3 verified=yes
# ours small-incr variant=default par=1 rc=0 tool_cpu_s=0.06 servers_cpu_s=0.12 load1_before=0.21 run=/tmp/imapbench/runs/ours-small-1
`

func TestParseHarness(t *testing.T) {
	labels, phases := parseHarness(harnessOutput)
	if strings.Join(labels, ",") != "small,small-incr" {
		t.Fatalf("labels = %q; want small, small-incr", labels)
	}
	tests := []struct{ label, key, want string }{
		{"small", "msgs_per_s", "2649.0"},
		{"small", "tool_cpu_s", "0.78"}, // from the detail line
		{"small", "run", "/tmp/imapbench/runs/ours-small-1"},
		{"small-incr", "wall_s", "0.19"},
		{"small-incr", "servers_cpu_s", "0.12"},
	}
	for _, tc := range tests {
		if got := phases[tc.label][tc.key]; got != tc.want {
			t.Errorf("phases[%s][%s] = %q; want %q", tc.label, tc.key, got, tc.want)
		}
	}
}

func TestStats(t *testing.T) {
	tests := []struct {
		vals []float64
		want string
	}{
		{nil, "-"},
		{[]float64{1674}, "1674"},
		{[]float64{2649, 1674, 2000}, "2000 (1674-2649)"},
		{[]float64{0.2, 0.1}, "0.15 (0.10-0.20)"},
		{[]float64{0.201, 0.199}, "0.20"}, // a range that rounds to one value is left out
	}
	for _, tc := range tests {
		format := "%.0f"
		if len(tc.vals) > 0 && tc.vals[0] < 1 {
			format = "%.2f"
		}
		if got := stats(tc.vals, format); got != tc.want {
			t.Errorf("stats(%v) = %q; want %q", tc.vals, got, tc.want)
		}
	}
}

// TestWriteTable checks the row an admin reads: medians over rounds, CPU
// per message from the detail line, and the ratio to mbsync taken within
// each round.
func TestWriteTable(t *testing.T) {
	mk := func(tool string, round int, msgsPerS, toolCPU, incr, none string) run {
		return run{tool: tool, round: round,
			full:     phase{"msgs": "4000", "msgs_per_s": msgsPerS, "MB_per_s": "50", "peak_rss_mb": "33", "tool_cpu_s": toolCPU, "servers_cpu_s": "4.0", "verified": "yes", "load1_before": "0.5", "keyword_mismatch": "0"},
			incr:     phase{"wall_s": incr, "verified": "yes"},
			noChange: phase{"wall_s": none, "verified": "yes"}}
	}
	runs := []run{
		mk("ours", 1, "2000", "1.00", "0.20", "0.10"), mk("mbsync", 1, "1000", "0.40", "0.10", "0.05"),
		mk("ours", 2, "3000", "1.20", "0.30", "0.12"), mk("mbsync", 2, "1500", "0.40", "0.20", "0.05"),
	}
	var out bytes.Buffer
	writeTable(&out, []string{"ours", "mbsync", "doveadm"}, runs, map[string]string{"mbsync": "isync 1.4.4"})
	got := out.String()
	for _, want := range []string{
		"| imapmigrate | 2500 (2000-3000) | 50.0 | 33 | 0.25 (0.20-0.30) | 0.11 (0.10-0.12) | 0.275 (0.250-0.300) | 1.000 | yes |",
		"| mbsync (isync 1.4.4) | 1250 (1000-1500) |",
		"full-pass msgs/s within each round: 2.00, 2.00 (median 2.00)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("table lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "doveadm") {
		t.Errorf("a tool with no run has a row:\n%s", got)
	}
}

func TestShellQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/tmp/imapbench/state/{user}.db", "/tmp/imapbench/state/{user}.db"},
		{"--source-security", "--source-security"},
		{"a b", "'a b'"},
		{"it's", `'it'\''s'`},
		{"", "''"},
	}
	for _, tc := range tests {
		if got := shellQuote(tc.in); got != tc.want {
			t.Errorf("shellQuote(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
}
