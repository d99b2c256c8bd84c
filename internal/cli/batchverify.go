package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/imapmigrate/imapmigrate/internal/dnscheck"
	"github.com/imapmigrate/imapmigrate/internal/mailsync"
	"github.com/imapmigrate/imapmigrate/internal/service"
)

const batchVerifyHelp = `Verify a batch's mailboxes: the service compares each destination mailbox
with its source, message by message, as imapmigrate verify does, with the
batch's folder rules and limits, and changes nothing on either side. Each
user's grade (Perfect, Good, Investigate, Poor) and counts are kept, and the
batch's grade is its worst user's.

Only users whose mailbox has been copied once are verified; --user verifies
one. A verification runs beside no pass of the same mailbox and counts
towards the endpoints' limits, so it may wait. Without --wait the command
returns at once; batch grades NAME shows the results later.

Exit status with --wait: 0 when the grade is Perfect or Good, 5 when it is
Investigate or Poor or a verification could not run.`

// verifyPoll is how often --wait asks the server.
const verifyPoll = 2 * time.Second

func newBatchVerifyCmd(rf *remoteFlags, stdout, stderr io.Writer) *cobra.Command {
	var (
		user string
		wait bool
	)
	cmd := &cobra.Command{
		Use:   "verify NAME",
		Short: "Verify a batch's mailboxes against their source, read-only",
		Long:  batchVerifyHelp,
		Args:  cobra.ExactArgs(1),
	}
	cmd.Flags().StringVar(&user, "user", "", "verify this user (EMAIL) only")
	cmd.Flags().BoolVar(&wait, "wait", false, "wait for the verifications to end, then print the grades")
	cmd.RunE = rf.run(stdout, stderr, func(ctx context.Context, rc *remote, args []string) error {
		g, err := rc.VerifyBatch(ctx, args[0], user)
		if err != nil {
			return err
		}
		if !wait {
			if rc.json {
				return rc.printJSON(g)
			}
			fmt.Fprintf(stdout, "Verification queued; %d running or waiting. See: imapmigrate batch grades %s\n\n", g.Verifying, args[0])
			printGrades(stdout, g, user)
			return nil
		}
		for g.Verifying > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(verifyPoll):
			}
			if g, err = rc.BatchGrades(ctx, args[0]); err != nil {
				return err
			}
		}
		if rc.json {
			if err := rc.printJSON(g); err != nil {
				return err
			}
		} else {
			printGrades(stdout, g, user)
		}
		return gradeStatus(g, user)
	})
	return cmd
}

func newBatchGradesCmd(rf *remoteFlags, stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "grades NAME",
		Short: "Show the consistency grade of a batch and of each user",
		Long: "Show the consistency grade of each user of the batch (from its last\n" +
			"verification, else from the figures of its syncs), with the counts of its\n" +
			"last verification, and the batch's grade: its worst user's.",
		Args: cobra.ExactArgs(1),
	}
	cmd.RunE = rf.run(stdout, stderr, func(ctx context.Context, rc *remote, args []string) error {
		g, err := rc.BatchGrades(ctx, args[0])
		if err != nil {
			return err
		}
		if rc.json {
			return rc.printJSON(g)
		}
		printGrades(stdout, g, "")
		return nil
	})
	return cmd
}

// printGrades prints one line per user (or only user), then the batch's
// grade.
func printGrades(w io.Writer, g *service.BatchGrades, user string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "EMAIL\tSTATUS\tGRADE\tFROM\tEXPECTED\tMATCHED\tMISSING\tEXTRA\tFLAGS\tDATES\tVERIFIED\tVERIFICATION")
	for _, u := range g.Users {
		if user != "" && !strings.EqualFold(u.EmailAddress, user) {
			continue
		}
		counts := "-\t-\t-\t-\t-\t-"
		verified, state := "-", "-"
		if v := u.Verification; v != nil {
			state = v.State
			if v.Error != "" {
				state += ": " + truncate(clean(v.Error), 80)
			}
			if t := v.Totals; t != nil {
				counts = fmt.Sprintf("%d\t%d\t%d\t%d\t%d\t%d", t.Expected, t.Matched, t.Missing, t.Extra, t.FlagsDiffer, t.DatesDiffer)
				verified = formatTime(v.VerifiedAt)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", clean(u.EmailAddress), clean(u.Status), u.Grade.Grade, u.Grade.From,
			counts, verified, state)
	}
	tw.Flush()
	if user == "" {
		fmt.Fprintf(w, "\nBatch grade: %s: %s\n", g.Grade, g.Reason)
	}
}

// gradeStatus is --wait's exit status: ExitPartial when the grade (the
// batch's, or user's) is below Good, or a verification could not run; the
// table says so, and Main prints no message for ExitPartial.
func gradeStatus(g *service.BatchGrades, user string) error {
	grade := g.Grade
	for _, u := range g.Users {
		if user != "" && !strings.EqualFold(u.EmailAddress, user) {
			continue
		}
		if user != "" {
			grade = u.Grade.Grade
		}
		if u.Verification != nil && u.Verification.State == service.VerifyFailed {
			return exitf(ExitPartial, "the verification of %s could not run", u.EmailAddress)
		}
	}
	if grade != mailsync.GradePerfect && grade != mailsync.GradeGood {
		return exitf(ExitPartial, "grade %s", grade)
	}
	return nil
}

const batchCompleteHelp = `Run a last incremental sync of every mailbox, then mark the batch
Completed: no more syncs after that. Switch the MX records to the
destination first, so that no mail arrives at the source afterwards.

Users that grade below Good (by their last verification, else by the
figures of their syncs) are listed as warnings. --require-grade perfect,
good or investigate refuses to complete (exit status 1, every user below
the grade listed) unless every user meets it; verify the batch first
(batch verify NAME --wait) for grades measured at the servers.

--after-mx-switch completes nothing now: the batch completes by itself
once the MX records of all its users' domains point at the destination
(--expect-mx, or the batch's expect MX hosts) and every synced user has had
an incremental sync that began after the service saw that. The service
checks DNS every few minutes (dns_check_interval); batch dns NAME shows
what it finds.`

func newBatchCompleteCmd(rf *remoteFlags, stdout, stderr io.Writer) *cobra.Command {
	var o service.CompleteOptions
	cmd := &cobra.Command{
		Use:   "complete NAME",
		Short: "Run the last sync and finish a batch",
		Long:  batchCompleteHelp,
		Args:  cobra.ExactArgs(1),
	}
	f := cmd.Flags()
	f.StringVar(&o.RequireGrade, "require-grade", "", "refuse unless every user grades at least this: perfect, good or investigate")
	f.BoolVar(&o.AfterMXSwitch, "after-mx-switch", false, "complete once the domains' MX records point at the destination and a sync ran since")
	f.StringArrayVar(&o.ExpectMX, "expect-mx", nil, "with --after-mx-switch: the destination's MX host (repeatable; *.SUFFIX for any host under SUFFIX)")
	cmd.RunE = rf.run(stdout, stderr, func(ctx context.Context, rc *remote, args []string) error {
		if o.RequireGrade != "" {
			if _, err := service.ParseGrade(o.RequireGrade); err != nil {
				return exitf(ExitUsage, "--require-grade %q: want perfect, good or investigate", o.RequireGrade)
			}
		}
		if len(o.ExpectMX) > 0 && !o.AfterMXSwitch {
			return exitf(ExitUsage, "--expect-mx goes with --after-mx-switch")
		}
		c, err := rc.CompleteBatchWith(ctx, args[0], o)
		var ge *service.GradeError
		if errors.As(err, &ge) {
			fmt.Fprintf(stderr, "%d %s below %s:\n", len(ge.Users), plural(len(ge.Users), "user grades", "users grade"),
				strings.ToLower(o.RequireGrade))
			for _, n := range ge.Users {
				fmt.Fprintln(stderr, "  "+clean(n.String()))
			}
			return exitf(ExitInternal, "batch %q not completed: fix those users (sync-now, then batch verify), or complete without --require-grade", args[0])
		}
		if err != nil {
			return err
		}
		if rc.json {
			return rc.printJSON(c)
		}
		for _, n := range c.Warnings {
			fmt.Fprintln(stderr, "warning: "+clean(n.String()))
		}
		if c.Cutover != nil && o.AfterMXSwitch {
			fmt.Fprintf(stdout, "batch %q: %s; completes after the MX switch to %s: %s\n", c.Name, c.State,
				clean(strings.Join(c.Cutover.ExpectMX, ", ")), clean(c.Cutover.Status))
			return nil
		}
		fmt.Fprintf(stdout, "batch %q: %s\n", c.Name, c.State)
		return nil
	})
	return cmd
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func newBatchDNSCmd(rf *remoteFlags, stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dns NAME",
		Short: "Check the MX records of a batch's domains",
		Long: "Check the DNS records of each domain of the batch's users (from their\n" +
			"addresses) against the batch's expected MX hosts, as imapmigrate dns check\n" +
			"does: where MX points, the state of the switch and what to do next. The\n" +
			"server asks its DNS server (dns_resolver). With a completion waiting for\n" +
			"the MX switch, its state too.",
		Args: cobra.ExactArgs(1),
	}
	cmd.RunE = rf.run(stdout, stderr, func(ctx context.Context, rc *remote, args []string) error {
		d, err := rc.BatchDNS(ctx, args[0])
		if err != nil {
			return err
		}
		if rc.json {
			return rc.printJSON(d)
		}
		printBatchDNS(stdout, d)
		return nil
	})
	return cmd
}

func printBatchDNS(w io.Writer, d *service.BatchDNS) {
	expect := "none (the batch names no destination MX host: nothing is compared)"
	if len(d.ExpectMX) > 0 {
		expect = strings.Join(d.ExpectMX, ", ")
	}
	fmt.Fprintf(w, "Batch %s: DNS server %s, destination MX %s\n\n", clean(d.Batch), clean(d.Resolver), clean(expect))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DOMAIN\tUSERS\tSTATE\tMX")
	for _, dom := range d.Domains {
		mx := "-"
		if r := dom.Result; r != nil && len(r.MX) > 0 {
			var hosts []string
			for _, m := range r.MX {
				h := fmt.Sprintf("%d %s (TTL %s)", m.Preference, m.Host, dnscheck.FormatTTL(m.TTL))
				if m.Destination {
					h += " *"
				}
				hosts = append(hosts, h)
			}
			mx = strings.Join(hosts, ", ")
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", clean(dom.Domain), dom.Users, dom.State(), clean(mx))
	}
	tw.Flush()
	for _, dom := range d.Domains {
		fmt.Fprintf(w, "\n%s:\n", clean(dom.Domain))
		if dom.Result == nil {
			fmt.Fprintf(w, "  the check failed: %s\n", clean(dom.Error))
			continue
		}
		for _, a := range dom.Result.Advice {
			fmt.Fprintf(w, "  - %s\n", clean(a))
		}
	}
	if c := d.Cutover; c != nil {
		fmt.Fprintf(w, "\nCompletes after the MX switch to %s: %s", clean(strings.Join(c.ExpectMX, ", ")), clean(c.Status))
		if c.CheckedAt != nil {
			fmt.Fprintf(w, " (checked %s)", formatTime(c.CheckedAt))
		}
		fmt.Fprintln(w)
	}
}

// printUserVerification adds a user's last verification to user status:
// its state, then the verification itself as imapmigrate verify prints it.
func printUserVerification(w io.Writer, u *service.User) {
	g := service.GradeUser(*u)
	fmt.Fprintf(w, "\nGrade: %s (%s): %s\n", g.Grade, gradeFrom(g), clean(g.Reason))
	v := u.Verification
	if v == nil {
		fmt.Fprintln(w, "Not verified yet (imapmigrate batch verify BATCH --user EMAIL).")
		return
	}
	switch v.State {
	case service.VerifyQueued, service.VerifyRunning:
		fmt.Fprintf(w, "A verification is %s (asked %s).\n", v.State, formatTime(&v.RequestedAt))
	case service.VerifyFailed:
		fmt.Fprintf(w, "The last verification asked for (%s) could not run: %s\n", formatTime(&v.RequestedAt), clean(v.Error))
	}
	if v.Details == nil {
		return
	}
	fmt.Fprintf(w, "\nLast verification, %s (took %s):\n", formatTime(v.VerifiedAt),
		time.Duration(v.Duration*float64(time.Second)).Round(time.Second))
	d := *v.Details
	if v.Totals != nil {
		// The lists were cut at service.MaxVerificationItems; the totals
		// count every difference.
		d.Totals = *v.Totals
	}
	printVerification(w, &d, false)
}

func gradeFrom(g service.UserGrade) string {
	if g.From == service.GradeFromVerification && g.At != nil {
		return "from verification at " + formatTime(g.At)
	}
	return "from sync statistics"
}
