package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/spf13/cobra"

	"github.com/imapmigrate/imapmigrate/internal/folder"
	"github.com/imapmigrate/imapmigrate/internal/imapconn"
	"github.com/imapmigrate/imapmigrate/internal/mailsync"
	"github.com/imapmigrate/imapmigrate/internal/provider"
)

const probeHelp = `Look at one or both servers of a migration before it starts, and change
nothing on either: both connections are read-only (EXAMINE, BODY.PEEK, the
wire guard of sync's source).

For each server given (--source, --dest, or a profile's server with the
user): the login, the capabilities a migration cares about, the namespaces
and their separators, the quota (GETQUOTAROOT INBOX, where QUOTA is
offered), and every folder with its messages and their size (STATUS SIZE
where the server offers it, else the RFC822.SIZE of each message; with
--exact-sizes always the latter). With both servers: the folder mapping
sync would use, computed by the engine itself. On the source: the read rate
of a sample of the newest messages of its largest folder (--sample-time,
at most 64 MiB), and from it an estimate of the copy's duration, with the
daily bandwidth budgets of the profiles (Gmail's 2.5 GB a day down) and
the destination's quota. With --find-connection-limit N: connections are
opened one by one, up to N at once, until the server refuses one ([LIMIT]),
then all closed.

Exit status: 0 the probe ran; 2 bad usage; 3 cannot connect, or a login
refused for now; 4 authentication failed; 1 anything else.`

const probeExample = `  imapmigrate probe \
    --source-profile gmail --source-user alice@example.com --source-password-file pw1 \
    --dest-profile office365 --dest-user alice@example.com --dest-password-file pw2 \
    --find-connection-limit 20`

// Probe bounds: the read sample stops at sampleMaxBytes or its time,
// whichever comes first, and fetches sampleBatch messages per command.
const (
	sampleMaxBytes = 64 << 20
	sampleBatch    = 10
)

// probeCaps are the capabilities the probe reports, in this order.
var probeCaps = []imap.Cap{
	imap.CapUIDPlus, imap.CapCondStore, imap.CapQResync, imap.CapSpecialUse, imap.CapAppendLimit,
	imap.CapLiteralPlus, "COMPRESS=DEFLATE", imap.CapMove, imap.CapID, imap.CapNamespace,
	imap.CapQuota, imap.CapStatusSize,
}

// probeReport is what probe prints, as a table or as JSON.
type probeReport struct {
	Source      *sideProbe   `json:"source,omitempty"`
	Destination *sideProbe   `json:"destination,omitempty"`
	Mapping     []mappingRow `json:"mapping,omitempty"`
	Estimate    *estimate    `json:"estimate,omitempty"`
}

// sideProbe is what one server showed.
type sideProbe struct {
	Server       string           `json:"server"`
	User         string           `json:"user"`
	Profile      string           `json:"profile"`
	Capabilities []capState       `json:"capabilities"`
	Namespaces   []probeNamespace `json:"namespaces"`
	Quota        []probeQuota     `json:"quota,omitempty"`
	QuotaError   string           `json:"quota_error,omitempty"`
	// SizeMethod is how sizes were counted: "STATUS SIZE" or
	// "FETCH RFC822.SIZE".
	SizeMethod      string       `json:"size_method"`
	Folders         []folderStat `json:"folders"`
	FolderCount     int          `json:"folder_count"`
	Messages        int          `json:"messages"`
	Bytes           int64        `json:"bytes"`
	ReadRate        *readRate    `json:"read_rate,omitempty"`
	ConnectionLimit *connLimit   `json:"connection_limit,omitempty"`

	listed []folder.Listed
	ns     folder.Namespace
}

type capState struct {
	Name    string `json:"name"`
	Present bool   `json:"present"`
	Value   string `json:"value,omitempty"` // APPENDLIMIT's figure
}

type probeNamespace struct {
	Kind      string `json:"kind"` // personal, other or shared
	Prefix    string `json:"prefix"`
	Separator string `json:"separator"`
}

// probeQuota is one resource of a quota root, in the server's units
// (STORAGE in KiB, RFC 9208).
type probeQuota struct {
	Root     string `json:"root"`
	Resource string `json:"resource"`
	Usage    int64  `json:"usage"`
	Limit    int64  `json:"limit"`
}

// folderStat is one folder as listed by the server.
type folderStat struct {
	Name     string `json:"name"`
	Messages int    `json:"messages"`
	Bytes    int64  `json:"bytes"`
	// Skip is why sync leaves this source folder out (folder.SkipReason).
	Skip  string `json:"skip,omitempty"`
	Error string `json:"error,omitempty"`
}

// readRate is the measured read speed of the source, one connection.
type readRate struct {
	Folder         string  `json:"folder"`
	Messages       int     `json:"messages"`
	Bytes          int64   `json:"bytes"`
	Seconds        float64 `json:"seconds"`
	BytesPerSecond float64 `json:"bytes_per_second"`
}

// connLimit is what --find-connection-limit found: Accepted connections
// were open at once (the probe's own included) when the next was refused
// with Answer, or the bound was reached (Refused false).
type connLimit struct {
	Bound    int    `json:"bound"`
	Accepted int    `json:"accepted"`
	Refused  bool   `json:"refused"`
	Limit    bool   `json:"limit"` // the refusal carried [LIMIT]
	Answer   string `json:"answer,omitempty"`
}

type mappingRow struct {
	Source      string `json:"source"`
	Display     string `json:"display"`
	Destination string `json:"destination,omitempty"`
	Exists      bool   `json:"exists"`
	Skip        string `json:"skip,omitempty"`
	Note        string `json:"note,omitempty"`
}

// estimate is how long the copy of what sync would take should last.
type estimate struct {
	Folders  int   `json:"folders"`
	Messages int   `json:"messages"`
	Bytes    int64 `json:"bytes"`
	// Connections is the per-side count the copy would use.
	Connections    int     `json:"connections"`
	BytesPerSecond float64 `json:"bytes_per_second"` // per connection, measured
	// Seconds is Bytes over the rate of all connections; 0 when no rate
	// was measured.
	Seconds float64 `json:"seconds"`
	// DailyPasses is how many days the profiles' daily budgets spread the
	// copy over (1 when they do not limit it).
	DailyPasses int      `json:"daily_passes"`
	Warnings    []string `json:"warnings,omitempty"`
}

// probeOptions are the parsed flags of probe.
type probeOptions struct {
	opts        mailsync.Options // Source or Dest has no Addr when not given
	src, dst    provider.Profile
	exact       bool
	sampleTime  time.Duration
	connections int // 0: the profiles' figure
	findLimit   int
}

func newProbeCmd(stdout, stderr io.Writer) *cobra.Command {
	var (
		mf     mailboxFlags
		po     probeOptions
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:     "probe",
		Short:   "Check servers before a migration: capabilities, folders, sizes, mapping, speed, limits",
		Long:    probeHelp,
		Example: probeExample,
		Args:    cobra.NoArgs,
	}
	mf.partial = true
	mf.register(cmd)
	f := cmd.Flags()
	f.BoolVar(&asJSON, "json", false, "print the probe as JSON instead of tables")
	f.BoolVar(&po.exact, "exact-sizes", false, "count sizes from each message's RFC822.SIZE even where the server offers STATUS SIZE")
	f.DurationVar(&po.sampleTime, "sample-time", 5*time.Second, "how long to read the newest source messages to measure the read rate (at most 64 MiB); 0 = no sample, no duration estimate")
	f.IntVar(&po.connections, "connections", 0, "connections per side that the estimate assumes (default: the smaller of the two profiles' figures, 4 for most)")
	f.IntVar(&po.findLimit, "find-connection-limit", 0, "open up to N connections at once to each server, one by one, to find where it refuses ([LIMIT]); 0 = do not")

	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		opts, err := mf.options(stderr)
		if err != nil {
			return exitf(ExitUsage, "%w", err)
		}
		if opts.Source.Addr == "" && opts.Dest.Addr == "" {
			return exitf(ExitUsage, "give --source or --dest (or a profile with a server) and the user: nothing to probe")
		}
		if po.sampleTime < 0 || po.connections < 0 || po.findLimit < 0 {
			return exitf(ExitUsage, "--sample-time, --connections and --find-connection-limit must be 0 or more")
		}
		po.opts, po.src, po.dst = opts, mf.srcProfile, mf.dstProfile
		rep, err := runProbe(cmd.Context(), po)
		if err != nil {
			return exitf(exitCode(err), "%w", err)
		}
		if asJSON {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			if err := enc.Encode(rep); err != nil {
				return exitf(ExitInternal, "%w", err)
			}
			return nil
		}
		printProbe(stdout, rep)
		return nil
	}
	return cmd
}

// runProbe connects to each server given, read-only, and gathers the
// report. A connection or login failure ends it with that error; a folder
// that cannot be counted is reported with its error and the rest go on.
func runProbe(ctx context.Context, po probeOptions) (*probeReport, error) {
	rep := &probeReport{}
	var src, dst *imapconn.Conn
	for _, side := range []struct {
		cfg  imapconn.Config
		prof provider.Profile
		conn **imapconn.Conn
		out  **sideProbe
	}{
		{po.opts.Source, po.src, &src, &rep.Source},
		{po.opts.Dest, po.dst, &dst, &rep.Destination},
	} {
		if side.cfg.Addr == "" {
			continue
		}
		side.cfg.ReadOnly = true
		c, err := imapconn.Dial(ctx, side.cfg)
		if err != nil {
			return nil, err
		}
		defer c.Close()
		context.AfterFunc(ctx, c.Abort)
		*side.conn = c
		sp, err := probeServer(c, side.cfg, side.prof, po.exact)
		if err != nil {
			return nil, err
		}
		*side.out = sp
	}

	// What sync would take from the source.
	var plan []folder.Mapping
	if src != nil && dst != nil {
		var err error
		if plan, err = mailsync.PlanFolders(ctx, src, dst, po.opts); err != nil {
			return nil, err
		}
		for _, m := range plan {
			rep.Mapping = append(rep.Mapping, mappingRow{Source: m.Source, Display: m.Display, Destination: m.Dest,
				Exists: m.DestExists, Skip: string(m.Skip), Note: m.Note})
		}
	} else if src != nil {
		// Without a destination the skip reasons still hold: they depend
		// on the source alone.
		s := rep.Source
		plan = folder.Plan(s.listed, s.ns, nil, folder.Namespace{Delim: s.ns.Delim}, po.opts.Folders)
	}
	if src != nil {
		skips := map[string]folder.SkipReason{}
		for _, m := range plan {
			skips[m.Source] = m.Skip
		}
		for i := range rep.Source.Folders {
			if sk := skips[rep.Source.Folders[i].Name]; sk != folder.SkipNone && sk != folder.SkipNoSelect {
				rep.Source.Folders[i].Skip = string(sk)
			}
		}
		if po.sampleTime > 0 {
			rate, err := sampleReadRate(src, rep.Source.Folders, po.sampleTime)
			if err != nil {
				return nil, fmt.Errorf("measure the read rate of the source %s: %w", po.opts.Source.User, err)
			}
			rep.Source.ReadRate = rate
		}
		conns := po.connections
		if conns == 0 {
			conns = provider.Connections(po.src, po.dst)
		}
		rep.Estimate = estimateCopy(rep.Source, rep.Destination, conns, po.src, po.dst)
	}

	if po.findLimit > 0 {
		for _, side := range []struct {
			cfg imapconn.Config
			sp  *sideProbe
		}{{po.opts.Source, rep.Source}, {po.opts.Dest, rep.Destination}} {
			if side.sp == nil {
				continue
			}
			side.cfg.ReadOnly = true
			side.sp.ConnectionLimit = findConnectionLimit(ctx, side.cfg, po.findLimit)
		}
		if rep.Estimate != nil {
			rep.Estimate.Warnings = append(rep.Estimate.Warnings, limitWarnings(rep, rep.Estimate.Connections)...)
		}
	}
	return rep, nil
}

// probeServer reads the capabilities, namespaces, quota and folders of one
// logged-in server.
func probeServer(c *imapconn.Conn, cfg imapconn.Config, prof provider.Profile, exact bool) (*sideProbe, error) {
	sp := &sideProbe{Server: cfg.Addr, User: cfg.User, Profile: prof.Name}
	caps := c.Caps()
	for _, cp := range probeCaps {
		st := capState{Name: string(cp), Present: caps.Has(cp)}
		if cp == imap.CapAppendLimit {
			if lim, ok := caps.AppendLimit(); ok && lim != nil {
				st.Value = fmt.Sprint(*lim)
			}
		}
		sp.Capabilities = append(sp.Capabilities, st)
	}

	if caps.Has(imap.CapNamespace) {
		ns, err := c.Namespace().Wait()
		if err != nil {
			return nil, fmt.Errorf("%s %s: namespace: %w", cfg.Side, cfg.User, err)
		}
		for _, kind := range []struct {
			name  string
			descs []imap.NamespaceDescriptor
		}{{"personal", ns.Personal}, {"other", ns.Other}, {"shared", ns.Shared}} {
			for _, d := range kind.descs {
				sp.Namespaces = append(sp.Namespaces, probeNamespace{Kind: kind.name, Prefix: d.Prefix, Separator: delimText(d.Delim)})
			}
		}
		if len(ns.Personal) > 0 {
			sp.ns = folder.Namespace{Prefix: ns.Personal[0].Prefix, Delim: ns.Personal[0].Delim}
		}
	}

	if caps.Has(imap.CapQuota) {
		roots, err := c.GetQuotaRoot("INBOX").Wait()
		var ie *imap.Error
		switch {
		case errors.As(err, &ie):
			sp.QuotaError = strings.TrimPrefix(ie.Error(), "imap: ")
		case err != nil:
			return nil, fmt.Errorf("%s %s: getquotaroot INBOX: %w", cfg.Side, cfg.User, err)
		}
		for _, q := range roots {
			for res, d := range q.Resources {
				sp.Quota = append(sp.Quota, probeQuota{Root: q.Root, Resource: string(res), Usage: d.Usage, Limit: d.Limit})
			}
		}
	}

	listOpts := &imap.ListOptions{}
	if caps.Has(imap.CapSpecialUse) {
		listOpts.ReturnSpecialUse = true
	}
	list, err := c.List("", "*", listOpts).Collect()
	if err != nil {
		return nil, fmt.Errorf("%s %s: list folders: %w", cfg.Side, cfg.User, err)
	}
	sp.SizeMethod = "FETCH RFC822.SIZE"
	byStatus := caps.Has(imap.CapStatusSize) && !exact
	if byStatus {
		sp.SizeMethod = "STATUS SIZE"
	}
	for _, l := range list {
		if sp.ns.Delim == 0 && l.Delim != 0 {
			sp.ns.Delim = l.Delim
		}
		if raw, bad := c.Unmappable(l.Mailbox); bad {
			sp.Folders = append(sp.Folders, folderStat{Name: raw, Skip: string(folder.SkipUnmappable),
				Error: "the name is not valid modified UTF-7: the folder cannot be opened"})
			continue
		}
		sp.listed = append(sp.listed, folder.Listed{Name: l.Mailbox, Delim: l.Delim, Attrs: l.Attrs, Subscribed: true})
		if hasMailboxAttr(l.Attrs, imap.MailboxAttrNoSelect) || hasMailboxAttr(l.Attrs, imap.MailboxAttrNonExistent) {
			continue
		}
		sp.FolderCount++
		fs := folderStat{Name: l.Mailbox}
		if byStatus {
			err = statusSize(c, &fs)
		} else {
			err = fetchSizes(c, &fs)
		}
		var ie *imap.Error
		switch {
		case errors.As(err, &ie):
			fs.Error = strings.TrimPrefix(ie.Error(), "imap: ")
		case err != nil:
			return nil, fmt.Errorf("%s %s: count folder %q: %w", cfg.Side, cfg.User, l.Mailbox, err)
		}
		sp.Messages += fs.Messages
		sp.Bytes += fs.Bytes
		sp.Folders = append(sp.Folders, fs)
	}
	if sp.ns.Delim == 0 {
		sp.ns.Delim = '/'
	}
	return sp, nil
}

// statusSize counts a folder with STATUS (MESSAGES SIZE), RFC 8438.
func statusSize(c *imapconn.Conn, fs *folderStat) error {
	st, err := c.Status(fs.Name, &imap.StatusOptions{NumMessages: true, Size: true}).Wait()
	if err != nil {
		return err
	}
	if st.NumMessages != nil {
		fs.Messages = int(*st.NumMessages)
	}
	if st.Size != nil {
		fs.Bytes = *st.Size
	}
	return nil
}

// fetchSizes counts a folder by examining it and adding up RFC822.SIZE.
func fetchSizes(c *imapconn.Conn, fs *folderStat) error {
	sel, err := c.Select(fs.Name, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return err
	}
	if sel.NumMessages == 0 {
		return nil
	}
	cmd := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{RFC822Size: true})
	for {
		msg := cmd.Next()
		if msg == nil {
			break
		}
		buf, err := msg.Collect()
		if err != nil {
			cmd.Close()
			return err
		}
		fs.Messages++
		fs.Bytes += buf.RFC822Size
	}
	return cmd.Close()
}

// sampleReadRate reads whole messages (BODY.PEEK[]), newest first, from the
// kept source folder with the most bytes, for at most d or sampleMaxBytes,
// and returns the rate. One FETCH at a time, each read to its end, as
// go-imap needs.
func sampleReadRate(c *imapconn.Conn, folders []folderStat, d time.Duration) (*readRate, error) {
	var pick *folderStat
	for i, fs := range folders {
		if fs.Skip == "" && fs.Error == "" && fs.Messages > 0 && (pick == nil || fs.Bytes > pick.Bytes) {
			pick = &folders[i]
		}
	}
	if pick == nil {
		return nil, nil
	}
	sel, err := c.Select(pick.Name, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return nil, fmt.Errorf("examine %q: %w", pick.Name, err)
	}
	rate := &readRate{Folder: pick.Name}
	start := time.Now()
	for hi := sel.NumMessages; hi > 0 && time.Since(start) < d && rate.Bytes < sampleMaxBytes; {
		lo := hi - min(hi, sampleBatch) + 1
		cmd := c.Fetch(imap.SeqSet{{Start: lo, Stop: hi}}, &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Peek: true}}})
		if err := drainBodies(cmd, rate); err != nil {
			return nil, fmt.Errorf("fetch messages %d:%d of %q: %w", lo, hi, pick.Name, err)
		}
		hi = lo - 1
	}
	rate.Seconds = time.Since(start).Seconds()
	if rate.Seconds > 0 {
		rate.BytesPerSecond = float64(rate.Bytes) / rate.Seconds
	}
	return rate, nil
}

// drainBodies reads every body section of a FETCH to its end, counting
// messages and bytes in rate.
func drainBodies(cmd *imapclient.FetchCommand, rate *readRate) error {
	for {
		msg := cmd.Next()
		if msg == nil {
			return cmd.Close()
		}
		for item := msg.Next(); item != nil; item = msg.Next() {
			body, ok := item.(imapclient.FetchItemDataBodySection)
			if !ok || body.Literal == nil {
				continue
			}
			n, err := io.Copy(io.Discard, body.Literal)
			if err != nil {
				cmd.Close()
				return err
			}
			rate.Messages++
			rate.Bytes += n
		}
	}
}

// findConnectionLimit opens connections to one server, one by one, until
// bound are open at once (the probe's own counted) or the server refuses
// one, then closes them all. A login the server refuses for another reason
// than a limit is reported in its words too.
func findConnectionLimit(ctx context.Context, cfg imapconn.Config, bound int) *connLimit {
	lim := &connLimit{Bound: bound, Accepted: 1}
	var open []*imapconn.Conn
	defer func() {
		for _, c := range open {
			c.Close()
		}
	}()
	for lim.Accepted < bound {
		c, err := imapconn.Dial(ctx, cfg)
		if err != nil {
			lim.Refused = true
			lim.Answer = err.Error()
			var ie *imap.Error
			if errors.As(err, &ie) {
				lim.Answer = strings.TrimPrefix(ie.Error(), "imap: ")
				lim.Limit = ie.Code == imap.ResponseCodeLimit
			}
			break
		}
		open = append(open, c)
		lim.Accepted++
	}
	return lim
}

// estimateCopy sizes the copy: the kept source folders, at the measured
// rate over conns connections, within the profiles' daily budgets, against
// the destination's quota.
func estimateCopy(src, dst *sideProbe, conns int, srcProf, dstProf provider.Profile) *estimate {
	e := &estimate{Connections: conns, DailyPasses: 1}
	for _, fs := range src.Folders {
		if fs.Skip == "" && fs.Error == "" {
			e.Folders++
			e.Messages += fs.Messages
			e.Bytes += fs.Bytes
		}
	}
	if r := src.ReadRate; r != nil && r.BytesPerSecond > 0 {
		e.BytesPerSecond = r.BytesPerSecond
		e.Seconds = float64(e.Bytes) / (r.BytesPerSecond * float64(conns))
	}
	e.DailyPasses = dailyPasses(e.Bytes, srcProf.DailyDownload, dstProf.DailyUpload)
	if e.DailyPasses > 1 {
		e.Warnings = append(e.Warnings, fmt.Sprintf("the copy needs %d days of the daily bandwidth budgets (%s): the server refuses more each day, and each later pass goes on from where the last stopped",
			e.DailyPasses, budgetText(srcProf, dstProf)))
	}
	if dst != nil {
		for _, q := range dst.Quota {
			if strings.EqualFold(q.Resource, string(imap.QuotaResourceStorage)) && q.Limit > 0 {
				if free := (q.Limit - q.Usage) * 1024; e.Bytes > free {
					e.Warnings = append(e.Warnings, fmt.Sprintf("the destination's quota %q leaves %s free, but the folders to copy hold %s",
						q.Root, formatBytes(max(free, 0)), formatBytes(e.Bytes)))
				}
			}
		}
	}
	return e
}

// dailyPasses is how many days of budget the bytes need: 1 without
// budgets.
func dailyPasses(bytes, down, up int64) int {
	passes := 1
	for _, budget := range []int64{down, up} {
		if budget > 0 {
			passes = max(passes, int(math.Ceil(float64(bytes)/float64(budget))))
		}
	}
	return passes
}

func budgetText(src, dst provider.Profile) string {
	var parts []string
	if src.DailyDownload > 0 {
		parts = append(parts, fmt.Sprintf("%s reads %s a day", src.Name, formatBytes(src.DailyDownload)))
	}
	if dst.DailyUpload > 0 {
		parts = append(parts, fmt.Sprintf("%s takes %s a day", dst.Name, formatBytes(dst.DailyUpload)))
	}
	return strings.Join(parts, ", ")
}

// limitWarnings advises on a server that accepts fewer connections than
// the copy would open, leaving one for the user's own mail program.
func limitWarnings(rep *probeReport, conns int) []string {
	var out []string
	for _, side := range []struct {
		name string
		sp   *sideProbe
	}{{"source", rep.Source}, {"destination", rep.Destination}} {
		if side.sp == nil || side.sp.ConnectionLimit == nil || !side.sp.ConnectionLimit.Refused {
			continue
		}
		if n := side.sp.ConnectionLimit.Accepted; n <= conns {
			out = append(out, fmt.Sprintf("the %s accepts %d connections at once and the copy would open %d: use --connections %d", side.name, n, conns, max(1, n-1)))
		}
	}
	return out
}

func delimText(d rune) string {
	if d == 0 {
		return ""
	}
	return string(d)
}

func hasMailboxAttr(attrs []imap.MailboxAttr, a imap.MailboxAttr) bool {
	for _, x := range attrs {
		if strings.EqualFold(string(x), string(a)) {
			return true
		}
	}
	return false
}

// printProbe renders the report for a person.
func printProbe(w io.Writer, rep *probeReport) {
	for _, side := range []struct {
		title string
		sp    *sideProbe
	}{{"Source", rep.Source}, {"Destination", rep.Destination}} {
		if side.sp != nil {
			printSide(w, side.title, side.sp)
		}
	}
	if len(rep.Mapping) > 0 {
		fmt.Fprintln(w, "Folder mapping (as sync would do it)")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  SOURCE\tDESTINATION\tSTATUS")
		for _, m := range rep.Mapping {
			dest, status := m.Destination, "new"
			if m.Exists {
				status = "exists"
			}
			if m.Skip != "" {
				status = "skipped: " + m.Skip
			}
			if dest == "" {
				dest = "-"
			}
			if m.Note != "" {
				status += " (" + m.Note + ")"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", m.Display, dest, status)
		}
		tw.Flush()
		fmt.Fprintln(w)
	}
	if e := rep.Estimate; e != nil {
		fmt.Fprintf(w, "Estimate: %d folders, %d messages, %s to copy (before the message size and item limits)", e.Folders, e.Messages, formatBytes(e.Bytes))
		if e.Seconds > 0 {
			took := "under a second"
			if d := time.Duration(e.Seconds * float64(time.Second)).Round(time.Second); d > 0 {
				took = "about " + d.String()
			}
			fmt.Fprintf(w, "; %s at %s/s per connection x %d connections (the destination's write rate is not measured)",
				took, formatBytes(int64(e.BytesPerSecond)), e.Connections)
		}
		fmt.Fprintln(w, ".")
		for _, warn := range e.Warnings {
			fmt.Fprintf(w, "Warning: %s.\n", warn)
		}
	}
}

func printSide(w io.Writer, title string, sp *sideProbe) {
	fmt.Fprintf(w, "%s %s as %s (profile %s)\n", title, sp.Server, sp.User, sp.Profile)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  CAPABILITY\tPRESENT")
	for _, c := range sp.Capabilities {
		present := "no"
		if c.Present {
			present = "yes"
		}
		if c.Value != "" {
			present += " (" + c.Value + " bytes)"
		}
		fmt.Fprintf(tw, "  %s\t%s\n", c.Name, present)
	}
	tw.Flush()
	if len(sp.Namespaces) == 0 {
		fmt.Fprintf(w, "  Namespaces: none announced; separator %q\n", string(sp.ns.Delim))
	}
	for _, ns := range sp.Namespaces {
		fmt.Fprintf(w, "  Namespace %s: prefix %q, separator %q\n", ns.Kind, ns.Prefix, ns.Separator)
	}
	for _, q := range sp.Quota {
		if strings.EqualFold(q.Resource, string(imap.QuotaResourceStorage)) {
			fmt.Fprintf(w, "  Quota %q: STORAGE %s used of %s\n", q.Root, formatBytes(q.Usage*1024), formatBytes(q.Limit*1024))
		} else {
			fmt.Fprintf(w, "  Quota %q: %s %d used of %d\n", q.Root, q.Resource, q.Usage, q.Limit)
		}
	}
	if sp.QuotaError != "" {
		fmt.Fprintf(w, "  Quota: the server answered %s\n", sp.QuotaError)
	}
	fmt.Fprintf(w, "  %d folders, %d messages, %s (%s)\n", sp.FolderCount, sp.Messages, formatBytes(sp.Bytes), sp.SizeMethod)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  FOLDER\tMESSAGES\tBYTES")
	for _, fs := range sp.Folders {
		name := fs.Name
		switch {
		case fs.Error != "":
			name += " (" + fs.Error + ")"
		case fs.Skip != "":
			name += " (skipped: " + fs.Skip + ")"
		}
		fmt.Fprintf(tw, "  %s\t%d\t%d\n", name, fs.Messages, fs.Bytes)
	}
	tw.Flush()
	if r := sp.ReadRate; r != nil {
		fmt.Fprintf(w, "  Read rate: %s/s on one connection (%d messages, %s of %q in %.2f s, BODY.PEEK)\n",
			formatBytes(int64(r.BytesPerSecond)), r.Messages, formatBytes(r.Bytes), r.Folder, r.Seconds)
	}
	if l := sp.ConnectionLimit; l != nil {
		if l.Refused {
			fmt.Fprintf(w, "  Connection limit: %d connections at once were accepted, the next was refused: %s\n", l.Accepted, l.Answer)
		} else {
			fmt.Fprintf(w, "  Connection limit: not reached; all %d connections tried were accepted at once\n", l.Accepted)
		}
	}
	fmt.Fprintln(w)
}
