package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tendhq/tend/cmd/internal/cli"
	"github.com/tendhq/tend/events"
)

// stop --all is one command: one request, one decision, one commit, one
// answer. Its events are consecutive in the log and share one time, the
// time of the decision; and a name that does not exist is refused without
// refusing the others.
func TestStopAllIsOneCommand(t *testing.T) {
	const n = 60
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "[worker.w%02d]\ncommand = %s\nstart_timeout = \"0s\"\n\n", i, helperCmd("hang"))
	}
	e := newEnv(t, b.String())
	e.startDaemon()
	for i := range n {
		e.waitStatus(fmt.Sprintf("w%02d", i), "running", running)
	}
	out := e.mustTend("stop", "--all")
	if got := strings.Count(out, ": Stopped"); got != n {
		t.Fatalf("stop --all answered %d workers Stopped, want %d:\n%s", got, n, out)
	}
	var stops []events.JSON
	for i := range n {
		for _, ev := range e.history(fmt.Sprintf("w%02d", i)) {
			if ev.Type == "stop_requested" {
				stops = append(stops, ev)
			}
		}
	}
	if len(stops) != n {
		t.Fatalf("%d stop_requested events, want %d", len(stops), n)
	}
	first, last := stops[0].Seq, stops[0].Seq
	for _, ev := range stops {
		first, last = min(first, ev.Seq), max(last, ev.Seq)
		if ev.Time != stops[0].Time {
			t.Fatalf("stop of %s at %s, of %s at %s: not one decision", ev.Worker, ev.Time, stops[0].Worker, stops[0].Time)
		}
	}
	if int(last-first)+1 != n {
		t.Fatalf("the stops span seq %d..%d: not one decision", first, last)
	}

	_, errOut, code := e.tend("start", "w00", "nope", "w01")
	if code != cli.ExitNoWorker || !strings.Contains(errOut, `nope`) {
		t.Fatalf("start w00 nope w01: exit %d, stderr %s", code, errOut)
	}
	for _, w := range []string{"w00", "w01"} {
		e.waitStatus(w, "running again", running)
	}
}

// A bad --since or --until is a usage error (exit 2) naming the flag,
// in every command that takes one, before any log is opened.
func TestBadTimeFlagIsAUsageError(t *testing.T) {
	e := newEnv(t, "")
	for _, args := range [][]string{
		{"history", "w", "--since", "yesterdayish"},
		{"events", "--since", "yesterdayish"},
		{"analyze", "--since", "yesterdayish"},
		{"report", "-o", filepath.Join(e.dir, "r.html"), "--since", "yesterdayish"},
		{"report", "-o", filepath.Join(e.dir, "r.html"), "--until", "yesterdayish"},
	} {
		flag := args[len(args)-2]
		_, errs, code := e.tend(args...)
		if code != 2 || !strings.Contains(errs, flag+":") {
			t.Errorf("tend %s: exit %d, stderr %q; want 2 and an error naming %s", strings.Join(args, " "), code, errs, flag)
		}
	}
}
