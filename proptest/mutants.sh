#!/bin/sh
# Runs each deliberately broken variant of the supervisor against the
# property meant to catch it, and fails unless every run fails.
#
#   sh proptest/mutants.sh            # from the module root
#
# Variants (build tags; the hooks are one line each in fsm/ and supervisor/):
#   noinc            fsm judges observations without their incarnation
#   doublekill       a second SIGKILL of a stopping incarnation is not stale
#   nolock           check-then-act: the lock is dropped between judging and recording
#   early            effects run before their events are durable
#   restartafterstop the restart policy ignores an explicit stop
#   keepmonitors     an ended incarnation's monitors are not cancelled
#   signalagain      a stop that cancels a pending restart signals again
#
# Fail files are not written (-rapid.nofailfile): a mutant's failure is not
# a regression seed for the real code.
set -u
cd "$(dirname "$0")/.."
checks=${RAPID_CHECKS:-100}
status=0
run() {
	tag=$1
	tests=$2
	start=$(date +%s)
	if go test -tags "tend_mutant_$tag" -count=1 -timeout 10m ./proptest/ -run "^($tests)\$" \
		-rapid.checks="$checks" -rapid.nofailfile -rapid.shrinktime=10s >/tmp/tend-mutant-$tag.out 2>&1; then
		echo "MISSED  $tag ($tests): the properties passed"
		status=1
	else
		# "failed after N tests": N checks passed before the failing one;
		# "flaky": caught, but rapid's replay of the shrunk case passed;
		# "panic": the supervisor's own Decide/Apply guard aborted the binary.
		how=$(grep -o -m1 'failed after [0-9]* tests\|flaky test\|^panic' /tmp/tend-mutant-$tag.out | head -1)
		echo "caught  $tag ($tests) in $(($(date +%s) - start))s: ${how:-failed}"
	fi
}
run noinc 'TestSupervisorModel|TestRaceEverything'
run nolock 'TestSupervisorModel'
run early 'TestSupervisorModel'
run restartafterstop 'TestSupervisorModel|TestRealProcesses'
run doublekill 'TestRaceStopVsLimitKill'
run keepmonitors 'TestRaceStartStopHealth'
run signalagain 'TestRaceTwoStops'
exit $status
