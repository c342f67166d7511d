package query

import (
	"github.com/tendhq/tend/cmd/internal/client"
	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/fsm"
)

// WorkerStatus converts the fold's view of a worker into the line of
// `tend status` the control API answers with.
func WorkerStatus(w *fsm.Worker) client.WorkerStatus {
	group, _, _ := events.SplitInstance(w.Name)
	s := client.WorkerStatus{
		Name: w.Name, Group: group, State: w.State.String(), PID: w.PID, Incarnation: uint64(w.Incarnation),
		Restarts: w.Restarts, Since: w.Since, Cause: w.Cause, Actor: w.Actor, Health: w.Health,
		BreakerOpen: w.Policy.BreakerOpen,
	}
	if w.Policy.Pending {
		due := w.Policy.Due
		s.RestartDue = &due
	}
	if w.Waiting != "" {
		since := w.WaitSince
		s.Waiting, s.WaitingFor, s.WaitingSince = w.Waiting, w.WaitCause, &since
	}
	s.StatusText = w.Status
	if x := w.LastExit; x != nil {
		s.LastExit = &client.ExitInfo{Incarnation: uint64(x.Incarnation), Code: x.Code, Lost: x.Lost, At: x.At, Cause: x.Cause}
		if x.Signal != 0 {
			s.LastExit.Signal = events.SignalName(x.Signal)
		}
	}
	return s
}
