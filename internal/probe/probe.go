// Package probe looks at the servers of a migration before it starts and
// changes nothing on either: both connections are read-only (EXAMINE,
// BODY.PEEK, the wire guard of the engine's source). Per server it reads
// the capabilities a migration cares about, the namespaces, the quota
// (GETQUOTAROOT INBOX, RFC 9208) and every folder with its messages and
// bytes (STATUS SIZE of RFC 8438 where offered, else each message's
// RFC822.SIZE); with both servers, the folder mapping the engine would use
// (mailsync.PlanFolders, so that what it shows is what a sync does), the
// messages over the size limit, and an estimate of the copy against the
// profiles' daily budgets and the destination's quota.
//
// `imapmigrate probe` prints a Report; the service's batch validation
// (internal/service) reads one per user.
package probe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/imapmigrate/imapmigrate/internal/folder"
	"github.com/imapmigrate/imapmigrate/internal/imapconn"
	"github.com/imapmigrate/imapmigrate/internal/mailsync"
	"github.com/imapmigrate/imapmigrate/internal/provider"
	"github.com/imapmigrate/imapmigrate/internal/size"
)

// Bounds of the read sample: it stops at sampleMaxBytes or its time,
// whichever comes first, and fetches sampleBatch messages per command.
const (
	sampleMaxBytes = 64 << 20
	sampleBatch    = 10
)

// Capabilities are the capabilities a probe reports, in this order.
var Capabilities = []imap.Cap{
	imap.CapUIDPlus, imap.CapCondStore, imap.CapQResync, imap.CapSpecialUse, imap.CapAppendLimit,
	imap.CapLiteralPlus, "COMPRESS=DEFLATE", imap.CapMove, imap.CapID, imap.CapNamespace,
	imap.CapQuota, imap.CapStatusSize,
}

// SkipOutsideRoot marks a source folder outside Options.SourceRoot: not
// the user's, so not migrated.
const SkipOutsideRoot = "outside_user_root"

// Options say what to probe.
type Options struct {
	// Source and Dest are the two servers; a side whose Addr is empty is
	// not probed. ReadOnly is forced on both.
	Source, Dest imapconn.Config
	// SourceProfile and DestProfile are the kinds of server (budgets,
	// connection figures).
	SourceProfile, DestProfile provider.Profile
	// Folders and SourceRoot map the folders as mailsync.Options do.
	Folders    folder.Rules
	SourceRoot string
	// ExactSizes counts each message's RFC822.SIZE even where STATUS SIZE
	// is offered.
	ExactSizes bool
	// SampleTime is how long the newest source messages are read to
	// measure the read rate; 0 means no sample and no duration estimate.
	SampleTime time.Duration
	// Connections is the per-side count the estimate assumes; 0 means
	// provider.Connections of the two profiles.
	Connections int
	// FindConnectionLimit, when > 0, opens up to that many connections to
	// each server, one by one, to find where it refuses one.
	FindConnectionLimit int
	// MaxMessageSize, when > 0, counts the kept source messages larger
	// than it (or than the destination's APPENDLIMIT, when lower): the
	// copy skips them.
	MaxMessageSize int64
	// Logger gets the engine's warnings while it maps the folders.
	// Defaults to slog.Default().
	Logger *slog.Logger
}

// Report is what a probe found.
type Report struct {
	Source      *Side     `json:"source,omitempty"`
	Destination *Side     `json:"destination,omitempty"`
	Mapping     []Mapping `json:"mapping,omitempty"`
	Estimate    *Estimate `json:"estimate,omitempty"`
}

// Side is what one server showed.
type Side struct {
	Server       string       `json:"server"`
	User         string       `json:"user"`
	Profile      string       `json:"profile"`
	Capabilities []Capability `json:"capabilities"`
	Namespaces   []Namespace  `json:"namespaces"`
	Quota        []Quota      `json:"quota,omitempty"`
	QuotaError   string       `json:"quota_error,omitempty"`
	// SizeMethod is how sizes were counted: "STATUS SIZE" or
	// "FETCH RFC822.SIZE".
	SizeMethod      string           `json:"size_method"`
	Folders         []Folder         `json:"folders"`
	FolderCount     int              `json:"folder_count"`
	Messages        int              `json:"messages"`
	Bytes           int64            `json:"bytes"`
	ReadRate        *ReadRate        `json:"read_rate,omitempty"`
	ConnectionLimit *ConnectionLimit `json:"connection_limit,omitempty"`

	listed []folder.Listed
	ns     folder.Namespace
}

// Delim is the server's hierarchy separator: the personal namespace's,
// else the first listed folder's, else '/'.
func (s *Side) Delim() rune { return s.ns.Delim }

// StorageFree is the room left in the server's STORAGE quota, in bytes,
// and the quota root; ok is false when the server announced no STORAGE
// limit.
func (s *Side) StorageFree() (free int64, root string, ok bool) {
	for _, q := range s.Quota {
		if strings.EqualFold(q.Resource, string(imap.QuotaResourceStorage)) && q.Limit > 0 {
			return (q.Limit - q.Usage) * 1024, q.Root, true
		}
	}
	return 0, "", false
}

// Capability is one capability and whether the server has it.
type Capability struct {
	Name    string `json:"name"`
	Present bool   `json:"present"`
	Value   string `json:"value,omitempty"` // APPENDLIMIT's figure
}

// Namespace is one IMAP namespace (RFC 2342).
type Namespace struct {
	Kind      string `json:"kind"` // personal, other or shared
	Prefix    string `json:"prefix"`
	Separator string `json:"separator"`
}

// Quota is one resource of a quota root, in the server's units (STORAGE
// in KiB, RFC 9208).
type Quota struct {
	Root     string `json:"root"`
	Resource string `json:"resource"`
	Usage    int64  `json:"usage"`
	Limit    int64  `json:"limit"`
}

// Folder is one folder as listed by the server.
type Folder struct {
	Name     string `json:"name"`
	Messages int    `json:"messages"`
	Bytes    int64  `json:"bytes"`
	// TooLarge counts the messages over Estimate.SizeLimit, in a kept
	// source folder (when Options.MaxMessageSize is set).
	TooLarge int `json:"too_large,omitempty"`
	// Skip is why the engine leaves this source folder out
	// (folder.SkipReason, or SkipOutsideRoot).
	Skip  string `json:"skip,omitempty"`
	Error string `json:"error,omitempty"`
}

// ReadRate is the measured read speed of the source, one connection.
type ReadRate struct {
	Folder         string  `json:"folder"`
	Messages       int     `json:"messages"`
	Bytes          int64   `json:"bytes"`
	Seconds        float64 `json:"seconds"`
	BytesPerSecond float64 `json:"bytes_per_second"`
}

// ConnectionLimit is what Options.FindConnectionLimit found: Accepted
// connections were open at once (the probe's own included) when the next
// was refused with Answer, or the bound was reached (Refused false).
type ConnectionLimit struct {
	Bound    int    `json:"bound"`
	Accepted int    `json:"accepted"`
	Refused  bool   `json:"refused"`
	Limit    bool   `json:"limit"` // the refusal carried [LIMIT]
	Answer   string `json:"answer,omitempty"`
}

// Mapping is one source folder and where the engine would copy it.
type Mapping struct {
	Source      string `json:"source"`
	Display     string `json:"display"`
	Destination string `json:"destination,omitempty"`
	Exists      bool   `json:"exists"`
	Skip        string `json:"skip,omitempty"`
	Note        string `json:"note,omitempty"`
}

// Estimate is how long the copy of what the engine would take should last.
type Estimate struct {
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
	DailyPasses int `json:"daily_passes"`
	// SizeLimit is the largest message the copy takes (the smaller of
	// Options.MaxMessageSize and the destination's APPENDLIMIT), and
	// TooLarge how many kept source messages are over it; both 0 when
	// the probe did not look.
	SizeLimit int64    `json:"size_limit,omitempty"`
	TooLarge  int      `json:"too_large,omitempty"`
	Warnings  []string `json:"warnings,omitempty"`
}

// Run connects to each server given, read-only, and gathers the report.
// A connection or login failure ends it with that error, and the report
// holds what was found before (the source's side when the destination
// refused): a batch's validation shows the source's figures of a user
// whose destination mailbox does not exist. A folder that cannot be
// counted is reported with its error and the rest go on.
func Run(ctx context.Context, o Options) (*Report, error) {
	rep := &Report{}
	var src, dst *imapconn.Conn
	for _, side := range []struct {
		cfg  imapconn.Config
		prof provider.Profile
		conn **imapconn.Conn
		out  **Side
	}{
		{o.Source, o.SourceProfile, &src, &rep.Source},
		{o.Dest, o.DestProfile, &dst, &rep.Destination},
	} {
		if side.cfg.Addr == "" {
			continue
		}
		side.cfg.ReadOnly = true
		c, err := imapconn.Dial(ctx, side.cfg)
		if err != nil {
			return rep, err
		}
		defer c.Close()
		context.AfterFunc(ctx, c.Abort)
		*side.conn = c
		sp, err := Server(c, side.cfg, side.prof, o.ExactSizes)
		if err != nil {
			return rep, err
		}
		*side.out = sp
	}

	// What the engine would take from the source.
	var plan []folder.Mapping
	if src != nil && dst != nil {
		var err error
		plan, err = mailsync.PlanFolders(ctx, src, dst, mailsync.Options{Source: o.Source, Dest: o.Dest,
			Folders: o.Folders, SourceRoot: o.SourceRoot, Logger: o.Logger})
		if err != nil {
			return rep, err
		}
		for _, m := range plan {
			rep.Mapping = append(rep.Mapping, Mapping{Source: m.Source, Display: m.Display, Destination: m.Dest,
				Exists: m.DestExists, Skip: string(m.Skip), Note: m.Note})
		}
	} else if src != nil {
		// Without a destination the skip reasons still hold: they depend
		// on the source alone.
		s := rep.Source
		plan = folder.Plan(s.listed, s.ns, nil, folder.Namespace{Delim: s.ns.Delim}, o.Folders)
	}
	if src == nil {
		return rep, findLimits(ctx, rep, o)
	}
	skips := map[string]folder.SkipReason{}
	for _, m := range plan {
		skips[m.Source] = m.Skip
	}
	for i := range rep.Source.Folders {
		f := &rep.Source.Folders[i]
		sk, planned := skips[f.Name]
		switch {
		case f.Skip != "":
		case !planned && o.SourceRoot != "" && dst != nil:
			f.Skip = SkipOutsideRoot
		case sk != folder.SkipNone && sk != folder.SkipNoSelect:
			f.Skip = string(sk)
		}
	}
	limit := sizeLimit(o.MaxMessageSize, rep.Destination)
	if limit > 0 {
		if err := countTooLarge(src, rep.Source.Folders, limit); err != nil {
			return rep, fmt.Errorf("count the source messages of %s over %d bytes: %w", o.Source.User, limit, err)
		}
	}
	if o.SampleTime > 0 {
		rate, err := sampleReadRate(src, rep.Source.Folders, o.SampleTime)
		if err != nil {
			return rep, fmt.Errorf("measure the read rate of the source %s: %w", o.Source.User, err)
		}
		rep.Source.ReadRate = rate
	}
	conns := o.Connections
	if conns == 0 {
		conns = provider.Connections(o.SourceProfile, o.DestProfile)
	}
	rep.Estimate = EstimateCopy(rep.Source, rep.Destination, conns, o.SourceProfile, o.DestProfile)
	if limit > 0 {
		rep.Estimate.SizeLimit = limit
		for _, f := range rep.Source.Folders {
			rep.Estimate.TooLarge += f.TooLarge
		}
		if rep.Estimate.TooLarge > 0 {
			rep.Estimate.Warnings = append(rep.Estimate.Warnings, fmt.Sprintf("%d messages are larger than %s, the most the destination takes: they will be skipped and reported (too_large)",
				rep.Estimate.TooLarge, size.Format(limit)))
		}
	}
	return rep, findLimits(ctx, rep, o)
}

// findLimits runs Options.FindConnectionLimit on each side probed.
func findLimits(ctx context.Context, rep *Report, o Options) error {
	if o.FindConnectionLimit <= 0 {
		return nil
	}
	for _, side := range []struct {
		cfg imapconn.Config
		sp  *Side
	}{{o.Source, rep.Source}, {o.Dest, rep.Destination}} {
		if side.sp == nil {
			continue
		}
		side.cfg.ReadOnly = true
		side.sp.ConnectionLimit = findConnectionLimit(ctx, side.cfg, o.FindConnectionLimit)
	}
	if rep.Estimate != nil {
		rep.Estimate.Warnings = append(rep.Estimate.Warnings, limitWarnings(rep, rep.Estimate.Connections)...)
	}
	return nil
}

// sizeLimit is the largest message the copy takes: max, or the
// destination's APPENDLIMIT (RFC 7889) when lower; 0 without max.
func sizeLimit(max int64, dst *Side) int64 {
	if max <= 0 {
		return 0
	}
	if dst != nil {
		for _, c := range dst.Capabilities {
			var n int64
			if c.Name == string(imap.CapAppendLimit) && c.Value != "" {
				if _, err := fmt.Sscan(c.Value, &n); err == nil && n > 0 && n < max {
					return n
				}
			}
		}
	}
	return max
}

// Server reads the capabilities, namespaces, quota and folders of one
// logged-in server. exact counts each message's RFC822.SIZE even where
// STATUS SIZE is offered.
func Server(c *imapconn.Conn, cfg imapconn.Config, prof provider.Profile, exact bool) (*Side, error) {
	sp := &Side{Server: cfg.Addr, User: cfg.User, Profile: prof.Name}
	caps := c.Caps()
	for _, cp := range Capabilities {
		st := Capability{Name: string(cp), Present: caps.Has(cp)}
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
				sp.Namespaces = append(sp.Namespaces, Namespace{Kind: kind.name, Prefix: d.Prefix, Separator: delimText(d.Delim)})
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
				sp.Quota = append(sp.Quota, Quota{Root: q.Root, Resource: string(res), Usage: d.Usage, Limit: d.Limit})
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
			sp.Folders = append(sp.Folders, Folder{Name: raw, Skip: string(folder.SkipUnmappable),
				Error: "the name is not valid modified UTF-7: the folder cannot be opened"})
			continue
		}
		sp.listed = append(sp.listed, folder.Listed{Name: l.Mailbox, Delim: l.Delim, Attrs: l.Attrs, Subscribed: true})
		if hasMailboxAttr(l.Attrs, imap.MailboxAttrNoSelect) || hasMailboxAttr(l.Attrs, imap.MailboxAttrNonExistent) {
			continue
		}
		sp.FolderCount++
		fs := Folder{Name: l.Mailbox}
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
func statusSize(c *imapconn.Conn, fs *Folder) error {
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
func fetchSizes(c *imapconn.Conn, fs *Folder) error {
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

// countTooLarge counts, in each kept source folder with messages, those
// larger than limit: EXAMINE, then SEARCH LARGER (RFC 3501 section
// 6.4.4), which every server answers without sending a message.
func countTooLarge(c *imapconn.Conn, folders []Folder, limit int64) error {
	for i := range folders {
		f := &folders[i]
		if f.Skip != "" || f.Error != "" || f.Messages == 0 {
			continue
		}
		if _, err := c.Select(f.Name, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
			return fmt.Errorf("examine %q: %w", f.Name, err)
		}
		data, err := c.Search(&imap.SearchCriteria{Larger: limit}, nil).Wait()
		if err != nil {
			return fmt.Errorf("search %q for messages over %d bytes: %w", f.Name, limit, err)
		}
		f.TooLarge = len(data.AllSeqNums())
	}
	return nil
}

// sampleReadRate reads whole messages (BODY.PEEK[]), newest first, from the
// kept source folder with the most bytes, for at most d or sampleMaxBytes,
// and returns the rate. One FETCH at a time, each read to its end, as
// go-imap needs.
func sampleReadRate(c *imapconn.Conn, folders []Folder, d time.Duration) (*ReadRate, error) {
	var pick *Folder
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
	rate := &ReadRate{Folder: pick.Name}
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
func drainBodies(cmd *imapclient.FetchCommand, rate *ReadRate) error {
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
func findConnectionLimit(ctx context.Context, cfg imapconn.Config, bound int) *ConnectionLimit {
	lim := &ConnectionLimit{Bound: bound, Accepted: 1}
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

// EstimateCopy sizes the copy: the kept source folders, at the measured
// rate over conns connections, within the profiles' daily budgets, against
// the destination's quota (dst may be nil).
func EstimateCopy(src, dst *Side, conns int, srcProf, dstProf provider.Profile) *Estimate {
	e := &Estimate{Connections: conns, DailyPasses: 1}
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
		if free, root, ok := dst.StorageFree(); ok && e.Bytes > free {
			e.Warnings = append(e.Warnings, fmt.Sprintf("the destination's quota %q leaves %s free, but the folders to copy hold %s",
				root, size.Format(max(free, 0)), size.Format(e.Bytes)))
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
		parts = append(parts, fmt.Sprintf("%s reads %s a day", src.Name, size.Format(src.DailyDownload)))
	}
	if dst.DailyUpload > 0 {
		parts = append(parts, fmt.Sprintf("%s takes %s a day", dst.Name, size.Format(dst.DailyUpload)))
	}
	return strings.Join(parts, ", ")
}

// limitWarnings advises on a server that accepts fewer connections than
// the copy would open, leaving one for the user's own mail program.
func limitWarnings(rep *Report, conns int) []string {
	var out []string
	for _, side := range []struct {
		name string
		sp   *Side
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
