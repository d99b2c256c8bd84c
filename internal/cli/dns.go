package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/imapmigrate/imapmigrate/internal/dnscheck"
)

// ExitNotSwitched is the exit status of `dns check --expect-mx` while the
// domain's MX records do not all point at the destination, so that a
// script can wait for the switch:
// `until imapmigrate dns check ...; do sleep 600; done`.
const ExitNotSwitched = 6

const dnsCheckHelp = `Look up a domain's mail records for the cut-over: its MX records with their
TTL, its SPF record, and the autodiscover and autoconfig names mail clients
set themselves up from; tell whether MX points at the destination yet, and
what to do next.

States: not-switched (MX points elsewhere: lower the TTL to an hour a day
ahead, then switch), partly-switched (some MX records point at the
destination: mail still reaches the old server), switched (every MX record
does: keep syncing at least 72 hours, three incremental passes, then
complete the batch), no-mx (no MX records: mail goes to the domain's address
record), unchecked (no --expect-mx given).

--expect-mx names the destination's MX hosts (repeatable, or comma
separated), matched whatever the case and a final dot; "*.SUFFIX" matches
any host ending in .SUFFIX, such as "*.mail.protection.outlook.com" for
Microsoft 365, which gives each domain its own host there.

The DNS server is asked directly (UDP, then TCP when the answer is
truncated): --resolver, else the first nameserver of /etc/resolv.conf. A
caching resolver shows what is left of the TTL in its cache; ask the
domain's own name server (--resolver ns1.example.com) for the TTL as
configured. The output says which it was.

Exit status: 0 the check ran (and, with --expect-mx, every MX record points
at the destination); 6 with --expect-mx, MX does not point (only) at the
destination yet: not-switched, partly-switched or no-mx; 3 the DNS lookup
failed (the domain does not exist, SERVFAIL, no answer); 2 bad usage.`

const dnsCheckExample = `  imapmigrate dns check --domain example.com
  imapmigrate dns check --domain example.com --expect-mx '*.mail.protection.outlook.com' \
      --expect-spf-include spf.protection.outlook.com
  until imapmigrate dns check --domain example.com --expect-mx mx.new.example; do sleep 600; done`

func newDNSCmd(stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dns",
		Short: "Check a domain's MX and mail DNS records for the cut-over",
		Args:  cobra.NoArgs,
		RunE:  showHelp,
	}
	cmd.AddCommand(newDNSCheckCmd(stdout, stderr))
	return cmd
}

func newDNSCheckCmd(stdout, stderr io.Writer) *cobra.Command {
	var (
		domain, resolver, spfInclude string
		expectMX                     []string
		timeout                      time.Duration
		asJSON                       bool
	)
	cmd := &cobra.Command{
		Use:     "check --domain DOMAIN",
		Short:   "Show where a domain's MX points, its TTL, SPF and autodiscover, and what to do next",
		Long:    dnsCheckHelp,
		Example: dnsCheckExample,
		Args:    cobra.NoArgs,
	}
	f := cmd.Flags()
	f.StringVar(&domain, "domain", "", "the domain whose mail moves (required)")
	f.StringSliceVar(&expectMX, "expect-mx", nil, "the destination's MX host, or a pattern *.SUFFIX (repeatable); exit status 6 until every MX record matches")
	f.StringVar(&spfInclude, "expect-spf-include", "", "the domain the destination asks to include in SPF (e.g. spf.protection.outlook.com)")
	f.StringVar(&resolver, "resolver", "", "DNS server to ask, HOST or HOST:PORT (default: the first nameserver of "+dnscheck.ResolvConf+")")
	f.DurationVar(&timeout, "timeout", dnscheck.DefaultTimeout, "how long to wait for each DNS answer")
	f.BoolVar(&asJSON, "json", false, "print the result as JSON")

	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if domain == "" {
			return exitf(ExitUsage, "--domain is required")
		}
		if timeout <= 0 {
			return exitf(ExitUsage, "--timeout must be more than 0")
		}
		server, err := dnsServer(resolver)
		if err != nil {
			return err
		}
		rs := dnscheck.Resolver{Server: server, Timeout: timeout}
		res, err := rs.Check(cmd.Context(), domain, dnscheck.Expect{MX: expectMX, SPFInclude: spfInclude})
		switch {
		case errors.Is(err, dnscheck.ErrInvalidDomain):
			return exitf(ExitUsage, "--domain: %w", err)
		case err != nil && cmd.Context().Err() != nil:
			return cmd.Context().Err()
		case err != nil:
			return exitf(ExitConnect, "%w", err)
		}
		if asJSON {
			b, err := indentJSON(res)
			if err != nil {
				return exitf(ExitInternal, "%w", err)
			}
			if _, err := stdout.Write(b); err != nil {
				return err
			}
		} else {
			printDNSCheck(stdout, res)
		}
		if len(expectMX) > 0 && res.State != dnscheck.StateSwitched {
			return exitf(ExitNotSwitched, "MX of %s does not point (only) at %s yet: %s", res.Domain, strings.Join(expectMX, ", "), res.State)
		}
		return nil
	}
	return cmd
}

// dnsServer is --resolver as HOST:PORT, or the system's first DNS server.
func dnsServer(flag string) (string, error) {
	if flag != "" {
		s, err := dnscheck.ParseServer(flag)
		if err != nil {
			return "", exitf(ExitUsage, "--resolver: %w", err)
		}
		return s, nil
	}
	s, err := dnscheck.SystemServer(dnscheck.ResolvConf)
	if err != nil {
		return "", exitf(ExitUsage, "%w; name one with --resolver", err)
	}
	return s, nil
}

// printDNSCheck prints a check as an admin reads it: the state first, the
// records, then the advice. Record data comes from DNS and may hold any
// byte, so it is cleaned for the terminal.
func printDNSCheck(w io.Writer, r *dnscheck.Result) {
	answer := "a caching resolver: TTLs are what is left in its cache"
	if r.Authoritative {
		answer = "authoritative: TTLs as configured"
	}
	fmt.Fprintf(w, "Domain:       %s\n", r.Domain)
	fmt.Fprintf(w, "DNS server:   %s (%s)\n", r.Server, answer)
	state := string(r.State)
	if len(r.Expect.MX) > 0 {
		state += " (destination: " + clean(strings.Join(r.Expect.MX, ", ")) + ")"
	}
	fmt.Fprintf(w, "State:        %s\n\n", state)

	switch {
	case r.NullMX:
		fmt.Fprintf(w, "MX:           null MX (\".\"), TTL %s: the domain takes no mail\n", dnscheck.FormatTTL(r.MX[0].TTL))
	case len(r.MX) == 0:
		fmt.Fprintf(w, "MX:           none; mail goes to the address records: %s\n", orDash(strings.Join(r.Addresses, ", ")))
	default:
		fmt.Fprintln(w, "MX:")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  PREF\tHOST\tTTL\tDESTINATION")
		for _, mx := range r.MX {
			dest := "-"
			if len(r.Expect.MX) > 0 {
				dest = yesNo(mx.Destination)
			}
			fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\n", mx.Preference, clean(mx.Host), dnscheck.FormatTTL(mx.TTL), dest)
		}
		tw.Flush()
	}

	if len(r.SPF.Records) == 0 {
		fmt.Fprintln(w, "SPF:          none")
	}
	for _, rec := range r.SPF.Records {
		fmt.Fprintf(w, "SPF:          %s\n", clean(rec))
	}
	if r.SPF.Included != nil {
		fmt.Fprintf(w, "              include:%s: %s\n", clean(r.Expect.SPFInclude), yesNo(*r.SPF.Included))
	}
	fmt.Fprintf(w, "Autodiscover: %s\n", hostLine(r.Autodiscover))
	for _, s := range r.AutodiscoverSRV {
		fmt.Fprintf(w, "              SRV _autodiscover._tcp.%s: %s port %d (priority %d, weight %d)\n", r.Domain, clean(s.Target), s.Port, s.Priority, s.Weight)
	}
	fmt.Fprintf(w, "Autoconfig:   %s\n", hostLine(r.Autoconfig))
	for _, p := range r.Problems {
		fmt.Fprintf(w, "Problem:      %s\n", clean(p))
	}

	fmt.Fprintln(w, "\nAdvice:")
	for _, a := range r.Advice {
		for i, line := range wrapWords(strings.Fields(clean(a)), 74) {
			prefix := "  - "
			if i > 0 {
				prefix = "    "
			}
			fmt.Fprintln(w, prefix+line)
		}
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// hostLine shows what a name resolves to.
func hostLine(h dnscheck.Host) string {
	if !h.Exists() {
		return h.Name + ": none"
	}
	s := h.Name
	if h.CNAME != "" {
		s += " CNAME " + clean(h.CNAME)
	}
	if len(h.Addresses) > 0 {
		s += " " + strings.Join(h.Addresses, ", ")
	}
	return s
}
