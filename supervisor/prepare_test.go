package supervisor

import (
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/tendhq/tend/events"
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
