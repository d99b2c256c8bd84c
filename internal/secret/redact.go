package secret

import (
	"fmt"
	"io"
	"log/slog"
)

const redacted = "***"

// Secret is a string that never prints: String, GoString, Format(all verbs),
// LogValue (slog.LogValuer) and MarshalJSON give "***" (MarshalJSON gives
// "\"***\""). Reveal returns the value.
//
// fmt cannot call methods on unexported struct fields, so a Secret kept in
// an unexported field prints in clear with %v; keep such fields exported or
// never print the struct.
type Secret string

// Reveal returns the value, for the one place that needs it (an IMAP LOGIN,
// a Seal). Grep for Reveal to audit where passwords go.
func (s Secret) Reveal() string { return string(s) }

// String implements fmt.Stringer.
func (s Secret) String() string { return redacted }

// GoString implements fmt.GoStringer.
func (s Secret) GoString() string { return redacted }

// Format implements fmt.Formatter, so that every verb, flag and width
// prints "***"; without it %x or %d would print the bytes.
func (s Secret) Format(f fmt.State, verb rune) { io.WriteString(f, redacted) }

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON implements json.Marshaler.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText implements encoding.TextMarshaler, which encoders other than
// encoding/json (TOML, XML, CSV writers built on it) use.
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }
