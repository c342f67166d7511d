#!/bin/bash
# Measure tend against the ideal supervisor of the shared peer harness
# (../shared/bench/peers, drivers/ideal.py) and, with -p, against the peers,
# all in the same run and by the same code, and print medians, ranges and the
# ratios the performance targets are stated in.
#
# usage: scripts/bench-peers.sh [-n "400 1000"] [-r 3] [-p "runit daemontools"] [-k] [-q]
#   -n NS     space-separated worker counts (default "400 1000")
#   -r REPS   reps per N; every driver and the limits run are interleaved
#             within each rep (default 3)
#   -p PEERS  peers to measure in the same run (drivers of the harness:
#             supervisord runit s6 daemontools pm2; "all" for every one of
#             them); the harness's setup.sh installs them
#   -k        keep the scratch dir (raw JSON, daemon output)
#   -q        quick smoke run: --kills 5 --idle 5, limits idle window 5 s
# env: PEERS_DIR (harness, default <repo>/../shared/bench/peers), GO (default go),
#      KILLS (M2 kills per rep, 30), IDLE (M4 window in s, 20),
#      TEND_TRACKING (auto, cgroup or pgroup: tend's process_tracking; default
#      the daemon's, auto)
#
# Per N and rep it runs, in this order:
#   1. bench.py tend -n N    (M1 cold start, M2 restart, M3 memory, M4 idle CPU
#                             without limits, M5 stop --all, M6 status -o json)
#   2. bench.py ideal -n N   (the ideal supervisor: spawn, two O_APPEND output
#                             files per worker, respawn on wait(), nothing
#                             recorded; the reference for every ratio)
#   3. bench.py PEER -n N    for each peer asked for
#   4. limits_idle.py N      (every worker with a [worker.pN.limits] table,
#                             sample_interval 1s: daemon idle CPU over IDLE s,
#                             RSS, PSS, and 5 timed `status -o json`)
# For N above 4,000 it raises the open-file limit to what N workers need
# (ulimit -n, as root) and says so. The harness writes only under the scratch
# copy and /tmp/peers-bench. Nothing is left running: every rep shuts its
# supervisor down and the harness kills any leftover by PID.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
PEERS_DIR=${PEERS_DIR:-$REPO/../shared/bench/peers}
GO=${GO:-go}
NS="400 1000"
REPS=3
PEERS=""
KEEP=0
KILLS=${KILLS:-30}
IDLE=${IDLE:-20}
while getopts "n:r:p:kqh" o; do
  case $o in
    n) NS=$OPTARG ;;
    r) REPS=$OPTARG ;;
    p) PEERS=$OPTARG ;;
    k) KEEP=1 ;;
    q) KILLS=5; IDLE=5 ;;
    *) sed -n '2,18p' "$0"; exit 2 ;;
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
[ "$PEERS" = all ] && PEERS="supervisord runit s6 daemontools pm2"
# A peer that is not installed fails every one of its reps deep in the
# harness: say so before the run, and how to install it.
for p in $PEERS; do
  case $p in
    runit) need=runsvdir ;;
    daemontools) need=svscan ;;
    s6|s6_plain) need=s6-svscan ;;
    supervisord) need=supervisord ;;
    pm2) need=$PEERS_DIR/node_modules/.bin/pm2 ;;
    *) echo "bench-peers: no such peer: $p (supervisord runit s6 daemontools pm2)" >&2; exit 2 ;;
  esac
  if ! command -v "$need" >/dev/null 2>&1; then
    echo "bench-peers: peer $p is not installed ($need not found): run $PEERS_DIR/setup.sh" >&2
    exit 2
  fi
done
mkdir -p "$WORK/raw" "$WORK/limits"

echo "building tend ..." >&2
v=$(cd "$REPO" && git describe --tags --always --dirty 2>/dev/null || echo dev)
( cd "$REPO" && CGO_ENABLED=0 "$GO" build -ldflags "-X main.version=$v" -o "$WORK/tend" ./cmd/tend &&
    "$GO" build -ldflags "-X main.version=$v" -o "$WORK/tendd" ./cmd/tendd )
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
    res['pss_kb'] = sum(procfs.mem_kb(p)[1] for p in sup)
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
"""Tables of the same run: one row per driver and N (median [min-max] over the
reps; M2 pools every kill of every rep), then tend against its targets."""
import glob, json, statistics as S, sys
work, ns, peers = sys.argv[1], [int(x) for x in sys.argv[2].split()], sys.argv[3].split()
med = S.median
def rng(xs, f='%.2f'):
    return (f + ' [' + f + '–' + f + ']') % (med(xs), min(xs), max(xs)) if xs else 'n/a'
def pct(xs, p):
    xs = sorted(xs); return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]
def load(d, n):
    return [json.load(open(p)) for p in sorted(glob.glob('%s/raw/%s-n%d-r*.json' % (work, d, n)))]
def fig(R):
    f = {}
    f['m1'] = [r['m1_cold_start_s'] for r in R if r.get('m1_cold_start_s')]
    f['kills'] = [x * 1e3 for r in R for x in (r.get('m2_restart') or {}).get('all_s', [])]
    f['failed'] = sum((r.get('m2_restart') or {}).get('failed', 0) for r in R)
    f['pss'] = [r['m3_memory']['pss_kb'] / 1024 for r in R if r.get('m3_memory')]
    f['m5'] = [r['m5_stop_all']['all_gone_s'] for r in R if (r.get('m5_stop_all') or {}).get('all_gone_s')]
    f['m6'] = [r['m6_status']['median_s'] * 1e3 for r in R if (r.get('m6_status') or {}).get('median_s')]
    f['left'] = sum(len(r.get('leftovers_killed', [])) for r in R)
    f['errs'] = [r['error'] for r in R if r.get('error')]
    return f
def k(f, p):
    return '%.1f' % pct(f['kills'], p) if f['kills'] else 'n/a'
print('| driver | N | M1 cold start s | M2 restart median / p95 / p99 ms | M3 PSS MiB | M5 stop-all s | M6 status ms |')
print('|---|---|---|---|---|---|---|')
F = {}
for n in ns:
    for d in ['ideal', 'tend'] + peers:
        R = load(d, n)
        if not R:
            continue
        f = F[d, n] = fig(R)
        print('| %s | %d | %s | %s / %s / %s (%d kills%s) | %s | %s | %s |' % (
            d, n, rng(f['m1']), '%.1f' % med(f['kills']) if f['kills'] else 'n/a', k(f, 95), k(f, 99),
            len(f['kills']), ', %d not back' % f['failed'] if f['failed'] else '',
            rng(f['pss'], '%.1f'), rng(f['m5']), rng(f['m6'], '%.1f')))
print()
print('| target (tend, same run) | N | tend | reference | ratio | met |')
print('|---|---|---|---|---|---|')
ok = lambda c: 'yes' if c else 'NO'
for n in ns:
    t, i = F.get(('tend', n)), F.get(('ideal', n))
    if not t:
        continue
    if i and t['m1'] and i['m1']:
        r = med(t['m1']) / med(i['m1'])
        print('| cold start ≤ 1.1× ideal | %d | %.2f s | %.2f s | %.2f× | %s |' % (n, med(t['m1']), med(i['m1']), r, ok(r <= 1.1)))
    if i and t['kills'] and i['kills']:
        r = med(t['kills']) / med(i['kills'])
        print('| restart median ≤ 1.2× ideal | %d | %.1f ms | %.1f ms | %.2f× | %s |' % (n, med(t['kills']), med(i['kills']), r, ok(r <= 1.2)))
    if t['kills']:
        print('| restart p99 ≤ 25 ms | %d | %s ms | | | %s |' % (n, k(t, 99), ok(pct(t['kills'], 99) <= 25)))
    bound = {400: 16, 10000: 60}.get(n)
    if t['pss'] and bound:
        print('| PSS ≤ %d MiB | %d | %.1f MiB | | | %s |' % (bound, n, med(t['pss']), ok(med(t['pss']) <= bound)))
    best = {}
    for m in ('m5', 'm6'):
        xs = [(med(F[p, n][m]), p) for p in peers if (p, n) in F and F[p, n][m]]
        best[m] = min(xs) if xs else None
    for m, name, unit, scale, cap in (('m5', 'stop-all', 's', 1, {10000: 1.0}), ('m6', 'status', 'ms', 1, {10000: 50})):
        if not t[m]:
            continue
        if best[m]:
            print('| %s faster than the best peer | %d | %.3g %s | %s %.3g %s | %.2f× | %s |' % (
                name, n, med(t[m]), unit, best[m][1], best[m][0], unit, med(t[m]) / best[m][0], ok(med(t[m]) < best[m][0])))
        if n in cap:
            print('| %s under %g %s | %d | %.3g %s | | | %s |' % (name, cap[n], unit, n, med(t[m]), unit, ok(med(t[m]) < cap[n])))
    L = [json.load(open(p)) for p in sorted(glob.glob('%s/limits/n%d-r*.json' % (work, n)))]
    lc = [l['idle_cpu_pct'] for l in L if 'idle_cpu_pct' in l]
    if lc:
        print('| idle CPU with limits, 1 s sampling ≤ 3%% | %d | %s %% | | | %s |' % (n, rng(lc), ok(med(lc) <= 3)))
    lp = [l['pss_kb'] / 1024 for l in L if l.get('pss_kb')]
    if lp:
        print('| PSS with limits + sampler | %d | %s MiB | | | |' % (n, rng(lp, '%.1f')))
    probs = [(d, F[d, n]['errs'], F[d, n]['left']) for d in ['ideal', 'tend'] + peers if (d, n) in F and (F[d, n]['errs'] or F[d, n]['left'])]
    probs += [('limits', [l['error'] for l in L if l.get('error')], sum(len(l.get('leftovers_killed', [])) for l in L))]
    for d, e, left in probs:
        if e or left:
            print('| problems: %s | %d | errors %s; leftovers killed %d | | | |' % (d, n, e, left))
loads = [float(json.load(open(p))['loadavg_start'][0])
         for p in glob.glob('%s/raw/*.json' % work) + glob.glob('%s/limits/*.json' % work)]
if loads:
    print('\n1-min loadavg at rep start: %.2f–%.2f' % (min(loads), max(loads)))
PY

cd "$WORK/peers"
for n in $NS; do
  need=$((4 * n + 1024))
  if [ "$(ulimit -n)" -lt "$need" ]; then
    ulimit -n "$need" 2>/dev/null && echo "raised the open-file limit to $need for N=$n" >&2 \
      || echo "cannot raise the open-file limit to $need for N=$n (ulimit -n is $(ulimit -n))" >&2
  fi
  for rep in $(seq 1 "$REPS"); do
    for d in tend ideal $PEERS; do
      timeout 1800 python3 bench.py "$d" -n "$n" --first-rep "$rep" --kills "$KILLS" --idle "$IDLE" \
          --out "$WORK/raw" || echo "FAILED $d N=$n rep=$rep"
    done
    timeout 900 python3 limits_idle.py "$n" "$rep" "$IDLE" "$WORK/limits/n$n-r$rep.json" \
        || echo "FAILED limits N=$n rep=$rep"
  done
done
echo
echo "tend $("$TEND_BIN" --version 2>&1 | head -1); $(nproc) cores; $(uname -sr); $(date -u +%F); reps=$REPS kills/rep=$KILLS idle=${IDLE}s"
python3 summary.py "$WORK" "$NS" "$PEERS"
