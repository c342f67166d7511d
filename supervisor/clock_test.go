package supervisor

import (
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/fsm"
	"github.com/tendhq/tend/supervisor/proc/proctest"
)

// jumpClock is the real clock with its wall time set off by a jump the test
// makes. Timers run on the monotonic clock, as the kernel's do across a
// real jump. (Now carries its monotonic reading moved by the jump too;
// the supervisor keeps times as UTC, which drops that reading, so what it
// compares is the wall time, as it would be after a real jump.)
type jumpClock struct{ off atomic.Int64 }

func (c *jumpClock) Now() time.Time { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *jumpClock) AfterFunc(d time.Duration, f func()) func() bool {
	return time.AfterFunc(d, f).Stop
}
func (c *jumpClock) jump(d time.Duration) { c.off.Add(int64(d)) }

// TestFault_R20_ClockJumps (row 20): the wall clock jumps an hour back or
// forward while a worker is Starting, Stopping and waiting out its
// backoff, and between two daemons while a restart is pending. No state
// gets stuck (supervisord's hung start after a clock set back) and no timer
// fires an hour early or late: each ends within a few seconds of its
// setting.
func TestFault_R20_ClockJumps(t *testing.T) {
	for _, jump := range []time.Duration{-time.Hour, time.Hour} {
		t.Run(jump.String(), func(t *testing.T) {
			clk := &jumpClock{}
			within := func(what string, start time.Time, limit time.Duration) {
				t.Helper()
				if took := time.Since(start); took > limit {
					t.Errorf("%s took %s after a %s jump (limit %s)", what, took.Round(time.Millisecond), jump, limit)
				}
			}
			slow := spec("slow", proctest.Command("hang"))
			slow.StartTimeout = 500 * time.Millisecond
			stubborn := spec("stubborn", proctest.Command("ignore-sigterm"))
			stubborn.StopTimeout = 500 * time.Millisecond
			crashy := spec("crashy", proctest.Command("crash-after", "50ms", "1"))
			crashy.Policy.BackoffInitial, crashy.Policy.BackoffMax = time.Second, time.Second
			r := newRigWith(t, func(c *Config) { c.Clock = clk })

			// Starting: the start timeout.
			r.load(slow, stubborn, crashy)
			start := time.Now()
			r.waitFor("slow", "spawned", func(w *fsm.Worker) bool { return w.PID != 0 })
			clk.jump(jump)
			r.waitState("slow", events.Running)
			within("Starting → Running (start_timeout 500ms)", start, 5*time.Second)

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

			// Between two daemons: the restart due time is in the log; the
			// next daemon starts with the clock moved.
			inc = r.waitFor("crashy", "restart pending", func(w *fsm.Worker) bool { return w.Policy.Pending }).Incarnation
			r.crash()
			clk.jump(jump)
			r.open()
			start = time.Now()
			r.load(slow, stubborn, crashy)
			r.waitFor("crashy", "restarted by the next daemon", func(w *fsm.Worker) bool { return w.Incarnation > inc })
			within("a restart pending across a daemon restart (backoff 1s)", start, 5*time.Second)
			r.checkReplay()
		})
	}
}
