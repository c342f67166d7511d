package core

import "github.com/tendhq/tend/events"

// The bodies of the deliberately broken variants that proptest/mutants.sh
// builds with failpoints enabled (gofail comments). A normal build never
// calls them: the failpoints are comments.

// mutantSignalAgain signals again for a stop that changes no state.
func (d *decision) mutantSignalAgain(e *events.Event, sp *Spec) {
	if e.Type == events.StopRequested && e.To == 0 && !e.Stale {
		d.effect(Effect{Kind: Signal, Worker: e.Worker, Inc: e.Incarnation, Signal: sp.StopSignal})
	}
}
