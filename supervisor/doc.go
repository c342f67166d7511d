// Package supervisor runs workers through tend's event log: it is the one
// place where commands and observations become events, and where durable
// events become actions.
//
// # One path for every change
//
// A command (start, stop, restart, reload) or an observation (a spawn's
// outcome, an exit, a health report, a limit violation, a timer) takes the
// one lock, mu. Under it, and only under it:
//
//  1. the event is judged against the pending world (fsm.World.Decide):
//     an illegal command is refused, a stale observation is marked stale;
//  2. the restart policy (fsm/policy) decides follow-up events, with the
//     jitter drawn here and recorded in the event;
//  3. the events are handed to the store (store.Log.Append), which numbers
//     and chains them and queues them for the next group commit, and are
//     folded into the pending world;
//  4. the batch, with the effects it implies (spawn, signal, timers,
//     monitors), joins the release queue.
//
// Nothing under mu waits: not for the disk, not for a process. The release
// goroutine takes batches in seq order, waits for their commit, folds them
// into the durable world (the one status and queries read), starts their
// effects, and only then answers the caller. An effect therefore never runs
// before its event is durable, and nobody is told of an event the log could
// still lose.
//
// Validation sees the pending world, which includes events queued but not
// yet durable, so that a burst of commands is judged in order without
// holding mu across an fsync. If a commit fails, every event queued after it
// fails too, the pending world is rebuilt from the durable one, and the log
// resumes: no event is ever chained to one that was not written.
//
// # Incarnations
//
// Every process, waiter, monitor and timer belongs to one incarnation of
// one worker and reports with that incarnation's number. Reports about an
// incarnation that has ended are recorded as stale and change nothing; a
// monitor is cancelled with its incarnation's context, and an effect aimed
// at an incarnation that is no longer current does nothing.
//
// # What it may not do
//
// It never holds mu while doing I/O or waiting; it never changes state other
// than by folding an event; it never signals a process except through the
// handle of the incarnation the durable event names.
package supervisor
