#!/bin/bash
# Measure tend against the machine floor with the peer-supervisor harness
# (../shared/bench/peers), in the same run, and print medians, ranges and
# ratios against the performance targets.
#
# usage: scripts/bench-peers.sh [-n "400 1000"] [-r 3] [-k] [-q]
#   -n NS    space-separated worker counts (default "400 1000")
#   -r REPS  reps per N; tend, the floor and the limits run are interleaved
#            within each rep (default 3)
#   -k       keep the scratch dir (raw JSON, daemon output) instead of removing it
#   -q       quick smoke run: --kills 5 --idle 5, limits idle window 5 s
# env: PEERS_DIR (harness, default <repo>/../shared/bench/peers), GO (default go),
#      KILLS (M2 kills per rep, 30), IDLE (M4 window in s, 20),
#      TEND_TRACKING (auto, cgroup or pgroup: tend's process_tracking; default
#      the daemon's, auto)
#
# Per N and rep it runs, in this order:
#   1. bench.py tend -n N      (M1 cold start, M2 restart, M3 memory, M4 idle CPU
#                               without limits, M5 stop --all, M6 status -o json)
#   2. extra/floor.py N        (posix_spawn floor for M1 and M2)
#   3. scripts/ideal-supervisor.py N  (a supervisor that does nothing but spawn
#                               and respawn, measured by M1's and M2's own method:
#                               the best figures the harness can report for any
#                               supervisor; the floor is measured differently)
#   4. limits_idle.py N        (every worker with a [worker.pN.limits] table,
#                               sample_interval 1s: daemon idle CPU over IDLE s,
#                               RSS, and 5 timed `status -o json`)
# The harness writes only under the scratch copy and /tmp/peers-bench. Nothing is
# left running: every rep shuts its daemon down with SIGTERM and the harness
# kills any leftover by PID.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
PEERS_DIR=${PEERS_DIR:-$REPO/../shared/bench/peers}
GO=${GO:-go}
NS="400 1000"
REPS=3
KEEP=0
KILLS=${KILLS:-30}
IDLE=${IDLE:-20}
while getopts "n:r:kqh" o; do
  case $o in
    n) NS=$OPTARG ;;
    r) REPS=$OPTARG ;;
    k) KEEP=1 ;;
    q) KILLS=5; IDLE=5 ;;
    *) sed -n '2,16p' "$0"; exit 2 ;;
  esac
done

[ -f "$PEERS_DIR/bench.py" ] || { echo "harness not found at $PEERS_DIR (set PEERS_DIR)" >&2; exit 2; }
WORK=$(mktemp -d /tmp/tend-bench-peers.XXXXXX)
cleanup() { if [ "$KEEP" = 1 ]; then echo "scratch kept: $WORK"; else rm -rf "$WORK"; fi; }
trap cleanup EXIT

cp -r "$PEERS_DIR" "$WORK/peers"
chmod -R u+w "$WORK/peers"
if [ -n "${TEND_TRACKING:-}" ]; then
  # The copy's driver writes the setting into tend's [daemon] table.
  python3 - "$WORK/peers/drivers/tend.py" "$TEND_TRACKING" <<'PY'
import sys
p, mode = sys.argv[1], sys.argv[2]
s = open(p).read()
old = """        head = '[daemon]\\nstate_dir = "%s"\\n' % os.path.join(self.dir, 'state')"""
if old not in s:
    sys.exit('bench-peers: cannot set process_tracking in ' + p)
s = s.replace(old, old + "\n        head += 'process_tracking = \"%s\"\\n'" % mode)
open(p, 'w').write(s)
PY
fi
rm -rf "$WORK/peers/results/raw"
mkdir -p "$WORK/raw" "$WORK/floor" "$WORK/bound" "$WORK/limits"

echo "building tend ..." >&2
( cd "$REPO" && "$GO" build -ldflags "-X main.version=$(git describe --tags --always --dirty 2>/dev/null || echo dev)" \
    -o "$WORK/tend" ./cmd/tend )
export TEND_BIN=$WORK/tend

# ---- the limits run: idle CPU of the daemon while the sampler watches every worker ----
cat > "$WORK/peers/limits_idle.py" <<'PY'
"""usage: limits_idle.py N REP IDLE_S OUT.json -- tend with N sleep workers, each with a
limits table (memory = "1GiB"), sample_interval = "1s". Measures, from /proc, the
daemon's CPU over IDLE_S seconds once all are Running, its RSS, and `status -o json`."""
import json, os, shutil, signal, statistics, subprocess, sys, tempfile, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import procfs  # noqa: E402

n, rep, idle, out = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
tend = os.environ['TEND_BIN']
nums = list(range(700001, 700001 + n))
if procfs.find_children(nums):
    sys.exit('leftover children with our numbers exist; refusing to run')
os.makedirs('/tmp/peers-bench', exist_ok=True)
wd = tempfile.mkdtemp(prefix='tend-limits-n%d-' % n, dir='/tmp/peers-bench')
conf = os.path.join(wd, 'tend.toml')
with open(conf, 'w') as f:
    f.write('[daemon]\nstate_dir = "%s"\nsample_interval = "1s"\n' % os.path.join(wd, 'state'))
    for x in nums:
        f.write('\n[worker.p%d]\ncommand = ["sleep", "%d"]\nrestart = "always"\n'
                'backoff_initial = "0s"\n\n[worker.p%d.limits]\nmemory = "1GiB"\n' % (x, x, x))
time.sleep(1.5)
track = procfs.Tracker()
res = {'n': n, 'rep': rep, 'loadavg_start': open('/proc/loadavg').read().split()[:3]}
w = procfs.Watch(nums)
t0 = time.monotonic()
logf = open(os.path.join(wd, 'daemon.out'), 'ab')
d = subprocess.Popen([tend, 'daemon', '-c', conf], stdin=subprocess.DEVNULL, stdout=logf,
                     stderr=subprocess.STDOUT, start_new_session=True, cwd=wd)
try:
    ok = w.wait_all(timeout=180, interval=0.005)
    res['cold_start_s'] = (time.monotonic() - t0) if ok else None
    track.add(w.live.values())
    if not ok:
        raise RuntimeError('only %d/%d came up' % (len(w.live), n))
    time.sleep(3)
    sup = procfs.supervisor_side([d.pid])
    track.add(sup)
    rss = sum(procfs.mem_kb(p)[0] for p in sup)
    c0, w0 = procfs.cpu_ticks(sup), time.monotonic()
    time.sleep(idle)
    c1, w1 = procfs.cpu_ticks(sup), time.monotonic()
    ticks = sum(c1[p] - c0[p] for p in c1 if p in c0)
    res['idle_cpu_s'] = ticks / procfs.CLK_TCK
    res['idle_window_s'] = w1 - w0
    res['idle_cpu_pct'] = 100.0 * res['idle_cpu_s'] / res['idle_window_s']
    res['rss_kb'] = rss
    res['rss_after_idle_kb'] = sum(procfs.mem_kb(p)[0] for p in sup)
    st = []
    for _ in range(5):
        a = time.monotonic()
        r = subprocess.run([tend, '-c', conf, 'status', '-o', 'json'], capture_output=True,
                           stdin=subprocess.DEVNULL, cwd=wd, timeout=60)
        st.append(time.monotonic() - a)
    res['status_s'] = st
    res['status_median_s'] = statistics.median(st)
    res['status_rc'], res['status_bytes'] = r.returncode, len(r.stdout)
    res['workers_up'] = len(procfs.find_children(nums))
except Exception as e:  # noqa: BLE001 - recorded, cleanup still runs
    res['error'] = repr(e)
finally:
    track.add(procfs.supervisor_side([d.pid]))
    if d.poll() is None:
        os.kill(d.pid, signal.SIGTERM)
    try:
        d.wait(30)
    except subprocess.TimeoutExpired:
        pass
    track.wait_gone(15)
    res['leftovers_killed'] = track.kill_leftovers()
    try:
        d.wait(1)
    except subprocess.TimeoutExpired:
        pass
json.dump(res, open(out, 'w'), indent=1)
if 'error' not in res and not res['leftovers_killed']:
    shutil.rmtree(wd, ignore_errors=True)
print('limits N=%d rep=%d cold=%s idle_cpu=%.2f%% rss=%.1fMiB status=%s err=%s left=%d' % (
    n, rep, res.get('cold_start_s'), res.get('idle_cpu_pct', -1), res.get('rss_kb', 0) / 1024,
    res.get('status_median_s'), res.get('error'), len(res['leftovers_killed'])), flush=True)
PY

# ---- the summary ----
cat > "$WORK/peers/summary.py" <<'PY'
import glob, json, os, re, statistics as S, sys
work, ns = sys.argv[1], [int(x) for x in sys.argv[2].split()]
med = S.median
def rng(xs, f='%.2f'):
    return (f + ' [' + f + '–' + f + ']') % (med(xs), min(xs), max(xs)) if xs else 'n/a'
def pct(xs, p):
    xs = sorted(xs); return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]
def ratio(a, b):
    return '%.2f×' % (a / b) if a and b else 'n/a'
print('| metric | N | tend median [min–max] | floor median [min–max] | tend/floor | target | met |')
print('|---|---|---|---|---|---|---|')
for n in ns:
    T = [json.load(open(p)) for p in sorted(glob.glob('%s/raw/tend-n%d-r*.json' % (work, n)))]
    L = [json.load(open(p)) for p in sorted(glob.glob('%s/limits/n%d-r*.json' % (work, n)))]
    F = []
    for p in sorted(glob.glob('%s/floor/n%d-r*.txt' % (work, n))):
        m = re.search(r'alive in /proc ([\d.]+) s; .*median ([\d.]+) ms, p95 ([\d.]+) ms', open(p).read())
        if m:
            F.append(tuple(float(x) for x in m.groups()))
    errs = [t.get('error') for t in T if t.get('error')] + [l.get('error') for l in L if l.get('error')]
    left = sum(len(t.get('leftovers_killed', [])) for t in T + L)
    m1 = [t['m1_cold_start_s'] for t in T if t.get('m1_cold_start_s')]
    f1 = [f[0] for f in F]
    ok = lambda c: 'yes' if c else 'NO'
    bounds = []
    for p in sorted(glob.glob('%s/bound/n%d-r*.txt' % (work, n))):
        m = re.search(r'cold start ([\d.]+) s; restart median ([\d.]+) ms', open(p).read())
        if m:
            bounds.append(tuple(float(x) for x in m.groups()))
    if m1 and f1:
        print('| cold start to all alive (s) | %d | %s | %s | %s | ≤1.2× | %s |' % (
            n, rng(m1), rng(f1), ratio(med(m1), med(f1)), ok(med(m1) <= 1.2 * med(f1))))
    if m1 and bounds:
        print('| cold start (s) against the ideal supervisor, same method | %d | %s | %s | %s | – | |' % (
            n, rng(m1), rng([b[0] for b in bounds]), ratio(med(m1), med([b[0] for b in bounds]))))
    kills = [x for t in T for x in (t.get('m2_restart') or {}).get('all_s', [])]
    fails = sum((t.get('m2_restart') or {}).get('failed', 0) for t in T)
    permed = [t['m2_restart']['median_s'] * 1e3 for t in T if (t.get('m2_restart') or {}).get('median_s')]
    f2 = [f[1] for f in F]
    if kills and f2:
        km = med(kills) * 1e3
        print('| restart median (ms), %d kills pooled | %d | %.1f [per-rep %s] | %s | %s | ≤1.3× | %s |' % (
            len(kills), n, km, '/'.join('%.1f' % x for x in permed), rng(f2, '%.1f'),
            ratio(km, med(f2)), ok(km <= 1.3 * med(f2))))
        B = [b[1] for b in bounds]
        if B:
            print('| restart median (ms) against the ideal supervisor, same method | %d | %.1f | %s | %s | – | |' % (
                n, km, rng(B, '%.1f'), ratio(km, med(B))))
        p99, p95 = pct(kills, 99) * 1e3, pct(kills, 95) * 1e3
        print('| restart p95 / p99 / max (ms) | %d | %.1f / %.1f / %.1f | p95 %s | – | p99 ≤25 | %s |' % (
            n, p95, p99, max(kills) * 1e3, rng([f[2] for f in F], '%.1f'), ok(p99 <= 25)))
        if fails:
            print('| restart kills not seen back in 10 s | %d | %d | | | 0 | NO |' % (n, fails))
    rss = [t['m3_memory']['rss_kb'] / 1024 for t in T if t.get('m3_memory')]
    pss = [t['m3_memory']['pss_kb'] / 1024 for t in T if t.get('m3_memory')]
    if rss:
        print('| daemon RSS (MiB), no limits | %d | %s (PSS %s) | – | – | ≤40 | %s |' % (
            n, rng(rss, '%.1f'), rng(pss, '%.1f'), ok(med(rss) <= 40)))
    lr = [l['rss_after_idle_kb'] / 1024 for l in L if l.get('rss_after_idle_kb')]
    if lr:
        print('| daemon RSS (MiB), limits + sampler | %d | %s | – | – | ≤40 | %s |' % (n, rng(lr, '%.1f'), ok(med(lr) <= 40)))
    m4 = [100 * t['m4_idle_cpu']['cpu_s'] / t['m4_idle_cpu']['window_s'] for t in T if t.get('m4_idle_cpu')]
    if m4:
        print('| idle CPU (%% of a core), no limits | %d | %s | – | – | – | |' % (n, rng(m4)))
    lc = [l['idle_cpu_pct'] for l in L if 'idle_cpu_pct' in l]
    if lc:
        print('| idle CPU (%% of a core), limits, 1 s sampling | %d | %s | – | – | ≤3%% | %s |' % (
            n, rng(lc), ok(med(lc) <= 3)))
    m5 = [t['m5_stop_all']['all_gone_s'] for t in T if (t.get('m5_stop_all') or {}).get('all_gone_s')]
    m5c = [t['m5_stop_all']['cmd_return_s'] for t in T if t.get('m5_stop_all')]
    if m5:
        print('| stop --all: workers gone (s) | %d | %s | – | – | ≤0.3 | %s |' % (n, rng(m5), ok(med(m5) <= 0.3)))
        print('| stop --all: command returned (s) | %d | %s | – | – | ≤0.3 | %s |' % (n, rng(m5c), ok(med(m5c) <= 0.3)))
    m6 = [t['m6_status']['median_s'] * 1e3 for t in T if t.get('m6_status')]
    if m6:
        print('| status -o json (ms), no limits | %d | %s | – | – | ≤20 | %s |' % (n, rng(m6, '%.1f'), ok(med(m6) <= 20)))
    ls = [l['status_median_s'] * 1e3 for l in L if l.get('status_median_s')]
    if ls:
        print('| status -o json (ms), limits | %d | %s | – | – | ≤20 | %s |' % (n, rng(ls, '%.1f'), ok(med(ls) <= 20)))
    lcs = [l['cold_start_s'] for l in L if l.get('cold_start_s')]
    if lcs and f1:
        print('| cold start, limits (s) | %d | %s | %s | %s | ≤1.2× | %s |' % (
            n, rng(lcs), rng(f1), ratio(med(lcs), med(f1)), ok(med(lcs) <= 1.2 * med(f1))))
    if errs or left:
        print('| problems | %d | errors: %s; leftovers killed: %d | | | | |' % (n, errs, left))
loads = [float(json.load(open(p))['loadavg_start'][0])
         for p in glob.glob('%s/raw/*.json' % work) + glob.glob('%s/limits/*.json' % work)]
if loads:
    print('\n1-min loadavg at rep start: %.2f–%.2f' % (min(loads), max(loads)))
PY

cd "$WORK/peers"
for n in $NS; do
  for rep in $(seq 1 "$REPS"); do
    timeout 900 python3 bench.py tend -n "$n" --first-rep "$rep" --kills "$KILLS" --idle "$IDLE" \
        --out "$WORK/raw" || echo "FAILED tend N=$n rep=$rep"
    timeout 300 python3 extra/floor.py "$n" | tee "$WORK/floor/n$n-r$rep.txt" || echo "FAILED floor N=$n rep=$rep"
    timeout 300 python3 "$REPO/scripts/ideal-supervisor.py" "$n" "$KILLS" "$WORK/peers" | tee "$WORK/bound/n$n-r$rep.txt" \
        || echo "FAILED bound N=$n rep=$rep"
    timeout 600 python3 limits_idle.py "$n" "$rep" "$IDLE" "$WORK/limits/n$n-r$rep.json" \
        || echo "FAILED limits N=$n rep=$rep"
  done
done
echo
echo "tend $("$TEND_BIN" --version 2>&1 | head -1); $(nproc) cores; reps=$REPS kills/rep=$KILLS idle=${IDLE}s"
python3 summary.py "$WORK" "$NS"
