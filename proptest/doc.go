// Package proptest holds tend's property-based tests: generated batches of
// concurrent commands and observations run against the real supervisor
// over a real event log and a fake OS (processes, clock, health prober,
// resource watcher, disk), and checked against a deliberately simple model
// of the workers. It has no API; nothing imports it.
//
// The fake OS's processes belong to it, not to a daemon: a daemon holds
// them through handles, and when it crashes they run on, to be adopted by
// the next one (by pid, start time and boot, never the pid alone), to die
// while none watches, or to fork children that leave their group and take
// a pid a dead process freed. The rig can fail the disk under the
// supervisor (store.Options.Fault), which stops it at that commit
// (fail-stop) as a crash would, and can kill the daemon at a point rapid
// draws: from that instant none of its effects happens and none of its
// commits reaches the disk, so events can be durable whose effects never
// ran; the next daemon is started on the log. The model then judges each recovery against what the
// OS held: what it adopted, found lost, spawned again or killed as a stray.
//
// Properties: TestSupervisorModel (everything, with disk failures, daemon
// restarts, crashes and reloads), TestCrashBetweenEventAndEffect,
// TestRaceStopVsLimitKill, TestRaceStartStopHealth, TestRaceTwoStops,
// TestRaceEverything, TestRaceSignalVsRestart, and TestRealProcesses (the
// first over real processes). Start-up order has properties of its own,
// over workers that depend on each other (order_test.go), judged by
// folding the log rather than by the model: TestStartOrder (a new
// incarnation begins only when each requirement holds), TestStopOrder (a
// live requirement's stop waits for the ends of what depends on it, a
// shutdown goes in reverse order) and TestFailedRequirement (a requirement
// that cannot come up keeps its dependents Stopped and waiting, the wait
// naming it); cmd/internal/config's TestDependencyCyclesRefused holds that
// a cycle is refused at load. `make proptest-mutants` (proptest/mutants.sh)
// runs the broken variants (gofail failpoints in fsm/, supervisor/,
// supervisor/core/ and cmd/internal/config/) each property must catch;
// `make test` runs a few checks of every property, `make proptest`
// thousands. PROPTEST_VERBOSE=1 prints the details of every violation to
// stderr, also of those rapid cannot replay, and where every goroutine
// stands when a batch does not finish.
//
// The model found three bugs, now fixed and kept as regressions: an
// operator's stop of a worker whose breaker was open did not keep the
// breaker's cooldown from starting it again; a restart the policy scheduled
// (or a breaker cooldown) before a daemon restart was never re-armed by the
// next daemon; a removed worker added back started again at incarnation 1,
// so a late report about its earlier life could pass as current. Recovery
// inside the model found four more: an escapee carrying an unrecorded
// spawn's markers was adopted in its place and the worker killed as a
// stray; a reload whose commit failed left the worker it changed without
// settings; an adopted Starting worker with no start timeout stayed
// Starting; an observation found moot by events whose commit then failed
// was lost (a scheduled restart never happened). The start-up order
// properties found one: a dependent that recovery stopped because its
// requirement was found lost (on_restart = stop) was sent its stop signal
// twice, once with that stop and again as a worker found stopping.
package proptest
