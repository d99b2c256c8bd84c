package main

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestWriteUnchanged(t *testing.T) {
	r := &unchangedResult{messages: 100000, folders: 10, firstPass: 95 * time.Second,
		passes: []float64{0.2, 0.3, 0.25}, peakRSSMB: 31.4, loads: []string{"1.10", "1.20", "1.30"}}
	var b strings.Builder
	writeUnchanged(&b, r)
	want := "| 100000 | 10 | 95.0 | 0.250 (0.200-0.300) | 25.0 (20.0-30.0) | 31 | 1.10 1.20 1.30 |"
	if !strings.Contains(b.String(), want) {
		t.Errorf("writeUnchanged() =\n%s\nwant a row %q", b.String(), want)
	}
}

func TestReadTotals(t *testing.T) {
	path := t.TempDir() + "/report.json"
	if err := os.WriteFile(path, []byte(`{"totals":{"source_count":7,"copied":0,"flags_updated":2}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := readTotals(path)
	if err != nil {
		t.Fatalf("readTotals() error: %v", err)
	}
	if want := (totals{SourceCount: 7, FlagsUpdated: 2}); got != want {
		t.Errorf("readTotals() = %+v; want %+v", got, want)
	}
}
