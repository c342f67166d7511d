// Package core is where tend decides. Step is one pure function of the
// world (the fold of every event handed to the log), one input (a command,
// an observation, a timer, a configuration load, the findings of recovery)
// and the time: it returns the events to record and the effects to carry
// out once those events are durable.
//
//	Step(state, input, now, rand) → (events, effects)
//
// # The caller's duties
//
// The supervisor is the shell around Step, as raft's node is around
// RawNode. For each input it must:
//
//  1. call Step with the lock held that guards the pending world, so
//     inputs are judged one at a time against everything decided before;
//  2. hand Result.Events to the log in one append, in order, under the same
//     lock (Step has already folded them into the pending world and given
//     them their seqs);
//  3. once the log says they are durable, and only then, carry out
//     Result.Effects: those of one worker in the order given, because a
//     signal must never overtake the spawn it is aimed at;
//  4. report what the effects observed as new inputs (a spawn's outcome,
//     an exit, a signal's result, a timer that fired), each carrying the
//     incarnation it concerns.
//
// If the append or its commit fails, the caller rebuilds the pending world
// from the durable one: nothing Step decided for those events happened.
//
// # What it may not do
//
// It does no I/O, starts no goroutines, reads no clock and draws no random
// number of its own: time and the jitter come in as arguments, so a replay
// of the same inputs decides the same. It never reads anything that is not
// in its arguments: the settings of a worker are found by the digest the
// log recorded for it, so a failed commit, a crash and a replay all see the
// settings the log says are in force.
//
// # After a crash
//
// A flag that records a decision is never read as its outcome. Recovery
// (the Recovered input) redoes every effect whose event is durable but
// whose outcome was never observed: a SIGKILL decided before the crash is
// sent again, a spawn that was never reported is made again, a stopping
// worker gets its stop signal and stop timer again, a hook whose end was
// never recorded runs again while what it is for still stands (hook.go).
// An operator's signal is the exception: it is sent at most once, because
// a second HUP is a second reload; a signal_requested without its
// signal_sent says the daemon died in between.
package core
