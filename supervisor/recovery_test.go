package supervisor

import (
	"errors"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/fsm"
	"github.com/tendhq/tend/fsm/policy"
	"github.com/tendhq/tend/store"
	"github.com/tendhq/tend/supervisor/core"
	"github.com/tendhq/tend/supervisor/proc"
	"github.com/tendhq/tend/supervisor/proc/proctest"
)

// crash ends the daemon as a SIGKILL would: nothing is stopped, nothing
// more is written, the workers run on.
func (r *rig) crash() {
	r.sup.Close()
	r.stopSmp()
	r.spawner.Close()
	if err := r.log.Close(); err != nil {
		r.t.Fatal(err)
	}
	r.sup = nil
}

// noKill is a process that never receives SIGKILL: the daemon died
// between recording "killed" and sending it.
type noKill struct{ Process }

func (p noKill) Signal(sig syscall.Signal) error {
	if sig == syscall.SIGKILL {
		return nil
	}
	return p.Process.Signal(sig)
}

func (p noKill) SignalStrays(sig syscall.Signal) (int, error) {
	if sig == syscall.SIGKILL {
		return 0, nil
	}
	return p.Process.SignalStrays(sig)
}

// A SIGKILL decided but never sent before a crash is sent after it. The
// log's "killed" records that it was decided, not that it was delivered.
func TestKillDecidedBeforeCrashIsSentAfter(t *testing.T) {
	s := spec("stubborn", proctest.Command("ignore-sigterm"))
	s.StopTimeout = 100 * time.Millisecond
	r := newRigWith(t, nil)
	r.adjust = func(c *Config) {
		c.Spawner = wrapping{ProcSpawner{r.spawner}, func(p Process) Process { return noKill{p} }}
	}
	r.crash()
	r.open()
	r.load(s)
	w := r.waitState("stubborn", events.Running)
	waitIgnoring(t, w.PID, syscall.SIGTERM)
	if _, err := r.sup.Stop(bg, "stubborn", "cli uid=0"); err != nil {
		t.Fatal(err)
	}
	r.waitFor("stubborn", "SIGKILL decided", func(w *fsm.Worker) bool { return w.Flags.KillSent })
	time.Sleep(100 * time.Millisecond)
	if !alive(w.PID) {
		t.Fatal("the kill was not lost: the test cannot tell")
	}
	r.crash()
	r.adjust = nil
	r.open()
	r.load(s)
	end := r.waitState("stubborn", events.Killed)
	if alive(w.PID) {
		t.Fatalf("pid %d still alive after recovery; worker %+v", w.PID, end)
	}
}

// A start decided before a crash, whose spawn never happened, is spawned
// after it, as the same incarnation. The first daemon is core.Step alone:
// it decides and records the start, and dies before any effect runs.
func TestSpawnDecidedBeforeCrashIsMadeAfter(t *testing.T) {
	s := spec("w", proctest.Command("hang"))
	s.Hash = s.SpecHash()
	r := &rig{t: t, dir: t.TempDir()}
	l, err := store.Open(filepath.Join(r.dir, "tend.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := core.Step(core.NewState(fsm.NewWorld()), core.Load{Specs: []*core.Spec{s.core()}, Hash: "test-config", Actor: "test", First: true},
		time.Now(), func() float64 { return 0.5 })
	if err != nil {
		t.Fatal(err)
	}
	if err := l.AppendWait(res.Events...); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	r.open()
	t.Cleanup(r.finish)
	r.load(s)
	w := r.waitState("w", events.Running)
	if w.Incarnation != 1 || w.PID == 0 {
		t.Fatalf("after recovery: %+v, want incarnation 1 running", w)
	}
	if n := count(r.history("w"), events.Lost, false); n != 0 {
		t.Fatalf("%d lost events: an unmade spawn is made, not lost", n)
	}
}

// Row 7 of the fault catalogue (cmd/tendd/fault_catalogue_test.go), at the
// supervisor: a commit that fails at any point halts it. The caller gets
// the disk error; nothing more is recorded or done, even once the disk
// works again (an exit goes unrecorded and is not acted on); the workers
// keep running. A new supervisor on the file read back adopts them and
// finds the one that died meanwhile. The failed reload is in the log whole
// (it reached the disk before the error) or not at all, and retried, it
// ends the same.
func TestFault_R07_FailedCommitHalts(t *testing.T) {
	for _, at := range []store.FaultPoint{store.FaultBeforeWrite, store.FaultBeforeSync, store.FaultAfterSync} {
		t.Run(at.String(), func(t *testing.T) {
			a, b := spec("a", proctest.Command("hang")), spec("b", proctest.Command("hang"))
			b.Autostart = false
			d := spec("d", proctest.Command("hang"))
			d.Policy.Restart = policy.Always
			r := newRig(t, a, b, d)
			before := r.waitState("a", events.Running)
			victim := r.waitState("d", events.Running)
			a2 := spec("a", proctest.Command("hang"))
			a2.Env = map[string]string{"CHANGED": "1"}
			a2.Hash = a2.SpecHash()
			eio := errors.New("input/output error (injected)")
			r.fault.Store(&injected{at: at, err: eio})
			_, err := r.sup.Load(bg, []*WorkerSpec{a2, d}, "c2", "test")
			if !errors.Is(err, store.ErrFailed) || !errors.Is(err, eio) {
				t.Fatalf("a reload whose commit failed: %v, want the disk error wrapped in store.ErrFailed", err)
			}
			select {
			case <-r.sup.Halted():
			case <-time.After(5 * time.Second):
				t.Fatal("the supervisor did not halt")
			}
			r.fault.Store(nil) // the disk works again: still nothing is recorded
			seq := r.log.LastSeq()
			if _, err := r.sup.Stop(bg, "a", "cli uid=0"); !errors.Is(err, store.ErrFailed) {
				t.Fatalf("a command after the failure: %v", err)
			}
			if err := syscall.Kill(victim.PID, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			time.Sleep(300 * time.Millisecond) // the exit is seen, and not recorded
			if got := r.log.LastSeq(); got != seq {
				t.Fatalf("the log moved from seq %d to %d after it failed", seq, got)
			}
			if !alive(before.PID) {
				t.Fatal("a worker died with the failed log")
			}
			if w, _ := r.sup.Worker("d"); w.PID != victim.PID || w.State != events.Running {
				t.Fatalf("d after the failure: %+v (an unrecorded exit changed the view)", w)
			}
			if r.sup.LogFailure() == "" {
				t.Fatal("LogFailure is empty")
			}

			r.crash()
			r.open()
			r.load(a, d) // the daemon's start, on the configuration it had
			if _, err := r.sup.Load(bg, []*WorkerSpec{a2, d}, "c2", "test"); err != nil {
				t.Fatal(err)
			}
			if w := r.waitState("d", events.Running); w.PID == victim.PID {
				t.Fatalf("d: %+v, want a new incarnation after it was found lost", w)
			}
			if n := count(r.history("d"), events.Lost, false); n != 1 {
				t.Fatalf("d: %d lost events, want 1", n)
			}
			after := r.waitFor("a", "restarted with the new settings", func(w *fsm.Worker) bool {
				return w.State == events.Running && w.Incarnation > before.Incarnation
			})
			if got := r.sup.Spec("a"); got == nil || got.Env["CHANGED"] != "1" {
				t.Fatalf("a runs incarnation %d with settings %+v", after.Incarnation, got)
			}
			if alive(before.PID) {
				t.Fatalf("a's old process %d outlived its restart", before.PID)
			}
			if _, err := r.sup.Worker("b"); !errors.Is(err, ErrNoWorker) {
				t.Fatalf("b after its removal: %v", err)
			}
		})
	}
}

// The log writes its worker index in a transaction of its own, after the
// events. When that write fails, the log fails, and the supervisor halts at
// the first decision the log then refuses, as after a failed commit of
// events: it never goes on deciding on a world the log does not hold. A new
// supervisor on the file read back adopts the workers.
func TestFault_R07_FailedIndexHalts(t *testing.T) {
	specs := []*WorkerSpec{spec("a", proctest.Command("hang")), spec("b", proctest.Command("hang"))}
	r := &rig{t: t, dir: t.TempDir(), indexLag: 1}
	r.open()
	r.load(specs...)
	t.Cleanup(r.finish)
	a := r.waitState("a", events.Running)
	r.waitState("b", events.Running)
	eio := errors.New("input/output error (injected)")
	r.fault.Store(&injected{at: store.FaultIndex, err: eio})
	// More events than the lag wait for the index: b's stop and its end
	// (which the failed log may no longer take).
	if _, err := r.sup.Stop(bg, "b", "cli uid=0"); err != nil && !errors.Is(err, store.ErrFailed) {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for r.log.Failed() == nil {
		if time.Now().After(deadline) {
			t.Fatalf("the log did not fail with its index at seq %d", r.log.LastSeq())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := r.sup.Stop(bg, "a", "cli uid=0"); !errors.Is(err, store.ErrFailed) || !errors.Is(err, eio) {
		t.Fatalf("a command after the index failed: %v, want the disk error wrapped in store.ErrFailed", err)
	}
	select {
	case <-r.sup.Halted():
	case <-time.After(5 * time.Second):
		t.Fatal("the supervisor did not halt when its log failed")
	}
	if err := r.sup.HaltErr(); !errors.Is(err, store.ErrFailed) || !errors.Is(err, eio) {
		t.Fatalf("HaltErr %v", err)
	}
	r.fault.Store(nil)
	r.crash()
	r.open()
	r.load(specs...)
	if w := r.waitState("a", events.Running); w.PID != a.PID {
		t.Fatalf("a after the failed index: %+v, want its process %d adopted", w, a.PID)
	}
}

// unrecordedSpawn is a spawner after whose spawn the disk fails: the
// process runs and the log never learns its pid, as when a daemon dies
// between a spawn and the record of it.
type unrecordedSpawn struct {
	ProcSpawner
	r    *rig
	main *atomic.Int64
}

func (s unrecordedSpawn) Start(spec proc.Spec) (Process, error) {
	p, err := s.ProcSpawner.Start(spec)
	if err == nil {
		s.main.Store(int64(p.PID()))
		s.r.fault.Store(&injected{at: store.FaultBeforeWrite, err: errors.New("no space left on device (injected)")})
	}
	return p, err
}

// A process the log never learned of is found after a crash, and adopted,
// never an escapee of it in a session of its own that carries the same
// markers.
func TestUnrecordedSpawnIsAdoptedNotItsEscapee(t *testing.T) {
	s := spec("w", proctest.Command("escape"))
	s.Hash = s.SpecHash()
	r := newRigWith(t, nil)
	var main atomic.Int64
	r.adjust = func(c *Config) { c.Spawner = unrecordedSpawn{ProcSpawner{r.spawner}, r, &main} }
	r.crash()
	r.open()
	// The spawn's record fails, and with it the supervisor (fail-stop):
	// the process runs, unknown to the log.
	_, _ = r.sup.Load(bg, []*WorkerSpec{s}, "test-config", "test")
	select {
	case <-r.sup.Halted():
	case <-time.After(10 * time.Second):
		t.Fatal("the failed record of the spawn did not stop the supervisor")
	}
	var marked []proc.Marked
	for deadline := time.Now().Add(10 * time.Second); len(marked) < 2 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		marked, _ = proc.FindMarked(filepath.Join(r.dir, "tend.db"))
	}
	if len(marked) != 2 || main.Load() == 0 {
		t.Fatalf("marked processes %+v, spawned pid %d: want the worker and its escapee", marked, main.Load())
	}
	pid, escapee := int(main.Load()), 0
	for _, m := range marked {
		if m.Identity.PID != pid {
			escapee = m.Identity.PID
		}
	}
	if w, _ := r.sup.Worker("w"); w.PID != 0 {
		t.Fatalf("the log learned pid %d: the test cannot tell", w.PID)
	}
	r.crash()
	r.fault.Store(nil)
	r.adjust = nil
	r.open()
	r.load(s)
	w := r.waitState("w", events.Running)
	if w.Incarnation != 1 || w.PID != pid {
		t.Fatalf("recovery adopted pid %d as incarnation %d; the worker's process is %d, its escapee %d", w.PID, w.Incarnation, pid, escapee)
	}
	if !alive(pid) {
		t.Fatalf("the worker's process %d was killed", pid)
	}
	// The escapee, in a session of its own, is not tend's to judge without
	// cgroups (its markers prove nothing); it is ended here.
	_ = syscall.Kill(escapee, syscall.SIGKILL)
	for deadline := time.Now().Add(5 * time.Second); alive(escapee) && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
	}
}
