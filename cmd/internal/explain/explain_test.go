package explain

import (
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/fsm"
)

// fold judges and folds evs in order, as the daemon does, and returns the
// worker and the events as recorded.
func fold(t *testing.T, evs ...events.Event) (*fsm.Worker, []events.Event) {
	t.Helper()
	w := fsm.NewWorld()
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	var out []events.Event
	for _, e := range evs {
		e.Time = now.Add(time.Duration(len(out)) * time.Second)
		if err := w.Decide(&e); err != nil {
			t.Fatalf("%s: %v", e.Type, err)
		}
		e.Seq = events.Seq(len(out) + 1)
		if err := w.Apply(&e); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return w.Worker("w"), out
}

func TestWhyAFailedPreStartShowsItsOutput(t *testing.T) {
	w, hist := fold(t,
		events.Event{Type: events.WorkerAdded, Worker: "w"},
		events.Event{Type: events.StartRequested, Worker: "w", Actor: "cli uid=0", Cause: "start requested by cli uid=0"},
		events.Event{Type: events.HookStarted, Worker: "w", Incarnation: 1, Details: events.Details{Policy: "pre_start"}},
		events.Event{Type: events.HookExited, Worker: "w", Incarnation: 1, Actor: events.ActorHook,
			Cause:   "pre_start hook of incarnation 1 failed: exit status 3 after 12ms",
			Details: events.Details{Policy: "pre_start", ExitCode: events.IntPtr(3), Ref: 3, Text: "migrating\nno database: \\x1b[31mrefused"}},
	)
	a := Why(w, hist)
	if a.State != "Stopped" || !strings.Contains(a.Summary, "pre_start hook of incarnation 1 failed: exit status 3") {
		t.Errorf("summary: %s", a.Summary)
	}
	if strings.Join(a.Output, "|") != "migrating|no database: \\x1b[31mrefused" || a.OutputOf != "pre_start hook of incarnation 1" {
		t.Errorf("output %q of %q", a.Output, a.OutputOf)
	}
}

func TestWhyNamesTheSignalThatEndedIt(t *testing.T) {
	base := []events.Event{
		{Type: events.WorkerAdded, Worker: "w"},
		{Type: events.StartRequested, Worker: "w"},
		{Type: events.Spawned, Worker: "w", Incarnation: 1, Details: events.Details{PID: 10}},
		{Type: events.Ready, Worker: "w", Incarnation: 1},
		{Type: events.SignalRequested, Worker: "w", Incarnation: 1, Actor: "cli uid=1000", Cause: "SIGKILL requested by cli uid=1000",
			Details: events.Details{Signal: 9, PID: 10}},
	}
	w, hist := fold(t, append(base, events.Event{Type: events.Exited, Worker: "w", Incarnation: 1, Actor: events.ActorProcess,
		Cause: "process signal KILL", Details: events.Details{Signal: 9, PID: 10}})...)
	if a := Why(w, hist); !strings.Contains(a.Summary, "after SIGKILL sent by cli uid=1000") {
		t.Errorf("summary: %s", a.Summary)
	}
	// An exit by another signal is not blamed on it.
	w, hist = fold(t, append(base, events.Event{Type: events.Exited, Worker: "w", Incarnation: 1, Actor: events.ActorProcess,
		Cause: "process signal SEGV", Details: events.Details{Signal: 11, PID: 10}})...)
	if a := Why(w, hist); strings.Contains(a.Summary, "after") {
		t.Errorf("summary: %s", a.Summary)
	}
}

// An incarnation the kernel's OOM killer ended is explained by the kill,
// like a limit policy's.
func TestWhyKernelOOM(t *testing.T) {
	now := time.Now()
	w := &fsm.Worker{Name: "hog", State: events.Stopped, Since: now, Cause: "process signal KILL", Actor: events.ActorProcess,
		Incarnation: 1, LastExit: &fsm.Exit{Incarnation: 1, Signal: 9, At: now, Cause: "process signal KILL"}}
	oom := "the kernel's OOM killer killed 1 process(es) of incarnation 1 in its cgroup at memory_max 64 MiB; which one is not known"
	hist := []events.Event{
		{Seq: 3, Time: now, Type: events.Ready, Worker: "hog", Incarnation: 1, Actor: events.ActorDaemon},
		{Seq: 4, Time: now, Type: events.LimitViolated, Worker: "hog", Incarnation: 1, Actor: events.ActorKernel, Cause: oom},
		{Seq: 5, Time: now, Type: events.Exited, Worker: "hog", Incarnation: 1, Actor: events.ActorProcess, Cause: "process signal KILL"},
	}
	a := Why(w, hist)
	if !strings.Contains(a.Summary, "after an OOM kill by the kernel: "+oom) {
		t.Fatalf("summary: %s", a.Summary)
	}
	found := false
	for _, s := range a.Chain {
		found = found || s.Seq == 4
	}
	if !found {
		t.Fatalf("the OOM kill is not in the chain: %+v", a.Chain)
	}
}
