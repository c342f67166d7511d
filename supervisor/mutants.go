package supervisor

import (
	"os"
	"runtime"
	"syscall"

	"github.com/tendhq/tend/supervisor/proc"
)

// The bodies of the deliberately broken variants that proptest/mutants.sh
// builds with failpoints enabled (gofail comments), and of the crash points
// the fault tests enable (cmd/tendd, row 1 of the catalogue). A normal build
// never calls them: the failpoints are comments.

// crashHere is the daemon dying on the spot, as SIGKILL or the OOM killer
// would end it: no deferred call, no recovered panic (net/http recovers a
// handler's), no flush.
func crashHere() {
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {}
}

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
