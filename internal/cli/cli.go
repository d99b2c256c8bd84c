// Package cli is imapmigrate's command line: a table of subcommands, each in
// its own file with its help text. Output goes to the writers handed to
// Main, so commands are testable without a process.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// Exit codes. They are part of the command line contract (scripts and
// batch tools test them) and documented in the README.
const (
	ExitOK       = 0 // everything that should move has moved (skipped items are reported, not failures)
	ExitInternal = 1 // an unexpected failure (state database, a bug)
	ExitUsage    = 2 // bad usage or configuration
	ExitConnect  = 3 // cannot connect: network or TLS failure
	ExitAuth     = 4 // authentication failed
	ExitPartial  = 5 // the run finished but some items or folders failed
	ExitCanceled = 130
)

// exitError carries an exit code out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func exitf(code int, format string, args ...any) error {
	return &exitError{code: code, err: fmt.Errorf(format, args...)}
}

// Main runs the command line and returns the process exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := &cobra.Command{
		Use:   "imapmigrate",
		Short: "Move mailboxes from one IMAP server to another",
		Long: `imapmigrate moves mail from any IMAP server to any IMAP server, the way
Exchange Online's IMAP migration does it: folders mapped, flags and dates kept,
newest mail first, the source never changed, and re-runs copying only what is new.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(newSyncCmd(stdout, stderr), newServeCmd(stdout, stderr), newWorkerCmd(stdout, stderr),
		newEndpointCmd(stdout, stderr), newBatchCmd(stdout, stderr), newUserCmd(stdout, stderr), newAdminCmd(stdout, stderr),
		newDNSCmd(stdout, stderr),
		newVerifyCmd(stdout, stderr),
		newProbeCmd(stdout, stderr),
		newWelcomeCmd(stdout),
		newVersionCmd(stdout))

	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil && ee.code != ExitPartial {
			fmt.Fprintf(stderr, "imapmigrate: %v\n", ee.err)
		}
		return ee.code
	}
	if errors.Is(err, context.Canceled) {
		fmt.Fprintln(stderr, "imapmigrate: interrupted")
		return ExitCanceled
	}
	// Anything cobra itself rejects (unknown flag, missing argument) is a
	// usage error.
	fmt.Fprintf(stderr, "imapmigrate: %v\n", err)
	return ExitUsage
}
