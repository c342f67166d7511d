package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tendhq/tend/cmd/internal/client"
)

// exitOf runs Exit on err and returns its code and what it printed.
func exitOf(t *testing.T, err error) (int, string) {
	t.Helper()
	r, w, perr := os.Pipe()
	if perr != nil {
		t.Fatal(perr)
	}
	saved := os.Stderr
	os.Stderr = w
	code := Exit(err, nil)
	os.Stderr = saved
	w.Close()
	b, _ := io.ReadAll(r)
	r.Close()
	return code, string(b)
}

// A reader that went away (`tend status -o json | head -1`) ends the
// command without a word and with 128+SIGPIPE; any other failure to write
// is said, and is a failure.
func TestBrokenPipeIsQuiet(t *testing.T) {
	epipe := fmt.Errorf("%w: splice: %w", client.ErrReaderGone, syscall.EPIPE)
	if code, said := exitOf(t, quietPipe(epipe)); code != ExitBrokenPipe || said != "" {
		t.Errorf("EPIPE: exit %d, said %q; want %d and nothing", code, said, ExitBrokenPipe)
	}
	// The daemon closed the control socket while the request was written:
	// the same errno, and an error to say.
	socket := fmt.Errorf("GET /v1/status on the control socket /run/tend.sock: write: %w", syscall.EPIPE)
	if code, said := exitOf(t, quietPipe(socket)); code != ExitFailure || said == "" {
		t.Errorf("EPIPE from the socket: exit %d, said %q; want %d and the error", code, said, ExitFailure)
	}
	other := fmt.Errorf("write: %w", syscall.ENOSPC)
	if code, said := exitOf(t, quietPipe(other)); code != ExitFailure || said == "" {
		t.Errorf("ENOSPC: exit %d, said %q; want %d and the error", code, said, ExitFailure)
	}
	if quietPipe(nil) != nil || !errors.Is(quietPipe(epipe), syscall.EPIPE) {
		t.Error("quietPipe must pass nil through and keep the cause")
	}
}

// Status asks once and prints: it is quick (the lean client and tendd
// run it without a handler of their own for SIGINT and SIGTERM); the
// commands that wait are not.
func TestOnlyStatusIsQuick(t *testing.T) {
	for _, s := range Specs() {
		if s.Quick != (s.Name == "status") {
			t.Errorf("%s: quick %v", s.Name, s.Quick)
		}
	}
}

// A command sends a timeout only when --timeout is given; without one the
// daemon waits as long as the workers make progress. One not above zero
// is a usage error, said before anything is asked.
func TestTimeoutIsSentOnlyWhenGiven(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"start", "--all"}, ""},
		{[]string{"start", "--all", "--timeout", "90s"}, "1m30s"},
		{[]string{"signal", "HUP", "--all"}, ""},
		{[]string{"signal", "HUP", "--all", "--timeout=2s"}, "2s"},
		{[]string{"stop", "--all", "--timeout", "0"}, "usage"},
		{[]string{"signal", "HUP", "--all", "--timeout", "-1s"}, "usage"},
	} {
		inv, ok := Parse(tc.args)
		if !ok {
			t.Fatalf("%v: not parsed", tc.args)
		}
		got, err := TimeoutArg(inv.Duration("timeout"))
		if code, _ := exitOf(t, err); err != nil && code == ExitUsage {
			got = "usage"
		}
		if got != tc.want {
			t.Errorf("%v: timeout %q (%v), want %q", tc.args, got, err, tc.want)
		}
	}
}

// Since says a time as status always has: its local time and how long
// ago, or "-" for none.
func TestSince(t *testing.T) {
	at := time.Now().Add(-90 * time.Second)
	if got, want := Since(at), fmt.Sprintf("%s (%s ago)", at.Local().Format("15:04:05"), time.Since(at).Round(time.Second)); got != want {
		t.Errorf("Since: %q, want %q", got, want)
	}
	if got := Since(time.Time{}); got != "-" {
		t.Errorf("Since of no time: %q", got)
	}
}

// Run of a command that is not an everyday one is an error, not a
// command run on a guess.
func TestRunRefusesOtherCommands(t *testing.T) {
	err := Run(context.Background(), &Globals{}, &Invocation{Cmd: Spec{Name: "daemon"}}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), `no everyday command "daemon"`) {
		t.Errorf("Run of daemon: %v", err)
	}
}
