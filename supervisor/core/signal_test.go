package core

import (
	"errors"
	"syscall"
	"testing"

	"github.com/tendhq/tend/events"
)

// An operator's signal is decided against the incarnation that runs: the
// decision is recorded, and the effect carries that incarnation and the
// seq its outcome answers.
func TestSignalIsDecidedForTheRunningIncarnation(t *testing.T) {
	m := newMachine(t)
	m.running(spec("w"))
	res := m.step(Command{Verb: SendSignal, Signal: int(syscall.SIGHUP), Workers: []string{"w"}, Actor: "cli uid=0"})
	expect(t, "signal", types(res.Events)+" / "+kinds(res.Effects), "signal_requested / signal")
	e, f := res.Events[0], res.Effects[0]
	if e.Incarnation != 1 || e.Signal != 1 || e.PID != 101 || e.Actor != "cli uid=0" || e.To != 0 {
		t.Errorf("signal_requested %+v", e)
	}
	if f.Inc != 1 || f.Signal != 1 || f.Ref != e.Seq || f.Actor != "cli uid=0" {
		t.Errorf("signal effect %+v, want incarnation 1, SIGHUP, ref %d", f, e.Seq)
	}
	if o := res.Outcomes[0]; o.Err != nil || o.Event != e || o.Verb != SendSignal {
		t.Errorf("outcome %+v", o)
	}
	res = m.step(Signalled{Worker: "w", Inc: 1, PID: 101, Signal: 1, Actor: "cli uid=0", Ref: e.Seq})
	if s := res.Events[0]; s.Type != events.SignalSent || s.Ref != e.Seq || s.Actor != "cli uid=0" || s.Stale {
		t.Errorf("outcome recorded as %+v", s)
	}
	if w := m.st.World.Worker("w"); w.State != events.Running || w.Incarnation != 1 {
		t.Errorf("a signal changed the worker: %+v", w)
	}
}

// The outcome of a signal whose incarnation ended before it could be sent
// is recorded stale: it changed nothing, and reached nothing.
func TestSignalOutcomeAfterTheIncarnationEndedIsStale(t *testing.T) {
	m := newMachine(t)
	sp := spec("w", func(s *Spec) { s.Policy.BackoffInitial, s.Policy.BackoffMax = 0, 0 })
	m.running(sp)
	req := m.step(Command{Verb: SendSignal, Signal: 10, Workers: []string{"w"}, Actor: "op"}).Events[0]
	res := m.step(Exited{Worker: "w", Inc: 1, PID: 101, Exit: Exit{Code: 1, HasCode: true, Desc: "exit status 1"}})
	expect(t, "crash, restarted at once", types(res.Events)+" / "+kinds(res.Effects), "exited restart_scheduled start_requested / spawn")
	res = m.step(Signalled{Worker: "w", Inc: 1, Signal: 10, Actor: "op", Ref: req.Seq, Errno: int(syscall.ESRCH), Err: "incarnation 1 has ended"})
	if s := res.Events[0]; !s.Stale || s.Incarnation != 1 {
		t.Errorf("late outcome %+v, want stale for incarnation 1", s)
	}
}

func TestSignalRefusals(t *testing.T) {
	m := newMachine(t)
	m.running(spec("up"))
	m.step(Load{Specs: []*Spec{spec("up"), spec("down", func(s *Spec) { s.Autostart = false }), spec("new")}, Hash: "c2", Actor: "op"})
	res := m.step(Command{Verb: SendSignal, Signal: 1, Workers: []string{"down", "nope", "new"}, Actor: "op"})
	if len(res.Events) != 0 || len(res.Effects) != 0 {
		t.Errorf("refusals recorded %s / %s", types(res.Events), kinds(res.Effects))
	}
	for i, want := range []error{ErrNotRunning, ErrNoWorker, ErrNotRunning} {
		if !errors.Is(res.Outcomes[i].Err, want) {
			t.Errorf("%s: %v, want %v", res.Outcomes[i].Worker, res.Outcomes[i].Err, want)
		}
	}
	// "new" was added and is Starting: no process yet, nothing to signal.
	if w := m.st.World.Worker("new"); w.State != events.Starting || w.PID != 0 {
		t.Fatalf("new: %+v", w)
	}
	for _, sig := range []int{0, 32, 33, 65, -1} {
		res := m.step(Command{Verb: SendSignal, Signal: sig, Workers: []string{"up"}, Actor: "op"})
		if !errors.Is(res.Outcomes[0].Err, ErrBadSignal) || len(res.Events) != 0 {
			t.Errorf("signal %d: %v, %s", sig, res.Outcomes[0].Err, types(res.Events))
		}
	}
	for _, sig := range []int{9, 19, 34, 64} {
		res := m.step(Command{Verb: SendSignal, Signal: sig, Workers: []string{"up"}, Actor: "op"})
		if res.Outcomes[0].Err != nil {
			t.Errorf("signal %d refused: %v", sig, res.Outcomes[0].Err)
		}
	}
}

// A reload sends the reload_signal, or restarts a worker that has none; it
// never starts a stopped one.
func TestReload(t *testing.T) {
	m := newMachine(t)
	hup := spec("hup", func(s *Spec) { s.ReloadSignal = 1 })
	hup.Digest += "-hup"
	plain := spec("plain")
	off := spec("off", func(s *Spec) { s.Autostart = false })
	m.running(hup, plain)
	m.step(Load{Specs: []*Spec{hup, off, plain}, Hash: "c2", Actor: "op"})
	res := m.step(Command{Verb: Reload, Workers: []string{"hup", "plain", "off"}, Actor: "op"})
	expect(t, "reload", types(res.Events)+" / "+kinds(res.Effects), "signal_requested restart_requested / signal signal timer:stop-timeout")
	if o := res.Outcomes[0]; o.Verb != SendSignal || o.Event.Signal != 1 || o.Err != nil {
		t.Errorf("hup: %+v", o)
	}
	if o := res.Outcomes[1]; o.Verb != Restart || o.Err != nil {
		t.Errorf("plain: %+v", o)
	}
	if o := res.Outcomes[2]; !errors.Is(o.Err, ErrNotRunning) {
		t.Errorf("off: %+v", o)
	}
}

// After a crash, a signal whose decision is durable is not sent again: a
// signal is not idempotent (a second HUP is a second reload), and its
// incarnation may be long gone.
func TestSignalIsNotRepeatedByRecovery(t *testing.T) {
	m := newMachine(t)
	sp := spec("w")
	m.running(sp)
	m.step(Command{Verb: SendSignal, Signal: 1, Workers: []string{"w"}, Actor: "op"})
	m.crash(-1)
	m.step(Load{Specs: []*Spec{sp}, Hash: "c1", Actor: "daemon", First: true})
	res := m.step(Recovered{Workers: map[string]Found{"w": {Inc: 1, Alive: true, PID: 101, StartTicks: 7, BootID: "b"}}})
	expect(t, "recovery", types(res.Events)+" / "+kinds(res.Effects), "adopted / watch monitors")
}
