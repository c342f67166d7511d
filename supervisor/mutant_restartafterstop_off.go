//go:build !tend_mutant_restartafterstop

package supervisor

// mutantRestartAfterStop is true only in the tend_mutant_restartafterstop
// build, which proptest uses to show its properties catch the broken variant.
const mutantRestartAfterStop = false
