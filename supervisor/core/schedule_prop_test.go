package core

import (
	"fmt"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/tendhq/tend/events"
)

// Two properties of Step over generated histories: a scheduled job with
// overlap = "forbid" never has two runs at once, whatever mix of due runs,
// operator starts and stops, exits, failed spawns and daemon crashes it
// sees; and a readiness message from an incarnation that is not the
// current one changes nothing but its own stale record.
func TestScheduledJobNeverOverlaps(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := newMachine(t)
		job := spec("job", oneshot, func(s *Spec) {
			s.Schedule = &Schedule{Next: func(t time.Time) time.Time { return t.Truncate(time.Minute).Add(time.Minute) },
				Overlap: "forbid", CatchUp: rapid.SampledFrom([]string{"once", "skip"}).Draw(t, "catch_up")}
			s.Digest += "-forbid"
		})
		n := spec("n", readyBy(ReadyNotify, time.Minute))
		specs := []*Spec{job, n}
		var due []time.Time // schedule timers armed and not yet fired
		track := func(res Result) {
			for _, f := range res.Effects {
				if f.Kind == ArmTimer && f.Timer == ScheduleDue && f.Worker == "job" {
					due = append(due, f.At)
				}
			}
			m.checkNoOverlap(res)
		}
		track(m.step(Load{Specs: specs, Hash: "c", Actor: "test", First: true}))
		t.Repeat(map[string]func(*rapid.T){
			"a run comes due": func(t *rapid.T) {
				if len(due) == 0 {
					t.Skip("no schedule armed")
				}
				i := rapid.IntRange(0, len(due)-1).Draw(t, "timer")
				at := due[i]
				due = append(due[:i], due[i+1:]...)
				if m.now.Before(at) {
					m.now = at
				}
				track(m.step(TimerFired{Kind: ScheduleDue, Worker: "job", Planned: at, Digest: job.Digest}))
			},
			"its spawn is reported": func(t *rapid.T) {
				w := m.st.World.Worker("job")
				if w.State != events.Starting || w.PID != 0 {
					t.Skip("no spawn in flight")
				}
				if rapid.Bool().Draw(t, "fails") {
					track(m.step(SpawnFailed{Worker: "job", Inc: w.Incarnation, Err: "no such file", Errno: 2}))
					return
				}
				track(m.spawn("job"))
			},
			"it exits": func(t *rapid.T) {
				w := m.st.World.Worker("job")
				if !w.Live() || w.PID == 0 {
					t.Skip("nothing runs")
				}
				code := rapid.SampledFrom([]int{0, 0, 1}).Draw(t, "code")
				track(m.step(Exited{Worker: "job", Inc: w.Incarnation, PID: w.PID, Exit: Exit{Code: code, HasCode: true, Desc: fmt.Sprintf("exit status %d", code)}}))
			},
			"an old run's exit arrives late": func(t *rapid.T) {
				w := m.st.World.Worker("job")
				if w.Incarnation < 2 {
					t.Skip("no old run")
				}
				old := events.Incarnation(rapid.IntRange(1, int(w.Incarnation)-1).Draw(t, "old"))
				track(m.step(Exited{Worker: "job", Inc: old, PID: 500 + int(old), Exit: Exit{Code: 0, HasCode: true, Desc: "exit status 0"}}))
			},
			"an operator starts or stops it": func(t *rapid.T) {
				verb := rapid.SampledFrom([]Verb{Start, Stop, Restart}).Draw(t, "verb")
				track(m.step(Command{Verb: verb, Workers: []string{"job"}, Actor: "op"}))
			},
			"time passes": func(t *rapid.T) {
				m.now = m.now.Add(time.Duration(rapid.IntRange(1, 180).Draw(t, "seconds")) * time.Second)
			},
			"the daemon crashes and starts again": func(t *rapid.T) {
				w := m.st.World.Worker("job")
				alive := w.Live() && w.PID != 0 && rapid.Bool().Draw(t, "its run survives")
				m.crash(-1)
				m.now = m.now.Add(time.Duration(rapid.IntRange(0, 600).Draw(t, "seconds down")) * time.Second)
				due = nil
				track(m.step(Load{Specs: specs, Hash: "c", Actor: "daemon", First: true}))
				found := map[string]Found{}
				for _, name := range []string{"job", "n"} {
					if w := m.st.World.Worker(name); w.Live() {
						found[name] = Found{Inc: w.Incarnation}
						if name == "job" && alive && w.PID != 0 {
							found[name] = Found{Inc: w.Incarnation, Alive: true, PID: w.PID, StartTicks: w.StartTicks, BootID: w.BootID}
						}
					}
				}
				track(m.step(Recovered{Workers: found, Seq: m.replayed}))
			},
			"n is spawned, or says it is ready": func(t *rapid.T) {
				w := m.st.World.Worker("n")
				switch {
				case w.State == events.Starting && w.PID == 0:
					track(m.spawn("n"))
				case w.Live() && w.PID != 0:
					track(m.step(Notified{Worker: "n", Inc: w.Incarnation, PID: w.PID, Ready: true}))
				default:
					track(m.step(Command{Verb: Start, Workers: []string{"n"}, Actor: "op"}))
				}
			},
			"n's exit": func(t *rapid.T) {
				w := m.st.World.Worker("n")
				if !w.Live() || w.PID == 0 {
					t.Skip("n is not running")
				}
				track(m.step(Exited{Worker: "n", Inc: w.Incarnation, PID: w.PID, Exit: Exit{Signal: 9, Desc: "signal: killed"}}))
			},
			"an old incarnation of n says it is ready": func(t *rapid.T) {
				w := m.st.World.Worker("n")
				if w.Incarnation < 2 {
					t.Skip("no old incarnation")
				}
				old := events.Incarnation(rapid.IntRange(1, int(w.Incarnation)-1).Draw(t, "old"))
				before := *w
				status := "ready, from the past"
				res := m.step(Notified{Worker: "n", Inc: old, PID: 400 + int(old), Ready: true, Status: &status})
				for _, e := range res.Events {
					if !e.Stale {
						t.Fatalf("a message of incarnation %d (current %d) recorded %s, not stale", old, w.Incarnation, e.Type)
					}
				}
				if len(res.Effects) != 0 {
					t.Fatalf("a message of old incarnation %d had effects: %s", old, kinds(res.Effects))
				}
				after := m.st.World.Worker("n")
				if after.State != before.State || after.Incarnation != before.Incarnation || after.Status != before.Status || after.Since != before.Since {
					t.Fatalf("a message of old incarnation %d changed n: %s/%d %q → %s/%d %q", old,
						before.State, before.Incarnation, before.Status, after.State, after.Incarnation, after.Status)
				}
			},
		})
	})
}

// checkNoOverlap fails when a result spawns the job while an earlier
// incarnation of it has not ended in the log.
func (m *machine) checkNoOverlap(res Result) {
	m.t.Helper()
	for _, f := range res.Effects {
		if f.Kind != Spawn || f.Worker != "job" {
			continue
		}
		ended := map[events.Incarnation]bool{}
		spawned := map[events.Incarnation]bool{}
		for _, e := range m.log {
			if e.Worker != "job" || e.Stale {
				continue
			}
			switch e.Type {
			case events.Spawned, events.Adopted:
				spawned[e.Incarnation] = true
			case events.Exited, events.Lost, events.SpawnFailed:
				ended[e.Incarnation] = true
			}
		}
		for inc := range spawned {
			if inc < f.Inc && !ended[inc] {
				m.t.Fatalf("job incarnation %d spawned while incarnation %d still runs (overlap = forbid)", f.Inc, inc)
			}
		}
	}
}
