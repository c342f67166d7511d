package explain

import (
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/fsm"
)

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
