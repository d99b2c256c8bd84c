package dnscheck_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/imapmigrate/imapmigrate/internal/dnscheck"
	"github.com/imapmigrate/imapmigrate/internal/dnscheck/dnstest"
)

// zone holds one domain per state of the switch, with the records an
// admin would have: a long MX TTL before the switch, SPF, the names mail
// clients set themselves up from.
const zone = `
notyet.example.                     86400 IN MX    20 MX2.old.example.
notyet.example.                     86400 IN MX    10 mx1.old.example.
notyet.example.                      3600 IN TXT   "v=spf1 mx -all"
notyet.example.                      3600 IN TXT   "google-site-verification=abc"
autodiscover.notyet.example.         3600 IN CNAME autodiscover.old.example.
_autodiscover._tcp.notyet.example.   3600 IN SRV   0 0 443 mail.old.example.
autoconfig.notyet.example.           3600 IN A     127.0.0.5

partly.example.                      3600 IN MX    0 partly-example.mail.protection.outlook.com.
partly.example.                      3600 IN MX    10 mx1.old.example.
partly.example.                      3600 IN TXT   "v=spf1 include:spf.protection.outlook.com" " mx -all"

switched.example.                     300 IN MX    0 switched-example.mail.protection.outlook.com.
switched.example.                    3600 IN TXT   "v=spf1 include:spf.protection.outlook.com -all"
autodiscover.switched.example.       3600 IN CNAME autodiscover.outlook.com.

nomx.example.                        3600 IN A     127.0.0.10
nomx.example.                        3600 IN AAAA  ::1

big.example.                         3600 IN MX    10 mx1.big.example.
big.example.                         3600 IN TXT   "v=spf1 -all"

broken-setup.example.                3600 IN MX    10 mx1.old.example.
broken-setup.example.                3600 IN TXT   "v=spf1 mx -all"
`

func setup(t *testing.T) (*dnstest.Server, dnscheck.Resolver) {
	t.Helper()
	srv := dnstest.Start(t, zone)
	srv.Fail("broken.example.", dns.RcodeServerFailure)
	srv.Fail("refused.example.", dns.RcodeRefused)
	srv.Fail("autodiscover.broken-setup.example.", dns.RcodeServerFailure)
	srv.Silence("silent.example.")
	srv.TruncateUDP("big.example.")
	// The timeout only bounds the test with the silent server; a loaded
	// machine still answers a loopback query well within it.
	return srv, dnscheck.Resolver{Server: srv.Addr, Timeout: 2 * time.Second}
}

var (
	o365       = dnscheck.Expect{MX: []string{"*.mail.protection.outlook.com"}, SPFInclude: "spf.protection.outlook.com"}
	notIncl    = false
	included   = true
	noSRV      = []dnscheck.SRV{}
	noSPF      = []string{}
	noProblems []string
)

func TestCheck(t *testing.T) {
	srv, rs := setup(t)
	tests := []struct {
		name, domain string
		want         dnscheck.Expect
		wantResult   dnscheck.Result // Advice is checked by the analysis test
	}{
		{
			name: "NotSwitched", domain: "NotYet.Example.", want: o365,
			wantResult: dnscheck.Result{
				Domain: "notyet.example", State: dnscheck.StateNotSwitched,
				MX:              []dnscheck.MX{{Preference: 10, Host: "mx1.old.example", TTL: 86400}, {Preference: 20, Host: "mx2.old.example", TTL: 86400}},
				SPF:             dnscheck.SPF{Records: []string{"v=spf1 mx -all"}, Included: &notIncl},
				Autodiscover:    dnscheck.Host{Name: "autodiscover.notyet.example", CNAME: "autodiscover.old.example"},
				AutodiscoverSRV: []dnscheck.SRV{{Port: 443, Target: "mail.old.example", TTL: 3600}},
				Autoconfig:      dnscheck.Host{Name: "autoconfig.notyet.example", Addresses: []string{"127.0.0.5"}},
			},
		},
		{
			name: "PartlySwitched", domain: "partly.example", want: o365,
			wantResult: dnscheck.Result{
				Domain: "partly.example", State: dnscheck.StatePartlySwitched,
				MX: []dnscheck.MX{{Preference: 0, Host: "partly-example.mail.protection.outlook.com", TTL: 3600, Destination: true},
					{Preference: 10, Host: "mx1.old.example", TTL: 3600}},
				// The record's two strings are one record (RFC 7208 section 3.3).
				SPF:             dnscheck.SPF{Records: []string{"v=spf1 include:spf.protection.outlook.com mx -all"}, Included: &included},
				AutodiscoverSRV: noSRV,
				Autodiscover:    dnscheck.Host{Name: "autodiscover.partly.example"},
				Autoconfig:      dnscheck.Host{Name: "autoconfig.partly.example"},
			},
		},
		{
			name: "Switched", domain: "switched.example", want: o365,
			wantResult: dnscheck.Result{
				Domain: "switched.example", State: dnscheck.StateSwitched,
				MX:              []dnscheck.MX{{Preference: 0, Host: "switched-example.mail.protection.outlook.com", TTL: 300, Destination: true}},
				SPF:             dnscheck.SPF{Records: []string{"v=spf1 include:spf.protection.outlook.com -all"}, Included: &included},
				Autodiscover:    dnscheck.Host{Name: "autodiscover.switched.example", CNAME: "autodiscover.outlook.com"},
				AutodiscoverSRV: noSRV,
				Autoconfig:      dnscheck.Host{Name: "autoconfig.switched.example"},
			},
		},
		{
			name: "NoMX", domain: "nomx.example", want: o365,
			wantResult: dnscheck.Result{
				Domain: "nomx.example", State: dnscheck.StateNoMX, MX: []dnscheck.MX{},
				Addresses:       []string{"127.0.0.10", "::1"},
				SPF:             dnscheck.SPF{Records: noSPF, Included: &notIncl},
				Autodiscover:    dnscheck.Host{Name: "autodiscover.nomx.example"},
				AutodiscoverSRV: noSRV,
				Autoconfig:      dnscheck.Host{Name: "autoconfig.nomx.example"},
			},
		},
		{
			name: "NoExpectation", domain: "switched.example",
			wantResult: dnscheck.Result{
				Domain: "switched.example", State: dnscheck.StateUnchecked,
				MX:              []dnscheck.MX{{Preference: 0, Host: "switched-example.mail.protection.outlook.com", TTL: 300}},
				SPF:             dnscheck.SPF{Records: []string{"v=spf1 include:spf.protection.outlook.com -all"}},
				Autodiscover:    dnscheck.Host{Name: "autodiscover.switched.example", CNAME: "autodiscover.outlook.com"},
				AutodiscoverSRV: noSRV,
				Autoconfig:      dnscheck.Host{Name: "autoconfig.switched.example"},
			},
		},
		{
			name: "SetupLookupFailsAlone", domain: "broken-setup.example", want: o365,
			wantResult: dnscheck.Result{
				Domain: "broken-setup.example", State: dnscheck.StateNotSwitched,
				MX:              []dnscheck.MX{{Preference: 10, Host: "mx1.old.example", TTL: 3600}},
				SPF:             dnscheck.SPF{Records: []string{"v=spf1 mx -all"}, Included: &notIncl},
				Autodiscover:    dnscheck.Host{Name: "autodiscover.broken-setup.example"},
				AutodiscoverSRV: noSRV,
				Autoconfig:      dnscheck.Host{Name: "autoconfig.broken-setup.example"},
				Problems:        []string{"look up A autodiscover.broken-setup.example at " + srv.Addr + ": the DNS server could not answer (SERVFAIL)"},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := rs.Check(context.Background(), tc.domain, tc.want)
			if err != nil {
				t.Fatalf("Check(%q) = %v", tc.domain, err)
			}
			if len(got.Advice) == 0 {
				t.Errorf("Check(%q) gave no advice", tc.domain)
			}
			want := tc.wantResult
			want.Server, want.Authoritative, want.Expect, want.Advice = srv.Addr, true, tc.want, got.Advice
			if want.Problems == nil {
				want.Problems = noProblems
			}
			if !reflect.DeepEqual(*got, want) {
				t.Errorf("Check(%q) =\n%+v\nwant\n%+v", tc.domain, *got, want)
			}
		})
	}
}

// TestCheckTruncatedAnswerOverTCP checks that an answer too long for UDP
// is asked for again over TCP and read in full.
func TestCheckTruncatedAnswerOverTCP(t *testing.T) {
	srv, rs := setup(t)
	got, err := rs.Check(context.Background(), "big.example", dnscheck.Expect{MX: []string{"mx1.big.example"}})
	if err != nil {
		t.Fatalf("Check(big.example) = %v", err)
	}
	wantMX := []dnscheck.MX{{Preference: 10, Host: "mx1.big.example", TTL: 3600, Destination: true}}
	if !reflect.DeepEqual(got.MX, wantMX) || got.State != dnscheck.StateSwitched {
		t.Errorf("Check(big.example) = MX %+v, state %s; want %+v, switched", got.MX, got.State, wantMX)
	}
	if !reflect.DeepEqual(got.SPF.Records, []string{"v=spf1 -all"}) {
		t.Errorf("SPF = %q; want the record read over TCP", got.SPF.Records)
	}
	// MX and TXT of big.example came truncated over UDP and whole over TCP.
	if n := srv.Queries("tcp"); n != 2 {
		t.Errorf("TCP queries = %d; want 2 (MX and TXT)", n)
	}
}

func TestCheckFails(t *testing.T) {
	srv, rs := setup(t)
	tests := []struct {
		name, domain string
		timeout      time.Duration
		is           error
		msg          string
	}{
		{"NXDOMAIN", "missing.example", 0, dnscheck.ErrNoSuchDomain,
			"look up MX missing.example at " + srv.Addr + ": domain does not exist (NXDOMAIN)"},
		{"SERVFAIL", "broken.example", 0, dnscheck.ErrServerFailure,
			"look up MX broken.example at " + srv.Addr + ": the DNS server could not answer (SERVFAIL)"},
		{"Refused", "refused.example", 0, dnscheck.ErrRefused,
			"look up MX refused.example at " + srv.Addr + ": the DNS server refused the query (REFUSED)"},
		{"Timeout", "silent.example", 200 * time.Millisecond, dnscheck.ErrNoAnswer,
			"look up MX silent.example at " + srv.Addr + ": no answer within 200ms over UDP"},
		{"InvalidDomain", "not a domain", 0, dnscheck.ErrInvalidDomain, `invalid domain name "not a domain"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := rs
			if tc.timeout > 0 {
				r.Timeout = tc.timeout
			}
			got, err := r.Check(context.Background(), tc.domain, o365)
			if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("Check(%q) = %+v, %v; want an error %q", tc.domain, got, err, tc.msg)
			}
		})
	}
}

func TestCheckCanceled(t *testing.T) {
	_, rs := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := rs.Check(ctx, "notyet.example", o365); !errors.Is(err, context.Canceled) {
		t.Errorf("Check with a canceled context = %v; want context.Canceled", err)
	}
}

// TestCheckFollowsTheSwitch runs the check before and after the zone's MX
// records move, as a script waiting for the switch would.
func TestCheckFollowsTheSwitch(t *testing.T) {
	srv, rs := setup(t)
	states := []dnscheck.State{}
	for _, z := range []string{
		"d.example. 86400 IN MX 10 mx.old.example.",
		"d.example. 3600 IN MX 10 mx.old.example.\nd.example. 3600 IN MX 0 d-example.mail.protection.outlook.com.",
		"d.example. 3600 IN MX 0 d-example.mail.protection.outlook.com.",
	} {
		srv.SetZone(t, z)
		got, err := rs.Check(context.Background(), "d.example", o365)
		if err != nil {
			t.Fatalf("Check(d.example) = %v", err)
		}
		states = append(states, got.State)
	}
	want := []dnscheck.State{dnscheck.StateNotSwitched, dnscheck.StatePartlySwitched, dnscheck.StateSwitched}
	if !reflect.DeepEqual(states, want) {
		t.Errorf("states = %v; want %v", states, want)
	}
}

func TestSystemServer(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, conf, want string
	}{
		{"First", "search example.com\nnameserver 127.0.0.53\nnameserver 127.0.0.54\n", "127.0.0.53:53"},
		{"IPv6", "nameserver ::1\n", "[::1]:53"},
		{"None", "search example.com\n", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name)
			if err := os.WriteFile(path, []byte(tc.conf), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := dnscheck.SystemServer(path)
			if got != tc.want || (err != nil) != (tc.want == "") {
				t.Errorf("SystemServer(%q) = %q, %v; want %q", tc.conf, got, err, tc.want)
			}
		})
	}
	if _, err := dnscheck.SystemServer(filepath.Join(dir, "missing")); err == nil {
		t.Error("SystemServer(a missing file) = nil error")
	}
}
