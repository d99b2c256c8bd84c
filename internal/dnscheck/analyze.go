package dnscheck

import (
	"fmt"
	"strings"
)

const (
	// switchTTL is the highest MX TTL at which a switch reaches every
	// resolver within an hour, short enough to watch both servers.
	switchTTL = 3600
	// day is how long ahead of the switch the TTL is lowered: resolvers
	// hold the old, long TTL for up to that long after the change, so the
	// lowering must be at least one old TTL ahead; a day covers the usual
	// TTLs and leaves room.
	day = 86400
)

// keepSyncing is the advice for every state before the switch: mail
// reaches the old server until every cache and every sender's retry queue
// has let go of the old MX records, so the batch is completed only after
// that.
const keepSyncing = "After the switch keep the incremental syncs running at least 72 hours (three incremental passes) before completing the batch: senders that still have the old MX records cached, and mail queued for a retry, reach the old server for a while."

// analyze marks the MX records that point at the destination and sets the
// state and the advice, from the records alone.
func analyze(r *Result, want Expect) {
	r.Expect = want
	matched := 0
	for i := range r.MX {
		r.MX[i].Destination = matchAny(r.MX[i].Host, want.MX)
		if r.MX[i].Destination {
			matched++
		}
	}
	r.NullMX = len(r.MX) == 1 && r.MX[0].Host == "."
	switch {
	case len(r.MX) == 0 || r.NullMX:
		r.State = StateNoMX
	case len(want.MX) == 0:
		r.State = StateUnchecked
	case matched == len(r.MX):
		r.State = StateSwitched
	case matched > 0:
		r.State = StatePartlySwitched
	default:
		r.State = StateNotSwitched
	}

	r.Advice = []string{}
	add := func(format string, args ...any) { r.Advice = append(r.Advice, fmt.Sprintf(format, args...)) }
	d := r.Domain
	dest := strings.Join(want.MX, ", ")
	ttl := maxTTL(r.MX)
	lowerTTL := func() {
		if ttl <= switchTTL {
			add("The MX TTL is %s: resolvers see a change of the MX records within that time.", FormatTTL(ttl))
			return
		}
		ahead := "a day"
		if ttl > day {
			ahead = FormatTTL(ttl)
		}
		add("Lower the MX records' TTL from %s to %s or less at least %s before the switch, so that resolvers let go of the old MX records within an hour of it.", FormatTTL(ttl), FormatTTL(switchTTL), ahead)
	}

	switch r.State {
	case StateUnchecked:
		add("MX of %s points at %s. Name the destination's MX host to see whether that is the destination.", d, mxList(r.MX, func(MX) bool { return true }))
		lowerTTL()
		r.Advice = append(r.Advice, keepSyncing)
	case StateNotSwitched:
		add("MX of %s points at %s, not at the destination (%s): not switched yet.", d, mxList(r.MX, func(MX) bool { return true }), dest)
		lowerTTL()
		add("At the switch, replace the MX records with the destination's (%s); the batch keeps syncing meanwhile.", dest)
		r.Advice = append(r.Advice, keepSyncing)
	case StatePartlySwitched:
		add("MX of %s: %d of %d records point at the destination; mail still reaches the old server through %s.", d, matched, len(r.MX), mxList(r.MX, func(mx MX) bool { return !mx.Destination }))
		add("Remove the MX records that do not point at the destination: senders fall back to them, so mail keeps arriving at the old server. Do not complete the batch yet.")
		lowerTTL()
		r.Advice = append(r.Advice, keepSyncing)
	case StateSwitched:
		add("MX of %s points at the destination: %s.", d, mxList(r.MX, func(MX) bool { return true }))
		add("Keep the incremental syncs running at least 72 hours (three incremental passes) after the switch, then complete the batch: until then senders that cached the old MX records, and mail queued for a retry, still reach the old server.")
	case StateNoMX:
		switch {
		case r.NullMX:
			add("%s publishes a null MX (RFC 7505): it takes no mail.", d)
		case len(r.Addresses) > 0:
			add("%s has no MX records: mail to it goes to its address records (%s), as RFC 5321 section 5.1 says.", d, strings.Join(r.Addresses, ", "))
		default:
			add("%s has neither MX nor address records: mail to it cannot be delivered.", d)
		}
		if dest != "" {
			add("At the switch, publish MX records pointing at the destination (%s).", dest)
		} else {
			add("At the switch, publish MX records pointing at the destination.")
		}
		r.Advice = append(r.Advice, keepSyncing)
	}

	switch n := len(r.SPF.Records); {
	case n == 0:
		add("%s has no SPF record (a TXT record \"v=spf1 ...\"): receivers cannot tell mail forged in its name; publish one that lists the destination's outgoing servers.", d)
	case n > 1:
		add("%s has %d SPF records: receivers treat that as a permanent error (RFC 7208 section 4.5) and may reject its mail; merge them into one.", d, n)
	}
	if want.SPFInclude != "" {
		in := spfIncludes(r.SPF.Records, want.SPFInclude)
		r.SPF.Included = &in
		if !in {
			add("Add include:%s to the SPF record of %s before the switch, or mail the destination sends for %s may fail SPF checks and be rejected or marked as spam.", hostName(want.SPFInclude), d, d)
		}
	}

	var setup []string
	if r.Autodiscover.Exists() {
		setup = append(setup, r.Autodiscover.Name)
	}
	if len(r.AutodiscoverSRV) > 0 {
		setup = append(setup, "_autodiscover._tcp."+d)
	}
	if r.Autoconfig.Exists() {
		setup = append(setup, r.Autoconfig.Name)
	}
	if len(setup) > 0 {
		add("Mail clients (Outlook, Thunderbird) set up accounts from %s: point them at the destination's settings at the switch, or new accounts are set up on the old server.", strings.Join(setup, ", "))
	}
}

// mxList names the MX records that pass keep, with their preferences.
func mxList(mxs []MX, keep func(MX) bool) string {
	var parts []string
	for _, mx := range mxs {
		if keep(mx) {
			parts = append(parts, fmt.Sprintf("%s (preference %d)", mx.Host, mx.Preference))
		}
	}
	return strings.Join(parts, ", ")
}

// maxTTL is the longest TTL of the MX records: the longest a resolver
// may keep answering with them.
func maxTTL(mxs []MX) uint32 {
	var m uint32
	for _, mx := range mxs {
		m = max(m, mx.TTL)
	}
	return m
}

// spfIncludes reports whether an SPF record has an include: mechanism or
// a redirect= modifier naming domain (RFC 7208 sections 5.2 and 6.1),
// whatever its qualifier.
func spfIncludes(records []string, domain string) bool {
	want := hostName(domain)
	for _, rec := range records {
		for _, term := range strings.Fields(rec) {
			term = strings.TrimLeft(strings.ToLower(term), "+-~?")
			if v, ok := strings.CutPrefix(term, "include:"); ok && hostName(v) == want {
				return true
			}
			if v, ok := strings.CutPrefix(term, "redirect="); ok && hostName(v) == want {
				return true
			}
		}
	}
	return false
}

// FormatTTL gives a TTL in seconds and, from a minute up, in minutes or
// hours: "86400 s (24 h)".
func FormatTTL(s uint32) string {
	switch {
	case s < 60:
		return fmt.Sprintf("%d s", s)
	case s%3600 == 0:
		return fmt.Sprintf("%d s (%d h)", s, s/3600)
	case s >= 3600:
		return fmt.Sprintf("%d s (%.1f h)", s, float64(s)/3600)
	case s%60 == 0:
		return fmt.Sprintf("%d s (%d min)", s, s/60)
	}
	return fmt.Sprintf("%d s (%.1f min)", s, float64(s)/60)
}
