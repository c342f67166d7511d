#!/bin/bash
# How fast can a supervisor that writes ahead restart a worker on this
# machine, and how far is tend from that? Three supervisors of N `sleep`
# workers each run side by side, and one loop kills a worker of each in
# turn, the peer harness's way (SIGKILL, then poll /proc every 2 ms until
# the new `sleep N` is there):
#
#   ideal   the harness's ideal supervisor (drivers/ideal.py): posix_spawn,
#           two O_APPEND output files per worker, respawn the instant
#           wait() returns, nothing recorded
#   wal     the same supervisor, except that before each respawn it makes
#           its decision durable as a bbolt commit does: the changed pages
#           written and fdatasync'd, then the meta page and fdatasync again,
#           in a file beside tend's log on the same file system
#   tend    tend, on the build of this tree
#
# wal / ideal is what writing ahead costs on this disk; tend / wal is what
# tend's own steps (reaping, deciding, the cgroup, the hand-over to a fork
# thread) cost on top. Medians per round and of all kills, and their ratios.
#
# usage: scripts/bench-restart-floor.sh [-n 400] [-k 90] [-r 3] [-d DIR]
#   -n N      workers per supervisor (default 400)
#   -k KILLS  kills per supervisor per round (default 90)
#   -r ROUNDS rounds (default 3)
#   -d DIR    under which a scratch directory for the state, logs and the
#             wal file is made, and removed at the end (default /var/tmp,
#             which is on disk; /tmp may be tmpfs)
# env: PEERS_DIR (the harness, for procfs.py; default <repo>/../shared/bench/peers)
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
PEERS_DIR=${PEERS_DIR:-$REPO/../shared/bench/peers}
N=400
KILLS=90
ROUNDS=3
DIR=/var/tmp
while getopts "n:k:r:d:h" o; do
  case $o in
    n) N=$OPTARG ;;
    k) KILLS=$OPTARG ;;
    r) ROUNDS=$OPTARG ;;
    d) DIR=$OPTARG ;;
    *) sed -n '2,27p' "$0"; exit 2 ;;
  esac
done
[ -f "$PEERS_DIR/procfs.py" ] || { echo "harness not found at $PEERS_DIR (set PEERS_DIR)" >&2; exit 2; }
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
WORK=$(mktemp -d "$DIR"/tend-restart-floor.XXXXXX)
TEND_PID=""
IDEALS=()
cleanup() {
  # tend stops its workers on SIGTERM; the ideal stops its own on SIGUSR2
  # and then waits for a signal, as the harness's driver shuts it down.
  if [ -n "$TEND_PID" ]; then kill -TERM "$TEND_PID" 2>/dev/null || true; fi
  for p in "${IDEALS[@]}"; do kill -USR2 "$p" 2>/dev/null || true; done
  sleep 1
  for p in "${IDEALS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in $TEND_PID "${IDEALS[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
need=$((3 * N + 4096))
if [ "$(ulimit -n)" -lt "$need" ]; then
  ulimit -n "$need" 2>/dev/null || { echo "cannot raise the open-file limit to $need" >&2; exit 1; }
fi

echo "building tend ..." >&2
(cd "$REPO" && go build -o "$WORK/tendd" ./cmd/tendd)

# The supervisors' numbers: 610001.. for tend, 620001.. ideal, 630001.. wal.
TEND_BASE=610001
IDEAL_BASE=620001
WAL_BASE=630001
if "$PY" - "$PEERS_DIR" "$TEND_BASE" "$IDEAL_BASE" "$WAL_BASE" "$N" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
import procfs
n = int(sys.argv[5])
nums = [b + i for b in map(int, sys.argv[2:5]) for i in range(n)]
sys.exit(0 if procfs.find_children(nums) else 1)
PY
then
  echo "workers with these numbers are running already; refusing to run" >&2
  exit 1
fi

# Both ideals are the harness's own supervisor (drivers/ideal.py), run as
# the harness runs it; the wal one has a commit put in before its respawn.
"$PY" - "$PEERS_DIR" "$WORK" <<'PY'
import os, sys
sys.path.insert(0, sys.argv[1])
from drivers.ideal import SUPERVISOR
respawn = '        num_of[spawn(a)] = a\n'
if SUPERVISOR.count(respawn) != 1:
    sys.exit('bench-restart-floor: drivers/ideal.py respawns differently now; cannot put a commit before it')
commit = r"""
PAGE = 4096
# 8 MiB written once, so that a commit rewrites allocated blocks, as bbolt
# mostly does once its file has grown.
wal = os.open(os.path.join(logs, 'wal.db'), os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
os.pwrite(wal, b'\0' * (8 << 20), 0)
os.fsync(wal)
page, seq = bytearray(PAGE), 0
def commit():
    # A restart's commit in tend's log, as traced: four pages apart from
    # each other (the events' leaf and branch, the index, the freelist),
    # flushed, then the meta page, flushed.
    global seq
    seq += 1
    page[:8] = seq.to_bytes(8, 'little')
    for j in range(4):
        os.pwrite(wal, bytes(page), 2 * PAGE + ((seq * 4 + j) * 2 * PAGE) % ((8 << 20) - 4 * PAGE))
    os.fdatasync(wal)
    os.pwrite(wal, bytes(page), PAGE * (seq % 2))
    os.fdatasync(wal)
"""
wal = SUPERVISOR.replace('os.makedirs(logs, exist_ok=True)\n', 'os.makedirs(logs, exist_ok=True)\n' + commit, 1)
wal = wal.replace(respawn, '        commit()\n' + respawn)
if 'commit()\n' + respawn not in wal or 'def commit' not in wal:
    sys.exit('bench-restart-floor: cannot make the wal supervisor from drivers/ideal.py')
open(os.path.join(sys.argv[2], 'ideal.py'), 'w').write(SUPERVISOR)
open(os.path.join(sys.argv[2], 'wal.py'), 'w').write(wal)
PY

mkdir -p "$WORK/tend"
{
  printf '[daemon]\nstate_dir = "%s/tend/state"\nsocket = "%s/tend/tend.sock"\n' "$WORK" "$WORK"
  for i in $(seq 0 $((N - 1))); do
    x=$((TEND_BASE + i))
    printf '\n[worker.p%d]\ncommand = ["sleep", "%d"]\nrestart = "always"\nbackoff_initial = "0s"\n' "$x" "$x"
  done
} > "$WORK/tend/tend.toml"
"$WORK/tendd" daemon -c "$WORK/tend/tend.toml" > "$WORK/tend/daemon.log" 2>&1 &
TEND_PID=$!
# Arguments as the harness's driver gives them: the logs, files on, numbers.
"$PY" "$WORK/ideal.py" "$WORK/ideal" 1 $(seq "$IDEAL_BASE" $((IDEAL_BASE + N - 1))) &
IDEALS+=($!)
"$PY" "$WORK/wal.py" "$WORK/wal" 1 $(seq "$WAL_BASE" $((WAL_BASE + N - 1))) &
IDEALS+=($!)

"$PY" - "$PEERS_DIR" "$N" "$KILLS" "$ROUNDS" "$TEND_BASE" "$IDEAL_BASE" "$WAL_BASE" <<'PY'
import os, signal, statistics, sys, time
sys.path.insert(0, sys.argv[1])
import procfs
n, kills, rounds = map(int, sys.argv[2:5])
sups = [('ideal', int(sys.argv[6])), ('wal', int(sys.argv[7])), ('tend', int(sys.argv[5]))]
live = {}
for name, base in sups:
    w = procfs.Watch(range(base, base + n))
    w.ignore = set()  # the workers are there already: take them all
    if not w.wait_all(timeout=300, interval=0.05):
        sys.exit('%s: only %d of %d workers came up' % (name, len(w.live), n))
    live[name] = dict(w.live)
time.sleep(5)  # tend's workers reach Running (start_timeout 1 s)
print('%d workers each, %d kills each per round, the harness\'s way '
      '(SIGKILL, poll /proc every 2 ms); load %s' % (n, kills, open('/proc/loadavg').read().split()[0]))
print()
print('| round | ideal | wal | tend | wal / ideal | tend / ideal | tend / wal |')
print('|---|---|---|---|---|---|---|')
every = {name: [] for name, _ in sups}
for r in range(1, rounds + 1):
    lat = {name: [] for name, _ in sups}
    for i in range(kills):
        # Each supervisor's turn comes first as often as last.
        k = i % len(sups)
        for name, base in sups[k:] + sups[:k]:
            num = base + ((r * kills + i) * 7919) % n
            w = procfs.Watch([num])
            t0 = time.monotonic()
            os.kill(live[name][num], signal.SIGKILL)
            if w.wait_all(timeout=10, interval=0.002):
                lat[name].append((time.monotonic() - t0) * 1e3)
                live[name][num] = w.live[num]
            else:
                sys.exit('%s: p%d was not restarted within 10 s' % (name, num))
            time.sleep(0.25)
    m = {name: statistics.median(v) for name, v in lat.items()}
    for name in every:
        every[name] += lat[name]
    print('| %d | %.2f ms | %.2f ms | %.2f ms | %.2f× | %.2f× | %.2f× |' % (
        r, m['ideal'], m['wal'], m['tend'], m['wal'] / m['ideal'], m['tend'] / m['ideal'], m['tend'] / m['wal']))
m = {name: statistics.median(v) for name, v in every.items()}
print('| all | %.2f ms | %.2f ms | %.2f ms | %.2f× | %.2f× | %.2f× |' % (
    m['ideal'], m['wal'], m['tend'], m['wal'] / m['ideal'], m['tend'] / m['ideal'], m['tend'] / m['wal']))
PY
