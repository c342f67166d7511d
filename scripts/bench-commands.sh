#!/bin/bash
# Time every everyday command against one daemon with N idle workers.
#
# usage: scripts/bench-commands.sh [-n 10000] [-b BIN]
#
# It starts `tend daemon` on a scratch state dir with N `sleep` workers
# (output to files, restart always), waits until all are Running, then
# times each command once, wall clock, from a fresh process, in this order:
# status (table and -o json), history and why of one worker, events (the
# whole log and a bounded --follow), reload (unchanged), restart of one
# worker, stop --all, start --all, restart --all, report, and the daemon's
# SIGTERM shutdown. The commands over every worker wait as a user types
# them, by default: as long as the workers make progress. It raises the
# open-file limit where it must and can, and says so. Nothing is left
# running.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
N=10000
BIN=""
while getopts "n:b:h" o; do
  case $o in
    n) N=$OPTARG ;;
    b) BIN=$OPTARG ;;
    *) sed -n '2,15p' "$0"; exit 2 ;;
  esac
done
WORK=$(mktemp -d /tmp/tend-bench-commands.XXXXXX)
# The workers sleep PREFIX × 100,000 + i seconds, seven digits with a
# prefix of this run's own (10 to 98, from the pid): the peer harness's
# workers sleep six-digit times, and another run's have another prefix.
PREFIX=$(( $$ % 89 + 10 ))
cleanup() {
  [ -n "${DPID:-}" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null || true
  # Only if the daemon died without stopping them: this run's own
  # workers, told by the prefix of their sleep times, no one else's.
  pkill -f "^sleep ${PREFIX}[0-9]{5}$" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
if [ -z "$BIN" ]; then
  (cd "$REPO" && CGO_ENABLED=0 go build -o "$WORK/tend" ./cmd/tend && go build -o "$WORK/tendd" ./cmd/tendd)
  BIN=$WORK/tend
fi
# The daemon holds one descriptor per live worker (its pidfd), and a few
# more per spawn in flight.
need=$((N + 4096))
if [ "$(ulimit -n)" -lt "$need" ]; then
  ulimit -n "$need" 2>/dev/null && echo "raised the open-file limit to $need for $N workers (ulimit -n)" >&2 \
    || echo "cannot raise the open-file limit to $need for $N workers (ulimit -n is $(ulimit -n)): trying anyway" >&2
fi
CONF=$WORK/tend.toml
{
  printf '[daemon]\nstate_dir = "%s/state"\nsocket = "%s/tend.sock"\n' "$WORK" "$WORK"
  for i in $(seq 1 "$N"); do
    printf '\n[worker.w%d]\ncommand = ["sleep", "%d"]\nrestart = "always"\n' "$i" $((PREFIX * 100000 + i))
  done
} >"$CONF"
T=(env TEND_CONFIG="$CONF" "$BIN")
t0=$(date +%s.%N)
"$BIN" daemon -c "$CONF" >"$WORK/daemon.out" 2>&1 &
DPID=$!
running() { "${T[@]}" status -o json 2>/dev/null | python3 -c 'import json,sys; d=json.load(sys.stdin); ws=d if isinstance(d,list) else d.get("workers",[]); print(sum(1 for w in ws if w.get("state")=="Running"))' 2>/dev/null || echo 0; }
until [ "$(running)" = "$N" ]; do sleep 0.5; done
printf 'all %d Running %.2f s after launch (status polled every 0.5 s)\n\n' "$N" "$(echo "$(date +%s.%N) - $t0" | bc)"
timeit() {
  local what=$1; shift
  local a b rc
  a=$(date +%s.%N)
  set +e; "$@" >"$WORK/out" 2>&1; rc=$?; set -e
  b=$(date +%s.%N)
  printf '| %s | %.3f s | %s | %s |\n' "$what" "$(echo "$b - $a" | bc)" "$rc" "$(wc -c <"$WORK/out") bytes"
  if [ "$rc" != 0 ] && [ "$rc" != 124 ]; then
    { echo "--- $what exited $rc; its last lines:"; tail -5 "$WORK/out"; } >&2
  fi
}
echo "| command (N=$N) | wall | exit | output |"
echo "|---|---|---|---|"
timeit "status" "${T[@]}" status
timeit "status -o json" "${T[@]}" status -o json
timeit "history w1" "${T[@]}" history w1
timeit "why w1" "${T[@]}" why w1
timeit "events (all)" "${T[@]}" events
timeit "events --follow (the log, then live; cut at 2 s)" timeout 2 "${T[@]}" events --follow
timeit "reload (unchanged)" "${T[@]}" reload
timeit "restart w1" "${T[@]}" restart w1
timeit "stop --all" "${T[@]}" stop --all
timeit "start --all" "${T[@]}" start --all
timeit "restart --all" "${T[@]}" restart --all
timeit "report" "${T[@]}" report -o "$WORK/report.html"
a=$(date +%s.%N)
kill -TERM "$DPID"; wait "$DPID" || true
DPID=""
printf '| daemon SIGTERM (stops every worker, exits) | %.3f s | | |\n' "$(echo "$(date +%s.%N) - $a" | bc)"
