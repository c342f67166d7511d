//go:build !tend_mutant_keepmonitors

package supervisor

// mutantCancel calls cancel; the tend_mutant_keepmonitors build does not,
// which proptest uses to show its properties catch the broken variant.
func mutantCancel(cancel func()) { cancel() }
