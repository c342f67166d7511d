//go:build !tend_mutant_early

package supervisor

// mutantEarlyEffects returns effs; the tend_mutant_early build runs them
// before the commit, which proptest uses to show its properties catch the
// broken variant.
func mutantEarlyEffects(_ *Supervisor, effs []effect) []effect { return effs }
