package store

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/tendhq/tend/events"
)

var update = flag.Bool("update", false, "rewrite the fixture named by -fixture with the current code")

var updateWhich = flag.String("fixture", "", "with -update: which fixture to write (v1, v2, v2-notify, v2-scaled, v2-signals); never rewrite one that is committed")

const (
	fixture   = "testdata/v1.tend"
	fixtureV2 = "testdata/v2.tend"
	// fixtureV2Notify is record version 2 with the types added to it
	// later, without a new version byte (notify_failed).
	fixtureV2Notify = "testdata/v2-notify.tend"
	// fixtureV2Scaled: then scaled and the detail tags instances and file
	// instances.
	fixtureV2Scaled = "testdata/v2-scaled.tend"
	// fixtureV2Signals: then signal_requested, hook_started, hook_exited and
	// the detail tag ref.
	fixtureV2Signals = "testdata/v2-signals.tend"
)

// fixtureEvents is the content of testdata/v1.tend: every Type, every
// Details field, daemon-level and worker events. It must never change once
// the fixture is committed: the fixture is what an old tend wrote.
func fixtureEvents() []*events.Event {
	base := time.Date(2026, 1, 2, 3, 4, 5, 600700800, time.UTC)
	var out []*events.Event
	add := func(worker string, typ events.Type, from, to events.State, d events.Details) {
		out = append(out, &events.Event{
			Time: base.Add(time.Duration(len(out)) * 1500 * time.Millisecond), Worker: worker,
			Incarnation: events.Incarnation(len(out)/10 + 1), Type: typ, From: from, To: to,
			Actor: events.ActorDaemon, Cause: "fixture " + typ.String(), Details: d,
		})
	}
	add("", events.DaemonStarted, 0, 0, events.Details{PID: 1, BootID: "0b5e7c9a-boot", Hash: "cfg-1"})
	add("", events.ConfigLoaded, 0, 0, events.Details{Hash: "sha256:abc123"})
	for _, w := range []string{"web", "queue"} {
		add(w, events.WorkerAdded, 0, 0, events.Details{})
		add(w, events.StartRequested, events.Stopped, events.Starting, events.Details{})
		add(w, events.Spawned, 0, 0, events.Details{PID: 4242, StartTicks: 987654321, BootID: "0b5e7c9a-boot",
			EnvNames: []string{"PATH", "PORT"}, Command: []string{"/usr/bin/web", "--port", "8080"}})
		add(w, events.Ready, events.Starting, events.Running, events.Details{})
		add(w, events.HealthFailed, 0, 0, events.Details{Attempt: 3})
		add(w, events.HealthRecovered, 0, 0, events.Details{})
		add(w, events.LimitViolated, 0, 0, events.Details{Resource: "memory", Measured: 5.5e8, Limit: 5e8, Policy: "restart"})
		add(w, events.StopRequested, events.Running, events.Stopping, events.Details{})
		add(w, events.SignalSent, 0, 0, events.Details{Signal: 15})
		add(w, events.KillSent, 0, 0, events.Details{Signal: 9})
		add(w, events.Exited, events.Stopping, events.Killed, events.Details{PID: 4242, Signal: 9})
		add(w, events.RestartScheduled, 0, 0, events.Details{Delay: 1500 * time.Millisecond, Attempt: 2, Policy: "on-failure"})
		add(w, events.RestartRequested, 0, 0, events.Details{})
		add(w, events.SpawnFailed, events.Starting, events.Stopped, events.Details{Errno: 2})
		add(w, events.Exited, events.Running, events.Stopped, events.Details{PID: 4243, ExitCode: events.IntPtr(-1)})
		add(w, events.Exited, events.Running, events.Stopped, events.Details{PID: 4244, ExitCode: events.IntPtr(0)})
		add(w, events.BreakerOpened, 0, 0, events.Details{Attempt: 5})
		add(w, events.BreakerClosed, 0, 0, events.Details{})
		add(w, events.RestartCancelled, 0, 0, events.Details{})
		add(w, events.StrayFound, 0, 0, events.Details{PID: 5000})
	}
	add("web", events.CommandRefused, 0, 0, events.Details{})
	add("web", events.Adopted, 0, 0, events.Details{PID: 4245, StartTicks: 11})
	add("queue", events.Lost, 0, 0, events.Details{PID: 4246})
	add("queue", events.Exited, 0, 0, events.Details{PID: 1, ExitCode: events.IntPtr(3)})
	out[len(out)-1].Stale = true
	add("queue", events.WorkerRemoved, 0, 0, events.Details{})
	add("", events.DaemonStopping, 0, 0, events.Details{})
	out[len(out)-1].Actor = "cli uid=1000"
	return out
}

// fixtureEventsV2 is the content of testdata/v2.tend: v1's events, then
// the types version 2 added.
func fixtureEventsV2() []*events.Event {
	out := fixtureEvents()
	next := func(worker string, typ events.Type, from, to events.State, d events.Details) {
		last := out[len(out)-1]
		out = append(out, &events.Event{Time: last.Time.Add(time.Second), Worker: worker, Incarnation: 9, Type: typ,
			From: from, To: to, Actor: events.ActorDaemon, Cause: "fixture " + typ.String(), Details: d})
	}
	next("web", events.WorkerChanged, 0, 0, events.Details{Hash: "hmac-sha256:00ff"})
	next("web", events.WorkerChanged, 0, 0, events.Details{})
	next("web", events.LeaderExited, events.Running, events.Stopping, events.Details{PID: 4300, ExitCode: events.IntPtr(1), Attempt: 2})
	next("api", events.Waiting, 0, 0, events.Details{Policy: "start"})
	next("web", events.Notified, 0, 0, events.Details{Policy: "STATUS", Text: "accepting connections"})
	next("web", events.NotReady, events.Starting, events.Stopping, events.Details{Delay: 90e9})
	next("cron", events.RunSkipped, 0, 0, events.Details{Planned: time.Date(2026, 1, 2, 3, 5, 0, 0, time.UTC)})
	return out
}

func TestFixtureV2(t *testing.T) {
	checkFixture(t, "v2", fixtureV2, fixtureEventsV2(), events.RunSkipped, func(e events.Event, w *events.Event) bool {
		return !(e.Type != w.Type || e.From != w.From || e.To != w.To || e.Hash != w.Hash || e.Attempt != w.Attempt || e.Cause != w.Cause || e.Text != w.Text || !e.Planned.Equal(w.Planned) || e.Policy != w.Policy || e.Delay != w.Delay || e.Instances != w.Instances || e.FileInstances != w.FileInstances)
	})
}

// fixtureEventsV2Notify is the content of testdata/v2-notify.tend: v2's
// events, then the types added to version 2 since.
func fixtureEventsV2Notify() []*events.Event {
	out := fixtureEventsV2()
	last := out[len(out)-1]
	out = append(out, &events.Event{Time: last.Time.Add(time.Second), Type: events.NotifyFailed, Actor: events.ActorAlert,
		Cause:   `alert "ops" about seq 14 (breaker_opened of web) not delivered after 5 attempts: HTTP 503`,
		Details: events.Details{Attempt: 5, Policy: "ops"}})
	return out
}

func TestFixtureV2Notify(t *testing.T) {
	checkFixture(t, "v2-notify", fixtureV2Notify, fixtureEventsV2Notify(), events.NotifyFailed, func(e events.Event, w *events.Event) bool {
		return !(e.Type != w.Type || e.Worker != w.Worker || e.Attempt != w.Attempt || e.Policy != w.Policy || e.Cause != w.Cause || e.Actor != w.Actor)
	})
}

// fixtureEventsV2Scaled is the content of testdata/v2-scaled.tend:
// v2-notify's events, then scaled, with the detail tags instances (18) and
// file instances (19).
func fixtureEventsV2Scaled() []*events.Event {
	out := fixtureEventsV2Notify()
	last := out[len(out)-1]
	out = append(out, &events.Event{Time: last.Time.Add(time.Second), Worker: "pool", Incarnation: 9, Type: events.Scaled,
		Actor: "cli uid=0", Cause: "fixture scaled", Details: events.Details{Instances: 6, FileInstances: 4}})
	return out
}

func TestFixtureV2Scaled(t *testing.T) {
	checkFixture(t, "v2-scaled", fixtureV2Scaled, fixtureEventsV2Scaled(), events.Scaled, func(e events.Event, w *events.Event) bool {
		return !(e.Type != w.Type || e.Worker != w.Worker || e.Cause != w.Cause || e.Actor != w.Actor || e.Instances != w.Instances || e.FileInstances != w.FileInstances)
	})
}

// fixtureEventsV2Signals is the content of testdata/v2-signals.tend:
// v2-scaled's events, then an operator's signal and a failed hook, with
// the detail tag ref (20) tying each outcome to its request.
func fixtureEventsV2Signals() []*events.Event {
	out := fixtureEventsV2Scaled()
	next := func(worker string, typ events.Type, from, to events.State, d events.Details) {
		last := out[len(out)-1]
		out = append(out, &events.Event{Time: last.Time.Add(time.Second), Worker: worker, Incarnation: 10, Type: typ,
			From: from, To: to, Actor: "cli uid=0", Cause: "fixture " + typ.String(), Details: d})
	}
	next("web", events.SignalRequested, 0, 0, events.Details{Signal: 1, PID: 4400})
	next("web", events.SignalSent, 0, 0, events.Details{Signal: 1, PID: 4400, Ref: events.Seq(len(out))})
	next("web", events.HookStarted, 0, 0, events.Details{Policy: "pre_start", Delay: 30e9})
	next("web", events.HookExited, events.Starting, events.Stopped, events.Details{Policy: "pre_start", ExitCode: events.IntPtr(3),
		Delay: 12e6, Text: "migrating\\nfailed: \\x1b[31mno database", Command: []string{"/srv/migrate"}, Ref: events.Seq(len(out))})
	return out
}

func TestFixtureV2Signals(t *testing.T) {
	checkFixture(t, "v2-signals", fixtureV2Signals, fixtureEventsV2Signals(), 0, func(e events.Event, w *events.Event) bool {
		return !(e.Type != w.Type || e.Worker != w.Worker || e.Cause != w.Cause || e.Actor != w.Actor || e.Ref != w.Ref || e.Text != w.Text || e.Signal != w.Signal || e.Policy != w.Policy || e.Delay != w.Delay)
	})
}

// checkFixture checks a committed log of version 2 against the events it
// was written from: it verifies, and holds each event as same judges it.
// Every type up to upTo (every type when 0) must be in it: a type added
// later goes into a new fixture, never into a committed one. -update
// -fixture which writes it again.
func checkFixture(t *testing.T, which, path string, evs []*events.Event, upTo events.Type, same func(got events.Event, want *events.Event) bool) {
	t.Helper()
	if *update && *updateWhich == which {
		writeFixture(t, path, evs)
	}
	seen := map[events.Type]bool{}
	for _, e := range evs {
		seen[e.Type] = true
	}
	for _, typ := range events.Types() {
		if (upTo == 0 || typ <= upTo) && !seen[typ] {
			t.Errorf("fixture %s lacks type %v (add it with a new fixture, never by editing a committed one)", which, typ)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (generate with: go test ./store -run TestFixture -args -update -fixture %s)", err, which)
	}
	cp := filepath.Join(t.TempDir(), which+".tend")
	os.WriteFile(cp, data, 0o600)
	l := openT(t, cp, Options{ReadOnly: true})
	mustVerify(t, l)
	var got []events.Event
	if err := l.Scan(1, 0, func(e *events.Event) error { got = append(got, *e); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(evs) {
		t.Fatalf("fixture %s has %d events, want %d", which, len(got), len(evs))
	}
	for i, e := range got {
		if !same(e, evs[i]) {
			t.Errorf("seq %d = %+v, want %+v", i+1, e, *evs[i])
		}
	}
}

func writeFixture(t *testing.T, path string, evs []*events.Event) {
	os.MkdirAll("testdata", 0o755)
	os.Remove(path)
	l, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(evs); i += 7 { // several commits, as a daemon makes
		if err := l.AppendWait(evs[i:min(i+7, len(evs))]...); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.SaveSnapshot(events.Seq(len(evs)), []byte("fixture state")); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestFixtureV1(t *testing.T) {
	evs := fixtureEvents()
	if *update && *updateWhich == "v1" {
		os.MkdirAll("testdata", 0o755)
		os.Remove(fixture)
		l, err := Open(fixture, Options{})
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < len(evs); i += 7 { // several commits, as a daemon makes
			if err := l.AppendWait(evs[i:min(i+7, len(evs))]...); err != nil {
				t.Fatal(err)
			}
		}
		if err := l.SaveSnapshot(events.Seq(len(evs)), []byte("fixture state")); err != nil {
			t.Fatal(err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	// Types every fixture must cover, so a new Type shows up here. The v1
	// fixture covers every type up to stray_found; later types come with a
	// later fixture.
	seen := map[events.Type]bool{}
	for _, e := range evs {
		seen[e.Type] = true
	}
	for _, typ := range events.Types() {
		if typ <= events.StrayFound && !seen[typ] {
			t.Errorf("fixture lacks type %v (add it with a new fixture, never by editing v1)", typ)
		}
	}

	// Read a copy: the committed fixture is never opened for writing.
	data, err := os.ReadFile(fixture)
	if err != nil {
		t.Fatalf("%v (generate with: go test ./store -run TestFixtureV1 -args -update)", err)
	}
	cp := filepath.Join(t.TempDir(), "v1.tend")
	os.WriteFile(cp, data, 0o600)
	l := openT(t, cp, Options{ReadOnly: true})
	if l.LastSeq() != events.Seq(len(evs)) {
		t.Fatalf("fixture has %d events, want %d", l.LastSeq(), len(evs))
	}
	mustVerify(t, l)

	var got []events.Event
	if err := l.Scan(1, 0, func(e *events.Event) error { got = append(got, *e); return nil }); err != nil {
		t.Fatal(err)
	}
	for i, e := range got {
		w := evs[i]
		if e.Seq != events.Seq(i+1) || !e.Time.Equal(w.Time) || e.Worker != w.Worker || e.Type != w.Type ||
			e.From != w.From || e.To != w.To || e.Stale != w.Stale || e.Actor != w.Actor || e.Cause != w.Cause ||
			e.Incarnation != w.Incarnation || e.PID != w.PID || e.Signal != w.Signal || e.Errno != w.Errno ||
			e.Resource != w.Resource || e.Measured != w.Measured || e.Limit != w.Limit || e.Delay != w.Delay ||
			e.Attempt != w.Attempt || e.Policy != w.Policy || e.Hash != w.Hash || e.StartTicks != w.StartTicks ||
			e.BootID != w.BootID || !slices.Equal(e.EnvNames, w.EnvNames) || !slices.Equal(e.Command, w.Command) ||
			(e.ExitCode == nil) != (w.ExitCode == nil) || (e.ExitCode != nil && *e.ExitCode != *w.ExitCode) {
			t.Errorf("seq %d = %+v, want %+v", i+1, e, *w)
		}
	}
	// A few facts spelled out, so a reader of this test sees the format hold.
	spawn := got[4]
	if spawn.Type != events.Spawned || spawn.Worker != "web" || spawn.PID != 4242 || spawn.StartTicks != 987654321 ||
		!slices.Equal(spawn.Command, []string{"/usr/bin/web", "--port", "8080"}) || !slices.Equal(spawn.EnvNames, []string{"PATH", "PORT"}) {
		t.Errorf("seq 5 = %+v", spawn)
	}
	if e := got[16]; e.Type != events.Exited || *e.ExitCode != -1 || e.From != events.Running || e.To != events.Stopped {
		t.Errorf("seq 17 = %+v", e)
	}
	if e := got[8]; e.Resource != "memory" || e.Measured != 5.5e8 || e.Limit != 5e8 || e.Policy != "restart" {
		t.Errorf("seq 9 = %+v", e)
	}
	if e := got[len(got)-1]; e.Actor != "cli uid=1000" || e.Type != events.DaemonStopping {
		t.Errorf("last = %+v", e)
	}
	if !got[len(got)-3].Stale {
		t.Error("stale flag lost")
	}
	if !got[0].Time.Equal(time.Date(2026, 1, 2, 3, 4, 5, 600700800, time.UTC)) {
		t.Errorf("time %v", got[0].Time)
	}
	if seq, snap, err := l.LoadSnapshot(); err != nil || seq != events.Seq(len(evs)) || string(snap) != "fixture state" {
		t.Errorf("snapshot %d %q %v", seq, snap, err)
	}
	if tail, err := l.WorkerTail("queue", 2); err != nil || len(tail) != 2 || tail[1].Type != events.WorkerRemoved {
		t.Errorf("WorkerTail queue: %+v %v", tail, err)
	}
}
