// Package proptest holds tend's property-based tests: generated batches of
// concurrent commands and observations run against the real supervisor
// over a real event log and a fake process layer (processes, clock, health
// prober, resource watcher), and checked against a deliberately simple
// model of the workers. It has no API; nothing imports it.
//
// Properties: TestSupervisorModel (everything, with daemon restarts and
// reloads), TestRaceStopVsLimitKill, TestRaceStartStopHealth,
// TestRaceTwoStops, TestRaceEverything, and TestRealProcesses (the first
// over real processes). `make proptest-mutants` (proptest/mutants.sh) runs
// the broken variants (build tags tend_mutant_*) each property must catch;
// `make test` runs a few checks of every property, `make proptest` thousands.
//
// The model found three bugs, now fixed and kept as regressions: an
// operator's stop of a worker whose breaker was open did not keep the
// breaker's cooldown from starting it again; a restart the policy scheduled
// (or a breaker cooldown) before a daemon restart was never re-armed by the
// next daemon; a removed worker added back started again at incarnation 1,
// so a late report about its earlier life could pass as current.
package proptest
