package report

import (
	"testing"

	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/fsm"
)

// A failed hook is a failure on the timeline; one that succeeded is not a
// marker; an operator's signal is an operator's marker.
func TestHookAndSignalMarkers(t *testing.T) {
	w := &fsm.Worker{}
	for _, tc := range []struct {
		e    events.Event
		cat  uint8
		mark bool
	}{
		{events.Event{Type: events.HookExited, Details: events.Details{Policy: "pre_start", ExitCode: events.IntPtr(3)}}, catFailure, true},
		{events.Event{Type: events.HookExited, Details: events.Details{Policy: "post_stop", Signal: 9}}, catFailure, true},
		{events.Event{Type: events.HookExited, Worker: "w", Details: events.Details{Policy: "pre_start", ExitCode: events.IntPtr(0)}}, 0, false},
		{events.Event{Type: events.SignalRequested, Worker: "w", Actor: "cli uid=0", Details: events.Details{Signal: 1}}, catOperator, true},
	} {
		cat, mark := categorize(&tc.e, w)
		if cat != tc.cat || mark != tc.mark {
			t.Errorf("%s %+v: category %d, marker %v; want %d, %v", tc.e.Type, tc.e.Details, cat, mark, tc.cat, tc.mark)
		}
	}
}
