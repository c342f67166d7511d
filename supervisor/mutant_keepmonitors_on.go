//go:build tend_mutant_keepmonitors

package supervisor

// mutantCancel forgets to end the incarnation's monitors.
func mutantCancel(func()) {}
