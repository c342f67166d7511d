package main

// The fault catalogue (RELIABILITY.md §3), end to end against the real
// binary: one test per row, named TestFault_Rnn_What, each asserting the
// invariants its row lists. Rows that need minutes run only under
// TEND_FAULTTEST=1 (make faulttest). Every test logs one "figures:" line
// (iterations, faults injected, events, lost, duplicated, time) for the
// README's table.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tendhq/tend/events"
)

// figures is what a fault test did and found, logged in one line.
type figures struct {
	row                string
	iterations, faults int
	events             events.Seq
	acked, lost, dup   int
	start              time.Time
	extra              []string
}

func newFigures(row string) *figures { return &figures{row: row, start: time.Now(), iterations: 1} }

func (f *figures) note(format string, args ...any) {
	f.extra = append(f.extra, fmt.Sprintf(format, args...))
}

func (f *figures) log(t *testing.T) {
	t.Helper()
	t.Logf("figures: row %s: iterations %d, faults injected %d, events %d, acknowledged %d, lost %d, duplicated %d, time %s; %s",
		f.row, f.iterations, f.faults, f.events, f.acked, f.lost, f.dup, time.Since(f.start).Round(10*time.Millisecond), strings.Join(f.extra, "; "))
}

// waitDaemonExit waits for the daemon to exit by itself and returns its
// exit status.
func (e *env) waitDaemonExit(within time.Duration) int {
	e.t.Helper()
	done := make(chan error, 1)
	go func() { done <- e.daemon.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			e.t.Fatal(err)
		}
		return 0
	case <-time.After(within):
		_ = e.daemon.Process.Kill()
		<-done
		e.t.Fatalf("the daemon did not exit within %s:\n%s", within, e.stderr)
		return -1
	}
}

// checkAcked reads the log and counts the acknowledged events that are not
// in it as acknowledged.
func (e *env) checkAcked(acked []events.JSON) (lost int) {
	e.t.Helper()
	if len(acked) == 0 {
		return 0
	}
	from := acked[0].Seq
	for _, a := range acked {
		from = min(from, a.Seq)
	}
	got := make(map[events.Seq]events.JSON)
	c := e.client()
	defer c.Close()
	if err := c.Events(context.Background(), from, false, "", "", time.Time{}, func(ev events.JSON) error {
		got[ev.Seq] = ev
		return nil
	}); err != nil {
		e.t.Fatalf("reading events from %d: %v", from, err)
	}
	for _, a := range acked {
		g, ok := got[a.Seq]
		if !ok || g.Type != a.Type || g.Worker != a.Worker || g.Incarnation != a.Incarnation || g.Time != a.Time || g.Prev != a.Prev {
			lost++
			e.t.Errorf("acknowledged but not in the log as acknowledged:\nacked:  %+v\nlogged: %+v (present %v)", a, g, ok)
		}
	}
	return lost
}

// churn runs commands on workers from one client until stop is closed and
// returns the events the daemon acknowledged.
func (e *env) churn(stop <-chan struct{}, verb string, names ...string) func() []events.JSON {
	var mu sync.Mutex
	var acked []events.JSON
	done := make(chan struct{})
	go func() {
		defer close(done)
		c := e.client()
		defer c.Close()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			res, err := c.Command(ctx, verb, names[i%len(names)], false, 3*time.Second)
			cancel()
			if err == nil && res.Event != nil {
				mu.Lock()
				acked = append(acked, *res.Event)
				mu.Unlock()
			} else {
				time.Sleep(5 * time.Millisecond)
			}
		}
	}()
	return func() []events.JSON {
		<-done
		mu.Lock()
		defer mu.Unlock()
		return acked
	}
}

func logLastSeq(t *testing.T, db string) events.Seq {
	t.Helper()
	l := openLog(t, db)
	defer l.Close()
	return l.LastSeq()
}

// ---- row 7: EIO from fdatasync ----

var (
	straceLine = regexp.MustCompile(`^(\d+)\s+(?:[\d:.]+\s+)?(\w+)\((.*)\)\s+=\s+(.*)$`)
	pwriteArgs = regexp.MustCompile(`,\s*(\d+),\s*(\d+)$`)
)

// syncPoint reads strace's output and says which fdatasync of a commit
// the injected error hit: "meta" when the same thread's write before it
// was bbolt's meta page (one page at offset 0 or one page size), "data"
// otherwise. "" when nothing was injected.
func syncPoint(t *testing.T, trace string) string {
	t.Helper()
	f, err := os.Open(trace)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lastWrite := make(map[string]string) // thread → the last pwrite64's "size,offset"
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		m := straceLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		tid, call, args, ret := m[1], m[2], m[3], m[4]
		switch call {
		case "pwrite64":
			if a := pwriteArgs.FindStringSubmatch(args); a != nil {
				lastWrite[tid] = a[1] + "," + a[2]
			}
		case "fdatasync":
			if strings.Contains(ret, "INJECTED") {
				ps := os.Getpagesize()
				if w := lastWrite[tid]; w == fmt.Sprintf("%d,0", ps) || w == fmt.Sprintf("%d,%d", ps, ps) {
					return "meta"
				}
				return "data"
			}
		}
	}
	return ""
}

// TestFault_R07_FsyncEIO: strace makes the daemon's fdatasync of its log
// fail with EIO, once, while a client restarts a worker over and over: the
// 9th sync of a thread after strace attaches (a commit's data pages) or the
// 10th (its meta page, which bbolt has already written). Which one it hit
// is read back from strace's trace.
// The daemon must fail-stop: exit with status 74 at once, log why, record
// nothing more and leave the workers running. The next start reads the
// file back, verifies the chain, finds every acknowledged command and
// adopts the workers; none runs twice.
func TestFault_R07_FsyncEIO(t *testing.T) {
	if _, err := exec.LookPath("strace"); err != nil {
		t.Skip("strace is not installed (scripts/deps.sh installs it)")
	}
	fig := newFigures("R07")
	hits := map[string]int{}
	for _, tc := range []struct{ name, when string }{{"data sync", "9"}, {"meta sync", "10"}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, fmt.Sprintf(`
[worker.still]
command = %[1]s
start_timeout = "50ms"

[worker.churn]
command = %[1]s
start_timeout = "50ms"
stop_timeout = "1s"
`, helperCmd("hang")))
			e.startReady()
			still := e.waitStatus("still", "running", running)
			e.waitStatus("churn", "running", running)
			time.Sleep(200 * time.Millisecond) // idle: the next sync is a new commit's first

			trace := filepath.Join(e.dir, "strace.out")
			straceErr := &readyWatch{}
			st := exec.Command("strace", "-f", "-tt", "-o", trace, "-P", e.db(),
				"-e", "trace=pwrite64,fdatasync", "-e", "inject=fdatasync:error=EIO:when="+tc.when,
				"-p", strconv.Itoa(e.daemon.Process.Pid))
			st.Stderr = straceErr
			if err := st.Start(); err != nil {
				t.Skipf("strace: %v", err)
			}
			defer func() { _ = st.Process.Kill(); _ = st.Wait() }()
			// Attached once every thread is traced (strace says so on stderr).
			deadline := time.Now().Add(10 * time.Second)
			for !straceErr.saw("attached") {
				if time.Now().After(deadline) {
					t.Skipf("strace did not attach (ptrace refused?): %s", straceErr.text())
				}
				time.Sleep(20 * time.Millisecond)
			}
			time.Sleep(300 * time.Millisecond)

			stop := make(chan struct{})
			acked := e.churn(stop, "restart", "churn")
			code := e.waitDaemonExit(30 * time.Second)
			close(stop)
			ack := acked()
			fig.faults++
			fig.acked += len(ack)
			_ = st.Wait()
			point := syncPoint(t, trace)
			hits[point]++
			t.Logf("EIO injected at the %s sync of a commit (strace when=%s); %d commands acknowledged before it", point, tc.when, len(ack))
			stderr := e.stderr.String()
			if code != exitLogFailed {
				t.Fatalf("daemon exit status %d, want %d (fail-stop):\n%s", code, exitLogFailed, stderr)
			}
			if point == "" {
				b, _ := os.ReadFile(trace)
				t.Fatalf("strace injected nothing, yet the daemon exited %d:\n%s\ntrace:\n%s", code, stderr, b)
			}
			if !strings.Contains(stderr, "fail-stop") || !strings.Contains(stderr, "input/output error") {
				t.Errorf("the daemon's log does not say why it stopped:\n%s", stderr)
			}
			if procGone(still.PID) {
				t.Fatal("a worker died with the daemon")
			}
			// Nothing more was recorded after the failure, and the failed
			// commit is in the file whole or not at all.
			m := regexp.MustCompile(`commit of seq (\d+)\.\.(\d+)`).FindStringSubmatch(stderr)
			if m == nil {
				t.Fatalf("the daemon's log does not name the failed commit:\n%s", stderr)
			}
			first, _ := strconv.Atoi(m[1])
			last, _ := strconv.Atoi(m[2])
			got := int(logLastSeq(t, e.db()))
			if got != first-1 && got != last {
				t.Fatalf("the log ends at seq %d; the failed commit held %d..%d: want it whole or absent, and nothing after it", got, first, last)
			}
			for _, a := range ack {
				if int(a.Seq) >= first {
					t.Fatalf("seq %d acknowledged, at or after the failed commit %d..%d", a.Seq, first, last)
				}
			}
			t.Logf("failed commit %d..%d; the file ends at %d", first, last, got)
			e.startReady()
			if w := e.waitStatus("still", "running", running); w.PID != still.PID || w.Incarnation != still.Incarnation {
				t.Fatalf("still after the restart: %+v, was %+v", w, still)
			}
			if !hasEvent(e.history("still"), func(ev events.JSON) bool { return ev.Type == "adopted" && ev.PID == still.PID }) {
				t.Fatalf("still was not adopted: %+v", e.history("still"))
			}
			fig.lost += e.checkAcked(ack)
			if out := e.mustTend("verify"); !strings.Contains(out, "ok:") {
				t.Fatalf("verify: %s", out)
			}
			e.checkReplayMatchesStatus()
			time.Sleep(300 * time.Millisecond)
			for w, ms := range markedByWorker(t, e.db()) {
				if len(ms) > 1 {
					fig.dup++
					t.Errorf("%s runs twice: %+v", w, ms)
				}
			}
			e.stopDaemon()
			fig.events += logLastSeq(t, e.db())
		})
	}
	fig.iterations = 2
	fig.note("EIO hit the data sync %d times, the meta sync %d times", hits["data"], hits["meta"])
	fig.log(t)
}

// ---- row 19: hostile output ----

// vmHWM is a process's peak resident set, in bytes.
func vmHWM(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	t.Fatalf("no VmHWM for pid %d", pid)
	return 0
}

// TestFault_R19_HostileOutput: a worker writes terminal escapes (OSC title,
// clear screen), NUL, carriage returns, bytes that are not UTF-8, and then a
// 100 MB line without a newline. `tend logs` prints every control
// character and invalid byte escaped, never raw to the operator's
// terminal; the daemon and the CLI stream the huge line with bounded
// memory (peak RSS measured).
func TestFault_R19_HostileOutput(t *testing.T) {
	fig := newFigures("R19")
	const huge = 100 << 20
	script := filepath.Join(t.TempDir(), "evil.sh")
	if err := os.WriteFile(script, []byte(fmt.Sprintf(`printf 'title \033]0;pwned\007 clear \033[2J nul \000 cr \r bad \377\376 end\n'
head -c %d /dev/zero | tr '\000' a
printf '\nlast\n'
exec sleep 1000
`, huge)), 0o644); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, fmt.Sprintf(`
[worker.evil]
command = ["/bin/sh", %q]
start_timeout = "50ms"
log_max_size = "0"
`, script))
	e.startReady()
	e.waitStatus("evil", "running", running)
	out := filepath.Join(e.dir, "state", "logs", "evil.out")
	deadline := time.Now().Add(30 * time.Second)
	for fileSize(t, out) < huge+40 {
		if time.Now().After(deadline) {
			errb, _ := os.ReadFile(strings.TrimSuffix(out, ".out") + ".err")
			t.Fatalf("the worker wrote %d bytes; stderr %q; status %+v", fileSize(t, out), errb, e.status())
		}
		time.Sleep(50 * time.Millisecond)
	}
	dpid := e.daemon.Process.Pid
	before := vmHWM(t, dpid)

	cmd := exec.Command(tendBin, "-c", e.conf, "logs", "evil", "-n", "5")
	var stdout countingSink
	cmd.Stdout = &stdout
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("tend logs: %v\n%s", err, stderr.String())
	}
	took := time.Since(start)
	cliRSS := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss << 10
	after := vmHWM(t, dpid)
	head := string(stdout.head)
	t.Logf("tend logs: %d bytes in %s; first line %q; CLI peak RSS %d MiB; daemon peak RSS %d → %d MiB",
		stdout.n, took.Round(time.Millisecond), strings.SplitN(head, "\n", 2)[0], cliRSS>>20, before>>20, after>>20)
	for _, bad := range []byte{0x1b, 0x00, 0x07, '\r', 0xff, 0xfe} {
		if stdout.seen[bad] {
			t.Errorf("tend logs printed the raw byte %#x", bad)
		}
	}
	if !strings.Contains(head, `\x1b]0;pwned\x07`) || !strings.Contains(head, `\x00`) || !strings.Contains(head, `\xff\xfe`) {
		t.Errorf("the hostile line is not printed escaped: %q", strings.SplitN(head, "\n", 2)[0])
	}
	if stdout.n < huge || !strings.HasSuffix(string(stdout.tail), "\nlast\n") {
		t.Errorf("the huge line and the one after it were not printed whole: %d bytes, ending %q", stdout.n, stdout.tail)
	}
	if cliRSS > 64<<20 {
		t.Errorf("tend logs peaked at %d MiB of RSS printing a 100 MB line", cliRSS>>20)
	}
	if after-before > 64<<20 {
		t.Errorf("the daemon's peak RSS grew by %d MiB serving a 100 MB line", (after-before)>>20)
	}
	fig.faults = 1
	fig.note("tend logs of a 100 MiB line: %s, CLI peak RSS %d MiB, daemon peak RSS %d→%d MiB", took.Round(time.Millisecond), cliRSS>>20, before>>20, after>>20)
	fig.log(t)
}

// countingSink keeps the first and last bytes written to it, counts them,
// and notes which byte values it saw.
type countingSink struct {
	n          int64
	head, tail []byte
	seen       [256]bool
}

func (c *countingSink) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	if len(c.head) < 4096 {
		c.head = append(c.head, p[:min(len(p), 4096-len(c.head))]...)
	}
	c.tail = append(c.tail, p[max(0, len(p)-64):]...)
	if len(c.tail) > 64 {
		c.tail = c.tail[len(c.tail)-64:]
	}
	for _, b := range p {
		c.seen[b] = true
	}
	return len(p), nil
}

// ---- row 3: SIGKILL of the daemon while a worker writes fast ----

// TestFault_R03_KillDuringOutput: a worker writes numbered lines as fast
// as it can (spam-stdout with no pause: well over 50,000 lines/s here)
// while the daemon is SIGKILLed and started again. The worker writes
// straight to its O_APPEND file, so it does not die of SIGPIPE or block,
// it is adopted, and its file holds every line, whole, in order: not even
// the crash window has a gap.
func TestFault_R03_KillDuringOutput(t *testing.T) {
	fig := newFigures("R03")
	e := newEnv(t, fmt.Sprintf(`
[worker.spew]
command = %s
start_timeout = "50ms"
log_max_size = "0"
`, helperCmd("spam-stdout", "0s")))
	e.startReady()
	w := e.waitStatus("spew", "running", running)
	out := filepath.Join(e.dir, "state", "logs", "spew.out")
	time.Sleep(300 * time.Millisecond)
	s0 := fileSize(t, out)
	t0 := time.Now()
	time.Sleep(200 * time.Millisecond)
	rate := float64(fileSize(t, out)-s0) / 58 / time.Since(t0).Seconds() // 58 bytes a line
	e.killDaemon()
	fig.faults++
	killedAt := fileSize(t, out)
	time.Sleep(300 * time.Millisecond)
	if procGone(w.PID) {
		t.Fatal("the worker died with the daemon (SIGPIPE?)")
	}
	e.startReady()
	if got := e.waitStatus("spew", "adopted", running); got.PID != w.PID {
		t.Fatalf("after the restart: %+v, was pid %d", got, w.PID)
	}
	time.Sleep(200 * time.Millisecond)
	e.mustTend("stop", "spew")
	waitGone(t, w.PID, "spew after stop")

	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	want, torn := 0, 0
	for sc.Scan() {
		line := sc.Text()
		if line == fmt.Sprintf("spam %08d the quick brown fox jumps over the lazy dog", want) {
			want++
			continue
		}
		var n int
		if _, err := fmt.Sscanf(line, "spam %08d ", &n); err == nil && len(line) == 57 {
			t.Fatalf("line %d follows line %d: a gap or a repeat", n, want-1)
		}
		torn++
		if torn < 5 {
			t.Errorf("after line %d, a torn or merged line: %q", want-1, line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%.0f lines/s; %d lines, %d bytes at the kill, none lost, %d torn", rate, want, killedAt, torn)
	if rate < 50000 {
		t.Logf("the worker wrote only %.0f lines/s on this machine (the row asks for 50,000)", rate)
	}
	e.stopDaemon()
	fig.events = logLastSeq(t, e.db())
	fig.note("%.0f lines/s, %d lines, gap 0, torn %d", rate, want, torn)
	fig.log(t)
}

// ---- row 6: slow fsync ----

// TestFault_R06_SlowFsync: strace delays every fdatasync of the daemon's
// log (3 s each under make faulttest, 500 ms in make test), so each commit
// takes twice that. While an operator's stop of a worker that ignores
// SIGTERM waits on those commits, status and history keep answering from
// memory and read transactions: they never queue behind the write. The
// stop timer keeps its time too: SIGKILL is decided stop_timeout after the
// stop signal went out (the events' times), however long the commits take.
func TestFault_R06_SlowFsync(t *testing.T) {
	if _, err := exec.LookPath("strace"); err != nil {
		t.Skip("strace is not installed (scripts/deps.sh installs it)")
	}
	fig := newFigures("R06")
	delay := 500 * time.Millisecond
	if os.Getenv("TEND_FAULTTEST") == "1" {
		delay = 3 * time.Second
	}
	e := newEnv(t, fmt.Sprintf(`
[worker.still]
command = %[1]s
start_timeout = "50ms"

[worker.stubborn]
command = %[2]s
start_timeout = "50ms"
stop_timeout = "1s"
`, helperCmd("hang"), helperCmd("ignore-sigterm")))
	e.startReady()
	e.waitStatus("still", "running", running)
	sb := e.waitStatus("stubborn", "running", running)
	time.Sleep(200 * time.Millisecond)

	straceErr := &readyWatch{}
	st := exec.Command("strace", "-f", "-qq", "-o", "/dev/null", "-P", e.db(), "-e", "trace=fdatasync",
		"-e", fmt.Sprintf("inject=fdatasync:delay_enter=%d", delay.Microseconds()), "-p", strconv.Itoa(e.daemon.Process.Pid))
	st.Stderr = straceErr
	if err := st.Start(); err != nil {
		t.Skipf("strace: %v", err)
	}
	detach := func() { _ = st.Process.Signal(syscall.SIGINT); _ = st.Wait() }
	defer detach()
	time.Sleep(500 * time.Millisecond) // attached (strace -qq says nothing)

	stopDone := make(chan error, 1)
	stopStart := time.Now()
	go func() {
		_, errs, code := e.tend("stop", "stubborn", "--timeout", "2m")
		if code != 0 {
			stopDone <- fmt.Errorf("tend stop: exit %d: %s", code, errs)
		}
		stopDone <- nil
	}()
	c := e.client()
	defer c.Close()
	var statusLat, historyLat []time.Duration
	for i := 0; ; i++ {
		select {
		case err := <-stopDone:
			if err != nil {
				t.Fatal(err)
			}
			goto stopped
		default:
		}
		if time.Since(stopStart) > 2*time.Minute {
			t.Fatal("tend stop did not finish in 2 minutes")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		t0 := time.Now()
		if _, err := c.Status(ctx); err != nil {
			t.Fatalf("status during a slow fsync: %v", err)
		}
		statusLat = append(statusLat, time.Since(t0))
		t0 = time.Now()
		if _, err := c.History(ctx, "still", time.Time{}, 100); err != nil {
			t.Fatalf("history during a slow fsync: %v", err)
		}
		historyLat = append(historyLat, time.Since(t0))
		cancel()
		time.Sleep(50 * time.Millisecond)
	}
stopped:
	took := time.Since(stopStart)
	detach()
	waitGone(t, sb.PID, "stubborn after its stop")
	var sent, killed time.Time
	for _, ev := range e.history("stubborn") {
		switch {
		case ev.Type == "signal_sent" && sent.IsZero():
			sent, _ = time.Parse(time.RFC3339Nano, ev.Time)
		case ev.Type == "killed":
			killed, _ = time.Parse(time.RFC3339Nano, ev.Time)
		}
	}
	if sent.IsZero() || killed.IsZero() {
		t.Fatalf("no signal_sent or killed in stubborn's history: %+v", e.history("stubborn"))
	}
	timer := killed.Sub(sent)
	maxOf := func(ds []time.Duration) time.Duration {
		m := time.Duration(0)
		for _, d := range ds {
			m = max(m, d)
		}
		return m
	}
	t.Logf("fdatasync delayed %s: tend stop took %s; SIGKILL decided %s after the stop signal (stop_timeout 1s); status max %s over %d calls, history max %s",
		delay, took.Round(time.Millisecond), timer.Round(time.Millisecond), maxOf(statusLat).Round(time.Millisecond), len(statusLat), maxOf(historyLat).Round(time.Millisecond))
	if took < 4*delay {
		t.Errorf("tend stop took %s: the delay was not injected", took)
	}
	if len(statusLat) < 5 {
		t.Fatalf("only %d status calls during the stall", len(statusLat))
	}
	// Generous bounds: the machine is shared and noisy; a read that queued
	// behind a commit would take at least 2×delay.
	if m := maxOf(statusLat); m > 500*time.Millisecond {
		t.Errorf("status took %s during a slow fsync", m)
	}
	if m := maxOf(historyLat); m > 500*time.Millisecond {
		t.Errorf("history took %s during a slow fsync", m)
	}
	if timer < time.Second || timer > 1500*time.Millisecond {
		t.Errorf("SIGKILL was decided %s after the stop signal; stop_timeout is 1s", timer)
	}
	e.stopDaemon()
	fig.faults = 1
	fig.events = logLastSeq(t, e.db())
	fig.note("fdatasync +%s: status max %s (%d calls), history max %s, stop timer %s for 1s, tend stop %s",
		delay, maxOf(statusLat).Round(time.Millisecond), len(statusLat), maxOf(historyLat).Round(time.Millisecond), timer.Round(time.Millisecond), took.Round(time.Millisecond))
	fig.log(t)
}
