// Package fsm is tend's worker state machine and the fold that turns a log of
// events into the state of every worker.
//
// The transition table is defined once, in Table, as a looplab/fsm table.
// looplab is used only as that table: no callbacks, no contexts from callers,
// no I/O (its callbacks re-enter its locks and deadlock). Next, Decide and
// Apply are derived from it.
//
// The package is pure: it does no I/O, starts no goroutines, never reads the
// clock and never draws a random number. Time arrives inside events. It
// imports only tend's events package (and its own policy sub-package is
// imported by the supervisor, not by this one).
//
// # One fold, live and in replay
//
// World.Apply is the only way state changes. The daemon applies each event
// to its live World after the event is durable; replay applies the same
// events from the log to a fresh World. Because both run the same function
// over the same events, what the daemon reports and what a replay of its log
// reports cannot drift.
//
// Decide judges a proposed event without changing anything: it fills in the
// transition (From, To), the incarnation concerned, and whether the event is
// stale. Apply re-judges each event and refuses one whose recorded judgement
// the table would not give, so a replay also proves every transition legal.
//
// # Incarnations
//
// Each start creates a new incarnation. An observation (spawned, exited,
// health, limits, ...) names the incarnation it is about; one about an older
// incarnation is recorded with Stale set and changes nothing. An observation
// that has been overtaken (a start timeout firing after a stop) is stale too.
// Neither is an error: they are the normal results of slow work racing.
//
// # Transitions
//
// Killed means the supervisor sent SIGKILL (stop timeout or a kill policy)
// and the process then exited. Events that record facts without changing
// state (spawned, signal_sent, health_failed, limit_violated,
// restart_scheduled, ...) are not in the table.
//
//	stateDiagram-v2
//	    [*] --> Stopped
//	    Killed --> Starting: start
//	    Running --> Stopped: exit
//	    Running --> Stopping: kill
//	    Running --> Stopping: stop
//	    Starting --> Stopped: exit
//	    Starting --> Stopping: kill
//	    Starting --> Running: running
//	    Starting --> Stopped: spawn_failed
//	    Starting --> Stopping: stop
//	    Stopped --> Starting: start
//	    Stopping --> Stopped: exit
//	    Stopping --> Killed: exit_killed
//	    Stopping --> Stopped: spawn_failed
//
// The diagram is Mermaid, generated from Table; a test fails if it and the
// table disagree.
package fsm
