// Package dnscheck looks at a domain's mail records in DNS for the cut-over
// of a migration: where its MX records point and how long resolvers keep
// them (their TTL), its SPF record, and the names mail clients set
// themselves up from (autodiscover, autoconfig). From these it tells the
// state of the switch (see State) and what to do next: lower the TTL a day
// ahead, switch, keep syncing three days, complete.
//
// It asks one DNS server directly with github.com/miekg/dns, not through
// the system resolver, because net.Resolver does not give TTLs. Each query
// goes over UDP and again over TCP when the answer comes back truncated
// (RFC 1035 section 4.2.1, RFC 7766 section 5). A caching resolver answers
// with what is left of the TTL in its cache; the domain's authoritative
// server gives the TTL as configured (Result.Authoritative says which).
//
// References: RFC 5321 section 5.1 (MX, and the address record when there
// is none), RFC 7505 (null MX), RFC 7208 (SPF: section 3.3 joins a TXT
// record's strings, section 4.5 makes two SPF records an error). The
// autodiscover names are Microsoft's (MS-OXDISCO: autodiscover.DOMAIN and
// the SRV record _autodiscover._tcp.DOMAIN), autoconfig.DOMAIN is
// Thunderbird's.
package dnscheck

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// ResolvConf is where the system's DNS servers are listed.
const ResolvConf = "/etc/resolv.conf"

// DefaultTimeout bounds each query when Resolver.Timeout is zero: short,
// as a resolver answers within milliseconds or not at all.
const DefaultTimeout = 3 * time.Second

// ednsSize is the UDP answer size offered (EDNS0, RFC 6891): the size the
// DNS flag day 2020 settled on, which avoids IP fragmentation. A longer
// answer is truncated and asked for again over TCP.
const ednsSize = 1232

// Errors a check fails with, wrapped with the name, the record type and
// the server asked.
var (
	ErrInvalidDomain = errors.New("invalid domain name")
	ErrNoSuchDomain  = errors.New("domain does not exist (NXDOMAIN)")
	ErrServerFailure = errors.New("the DNS server could not answer (SERVFAIL)")
	ErrRefused       = errors.New("the DNS server refused the query (REFUSED): it may not resolve names for this host")
	ErrNoAnswer      = errors.New("no answer")
)

// State is how far the domain's MX records have moved to the destination.
type State string

const (
	// StateUnchecked: the domain has MX records, but no destination was
	// given to compare them with.
	StateUnchecked State = "unchecked"
	// StateNotSwitched: no MX record points at the destination.
	StateNotSwitched State = "not-switched"
	// StatePartlySwitched: some MX records point at the destination,
	// others still elsewhere, so some mail still reaches the old server.
	StatePartlySwitched State = "partly-switched"
	// StateSwitched: every MX record points at the destination.
	StateSwitched State = "switched"
	// StateNoMX: the domain has no MX records (mail goes to its address
	// record, RFC 5321 section 5.1) or a null MX (it takes no mail).
	StateNoMX State = "no-mx"
)

// Expect describes the destination, to compare the records with.
type Expect struct {
	// MX are the destination's mail servers. A name matches an MX host
	// whatever its case and final dot; a pattern "*.SUFFIX" matches any
	// host ending in ".SUFFIX" (not SUFFIX itself). Microsoft 365 gives
	// each domain its own host, DOMAIN-TLD.mail.protection.outlook.com,
	// which "*.mail.protection.outlook.com" accepts.
	MX []string `json:"mx,omitempty"`
	// SPFInclude is the domain the destination asks to be included in
	// the SPF record (spf.protection.outlook.com, _spf.google.com).
	SPFInclude string `json:"spf_include,omitempty"`
}

// Result is what a check found and what it advises. It is the JSON of
// `imapmigrate dns check --json`.
type Result struct {
	Domain string `json:"domain"`
	// Server is the DNS server asked, HOST:PORT.
	Server string `json:"server"`
	// Authoritative is true when the server answered the MX query as the
	// domain's authority: the TTLs are then as configured, not what is
	// left of them in a cache.
	Authoritative bool   `json:"authoritative"`
	State         State  `json:"state"`
	Expect        Expect `json:"expect"`
	// MX is sorted by preference, the order senders try them in.
	MX []MX `json:"mx"`
	// NullMX is a single MX record with host "." (RFC 7505): the
	// domain declares it takes no mail.
	NullMX bool `json:"null_mx,omitempty"`
	// Addresses are the domain's A and AAAA records, looked up only
	// when it has no MX records, as they then receive its mail.
	Addresses       []string `json:"addresses,omitempty"`
	SPF             SPF      `json:"spf"`
	Autodiscover    Host     `json:"autodiscover"`
	AutodiscoverSRV []SRV    `json:"autodiscover_srv"`
	Autoconfig      Host     `json:"autoconfig"`
	// Problems are lookups of the client set-up names (autodiscover,
	// autoconfig) that failed. They do not fail the check: the MX state
	// does not depend on them.
	Problems []string `json:"problems,omitempty"`
	// Advice is what to do next, in order.
	Advice []string `json:"advice"`
}

// MX is one MX record.
type MX struct {
	Preference uint16 `json:"preference"`
	// Host is lowercase without the final dot; "." for a null MX.
	Host string `json:"host"`
	// TTL is in seconds.
	TTL uint32 `json:"ttl"`
	// Destination is true when Host matches Expect.MX.
	Destination bool `json:"destination"`
}

// SPF is the domain's SPF record: its TXT records that start "v=spf1"
// (RFC 7208 section 4.5). There should be exactly one.
type SPF struct {
	Records []string `json:"records"`
	// Included tells, when Expect.SPFInclude is set, whether the record
	// has "include:" or "redirect=" that domain.
	Included *bool `json:"included,omitempty"`
}

// Host is what a name resolves to. Both fields are empty when the name
// does not exist.
type Host struct {
	Name string `json:"name"`
	// CNAME is the name it is an alias of (the last of a chain).
	CNAME     string   `json:"cname,omitempty"`
	Addresses []string `json:"addresses,omitempty"`
}

// Exists reports whether the name has records.
func (h Host) Exists() bool { return h.CNAME != "" || len(h.Addresses) > 0 }

// SRV is one SRV record.
type SRV struct {
	Priority uint16 `json:"priority"`
	Weight   uint16 `json:"weight"`
	Port     uint16 `json:"port"`
	Target   string `json:"target"`
	TTL      uint32 `json:"ttl"`
}

// Resolver is the DNS server a check asks.
type Resolver struct {
	// Server is HOST:PORT. SystemServer gives the system's first.
	Server string
	// Timeout bounds each query, over UDP and again over TCP. Defaults
	// to DefaultTimeout. A lost datagram is not sent again: a check that
	// times out is run again as a whole.
	Timeout time.Duration
}

// SystemServer returns the first name server of a resolv.conf(5) file
// (ResolvConf) as HOST:PORT.
func SystemServer(resolvConf string) (string, error) {
	cc, err := dns.ClientConfigFromFile(resolvConf)
	if err != nil {
		return "", fmt.Errorf("read the system's DNS servers: %w", err)
	}
	if len(cc.Servers) == 0 {
		return "", fmt.Errorf("read the system's DNS servers: no nameserver line in %s", resolvConf)
	}
	return net.JoinHostPort(cc.Servers[0], cc.Port), nil
}

// ParseServer reads a DNS server's address: HOST or HOST:PORT, with an
// IPv6 address bare or in brackets. The port defaults to 53.
func ParseServer(s string) (string, error) {
	if ip := net.ParseIP(s); ip != nil {
		return net.JoinHostPort(s, "53"), nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		if strings.Contains(s, ":") || s == "" {
			return "", fmt.Errorf("DNS server %q: want HOST or HOST:PORT", s)
		}
		host, port = s, "53"
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || host == "" {
		return "", fmt.Errorf("DNS server %q: want HOST or HOST:PORT with a port from 1 to 65535", s)
	}
	return net.JoinHostPort(host, port), nil
}

// Check looks up domain's mail records and compares them with want. It
// fails when the MX, address or TXT lookups fail (the state depends on
// them); failed lookups of the client set-up names are listed in
// Result.Problems.
func (rs Resolver) Check(ctx context.Context, domain string, want Expect) (*Result, error) {
	name, err := normalizeDomain(domain)
	if err != nil {
		return nil, err
	}
	r := &Result{Domain: name, Server: rs.Server, SPF: SPF{Records: []string{}}, AutodiscoverSRV: []SRV{}}

	resp, err := rs.query(ctx, name, dns.TypeMX)
	if err != nil {
		return nil, err
	}
	r.Authoritative = resp.Authoritative
	r.MX = []MX{}
	for _, rr := range resp.Answer {
		if mx, ok := rr.(*dns.MX); ok {
			r.MX = append(r.MX, MX{Preference: mx.Preference, Host: hostName(mx.Mx), TTL: mx.Hdr.Ttl})
		}
	}
	slices.SortFunc(r.MX, func(a, b MX) int {
		return cmp.Or(cmp.Compare(a.Preference, b.Preference), strings.Compare(a.Host, b.Host))
	})
	if len(r.MX) == 0 {
		h, err := rs.lookupHost(ctx, name)
		if err != nil {
			return nil, err
		}
		r.Addresses = h.Addresses
	}

	resp, err = rs.query(ctx, name, dns.TypeTXT)
	if err != nil {
		return nil, err
	}
	for _, rr := range resp.Answer {
		if txt, ok := rr.(*dns.TXT); ok {
			// RFC 7208 section 3.3: a record's strings are joined with
			// nothing between them.
			if s := strings.Join(txt.Txt, ""); isSPF(s) {
				r.SPF.Records = append(r.SPF.Records, s)
			}
		}
	}

	problem := func(err error) { r.Problems = append(r.Problems, err.Error()) }
	if r.Autodiscover, err = rs.lookupHost(ctx, "autodiscover."+name); err != nil {
		problem(err)
	}
	// A name that does not exist has no records; that is no problem.
	if resp, err := rs.query(ctx, "_autodiscover._tcp."+name, dns.TypeSRV); err != nil {
		if !errors.Is(err, ErrNoSuchDomain) {
			problem(err)
		}
	} else {
		for _, rr := range resp.Answer {
			if srv, ok := rr.(*dns.SRV); ok {
				r.AutodiscoverSRV = append(r.AutodiscoverSRV, SRV{Priority: srv.Priority, Weight: srv.Weight, Port: srv.Port, Target: hostName(srv.Target), TTL: srv.Hdr.Ttl})
			}
		}
	}
	if r.Autoconfig, err = rs.lookupHost(ctx, "autoconfig."+name); err != nil {
		problem(err)
	}

	analyze(r, want)
	return r, nil
}

// lookupHost returns what name's A and AAAA queries give. A name that does
// not exist is a Host with no records, not an error.
func (rs Resolver) lookupHost(ctx context.Context, name string) (Host, error) {
	h := Host{Name: name}
	for _, qtype := range []uint16{dns.TypeA, dns.TypeAAAA} {
		resp, err := rs.query(ctx, name, qtype)
		if errors.Is(err, ErrNoSuchDomain) {
			return h, nil
		}
		if err != nil {
			return h, err
		}
		for _, rr := range resp.Answer {
			switch rr := rr.(type) {
			case *dns.CNAME:
				h.CNAME = hostName(rr.Target)
			case *dns.A:
				h.Addresses = append(h.Addresses, rr.A.String())
			case *dns.AAAA:
				h.Addresses = append(h.Addresses, rr.AAAA.String())
			}
		}
	}
	return h, nil
}

// query asks the server one question: over UDP, then over TCP when the
// answer is truncated. Errors name the record type, the name and the
// server; an NXDOMAIN answer is ErrNoSuchDomain.
func (rs Resolver) query(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	timeout := rs.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	what := fmt.Sprintf("look up %s %s at %s", dns.TypeToString[qtype], name, rs.Server)
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.SetEdns0(ednsSize, false)

	c := &dns.Client{Net: "udp", Timeout: timeout}
	resp, _, err := c.ExchangeContext(ctx, m, rs.Server)
	// A truncated answer may not even unpack; its header is enough to
	// ask again over TCP.
	if resp != nil && resp.Truncated {
		c.Net = "tcp"
		resp, _, err = c.ExchangeContext(ctx, m, rs.Server)
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return nil, fmt.Errorf("%s: %w", what, ctxErr)
	}
	var netErr net.Error
	switch {
	case errors.As(err, &netErr) && netErr.Timeout():
		return nil, fmt.Errorf("%s: %w within %s over %s", what, ErrNoAnswer, timeout, strings.ToUpper(c.Net))
	case err != nil:
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	switch resp.Rcode {
	case dns.RcodeSuccess:
		return resp, nil
	case dns.RcodeNameError:
		return nil, fmt.Errorf("%s: %w", what, ErrNoSuchDomain)
	case dns.RcodeServerFailure:
		return nil, fmt.Errorf("%s: %w", what, ErrServerFailure)
	case dns.RcodeRefused:
		return nil, fmt.Errorf("%s: %w", what, ErrRefused)
	}
	return nil, fmt.Errorf("%s: the DNS server answered %s", what, dns.RcodeToString[resp.Rcode])
}

// normalizeDomain lowercases a domain and drops a final dot. Names must be
// in ASCII: an internationalized domain is given in its xn-- form.
func normalizeDomain(s string) (string, error) {
	name := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), ".")
	bad := func(why string) error { return fmt.Errorf("%w %q: %s", ErrInvalidDomain, s, why) }
	if name == "" {
		return "", bad("empty")
	}
	if len(name) > 253 {
		return "", bad("longer than 253 characters")
	}
	labels := strings.Split(name, ".")
	if len(labels) < 2 {
		return "", bad("want a domain such as example.com")
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return "", bad("each label between dots must have 1 to 63 characters")
		}
		for _, c := range l {
			if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' && c != '_' {
				return "", bad("only letters, digits, '-' and '_' are allowed (give an internationalized name in its xn-- form)")
			}
		}
	}
	return name, nil
}

// hostName is a DNS name as shown and compared: lowercase, without the
// final dot, and "." for the root (a null MX's host).
func hostName(s string) string {
	s = strings.ToLower(s)
	if s == "." || s == "" {
		return "."
	}
	return strings.TrimSuffix(s, ".")
}

// MatchHost reports whether host matches pattern: the same name, whatever
// the case and a final dot, or, for a pattern "*.SUFFIX", any name ending
// in ".SUFFIX".
func MatchHost(host, pattern string) bool {
	host, pattern = hostName(host), hostName(pattern)
	if suffix, ok := strings.CutPrefix(pattern, "*."); ok {
		return strings.HasSuffix(host, "."+suffix)
	}
	return host == pattern
}

func matchAny(host string, patterns []string) bool {
	return slices.ContainsFunc(patterns, func(p string) bool { return MatchHost(host, p) })
}

// isSPF tells an SPF record: "v=spf1" alone or followed by a space, in
// any case (RFC 7208 section 4.5).
func isSPF(txt string) bool {
	const v = "v=spf1"
	return len(txt) >= len(v) && strings.EqualFold(txt[:len(v)], v) && (len(txt) == len(v) || txt[len(v)] == ' ')
}
