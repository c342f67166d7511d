package supervisor

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/fsm"
	"github.com/tendhq/tend/fsm/policy"
	"github.com/tendhq/tend/supervisor/envfile"
	"github.com/tendhq/tend/supervisor/proc"
	"github.com/tendhq/tend/supervisor/proc/proctest"
)

// recordingPreparer is the real spawner, noting what it was asked to prepare.
type recordingPreparer struct {
	ProcSpawner
	mu       sync.Mutex
	prepared []string
}

func (p *recordingPreparer) Prepare(spec proc.Spec) error {
	p.mu.Lock()
	p.prepared = append(p.prepared, spec.Worker)
	p.mu.Unlock()
	return p.ProcSpawner.Prepare(spec)
}

func (p *recordingPreparer) names() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.prepared)
}

// A load makes the output files of exactly the workers it starts, in the
// order it starts them, and only those.
func TestLoadPreparesOutputOfStartedWorkers(t *testing.T) {
	var rp *recordingPreparer
	dir := t.TempDir()
	mk := func(name string, autostart bool) *WorkerSpec {
		s := spec(name, proctest.Command("hang"))
		s.Autostart = autostart
		s.Stdout = filepath.Join(dir, "logs", name+".out")
		s.Stderr = filepath.Join(dir, "logs", name+".err")
		return s
	}
	r := newRigWith(t, func(c *Config) {
		rp = &recordingPreparer{ProcSpawner: c.Spawner.(ProcSpawner)}
		c.Spawner = rp
	}, mk("b", true), mk("a", true), mk("idle", false))
	r.waitState("a", events.Running)
	r.waitState("b", events.Running)
	if got := rp.names(); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("prepared %v, want [a b]: the started workers, in start order", got)
	}
	for _, name := range []string{"a.out", "a.err", "b.out", "b.err"} {
		if _, err := os.Stat(filepath.Join(dir, "logs", name)); err != nil {
			t.Errorf("output file of a started worker: %v", err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "logs", "idle.out")); !os.IsNotExist(err) {
		t.Errorf("a worker that does not start got an output file (%v)", err)
	}
}

// A respawn's output file and cgroup are made while the decision to make
// it commits, and nothing runs before that decision is durable: with the
// commit held, incarnation 2's cgroup and output file exist and none of
// its processes does; once the commit goes through, incarnation 2 runs in
// that very cgroup.
func TestRespawnIsStagedWhileItCommits(t *testing.T) {
	dir := t.TempDir()
	sp := spec("w", []string{"/bin/sh", "-c", "echo $TEND_INCARNATION >> " + filepath.Join(dir, "ran") + "; exec sleep 1000"})
	sp.Policy.Restart = policy.Always
	sp.Policy.BackoffInitial = 0 // the respawn is decided with the exit, as the peer harness configures it
	sp.Stdout = filepath.Join(dir, "w.out")
	r := newCgroupRig(t, sp)
	w := r.waitState("w", events.Running)
	if err := os.Remove(sp.Stdout); err != nil {
		t.Fatal(err)
	}
	group := filepath.Join(r.tree.Info().Dir, "w.2")
	release := r.holdCommits()
	if err := syscall.Kill(w.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, gerr := os.Stat(group)
		_, oerr := os.Stat(sp.Stdout)
		if gerr == nil && oerr == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("incarnation 2 not staged while its decision commits: cgroup %v, output %v", gerr, oerr)
		}
		time.Sleep(time.Millisecond)
	}
	var before syscall.Stat_t
	if err := syscall.Stat(group, &before); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if b, _ := os.ReadFile(filepath.Join(dir, "ran")); string(b) != "1\n" {
		t.Fatalf("incarnations run before the respawn is durable: %q", b)
	}
	if procs, _ := os.ReadFile(filepath.Join(group, "cgroup.procs")); len(procs) != 0 {
		t.Fatalf("processes in incarnation 2's cgroup before its decision is durable: %q", procs)
	}
	release()
	w = r.waitFor("w", "running incarnation 2", func(w *fsm.Worker) bool {
		return w.State == events.Running && w.Incarnation == 2
	})
	var after syscall.Stat_t
	if err := syscall.Stat(group, &after); err != nil || after.Ino != before.Ino {
		t.Fatalf("incarnation 2 did not run in the staged cgroup (%v)", err)
	}
	procs, _ := os.ReadFile(filepath.Join(group, "cgroup.procs"))
	if !strings.Contains(string(procs), strconv.Itoa(w.PID)) {
		t.Fatalf("incarnation 2 (pid %d) is not in its staged cgroup: %q", w.PID, procs)
	}
}

// slowStager is the real spawner, whose Stage takes a while and notes when
// it ended, and whose Start notes when it began.
type slowStager struct {
	ProcSpawner
	mu         sync.Mutex
	stagedAt   map[uint64]time.Time // by incarnation: Stage returned
	startingAt map[uint64]time.Time // by incarnation: Start began
}

func (p *slowStager) Stage(spec proc.Spec) {
	time.Sleep(100 * time.Millisecond)
	p.ProcSpawner.Stage(spec)
	p.mu.Lock()
	p.stagedAt[spec.Incarnation] = time.Now()
	p.mu.Unlock()
}

func (p *slowStager) Start(spec proc.Spec) (Process, error) {
	p.mu.Lock()
	p.startingAt[spec.Incarnation] = time.Now()
	p.mu.Unlock()
	return p.ProcSpawner.Start(spec)
}

// A respawn's spawn waits for its staging, however long that takes: a
// Stage that ended after the Start of its incarnation began would make
// again the group that holds the new process (and freeze it for a moment;
// for good, when the daemon died in that moment).
func TestRespawnWaitsForItsStaging(t *testing.T) {
	var ss *slowStager
	sp := spec("w", []string{"/bin/sleep", "1000"})
	sp.Policy.Restart = policy.Always
	sp.Policy.BackoffInitial = 0
	r := newRigWith(t, func(c *Config) {
		ss = &slowStager{ProcSpawner: c.Spawner.(ProcSpawner), stagedAt: map[uint64]time.Time{}, startingAt: map[uint64]time.Time{}}
		c.Spawner = ss
	}, sp)
	w := r.waitState("w", events.Running)
	if err := syscall.Kill(w.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	r.waitFor("w", "running incarnation 2", func(w *fsm.Worker) bool {
		return w.State == events.Running && w.Incarnation == 2
	})
	ss.mu.Lock()
	staged, started := ss.stagedAt[2], ss.startingAt[2]
	ss.mu.Unlock()
	if staged.IsZero() || started.Before(staged) {
		t.Fatalf("incarnation 2's Start began at %s, before its Stage ended at %s", started.Format("15:04:05.000000"), staged.Format("15:04:05.000000"))
	}
}

// A respawn that fails before its fork (its env_file is gone) undoes what
// was staged for it: no empty cgroup waits for a spawn that will not come.
func TestRespawnThatFailsUndoesItsStaging(t *testing.T) {
	dir := t.TempDir()
	env := filepath.Join(dir, "env")
	if err := os.WriteFile(env, []byte("A=1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sp := spec("w", []string{"/bin/sleep", "1000"})
	sp.EnvFiles = []envfile.File{{Path: env}}
	sp.Stdout = filepath.Join(dir, "w.out")
	sp.Policy.Restart = policy.Always
	sp.Policy.BackoffInitial = 0
	// One restart in the window, then the breaker: no incarnation 3,
	// whose staging would undo incarnation 2's as well.
	sp.Policy.BreakerMax = 1
	r := newCgroupRig(t, sp)
	w := r.waitState("w", events.Running)
	if err := os.Remove(env); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(w.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	r.waitEvent("w", "incarnation 2's spawn failed", func(e *events.Event) bool {
		return e.Type == events.SpawnFailed && e.Incarnation == 2
	})
	if n := count(r.history("w"), events.Spawned, false); n != 1 {
		t.Fatalf("%d spawns, want only incarnation 1's", n)
	}
	group := filepath.Join(r.tree.Info().Dir, "w.2")
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := os.Stat(group)
		if errors.Is(err, fs.ErrNotExist) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("incarnation 2 failed before its fork and its staged cgroup is left: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := os.Stat(filepath.Join(r.tree.Info().Dir, "w.3")); err == nil {
		t.Fatal("incarnation 3 was staged: the test no longer isolates incarnation 2's")
	}
}
