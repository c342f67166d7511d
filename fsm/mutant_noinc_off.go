//go:build !tend_mutant_noinc

package fsm

// mutantNoIncarnationCheck is true only in the tend_mutant_noinc build,
// which proptest uses to show its properties catch the broken variant.
const mutantNoIncarnationCheck = false
