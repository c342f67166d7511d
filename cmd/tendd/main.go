// Command tendd is tend whole: a process supervisor whose every lifecycle
// change is an event in an append-only log. `tend daemon` runs the workers,
// the other subcommands ask it (or a copy of its log) what is happening and
// why. Users type `tend`, the lean client (cmd/tend), which runs the
// everyday commands that only ask a running daemon and hands every other
// command line to this binary, unchanged, by exec: tendd must be installed
// beside it. The daemon also runs this binary (/proc/self/exe) as each
// worker's launcher stage and output relay.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/tendhq/tend/cmd/internal/cli"
	"github.com/tendhq/tend/cmd/internal/cli/tree"
	"github.com/tendhq/tend/cmd/internal/client"
	"github.com/tendhq/tend/cmd/internal/config"
	"github.com/tendhq/tend/cmd/internal/daemon"
	"github.com/tendhq/tend/cmd/internal/query"
	"github.com/tendhq/tend/store"
	"github.com/tendhq/tend/supervisor/proc/launch"
	"github.com/tendhq/tend/supervisor/relay"
)

// version is set by the build (-ldflags "-X main.version=...").
var version = "dev"

// globals are the flags every subcommand shares (cli.Globals), and those
// of the commands that read a log offline.
type globals struct {
	*cli.Globals
	// cleanups run when the command has ended (temporary copies).
	cleanups []func()
	db       string
	// nats: read a host's log from the stream (--nats URL --host H).
	nats natsFlags
}

func main() {
	// First: when the daemon started this binary as a worker's launcher,
	// it becomes the worker here and never returns.
	launch.Main()
	// When the daemon started it as a worker's output relay, likewise.
	relay.Main()
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	g := &globals{Globals: &cli.Globals{Locate: func(path string) (string, error) {
		d, err := config.Locate(path)
		return d.Socket, err
	}}}
	defer func() {
		for _, f := range g.cleanups {
			f()
		}
	}()
	err := tree.Execute(newRoot(g), args)
	return cli.Exit(err, func(err error) (int, bool) {
		var de *daemon.ExitError
		if errors.As(err, &de) {
			return de.Code, true
		}
		return 0, false
	})
}

// newRoot is the root command with every subcommand: those the lean
// client runs itself (package cli, made cobra commands by cli/tree) and
// those it hands to this binary.
func newRoot(g *globals) *cobra.Command {
	root := tree.NewRoot(g.Globals, version)
	root.AddCommand(tree.Commands(g.Globals)...)
	root.AddCommand(
		newDaemonCmd(g), newCheckCmd(g), newReloadCmd(g), newHistoryCmd(g), newWhyCmd(g), newEventsCmd(g), newLogsCmd(g),
		newReplayCmd(g), newVerifyCmd(g), newRecoverCmd(g), newReportCmd(g), newImportCmd(g), newFleetCmd(g),
		newGraphCmd(g), newAnalyzeCmd(g), newTopCmd(g), newScaleCmd(g),
	)
	return root
}

// openDB opens a log read-only for an offline command: the --db file, or
// the config's state directory when no daemon answers.
func (g *globals) openDB() (*store.Log, error) {
	if g.fromStream() {
		if g.db != "" {
			return nil, &cli.ExitError{Code: cli.ExitUsage, Err: errNATSWithDB}
		}
		return g.nats.pull(context.Background(), g)
	}
	path := g.db
	if path == "" {
		// A running daemon holds the file: read a consistent copy of it,
		// which the daemon gives over its socket.
		if l, err := g.copyFromDaemon(); l != nil || err != nil {
			return l, err
		}
		cfgPath, err := g.ConfigPath()
		if err != nil {
			return nil, err
		}
		d, err := config.Locate(cfgPath)
		if err != nil {
			return nil, err
		}
		path = d.StateDir + "/tend.db"
	}
	l, err := store.Open(path, store.Options{ReadOnly: true})
	if err != nil {
		if store.Damaged(err) {
			err = fmt.Errorf("%w\nThe log is damaged; `tend recover --db %s --out NEW` copies every whole, chain-valid event it still holds", err, path)
		}
		return nil, &cli.ExitError{Code: cli.ExitFailure, Err: err}
	}
	return l, nil
}

// copyFromDaemon asks a running daemon for a copy of its log, into a
// temporary file (0600) that is removed when the command ends. nil, nil:
// no daemon answers.
func (g *globals) copyFromDaemon() (*store.Log, error) {
	c, err := g.Client()
	if err != nil {
		return nil, nil
	}
	defer c.Close()
	ctx := context.Background()
	if err := c.Ping(ctx); err != nil {
		return nil, nil
	}
	f, err := os.CreateTemp("", "tend-log-*.db")
	if err != nil {
		return nil, &cli.ExitError{Code: cli.ExitFailure, Err: err}
	}
	g.cleanups = append(g.cleanups, func() { os.Remove(f.Name()) })
	err = c.CopyLog(ctx, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, &cli.ExitError{Code: cli.ExitFailure, Err: fmt.Errorf("copy of the daemon's log: %w", err)}
	}
	l, err := store.Open(f.Name(), store.Options{ReadOnly: true})
	if err != nil {
		return nil, &cli.ExitError{Code: cli.ExitFailure, Err: err}
	}
	return l, nil
}

// logFailure is a failure reading the log l offline: exit 1, whatever its
// words say (never the usage code), and for a damaged log the first bad seq
// and what to run.
func logFailure(l *store.Log, err error) error {
	var ee *cli.ExitError
	if err == nil || errors.As(err, &ee) {
		return err
	}
	if store.Damaged(err) {
		// The read that failed may have met a later bad record first
		// (newest-first reads do): Verify names the first.
		if rep, verr := l.Verify(nil); verr == nil && !rep.OK && rep.FirstBad != 0 {
			err = fmt.Errorf("%w\nThe log %s is damaged: its first bad seq is %d.\n"+
				"`tend recover --db %[2]s --out NEW` copies every whole, chain-valid event before it", err, l.Path(), rep.FirstBad)
		} else {
			err = fmt.Errorf("%w\nThe log %s is damaged: `tend verify --db %[2]s` names the first bad seq", err, l.Path())
		}
	}
	return &cli.ExitError{Code: cli.ExitFailure, Err: err}
}

// offline reports whether a command should read the log file itself.
func (g *globals) offline(ctx context.Context) bool {
	if g.db != "" || g.fromStream() {
		return true
	}
	c, err := g.Client()
	if err != nil {
		return false
	}
	defer c.Close()
	if err := c.Ping(ctx); errors.Is(err, client.ErrNoDaemon) {
		fmt.Fprintln(os.Stderr, "tend: no daemon answers; reading the log file directly")
		return true
	}
	return false
}

// fromStream reports whether the command reads a host's log from the
// stream (--nats, or --host with the config's [export.nats]).
func (g *globals) fromStream() bool { return g.nats.url != "" || g.nats.host != "" }

// timeFlag is the time an optional --NAME flag gives (query.ParseTime:
// RFC 3339, a date or a duration before now), the zero time when it is
// not given, and a usage error naming the flag when it is bad.
func timeFlag(name, value string, now time.Time) (time.Time, error) {
	if value == "" {
		return time.Time{}, nil
	}
	t, err := query.ParseTime(value, now)
	if err != nil {
		return time.Time{}, cli.UsageErr("--%s: %v", name, err)
	}
	return t, nil
}
