package size

import "testing"

func TestParse(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int64
	}{
		{"0", 0},
		{"36700160", 36700160},
		{"35MiB", 35 << 20},
		{"35mib", 35 << 20},
		{"35MB", 35e6},
		{"512 KiB", 512 << 10},
		{"1.5GiB", 3 << 29},
		{"2G", 2 << 30},
		{"10K", 10 << 10},
		{"100B", 100},
		{" 7 MiB ", 7 << 20},
		{"1TiB", 1 << 40},
	} {
		got, err := Parse(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("Parse(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{"", "MiB", "-1", "-5MB", "ten", "5 XB", "2PiB", "1e300"} {
		if got, err := Parse(in); err == nil {
			t.Errorf("Parse(%q) = %d; want an error", in, got)
		}
	}
}

func TestFormat(t *testing.T) {
	for _, tt := range []struct {
		in   int64
		want string
	}{
		{0, "0 B"},
		{1023, "1023 B"},
		{1024, "1.0 KiB"},
		{35 << 20, "35.0 MiB"},
		{3 << 29, "1.5 GiB"},
		{5 << 40, "5.0 TiB"},
		{3 << 50, "3.0 PiB"},
	} {
		if got := Format(tt.in); got != tt.want {
			t.Errorf("Format(%d) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

// TestRoundTrip: what Format prints, Parse reads back to within the
// rounding of one decimal.
func TestRoundTrip(t *testing.T) {
	for _, n := range []int64{1, 999, 4096, 35 << 20, 123456789, 7 << 40} {
		got, err := Parse(Format(n))
		if err != nil {
			t.Fatalf("Parse(Format(%d) = %q): %v", n, Format(n), err)
		}
		if d := float64(got-n) / float64(n); d > 0.05 || d < -0.05 {
			t.Errorf("Parse(Format(%d)) = %d; more than 5%% off", n, got)
		}
	}
}
