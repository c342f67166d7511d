#!/usr/bin/env python3
"""The best figures the peer harness can report for any supervisor.

usage: ideal-supervisor.py N [KILLS] [PEERS_DIR]

An ideal supervisor: one Python process that starts N `sleep` workers with
posix_spawn and, blocked in wait(), respawns each the instant the kernel
reports its death. It writes nothing, records nothing and decides nothing.
It is measured exactly as the harness measures every supervisor
(bench.py): M1 from its launch until every worker is alive, polling /proc
every 5 ms; M2 from SIGKILL of a worker until its replacement is alive,
polling every 2 ms.

The machine floor (extra/floor.py) is measured differently: it spawns in the
measuring process and polls only afterwards, and for M2 it kills, reaps and
respawns before its first poll. A supervisor is polled from the moment of
the kill, the first poll comes too soon for any respawn, and the next one
2 ms later; and at cold start the harness polls /proc while the supervisor
spawns, on the same CPUs. These figures are what no supervisor can beat
under the harness's own method.
"""
import os
import signal
import statistics
import subprocess
import sys
import time

n = int(sys.argv[1])
kills = int(sys.argv[2]) if len(sys.argv) > 2 else 30
peers = sys.argv[3] if len(sys.argv) > 3 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), '..', '..', 'shared', 'bench', 'peers')
sys.path.insert(0, peers)
import procfs  # noqa: E402

BASE = 860000
nums = list(range(BASE + 1, BASE + n + 1))
if procfs.find_children(nums):
    sys.exit('leftover children with our numbers exist; refusing to run')

SUPERVISOR = r'''
import os, sys
SLEEP = '/usr/bin/sleep'
num_of = {os.posix_spawn(SLEEP, ['sleep', a], os.environ): a for a in sys.argv[1:]}
while True:
    pid, _ = os.wait()
    a = num_of.pop(pid, None)
    if a is not None:
        num_of[os.posix_spawn(SLEEP, ['sleep', a], os.environ)] = a
'''

watch = procfs.Watch(nums)
t0 = time.monotonic()
sup = subprocess.Popen([sys.executable, '-c', SUPERVISOR] + [str(x) for x in nums],
                       stdin=subprocess.DEVNULL, start_new_session=True)
lat = []
try:
    if not watch.wait_all(60, 0.005):
        sys.exit('the ideal supervisor did not start its workers')
    cold = time.monotonic() - t0
    time.sleep(0.5)
    live = {x: ps[0] for x, ps in procfs.find_children(nums).items()}
    for x in [nums[(i * n) // kills] for i in range(kills)]:
        w = procfs.Watch([x])
        t1 = time.monotonic()
        os.kill(live[x], signal.SIGKILL)
        if w.wait_all(timeout=10, interval=0.002):
            lat.append(time.monotonic() - t1)
            live[x] = w.live[x]
        time.sleep(0.25)
finally:
    sup.send_signal(signal.SIGSTOP)   # no respawns while its workers are ended
    for ps in procfs.find_children(nums).values():
        for p in ps:
            os.kill(p, signal.SIGKILL)
    sup.kill()
    sup.wait()
lat.sort()
print('N=%d: ideal supervisor, harness method: cold start %.2f s; restart median %.1f ms, p95 %.1f ms (%d kills)' % (
    n, cold, 1e3 * statistics.median(lat), 1e3 * lat[int(0.95 * (len(lat) - 1))], len(lat)))
