package fingerprint

import (
	"strings"
	"testing"
)

const base = "Received: from a by b; Mon, 2 Jan 2023 10:00:00 +0000\r\n" +
	"Message-ID: <1@example.com>\r\n" +
	"Date: Mon, 2 Jan 2023 10:00:00 +0000\r\n" +
	"From: Alice <alice@example.com>\r\n" +
	"Subject: Hello\r\n" +
	"\r\n" +
	"Body text.\r\n"

func TestOf(t *testing.T) {
	fp := Of(int64(len(base)), []byte(base))
	tests := []struct {
		name string
		msg  string
		size int64
		same bool
	}{
		{"Identical", base, int64(len(base)), true},
		{"HeaderOnly", strings.SplitAfter(base, "\r\n\r\n")[0], int64(len(base)), true},
		{"BareLF", strings.ReplaceAll(base, "\r\n", "\n"), int64(len(base)), true},
		{"Refolded", strings.Replace(base, "Subject: Hello", "Subject:\r\n  Hello", 1), int64(len(base)), true},
		{"FieldNameCase", strings.Replace(base, "Message-ID:", "Message-Id:", 1), int64(len(base)), true},
		{"ServerAddedField", "X-MS-Exchange-Organization-Id: 42\r\nStatus: RO\r\n" + base, int64(len(base)), true},
		{"OtherSize", base, int64(len(base)) + 1, false},
		{"OtherMessageID", strings.Replace(base, "<1@", "<2@", 1), int64(len(base)), false},
		{"SameMessageIDOtherDate", strings.Replace(base, "10:00:00 +0000\r\nFrom", "10:00:01 +0000\r\nFrom", 1), int64(len(base)), false},
		{"NoMessageIDOtherSubject", strings.Replace(strings.Replace(base, "Message-ID: <1@example.com>\r\n", "", 1), "Hello", "Bye", 1), int64(len(base)), false},
		{"BodyIgnored", strings.Replace(base, "Body text.", "Body TEXT.", 1), int64(len(base)), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Of(tc.size, []byte(tc.msg))
			if (got == fp) != tc.same {
				t.Errorf("Of(%d, %q) = %s; base %s; want same=%v", tc.size, tc.msg, got, fp, tc.same)
			}
		})
	}
}

func TestMessageID(t *testing.T) {
	h := New()
	h.Write([]byte(base))
	h.Sum(1)
	if got, want := h.MessageID(), "<1@example.com>"; got != want {
		t.Errorf("MessageID() = %q; want %q", got, want)
	}
}

// FuzzOf checks that the fingerprint never depends on how the bytes are cut
// into writes, and that the header alone gives the same fingerprint as the
// whole message.
func FuzzOf(f *testing.F) {
	f.Add([]byte(base), uint8(3))
	f.Add([]byte("no header separator"), uint8(1))
	f.Add([]byte("A: b\n c\n\tfolded\r\n\r\nbody"), uint8(7))
	f.Add([]byte("\r\n\r\n"), uint8(1))
	f.Add([]byte(":\n:\r\n x"), uint8(2))
	f.Fuzz(func(t *testing.T, msg []byte, step uint8) {
		whole := Of(int64(len(msg)), msg)
		h := New()
		n := int(step%64) + 1
		for i := 0; i < len(msg); i += n {
			h.Write(msg[i:min(i+n, len(msg))])
		}
		if got := h.Sum(int64(len(msg))); got != whole {
			t.Fatalf("chunked by %d: %s; whole: %s", n, got, whole)
		}
		if i := strings.Index(string(msg), "\n\r\n"); i >= 0 {
			if got := Of(int64(len(msg)), msg[:i+3]); got != whole {
				t.Fatalf("header only: %s; whole: %s", got, whole)
			}
		}
	})
}

// TestHeaderSum checks that the header identity ignores the size and the
// body, and still tells headers apart.
func TestHeaderSum(t *testing.T) {
	sum := func(msg string, size int64) (header, whole string) {
		h := New()
		h.Write([]byte(msg))
		return h.HeaderSum(), h.Sum(size)
	}
	baseHeader, baseSum := sum(base, int64(len(base)))
	tests := []struct {
		name       string
		msg        string
		size       int64
		sameHeader bool
		sameSum    bool
	}{
		{"Identical", base, int64(len(base)), true, true},
		{"OtherBodyOtherSize", base + "more\r\n", int64(len(base)) + 6, true, false},
		{"OtherSubject", strings.Replace(base, "Hello", "Bye", 1), int64(len(base)), false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			header, whole := sum(tc.msg, tc.size)
			if (header == baseHeader) != tc.sameHeader || (whole == baseSum) != tc.sameSum {
				t.Errorf("HeaderSum, Sum(%d) of %q = %s, %s; base %s, %s; want same header %v, same sum %v",
					tc.size, tc.msg, header, whole, baseHeader, baseSum, tc.sameHeader, tc.sameSum)
			}
		})
	}
}
