package core

import (
	"errors"
	"strings"
	"testing"

	"github.com/tendhq/tend/events"
)

// inst is instance i of group, as a configuration makes it.
func inst(group string, i int) *Spec {
	sp := spec(InstanceName(group, i))
	sp.InstanceOf, sp.Instance = group, i
	return sp
}

func insts(group string, n int) []*Spec {
	out := make([]*Spec, n)
	for i := range out {
		out[i] = inst(group, i+1)
	}
	return out
}

// up spawns and readies every Starting worker the last step started.
func (m *machine) up() {
	m.t.Helper()
	for _, name := range m.st.World.Names(false) {
		w := m.st.World.Worker(name)
		if w.State == events.Starting && w.PID == 0 {
			m.step(Spawned{Worker: name, Inc: w.Incarnation, PID: 100 + len(m.log), StartTicks: 7, BootID: "b"})
			m.step(TimerFired{Kind: StartTimeout, Worker: name, Inc: w.Incarnation, Delay: w.Since.Sub(w.Since)})
		}
	}
}

func names(ws []string) string { return strings.Join(ws, " ") }

// TestScaleUpAndDown: a scale is one decision recorded as scaled, with the
// instances it adds started and those it drops stopped, then removed once
// they have stopped; the actor is the operator's.
func TestScaleUpAndDown(t *testing.T) {
	m := newMachine(t)
	m.step(Load{Specs: insts("web", 2), Groups: []Group{{"web", 2}}, Hash: "c1", Actor: "daemon", First: true})
	m.up()
	res := m.step(Scale{Group: "web", Count: 4, Specs: insts("web", 4), Actor: "cli uid=0"})
	expect(t, "scale to 4", types(res.Events), "scaled worker_added worker_added start_requested start_requested")
	expect(t, "added", names(res.Added), "web@3 web@4")
	if e := res.Events[0]; e.Worker != "web" || e.Actor != "cli uid=0" || e.Instances != 4 || e.FileInstances != 2 ||
		e.Cause != "scaled from 2 to 4 instances by cli uid=0" || res.ScaledFrom != 2 {
		t.Errorf("scaled event %+v", e)
	}
	if sc := m.st.World.Scales["web"]; sc.Count != 4 || sc.File != 2 {
		t.Errorf("scales %v", m.st.World.Scales)
	}
	m.up()
	res = m.step(Scale{Group: "web", Count: 1, Specs: insts("web", 1), Actor: "cli uid=0"})
	expect(t, "scale to 1", types(res.Events),
		"scaled worker_changed stop_requested worker_changed stop_requested worker_changed stop_requested")
	expect(t, "removed", names(res.Removed), "web@2 web@3 web@4")
	if e := res.Events[2]; e.Worker != "web@2" || e.Cause != "removed: scaled to 1 by cli uid=0: stopping" {
		t.Errorf("stop %+v", e)
	}
	w := m.st.World.Worker("web@3")
	res = m.step(Exited{Worker: "web@3", Inc: w.Incarnation, PID: w.PID, Exit: Exit{Code: 0, HasCode: true, Desc: "exit status 0"}})
	expect(t, "web@3 stops", types(res.Events)+" / "+kinds(res.Effects), "exited worker_removed / forget")
	// Back up before web@2 has stopped: it starts again once it has.
	res = m.step(Scale{Group: "web", Count: 2, Specs: insts("web", 2), Actor: "cli uid=0"})
	expect(t, "scale to 2 with web@2 stopping", types(res.Events), "scaled worker_changed start_requested")
	// Scaling to 0 is allowed; the group stays, with no instance.
	res = m.step(Scale{Group: "web", Count: 0, Actor: "cli uid=0"})
	if res.Events[0].Type != events.Scaled || len(res.Removed) != 2 {
		t.Errorf("scale to 0: %s, removed %v", types(res.Events), res.Removed)
	}
}

// TestScaleOutlivesTheDaemonUntilTheFileChanges: a runtime scale is in the
// log, so a daemon restart and a reload of the same file keep it; a file
// with another count for the worker ends it, and so does one without the
// worker's instances.
func TestScaleOutlivesTheDaemonUntilTheFileChanges(t *testing.T) {
	m := newMachine(t)
	m.step(Load{Specs: insts("web", 2), Groups: []Group{{"web", 2}}, Hash: "c1", Actor: "daemon", First: true})
	m.up()
	m.step(Scale{Group: "web", Count: 3, Specs: insts("web", 3), Actor: "cli uid=0"})
	m.up()

	m.crash(-1)
	// The daemon offers settings for as many instances as the log's scale.
	res := m.step(Load{Specs: insts("web", 3), Groups: []Group{{"web", 2}}, Hash: "c1", Actor: "daemon", First: true})
	expect(t, "restart with the same file", types(res.Events), "daemon_started config_loaded")
	if m.st.World.Worker("web@3").Removed {
		t.Fatal("the restart undid the scale")
	}
	res = m.step(Load{Specs: insts("web", 3), Groups: []Group{{"web", 2}}, Hash: "c1", Actor: "cli uid=0"})
	expect(t, "reload of the same file", types(res.Events), "config_loaded")

	// A scale judged again after a failed commit is judged the same way.
	res = m.step(Load{Specs: insts("web", 5), Groups: []Group{{"web", 5}}, Hash: "c2", Actor: "cli uid=0"})
	expect(t, "the file now says 5", types(res.Events), "config_loaded scaled worker_added worker_added start_requested start_requested")
	if e := res.Events[1]; e.Instances != 5 || e.FileInstances != 5 || !strings.Contains(e.Cause, "it said 2 when scaled to 3") {
		t.Errorf("end of the scale: %+v", e)
	}
	if len(m.st.World.Scales) != 0 {
		t.Errorf("scales %v", m.st.World.Scales)
	}
	m.up()
	m.step(Scale{Group: "web", Count: 1, Specs: insts("web", 1), Actor: "op"})
	res = m.step(Load{Specs: []*Spec{spec("web")}, Hash: "c3", Actor: "op"})
	if res.Events[1].Type != events.Scaled || res.Events[1].Worker != "web" || res.Events[1].Instances != 0 || len(m.st.World.Scales) != 0 {
		t.Errorf("instances gone from the file: %s %+v", types(res.Events), res.Events[1])
	}
}

func TestScaleRefusals(t *testing.T) {
	m := newMachine(t)
	m.step(Load{Specs: append(insts("web", 1), spec("db")), Groups: []Group{{"web", 1}}, Hash: "c1", Actor: "daemon", First: true})
	for _, in := range []Scale{
		{Group: "db", Count: 2, Specs: insts("db", 2)},
		{Group: "nope", Count: 1, Specs: insts("nope", 1)},
	} {
		if _, err := Step(m.st, in, m.now, nil); !errors.Is(err, ErrNoWorker) {
			t.Errorf("scale of %s: %v", in.Group, err)
		}
	}
	if _, err := Step(m.st, Scale{Group: "web", Count: 3, Specs: insts("web", 2)}, m.now, nil); err == nil {
		t.Error("a scale without the settings of every instance was taken")
	}
	m.step(Shutdown{LeaveRunning: true, Cause: "test"})
	if _, err := Step(m.st, Scale{Group: "web", Count: 2, Specs: insts("web", 2)}, m.now, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("scale while closing: %v", err)
	}
}
