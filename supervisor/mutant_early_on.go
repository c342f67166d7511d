//go:build tend_mutant_early

package supervisor

// mutantEarlyEffects runs a batch's effects before its commit.
func mutantEarlyEffects(s *Supervisor, effs []effect) []effect {
	for _, f := range effs {
		s.dispatch(f)
	}
	return nil
}
