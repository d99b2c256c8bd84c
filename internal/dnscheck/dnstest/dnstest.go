// Package dnstest is a DNS server for tests: it answers from a zone written
// in master-file syntax, on UDP and TCP at one free port of 127.0.0.1, and
// can be told to fail names (SERVFAIL, NXDOMAIN), to stay silent, or to
// truncate its UDP answers so that a client must retry over TCP. It lets
// the cut-over checks run against a real DNS exchange without ever asking
// the internet.
package dnstest

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

// Server answers from its zone. Its fields other than Addr may be changed
// between queries (a test switches MX records over).
type Server struct {
	// Addr is the server's HOST:PORT, the same for UDP and TCP.
	Addr string

	mu        sync.Mutex
	records   map[string][]dns.RR // by lowercased owner name
	rcodes    map[string]int
	silent    map[string]bool
	truncated map[string]bool
	queries   map[string]int // by network, "udp" or "tcp"
}

// Start starts a server answering from zone (master-file syntax, one
// record a line, absolute names) and stops it when the test ends.
func Start(t testing.TB, zone string) *Server {
	t.Helper()
	s := &Server{
		rcodes:    map[string]int{},
		silent:    map[string]bool{},
		truncated: map[string]bool{},
		queries:   map[string]int{},
	}
	s.SetZone(t, zone)
	pc, l, err := listen()
	if err != nil {
		t.Fatalf("dnstest: %v", err)
	}
	s.Addr = pc.LocalAddr().String()
	for _, srv := range []*dns.Server{{PacketConn: pc, Handler: s}, {Listener: l, Handler: s}} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		done := make(chan error, 1)
		go func() { done <- srv.ActivateAndServe() }()
		select {
		case <-started:
		case err := <-done:
			t.Fatalf("dnstest: serve: %v", err)
		}
		t.Cleanup(func() {
			if err := srv.Shutdown(); err != nil {
				t.Errorf("dnstest: shutdown: %v", err)
			}
		})
	}
	return s
}

// listen opens UDP and TCP on one port of 127.0.0.1. The UDP port is
// chosen by the kernel; another process may hold its TCP twin, so a few
// tries are made.
func listen() (net.PacketConn, net.Listener, error) {
	var errs []error
	for range 20 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return nil, nil, fmt.Errorf("listen udp: %w", err)
		}
		l, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, l, nil
		}
		pc.Close()
		errs = append(errs, err)
	}
	return nil, nil, fmt.Errorf("no port free for both udp and tcp: %w", errors.Join(errs...))
}

// SetZone replaces the records the server answers from.
func (s *Server) SetZone(t testing.TB, zone string) {
	t.Helper()
	records := map[string][]dns.RR{}
	zp := dns.NewZoneParser(strings.NewReader(zone), ".", "")
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		name := strings.ToLower(rr.Header().Name)
		records[name] = append(records[name], rr)
	}
	if err := zp.Err(); err != nil {
		t.Fatalf("dnstest: zone: %v", err)
	}
	s.mu.Lock()
	s.records = records
	s.mu.Unlock()
}

// Fail makes the server answer every query for name with rcode
// (dns.RcodeServerFailure, dns.RcodeNameError, dns.RcodeRefused).
func (s *Server) Fail(name string, rcode int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rcodes[dns.CanonicalName(name)] = rcode
}

// Silence makes the server drop every query for name unanswered, as a
// server behind a firewall would.
func (s *Server) Silence(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.silent[dns.CanonicalName(name)] = true
}

// TruncateUDP makes the server answer queries for name over UDP with the
// TC bit and no records, as a server does when the answer does not fit in
// a datagram; over TCP it answers in full.
func (s *Server) TruncateUDP(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.truncated[dns.CanonicalName(name)] = true
}

// Queries returns how many queries arrived over network ("udp" or "tcp").
func (s *Server) Queries(network string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries[network]
}

// ServeDNS answers as an authoritative server for every name in its zone:
// the records of the asked type, following CNAMEs inside the zone, empty
// (NODATA) when the name has other records only, NXDOMAIN when it has none.
func (s *Server) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	if len(req.Question) != 1 {
		return
	}
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	network := w.RemoteAddr().Network()

	s.mu.Lock()
	s.queries[network]++
	silent, rcode, failed := s.silent[name], 0, false
	if rc, ok := s.rcodes[name]; ok {
		rcode, failed = rc, true
	}
	truncate := s.truncated[name] && network == "udp"
	var answer []dns.RR
	exists := len(s.records[name]) > 0
	// Follow CNAMEs inside the zone, at most 8 of them: a loop stops there.
	for hops := 0; hops < 8; hops++ {
		var cname *dns.CNAME
		for _, rr := range s.records[name] {
			switch {
			case rr.Header().Rrtype == q.Qtype:
				answer = append(answer, dns.Copy(rr))
			case rr.Header().Rrtype == dns.TypeCNAME:
				cname = rr.(*dns.CNAME)
			}
		}
		if len(answer) > 0 || cname == nil || q.Qtype == dns.TypeCNAME {
			break
		}
		answer = append(answer, dns.Copy(cname))
		name = strings.ToLower(cname.Target)
	}
	s.mu.Unlock()

	if silent {
		return
	}
	resp := new(dns.Msg)
	resp.SetReply(req)
	resp.Authoritative = true
	switch {
	case failed:
		resp.Rcode = rcode
	case truncate:
		resp.Truncated = true
	case !exists:
		resp.Rcode = dns.RcodeNameError
	default:
		resp.Answer = answer
	}
	if opt := req.IsEdns0(); opt != nil {
		resp.SetEdns0(opt.UDPSize(), false)
	}
	// A write error means the client went away; it sees that as a timeout.
	_ = w.WriteMsg(resp)
}
