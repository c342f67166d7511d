package fsm

import (
	"context"
	"errors"
	"fmt"

	looplab "github.com/looplab/fsm"

	"github.com/tendhq/tend/events"
)

// Transition names: the events of the transition table. Most are an
// events.Type's name; the two "_killed" variants exist because the table
// cannot look at flags, and an exit after SIGKILL lands in Killed.
const (
	TrStart       = "start"        // start_requested, restart_requested from a stopped worker
	TrStop        = "stop"         // stop_requested, restart_requested from a live worker
	TrKill        = "kill"         // killed (SIGKILL) from a live worker that was not stopping
	TrSpawnFailed = "spawn_failed" // fork/exec failed
	TrReady       = "running"      // start timeout passed
	TrExit        = "exit"         // exited, lost
	TrExitKilled  = "exit_killed"  // exited or lost after SIGKILL was sent
)

// Table is the worker state machine, defined once. Everything else (Next,
// the fold, the diagram in the package doc) is derived from it.
func Table() looplab.Events {
	s := func(states ...events.State) []string {
		out := make([]string, len(states))
		for i, st := range states {
			out[i] = st.String()
		}
		return out
	}
	const (
		stopped  = events.Stopped
		starting = events.Starting
		running  = events.Running
		stopping = events.Stopping
		killed   = events.Killed
	)
	return looplab.Events{
		{Name: TrStart, Src: s(stopped, killed), Dst: starting.String()},
		{Name: TrStop, Src: s(starting, running), Dst: stopping.String()},
		{Name: TrKill, Src: s(starting, running), Dst: stopping.String()},
		{Name: TrSpawnFailed, Src: s(starting, stopping), Dst: stopped.String()},
		{Name: TrReady, Src: s(starting), Dst: running.String()},
		{Name: TrExit, Src: s(starting, running, stopping), Dst: stopped.String()},
		{Name: TrExitKilled, Src: s(stopping), Dst: killed.String()},
	}
}

type edge struct {
	from events.State
	tr   string
}

// transitions is the table flattened to a map by asking looplab itself, so
// the map cannot disagree with the table. Built once at init, never written.
var transitions = func() map[edge]events.State {
	m := make(map[edge]events.State)
	table := Table()
	for _, from := range events.States() {
		for _, ev := range table {
			f := looplab.NewFSM(from.String(), table, nil)
			if !f.Can(ev.Name) {
				continue
			}
			if err := f.Event(context.Background(), ev.Name); err != nil {
				var nt looplab.NoTransitionError
				if !errors.As(err, &nt) {
					panic(fmt.Sprintf("fsm: table: %s from %s: %v", ev.Name, from, err))
				}
			}
			to, err := events.ParseState(f.Current())
			if err != nil {
				panic(fmt.Sprintf("fsm: table names unknown state: %v", err))
			}
			m[edge{from, ev.Name}] = to
		}
	}
	return m
}()

// Next is the pure transition function: the state after tr from from, or an
// *IllegalError naming the transition.
func Next(from events.State, tr string) (events.State, error) {
	if to, ok := transitions[edge{from, tr}]; ok {
		return to, nil
	}
	return 0, &IllegalError{From: from, Transition: tr}
}

// Transitions lists every transition name in the table.
func Transitions() []string {
	return []string{TrStart, TrStop, TrKill, TrSpawnFailed, TrReady, TrExit, TrExitKilled}
}

// IllegalError says that an event cannot happen to a worker in its state.
// Commands get it back as their answer; in replay it means the log does not
// describe a possible history.
type IllegalError struct {
	Worker     string
	From       events.State
	Transition string
	Type       events.Type
	Seq        events.Seq
	Reason     string
}

func (e *IllegalError) Error() string {
	msg := "fsm: "
	if e.Seq != 0 {
		msg += fmt.Sprintf("seq %d: ", e.Seq)
	}
	if e.Worker != "" {
		msg += fmt.Sprintf("worker %q: ", e.Worker)
	}
	what := e.Transition
	if e.Type != 0 {
		what = e.Type.String()
	}
	msg += fmt.Sprintf("%s is not possible in state %s", what, e.From)
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	return msg
}

// ErrIllegal matches every *IllegalError with errors.Is.
var ErrIllegal = errors.New("fsm: illegal transition")

func (e *IllegalError) Is(target error) bool { return target == ErrIllegal }
