package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/imapmigrate/imapmigrate/internal/dnscheck"
	"github.com/imapmigrate/imapmigrate/internal/dnscheck/dnstest"
)

const dnsZone = `
notyet.example.                    86400 IN MX    10 mx1.old.example.
notyet.example.                    86400 IN MX    20 mx2.old.example.
notyet.example.                     3600 IN TXT   "v=spf1 mx -all"
autodiscover.notyet.example.        3600 IN CNAME autodiscover.old.example.
_autodiscover._tcp.notyet.example.  3600 IN SRV   0 0 443 mail.old.example.
switched.example.                    300 IN MX    0 switched-example.mail.protection.outlook.com.
switched.example.                   3600 IN TXT   "v=spf1 include:spf.protection.outlook.com -all"
nomx.example.                       3600 IN A     127.0.0.10
`

// runDNS runs `imapmigrate dns check` against a test DNS server.
func runDNS(t *testing.T, srv *dnstest.Server, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	args = append([]string{"dns", "check", "--resolver", srv.Addr}, args...)
	code = Main(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// TestDNSCheckOutput compares the whole output for a domain not switched
// yet: what an admin reads before the cut-over.
func TestDNSCheckOutput(t *testing.T) {
	srv := dnstest.Start(t, dnsZone)
	code, out, errOut := runDNS(t, srv, "--domain", "notyet.example", "--expect-mx", "*.mail.protection.outlook.com",
		"--expect-spf-include", "spf.protection.outlook.com")
	want := `Domain:       notyet.example
DNS server:   ` + srv.Addr + ` (authoritative: TTLs as configured)
State:        not-switched (destination: *.mail.protection.outlook.com)

MX:
  PREF  HOST             TTL             DESTINATION
  10    mx1.old.example  86400 s (24 h)  no
  20    mx2.old.example  86400 s (24 h)  no
SPF:          v=spf1 mx -all
              include:spf.protection.outlook.com: no
Autodiscover: autodiscover.notyet.example CNAME autodiscover.old.example
              SRV _autodiscover._tcp.notyet.example: mail.old.example port 443 (priority 0, weight 0)
Autoconfig:   autoconfig.notyet.example: none

Advice:
  - MX of notyet.example points at mx1.old.example (preference 10),
    mx2.old.example (preference 20), not at the destination
    (*.mail.protection.outlook.com): not switched yet.
  - Lower the MX records' TTL from 86400 s (24 h) to 3600 s (1 h) or less at
    least a day before the switch, so that resolvers let go of the old MX
    records within an hour of it.
  - At the switch, replace the MX records with the destination's
    (*.mail.protection.outlook.com); the batch keeps syncing meanwhile.
  - After the switch keep the incremental syncs running at least 72 hours
    (three incremental passes) before completing the batch: senders that still
    have the old MX records cached, and mail queued for a retry, reach the old
    server for a while.
  - Add include:spf.protection.outlook.com to the SPF record of notyet.example
    before the switch, or mail the destination sends for notyet.example may
    fail SPF checks and be rejected or marked as spam.
  - Mail clients (Outlook, Thunderbird) set up accounts from
    autodiscover.notyet.example, _autodiscover._tcp.notyet.example: point them
    at the destination's settings at the switch, or new accounts are set up on
    the old server.
`
	if out != want {
		t.Errorf("dns check output:\n%s\nwant:\n%s", out, want)
	}
	if code != ExitNotSwitched || !strings.Contains(errOut, "MX of notyet.example does not point (only) at *.mail.protection.outlook.com yet: not-switched") {
		t.Errorf("dns check = exit %d, stderr %q; want %d and the state", code, errOut, ExitNotSwitched)
	}
}

func TestDNSCheckExitCodes(t *testing.T) {
	srv := dnstest.Start(t, dnsZone)
	srv.Fail("broken.example.", dns.RcodeServerFailure)
	o365 := []string{"--expect-mx", "*.mail.protection.outlook.com"}
	tests := []struct {
		name      string
		args      []string
		code      int
		stdout    []string
		stderr    string
		notStdout []string
	}{
		{"Switched", append([]string{"--domain", "switched.example"}, o365...), ExitOK,
			[]string{"State:        switched (destination: *.mail.protection.outlook.com)",
				"  0     switched-example.mail.protection.outlook.com  300 s (5 min)  yes",
				"72 hours", "then complete the batch"}, "", []string{"not switched"}},
		{"SwitchedByExactName", []string{"--domain", "Switched.Example.", "--expect-mx", "SWITCHED-example.mail.protection.outlook.com."}, ExitOK,
			[]string{"State:        switched"}, "", nil},
		{"PartlyByTwoExpectations", []string{"--domain", "notyet.example", "--expect-mx", "mx1.old.example,mx9.new.example"}, ExitNotSwitched,
			[]string{"State:        partly-switched", "  10    mx1.old.example  86400 s (24 h)  yes", "  20    mx2.old.example  86400 s (24 h)  no",
				"through mx2.old.example (preference 20)"}, ": partly-switched", nil},
		{"Unchecked", []string{"--domain", "notyet.example"}, ExitOK,
			[]string{"State:        unchecked\n", "  10    mx1.old.example  86400 s (24 h)  -", "Name the destination's MX host"}, "", nil},
		{"NoMX", append([]string{"--domain", "nomx.example"}, o365...), ExitNotSwitched,
			[]string{"State:        no-mx", "MX:           none; mail goes to the address records: 127.0.0.10", "SPF:          none"}, ": no-mx", nil},
		{"NoMXUnchecked", []string{"--domain", "nomx.example"}, ExitOK, []string{"State:        no-mx"}, "", nil},
		{"NXDOMAIN", append([]string{"--domain", "missing.example"}, o365...), ExitConnect, nil,
			"look up MX missing.example at " + srv.Addr + ": domain does not exist (NXDOMAIN)", []string{"State"}},
		{"SERVFAIL", []string{"--domain", "broken.example"}, ExitConnect, nil,
			"look up MX broken.example at " + srv.Addr + ": the DNS server could not answer (SERVFAIL)", nil},
		{"NoDomain", nil, ExitUsage, nil, "--domain is required", nil},
		{"BadDomain", []string{"--domain", "exa mple.com"}, ExitUsage, nil, `--domain: invalid domain name "exa mple.com"`, nil},
		{"BadResolver", []string{"--domain", "notyet.example", "--resolver", "127.0.0.1:99999"}, ExitUsage, nil, "--resolver: DNS server", nil},
		{"BadTimeout", []string{"--domain", "notyet.example", "--timeout", "0s"}, ExitUsage, nil, "--timeout must be more than 0", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runDNS(t, srv, tc.args...)
			if code != tc.code {
				t.Errorf("dns check %q = exit %d; want %d\nstdout: %s\nstderr: %s", tc.args, code, tc.code, out, errOut)
			}
			wantLines(t, "dns check", out, tc.stdout...)
			for _, nw := range tc.notStdout {
				if strings.Contains(out, nw) {
					t.Errorf("dns check %q: stdout has %q:\n%s", tc.args, nw, out)
				}
			}
			if !strings.Contains(errOut, tc.stderr) {
				t.Errorf("dns check %q: stderr %q lacks %q", tc.args, errOut, tc.stderr)
			}
			if tc.stderr == "" && errOut != "" {
				t.Errorf("dns check %q: stderr %q; want none", tc.args, errOut)
			}
		})
	}
}

func TestDNSCheckJSON(t *testing.T) {
	srv := dnstest.Start(t, dnsZone)
	code, out, _ := runDNS(t, srv, "--domain", "switched.example", "--expect-mx", "*.mail.protection.outlook.com", "--json")
	if code != ExitOK {
		t.Fatalf("dns check --json = exit %d", code)
	}
	var res dnscheck.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("dns check --json printed no JSON result: %v\n%s", err, out)
	}
	want := []dnscheck.MX{{Preference: 0, Host: "switched-example.mail.protection.outlook.com", TTL: 300, Destination: true}}
	if res.State != dnscheck.StateSwitched || len(res.MX) != 1 || res.MX[0] != want[0] || len(res.Advice) == 0 {
		t.Errorf("dns check --json = state %q, MX %+v, advice %q; want switched, %+v and advice", res.State, res.MX, res.Advice, want)
	}
	for _, key := range []string{`"state": "switched"`, `"ttl": 300`, `"destination": true`, `"spf": {`, `"autodiscover": {`, `"advice": [`} {
		if !strings.Contains(out, key) {
			t.Errorf("dns check --json lacks %s:\n%s", key, out)
		}
	}
}

// TestDNSCheckHelpNamesTheExitCodes keeps the contract scripts rely on in
// the help.
func TestDNSCheckHelpNamesTheExitCodes(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := Main(context.Background(), []string{"dns", "check", "--help"}, &out, &errOut); code != ExitOK {
		t.Fatalf("dns check --help = exit %d: %s", code, errOut.String())
	}
	for _, want := range []string{"--domain", "--expect-mx", "--expect-spf-include", "--resolver", "--timeout", "--json",
		"0 the check ran", "6 with --expect-mx", "3 the DNS lookup", "not-switched", "partly-switched", "switched", "no-mx", "72 hours"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("dns check --help lacks %q", want)
		}
	}
}
