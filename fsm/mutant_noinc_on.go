//go:build tend_mutant_noinc

package fsm

// mutantNoIncarnationCheck: observations are judged without their
// incarnation, so a report about an ended incarnation changes state.
const mutantNoIncarnationCheck = true
