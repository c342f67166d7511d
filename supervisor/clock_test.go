package supervisor

import (
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/fsm"
	"github.com/tendhq/tend/fsm/policy"
	"github.com/tendhq/tend/supervisor/core"
	"github.com/tendhq/tend/supervisor/proc/proctest"
)

// jumpClock is the real clock with its wall time set off by a jump the test
// makes. Timers run on the monotonic clock, as the kernel's do across a
// real jump. (Now carries its monotonic reading moved by the jump too;
// the supervisor keeps times as UTC, which drops that reading, so what it
// compares is the wall time, as it would be after a real jump.)
type jumpClock struct{ off, jumps atomic.Int64 }

func (c *jumpClock) Now() time.Time { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *jumpClock) AfterFunc(d time.Duration, f func()) func() bool {
	return time.AfterFunc(d, f).Stop
}
func (c *jumpClock) jump(d time.Duration) { c.off.Add(int64(d)); c.jumps.Add(1) }

// TestFault_R20_ClockJumps (row 20): the wall clock jumps an hour back or
// forward in each timed state: Starting (start_timeout, and ready_timeout
// of a worker that never says it is ready), Stopping (stop_timeout),
// waiting out a backoff, an open breaker waiting out its cooldown; and
// between two daemons while a restart is pending and while a breaker is
// open. No state gets stuck (supervisord's hung start after a clock set
// back) and no timer fires an hour early or late: each ends within a few
// seconds of its setting.
func TestFault_R20_ClockJumps(t *testing.T) {
	begin := time.Now()
	var jumps, timers, nEvents int
	var slowest time.Duration
	for _, jump := range []time.Duration{-time.Hour, time.Hour} {
		t.Run(jump.String(), func(t *testing.T) {
			clk := &jumpClock{}
			within := func(what string, start time.Time, limit time.Duration) {
				t.Helper()
				took := time.Since(start)
				timers++
				slowest = max(slowest, took)
				if took > limit {
					t.Errorf("%s took %s after a %s jump (limit %s)", what, took.Round(time.Millisecond), jump, limit)
				}
			}
			slow := spec("slow", proctest.Command("hang"))
			slow.StartTimeout = 500 * time.Millisecond
			stubborn := spec("stubborn", proctest.Command("ignore-sigterm"))
			stubborn.StopTimeout = 500 * time.Millisecond
			crashy := spec("crashy", proctest.Command("crash-after", "50ms", "1"))
			crashy.Policy.BackoffInitial, crashy.Policy.BackoffMax = time.Second, time.Second
			unready := spec("unready", proctest.Command("hang"))
			unready.Ready = core.Readiness{Kind: core.ReadyNotify, Timeout: 500 * time.Millisecond}
			unready.Policy.Restart = policy.Never
			// Opens its breaker at its second crash in a minute; closes it
			// 1 s later, starts, and opens it again, over and over.
			tripped := spec("tripped", proctest.Command("crash-after", "50ms", "1"))
			tripped.Policy.Restart, tripped.Policy.BackoffInitial, tripped.Policy.BackoffMax = policy.Always, 10*time.Millisecond, 10*time.Millisecond
			tripped.Policy.BreakerMax, tripped.Policy.BreakerWindow, tripped.Policy.BreakerCooldown = 1, time.Minute, time.Second
			all := []*WorkerSpec{slow, stubborn, crashy, unready, tripped}
			r := newRigWith(t, func(c *Config) { c.Clock = clk })
			// freshOpen waits for the breaker of tripped to open after the
			// event seq after, and returns that event.
			freshOpen := func(after events.Seq) events.Event {
				t.Helper()
				return r.waitEvent("tripped", "its breaker opened", func(e *events.Event) bool {
					return e.Type == events.BreakerOpened && e.Seq > after
				})
			}
			closedAfter := func(open events.Seq) {
				t.Helper()
				r.waitEvent("tripped", "its breaker closed by the cooldown", func(e *events.Event) bool {
					return e.Type == events.BreakerClosed && e.Seq > open
				})
			}

			// Starting: the start timeout, and the ready timeout.
			r.load(all...)
			start := time.Now()
			r.waitFor("slow", "spawned", func(w *fsm.Worker) bool { return w.PID != 0 })
			clk.jump(jump)
			r.waitState("slow", events.Running)
			within("Starting → Running (start_timeout 500ms)", start, 5*time.Second)
			r.waitEvent("unready", "not ready", func(e *events.Event) bool { return e.Type == events.NotReady })
			within("Starting → not ready (ready_timeout 500ms)", start, 5*time.Second)

			// Stopping: the stop timeout of a worker that ignores SIGTERM.
			w := r.waitState("stubborn", events.Running)
			waitIgnoring(t, w.PID, syscall.SIGTERM)
			start = time.Now()
			if _, err := r.sup.Stop(bg, "stubborn", "cli uid=0"); err != nil {
				t.Fatal(err)
			}
			clk.jump(-jump)
			r.waitState("stubborn", events.Killed)
			within("Stopping → Killed (stop_timeout 500ms)", start, 5*time.Second)

			// Backoff: a restart pending.
			r.waitFor("crashy", "restart pending", func(w *fsm.Worker) bool { return w.Policy.Pending })
			inc := r.waitFor("crashy", "restart pending", func(w *fsm.Worker) bool { return w.Policy.Pending }).Incarnation
			start = time.Now()
			clk.jump(jump)
			r.waitFor("crashy", "restarted", func(w *fsm.Worker) bool { return w.Incarnation > inc })
			within("backoff (1s) → restart", start, 5*time.Second)

			// An open breaker: its cooldown.
			open := freshOpen(r.log.LastSeq())
			start = time.Now()
			clk.jump(-jump)
			closedAfter(open.Seq)
			within("breaker open → closed (circuit_cooldown 1s)", start, 5*time.Second)

			// Between two daemons: the restart due time is in the log; the
			// next daemon starts with the clock moved.
			inc = r.waitFor("crashy", "restart pending", func(w *fsm.Worker) bool { return w.Policy.Pending }).Incarnation
			r.crash()
			clk.jump(jump)
			r.open()
			start = time.Now()
			r.load(all...)
			r.waitFor("crashy", "restarted by the next daemon", func(w *fsm.Worker) bool { return w.Incarnation > inc })
			within("a restart pending across a daemon restart (backoff 1s)", start, 5*time.Second)

			// Between two daemons: the breaker's open time is in the log.
			open = freshOpen(r.log.LastSeq())
			r.crash()
			clk.jump(jump)
			r.open()
			start = time.Now()
			r.load(all...)
			closedAfter(open.Seq)
			within("a breaker open across a daemon restart (circuit_cooldown 1s)", start, 5*time.Second)
			r.checkReplay()
			jumps += int(clk.jumps.Load())
			nEvents += int(r.log.LastSeq())
		})
	}
	t.Logf("figures: row R20: iterations 2, faults injected %d (wall clock jumps of ±1h), events %d, lost 0, duplicated 0, time %s; %d timers each ended within 5 s of its setting, the slowest %s after its jump",
		jumps, nEvents, time.Since(begin).Round(10*time.Millisecond), timers, slowest.Round(time.Millisecond))
}
