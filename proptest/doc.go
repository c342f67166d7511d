// Package proptest holds tend's property-based tests: generated batches of
// concurrent commands and observations run against the real supervisor
// over a real event log and a fake process layer (processes, clock, health
// prober, resource watcher), and checked against a deliberately simple
// model of the workers. It has no API; nothing imports it.
//
// Properties: TestSupervisorModel (everything, with daemon restarts and
// reloads), TestRaceStopVsLimitKill, TestRaceStartStopHealth,
// TestRaceTwoStops, TestRaceEverything, and TestRealProcesses (the first
// over real processes). proptest/mutants.sh runs the broken variants
// (build tags tend_mutant_*) each property must catch; proptest.mk has the
// quick, deep and mutant targets.
//
// Known bugs, checked only with TEND_PROPTEST_KNOWN_BUGS=1. An operator's
// stop of a worker whose breaker is open is recorded as stale and the
// breaker's cooldown still starts it: an explicit stop followed by an
// automatic restart. A restart the
// policy scheduled (or a breaker cooldown) before a daemon restart is kept
// in the log's state but never re-armed by the next daemon, so the worker
// stays down. Reloads in these tests never re-add a removed worker: a
// re-added worker starts again at incarnation 1.
package proptest
