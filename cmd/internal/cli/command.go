package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/tendhq/tend/cmd/internal/client"
	"github.com/tendhq/tend/cmd/internal/termsafe"
	"github.com/tendhq/tend/events"
)

// command is `tend start`, `tend stop` or `tend restart` (verb).
func command(ctx context.Context, g *Globals, out io.Writer, verb string, inv *Invocation) error {
	if err := g.CheckOutput(); err != nil {
		return err
	}
	names, all := inv.Args, inv.Bool("all")
	if all == (len(names) > 0) {
		return UsageErr("name workers or pass --all (not both)")
	}
	results, err := ask(ctx, g, inv, client.CommandRequest{Verb: verb, Workers: names, All: all, NoDeps: inv.Bool("no-deps")})
	if err != nil {
		return err
	}
	return PrintResults(out, g, verb, results)
}

// ask sends req, with the wait the command line asks for (--no-wait,
// --timeout), as one request for every worker named: the daemon judges
// it as one command, makes it durable in one commit and answers once.
func ask(ctx context.Context, g *Globals, inv *Invocation, req client.CommandRequest) ([]client.CommandResult, error) {
	wait, err := TimeoutArg(inv.Duration("timeout"))
	if err != nil {
		return nil, err
	}
	c, err := g.Client()
	if err != nil {
		return nil, err
	}
	defer c.Close()
	req.Wait, req.Timeout = !inv.Bool("no-wait"), wait
	reply, err := c.Commands(ctx, req)
	if err != nil {
		return nil, err
	}
	return reply.Results, nil
}

// PrintResults prints one line per worker of a command's answer and
// returns the error whose exit code says how it went.
func PrintResults(out io.Writer, g *Globals, verb string, results []client.CommandResult) error {
	names := make([]string, len(results))
	errs := make([]error, len(results))
	for i, r := range results {
		names[i] = r.Worker
		if r.Error != nil {
			errs[i] = &client.Error{ErrorBody: *r.Error}
		}
	}
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

// signal is `tend signal`: the workers named, or --all, then the signal.
func signal(ctx context.Context, g *Globals, out io.Writer, inv *Invocation) error {
	if err := g.CheckOutput(); err != nil {
		return err
	}
	args, all := inv.Args, inv.Bool("all")
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
	results, err := ask(ctx, g, inv, client.CommandRequest{Verb: "signal", Signal: sig, Workers: names, All: all})
	if err != nil {
		return err
	}
	if all {
		// --all is every worker that runs: those that do not are left
		// out, as supervisorctl's "signal all" does.
		results = slices.DeleteFunc(results, func(r client.CommandResult) bool {
			return r.Error != nil && r.Error.Code == "not_running"
		})
	}
	return PrintResults(out, g, "signal", results)
}

// TimeoutArg is the --timeout a command asks the daemon for: none unless
// given, so the daemon waits as long as the workers make progress. One
// that is not above zero is a usage error.
func TimeoutArg(d time.Duration, given bool) (string, error) {
	if !given {
		return "", nil
	}
	if d <= 0 {
		return "", UsageErr("--timeout must be above zero, not %v (leave it out to wait while the workers make progress)", d)
	}
	return d.String(), nil
}

// Run runs an everyday command, its output to out. A command that waits
// (all but a quick one) ends its wait when ctx is cancelled, and says so.
func Run(ctx context.Context, g *Globals, inv *Invocation, out io.Writer) error {
	switch inv.Cmd.Name {
	case "status":
		return status(ctx, g, out, inv.Bool("daemon"), inv.Args)
	case "signal":
		return signal(ctx, g, out, inv)
	case "start", "stop", "restart":
		return command(ctx, g, out, inv.Cmd.Name, inv)
	}
	return fmt.Errorf("cli: no everyday command %q", inv.Cmd.Name)
}
