package supervisor

import (
	"runtime"
	"testing"

	"github.com/tendhq/tend/events"
)

// A running worker holds no goroutine of its own: its exit is waited for
// by the spawner's one exit watch, and a goroutine starts only when it
// exits.
func TestIdleWorkersHoldNoGoroutine(t *testing.T) {
	const n = 100
	var specs []*WorkerSpec
	for i := range n {
		specs = append(specs, spec("w"+itoa(i), []string{"/bin/sleep", "1000"}))
	}
	r := newRig(t, specs...)
	for i := range n {
		r.waitState("w"+itoa(i), events.Running)
	}
	before := runtime.NumGoroutine()
	// Without the exit watch's callback, each of these would park one.
	if before > n {
		t.Fatalf("%d goroutines with %d idle workers: one each, or more", before, n)
	}
	r.finish()
}
