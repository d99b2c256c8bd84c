package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration that reads "90s", "5m", "24h" (and plain
// integer seconds) from TOML and env, and prints as a Go duration.
//
// Plain integers are seconds because that is what an admin writing
// "poll = 2" means; time.Duration alone would read it as 2 nanoseconds.
type Duration struct{ time.Duration }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n > maxSeconds || n < -maxSeconds {
			return fmt.Errorf("%q seconds is too long", s)
		}
		d.Duration = time.Duration(n) * time.Second
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration (write 90s, 5m or 24h, or whole seconds)", s)
	}
	d.Duration = v
	return nil
}

// maxSeconds is the longest Duration in whole seconds.
const maxSeconds = int64(math.MaxInt64 / time.Second)

// MarshalText implements encoding.TextMarshaler, writing what
// time.Duration's String writes ("5m0s"), which UnmarshalText reads back.
func (d Duration) MarshalText() ([]byte, error) {
	return []byte(d.String()), nil
}
