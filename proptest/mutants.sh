#!/bin/sh
# Runs each deliberately broken variant of the supervisor against the
# property meant to catch it, and fails unless every run fails.
#
#   sh proptest/mutants.sh                       # from the module root
#   sh proptest/mutants.sh mutantA mutantB ...   # only those
#
# The variants are failpoints: gofail comments in fsm/, supervisor/,
# supervisor/core/ and cmd/internal/config/ (a normal build compiles none
# of them). This script
# copies the module, turns the comments into code there with gofail
# (go.etcd.io/gofail), and enables one failpoint per run:
#   mutantNoIncarnationCheck  fsm judges observations without their incarnation
#   mutantDoubleKill          a second SIGKILL of a stopping incarnation is not stale
#   mutantNoLock              check-then-act: the lock is dropped between deciding and recording
#   mutantEarlyEffects        effects run before their events are durable
#   mutantRestartAfterStop    the restart policy ignores an explicit stop
#   mutantKeepMonitors        an ended incarnation's monitors are not cancelled
#   mutantSignalAgain         a stop that cancels a pending restart signals again
#   mutantKillNotResent       recovery takes a SIGKILL decided before a crash as sent
#   mutantAdoptByPID          recovery recognises a process by its pid alone
#   mutantReadyWhileStarting  a requirement still Starting counts as ready
#   mutantCompletedAnyExit    a one-shot whose last run failed counts as completed
#   mutantStopBeforeDependents a requirement's stop does not wait for its dependents' ends
#   mutantNoBlockedReason     a dependent's wait never says its requirement cannot come up
#   mutantCycleMissed         the configuration check misses a cycle longer than one worker
#
# Fail files are not written (-rapid.nofailfile): a mutant's failure is not
# a regression seed for the real code.
set -u
cd "$(dirname "$0")/.."
checks=${RAPID_CHECKS:-100}
gofail=go.etcd.io/gofail@v0.2.0
work=$(mktemp -d /tmp/tend-mutants.XXXXXX)
trap 'rm -rf "$work"' EXIT
tar --exclude=.git --exclude=./bin -cf - . | (cd "$work" && tar xf -)
(
	cd "$work" &&
		GOFLAGS=-mod=mod go run "$gofail" enable ./fsm ./supervisor ./supervisor/core ./cmd/internal/config >/dev/null &&
		GOFLAGS=-mod=mod go get "go.etcd.io/gofail@v0.2.0" >/dev/null 2>&1
) || {
	echo "cannot enable the failpoints (gofail)"
	exit 1
}
status=0
only=" $* "
run() {
	fp=$1
	tests=$2
	pkg=${3:-./proptest/}
	case "$only" in
	"  " | *" $fp "*) ;;
	*) return ;;
	esac
	start=$(date +%s)
	if (cd "$work" && GOFAIL_FAILPOINTS="$fp=return" GOFLAGS=-mod=mod go test -count=1 -timeout 10m "$pkg" -run "^($tests)\$" \
		-rapid.checks="$checks" -rapid.nofailfile -rapid.shrinktime=10s) >/tmp/tend-mutant-$fp.out 2>&1; then
		echo "MISSED  $fp ($tests): the properties passed"
		status=1
	elif grep -q '\[build failed\]\|\[setup failed\]' /tmp/tend-mutant-$fp.out; then
		echo "BROKEN  $fp ($tests): the variant does not build (/tmp/tend-mutant-$fp.out)"
		status=1
	else
		# "failed after N tests": N checks passed before the failing one;
		# "flaky": caught, but rapid's replay of the shrunk case passed;
		# "panic": the supervisor's own Decide/Apply guard aborted the binary.
		how=$(grep -o -m1 'failed after [0-9]* tests\|flaky test\|^panic' /tmp/tend-mutant-$fp.out | head -1)
		echo "caught  $fp ($tests) in $(($(date +%s) - start))s: ${how:-failed}"
	fi
}
run mutantNoIncarnationCheck 'TestSupervisorModel|TestRaceEverything'
run mutantNoLock 'TestSupervisorModel'
run mutantEarlyEffects 'TestSupervisorModel'
run mutantRestartAfterStop 'TestSupervisorModel|TestRealProcesses'
run mutantDoubleKill 'TestRaceStopVsLimitKill'
run mutantKeepMonitors 'TestRaceStartStopHealth'
run mutantSignalAgain 'TestRaceTwoStops'
run mutantKillNotResent 'TestCrashBetweenEventAndEffect'
run mutantAdoptByPID 'TestCrashBetweenEventAndEffect'
run mutantReadyWhileStarting 'TestStartOrder'
run mutantCompletedAnyExit 'TestFailedRequirement'
run mutantStopBeforeDependents 'TestStopOrder'
run mutantNoBlockedReason 'TestFailedRequirement'
run mutantCycleMissed 'TestDependencyCyclesRefused' ./cmd/internal/config/
exit $status
