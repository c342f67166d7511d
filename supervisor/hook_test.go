package supervisor

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/fsm"
	"github.com/tendhq/tend/supervisor/core"
	"github.com/tendhq/tend/supervisor/proc/proctest"
)

func TestEscapeLine(t *testing.T) {
	for in, want := range map[string]string{
		"plain text, ünïcode ✓":   "plain text, ünïcode ✓",
		"\x1b[31mred\x1b[0m":      `\x1b[31mred\x1b[0m`,
		"tab\there\rback":         `tab\there\rback`,
		`back\slash`:              `back\\slash`,
		"bad \xff byte":           `bad \xff byte`,
		"bidi \u202egnp.exe":      `bidi \u202egnp.exe`,
		"del\x7f and \u0085 next": `del\x7f and \x85 next`,
		"nul\x00":                 `nul\x00`,
	} {
		if got := escapeLine(in); got != want {
			t.Errorf("escapeLine(%q) = %q, want %q", in, got, want)
		}
	}
	long := escapeLine(strings.Repeat("\x01", 1000))
	if len(long) > lineBytes+len("…") || !strings.HasSuffix(long, "…") || strings.Contains(long[:len(long)-len("…")], "…") {
		t.Errorf("a long line is %d bytes: %q", len(long), long)
	}
	if cut := escapeLine(strings.Repeat("é", 200)); len(cut) > lineBytes+len("…") || !strings.HasSuffix(cut, "é…") {
		t.Errorf("a long line is not cut at a character: %q", cut[len(cut)-8:])
	}
}

func TestTailLines(t *testing.T) {
	var tb tailBuffer
	if tb.lines() != "" {
		t.Fatal("empty output has lines")
	}
	tb.write([]byte("one\r\ntwo\n\x1b]0;title\x07three\n"))
	if got := tb.lines(); got != "one\ntwo\n\\x1b]0;title\\x07three" {
		t.Errorf("lines = %q", got)
	}
	var big tailBuffer
	for i := 0; i < 10_000; i++ {
		big.write([]byte(strings.Repeat("x", 50) + "\n"))
	}
	big.write([]byte("last words"))
	got := big.lines()
	ls := strings.Split(got, "\n")
	if len(ls) != tailLines+1 || ls[0] != "…" || ls[len(ls)-1] != "last words" || len(big.buf) > tailBytes {
		t.Errorf("%d lines, kept %d bytes: %q", len(ls), len(big.buf), got)
	}
}

// An operator's signal carries the incarnation it was decided for. Run
// after that incarnation has ended and the next one runs, it reaches
// nothing, and its outcome is recorded as such (stale, ESRCH).
func TestSignalOfAnEndedIncarnationReachesNothing(t *testing.T) {
	dir := t.TempDir()
	sp := spec("w", proctest.Command("signals"))
	sp.Stdout = filepath.Join(dir, "w.out")
	sp.Policy.Restart = "always"
	r := newRig(t, sp)
	w := r.waitState("w", events.Running)
	waitOutput(t, sp.Stdout, "ready\n")
	if err := syscall.Kill(w.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	w = r.waitFor("w", "running again", func(w *fsm.Worker) bool { return w.State == events.Running && w.Incarnation == 2 })
	waitOutput(t, sp.Stdout, "ready\nready\n")

	// The executor is given the signal of incarnation 1, as if it had
	// been decided before that incarnation ended.
	r.sup.ex.run(effect{Effect: core.Effect{Kind: core.Signal, Worker: "w", Inc: 1, Signal: int(syscall.SIGHUP), Actor: "op", Ref: 3}})
	e := r.waitEvent("w", "the outcome", func(e *events.Event) bool { return e.Type == events.SignalSent && e.Ref == 3 })
	if !e.Stale || e.Incarnation != 1 || e.Errno != int(syscall.ESRCH) || e.Actor != "op" {
		t.Errorf("outcome %+v, want stale for incarnation 1 with ESRCH", e)
	}
	// What is asked of incarnation 2 reaches it, and only that.
	rs, err := r.sup.Do(bg, Request{Verb: core.SendSignal, Workers: []string{"w"}, Actor: "op", Signal: int(syscall.SIGUSR1), Wait: true})
	if err != nil || rs[0].Err != nil || !rs[0].Reached || rs[0].Answer == nil || rs[0].Answer.Incarnation != 2 {
		t.Fatalf("signal to incarnation 2: %v %+v", err, rs)
	}
	waitOutput(t, sp.Stdout, "ready\nready\nUSR1\n")
	time.Sleep(50 * time.Millisecond)
	if b, _ := os.ReadFile(sp.Stdout); strings.Contains(string(b), "HUP") {
		t.Errorf("incarnation 2 got the signal of incarnation 1:\n%s", b)
	}
}

func waitOutput(t *testing.T, path, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var b []byte
	for time.Now().Before(deadline) {
		b, _ = os.ReadFile(path)
		if string(b) == want {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s holds %q, want %q", path, b, want)
}

// A hook still running when the supervisor closes is killed with its
// group; nothing of it is left (the rig checks for children at the end).
func TestHookKilledWhenTheSupervisorCloses(t *testing.T) {
	dir := t.TempDir()
	pids := filepath.Join(dir, "pids")
	sp := spec("w", proctest.Command("hang"))
	sp.Hooks = map[string][]string{fsm.HookPostStart: {"/bin/sh", "-c", "sleep 60 & echo $! > " + pids + "; sleep 60"}}
	sp.HookTimeout = time.Minute
	r := newRig(t, sp)
	r.waitState("w", events.Running)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if b, _ := os.ReadFile(pids); len(b) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the post_start hook never ran")
		}
		time.Sleep(10 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(bg, 20*time.Second)
	defer cancel()
	// Shutdown stops the worker, which cancels its post_start.
	if err := r.sup.Shutdown(ctx, false, "test"); err != nil {
		t.Fatal(err)
	}
	h := r.history("w")
	var ended *events.Event
	for i := range h {
		if h[i].Type == events.HookExited && h[i].Policy == fsm.HookPostStart {
			ended = &h[i]
		}
	}
	if ended == nil || ended.Signal != int(syscall.SIGKILL) || !strings.Contains(ended.Cause, "cancelled") {
		t.Fatalf("post_start's end: %+v", ended)
	}
}
