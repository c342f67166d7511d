package main

// Crash recovery, end to end: the daemon is SIGKILLed, its log is damaged,
// its disk fills up. Nothing acknowledged is lost, no worker runs twice, and
// the daemon says what is wrong and what to do about it.

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"

	"github.com/tendhq/tend/cmd/internal/cli"
	"github.com/tendhq/tend/cmd/internal/client"
	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/store"
	"github.com/tendhq/tend/supervisor/proc"
)

// ---- helpers ----

// procGone says whether pid has exited: no such process, or a zombie
// nobody reaped yet (its parent may be an init that never reaps).
func procGone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || b[i+2] == 'Z' || b[i+2] == 'X'
}

func waitGone(t *testing.T, pid int, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !procGone(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("%s (pid %d) is still running", what, pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// markedByWorker lists the live processes carrying this log's markers, by
// worker.
// twins says how many workers have two live processes, and which, once
// tries checks 100 ms apart have found some each time: a stray that
// recovery is killing is gone by then.
func (e *env) twins(tries int) (int, string) {
	e.t.Helper()
	for attempt := 0; ; attempt++ {
		n, msg := 0, ""
		for w, ms := range markedByWorker(e.t, e.db()) {
			if len(ms) > 1 {
				n++
				msg += fmt.Sprintf(" %s: %+v", w, ms)
			}
		}
		if n == 0 || attempt == tries {
			return n, msg
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func markedByWorker(t testing.TB, instance string) map[string][]proc.Marked {
	t.Helper()
	ms, err := proc.FindMarked(instance)
	if err != nil {
		t.Fatalf("find marked processes: %v", err)
	}
	out := make(map[string][]proc.Marked)
	for _, m := range ms {
		out[m.Worker] = append(out[m.Worker], m)
	}
	return out
}

func (e *env) client() *client.Client { return client.New(e.socket()) }

// fullStatus is GET /v1/status, seq and log failure included.
func (e *env) fullStatus() client.Status {
	e.t.Helper()
	c := e.client()
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := c.Status(ctx)
	if err != nil {
		e.t.Fatalf("status: %v", err)
	}
	return st
}

// sameState compares what status says with what a replay says, on the
// fields the fold decides (not the sampled RSS and CPU).
func sameState(a, b client.WorkerStatus) bool {
	return a.Name == b.Name && a.State == b.State && a.PID == b.PID && a.Incarnation == b.Incarnation &&
		a.Restarts == b.Restarts && a.Since.Equal(b.Since) && a.Cause == b.Cause && a.BreakerOpen == b.BreakerOpen
}

// checkReplayMatchesStatus folds the log up to the seq status reports and
// checks it gives the state the daemon reports.
func (e *env) checkReplayMatchesStatus() client.Status {
	e.t.Helper()
	st := e.fullStatus()
	c := e.client()
	defer c.Close()
	var r client.ReplayResult
	if err := c.Get(context.Background(), "/v1/replay", url.Values{"seq": {fmt.Sprint(st.Seq)}}, &r); err != nil {
		e.t.Fatalf("replay --seq %d: %v", st.Seq, err)
	}
	if err := diffReplay(st, r); err != nil {
		e.t.Fatal(err)
	}
	return st
}

func diffReplay(st client.Status, r client.ReplayResult) error {
	rw := make(map[string]client.WorkerStatus)
	for _, w := range r.Workers {
		rw[w.Name] = w
	}
	for _, w := range st.Workers {
		if !sameState(w, rw[w.Name]) {
			return fmt.Errorf("status at seq %d and its replay differ for %s:\nstatus: %+v\nreplay: %+v", st.Seq, w.Name, w, rw[w.Name])
		}
	}
	return nil
}

func hasEvent(evs []events.JSON, match func(events.JSON) bool) bool {
	for _, ev := range evs {
		if match(ev) {
			return true
		}
	}
	return false
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// daemonRefuses starts a daemon that must not come up, and returns what it
// said.
func (e *env) daemonRefuses() string {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, tendBin, "daemon", "-c", e.conf).CombinedOutput()
	if ctx.Err() != nil {
		e.t.Fatalf("the daemon started where it must refuse:\n%s", out)
	}
	if err == nil {
		e.t.Fatalf("the daemon exited 0 where it must refuse:\n%s", out)
	}
	return string(out)
}

// readyWatch is a writer that notices the daemon's "ready" line: the
// socket answers before recovery is done, the line comes after it.
type readyWatch struct {
	tail  []byte // only the writing goroutine touches it
	ready atomic.Bool

	mu  sync.Mutex
	all bytes.Buffer // everything, for tests to read while the daemon runs
}

func (r *readyWatch) text() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.all.String()
}

// saw says whether the daemon has logged s so far.
func (r *readyWatch) saw(s string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Contains(r.all.Bytes(), []byte(s))
}

func (r *readyWatch) Write(p []byte) (int, error) {
	r.mu.Lock()
	r.all.Write(p)
	r.mu.Unlock()
	if !r.ready.Load() {
		r.tail = append(r.tail, p...)
		if bytes.Contains(r.tail, []byte("tend daemon ready")) {
			r.ready.Store(true)
			r.tail = nil
		} else if i := bytes.LastIndexByte(r.tail, '\n'); i >= 0 {
			r.tail = r.tail[i+1:]
		}
	}
	return len(p), nil
}

// startReady starts the daemon and waits until it has recovered and is
// ready, not only answering.
func (e *env) startReady(args ...string) *readyWatch {
	e.t.Helper()
	e.stderr = &bytes.Buffer{}
	rw := &readyWatch{}
	e.daemon = exec.Command(tendBin, append([]string{"daemon", "-c", e.conf}, args...)...)
	e.daemon.Stderr = io.MultiWriter(e.stderr, rw)
	if err := e.daemon.Start(); err != nil {
		e.t.Fatal(err)
	}
	exited := make(chan struct{})
	pid := e.daemon.Process.Pid // e.daemon is replaced by the next start
	go func() {
		// Only to notice an early exit; Wait stays the harness's.
		for !rw.ready.Load() {
			if procGone(pid) {
				close(exited)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	deadline := time.Now().Add(20 * time.Second)
	for !rw.ready.Load() {
		select {
		case <-exited:
			_ = e.daemon.Wait()
			e.t.Fatalf("daemon exited during start-up:\n%s", e.stderr)
		default:
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("daemon not ready after 20s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return rw
}

// ---- fast tests ----

func TestCrashAdoptsLiveWorkers(t *testing.T) {
	e := newEnv(t, fmt.Sprintf(`
[worker.a]
command = %[1]s
start_timeout = "100ms"

[worker.b]
command = %[1]s
start_timeout = "100ms"

[worker.spam]
command = %[2]s
start_timeout = "100ms"

[worker.doomed]
command = %[1]s
start_timeout = "100ms"
restart = "always"
backoff_initial = "0s"
`, helperCmd("hang"), helperCmd("spam-stdout", "2ms")))
	names := []string{"a", "b", "spam", "doomed"}
	e.startReady()
	before := make(map[string]client.WorkerStatus)
	for _, n := range names {
		before[n] = e.waitStatus(n, "running", running)
	}
	for _, n := range names {
		if ms := markedByWorker(t, e.db())[n]; len(ms) != 1 || ms[0].Identity.PID != before[n].PID {
			t.Fatalf("%s: marked processes %+v, status pid %d", n, ms, before[n].PID)
		}
	}

	e.killDaemon()
	// The workers outlive the daemon, and their output keeps flowing.
	for _, n := range names {
		if procGone(before[n].PID) {
			t.Fatalf("%s (pid %d) died with the daemon", n, before[n].PID)
		}
	}
	out := filepath.Join(e.dir, "state", "logs", "spam.out")
	s1 := fileSize(t, out)
	time.Sleep(300 * time.Millisecond)
	if s2 := fileSize(t, out); s2 <= s1 {
		t.Fatalf("spam's output stopped while the daemon was down: %d then %d bytes", s1, s2)
	}
	// One worker dies while nobody watches.
	if err := syscall.Kill(before["doomed"].PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitGone(t, before["doomed"].PID, "doomed")

	e.startReady()
	for _, n := range []string{"a", "b", "spam"} {
		w := e.waitStatus(n, "running", running)
		if w.PID != before[n].PID || w.Incarnation != before[n].Incarnation {
			t.Fatalf("%s after restart: %+v, before: %+v", n, w, before[n])
		}
		if !hasEvent(e.history(n), func(ev events.JSON) bool {
			return ev.Type == "adopted" && ev.Actor == "recovery" && ev.PID == before[n].PID && ev.Incarnation == before[n].Incarnation
		}) {
			t.Fatalf("%s: no adopted event by recovery for pid %d: %+v", n, before[n].PID, e.history(n))
		}
	}
	// The dead one is lost, and its policy restarts it.
	d := e.waitStatus("doomed", "restarted", func(w client.WorkerStatus) bool {
		return running(w) && w.Incarnation == before["doomed"].Incarnation+1
	})
	if d.PID == before["doomed"].PID {
		t.Fatalf("doomed restarted with its old pid: %+v", d)
	}
	hd := e.history("doomed")
	if !hasEvent(hd, func(ev events.JSON) bool {
		return ev.Type == "lost" && ev.Actor == "recovery" && ev.PID == before["doomed"].PID
	}) || hasEvent(hd, func(ev events.JSON) bool { return ev.Type == "adopted" }) {
		t.Fatalf("doomed: want lost (not adopted) by recovery: %+v", hd)
	}
	// Exactly one process per worker, the one status names.
	st := e.status()
	marked := markedByWorker(t, e.db())
	for _, n := range names {
		if ms := marked[n]; len(ms) != 1 || ms[0].Identity.PID != st[n].PID {
			t.Fatalf("%s: marked processes %+v, status pid %d", n, ms, st[n].PID)
		}
	}
	s3 := fileSize(t, out)
	time.Sleep(100 * time.Millisecond)
	if s4 := fileSize(t, out); s4 <= s3 {
		t.Fatalf("spam's output stopped after adoption: %d then %d bytes", s3, s4)
	}

	// An adopted worker is stopped like any other.
	e.mustTend("stop", "a")
	waitGone(t, before["a"].PID, "adopted worker a after tend stop")
	if w := e.status()["a"]; w.State != "Stopped" && w.State != "Killed" {
		t.Fatalf("a after stop: %+v", w)
	}
	if out := e.mustTend("verify"); !strings.Contains(out, "ok:") {
		t.Fatalf("verify: %s", out)
	}
	e.checkReplayMatchesStatus()

	// An orderly stop ends the adopted ones too.
	e.stopDaemon()
	for _, n := range []string{"b", "spam"} {
		waitGone(t, before[n].PID, n+" after the daemon's orderly stop")
	}
	if ms := markedByWorker(t, e.db()); len(ms) != 0 {
		t.Fatalf("processes left after an orderly stop: %+v", ms)
	}
}

func TestLeaveRunning(t *testing.T) {
	e := newEnv(t, hangWorkers("a", "b", "c"))
	e.startReady("--leave-running")
	before := map[string]client.WorkerStatus{
		"a": e.waitStatus("a", "running", running),
		"b": e.waitStatus("b", "running", running),
	}
	// c is stopped by an operator: a hand-over leaves it stopped.
	e.waitStatus("c", "running", running)
	e.mustTend("stop", "c")
	e.stopDaemon() // SIGTERM, orderly, leaving the workers
	for n, w := range before {
		if procGone(w.PID) {
			t.Fatalf("%s (pid %d) did not outlive --leave-running", n, w.PID)
		}
	}
	e.startReady()
	for n, w := range before {
		got := e.waitStatus(n, "running", running)
		if got.PID != w.PID || got.Incarnation != w.Incarnation {
			t.Fatalf("%s: was %+v, now %+v", n, w, got)
		}
		if !hasEvent(e.history(n), func(ev events.JSON) bool {
			return ev.Type == "adopted" && ev.Actor == "recovery" && ev.PID == w.PID
		}) {
			t.Fatalf("%s not adopted: %+v", n, e.history(n))
		}
		if ms := markedByWorker(t, e.db())[n]; len(ms) != 1 {
			t.Fatalf("%s: %d processes: %+v", n, len(ms), ms)
		}
	}
	stayedStopped(t, e, "c", "the last daemon left its workers running")
	// Without --leave-running this time: SIGTERM stops them.
	e.stopDaemon()
	for n, w := range before {
		waitGone(t, w.PID, n)
	}
}

// hangWorkers is a configuration of workers that run until stopped and
// are Running 100 ms after their spawn.
func hangWorkers(names ...string) string {
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "\n[worker.%s]\ncommand = %s\nstart_timeout = \"100ms\"\n", n, helperCmd("hang"))
	}
	return b.String()
}

// stayedStopped checks, after a new daemon took over, that name is still
// Stopped in its first incarnation, and that daemon_started says why.
func stayedStopped(t *testing.T, e *env, name, why string) {
	t.Helper()
	time.Sleep(300 * time.Millisecond) // a start would be under way by now
	if w := e.status()[name]; w.State != "Stopped" || w.Incarnation != 1 {
		t.Fatalf("%s is %s (incarnation %d) under the next daemon, want Stopped as it was left", name, w.State, w.Incarnation)
	}
	if !hasEvent(e.history(name), func(ev events.JSON) bool { return ev.Type == "stop_requested" }) {
		t.Fatalf("%s: no stop in its history: %+v", name, e.history(name))
	}
	out := e.mustTend("events", "--type", "daemon_started", "-o", "json")
	if last := strings.TrimSpace(out); !strings.Contains(last[strings.LastIndex(last, "\n")+1:], why) {
		t.Fatalf("the last daemon_started does not say %q:\n%s", why, out)
	}
}

// A daemon killed outright is resumed: a worker an operator stopped before
// the crash stays stopped, the running one is adopted; after an orderly
// stop the next start is a fresh one and starts both.
func TestACrashLeavesAStoppedWorkerStopped(t *testing.T) {
	e := newEnv(t, hangWorkers("up", "down"))
	e.startReady()
	up := e.waitStatus("up", "running", running)
	e.waitStatus("down", "running", running)
	e.mustTend("stop", "down")
	e.killDaemon()
	e.startReady()
	if got := e.waitStatus("up", "running", running); got.PID != up.PID {
		t.Fatalf("up: was pid %d, now %+v", up.PID, got)
	}
	stayedStopped(t, e, "down", "the last daemon ended without shutting down")
	e.stopDaemon()
	waitGone(t, up.PID, "up")
	e.startReady()
	e.waitStatus("down", "started by a fresh start", func(w client.WorkerStatus) bool { return running(w) && w.Incarnation == 2 })
	e.waitStatus("up", "started by a fresh start", func(w client.WorkerStatus) bool { return running(w) && w.Incarnation == 2 })
	e.stopDaemon()
}

// recordOffset finds where in the file the record of seq is stored, through
// bbolt's own view of the mapped file.
func recordOffset(t *testing.T, path string, seq events.Seq) (int64, int) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var off int64
	var n int
	err = db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket([]byte("events")).Get(binary.BigEndian.AppendUint64(nil, uint64(seq)))
		if len(v) == 0 {
			return fmt.Errorf("no record for seq %d", seq)
		}
		off = int64(uintptr(unsafe.Pointer(&v[0])) - db.Info().Data)
		n = len(v)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return off, n
}

func copyFile(t *testing.T, from, to string) []byte {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestTornOrCorruptLog(t *testing.T) {
	e := newEnv(t, fmt.Sprintf(`
[worker.w]
command = %s
start_timeout = "50ms"
restart = "always"
backoff_initial = "0s"
`, helperCmd("hang")))
	e.startReady()
	e.waitStatus("w", "running", running)
	for range 40 {
		e.mustTend("restart", "w", "--no-wait")
	}
	e.waitStatus("w", "running", running)
	e.stopDaemon()
	l := openLog(t, e.db())
	last := l.LastSeq()
	l.Close()
	good := filepath.Join(e.dir, "good.db")
	orig := copyFile(t, e.db(), good)

	// recoverInto runs tend recover and checks it never touched its source.
	recoverInto := func(src, dst string) string {
		t.Helper()
		before, _ := os.ReadFile(src)
		out, errs, code := e.tend("recover", "--db", src, "--out", dst)
		if after, _ := os.ReadFile(src); !bytes.Equal(before, after) {
			t.Fatalf("tend recover modified its source %s", src)
		}
		if code != 0 {
			t.Fatalf("recover: exit %d: %s%s", code, out, errs)
		}
		if out, errs, code := e.tend("verify", "--db", dst); code != 0 || !strings.Contains(out, "ok:") {
			t.Fatalf("the recovered log does not verify: %s%s", out, errs)
		}
		return out
	}
	// useRecovered puts a recovered log in place and checks a daemon works on it.
	useRecovered := func(rec string) {
		t.Helper()
		if err := os.Rename(rec, e.db()); err != nil {
			t.Fatal(err)
		}
		e.startReady()
		e.waitStatus("w", "running", running)
		e.mustTend("restart", "w")
		e.waitStatus("w", "running", running)
		if out := e.mustTend("verify"); !strings.Contains(out, "ok:") {
			t.Fatalf("verify on the recovered log: %s", out)
		}
		e.checkReplayMatchesStatus()
		e.stopDaemon()
	}

	t.Run("flipped bytes", func(t *testing.T) {
		bad := events.Seq(last / 2)
		off, n := recordOffset(t, good, bad)
		b := bytes.Clone(orig)
		for i := range 4 {
			b[off+int64(n/2+i)] ^= 0xff
		}
		if err := os.WriteFile(e.db(), b, 0o600); err != nil {
			t.Fatal(err)
		}
		msg := e.daemonRefuses()
		if !strings.Contains(msg, "tend recover") || !strings.Contains(msg, e.db()) || !strings.Contains(msg, fmt.Sprint("seq ", bad)) {
			t.Fatalf("the refusal does not say what is wrong and what to run:\n%s", msg)
		}
		out, _, code := e.tend("verify", "--db", e.db())
		if code == 0 {
			t.Fatalf("verify passed a damaged log: %s", out)
		}
		rec := filepath.Join(e.dir, "recovered.db")
		out = recoverInto(e.db(), rec)
		want := fmt.Sprintf("copied %d events (seq 1..%d)", bad-1, bad-1)
		if !strings.Contains(out, want) || !strings.Contains(out, fmt.Sprintf("dropped %d records from seq %d", last-bad+1, bad)) {
			t.Fatalf("recover report (want %q and the drop of seq %d..%d):\n%s", want, bad, last, out)
		}
		useRecovered(rec)
	})

	t.Run("truncated", func(t *testing.T) {
		// Cut the file at the start of the page that holds a record from
		// the middle of the log: that record and the pages after are gone.
		off, _ := recordOffset(t, good, events.Seq(last/2))
		cut := off - off%4096
		if err := os.WriteFile(e.db(), orig[:cut], 0o600); err != nil {
			t.Fatal(err)
		}
		msg := e.daemonRefuses()
		t.Logf("refusal:\n%s", msg)
		if !strings.Contains(msg, "tend recover") || !strings.Contains(msg, "truncated") {
			t.Fatalf("the refusal does not say what is wrong and what to run:\n%s", msg)
		}
		rec := filepath.Join(e.dir, "recovered-trunc.db")
		out := recoverInto(e.db(), rec)
		rl := openLog(t, rec)
		n := rl.LastSeq()
		if err := rl.Close(); err != nil {
			t.Fatal(err)
		}
		t.Logf("truncated to %d of %d bytes: recovered %d of %d events:\n%s", cut, len(orig), n, last, out)
		copied := fmt.Sprintf("copied %d events", n)
		if n == 0 {
			copied = "copied no events"
		}
		if n >= last || !strings.Contains(out, copied) || !strings.Contains(out, fmt.Sprintf("from seq %d", n+1)) {
			t.Fatalf("recover of a truncated log (%d of %d events in the copy):\n%s", n, last, out)
		}
		useRecovered(rec)
	})
}

// mountTmpfs mounts a small tmpfs at dir, or skips the test.
func mountTmpfs(t *testing.T, dir, size string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	// mode: a tmpfs's root is 1777 unless told otherwise, and a state
	// directory every user can write is refused (it holds worker output).
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0750", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs to fill (needs root and mount rights): %v %s", err, out)
	}
}

func unmount(t *testing.T, dir string) {
	if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
		t.Logf("umount %s: %v %s; detaching lazily", dir, err, out)
		_ = exec.Command("umount", "-l", dir).Run()
	}
}

// fill writes a file until the file system says it is full.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling the disk: %v", err)
			}
			break
		}
	}
	// Crumbs: whatever a short write left.
	for {
		if _, err := f.Write(buf[:512]); err != nil {
			return
		}
	}
}

// TestFault_R05_DiskFull (row 5): the state directory fills up while a
// crash-looper makes the daemon commit all the time and a client restarts a
// worker. The first commit the disk refuses fail-stops the daemon: it exits
// with status 74, names the disk error, records nothing more and leaves the
// workers running. With space again, the next start finds every
// acknowledged command, adopts the workers and carries on: no gap in the
// seqs, no worker twice, the chain verifies.
func TestFault_R05_DiskFull(t *testing.T) {
	fig := newFigures("R05")
	e := newEnv(t, fmt.Sprintf(`
[worker.h1]
command = %[1]s
start_timeout = "50ms"

[worker.h2]
command = %[1]s
start_timeout = "50ms"

[worker.loop]
command = %[2]s
start_timeout = "10ms"
restart = "always"
backoff_initial = "0s"
backoff_max = "20ms"
circuit_max_restarts = 0
`, helperCmd("hang"), helperCmd("crash-after", "30ms", "1")))
	state := filepath.Join(e.dir, "state")
	mountTmpfs(t, state, "2m")
	t.Cleanup(func() {
		e.stopDaemon()
		killMarked(e.db())
		unmount(t, state)
	})
	e.startReady()
	h1 := e.waitStatus("h1", "running", running)
	e.waitStatus("h2", "running", running)
	time.Sleep(300 * time.Millisecond) // the loop writes events

	stop := make(chan struct{})
	acked := e.churn(stop, "restart", "h2")
	time.Sleep(300 * time.Millisecond) // some commands are acknowledged first
	filler := filepath.Join(state, "filler")
	fill(t, filler)
	fig.faults++
	code := e.waitDaemonExit(60 * time.Second)
	close(stop)
	ack := acked()
	fig.acked = len(ack)
	stderr := e.stderr.String()
	if code != cli.ExitLogFailed {
		t.Fatalf("daemon exit status %d on a full disk, want %d:\n%s", code, cli.ExitLogFailed, stderr)
	}
	if !strings.Contains(stderr, "no space left on device") || !strings.Contains(stderr, "fail-stop") {
		t.Errorf("the daemon's log does not name the disk error and the fail-stop:\n%s", stderr)
	}
	if procGone(h1.PID) {
		t.Fatal("h1 died with the daemon on a full disk")
	}
	// With the disk still full, a new daemon stops at its first commit, the
	// same way, and leaves the workers alone.
	e.stderr = &bytes.Buffer{}
	e.daemon = exec.Command(tendBin, "daemon", "-c", e.conf)
	e.daemon.Stderr = e.stderr
	if err := e.daemon.Start(); err != nil {
		t.Fatal(err)
	}
	if code := e.waitDaemonExit(30 * time.Second); code != cli.ExitLogFailed {
		t.Fatalf("a daemon started on the full disk: exit status %d, want %d:\n%s", code, cli.ExitLogFailed, e.stderr)
	}
	if procGone(h1.PID) {
		t.Fatal("h1 died with a daemon started on the full disk")
	}

	// Space again: the next start adopts the workers and carries on.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	e.startReady()
	if w := e.waitStatus("h1", "adopted", running); w.PID != h1.PID {
		t.Fatalf("h1 after the restart: %+v, was pid %d", w, h1.PID)
	}
	fig.lost = e.checkAcked(ack)
	e.mustTend("stop", "h1")
	waitGone(t, h1.PID, "h1 after tend stop")
	h2 := e.status()["h2"]
	e.mustTend("restart", "h2")
	if w := e.waitStatus("h2", "running", running); w.PID == h2.PID {
		t.Fatalf("h2 not restarted: %+v", w)
	}
	inc := e.status()["loop"].Incarnation
	e.waitStatus("loop", "restarted again after the disk recovered", func(w client.WorkerStatus) bool { return w.Incarnation >= inc+3 })
	if out := e.mustTend("verify"); !strings.Contains(out, "ok:") {
		t.Fatalf("verify: %s", out)
	}
	st := e.checkReplayMatchesStatus()
	// No gap: every seq from 1 to the head, in order.
	c := e.client()
	defer c.Close()
	want := events.Seq(1)
	err := c.Events(context.Background(), 1, false, "", "", time.Time{}, func(ev events.JSON) error {
		if ev.Seq != want {
			return fmt.Errorf("seq %d follows seq %d", ev.Seq, want-1)
		}
		want++
		return nil
	})
	if err != nil || want <= st.Seq {
		t.Fatalf("events 1..%d: %v (read up to %d)", st.Seq, err, want-1)
	}
	ms := markedByWorker(t, e.db())
	if len(ms["loop"]) > 1 || len(ms["h2"]) != 1 || len(ms["h1"]) != 0 {
		fig.dup++
		t.Fatalf("processes after the full disk: %+v", ms)
	}
	fig.events = st.Seq
	fig.iterations = 2
	fig.note("a 2 MiB tmpfs filled: exit 74 on ENOSPC, again 74 for a daemon started on the full disk, then adopted and carried on once space was freed")
	fig.log(t)
}

// ---- fault injection (make faulttest) ----

// ack is a command's event as the daemon acknowledged it.
type ack struct {
	ev   events.JSON
	iter int
}

// faultStats counts what TestFaultInjection did and found.
type faultStats struct {
	iterations, kills, startupKills int
	commands, acked, checked        int
	lost, duplicates, mismatches    int
}

// reaper makes this process the subreaper of whatever the killed daemons
// orphan, and reaps those workers once they exit: the machine's init may
// never reap them, and hundreds of kills would fill the pid table.
func reaper(t *testing.T) {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Logf("not a subreaper (%v): orphaned workers are left to init", err)
		return
	}
	exe, _ := os.Executable()
	comm := filepath.Base(exe)
	if len(comm) > 15 {
		comm = comm[:15]
	}
	self := os.Getpid()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			ents, _ := os.ReadDir("/proc")
			for _, d := range ents {
				pid, err := strconv.Atoi(d.Name())
				if err != nil {
					continue
				}
				b, err := os.ReadFile("/proc/" + d.Name() + "/stat")
				if err != nil {
					continue
				}
				i, j := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
				if i < 0 || j < i || j+2 >= len(b) {
					continue
				}
				f := strings.Fields(string(b[j+2:]))
				// Only zombie workers (this test binary re-executed) whose
				// parent is this process: never the daemons and CLIs that
				// exec.Cmd waits for.
				if len(f) < 2 || f[0] != "Z" || f[1] != strconv.Itoa(self) || string(b[i+1:j]) != comm {
					continue
				}
				var ws syscall.WaitStatus
				_, _ = syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
			}
		}
	}()
	t.Cleanup(func() {
		close(stop)
		<-done
		_ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
	})
}

func TestFaultInjection(t *testing.T) {
	if os.Getenv("TEND_FAULTTEST") != "1" {
		t.Skip("long: run with TEND_FAULTTEST=1 (make faulttest)")
	}
	iterations := 200
	if s := os.Getenv("TEND_FAULT_ITERATIONS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			t.Fatalf("TEND_FAULT_ITERATIONS=%q", s)
		}
		iterations = n
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("TEND_FAULT_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d (TEND_FAULT_SEED), %d iterations (TEND_FAULT_ITERATIONS)", seed, iterations)
	rng := rand.New(rand.NewPCG(seed, 1))
	reaper(t)

	var conf strings.Builder
	conf.WriteString("[daemon]\nstate_dir = \"state\"\nlog_level = \"info\"\n")
	var names []string
	for i := range 32 {
		name := fmt.Sprintf("w%02d", i)
		names = append(names, name)
		backoff := fmt.Sprintf("%dms", rng.IntN(51))
		switch {
		case i < 20: // long-running
			fmt.Fprintf(&conf, "\n[worker.%s]\ncommand = %s\nstart_timeout = \"30ms\"\nstop_timeout = \"500ms\"\nrestart = \"always\"\nbackoff_initial = %q\nbackoff_max = \"100ms\"\n",
				name, helperCmd("hang"), backoff)
		case i < 28: // crash-looping
			fmt.Fprintf(&conf, "\n[worker.%s]\ncommand = %s\nstart_timeout = \"10ms\"\nstop_timeout = \"500ms\"\nrestart = \"always\"\nbackoff_initial = %q\nbackoff_max = \"50ms\"\ncircuit_max_restarts = 0\n",
				name, helperCmd("crash-after", fmt.Sprintf("%dms", 20+rng.IntN(200)), "1"), backoff)
		default: // exits cleanly now and then, restarted on failure only
			fmt.Fprintf(&conf, "\n[worker.%s]\ncommand = %s\nstart_timeout = \"10ms\"\nstop_timeout = \"500ms\"\nrestart = \"on-failure\"\nbackoff_initial = %q\n",
				name, helperCmd("sleep", fmt.Sprintf("%dms", 100+rng.IntN(400))), backoff)
		}
	}
	e := newEnv(t, "")
	e.write(conf.String())
	start := time.Now()
	var fs faultStats
	var twinsSeen atomic.Int64
	var pending []ack // acknowledged, not yet checked against the log

	// checkAcks reads the log from the oldest unchecked ack and checks every
	// acknowledged event is there, as acknowledged.
	checkAcks := func(iter int) {
		t.Helper()
		if len(pending) == 0 {
			return
		}
		from := pending[0].ev.Seq
		for _, a := range pending {
			from = min(from, a.ev.Seq)
		}
		got := make(map[events.Seq]events.JSON)
		c := e.client()
		err := c.Events(context.Background(), from, false, "", "", time.Time{}, func(ev events.JSON) error {
			got[ev.Seq] = ev
			return nil
		})
		c.Close()
		if err != nil {
			t.Fatalf("iteration %d: reading events from %d: %v", iter, from, err)
		}
		for _, a := range pending {
			g, ok := got[a.ev.Seq]
			fs.checked++
			if !ok || g.Type != a.ev.Type || g.Worker != a.ev.Worker || g.Incarnation != a.ev.Incarnation || g.Time != a.ev.Time || g.Prev != a.ev.Prev {
				fs.lost++
				t.Errorf("iteration %d: acknowledged in iteration %d but not in the log as acknowledged:\nacked:  %+v\nlogged: %+v (present %v)", iter, a.iter, a.ev, g, ok)
			}
		}
		pending = pending[:0]
	}

	// checkNoTwins fails when a worker has two live processes, and stays so
	// a moment later (a stray being killed by recovery is gone by then).
	checkNoTwins := func(iter int) {
		t.Helper()
		if n, msg := e.twins(10); n > 0 {
			fs.duplicates += n
			t.Errorf("iteration %d: workers with two live processes:%s", iter, msg)
		}
	}

	// Between the checks at each restart, a sampler watches all along
	// (churn, kill, downtime, recovery) for two live processes of one
	// worker that stay so for more than a second.
	samplerStop := make(chan struct{})
	samplerDone := make(chan struct{})
	var sampled atomic.Int64
	go func() {
		defer close(samplerDone)
		type pair struct {
			w    string
			a, b proc.Identity
		}
		seen := make(map[pair]time.Time)
		reported := make(map[pair]bool)
		for {
			select {
			case <-samplerStop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			ms, err := proc.FindMarked(e.db())
			if err != nil {
				continue
			}
			sampled.Add(1)
			by := make(map[string][]proc.Marked)
			for _, m := range ms {
				by[m.Worker] = append(by[m.Worker], m)
			}
			now := time.Now()
			for w, list := range by {
				for i := range list {
					for j := i + 1; j < len(list); j++ {
						p := pair{w, list[i].Identity, list[j].Identity}
						if _, ok := seen[p]; !ok {
							seen[p] = now
						}
						if now.Sub(seen[p]) > time.Second && !reported[p] && !procGone(p.a.PID) && !procGone(p.b.PID) {
							reported[p] = true
							t.Errorf("worker %s has two live processes for over a second: %+v and %+v", w, list[i], list[j])
							twinsSeen.Add(1)
						}
					}
				}
			}
		}
	}()

	for iter := 1; iter <= iterations; iter++ {
		fs.iterations++
		// Now and then, kill the daemon while it replays and recovers.
		if rng.IntN(5) == 0 {
			d := exec.Command(tendBin, "daemon", "-c", e.conf)
			if err := d.Start(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Duration(rng.IntN(150)) * time.Millisecond)
			_ = d.Process.Kill()
			_ = d.Wait()
			fs.kills++
			fs.startupKills++
		}
		e.startReady()
		checkAcks(iter)
		checkNoTwins(iter)
		if err := e.checkReplayMatchesStatusErr(); err != nil {
			fs.mismatches++
			t.Errorf("iteration %d: %v", iter, err)
		}
		if iter%10 == 0 || iter == iterations {
			var rep store.Report
			c := e.client()
			err := c.Get(context.Background(), "/v1/verify", nil, &rep)
			c.Close()
			if err != nil || !rep.OK {
				t.Fatalf("iteration %d: verify: %v %+v", iter, err, rep)
			}
		}
		if t.Failed() && fs.lost+fs.duplicates+fs.mismatches > 20 {
			t.Fatalf("giving up after %d problems", fs.lost+fs.duplicates+fs.mismatches)
		}

		// Churn: eight clients, start/stop/restart on random workers, until
		// the daemon is killed under them.
		var mu sync.Mutex
		var stop atomic.Bool
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Add(1)
			r := rand.New(rand.NewPCG(seed, uint64(iter*100+g)))
			go func() {
				defer wg.Done()
				c := e.client()
				defer c.Close()
				for !stop.Load() {
					verb := []string{"start", "stop", "restart"}[r.IntN(3)]
					name := names[r.IntN(len(names))]
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					res, err := c.Command(ctx, verb, name, r.IntN(3) == 0, 3*time.Second)
					cancel()
					mu.Lock()
					fs.commands++
					if err == nil && res.Event != nil {
						fs.acked++
						pending = append(pending, ack{ev: *res.Event, iter: iter})
					}
					mu.Unlock()
					if err != nil {
						time.Sleep(5 * time.Millisecond)
					}
				}
			}()
		}
		time.Sleep(time.Duration(20+rng.IntN(600)) * time.Millisecond)
		e.killDaemon()
		fs.kills++
		stop.Store(true)
		wg.Wait()
		if rng.IntN(4) == 0 {
			// Leave the workers to themselves a while: crash-loopers die
			// and must be found lost.
			time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
		}
		if iter%20 == 0 {
			t.Logf("iteration %d/%d: %d kills, %d acknowledged, %s", iter, iterations, fs.kills, fs.acked, time.Since(start).Round(time.Second))
		}
	}

	close(samplerStop)
	<-samplerDone
	fs.duplicates += int(twinsSeen.Load())

	// The last start: check, then stop in order and compare with a replay.
	e.startReady()
	checkAcks(iterations + 1)
	checkNoTwins(iterations + 1)
	time.Sleep(500 * time.Millisecond)
	st := e.fullStatus()
	e.stopDaemon()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ms := markedByWorker(t, e.db())
		if len(ms) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes left after an orderly stop: %+v", ms)
		}
		time.Sleep(50 * time.Millisecond)
	}
	out := e.mustTend("verify", "--db", e.db())
	if !strings.Contains(out, "ok:") {
		t.Fatalf("final verify: %s", out)
	}
	var r client.ReplayResult
	if err := json.Unmarshal([]byte(e.mustTend("replay", "--db", e.db(), "--seq", fmt.Sprint(st.Seq), "-o", "json")), &r); err != nil {
		t.Fatal(err)
	}
	if err := diffReplay(st, r); err != nil {
		fs.mismatches++
		t.Error(err)
	}
	l := openLog(t, e.db())
	total := l.LastSeq()
	l.Close()
	t.Logf("fault injection: %d iterations, %d kills (%d during start-up), %d events, %d commands, %d acknowledged, %d checked, lost %d, duplicates %d (%d process scans), replay mismatches %d, %s",
		fs.iterations, fs.kills, fs.startupKills, total, fs.commands, fs.acked, fs.checked, fs.lost, fs.duplicates, sampled.Load(), fs.mismatches, time.Since(start).Round(time.Second))
	fig := &figures{row: "R02", iterations: fs.iterations, faults: fs.kills, events: total, acked: fs.acked,
		lost: fs.lost, dup: fs.duplicates, start: start}
	fig.note("%d kills during start-up, %d commands, %d process scans, replay mismatches %d", fs.startupKills, fs.commands, sampled.Load(), fs.mismatches)
	fig.log(t)
	if fs.lost != 0 || fs.duplicates != 0 || fs.mismatches != 0 {
		t.Fatalf("lost %d, duplicates %d, mismatches %d", fs.lost, fs.duplicates, fs.mismatches)
	}
}

// checkReplayMatchesStatusErr is checkReplayMatchesStatus returning its
// finding.
func (e *env) checkReplayMatchesStatusErr() error {
	st := e.fullStatus()
	c := e.client()
	defer c.Close()
	var r client.ReplayResult
	if err := c.Get(context.Background(), "/v1/replay", url.Values{"seq": {fmt.Sprint(st.Seq)}}, &r); err != nil {
		return fmt.Errorf("replay --seq %d: %w", st.Seq, err)
	}
	return diffReplay(st, r)
}
