package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tendhq/tend/cmd/internal/client"
	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/store"
	"github.com/tendhq/tend/supervisor/proc/proctest"
)

// tendBin is the tend binary under test, the lean client users type,
// built once per run with tenddBin, the full binary, beside it: every
// command of the tests goes through tend, which runs it or hands it to
// tendd, as a user's does.
var tendBin, tenddBin string

func TestMain(m *testing.M) {
	proctest.Main()
	dir, err := os.MkdirTemp("", "tend-e2e")
	if err != nil {
		panic(err)
	}
	_ = os.Chmod(dir, 0o755) // the refused-uid test runs the CLI as nobody
	tendBin, tenddBin = filepath.Join(dir, "tend"), filepath.Join(dir, "tendd")
	for bin, pkg := range map[string]string{tendBin: "../tend", tenddBin: "."} {
		build := exec.Command("go", "build", "-o", bin, pkg)
		if bin == tendBin {
			build.Env = append(os.Environ(), "CGO_ENABLED=0") // as make builds it
		}
		if out, err := build.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", pkg, err, out)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// helperCmd is a TOML array running this test binary as a worker.
func helperCmd(mode string, args ...string) string {
	parts := proctest.Command(mode, args...)
	q := make([]string, len(parts))
	for i, p := range parts {
		q[i] = fmt.Sprintf("%q", p)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// env is one daemon in a temp directory, driven through the real CLI.
type env struct {
	t      testing.TB
	dir    string
	conf   string
	daemon *exec.Cmd
	stderr *bytes.Buffer
}

func newEnv(t testing.TB, workers string) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir()}
	e.conf = filepath.Join(e.dir, "tend.toml")
	e.write("[daemon]\nstate_dir = \"state\"\nlog_level = \"debug\"\n\n" + workers)
	t.Cleanup(func() {
		e.stopDaemon()
		killMarked(filepath.Join(e.dir, "state", "tend.db"))
		purgeCgroups(t, filepath.Join(e.dir, "state", "tend.db"))
	})
	return e
}

func (e *env) write(conf string) {
	if err := os.WriteFile(e.conf, []byte(conf), 0o600); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) db() string     { return filepath.Join(e.dir, "state", "tend.db") }
func (e *env) socket() string { return filepath.Join(e.dir, "state", "tend.sock") }

func (e *env) startDaemon(args ...string) {
	e.t.Helper()
	e.startDaemonWith(nil, args...)
}

// startDaemonWith starts the daemon after adjust has had its say on the
// command (extra descriptors, environment).
func (e *env) startDaemonWith(adjust func(*exec.Cmd), args ...string) {
	e.t.Helper()
	e.stderr = &bytes.Buffer{}
	e.daemon = exec.Command(tendBin, append([]string{"daemon", "-c", e.conf}, args...)...)
	e.daemon.Stderr = e.stderr
	if adjust != nil {
		adjust(e.daemon)
	}
	if err := e.daemon.Start(); err != nil {
		e.t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("unix", e.socket()); err == nil {
			c.Close()
			if _, _, code := e.tend("status"); code == 0 {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.t.Fatalf("daemon did not come up:\n%s", e.stderr)
}

// stopDaemon sends SIGTERM and waits for an orderly exit.
func (e *env) stopDaemon() {
	if e.daemon == nil || e.daemon.ProcessState != nil {
		return
	}
	_ = e.daemon.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- e.daemon.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			e.t.Errorf("daemon exited with %v:\n%s", err, e.stderr)
		}
	case <-time.After(30 * time.Second):
		_ = e.daemon.Process.Kill()
		<-done
		e.t.Errorf("daemon did not stop on SIGTERM:\n%s", e.stderr)
	}
}

func (e *env) killDaemon() {
	_ = e.daemon.Process.Kill()
	_ = e.daemon.Wait()
}

// tend runs the CLI and returns stdout, stderr and the exit code.
func (e *env) tend(args ...string) (string, string, int) {
	cmd := exec.Command(tendBin, append([]string{"-c", e.conf}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

func (e *env) mustTend(args ...string) string {
	e.t.Helper()
	out, errs, code := e.tend(args...)
	if code != 0 {
		e.t.Fatalf("tend %v: exit %d\n%s%s", args, code, out, errs)
	}
	return out
}

func (e *env) status() map[string]client.WorkerStatus {
	e.t.Helper()
	var ws []client.WorkerStatus
	if err := json.Unmarshal([]byte(e.mustTend("status", "-o", "json")), &ws); err != nil {
		e.t.Fatal(err)
	}
	m := make(map[string]client.WorkerStatus)
	for _, w := range ws {
		m[w.Name] = w
	}
	return m
}

func (e *env) waitStatus(name, what string, cond func(client.WorkerStatus) bool) client.WorkerStatus {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var w client.WorkerStatus
	for time.Now().Before(deadline) {
		w = e.status()[name]
		if cond(w) {
			return w
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.t.Fatalf("%s never %s; last status %+v", name, what, w)
	return w
}

func (e *env) history(name string) []events.JSON {
	e.t.Helper()
	var evs []events.JSON
	if err := json.Unmarshal([]byte(e.mustTend("history", name, "-o", "json")), &evs); err != nil {
		e.t.Fatal(err)
	}
	return evs
}

// killMarked kills whatever processes of that log are still alive, so a
// failed test leaves nothing behind.
func killMarked(instance string) {
	ms, _ := findMarked(instance)
	for _, pid := range ms {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	}
}

func running(w client.WorkerStatus) bool { return w.State == "Running" }

func TestEndToEnd(t *testing.T) {
	e := newEnv(t, fmt.Sprintf(`
[worker.web]
command = %s
start_timeout = "100ms"
backoff_initial = "0s"
restart = "always"

[worker.stubborn]
command = %s
start_timeout = "100ms"
stop_timeout = "300ms"
`, helperCmd("hang"), helperCmd("ignore-sigterm")))
	e.startDaemon()
	w := e.waitStatus("web", "running", running)
	e.waitStatus("stubborn", "running", running)

	// status JSON carries the fields scripts depend on.
	raw := e.mustTend("status", "web", "-o", "json")
	for _, k := range []string{`"name"`, `"state"`, `"pid"`, `"incarnation"`, `"restarts"`, `"since"`} {
		if !strings.Contains(raw, k) {
			t.Errorf("status JSON lacks %s: %s", k, raw)
		}
	}

	// Kill a worker: it comes back as a new incarnation, and the log says why.
	if err := syscall.Kill(w.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	w2 := e.waitStatus("web", "restarted", func(s client.WorkerStatus) bool { return running(s) && s.Incarnation == 2 })
	if w2.PID == w.PID || w2.Restarts != 1 {
		t.Fatalf("after kill: %+v", w2)
	}
	hist := e.history("web")
	var sawExit, sawSched bool
	for _, ev := range hist {
		if ev.Type == "exited" && ev.Incarnation == 1 && ev.Signal == "KILL" && ev.From == "Running" && ev.To == "Stopped" {
			sawExit = true
		}
		if ev.Type == "restart_scheduled" && ev.Actor == "restart-policy" {
			sawSched = true
		}
	}
	if !sawExit || !sawSched {
		t.Fatalf("history lacks the exit or the restart: %+v", hist)
	}
	table := e.mustTend("history", "web")
	if !strings.Contains(table, "Running → Stopped") || !strings.Contains(table, "process signal KILL") {
		t.Fatalf("history table:\n%s", table)
	}

	// Stop the stubborn one: SIGTERM ignored, SIGKILL after the timeout.
	out := e.mustTend("stop", "stubborn")
	if !strings.Contains(out, "Killed") {
		t.Fatalf("stop output: %s", out)
	}
	why := e.mustTend("why", "stubborn")
	if !strings.Contains(why, "Killed") || !strings.Contains(why, "stop_timeout") {
		t.Fatalf("why:\n%s", why)
	}

	// Replay to a seq in the past: web was incarnation 1 and running.
	var r client.ReplayResult
	seq := hist[0].Seq
	for _, ev := range hist {
		if ev.Type == "running" && ev.Incarnation == 1 {
			seq = ev.Seq
		}
	}
	if err := json.Unmarshal([]byte(e.mustTend("replay", "--seq", fmt.Sprint(seq), "-o", "json")), &r); err != nil {
		t.Fatal(err)
	}
	for _, rw := range r.Workers {
		if rw.Name == "web" && (rw.State != "Running" || rw.Incarnation != 1) {
			t.Fatalf("replay at seq %d: %+v", seq, rw)
		}
	}
	if out := e.mustTend("verify"); !strings.Contains(out, "ok:") {
		t.Fatalf("verify: %s", out)
	}

	// Unknown worker: exit 3. Usage error: exit 2.
	if _, _, code := e.tend("start", "nope"); code != 3 {
		t.Fatalf("unknown worker exit %d", code)
	}
	if _, _, code := e.tend("history", "nope"); code != 3 {
		t.Fatalf("history of unknown worker exit %d", code)
	}
	if _, _, code := e.tend("start"); code != 2 {
		t.Fatalf("usage exit %d", code)
	}

	// After an orderly stop the offline commands read the file.
	e.stopDaemon()
	st, errs, code := e.tend("verify", "--db", e.db())
	if code != 0 || !strings.Contains(st, "ok:") {
		t.Fatalf("offline verify: %d %s %s", code, st, errs)
	}
	if out := e.mustTend("why", "web", "--db", e.db()); !strings.Contains(out, "Stopped") {
		t.Fatalf("offline why: %s", out)
	}
	if out := e.mustTend("events", "--db", e.db(), "--type", "daemon_stopping"); !strings.Contains(out, "daemon_stopping") {
		t.Fatalf("offline events: %s", out)
	}
}

func TestConfigErrorsNameFileAndLine(t *testing.T) {
	e := newEnv(t, "[worker.a]\ncommand = [\"true\"]\nstop_timout = \"5s\"\n")
	_, errs, code := e.tend("check")
	if code == 0 || !strings.Contains(errs, "tend.toml:") || !strings.Contains(errs, "stop_timout") {
		t.Fatalf("check: exit %d: %s", code, errs)
	}
	e.write("[daemon]\nstate_dir = \"state\"\n[worker.a]\ncommand = [\"true\"\n")
	_, errs, code = e.tend("daemon")
	if code == 0 || !strings.Contains(errs, "tend.toml:") {
		t.Fatalf("daemon with a broken config: exit %d: %s", code, errs)
	}
}

func TestSecondDaemonAndStaleSocket(t *testing.T) {
	e := newEnv(t, fmt.Sprintf("[worker.a]\ncommand = %s\n", helperCmd("hang")))
	// A stale socket left by a dead daemon is replaced.
	if err := os.MkdirAll(filepath.Join(e.dir, "state"), 0o750); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", e.socket())
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	e.startDaemon()
	// A second daemon on the same state directory exits at once, naming the holder.
	start := time.Now()
	cmd := exec.Command(tendBin, "daemon", "-c", e.conf)
	out, err := cmd.CombinedOutput()
	if err == nil || time.Since(start) > 10*time.Second {
		t.Fatalf("second daemon: %v after %s", err, time.Since(start))
	}
	if !strings.Contains(string(out), "another tend daemon") || !strings.Contains(string(out), fmt.Sprint(e.daemon.Process.Pid)) {
		t.Fatalf("second daemon's message does not name the holder: %s", out)
	}
	if _, _, code := e.tend("status"); code != 0 {
		t.Fatal("first daemon hurt by the second")
	}
}

func TestMisbehavingClients(t *testing.T) {
	e := newEnv(t, fmt.Sprintf("[worker.a]\ncommand = %s\n", helperCmd("hang")))
	e.startDaemon()
	dial := func() net.Conn {
		c, err := net.Dial("unix", e.socket())
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	// Garbage bytes.
	c := dial()
	c.Write(bytes.Repeat([]byte{0xff, 0x00, '\n'}, 1000))
	c.Close()
	// An oversized request body.
	c = dial()
	fmt.Fprintf(c, "POST /v1/reload HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", 10<<20)
	c.Write(bytes.Repeat([]byte("x"), 1<<20))
	c.Close()
	// Oversized headers.
	c = dial()
	fmt.Fprintf(c, "GET /v1/status HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n", strings.Repeat("y", 1<<20))
	c.Close()
	// A client that disconnects mid-request, and one that never finishes.
	c = dial()
	c.Write([]byte("GET /v1/sta"))
	c.Close()
	slow := dial()
	slow.Write([]byte("GET /v1/status HTTP/1.1\r\n"))
	defer slow.Close()
	// The daemon still answers, and says so correctly.
	if _, _, code := e.tend("status"); code != 0 {
		t.Fatalf("daemon stopped answering:\n%s", e.stderr)
	}
	if e.daemon.ProcessState != nil {
		t.Fatal("daemon died")
	}
}

func TestRefusedUID(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to connect as another uid")
	}
	e := newEnv(t, fmt.Sprintf("[worker.a]\ncommand = %s\n", helperCmd("hang")))
	e.startDaemon()
	// The socket is 0600: open it as root, then hand the connection to a
	// process running as nobody, which makes the request.
	c, err := net.Dial("unix", e.socket())
	if err != nil {
		t.Fatal(err)
	}
	_ = c
	c.Close()
	if err := os.Chmod(e.socket(), 0o666); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(e.dir, "state"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{e.dir, filepath.Dir(e.dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(tendBin, "--socket", e.socket(), "stop", "a")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if cmd.ProcessState == nil {
		t.Fatalf("could not run the CLI as nobody: %v", err)
	}
	if cmd.ProcessState.ExitCode() == 0 || !strings.Contains(string(out), "not allowed") {
		t.Fatalf("nobody was not refused: %s", out)
	}
	if st := e.status()["a"]; st.State == "Stopping" || st.State == "Stopped" {
		t.Fatal("a refused client stopped a worker")
	}
	evs := e.mustTend("events", "--type", "command_refused", "-o", "json")
	if !strings.Contains(evs, "uid=65534") || strings.Contains(evs, "stop") && strings.Contains(evs, "/v1/workers") {
		t.Fatalf("refusal not recorded (or recorded with its payload): %s", evs)
	}
}

// openLog opens a daemon's log read-only once the daemon is gone.
func openLog(t *testing.T, path string) *store.Log {
	t.Helper()
	l, err := store.Open(path, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

var _ = context.Background

// A reload whose config does not parse is refused and changes nothing;
// a good one is recorded with the file's hash.
func TestReloadBadConfigChangesNothing(t *testing.T) {
	good := fmt.Sprintf("[daemon]\nstate_dir = \"state\"\n\n[worker.a]\ncommand = %s\nstart_timeout = \"50ms\"\n", helperCmd("hang"))
	e := newEnv(t, "")
	e.write(good)
	e.startDaemon()
	before := e.waitStatus("a", "running", running)
	e.write(good + "[worker.b]\ncommand = \"not an array\"\n")
	_, errs, code := e.tend("reload")
	if code == 0 || !strings.Contains(errs, "tend.toml:") {
		t.Fatalf("bad reload: exit %d: %s", code, errs)
	}
	st := e.status()
	if _, ok := st["b"]; ok || st["a"].PID != before.PID {
		t.Fatalf("a refused reload changed the workers: %+v", st)
	}
	e.write(good + fmt.Sprintf("[worker.b]\ncommand = %s\n", helperCmd("hang")))
	out := e.mustTend("reload")
	if !strings.Contains(out, "added [b]") {
		t.Fatalf("reload: %s", out)
	}
	e.waitStatus("b", "running", running)
	if n := strings.Count(e.mustTend("events", "--type", "config_loaded", "-o", "json"), "\"config_loaded\""); n != 2 {
		t.Fatalf("%d config_loaded events, want 2 (start and the good reload)", n)
	}
}
