#!/bin/bash
# Measure the daemon's cold start: CPU time and wall time until N workers run.
#
# usage: scripts/bench-coldstart.sh [-n 5000] [-r 2] [-b BINDIR] [-p PROFILE] [-d TMPDIR]
#
# Each rep starts `tendd daemon` on a fresh state dir with N `sleep` workers
# (output to files, restart always, no backoff: the peer harness's workers),
# polls the daemon's children every 0.2 s from outside (reading
# /proc/PID/task/*/children, which costs the daemon nothing) until N are
# alive, and reads the daemon's own user and system CPU time from
# /proc/PID/stat at that moment and again 3 s later (the events that follow
# the spawns: Running after start_timeout). With -p, `perf record -g` samples
# the daemon for the first rep and writes PROFILE. The daemon is stopped by
# SIGTERM between reps; nothing is left running. -d puts the state
# directories under TMPDIR (a tmpfs keeps the file system's own inode
# allocation, which varies with what ran on the disk before, out of the
# daemon's CPU time).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
N=5000
REPS=2
BINDIR=""
PROFILE=""
TMPD=/tmp
while getopts "n:r:b:p:d:h" o; do
  case $o in
    n) N=$OPTARG ;;
    r) REPS=$OPTARG ;;
    b) BINDIR=$OPTARG ;;
    p) PROFILE=$OPTARG ;;
    d) TMPD=$OPTARG ;;
    *) sed -n '2,17p' "$0"; exit 2 ;;
  esac
done
WORK=$(mktemp -d "$TMPD"/tend-bench-coldstart.XXXXXX)
DPID=""
cleanup() {
  if [ -n "$DPID" ]; then kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
if [ -z "$BINDIR" ]; then
  (cd "$REPO" && go build -o "$WORK/tendd" ./cmd/tendd)
  BINDIR=$WORK
fi
need=$((N + 4096))
if [ "$(ulimit -n)" -lt "$need" ]; then
  ulimit -n "$need" 2>/dev/null || { echo "cannot raise the open-file limit to $need" >&2; exit 1; }
fi
tck=$(getconf CLK_TCK)
cpu() { awk -v t="$tck" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$1/stat"; }
alive() { cat /proc/"$1"/task/*/children 2>/dev/null | wc -w; }
echo "| rep | N | all alive (wall) | daemon CPU at all alive | per worker | CPU 3 s later | load before |"
echo "|---|---|---|---|---|---|---|"
for rep in $(seq 1 "$REPS"); do
  D=$WORK/r$rep
  mkdir -p "$D"
  CONF=$D/tend.toml
  {
    printf '[daemon]\nstate_dir = "%s/state"\nsocket = "%s/tend.sock"\n' "$D" "$D"
    for i in $(seq 1 "$N"); do
      printf '\n[worker.p%d]\ncommand = ["sleep", "%d"]\nrestart = "always"\nbackoff_initial = "0s"\n' "$i" $((700000 + i))
    done
  } >"$CONF"
  load=$(cut -d' ' -f1 /proc/loadavg)
  t0=$(date +%s.%N)
  "$BINDIR/tendd" daemon -c "$CONF" >"$D/daemon.out" 2>&1 &
  DPID=$!
  PERF=""
  if [ -n "$PROFILE" ] && [ "$rep" = 1 ]; then
    perf record -F 499 -g -o "$PROFILE" -p "$DPID" >/dev/null 2>&1 &
    PERF=$!
  fi
  until [ "$(alive "$DPID")" -ge "$N" ]; do
    kill -0 "$DPID" 2>/dev/null || { echo "daemon exited; its log:" >&2; tail "$D/daemon.out" >&2; exit 1; }
    sleep 0.2
  done
  t1=$(date +%s.%N)
  c1=$(cpu "$DPID")
  sleep 3
  c2=$(cpu "$DPID")
  if [ -n "$PERF" ]; then kill -INT "$PERF"; wait "$PERF" || true; fi
  printf '| %d | %d | %.2f s | %.2f s | %.3f ms | %.2f s | %s |\n' "$rep" "$N" "$(echo "$t1 - $t0" | bc)" "$c1" \
    "$(echo "$c1 * 1000 / $N" | bc -l)" "$c2" "$load"
  kill -TERM "$DPID"
  wait "$DPID" 2>/dev/null || true
  DPID=""
  rm -rf "$D"
done
