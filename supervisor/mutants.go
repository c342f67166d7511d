package supervisor

import (
	"os"
	"runtime"
	"syscall"
)

// The bodies of the deliberately broken variants that proptest/mutants.sh
// builds with failpoints enabled (gofail comments), and of the crash points
// the fault tests enable (cmd/tend, row 1 of the catalogue). A normal build
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
