package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/imapmigrate/imapmigrate/internal/config"
)

func TestDurationUnmarshalText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    time.Duration
		wantErr string
	}{
		{name: "Seconds", in: "90s", want: 90 * time.Second},
		{name: "Minutes", in: "5m", want: 5 * time.Minute},
		{name: "Hours", in: "24h", want: 24 * time.Hour},
		{name: "Mixed", in: "1h30m", want: 90 * time.Minute},
		{name: "Milliseconds", in: "250ms", want: 250 * time.Millisecond},
		{name: "GoString", in: "5m0s", want: 5 * time.Minute},
		{name: "PlainSeconds", in: "30", want: 30 * time.Second},
		{name: "Zero", in: "0", want: 0},
		{name: "Negative", in: "-5s", want: -5 * time.Second},
		{name: "Spaces", in: " 10s ", want: 10 * time.Second},
		{name: "Empty", in: "", wantErr: `"" is not a duration`},
		{name: "Words", in: "5 minutes", wantErr: `"5 minutes" is not a duration`},
		{name: "Days", in: "1d", wantErr: "not a duration"},
		{name: "Fraction", in: "1.5", wantErr: "not a duration"},
		{name: "Overflow", in: "9223372036854775807", wantErr: "too long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var d config.Duration
			err := d.UnmarshalText([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("UnmarshalText(%q) = %v, %v; want an error containing %q", tt.in, d, err, tt.wantErr)
				}
				return
			}
			if err != nil || d.Duration != tt.want {
				t.Errorf("UnmarshalText(%q) = %v, %v; want %v", tt.in, d, err, tt.want)
			}
		})
	}
}

func TestDurationTOML(t *testing.T) {
	t.Parallel()
	var v struct {
		A, B, C config.Duration
	}
	if _, err := toml.Decode("A = \"90s\"\nB = 45\nC = \"24h\"\n", &v); err != nil {
		t.Fatal(err)
	}
	if v.A.Duration != 90*time.Second || v.B.Duration != 45*time.Second || v.C.Duration != 24*time.Hour {
		t.Errorf("decoded %+v; want 1m30s, 45s, 24h", v)
	}
}

func TestDurationMarshalRoundTrip(t *testing.T) {
	t.Parallel()
	for _, d := range []time.Duration{0, time.Second, 90 * time.Second, 5 * time.Minute, 36 * time.Hour, 1500 * time.Millisecond} {
		in := config.Duration{Duration: d}
		b, err := in.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != d.String() {
			t.Errorf("MarshalText(%v) = %q; want %q", d, b, d.String())
		}
		var out config.Duration
		if err := out.UnmarshalText(b); err != nil || out != in {
			t.Errorf("UnmarshalText(%q) = %v, %v; want %v", b, out, err, in)
		}
	}
	var buf strings.Builder
	if err := toml.NewEncoder(&buf).Encode(struct{ Poll config.Duration }{config.Duration{Duration: 2 * time.Second}}); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(buf.String()); got != `Poll = "2s"` {
		t.Errorf("toml encoding = %q; want %q", got, `Poll = "2s"`)
	}
}
