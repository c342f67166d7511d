//go:build !tend_mutant_doublekill

package fsm

// mutantDoubleKill is true only in the tend_mutant_doublekill build, which
// proptest uses to show its properties catch the broken variant.
const mutantDoubleKill = false
