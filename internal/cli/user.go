package cli

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/imapmigrate/imapmigrate/internal/service"
	"github.com/imapmigrate/imapmigrate/internal/size"
)

const userHelp = `Look at one migration user (one mailbox of a batch).

These commands talk to a running server (imapmigrate serve); see --server
and --data.`

func newUserCmd(stdout, stderr io.Writer) *cobra.Command {
	rf := &remoteFlags{}
	cmd := &cobra.Command{
		Use:   "user",
		Short: "Look at one mailbox of a batch",
		Long:  userHelp,
		Args:  cobra.NoArgs,
		RunE:  showHelp,
	}
	rf.register(cmd)
	cmd.AddCommand(newUserStatusCmd(rf, stdout, stderr))
	return cmd
}

func newUserStatusCmd(rf *remoteFlags, stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "status EMAIL",
		Short: "Show a user's migration: figures, folders, skipped and failed messages",
		Long: "Show a user's migration: status, figures, skipped messages by reason, a\n" +
			"table of folders from the last pass (source and destination counts), and\n" +
			"every skipped and failed message with its folder, UID and reason.",
		Args: cobra.ExactArgs(1),
	}
	cmd.RunE = rf.run(stdout, stderr, func(ctx context.Context, rc *remote, args []string) error {
		u, err := rc.User(ctx, args[0])
		if err != nil {
			return err
		}
		if rc.json {
			return rc.printJSON(u)
		}
		printUser(stdout, u)
		return nil
	})
	return cmd
}

func printUser(w io.Writer, u *service.User) {
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	line := func(label, format string, args ...any) { fmt.Fprintf(tw, label+":\t"+format+"\n", args...) }
	line("User", "%s (batch %s)", clean(u.EmailAddress), clean(u.Batch))
	line("Status", "%s", clean(u.Status))
	line("Source login", "%s", orDash(u.SourceUser))
	line("Destination user", "%s", orDash(u.DestUser))
	if u.UserRoot != "" {
		line("User root", "%s", clean(u.UserRoot))
	}
	line("Items", "%d synced, %d skipped, %d failed", u.ItemsSynced, u.ItemsSkipped, u.ItemsFailed)
	line("Size", "%s", size.Format(u.Bytes))
	if u.ItemsToCopy > 0 {
		line("This pass", "%d of %d messages copied", u.ItemsCopied, u.ItemsToCopy)
	}
	if u.LastSync != nil {
		line("Last sync", "%s (took %s)", formatTime(u.LastSync), time.Duration(u.Duration*float64(time.Second)).Round(time.Second))
	} else {
		line("Last sync", "-")
	}
	line("Next sync", "%s", formatTime(u.NextSync))
	if u.ThrottledUntil != nil {
		line("Throttled until", "%s", formatTime(u.ThrottledUntil))
	}
	line("Last error", "%s", orDash(u.LastError))
	for _, reason := range slices.Sorted(maps.Keys(u.SkippedBy)) {
		line("Skipped, "+clean(reason), "%d", u.SkippedBy[reason])
	}
	tw.Flush()

	if len(u.Folders) > 0 {
		fmt.Fprintln(w, "\nFolders (last pass):")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "SOURCE FOLDER\tDESTINATION\tSTATUS\tSOURCE\tDEST\tCOPIED\tSKIPPED\tFAILED\tSIZE\tERROR")
		for _, f := range u.Folders {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%s\t%d\t%s\t%s\n", clean(f.Source), orDash(f.Destination), clean(f.Status),
				f.SourceCount, f.DestCount, f.Copied, clean(skippedText(f.Skipped)), f.Failed, size.Format(f.Bytes), orDash(f.Error))
		}
		tw.Flush()
	}
	printUserVerification(w, u)
	for _, list := range []struct {
		title string
		items []service.Item
	}{{"Skipped messages", u.SkippedItems}, {"Failed messages", u.FailedItems}} {
		if len(list.items) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s:\n", list.title)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "FOLDER\tUID\tDATE\tSIZE\tREASON\tSUBJECT\tDETAIL")
		for _, it := range list.items {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\n", clean(it.Folder), it.UID, formatTime(&it.Date), size.Format(it.Size),
				orDash(it.Reason), truncate(orDash(it.Subject), 50), orDash(it.Detail))
		}
		tw.Flush()
	}
}
