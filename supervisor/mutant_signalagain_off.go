//go:build !tend_mutant_signalagain

package supervisor

import "github.com/tendhq/tend/events"

// mutantSignalAgain does nothing; the tend_mutant_signalagain build signals
// again, which proptest uses to show its properties catch the broken variant.
func mutantSignalAgain(*txn, *events.Event, *WorkerSpec) {}
