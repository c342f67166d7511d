package main

// End-to-end test of what a worker can make the operator's terminal do.
// A worker running as nobody says hostile text through every channel it
// has (its output, STATUS= on its notification socket, a hook's output,
// its relayed stderr before it fails); every command that shows it to
// people must show it escaped.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/rs/zerolog"

	"github.com/tendhq/tend/cmd/internal/client"
	"github.com/tendhq/tend/cmd/internal/fleet"
	"github.com/tendhq/tend/fsm"
	"github.com/tendhq/tend/supervisor/proc/proctest"
)

// rawControl says what in out a terminal could act on: a control
// character (C0 but newline and tab, DEL, C1), a format character such as a
// bidi override, or a byte that is not UTF-8. "" if nothing.
func rawControl(out string) string {
	for i := 0; i < len(out); {
		r, n := utf8.DecodeRuneInString(out[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			return fmt.Sprintf("the byte %q (not UTF-8) at %d", out[i:i+1], i)
		case r != '\n' && r != '\t' && !unicode.IsGraphic(r):
			return fmt.Sprintf("%U at %d", r, i)
		}
		i += n
	}
	return ""
}

var copySelf = sync.OnceValues(func() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(exe)
	if err != nil {
		return "", err
	}
	dst := filepath.Join(filepath.Dir(tendBin), "tend.test")
	return dst, os.WriteFile(dst, b, 0o755)
})

// nobodyHelperCmd is helperCmd for a worker that runs as nobody: the test
// binary is copied beside tendBin, where nobody may execute it (go test
// builds it in a directory only its owner may enter).
func nobodyHelperCmd(t *testing.T, mode string, args ...string) string {
	t.Helper()
	exe, err := copySelf()
	if err != nil {
		t.Fatal(err)
	}
	parts := proctest.Command(mode, args...)
	parts[0] = exe
	q := make([]string, len(parts))
	for i, p := range parts {
		q[i] = fmt.Sprintf("%q", p)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

func TestWorkerTextReachesNoTerminalRaw(t *testing.T) {
	e := newEnv(t, "")
	hostileDir(t, e)
	// The hook's shell writes the same bytes as proctest.Hostile, NUL aside.
	hook := `printf 'hook \033[2J\033]52;c;cHduZWQ=\007\033]0;title\007\342\200\256evil\302\23331m\377\n'`
	e.write(`[daemon]
state_dir = "state"
log_level = "debug"

[worker.talker]
command = ` + nobodyHelperCmd(t, "hostile", "0", "0") + `
user = "nobody"
ready = "notify"
ready_timeout = "10s"
pre_start = ` + sh(hook) + `

[worker.quitter]
command = ` + nobodyHelperCmd(t, "hostile", "300ms", "3") + `
user = "nobody"
ready = "notify"
ready_timeout = "10s"
restart = "never"
output = "relay"
stdout = "out/quitter.out"
stderr = "out/quitter.err"
`)
	e.startDaemon()
	e.waitStatus("talker", "running with its status", func(w client.WorkerStatus) bool { return running(w) && w.StatusText != "" })
	e.waitStatus("quitter", "stopped after its exit", func(w client.WorkerStatus) bool { return w.State == "Stopped" && w.LastExit != nil })

	// The channels are real: the raw bytes are there to be escaped.
	if raw, _, _ := e.tend("logs", "talker", "--raw"); !strings.Contains(raw, proctest.Hostile) {
		t.Errorf("tend logs --raw does not give the bytes as written: %q", raw)
	}
	if st := e.status()["talker"].StatusText; !strings.Contains(st, "\x1b]0;title\x07") {
		t.Fatalf("talker's STATUS= did not arrive: %q", st)
	}

	report := filepath.Join(e.dir, "report.html")
	for _, c := range []struct {
		args []string
		want string // what must show, escaped
	}{
		{[]string{"status"}, `\x1b]0;title\x07\u202eevil\u009b31m`},
		{[]string{"status", "talker"}, `\x1b]52;c;cHduZWQ=\x07`},
		{[]string{"why", "talker"}, `\x1b[2J`},
		{[]string{"why", "quitter"}, "quitter is Stopped"},
		{[]string{"history", "talker"}, `status: \x1b[2J`},
		{[]string{"history", "quitter"}, "exited"},
		{[]string{"events"}, `\x1b]0;title\x07`},
		{[]string{"events", "--worker", "talker", "--type", "notified"}, `\x00`},
		{[]string{"replay", "--at", "0s"}, "talker"},
		{[]string{"logs", "talker"}, `out \x1b[2J\x1b]52;c;cHduZWQ=\x07\x1b]0;title\x07\u202eevil\u009b31m\xff\x00`},
		{[]string{"logs", "talker", "--stderr"}, `err \x1b[2J`},
		{[]string{"logs", "quitter", "--events", "-n", "50"}, `\x1b]0;title\x07`},
		{[]string{"report", "-o", report}, "report.html"},
	} {
		out, errs, code := e.tend(c.args...)
		if code != 0 {
			t.Errorf("tend %s: exit %d\n%s%s", strings.Join(c.args, " "), code, out, errs)
			continue
		}
		if bad := rawControl(out + errs); bad != "" {
			t.Errorf("tend %s prints %s raw:\n%q", strings.Join(c.args, " "), bad, out+errs)
		}
		if !strings.Contains(out, c.want) {
			t.Errorf("tend %s lacks %q:\n%s", strings.Join(c.args, " "), c.want, out)
		}
	}
	// A follower too, for as long as it takes to print what is there.
	for _, args := range [][]string{{"events", "--follow"}, {"logs", "talker", "-f"}} {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		out, errs, _ := e.tendCtx(ctx, args...)
		cancel()
		if bad := rawControl(out + errs); bad != "" {
			t.Errorf("tend %s prints %s raw:\n%q", strings.Join(args, " "), bad, out+errs)
		}
		if !strings.Contains(out, `\x1b]0;title\x07`) {
			t.Errorf("tend %s lacks the escaped text:\n%s", strings.Join(args, " "), out)
		}
	}
	// The same, read from the log file with no daemon running.
	e.stopDaemon()
	for _, args := range [][]string{{"why", "talker"}, {"history", "talker"}, {"events", "--worker", "quitter"}, {"replay", "--at", "0s"}} {
		out, errs, code := e.tend(args...)
		if code != 0 {
			t.Errorf("tend %s (no daemon): exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
		}
		if bad := rawControl(out + errs); bad != "" {
			t.Errorf("tend %s (no daemon) prints %s raw:\n%q", strings.Join(args, " "), bad, out+errs)
		}
	}
	// The report is HTML: the stderr tail of the failure is in it, escaped.
	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	if bad := rawControl(string(b)); bad != "" {
		t.Errorf("the report holds %s raw", bad)
	}
}

// The daemon's log on a terminal: every event is a line whose message is
// its cause, and STATUS= is quoted in one.
func TestConsoleLogEscapesCauses(t *testing.T) {
	var b bytes.Buffer
	cw := consoleLog(&b)
	cw.NoColor = true // its own colours are not the worker's
	log := zerolog.New(cw)
	log.Info().Str("worker", proctest.Hostile).Msg("status: " + proctest.Hostile)
	if bad := rawControl(b.String()); bad != "" {
		t.Fatalf("the console log prints %s raw: %q", bad, b.String())
	}
	if !strings.Contains(b.String(), `status: \x1b[2J`) {
		t.Fatalf("the console log lacks the escaped cause: %q", b.String())
	}
}

// A host's stream is as hostile as its workers: tend fleet status shows
// what it names and what its workers' causes quote, escaped.
func TestFleetTableEscapes(t *testing.T) {
	var b bytes.Buffer
	fleetTable(&b, []fleet.HostState{{Host: "web-1" + proctest.Hostile, Log: "0123456789abcdef", Problem: "bad " + proctest.Hostile,
		Workers: []fsm.Worker{{Name: "w" + proctest.Hostile, Cause: "status: " + proctest.Hostile}}}})
	if bad := rawControl(b.String()); bad != "" {
		t.Fatalf("fleet status prints %s raw: %q", bad, b.String())
	}
	if !strings.Contains(b.String(), `status: \x1b[2J`) {
		t.Fatalf("fleet status lacks the escaped cause: %q", b.String())
	}
}
