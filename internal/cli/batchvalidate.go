package cli

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/imapmigrate/imapmigrate/internal/service"
	"github.com/imapmigrate/imapmigrate/internal/size"
)

const batchValidateHelp = `Check a batch's users before migrating them, and copy nothing: for each
user (or a sample of --sample N, spread over the CSV), log in at both
endpoints as a sync would, read-only, and look at what the sync would
meet: the folder mapping, the messages and bytes to copy, the messages over
the size limit, and the destination's quota.

Each user is ok, has warnings (the destination's quota smaller than what
is to be copied, messages over the destination's size limit, folders
renamed because the destination keeps their names, folders that cannot be
copied) or errors (a login refused: a wrong password, or a destination
mailbox that does not exist yet; a server out of reach). The results are
stored: --show prints the last ones without logging in again, and the
console shows them on the batch's page.

Not while the batch's syncs run: validate before starting it, once it is
synced, or stopped.

Exit status: 0 no user has errors; 5 some have; and the usual 1, 2, 3, 4.`

func newBatchValidateCmd(rf *remoteFlags, stdout, stderr io.Writer) *cobra.Command {
	var (
		sample int
		show   bool
	)
	cmd := &cobra.Command{
		Use:     "validate NAME",
		Short:   "Check a batch's logins, quotas, folders and sizes without copying",
		Long:    batchValidateHelp,
		Example: "  imapmigrate batch validate wave1 --sample 20",
		Args:    cobra.ExactArgs(1),
	}
	cmd.Flags().IntVar(&sample, "sample", 0, "validate at most N users, spread over the batch (default all)")
	cmd.Flags().BoolVar(&show, "show", false, "print the last validation instead of running one")
	cmd.RunE = rf.run(stdout, stderr, func(ctx context.Context, rc *remote, args []string) error {
		if sample < 0 || (show && sample > 0) {
			return exitf(ExitUsage, "--sample takes a number of users, 0 or more, and does not go with --show")
		}
		var v *service.BatchValidation
		var err error
		if show {
			v, err = rc.Validation(ctx, args[0])
		} else {
			v, err = rc.ValidateBatch(ctx, args[0], service.ValidateOptions{Sample: sample})
		}
		if err != nil {
			return err
		}
		if rc.json {
			err = rc.printJSON(v)
		} else {
			err = printValidation(stdout, v)
		}
		if err == nil && v.Errors > 0 {
			err = exitf(ExitPartial, "%d of the %d users validated cannot migrate as they are: see their errors", v.Errors, v.Validated)
		}
		return err
	})
	return cmd
}

// printValidation prints a table of the users, then each user's errors
// and warnings.
func printValidation(w io.Writer, v *service.BatchValidation) error {
	fmt.Fprintf(w, "Batch %s: %d users validated: %d ok, %d with warnings, %d with errors\n",
		clean(v.Batch), v.Validated, v.OK, v.Warnings, v.Errors)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "USER\tRESULT\tFOLDERS\tMESSAGES\tSIZE\tTOO LARGE\tQUOTA FREE\tVALIDATED")
	for _, u := range v.Users {
		x := u.Validation
		if x == nil {
			fmt.Fprintf(tw, "%s\tnot validated\t-\t-\t-\t-\t-\t-\n", clean(u.EmailAddress))
			continue
		}
		quota := "-"
		if x.QuotaFree != nil {
			quota = size.Format(*x.QuotaFree)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%d\t%s\t%s\n", clean(u.EmailAddress), x.Result, x.Folders, x.Messages,
			size.Format(x.Bytes), x.TooLarge, quota, x.At.Format("2006-01-02 15:04"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, u := range v.Users {
		if x := u.Validation; x != nil {
			for _, e := range x.Errors {
				fmt.Fprintf(w, "%s: error: %s\n", clean(u.EmailAddress), clean(e))
			}
			for _, warn := range x.Warnings {
				fmt.Fprintf(w, "%s: warning: %s\n", clean(u.EmailAddress), clean(warn))
			}
		}
	}
	return nil
}
