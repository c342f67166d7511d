//go:build tend_mutant_signalagain

package supervisor

import "github.com/tendhq/tend/events"

// mutantSignalAgain sends the stop signal again for a stop that changes no
// state (one that cancels a pending restart of a stopping worker).
func mutantSignalAgain(t *txn, e *events.Event, spec *WorkerSpec) {
	if e.Type == events.StopRequested && e.To == 0 && !e.Stale {
		t.effect(effect{kind: effSignal, worker: e.Worker, inc: e.Incarnation, sig: spec.StopSignal})
	}
}
