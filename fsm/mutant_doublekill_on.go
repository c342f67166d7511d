//go:build tend_mutant_doublekill

package fsm

// mutantDoubleKill: a second SIGKILL of a stopping incarnation is not stale.
const mutantDoubleKill = true
