package dnscheck

import (
	"slices"
	"strings"
	"testing"
)

const o365 = "*.mail.protection.outlook.com"

func TestAnalyze(t *testing.T) {
	oldMX := func(ttl uint32) []MX {
		return []MX{{Preference: 10, Host: "mx1.old.example", TTL: ttl}, {Preference: 20, Host: "mx2.old.example", TTL: ttl}}
	}
	spf := SPF{Records: []string{"v=spf1 mx -all"}}
	tests := []struct {
		name string
		in   Result // the records, as Check gathers them
		want Expect
		// state and which MX records point at the destination
		state State
		dest  []bool
		// advice holds substrings of the advice lines, in their order;
		// notAdvice must appear in no line.
		advice    []string
		notAdvice []string
	}{
		{
			name: "UncheckedWithoutExpectation", in: Result{MX: oldMX(86400), SPF: spf},
			state: StateUnchecked, dest: []bool{false, false},
			advice: []string{"MX of d.example points at mx1.old.example (preference 10), mx2.old.example (preference 20). Name the destination's MX host",
				"Lower the MX records' TTL from 86400 s (24 h) to 3600 s (1 h) or less at least a day before the switch",
				"72 hours (three incremental passes) before completing"},
			notAdvice: []string{"SPF"},
		},
		{
			name: "NotSwitchedHighTTL", in: Result{MX: oldMX(86400), SPF: spf}, want: Expect{MX: []string{o365}},
			state: StateNotSwitched, dest: []bool{false, false},
			advice: []string{"not at the destination (*.mail.protection.outlook.com): not switched yet",
				"Lower the MX records' TTL from 86400 s (24 h) to 3600 s (1 h) or less at least a day before the switch",
				"At the switch, replace the MX records with the destination's (*.mail.protection.outlook.com)",
				"keep the incremental syncs running at least 72 hours (three incremental passes) before completing the batch"},
		},
		{
			name: "NotSwitchedTTLAboveADay", in: Result{MX: oldMX(172800), SPF: spf}, want: Expect{MX: []string{o365}},
			state: StateNotSwitched, dest: []bool{false, false},
			advice: []string{"not switched yet", "from 172800 s (48 h) to 3600 s (1 h) or less at least 172800 s (48 h) before the switch"},
		},
		{
			name: "NotSwitchedLowTTL", in: Result{MX: oldMX(300), SPF: spf}, want: Expect{MX: []string{o365}},
			state: StateNotSwitched, dest: []bool{false, false},
			advice:    []string{"not switched yet", "The MX TTL is 300 s (5 min): resolvers see a change", "At the switch"},
			notAdvice: []string{"Lower the MX"},
		},
		{
			name: "SuffixPatternDoesNotMatchItsApex", in: Result{MX: []MX{{Host: "new.example", TTL: 3600}}, SPF: spf}, want: Expect{MX: []string{"*.new.example"}},
			state: StateNotSwitched, dest: []bool{false},
			advice: []string{"MX of d.example points at new.example (preference 0), not at the destination"},
		},
		{
			name: "PartlySwitched",
			in: Result{MX: []MX{{Preference: 0, Host: "d-example.mail.protection.outlook.com", TTL: 3600}, {Preference: 20, Host: "mx1.old.example", TTL: 3600}},
				SPF: spf},
			want:  Expect{MX: []string{o365}},
			state: StatePartlySwitched, dest: []bool{true, false},
			advice: []string{"MX of d.example: 1 of 2 records point at the destination; mail still reaches the old server through mx1.old.example (preference 20).",
				"Remove the MX records that do not point at the destination", "Do not complete the batch yet",
				"The MX TTL is 3600 s (1 h)", "72 hours"},
			notAdvice: []string{"d-example.mail.protection.outlook.com (preference 0)"},
		},
		{
			name:  "SwitchedExactNameAnyCaseAndDot",
			in:    Result{MX: []MX{{Preference: 5, Host: "mx.new.example", TTL: 300}, {Preference: 10, Host: "mx2.new.example", TTL: 300}}, SPF: spf},
			want:  Expect{MX: []string{"MX.New.Example.", "mx2.new.example"}},
			state: StateSwitched, dest: []bool{true, true},
			advice: []string{"MX of d.example points at the destination: mx.new.example (preference 5), mx2.new.example (preference 10).",
				"Keep the incremental syncs running at least 72 hours (three incremental passes) after the switch, then complete the batch"},
			notAdvice: []string{"Lower the MX", "not switched", "At the switch"},
		},
		{
			name: "NoMXMailGoesToAddress", in: Result{MX: []MX{}, Addresses: []string{"127.0.0.10", "::1"}, SPF: spf}, want: Expect{MX: []string{o365}},
			state:  StateNoMX,
			advice: []string{"d.example has no MX records: mail to it goes to its address records (127.0.0.10, ::1), as RFC 5321 section 5.1 says.", "At the switch, publish MX records pointing at the destination (*.mail.protection.outlook.com).", "72 hours"},
		},
		{
			name: "NoMXNoAddress", in: Result{MX: []MX{}, SPF: spf},
			state:  StateNoMX,
			advice: []string{"d.example has neither MX nor address records: mail to it cannot be delivered.", "publish MX records pointing at the destination."},
		},
		{
			name: "NullMX", in: Result{MX: []MX{{Host: ".", TTL: 3600}}, SPF: spf}, want: Expect{MX: []string{o365}},
			state: StateNoMX, dest: []bool{false},
			advice: []string{"d.example publishes a null MX (RFC 7505): it takes no mail."},
		},
		{
			name: "NoSPF", in: Result{MX: oldMX(3600), SPF: SPF{}}, want: Expect{MX: []string{o365}},
			state: StateNotSwitched, dest: []bool{false, false},
			advice: []string{"not switched yet", "d.example has no SPF record"},
		},
		{
			name: "TwoSPFRecords", in: Result{MX: oldMX(3600), SPF: SPF{Records: []string{"v=spf1 mx -all", "v=spf1 a -all"}}}, want: Expect{MX: []string{o365}},
			state: StateNotSwitched, dest: []bool{false, false},
			advice: []string{"d.example has 2 SPF records: receivers treat that as a permanent error (RFC 7208 section 4.5)"},
		},
		{
			name: "SPFLacksTheDestinationsInclude", in: Result{MX: oldMX(3600), SPF: spf}, want: Expect{MX: []string{o365}, SPFInclude: "spf.protection.outlook.com"},
			state: StateNotSwitched, dest: []bool{false, false},
			advice: []string{"not switched yet", "Add include:spf.protection.outlook.com to the SPF record of d.example before the switch"},
		},
		{
			name: "SPFIncludesWithQualifierAndCase",
			in:   Result{MX: oldMX(3600), SPF: SPF{Records: []string{"v=spf1 mx +include:SPF.Protection.Outlook.com -all"}}},
			want: Expect{MX: []string{o365}, SPFInclude: "spf.protection.outlook.com."}, state: StateNotSwitched, dest: []bool{false, false},
			notAdvice: []string{"include:", "SPF"},
		},
		{
			name: "SPFRedirect",
			in:   Result{MX: oldMX(3600), SPF: SPF{Records: []string{"v=spf1 redirect=_spf.google.com"}}},
			want: Expect{MX: []string{"aspmx.l.google.com"}, SPFInclude: "_spf.google.com"}, state: StateNotSwitched, dest: []bool{false, false},
			notAdvice: []string{"include:"},
		},
		{
			name: "ClientSetupNames",
			in: Result{MX: oldMX(3600), SPF: spf,
				Autodiscover:    Host{Name: "autodiscover.d.example", CNAME: "autodiscover.old.example"},
				AutodiscoverSRV: []SRV{{Port: 443, Target: "mail.old.example"}},
				Autoconfig:      Host{Name: "autoconfig.d.example"}},
			want: Expect{MX: []string{o365}}, state: StateNotSwitched, dest: []bool{false, false},
			advice: []string{"not switched yet", "Mail clients (Outlook, Thunderbird) set up accounts from autodiscover.d.example, _autodiscover._tcp.d.example: point them at the destination's settings"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.in
			r.Domain = "d.example"
			analyze(&r, tc.want)
			if r.State != tc.state {
				t.Errorf("state = %q; want %q", r.State, tc.state)
			}
			var dest []bool
			for _, mx := range r.MX {
				dest = append(dest, mx.Destination)
			}
			if !slices.Equal(dest, tc.dest) {
				t.Errorf("MX destination flags = %v; want %v", dest, tc.dest)
			}
			wantAdvice(t, r.Advice, tc.advice, tc.notAdvice)
			if tc.want.SPFInclude != "" {
				included := !strings.Contains(strings.Join(r.Advice, "\n"), "Add include:")
				if r.SPF.Included == nil || *r.SPF.Included != included {
					t.Errorf("SPF.Included = %v; want %v", r.SPF.Included, included)
				}
			} else if r.SPF.Included != nil {
				t.Errorf("SPF.Included = %v without an expected include", *r.SPF.Included)
			}
		})
	}
}

// wantAdvice checks that each of want is in a line of advice, in order,
// and that none of notWant is.
func wantAdvice(t *testing.T, advice, want, notWant []string) {
	t.Helper()
	i := 0
	for _, w := range want {
		for i < len(advice) && !strings.Contains(advice[i], w) {
			i++
		}
		if i == len(advice) {
			t.Errorf("advice lacks %q (in this order):\n%s", w, strings.Join(advice, "\n"))
			return
		}
	}
	for _, nw := range notWant {
		for _, a := range advice {
			if strings.Contains(a, nw) {
				t.Errorf("advice has %q: %s", nw, a)
			}
		}
	}
}

func TestMatchHost(t *testing.T) {
	tests := []struct {
		host, pattern string
		want          bool
	}{
		{"mx.new.example", "mx.new.example", true},
		{"MX.New.Example.", "mx.new.example", true},
		{"mx.new.example", "mx.new.example.", true},
		{"mx2.new.example", "mx.new.example", false},
		{"contoso-com.mail.protection.outlook.com", "*.mail.protection.outlook.com", true},
		{"a.b.mail.protection.outlook.com.", "*.MAIL.protection.outlook.com", true},
		{"mail.protection.outlook.com", "*.mail.protection.outlook.com", false},
		{"evilmail.protection.outlook.com", "*.mail.protection.outlook.com", false},
		{"mail.protection.outlook.com.evil.example", "*.mail.protection.outlook.com", false},
		{".", "*.example", false},
	}
	for _, tc := range tests {
		if got := MatchHost(tc.host, tc.pattern); got != tc.want {
			t.Errorf("MatchHost(%q, %q) = %v; want %v", tc.host, tc.pattern, got, tc.want)
		}
	}
}

func TestNormalizeDomain(t *testing.T) {
	tests := []struct {
		in, want, err string
	}{
		{"Example.COM.", "example.com", ""},
		{" contoso.example ", "contoso.example", ""},
		{"xn--bcher-kva.example", "xn--bcher-kva.example", ""},
		{"", "", "empty"},
		{"localhost", "", "want a domain such as example.com"},
		{"a..example", "", "1 to 63 characters"},
		{"bücher.example", "", "xn-- form"},
		{"exa mple.com", "", "only letters"},
		{strings.Repeat("a", 64) + ".example", "", "1 to 63 characters"},
	}
	for _, tc := range tests {
		got, err := normalizeDomain(tc.in)
		switch {
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("normalizeDomain(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("normalizeDomain(%q) = %q, %v; want an error with %q", tc.in, got, err, tc.err)
		}
	}
}

func TestParseServer(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"127.0.0.1", "127.0.0.1:53", true},
		{"127.0.0.1:5353", "127.0.0.1:5353", true},
		{"::1", "[::1]:53", true},
		{"[::1]:5353", "[::1]:5353", true},
		{"ns1.example.com", "ns1.example.com:53", true},
		{"127.0.0.1:0", "", false},
		{"127.0.0.1:dns", "", false},
		{"", "", false},
		{":53", "", false},
	}
	for _, tc := range tests {
		got, err := ParseServer(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseServer(%q) = %q, %v; want %q (ok %v)", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestFormatTTL(t *testing.T) {
	tests := []struct {
		ttl  uint32
		want string
	}{
		{30, "30 s"},
		{300, "300 s (5 min)"},
		{90, "90 s (1.5 min)"},
		{3600, "3600 s (1 h)"},
		{5400, "5400 s (1.5 h)"},
		{86400, "86400 s (24 h)"},
	}
	for _, tc := range tests {
		if got := FormatTTL(tc.ttl); got != tc.want {
			t.Errorf("FormatTTL(%d) = %q; want %q", tc.ttl, got, tc.want)
		}
	}
}

func TestIsSPF(t *testing.T) {
	tests := []struct {
		txt  string
		want bool
	}{
		{"v=spf1 mx -all", true},
		{"V=SPF1 -all", true},
		{"v=spf1", true},
		{"v=spf10 mx", false},
		{"v=DKIM1; k=rsa", false},
		{"google-site-verification=abc", false},
	}
	for _, tc := range tests {
		if got := isSPF(tc.txt); got != tc.want {
			t.Errorf("isSPF(%q) = %v; want %v", tc.txt, got, tc.want)
		}
	}
}
