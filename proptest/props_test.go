package proptest

import (
	"flag"
	"os"
	"testing"

	"go.uber.org/goleak"
	"pgregory.net/rapid"

	"github.com/tendhq/tend/supervisor/limits"
	"github.com/tendhq/tend/supervisor/proc/proctest"
)

// Quick by default: `make test` runs every property a few times. The deep
// pass asks for more with RAPID_CHECKS (or -rapid.checks); -short divides
// the checks by five, as rapid always does.
const (
	quickChecks = "8"
	quickSteps  = "6"
)

func TestMain(m *testing.M) {
	proctest.Main()
	flag.Parse()
	given := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { given[f.Name] = true })
	if !given["rapid.checks"] && os.Getenv("RAPID_CHECKS") == "" {
		_ = flag.Set("rapid.checks", quickChecks)
	}
	if !given["rapid.steps"] && os.Getenv("RAPID_STEPS") == "" {
		_ = flag.Set("rapid.steps", quickSteps)
	}
	goleak.VerifyTestMain(m)
}

var everything = []opKind{opStart, opStop, opRestart, opExit, opExitSignal, opHealthFail, opHealthOK,
	opViolation, opStaleViolation, opAdvance, opReload, opFailSpawn, opSignal, opDiskFail, opDiskRepair, opDiskGlitch}

// reloadFamily may restrict which configurations one check reloads; every
// family is allowed now that a removed worker can come back (its
// incarnations keep counting), so it draws the choice and restricts nothing.
func reloadFamily(t *rapid.T) map[string]string {
	_ = rapid.Bool().Draw(t, "reloads remove c")
	return nil
}

func fixReloads(progs [][]op, family map[string]string) {
	for _, p := range progs {
		for i := range p {
			if c, ok := family[p[i].cfg]; ok && p[i].kind == opReload {
				p[i].cfg = c
			}
		}
	}
}

// TestSupervisorModel: batches of every operation, from up to four
// goroutines at once, with daemon restarts in between; after each, every
// invariant (rig.check) holds.
func TestSupervisorModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) { modelProperty(t, false) })
}

// TestRealProcesses is the same property over real processes (the test
// binary re-executed by supervisor/proc), so the fakes' contract is
// checked against the real thing. Process exits are real signals sent from
// outside.
func TestRealProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("real processes: not in -short")
	}
	rapid.Check(t, func(t *rapid.T) { modelProperty(t, true) })
}

func modelProperty(t *rapid.T, real bool) {
	r := newRig(t, real)
	t.Cleanup(r.abandon)
	family := reloadFamily(t)
	maxG, maxOps := 4, 4
	if real {
		maxG, maxOps = 3, 3
	}
	t.Repeat(map[string]func(*rapid.T){
		"batch": func(t *rapid.T) {
			if rapid.SampledFrom([]bool{false, false, false, true}).Draw(t, "the disk fails between batches") {
				r.story = append(r.story, "the disk fails")
				r.fos.breakDisk()
			}
			progs := progsGen(everything, workerNames, maxG, maxOps).Draw(t, "batch")
			fixReloads(progs, family)
			r.step(t, progs)
		},
		"daemon restart": func(t *rapid.T) {
			kind := rapid.SampledFrom([]string{restartGraceful, restartLeave, restartCrash}).Draw(t, "restart")
			if kind == restartCrash {
				r.crashStep(t, []string{deathNow, deathAtEffect, deathAtCommit}, progsGen(everything, workerNames, maxG, maxOps))
				return
			}
			r.results, r.from, r.faulty = nil, r.sup.Seq(), false
			probs := r.restartDaemon(t, kind)
			if len(probs) == 0 {
				probs = r.check()
			}
			r.verdict(t, probs)
		},
		"": func(*rapid.T) {},
	})
	r.verdict(t, r.finish())
}

// one is a program of a single operation.
func one(k opKind, w string) []op { return []op{{kind: k, w: w}} }

func kill(w string) []op {
	return []op{{kind: opViolation, w: w, pol: limits.PolicyKill}}
}

// extras draws up to n more goroutines of the given kinds on w, each with
// one or two operations; violations use policy pol.
func extras(t *rapid.T, kinds []opKind, w string, n int, pol limits.Policy) [][]op {
	progs := rapid.SliceOfN(rapid.SliceOfN(opGen(kinds, []string{w}), 1, 2), 0, n).Draw(t, "extra goroutines")
	for _, p := range progs {
		for i := range p {
			if p[i].kind == opViolation || p[i].kind == opStaleViolation {
				p[i].pol = pol
			}
		}
	}
	return progs
}

// raceProperty brings w up, then runs the race drawn by race, then lets
// time pass so that whatever the race left stopping finishes.
func raceProperty(t *testing.T, workers []string, race func(t *rapid.T, w string) [][]op) {
	rapid.Check(t, func(t *rapid.T) {
		r := newRig(t, false)
		t.Cleanup(r.abandon)
		t.Repeat(map[string]func(*rapid.T){
			"race": func(t *rapid.T) {
				w := rapid.SampledFrom(workers).Draw(t, "worker")
				r.step(t, [][]op{one(opStart, w)})
				r.step(t, race(t, w))
				r.step(t, [][]op{{{kind: opAdvance, d: stopTimeout}}})
			},
			"": func(*rapid.T) {},
		})
		r.verdict(t, r.finish())
	})
}

// TestRaceStopVsLimitKill: an operator's stop racing the SIGKILL of a kill
// policy (more kills, late kills and the stop timeout join in). At most one
// stop signal and one SIGKILL reach the process; the state ends Stopped or
// Killed as the log says.
func TestRaceStopVsLimitKill(t *testing.T) {
	raceProperty(t, []string{"a", "b"}, func(t *rapid.T, w string) [][]op {
		progs := [][]op{one(opStop, w), kill(w)}
		return append(progs, extras(t, []opKind{opViolation, opStaleViolation, opStop, opAdvance, opExitSignal}, w, 2, limits.PolicyKill)...)
	})
}

// TestRaceStartStopHealth: starts and stops racing each other while health
// checks run and fail. No monitor of an ended incarnation survives; at
// most one runs per worker.
func TestRaceStartStopHealth(t *testing.T) {
	raceProperty(t, workerNames, func(t *rapid.T, w string) [][]op {
		progs := [][]op{{{kind: opStop, w: w}, {kind: opStart, w: w}}, {{kind: opStart, w: w}, {kind: opStop, w: w}}, one(opHealthFail, w)}
		return append(progs, extras(t, []opKind{opStart, opStop, opHealthFail, opHealthOK, opExit, opAdvance}, w, 2, limits.PolicyLog)...)
	})
}

// TestRaceTwoStops: an operator's stop and a health-triggered restart (a
// second stop) at once. The process gets one stop signal, nothing is
// signalled after its exit was handled, and the operator's stop wins: no
// restart follows.
func TestRaceTwoStops(t *testing.T) {
	raceProperty(t, []string{"a", "b"}, func(t *rapid.T, w string) [][]op {
		progs := [][]op{one(opStop, w), one(opHealthFail, w)}
		return append(progs, extras(t, []opKind{opStop, opHealthFail, opExit}, w, 1, limits.PolicyLog)...)
	})
}

// TestRaceEverything: start, stop, restart, a health failure and a kill
// violation on one worker at once, plus late reports of ended
// incarnations. The state stays consistent with the log and the model.
func TestRaceEverything(t *testing.T) {
	raceProperty(t, workerNames, func(t *rapid.T, w string) [][]op {
		progs := [][]op{one(opStart, w), one(opStop, w), one(opRestart, w), one(opHealthFail, w), kill(w)}
		return append(progs, extras(t, []opKind{opStaleViolation, opExit, opAdvance, opRestart}, w, 2, limits.PolicyKill)...)
	})
}

// crashKinds are what a batch the daemon dies in does to its worker: each
// decides an effect (spawn, stop signal, SIGKILL) or lets one come due.
var crashKinds = []opKind{opStart, opStop, opRestart, opViolation, opAdvance, opExit}

// TestCrashBetweenEventAndEffect: a worker is brought up (and perhaps
// stopped); then, in a batch of operations on it, the daemon dies at a
// point rapid draws (at its n-th spawn, stop signal or SIGKILL, or at a
// commit), so events are durable whose effects never ran; while no daemon
// runs, processes may die, or fork children that leave their group and
// take a freed pid. After the next daemon's recovery every invariant
// holds: what recovery records is what the OS held, no worker runs twice,
// and no spawn, stop or SIGKILL decided is forgotten (a stopping worker
// whose kill was decided ends Killed).
func TestCrashBetweenEventAndEffect(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		r := newRig(t, false)
		t.Cleanup(r.abandon)
		t.Repeat(map[string]func(*rapid.T){
			"crash": func(t *rapid.T) {
				// b, whose stops end in SIGKILL, as often as the others.
				w := rapid.SampledFrom([]string{"a", "b", "b", "c"}).Draw(t, "worker")
				lead := []op{{kind: opStart, w: w}}
				if rapid.Bool().Draw(t, "stopping when the batch begins") {
					lead = append(lead, op{kind: opStop, w: w})
				}
				r.step(t, [][]op{lead})
				batch := rapid.Custom(func(t *rapid.T) [][]op {
					progs := rapid.SliceOfN(rapid.SliceOfN(opGen(crashKinds, []string{w}), 1, 3), 1, 2).Draw(t, "goroutines")
					for _, p := range progs {
						for i := range p {
							p[i].pol = limits.PolicyKill
						}
					}
					return progs
				})
				r.crashStep(t, []string{deathAtEffect, deathAtCommit}, batch)
				r.step(t, [][]op{{{kind: opAdvance, d: stopTimeout}}})
			},
			"": func(*rapid.T) {},
		})
		r.verdict(t, r.finish())
	})
}

// TestRaceSignalVsRestart: operators' signals racing exits, restarts and
// stops of a worker that restarts at once. A signal decided for one
// incarnation reaches that incarnation at most once and never the next
// one (the fake counts what each incarnation receives against the durable
// signal_requested events of that incarnation).
func TestRaceSignalVsRestart(t *testing.T) {
	raceProperty(t, []string{"c", "a"}, func(t *rapid.T, w string) [][]op {
		sig := func() []op { return []op{{kind: opSignal, w: w, code: rapid.IntRange(0, 1).Draw(t, "wait")}} }
		progs := [][]op{sig(), sig(), one(opExit, w), one(opRestart, w)}
		return append(progs, extras(t, []opKind{opSignal, opExit, opExitSignal, opRestart, opStop, opStart, opAdvance}, w, 3, limits.PolicyLog)...)
	})
}

// TestStartOrder: starts, stops, restarts, exits and time on workers that
// depend on each other. A worker's new incarnation begins only when each
// of its requirements holds (ready: Running; started: a spawned process;
// completed: a one-shot's last run exited 0), also after a restart of a
// requirement and at a daemon's start; a worker waiting to start is never
// live and waits no longer than its requirements take.
func TestStartOrder(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		orderProperty(t, []opKind{opStart, opRestart, opExit, opExit, opAdvance, opAdvance, opFailSpawn}, orderNames)
	})
}

// TestStopOrder: stops (of a requirement, of its dependents, of both at
// once), restarts and exits, and daemon shutdowns. A live requirement's
// stop is recorded only once everything that depends on it has ended, so
// its stop signal follows their ends; a graceful shutdown goes in reverse
// dependency order.
func TestStopOrder(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		orderProperty(t, []opKind{opStart, opStop, opStop, opRestart, opExit, opAdvance}, orderNames)
	})
}

// TestFailedRequirement: the requirements fail (db's breaker opens after
// two failed runs; mig, a one-shot never run again, exits non-zero). What
// depends on them stays Stopped and waiting, its recorded cause naming the
// requirement that cannot come up, and is never spawned; started again by
// an operator, the requirement lets its dependents through.
func TestFailedRequirement(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		orderProperty(t, []opKind{opExit, opExit, opExitSignal, opFailSpawn, opAdvance, opAdvance, opStart}, []string{"db", "mig", "mig", "app", "web"})
	})
}
