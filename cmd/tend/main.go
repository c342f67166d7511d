// Command tend is the client users type. It runs itself the everyday
// commands that only ask a running daemon over its control socket
// (status, start, stop, restart, signal, --version), and hands every other
// command line to the full binary, tendd, by exec: the same argv, pid,
// environment, descriptors and signals, so `tend daemon` is the daemon's
// process. Both binaries run the same commands (package cli): the output
// and exit codes of a command do not depend on which binary ran it. This
// one reads their command lines itself (cli.Parse), without cobra, and
// hands over any it is not sure of, help and errors of the command line
// included, for tendd's cobra to answer.
//
// It exists to start fast. Go runs the init of every package a binary
// links, and tendd links the log, the supervisor, metrics, NATS and a TUI;
// this binary links the everyday commands and the socket client alone, not
// cobra, not even a TOML decoder (cmd/internal/archtest holds the set). It may NOT grow an
// import of any of those: a command that needs them belongs to tendd.
//
// tendd is looked for beside this binary's own executable (symlinks
// resolved), then at $TEND_DAEMON_BIN (an absolute path); never on $PATH.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/tendhq/tend/cmd/internal/cli"
	"github.com/tendhq/tend/cmd/internal/config/locate"
)

// version is set by the build (-ldflags "-X main.version=...").
var version = "dev"

// fullName is the full binary's file name, beside this one.
const fullName = "tendd"

// errHandOver says the command needs what only the full binary has; it
// is returned before the command has printed or asked anything.
var errHandOver = errors.New("the full binary must run this command")

func main() {
	os.Exit(run(os.Args))
}

func run(argv []string) int {
	inv, ok := cli.Parse(argv[1:])
	if !ok {
		return handOver(argv)
	}
	if inv.Version {
		// As cobra's version template prints it in tendd.
		fmt.Printf("tend version %s\n", version)
		return cli.ExitOK
	}
	g := &cli.Globals{Locate: locateFast}
	inv.Apply(g)
	ctx := context.Background()
	if !inv.Cmd.Quick {
		// A command that waits ends its wait on SIGINT or SIGTERM and
		// says so. A quick one takes no handler: the runtime's signal
		// loop would cost every start a thread.
		var stop context.CancelFunc
		ctx, stop = signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
		defer stop()
	}
	err := cli.Run(ctx, g, &inv, os.Stdout)
	if errors.Is(err, errHandOver) {
		return handOver(argv)
	}
	return cli.Exit(err, nil)
}

// locateFast finds the socket from the [daemon] table alone; when only a
// full parse of the file can say, the full binary runs the command.
func locateFast(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	p, ok := locate.Fast(path, f)
	if !ok {
		return "", errHandOver
	}
	return p.Socket, nil
}

// handOver execs the full binary with argv. It returns only when it
// cannot, with exit code 1 after saying why.
func handOver(argv []string) int {
	path, err := fullBinary()
	if err == nil {
		err = syscall.Exec(path, argv, os.Environ())
		err = fmt.Errorf("cannot run %s: %w", path, err)
	}
	fmt.Fprintln(os.Stderr, "tend:", err)
	return cli.ExitFailure
}

// fullBinary finds tendd: beside this binary's own executable, then at
// $TEND_DAEMON_BIN. $PATH is not searched: root runs tend, and a
// directory on a PATH may be writable by a user who is not root. A
// candidate that is this very binary (a tendd linked to tend) is passed
// over: exec'ing it would hand over again, for ever.
func fullBinary() (string, error) {
	var tried []string
	self, err := os.Executable()
	if err == nil {
		self, err = filepath.EvalSymlinks(self)
	}
	// usable says whether p, named as what in the error, is an
	// executable file other than this one.
	usable := func(what, p string) bool {
		fi, err := os.Stat(p)
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
			tried = append(tried, what)
			return false
		}
		if me, err := os.Stat(self); err == nil && os.SameFile(fi, me) {
			tried = append(tried, what+" (this same binary, not the full one)")
			return false
		}
		return true
	}
	if err != nil {
		tried = append(tried, fmt.Sprintf("beside this binary (%v)", err))
	} else if p := filepath.Join(filepath.Dir(self), fullName); usable(p, p) {
		return p, nil
	}
	switch p := os.Getenv("TEND_DAEMON_BIN"); {
	case p == "":
	case !filepath.IsAbs(p):
		tried = append(tried, fmt.Sprintf("$TEND_DAEMON_BIN=%s (not an absolute path)", p))
	case usable("$TEND_DAEMON_BIN="+p, p):
		return p, nil
	}
	return "", fmt.Errorf("this command needs the full binary, %s, which is not where tend looks for it: tried %s. Install tendd beside tend (make build puts both in bin/), or set $TEND_DAEMON_BIN to its absolute path",
		fullName, strings.Join(tried, ", "))
}
