package core

import (
	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/fsm"
)

// The bodies of the deliberately broken variants that proptest/mutants.sh
// builds with failpoints enabled (gofail comments). A normal build never
// calls them: the failpoints are comments.

// mutantSignalAgain signals again for a stop that changes no state.
func (d *decision) mutantSignalAgain(e *events.Event, sp *Spec) {
	if e.Type == events.StopRequested && e.To == 0 && !e.Stale {
		d.effect(Effect{Kind: Signal, Worker: e.Worker, Inc: e.Incarnation, Signal: sp.StopSignal})
	}
}

// mutantKillNotResent carries on an adopted stopping worker whose SIGKILL
// was decided as if the kill had been sent: its stop signal and stop
// timeout again, no SIGKILL. It reports whether it decided for w.
func (d *decision) mutantKillNotResent(name string, inc events.Incarnation, w *fsm.Worker, sp *Spec) bool {
	if w.State != events.Stopping || !w.Flags.KillSent {
		return false
	}
	sig, timeout := stopParams(w, sp)
	d.stopEffects(name, inc, sig, timeout, d.now)
	return true
}
