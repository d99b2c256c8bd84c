// Package size reads and writes message and mailbox sizes the way admins
// type them and the way the CLI, the console, the reports and the mails
// show them, so that a size printed anywhere can be typed back anywhere.
package size

import (
	"fmt"
	"strconv"
	"strings"
)

// units are the suffixes Parse takes, longest first so that "MiB" is not
// read as "B". A bare K, M or G is binary, as in mail servers' settings.
var units = []struct {
	suffix string
	mult   float64
}{
	{"KIB", 1 << 10}, {"MIB", 1 << 20}, {"GIB", 1 << 30}, {"TIB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"T", 1 << 40}, {"B", 1},
}

// max bounds what Parse accepts (1 PiB): far above any mailbox, and far
// below where float64 loses whole bytes.
const max = 1 << 50

// Parse reads "36700160", "35MiB", "35MB", "512 KiB", "1.5GiB" (units in
// any case). It takes 0, which callers read as "no limit" where it means
// one.
func Parse(s string) (int64, error) {
	s = strings.TrimSpace(s)
	num, mult := s, 1.0
	for _, u := range units {
		if strings.HasSuffix(strings.ToUpper(s), u.suffix) {
			num, mult = strings.TrimSpace(s[:len(s)-len(u.suffix)]), u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v < 0 || v*mult > max {
		return 0, fmt.Errorf("%q is not a size: write bytes, or a number with KiB, MiB, GiB, KB, MB or GB, such as 35MiB", s)
	}
	return int64(v * mult), nil
}

// Format shows n in binary units with one decimal: "512 B", "3.8 GiB".
func Format(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, i := float64(n)/unit, 0
	for v >= unit && i < 4 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.1f %s", v, []string{"KiB", "MiB", "GiB", "TiB", "PiB"}[i])
}
