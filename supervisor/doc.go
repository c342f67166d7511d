// Package supervisor runs workers through tend's event log. It is the shell
// around core.Step (supervisor/core), where every decision is made; this
// package only holds the lock, runs the commit pipeline and carries out
// effects, as raft's node does around its RawNode.
//
// # Reading it top-down
//
//	commands.go  the command layer every front end calls: Do (start, stop,
//	             restart, signal, reload on one or many workers), Load,
//	             Shutdown, Refused; observe, through which the OS edges and
//	             timers report.
//	commit.go    step: decide and append under the one lock; the release
//	             loop: in seq order, once durable, fold into the durable
//	             world, start the effects, answer the caller; what a failed
//	             commit undoes.
//	exec.go      the executor: per-worker effect queues, spawn, the waiter
//	             that owns each incarnation's exit, signals, timers,
//	             monitors.
//	hook.go      hooks: spawned like their worker, output tail kept,
//	             killed with their group on timeout, cancel and close.
//	recover.go   what recovery gathers from the OS before its one decision.
//	view.go      what status and queries read: the durable world.
//	spec.go      a worker's full settings and the OS edges' interfaces.
//
// Following one exit: the waiter (exec.go wait) reports core.Exited (or
// core.LeaderExited first, when something of the incarnation remains);
// step (commit.go) hands it to core.Step, which records the end and decides
// what follows in one place (core/exit.go afterEnd); the release loop
// dispatches the resulting effects (exec.go) once they are durable.
//
// # What it may not do
//
// It never decides: what follows any input is core.Step's answer. It never
// holds its lock while doing I/O, waiting, logging or encoding; it never
// changes state other than by folding an event; it never signals a process
// except through the handle of the incarnation the durable event names.
// Effects never run before their events are durable, and nobody is told of
// an event the log could still lose.
//
// # Incarnations
//
// Every process, waiter, monitor and timer belongs to one incarnation of
// one worker and reports with that incarnation's number. Reports about an
// incarnation that has ended are recorded as stale and change nothing; a
// monitor is cancelled with its incarnation's context, and an effect aimed
// at an incarnation that is no longer current does nothing.
package supervisor
