// Command tend is a process supervisor whose every lifecycle change is an
// event in an append-only log: `tend daemon` runs the workers, the other
// subcommands ask it (or a copy of its log) what is happening and why.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/tendhq/tend/cmd/internal/client"
	"github.com/tendhq/tend/cmd/internal/config"
	"github.com/tendhq/tend/cmd/internal/daemon"
	"github.com/tendhq/tend/store"
	"github.com/tendhq/tend/supervisor/proc/launch"
	"github.com/tendhq/tend/supervisor/relay"
)

// version is set by the build (-ldflags "-X main.version=...").
var version = "dev"

// Exit codes: scripts branch on them.
const (
	exitOK       = 0
	exitFailure  = 1
	exitUsage    = 2
	exitNoWorker = 3
)

// exitError carries the exit code a failure should end the process with.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageErr(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

// globals are the flags every subcommand shares.
type globals struct {
	config string
	socket string
	output string
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
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	g := &globals{}
	defer func() {
		for _, f := range g.cleanups {
			f()
		}
	}()
	root := newRoot(g)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(os.Stderr, "tend:", err)
	var ee *exitError
	var de *daemon.ExitError
	switch {
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &de):
		return de.Code
	case client.IsNoWorker(err), errors.Is(err, errNoWorker):
		return exitNoWorker
	case isUsage(err):
		return exitUsage
	}
	return exitFailure
}

var errNoWorker = errors.New("no such worker")

// isUsage recognises cobra's own argument and flag errors, which it
// returns as plain errors.
func isUsage(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "accepts ", "requires at least", "invalid argument", "flag needs an argument", "required flag"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

func newRoot(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:   "tend",
		Short: "A process supervisor whose log explains every change",
		Long: `tend starts, watches and restarts worker processes. Every lifecycle change is
an event, made durable in an append-only log before anything acts on it, so
the log can be replayed and queried: what was every worker doing at 03:14,
and why.`,
		Example: `  tend daemon -c /etc/tend/tend.toml     # run the supervisor
  tend status                              # what is running
  tend why web                             # why web is in its state
  tend history web --since 1h              # what happened to web`,
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &exitError{code: exitUsage, err: err} })
	pf := root.PersistentFlags()
	pf.StringVarP(&g.config, "config", "c", "", "config file (default: $TEND_CONFIG, ./tend.toml, /etc/tend/tend.toml)")
	pf.StringVar(&g.socket, "socket", "", "control socket (default: from the config)")
	pf.StringVarP(&g.output, "output", "o", "table", "output format: table or json")
	root.AddCommand(
		newDaemonCmd(g), newCheckCmd(g), newStatusCmd(g),
		newCommandCmd(g, "start"), newCommandCmd(g, "stop"), newCommandCmd(g, "restart"),
		newSignalCmd(g), newReloadCmd(g), newHistoryCmd(g), newWhyCmd(g), newEventsCmd(g), newLogsCmd(g),
		newReplayCmd(g), newVerifyCmd(g), newRecoverCmd(g), newReportCmd(g), newImportCmd(g), newFleetCmd(g),
		newGraphCmd(g), newAnalyzeCmd(g), newTopCmd(g), newScaleCmd(g),
	)
	return root
}

// configPath finds the config file the flags point to.
func (g *globals) configPath() (string, error) { return config.Find(g.config) }

// client connects to the daemon the flags point to.
func (g *globals) client() (*client.Client, error) {
	if g.socket != "" {
		return client.New(g.socket), nil
	}
	path, err := g.configPath()
	if err != nil {
		return nil, fmt.Errorf("finding the daemon's socket: %w (or pass --socket)", err)
	}
	d, err := config.Locate(path)
	if err != nil {
		return nil, fmt.Errorf("finding the daemon's socket: %w (or pass --socket)", err)
	}
	return client.New(d.Socket), nil
}

// openDB opens a log read-only for an offline command: the --db file, or
// the config's state directory when no daemon answers.
func (g *globals) openDB() (*store.Log, error) {
	if g.fromStream() {
		if g.db != "" {
			return nil, &exitError{code: exitUsage, err: errNATSWithDB}
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
		cfgPath, err := g.configPath()
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
		return nil, &exitError{code: exitFailure, err: err}
	}
	return l, nil
}

// copyFromDaemon asks a running daemon for a copy of its log, into a
// temporary file (0600) that is removed when the command ends. nil, nil:
// no daemon answers.
func (g *globals) copyFromDaemon() (*store.Log, error) {
	c, err := g.client()
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
		return nil, &exitError{code: exitFailure, err: err}
	}
	g.cleanups = append(g.cleanups, func() { os.Remove(f.Name()) })
	err = c.CopyLog(ctx, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, &exitError{code: exitFailure, err: fmt.Errorf("copy of the daemon's log: %w", err)}
	}
	l, err := store.Open(f.Name(), store.Options{ReadOnly: true})
	if err != nil {
		return nil, &exitError{code: exitFailure, err: err}
	}
	return l, nil
}

// logFailure is a failure reading the log l offline: exit 1, whatever its
// words say (never the usage code), and for a damaged log the first bad seq
// and what to run.
func logFailure(l *store.Log, err error) error {
	var ee *exitError
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
	return &exitError{code: exitFailure, err: err}
}

// offline reports whether a command should read the log file itself.
func (g *globals) offline(ctx context.Context) bool {
	if g.db != "" || g.fromStream() {
		return true
	}
	c, err := g.client()
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

func (g *globals) json() bool { return g.output == "json" }

func (g *globals) checkOutput() error {
	if g.output != "table" && g.output != "json" {
		return usageErr("--output must be table or json, not %q", g.output)
	}
	return nil
}
