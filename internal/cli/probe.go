package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/spf13/cobra"

	"github.com/imapmigrate/imapmigrate/internal/probe"
	"github.com/imapmigrate/imapmigrate/internal/size"
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

// probeOptions are the parsed flags of probe, beside the servers.
type probeOptions struct {
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
		rep, err := probe.Run(cmd.Context(), probe.Options{
			Source: opts.Source, Dest: opts.Dest, SourceProfile: mf.srcProfile, DestProfile: mf.dstProfile,
			Folders: opts.Folders, ExactSizes: po.exact, SampleTime: po.sampleTime, Connections: po.connections,
			FindConnectionLimit: po.findLimit, MaxMessageSize: opts.MaxMessageSize, Logger: opts.Logger,
		})
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

// printProbe renders the report for a person.
func printProbe(w io.Writer, rep *probe.Report) {
	for _, side := range []struct {
		title string
		sp    *probe.Side
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
		fmt.Fprintf(w, "Estimate: %d folders, %d messages, %s to copy (before the message size and item limits)", e.Folders, e.Messages, size.Format(e.Bytes))
		if e.Seconds > 0 {
			took := "under a second"
			if d := time.Duration(e.Seconds * float64(time.Second)).Round(time.Second); d > 0 {
				took = "about " + d.String()
			}
			fmt.Fprintf(w, "; %s at %s/s per connection x %d connections (the destination's write rate is not measured)",
				took, size.Format(int64(e.BytesPerSecond)), e.Connections)
		}
		fmt.Fprintln(w, ".")
		for _, warn := range e.Warnings {
			fmt.Fprintf(w, "Warning: %s.\n", warn)
		}
	}
}

func printSide(w io.Writer, title string, sp *probe.Side) {
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
		fmt.Fprintf(w, "  Namespaces: none announced; separator %q\n", string(sp.Delim()))
	}
	for _, ns := range sp.Namespaces {
		fmt.Fprintf(w, "  Namespace %s: prefix %q, separator %q\n", ns.Kind, ns.Prefix, ns.Separator)
	}
	for _, q := range sp.Quota {
		if strings.EqualFold(q.Resource, string(imap.QuotaResourceStorage)) {
			fmt.Fprintf(w, "  Quota %q: STORAGE %s used of %s\n", q.Root, size.Format(q.Usage*1024), size.Format(q.Limit*1024))
		} else {
			fmt.Fprintf(w, "  Quota %q: %s %d used of %d\n", q.Root, q.Resource, q.Usage, q.Limit)
		}
	}
	if sp.QuotaError != "" {
		fmt.Fprintf(w, "  Quota: the server answered %s\n", sp.QuotaError)
	}
	fmt.Fprintf(w, "  %d folders, %d messages, %s (%s)\n", sp.FolderCount, sp.Messages, size.Format(sp.Bytes), sp.SizeMethod)
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
			size.Format(int64(r.BytesPerSecond)), r.Messages, size.Format(r.Bytes), r.Folder, r.Seconds)
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
