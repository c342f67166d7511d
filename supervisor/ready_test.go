package supervisor

import (
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/fsm"
	"github.com/tendhq/tend/supervisor/core"
	"github.com/tendhq/tend/supervisor/proc/proctest"
)

// A worker with ready = "notify" stays Starting until it sends READY=1 on
// its socket, past a start timeout that would have made it Running, and
// its STATUS= shows.
func TestReadyByNotify(t *testing.T) {
	s := spec("n", proctest.Command("notify", "400ms"))
	s.StartTimeout = 50 * time.Millisecond
	s.Ready = core.Readiness{Kind: core.ReadyNotify, Timeout: 30 * time.Second}
	r := newRig(t, s)
	start := time.Now()
	w := r.waitState("n", events.Running)
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Fatalf("running after %s, before READY=1 could come", d)
	}
	e := r.waitEvent("n", "ready", func(e *events.Event) bool { return e.Type == events.Ready })
	if e.Actor != events.ActorNotify || !strings.Contains(e.Cause, "READY=1 from pid") {
		t.Fatalf("ready event %+v", e)
	}
	if w.Status != "serving" {
		t.Errorf("status %q, want serving", w.Status)
	}
}

// ready = "fd:N": a newline on descriptor N.
func TestReadyByDescriptor(t *testing.T) {
	s := spec("f", proctest.Command("fd-ready", "5", "300ms"))
	s.StartTimeout = 50 * time.Millisecond
	s.Ready = core.Readiness{Kind: core.ReadyFD, FD: 5, Timeout: 30 * time.Second}
	r := newRig(t, s)
	r.waitState("f", events.Running)
	e := r.waitEvent("f", "ready", func(e *events.Event) bool { return e.Type == events.Ready })
	if !strings.Contains(e.Cause, "descriptor 5") {
		t.Fatalf("ready event %+v", e)
	}
}

// Not ready within ready_timeout is a failed start: stopped, and the
// restart policy treats it as one.
func TestNotReadyInTime(t *testing.T) {
	s := spec("slow", proctest.Command("hang"))
	s.Ready = core.Readiness{Kind: core.ReadyNotify, Timeout: 300 * time.Millisecond}
	r := newRig(t, s)
	r.waitEvent("slow", "not ready", func(e *events.Event) bool { return e.Type == events.NotReady })
	e := r.waitEvent("slow", "its end judged", func(e *events.Event) bool {
		return e.Type == events.RestartScheduled || e.Type == events.BreakerOpened
	})
	if !strings.Contains(e.Cause, "failed to start") {
		t.Fatalf("after not ready: %+v", e)
	}
}

// A worker that stops pinging WATCHDOG=1 is restarted through the path of
// a health failure, recorded with its last ping.
func TestWatchdog(t *testing.T) {
	s := spec("wd", proctest.Command("notify", "50ms", "50ms", "4"))
	s.Ready = core.Readiness{Kind: core.ReadyNotify, Timeout: 30 * time.Second, Watchdog: 300 * time.Millisecond}
	r := newRig(t, s)
	e := r.waitEvent("wd", "watchdog", func(e *events.Event) bool { return e.Type == events.HealthFailed })
	if e.Actor != events.ActorWatchdog || !strings.Contains(e.Cause, "the last at") {
		t.Fatalf("watchdog event %+v", e)
	}
	r.waitFor("wd", "restarted", func(w *fsm.Worker) bool { return w.Incarnation >= 2 })
}
