//go:build tend_mutant_restartafterstop

package supervisor

// mutantRestartAfterStop: the restart policy ignores an explicit stop.
const mutantRestartAfterStop = true
