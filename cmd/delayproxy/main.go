// Command delayproxy puts a link with latency between a client and an IMAP
// server on loopback, to measure what round trips cost a migration tool
// (scripts/rtt.sh compares imapmigrate with mbsync over it):
//
//	delayproxy -listen 127.0.0.1:14311 -upstream 127.0.0.1:14301 -one-way 1ms
//
// Each chunk read is delivered one-way later, in each direction; there is
// no bandwidth limit. Only loopback addresses are accepted.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/imapmigrate/imapmigrate/internal/testserver"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:14311", "address to listen on")
	upstream := flag.String("upstream", "127.0.0.1:14301", "server to forward to")
	oneWay := flag.Duration("one-way", time.Millisecond, "delay in each direction (the round trip is twice this)")
	flag.Parse()
	for _, a := range []string{*listen, *upstream} {
		host, _, err := net.SplitHostPort(a)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			fmt.Fprintf(os.Stderr, "delayproxy: %s is not a loopback host:port\n", a)
			os.Exit(2)
		}
	}
	p, err := testserver.ListenDelayProxy(*listen, *upstream, *oneWay)
	if err != nil {
		fmt.Fprintf(os.Stderr, "delayproxy: %v\n", err)
		os.Exit(1)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	p.Close()
}
