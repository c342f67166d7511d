// Package cli is what the two tend binaries share: the global flags (-c,
// --socket, -o), how a command finds the daemon's socket, the exit codes
// and how a failure is printed, and the everyday commands that only ask a
// running daemon over its control socket (status, start, stop, restart,
// signal): their flags (Specs), their command-line grammar (Parse) and
// what they do (Run). The full binary (cmd/tendd) makes cobra commands of
// the same Specs (package cli/tree) beside its own; the lean client
// (cmd/tend) parses a command line of them itself and hands everything
// else, help and every error of the command line included, to the full
// binary.
//
// The lean client starts in milliseconds because it links little: this
// package may NOT import cobra (its init and the tree it builds on every
// run cost the client about a millisecond), the log (store, bbolt), the
// supervisor, the full config parser, metrics, NATS, the TUI or a logger,
// directly or not (cmd/internal/archtest holds the set). What a command
// needs of those stays in cmd/tendd.
package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/tendhq/tend/cmd/internal/client"
	"github.com/tendhq/tend/cmd/internal/config/locate"
	"github.com/tendhq/tend/cmd/internal/termsafe"
)

// Exit codes: scripts branch on them.
const (
	ExitOK       = 0
	ExitFailure  = 1
	ExitUsage    = 2
	ExitNoWorker = 3
	// ExitLogFailed: the daemon stopped because its event log failed a
	// commit (a write or fsync error, a full disk), leaving the workers
	// running. 74 is sysexits' EX_IOERR.
	ExitLogFailed = 74
	// ExitBrokenPipe: whoever read the output went away; 128+SIGPIPE,
	// as a shell reports a process that signal ended.
	ExitBrokenPipe = 141
)

// ExitError carries the exit code a failure should end the process with.
type ExitError struct {
	Code  int
	Err   error
	Quiet bool // nothing to print: the code says it all
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// UsageErr is a usage error (exit 2) with a formatted message.
func UsageErr(format string, args ...any) error {
	return &ExitError{Code: ExitUsage, Err: fmt.Errorf(format, args...)}
}

// Globals are the flags every subcommand shares, and how a command finds
// the daemon's socket.
type Globals struct {
	Config string
	Socket string
	Output string
	// Locate says where the daemon of the config file at path listens.
	// The full binary parses the whole file when the [daemon] table
	// alone cannot say (config.Locate); the lean client hands over to it
	// then.
	Locate func(path string) (socket string, err error)
}

// ConfigPath finds the config file the flags point to.
func (g *Globals) ConfigPath() (string, error) { return locate.Find(g.Config) }

// Client connects to the daemon the flags point to.
func (g *Globals) Client() (*client.Client, error) {
	if g.Socket != "" {
		return client.New(g.Socket), nil
	}
	path, err := g.ConfigPath()
	if err != nil {
		return nil, fmt.Errorf("finding the daemon's socket: %w (or pass --socket)", err)
	}
	socket, err := g.Locate(path)
	if err != nil {
		return nil, fmt.Errorf("finding the daemon's socket: %w (or pass --socket)", err)
	}
	return client.New(socket), nil
}

// JSON reports whether -o json was asked for.
func (g *Globals) JSON() bool { return g.Output == "json" }

// CheckOutput refuses an -o other than table or json.
func (g *Globals) CheckOutput() error {
	if g.Output != "table" && g.Output != "json" {
		return UsageErr("--output must be table or json, not %q", g.Output)
	}
	return nil
}

// Exit prints err, if any, on stderr and returns the exit code it means.
// code, when not nil, is asked first for the codes of errors only the
// caller knows.
func Exit(err error, code func(error) (int, bool)) int {
	if err == nil {
		return ExitOK
	}
	var quiet *ExitError
	if errors.As(err, &quiet) && quiet.Quiet {
		return quiet.Code
	}
	// An error may quote a worker (a cause, a reason from the daemon).
	fmt.Fprintln(os.Stderr, "tend:", termsafe.Text(err.Error()))
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	if code != nil {
		if c, ok := code(err); ok {
			return c
		}
	}
	switch {
	case client.IsNoWorker(err):
		return ExitNoWorker
	case isUsage(err):
		return ExitUsage
	}
	return ExitFailure
}

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

// PrintJSON prints v as indented JSON.
func PrintJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
