package supervisor

import "runtime"

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
