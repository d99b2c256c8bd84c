package cli

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/imapmigrate/imapmigrate/internal/api"
	"github.com/imapmigrate/imapmigrate/internal/mailsync"
)

const verifyHelp = `Compare a destination mailbox with its source, folder by folder, and grade
the migration. Nothing changes on either side: both servers are opened
read-only (EXAMINE, BODY.PEEK) and the same wire guard as sync's source
refuses anything else.

Give the flags you gave sync: folders are mapped and the policy
(--include-folder, --exclude-folder, --max-message-size, --max-items) is
applied exactly as sync does, and messages are matched by the content
fingerprint sync uses (size and header). Per folder only sizes, dates, flags
and headers are fetched; whole messages only to settle a doubt (same header
but another size, or identical copies that dates and flags do not tell
apart).

The report lists what is missing at the destination, what is extra there,
what differs in flags (flags the destination folder cannot store are not
compared) or in date (INTERNALDATE), and what the policy left out with the
reason. Then the consistency grade:

  Perfect      nothing missing, no flag or date difference, every folder there
  Good         missing at most 0.1% of the messages expected (at least 1),
               flag and date differences at most 1% (at least 1)
  Investigate  missing at most 5%
  Poor         more missing, or a folder could not be read

Exit status: 0 Perfect or Good; 5 Investigate or Poor; 2 bad usage or
configuration; 3 connection or TLS failure, or a login refused for now; 4
authentication failure; 1 any other failure; 130 interrupted.`

const verifyExample = `  imapmigrate verify \
    --source old.example.com:993 --source-user alice@example.com --source-password-file pw1 \
    --dest   new.example.com:993 --dest-user   alice@example.com --dest-password-file   pw2 \
    --report alice-verify.csv`

// verifyListed is how many items of each list the table shows without
// --all; the report file always holds them all.
const verifyListed = 20

func newVerifyCmd(stdout, stderr io.Writer) *cobra.Command {
	var (
		mf      mailboxFlags
		asJSON  bool
		report  string
		listAll bool
	)
	cmd := &cobra.Command{
		Use:     "verify",
		Short:   "Compare a migrated mailbox with its source and grade it",
		Long:    verifyHelp,
		Example: verifyExample,
		Args:    cobra.NoArgs,
	}
	mf.register(cmd)
	f := cmd.Flags()
	f.BoolVar(&asJSON, "json", false, "print the verification as JSON instead of tables")
	f.StringVar(&report, "report", "", "write the verification to this file: CSV for a .csv name, JSON for .json")
	f.BoolVar(&listAll, "all", false, fmt.Sprintf("list every difference (default: the first %d of each kind)", verifyListed))

	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		var format string
		if report != "" {
			switch format = strings.ToLower(filepath.Ext(report)); format {
			case ".csv", ".json":
			default:
				return exitf(ExitUsage, "--report %q: name a .csv or .json file", report)
			}
		}
		opts, err := mf.options(stderr)
		if err != nil {
			return exitf(ExitUsage, "%w", err)
		}
		v, err := mailsync.Verify(cmd.Context(), opts)
		if err != nil {
			return exitf(exitCode(err), "%w", err)
		}
		if report != "" {
			if err := writeVerification(report, format, v); err != nil {
				return exitf(ExitInternal, "write report: %w", err)
			}
		}
		if asJSON {
			if err := v.WriteJSON(stdout); err != nil {
				return exitf(ExitInternal, "%w", err)
			}
		} else {
			printVerification(stdout, v, listAll)
		}
		if v.Grade != mailsync.GradePerfect && v.Grade != mailsync.GradeGood {
			return &exitError{code: ExitPartial}
		}
		return nil
	}
	return cmd
}

// writeVerification writes v to path as CSV (format ".csv") or JSON.
func writeVerification(path, format string, v *mailsync.Verification) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if format == ".csv" {
		err = api.WriteCSV(f, append([][]string{mailsync.CSVColumns}, v.CSVRows()...))
	} else {
		err = v.WriteJSON(f)
	}
	if err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// printVerification renders a verification for a person: a table of
// folders, the grade with its reason, the totals, then the lists.
func printVerification(w io.Writer, v *mailsync.Verification, all bool) {
	fmt.Fprintf(w, "Verification %s -> %s\n\n", v.Source, v.Destination)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SOURCE FOLDER\tDESTINATION\tSOURCE\tDEST\tMATCHED\tMISSING\tEXTRA\tFLAGS\tDATES\tSKIPPED\tSTATUS")
	for _, f := range v.Folders {
		dest := f.Destination
		if dest == "" {
			dest = "-"
		}
		status := f.Status
		if f.Note != "" {
			status += " (" + f.Note + ")"
		}
		if f.Error != "" {
			status += ": " + f.Error
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\n", f.Source, dest, f.SourceCount, f.DestCount,
			f.Matched, f.Missing, f.Extra, f.FlagsDiffer, f.DatesDiffer, skippedText(f.Skipped), status)
	}
	tw.Flush()
	t := v.Totals
	fmt.Fprintf(w, "\nGrade: %s: %s\n", v.Grade, v.GradeReason)
	fmt.Fprintf(w, "%d messages expected at the destination, %d found; %d missing, %d extra, %d with other flags, %d with another date; skipped by policy: %s; %d whole messages fetched to settle doubts.\n",
		t.Expected, t.Matched, t.Missing, t.Extra, t.FlagsDiffer, t.DatesDiffer, skippedText(t.Skipped), v.BodiesFetched)

	list := func(title string, n int, line func(i int) string) {
		if n == 0 {
			return
		}
		fmt.Fprintf(w, "\n%s (%d):\n", title, n)
		shown := n
		if !all {
			shown = min(n, verifyListed)
		}
		for i := range shown {
			fmt.Fprintln(w, "  "+line(i))
		}
		if shown < n {
			fmt.Fprintf(w, "  ... and %d more (--all or --report lists them)\n", n-shown)
		}
	}
	item := func(d mailsync.Difference) string {
		s := fmt.Sprintf("folder %q uid %d, %d bytes, %s, subject %q", d.Folder, d.UID, d.Size, d.Date.UTC().Format(time.RFC3339), d.Subject)
		if d.Reason != "" {
			s += ": " + d.Reason
		}
		if d.Detail != "" {
			s += " (" + d.Detail + ")"
		}
		return s
	}
	list("Missing at the destination", len(v.Missing), func(i int) string { return item(v.Missing[i]) })
	list("Extra at the destination (uid at the destination)", len(v.Extra), func(i int) string { return item(v.Extra[i]) })
	list("Flags differ", len(v.FlagsDiffer), func(i int) string {
		d := v.FlagsDiffer[i]
		return fmt.Sprintf("%s: source [%s], destination uid %d [%s]", item(d.Difference), strings.Join(d.SourceFlags, " "), d.DestUID, strings.Join(d.DestFlags, " "))
	})
	list("Dates differ", len(v.DatesDiffer), func(i int) string {
		d := v.DatesDiffer[i]
		return fmt.Sprintf("%s: destination uid %d has %s", item(d.Difference), d.DestUID, d.DestDate.UTC().Format(time.RFC3339))
	})
	list("Skipped by policy", len(v.Skipped), func(i int) string { return item(v.Skipped[i]) })
	if n := t.Skipped[mailsync.ReasonOverMaxItems] + t.Skipped[mailsync.ReasonReceivedBefore]; n > 0 {
		fmt.Fprintf(w, "\n%d older messages are left at the source by --max-items or the received-after date; they are counted, not listed.\n", n)
	}
}
