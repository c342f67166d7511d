package supervisor

import (
	"runtime"

	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/supervisor/proc"
)

// The bodies of the deliberately broken variants that proptest/mutants.sh
// builds with failpoints enabled (gofail comments). A normal build never
// calls them: the failpoints are comments.

// mutantUnlockedGap drops the one lock between deciding and recording.
func (s *Supervisor) mutantUnlockedGap() {
	s.mu.Unlock()
	runtime.Gosched()
	s.mu.Lock()
}

// mutantEarly runs a batch's effects before its commit.
func (s *Supervisor) mutantEarly(effs []effect) []effect {
	for _, f := range effs {
		s.ex.dispatch(f)
	}
	return nil
}

// mutantKeepSpecs keeps, in the pending world rebuilt after a failed
// commit, the settings digests (and removals) the failed batches tried to
// record.
func (s *Supervisor) mutantKeepSpecs(failed []*batch) {
	for _, b := range failed {
		for _, e := range b.res.Events {
			w := s.st.World.Worker(e.Worker)
			if w == nil || e.Stale || e.Type != events.WorkerChanged {
				continue
			}
			if e.Hash == "" {
				w.Removing = true
			} else {
				w.Spec, w.Removing = e.Hash, false
			}
		}
	}
}

// mutantByPID recognises a process by its pid alone: whatever process of
// this daemon now holds the pid the log recorded is taken for it, whatever
// its start time.
func (s *Supervisor) mutantByPID(ad Adopter, id proc.Identity) proc.Identity {
	marked, _ := ad.FindMarked(s.cfg.Instance)
	for _, m := range marked {
		if m.Identity.PID == id.PID {
			return m.Identity
		}
	}
	return id
}
