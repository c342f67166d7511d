package cli

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tendhq/tend/cmd/internal/client"
	"github.com/tendhq/tend/cmd/internal/termsafe"
	"github.com/tendhq/tend/events"
)

// NewCommandCmd is `tend start`, `tend stop` or `tend restart` (verb).
func NewCommandCmd(g *Globals, verb string) *cobra.Command {
	var all, noWait, noDeps bool
	var timeout time.Duration
	target := map[string]string{"start": "Running", "stop": "Stopped (or Killed)", "restart": "Running again"}[verb]
	cmd := &cobra.Command{
		Use:   verb + " NAME... | --all",
		Short: strings.ToUpper(verb[:1]) + verb[1:] + " workers and wait until they are " + target,
		Example: fmt.Sprintf(`  tend %s web
  tend %s --all --timeout 1m`, verb, verb),
		RunE: func(cmd *cobra.Command, names []string) error {
			if err := g.CheckOutput(); err != nil {
				return err
			}
			if all == (len(names) > 0) {
				return UsageErr("name workers or pass --all (not both)")
			}
			wait, err := TimeoutArg(cmd, timeout)
			if err != nil {
				return err
			}
			c, err := g.Client()
			if err != nil {
				return err
			}
			defer c.Close()
			// One request for every worker named: the daemon judges it as
			// one command, makes it durable in one commit and answers once.
			reply, err := c.Commands(cmd.Context(), client.CommandRequest{Verb: verb, Workers: names, All: all,
				Wait: !noWait, Timeout: wait, NoDeps: noDeps})
			if err != nil {
				return err
			}
			return PrintResults(cmd, g, verb, reply.Results)
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "every configured worker")
	cmd.Flags().BoolVar(&noWait, "no-wait", false, "return once the command is recorded")
	if verb != "start" {
		cmd.Flags().BoolVar(&noDeps, "no-deps", false, "leave the workers that depend on these alone (by default they are stopped first, or restarted too)")
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "bound on the whole wait for the target state (default: wait while workers keep reaching it; give up after 30s in which none does)")
	return cmd
}

// PrintResults prints one line per worker of a command's answer and
// returns the error whose exit code says how it went.
func PrintResults(cmd *cobra.Command, g *Globals, verb string, results []client.CommandResult) error {
	names := make([]string, len(results))
	errs := make([]error, len(results))
	for i, r := range results {
		names[i] = r.Worker
		if r.Error != nil {
			errs[i] = &client.Error{ErrorBody: *r.Error}
		}
	}
	out := cmd.OutOrStdout()
	if g.JSON() {
		_ = PrintJSON(out, results)
	}
	var failed, missing int
	for i, n := range names {
		r := results[i]
		switch {
		case errs[i] != nil:
			if client.IsNoWorker(errs[i]) {
				missing++
			} else {
				failed++
			}
			fmt.Fprintf(os.Stderr, "%s: %s\n", termsafe.Line(n), termsafe.Line(errs[i].Error()))
		case !r.Reached:
			failed++
			fmt.Fprintf(os.Stderr, "%s: %s\n", termsafe.Line(n), termsafe.Line(r.Reason))
		case g.JSON():
		case r.Did == "signal" && r.Event != nil:
			what := "SIG" + r.Event.Signal
			if verb == "reload" {
				what += " (its reload_signal)"
			}
			sent := "decided"
			if r.Outcome != nil {
				sent = "sent"
			}
			fmt.Fprintf(out, "%s: %s %s to incarnation %d (pid %d)\n", termsafe.Line(n), what, sent, r.Event.Incarnation, r.Event.PID)
		default:
			fmt.Fprintf(out, "%s: %s (pid %d, incarnation %d)\n", termsafe.Line(n), termsafe.Line(r.Status.State), r.Status.PID, r.Status.Incarnation)
		}
	}
	switch {
	case missing > 0 && failed == 0:
		return &ExitError{Code: ExitNoWorker, Err: fmt.Errorf("%d of %d workers do not exist", missing, len(names))}
	case missing+failed > 0:
		return &ExitError{Code: ExitFailure, Err: fmt.Errorf("%s failed for %d of %d workers", verb, missing+failed, len(names))}
	}
	return nil
}

// NewSignalCmd is `tend signal`.
func NewSignalCmd(g *Globals) *cobra.Command {
	var all, noWait bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "signal NAME... SIGNAL | --all SIGNAL",
		Short: "Send a signal to workers' running processes, and record who sent it",
		Long: `Send a signal (a name such as HUP or SIGHUP, RTMIN+n, or a number) to the
process group of each worker's running incarnation, and to any process of
that incarnation that left its group, as the stop signal is sent. The
request and its outcome are events with you as their actor, so history and
why show them. The signal is decided for the incarnation that runs when
the command is recorded, and never reaches a later one: if that
incarnation ends first, nothing is sent and the outcome says so. A worker
with no running process is refused (not running). Every signal may be sent,
KILL and STOP included; what follows (an exit the restart policy handles, a
frozen worker) is recorded like anything else.`,
		Example: `  tend signal web HUP
  tend signal web worker-1 SIGUSR1
  tend signal --all USR2`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := g.CheckOutput(); err != nil {
				return err
			}
			if len(args) == 0 {
				return UsageErr("name the signal")
			}
			names, sig := args[:len(args)-1], args[len(args)-1]
			if all == (len(names) > 0) {
				return UsageErr("name workers or pass --all (not both), then the signal")
			}
			if _, err := events.ParseSignal(sig); err != nil {
				return UsageErr("%v", err)
			}
			wait, err := TimeoutArg(cmd, timeout)
			if err != nil {
				return err
			}
			c, err := g.Client()
			if err != nil {
				return err
			}
			defer c.Close()
			reply, err := c.Commands(cmd.Context(), client.CommandRequest{Verb: "signal", Signal: sig, Workers: names, All: all,
				Wait: !noWait, Timeout: wait})
			if err != nil {
				return err
			}
			results := reply.Results
			if all {
				// --all is every worker that runs: those that do not are
				// left out, as supervisorctl's "signal all" does.
				results = results[:0]
				for _, r := range reply.Results {
					if r.Error == nil || r.Error.Code != "not_running" {
						results = append(results, r)
					}
				}
			}
			return PrintResults(cmd, g, "signal", results)
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "every configured worker that runs")
	cmd.Flags().BoolVar(&noWait, "no-wait", false, "return once the signal is recorded, before it is sent")
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "bound on the whole wait for the outcomes (default: wait while outcomes keep arriving; give up after 30s in which none does)")
	return cmd
}

// TimeoutArg is the --timeout a command asks the daemon for: none unless
// given, so the daemon waits as long as the workers make progress. One
// that is not above zero is a usage error.
func TimeoutArg(cmd *cobra.Command, d time.Duration) (string, error) {
	if !cmd.Flags().Changed("timeout") {
		return "", nil
	}
	if d <= 0 {
		return "", UsageErr("--timeout must be above zero, not %v (leave it out to wait while the workers make progress)", d)
	}
	return d.String(), nil
}
