package main

// End-to-end tests for sites coming from supervisord: the real supervisorctl
// driving a tend daemon over its supervisor_rpc socket, and "tend import"
// turning a supervisord.conf into a tend.toml that a daemon then runs.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/tendhq/tend/cmd/internal/client"
	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/supervisor/proc/proctest"
)

// sdSupervisorctl finds the real supervisorctl, or skips the test (fails
// instead when TEND_SUPERVISORCTL_TESTS=1 demands it).
func sdSupervisorctl(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("supervisorctl")
	if err != nil {
		if os.Getenv("TEND_SUPERVISORCTL_TESTS") == "1" {
			t.Fatal("supervisorctl is not on PATH but TEND_SUPERVISORCTL_TESTS=1")
		}
		t.Skip("supervisorctl is not on PATH (apt-get install supervisor); set TEND_SUPERVISORCTL_TESTS=1 to make this a failure")
	}
	return p
}

// sdCtl runs the real supervisorctl against one socket.
type sdCtl struct {
	t         *testing.T
	bin, sock string
}

// run returns supervisorctl's combined output and exit status. A Python
// traceback or an unhandled XML-RPC fault fails the test: those mean the
// server said something supervisorctl did not expect.
func (c sdCtl) run(args ...string) (string, int) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, append([]string{"-s", "unix://" + c.sock}, args...)...)
	out, err := cmd.CombinedOutput()
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		c.t.Fatalf("supervisorctl %v: %v", args, err)
	}
	if ctx.Err() != nil {
		c.t.Fatalf("supervisorctl %v timed out:\n%s", args, out)
	}
	if bytes.Contains(out, []byte("Traceback")) || bytes.Contains(out, []byte("error: <class")) {
		c.t.Fatalf("supervisorctl %v failed on the server's answer:\n%s", args, out)
	}
	return string(out), code
}

// expect runs supervisorctl and checks that each regexp in want matches a
// line of its output, in order. It returns the output.
func (c sdCtl) expect(args []string, want ...string) string {
	c.t.Helper()
	out, _ := c.run(args...)
	sdLines(c.t, args, out, want)
	return out
}

func sdLines(t *testing.T, args []string, out string, want []string) {
	t.Helper()
	lines := strings.Split(out, "\n")
	i := 0
	for _, w := range want {
		re := regexp.MustCompile(w)
		for i < len(lines) && !re.MatchString(lines[i]) {
			i++
		}
		if i == len(lines) {
			t.Fatalf("supervisorctl %v: no line matching %s (in order) in:\n%s", args, w, out)
		}
		i++
	}
}

// sdEvents reads the log through "tend events -o json" (one object a line).
func sdEvents(e *env, args ...string) []events.JSON {
	e.t.Helper()
	out := e.mustTend(append([]string{"events", "-o", "json"}, args...)...)
	dec := json.NewDecoder(strings.NewReader(out))
	var evs []events.JSON
	for {
		var ev events.JSON
		err := dec.Decode(&ev)
		if err == io.EOF {
			return evs
		}
		if err != nil {
			e.t.Fatalf("events -o json: %v\n%s", err, out)
		}
		evs = append(evs, ev)
	}
}

func sdLastSeq(e *env) events.Seq {
	e.t.Helper()
	evs := sdEvents(e)
	if len(evs) == 0 {
		return 0
	}
	return evs[len(evs)-1].Seq
}

// sdRecorded fails unless every (worker, type) pair in want has an event
// after seq from whose actor is actor ("": any).
func sdRecorded(e *env, what string, from events.Seq, actor string, want ...[2]string) {
	e.t.Helper()
	evs := sdEvents(e)
	for _, w := range want {
		found := false
		for _, ev := range evs {
			if ev.Seq > from && ev.Worker == w[0] && ev.Type == w[1] && (actor == "" || ev.Actor == actor) {
				found = true
				break
			}
		}
		if !found {
			var got []string
			for _, ev := range evs {
				if ev.Seq > from {
					got = append(got, fmt.Sprintf("%d %s %s by %q", ev.Seq, ev.Worker, ev.Type, ev.Actor))
				}
			}
			e.t.Fatalf("%s: no %s event for %q by %q after seq %d; the log has:\n%s",
				what, w[1], w[0], actor, from, strings.Join(got, "\n"))
		}
	}
}

// sdTOMLArray renders argv as a TOML array of strings.
func sdTOMLArray(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = strconv.Quote(a)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// sdSyncBuffer collects a child's output while the test reads it.
type sdSyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *sdSyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *sdSyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// sdRPCClient speaks HTTP to the XML-RPC socket directly, for input that
// supervisorctl would never send.
func sdRPCClient(sock string) *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "unix", sock)
			},
			DisableKeepAlives: true,
		},
	}
}

var sdFaultCode = regexp.MustCompile(`<name>faultCode</name><value><int>(\d+)</int></value>`)

// sdPost posts body to /RPC2 and returns the XML-RPC fault code of the
// answer (0 if it is not a fault) and the answer itself. The request is
// written while the answer is read, so that a server that answers before
// reading everything (an oversized body) is heard.
func sdPost(t *testing.T, sock string, body []byte) (int, string) {
	t.Helper()
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		fmt.Fprintf(c, "POST /RPC2 HTTP/1.1\r\nHost: supervisor\r\nContent-Type: text/xml\r\nConnection: close\r\nContent-Length: %d\r\n\r\n", len(body))
		_, _ = c.Write(body) // may fail once the server has answered
	}()
	defer func() {
		c.Close()
		<-wrote
	}()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("POST /RPC2: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /RPC2: HTTP %d: %s", resp.StatusCode, b)
	}
	m := sdFaultCode.FindSubmatch(b)
	if m == nil || !bytes.Contains(b, []byte("<fault>")) {
		return 0, string(b)
	}
	code, _ := strconv.Atoi(string(m[1]))
	return code, string(b)
}

func sdCall(method, params string) []byte {
	return []byte(`<?xml version="1.0"?><methodCall><methodName>` + method +
		`</methodName><params>` + params + `</params></methodCall>`)
}

func TestSupervisorctlAgainstTend(t *testing.T) {
	bin := sdSupervisorctl(t)
	e := newEnv(t, "")
	sock := filepath.Join(e.dir, "supervisor.sock")
	ctl := sdCtl{t: t, bin: bin, sock: sock}
	actor := fmt.Sprintf("supervisorctl uid=%d", os.Getuid())

	hang := helperCmd("hang")
	// chatty writes one line to stderr, then numbered lines to stdout.
	chatty := sdTOMLArray(append([]string{"/bin/sh", "-c", `echo chatty-on-stderr >&2; exec "$@"`, "sh"},
		proctest.Command("spam-stdout", "50ms")...))
	conf := func(workers string) string {
		return fmt.Sprintf("[daemon]\nstate_dir = \"state\"\nlog_level = \"debug\"\nsupervisor_rpc = \"unix://%s\"\n\n%s", sock, workers)
	}
	// pool_00 and pool_01 form supervisord group "pool" through the
	// comment lines tend import writes.
	base := fmt.Sprintf(`
# supervisord: worker="pool_00" group="pool" process="pool_00" priority=999
[worker.pool_00]
command = %[1]s
start_timeout = "100ms"

# supervisord: worker="pool_01" group="pool" process="pool_01" priority=999
[worker.pool_01]
command = %[1]s
start_timeout = "100ms"

[worker.api]
command = %[1]s
start_timeout = "100ms"

[worker.chatty]
command = %[2]s
start_timeout = "100ms"
`, hang, chatty)
	manual := fmt.Sprintf(`
[worker.manual]
command = %s
start_timeout = "100ms"
autostart = false
`, hang)
	stubborn := fmt.Sprintf(`
[worker.stubborn]
command = %s
start_timeout = "100ms"
stop_timeout = "1s"
`, helperCmd("ignore-sigterm"))
	e.write(conf(base + manual + stubborn))
	e.startDaemon()
	for _, n := range []string{"api", "chatty", "pool_00", "pool_01", "stubborn"} {
		e.waitStatus(n, "running", running)
	}
	st := e.status()

	// status: supervisord's names, states and descriptions; exit 3 because
	// one process is not running.
	out, code := ctl.run("status")
	sdLines(t, []string{"status"}, out, []string{
		fmt.Sprintf(`^api +RUNNING +pid %d, uptime 0:00:\d\d$`, st["api"].PID),
		fmt.Sprintf(`^chatty +RUNNING +pid %d, uptime`, st["chatty"].PID),
		`^manual +STOPPED +Not started$`,
		fmt.Sprintf(`^pool:pool_00 +RUNNING +pid %d, uptime`, st["pool_00"].PID),
		fmt.Sprintf(`^pool:pool_01 +RUNNING +pid %d, uptime`, st["pool_01"].PID),
		fmt.Sprintf(`^stubborn +RUNNING +pid %d, uptime`, st["stubborn"].PID),
	})
	if code != 3 {
		t.Errorf("status with a stopped process: exit %d, want 3", code)
	}
	ctl.expect([]string{"status", "pool:*"}, `^pool:pool_00 +RUNNING`, `^pool:pool_01 +RUNNING`)

	// pid: the daemon's, a worker's, everyone's.
	ctl.expect([]string{"pid"}, fmt.Sprintf(`^%d$`, e.daemon.Process.Pid))
	ctl.expect([]string{"pid", "api"}, fmt.Sprintf(`^%d$`, st["api"].PID))
	ctl.expect([]string{"pid", "all"}, fmt.Sprintf(`^%d$`, st["api"].PID), fmt.Sprintf(`^%d$`, st["chatty"].PID),
		`^0$`, fmt.Sprintf(`^%d$`, st["pool_00"].PID), fmt.Sprintf(`^%d$`, st["pool_01"].PID))
	ctl.expect([]string{"pid", "nope"}, `^No such process nope$`)

	// start / stop one worker, each an event by supervisorctl's uid.
	mark := sdLastSeq(e)
	ctl.expect([]string{"start", "manual"}, `^manual: started$`)
	if s := e.status()["manual"]; s.State != "Running" {
		t.Fatalf("after start manual: %+v", s)
	}
	sdRecorded(e, "start manual", mark, actor, [2]string{"manual", "start_requested"})
	ctl.expect([]string{"start", "manual"}, `^manual: ERROR \(already started\)$`)
	ctl.expect([]string{"start", "nope"}, `^nope: ERROR \(no such process\)$`)

	mark = sdLastSeq(e)
	ctl.expect([]string{"stop", "manual"}, `^manual: stopped$`)
	if s := e.status()["manual"]; s.State != "Stopped" {
		t.Fatalf("after stop manual: %+v", s)
	}
	sdRecorded(e, "stop manual", mark, actor, [2]string{"manual", "stop_requested"})
	ctl.expect([]string{"stop", "manual"}, `^manual: ERROR \(not running\)$`)
	ctl.expect([]string{"status", "manual"}, `^manual +STOPPED +[A-Z][a-z]{2} \d\d \d\d:\d\d [AP]M$`)

	// restart: a stop and a start, a new incarnation.
	mark = sdLastSeq(e)
	ctl.expect([]string{"restart", "api"}, `^api: stopped$`, `^api: started$`)
	if s := e.status()["api"]; s.State != "Running" || s.PID == st["api"].PID || s.Incarnation != st["api"].Incarnation+1 {
		t.Fatalf("after restart api: %+v (was %+v)", s, st["api"])
	}
	sdRecorded(e, "restart api", mark, actor, [2]string{"api", "stop_requested"}, [2]string{"api", "start_requested"})

	// A worker that ignores SIGTERM is SIGKILLed after stop_timeout: tend
	// says Killed, supervisorctl says EXITED.
	mark = sdLastSeq(e)
	ctl.expect([]string{"stop", "stubborn"}, `^stubborn: stopped$`)
	if s := e.status()["stubborn"]; s.State != "Killed" {
		t.Fatalf("after stop stubborn: %+v", s)
	}
	ctl.expect([]string{"status", "stubborn"}, `^stubborn +EXITED +[A-Z][a-z]{2} \d\d`)
	sdRecorded(e, "stop stubborn", mark, actor, [2]string{"stubborn", "stop_requested"})

	// Groups.
	mark = sdLastSeq(e)
	ctl.expect([]string{"stop", "pool:*"}, `^pool:pool_00: stopped$`, `^pool:pool_01: stopped$`)
	ctl.expect([]string{"start", "pool:*"}, `^pool:pool_00: started$`, `^pool:pool_01: started$`)
	sdRecorded(e, "stop/start pool:*", mark, actor,
		[2]string{"pool_00", "stop_requested"}, [2]string{"pool_01", "stop_requested"},
		[2]string{"pool_00", "start_requested"}, [2]string{"pool_01", "start_requested"})

	// stop all / start all.
	mark = sdLastSeq(e)
	ctl.expect([]string{"stop", "all"}, `^api: stopped$`, `^chatty: stopped$`, `^pool:pool_00: stopped$`, `^pool:pool_01: stopped$`)
	for n, s := range e.status() {
		if s.State != "Stopped" && s.State != "Killed" {
			t.Fatalf("after stop all, %s is %s", n, s.State)
		}
	}
	out, code = ctl.run("status")
	sdLines(t, []string{"status"}, out, []string{`^api +STOPPED`, `^chatty +STOPPED`, `^manual +STOPPED`,
		`^pool:pool_00 +STOPPED`, `^pool:pool_01 +STOPPED`, `^stubborn +EXITED`})
	if code != 3 {
		t.Errorf("status with everything stopped: exit %d, want 3", code)
	}
	ctl.expect([]string{"start", "all"}, `^api: started$`, `^chatty: started$`, `^manual: started$`,
		`^pool:pool_00: started$`, `^pool:pool_01: started$`, `^stubborn: started$`)
	st = e.status()
	for n, s := range st {
		if s.State != "Running" {
			t.Fatalf("after start all, %s is %s", n, s.State)
		}
	}
	if _, code := ctl.run("status"); code != 0 {
		t.Errorf("status with everything running: exit %d, want 0", code)
	}
	var want [][2]string
	for _, n := range []string{"api", "chatty", "pool_00", "pool_01"} {
		want = append(want, [2]string{n, "stop_requested"})
	}
	for n := range st {
		want = append(want, [2]string{n, "start_requested"})
	}
	sdRecorded(e, "stop all / start all", mark, actor, want...)

	// tail: the worker's stdout and stderr files.
	e.waitStatus("chatty", "has written", func(client.WorkerStatus) bool {
		out, _ := ctl.run("tail", "chatty")
		return strings.Count(out, "the lazy dog\n") >= 3
	})
	out = ctl.expect([]string{"tail", "chatty"}, `^spam \d{8} the quick brown fox jumps over the lazy dog$`)
	if len(out) > 1601 {
		t.Errorf("tail chatty printed %d bytes, more than supervisorctl's 1600", len(out))
	}
	ctl.expect([]string{"tail", "chatty", "stderr"}, `^chatty-on-stderr$`)
	if out, _ := ctl.run("tail", "chatty", "stderr"); strings.Contains(out, "spam") {
		t.Errorf("tail chatty stderr shows stdout:\n%s", out)
	}
	ctl.expect([]string{"tail", "nope"}, `^nope: ERROR \(no such process name\)$`)

	// tail -f streams what the worker writes while it runs.
	sdTailF(t, bin, sock, "chatty")

	// avail: every worker, autostart or not, groups as supervisord names them.
	ctl.expect([]string{"avail"}, `^api +in use +auto +999:999$`, `^chatty +in use +auto`, `^manual +in use +manual +999:999$`,
		`^pool:pool_00 +in use +auto`, `^pool:pool_01 +in use +auto`, `^stubborn +in use +auto`)

	// Bad input on the RPC socket gets faults, never a crash.
	sdBadInput(t, sock)
	if e.daemon.ProcessState != nil {
		t.Fatalf("daemon died on bad XML-RPC input:\n%s", e.stderr)
	}
	ctl.expect([]string{"status", "api"}, `^api +RUNNING`)
	e.mustTend("status")

	// reread applies the edited configuration at once (tend applies a
	// configuration as a whole): the added worker runs, the removed one
	// (still stopping when reread prints) has disappeared.
	mark = sdLastSeq(e)
	extra := fmt.Sprintf("\n[worker.extra]\ncommand = %s\nstart_timeout = \"100ms\"\n", hang)
	e.write(conf(base + stubborn + extra))
	out, code = ctl.run("reread")
	sdLines(t, []string{"reread"}, out, []string{`^extra: available$`, `^manual: disappeared$`})
	if code != 0 || strings.Contains(out, "changed") {
		t.Fatalf("reread: exit %d:\n%s", code, out)
	}
	e.waitStatus("extra", "running", running)
	sdRecorded(e, "reread", mark, actor, [2]string{"", "config_loaded"}, [2]string{"extra", "worker_added"},
		[2]string{"manual", "stop_requested"})
	sdWaitGone(e, "manual")
	ctl.expect([]string{"reread"}, `^No config updates to processes$`)

	// update: stubborn (slow to stop) is removed and extra2 added.
	mark = sdLastSeq(e)
	extra2 := fmt.Sprintf("\n[worker.extra2]\ncommand = %s\nstart_timeout = \"100ms\"\n", hang)
	e.write(conf(base + extra + extra2))
	out, code = ctl.run("update")
	sdLines(t, []string{"update"}, out, []string{`^stubborn: stopped$`, `^stubborn: removed process group$`, `^extra2: added process group$`})
	if code != 0 {
		t.Fatalf("update: exit %d:\n%s", code, out)
	}
	e.waitStatus("extra2", "running", running)
	sdWaitGone(e, "stubborn")
	sdRecorded(e, "update", mark, actor, [2]string{"", "config_loaded"}, [2]string{"extra2", "worker_added"},
		[2]string{"stubborn", "stop_requested"})
	sdRecorded(e, "update", mark, "", [2]string{"stubborn", "worker_removed"}) // by the daemon, once it has exited
	out = ctl.expect([]string{"status"}, `^api +RUNNING`, `^extra +RUNNING`, `^extra2 +RUNNING`)
	if strings.Contains(out, "stubborn") || strings.Contains(out, "manual") {
		t.Fatalf("status after update still lists a removed worker:\n%s", out)
	}

	// Every command that came through supervisorctl carries its uid, as
	// SO_PEERCRED gave it; nothing else claims to be supervisorctl.
	byCtl := map[string]int{}
	for _, ev := range sdEvents(e) {
		if strings.HasPrefix(ev.Actor, "supervisorctl") {
			if ev.Actor != actor {
				t.Errorf("event %d has actor %q, want %q", ev.Seq, ev.Actor, actor)
			}
			byCtl[ev.Type]++
		}
		if strings.HasPrefix(ev.Actor, "cli ") {
			t.Errorf("event %d by %q: only supervisorctl gave commands", ev.Seq, ev.Actor)
		}
	}
	for _, typ := range []string{"start_requested", "stop_requested", "config_loaded", "worker_added"} {
		if byCtl[typ] == 0 {
			t.Errorf("no %s event by %q", typ, actor)
		}
	}

	// shutdown: the daemon stops its workers and exits cleanly.
	ctl.expect([]string{"shutdown"}, `^Shut down$`)
	done := make(chan error, 1)
	go func() { done <- e.daemon.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("daemon exited with %v after shutdown:\n%s", err, e.stderr)
		}
	case <-time.After(30 * time.Second):
		_ = e.daemon.Process.Kill()
		<-done
		t.Fatalf("daemon did not exit after supervisorctl shutdown:\n%s", e.stderr)
	}
	for _, p := range []string{sock, e.socket()} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s left behind after shutdown: %v", p, err)
		}
	}
	if ms, _ := findMarked(e.db()); len(ms) != 0 {
		t.Errorf("workers still running after shutdown: %v", ms)
	}
	stopping := e.mustTend("events", "--db", e.db(), "--type", "daemon_stopping", "-o", "json")
	if !strings.Contains(stopping, "shutdown requested by "+actor) {
		t.Fatalf("daemon_stopping does not name supervisorctl: %s", stopping)
	}
	if out := e.mustTend("verify", "--db", e.db()); !strings.Contains(out, "ok:") {
		t.Fatalf("verify after shutdown: %s", out)
	}
}

// sdWaitGone waits until a removed worker has left tend status.
func sdWaitGone(e *env, name string) {
	e.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for _, ok := e.status()[name]; ok; _, ok = e.status()[name] {
		if time.Now().After(deadline) {
			e.t.Fatalf("%s never removed: %+v", name, e.status()[name])
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// sdTailF runs "supervisorctl tail -f NAME" for a while and checks that it
// prints lines the worker writes after the tail began.
func sdTailF(t *testing.T, bin, sock, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-s", "unix://"+sock, "tail", "-f", name)
	var buf sdSyncBuffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		_ = cmd.Wait()
	}()
	seq := regexp.MustCompile(`spam (\d{8}) the quick brown fox jumps over the lazy dog\n`)
	highest := func() int {
		n := -1
		for _, m := range seq.FindAllStringSubmatch(buf.String(), -1) {
			v, _ := strconv.Atoi(m[1])
			n = max(n, v)
		}
		return n
	}
	first := -1
	for deadline := time.Now().Add(15 * time.Second); ; {
		h := highest()
		if first < 0 && h >= 0 {
			first = h
		}
		if first >= 0 && h >= first+5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tail -f %s did not stream (first line %d, highest %d):\n%s", name, first, h, buf.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := buf.String(); !strings.HasPrefix(got, "==> Press Ctrl-C to exit <==") || strings.Contains(got, "Traceback") {
		t.Fatalf("tail -f %s:\n%s", name, got)
	}
}

// sdBadInput throws what supervisorctl never sends at the XML-RPC socket.
func sdBadInput(t *testing.T, sock string) {
	t.Helper()
	// Garbage bytes, and a connection that ends mid-request.
	for _, junk := range [][]byte{
		bytes.Repeat([]byte{0xff, 0x00, '\n'}, 1000),
		[]byte("POST /RPC2 HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n<?xml"),
	} {
		c, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = c.Write(junk)
		c.Close()
	}
	faults := []struct {
		what string
		body []byte
		code int
	}{
		{"an unknown method", sdCall("supervisor.frobnicate", ""), 1},
		{"an unknown namespace", sdCall("evil.rm_rf", `<param><value><string>/</string></value></param>`), 1},
		{"malformed XML", []byte("<methodCall><methodName>supervisor.getState</methodName><params>"), 2},
		{"not XML at all", bytes.Repeat([]byte{0xfe, 0x01}, 500), 2},
		{"too few parameters", sdCall("supervisor.startProcess", ""), 2},
		{"a parameter of the wrong type", sdCall("supervisor.stopProcess", `<param><value><int>5</int></value></param>`), 3},
		{"an unknown worker", sdCall("supervisor.stopProcess", `<param><value><string>nope</string></value></param>`), 10},
		{"a nested multicall", sdCall("system.multicall", `<param><value><array><data><value><struct>`+
			`<member><name>methodName</name><value><string>system.multicall</string></value></member>`+
			`<member><name>params</name><value><array><data></data></array></value></member>`+
			`</struct></value></data></array></value></param>`), 0},
		{"an oversized request", sdCall("supervisor.getState", `<param><value><string>`+strings.Repeat("x", 2<<20)+`</string></value></param>`), 2},
	}
	for _, f := range faults {
		code, resp := sdPost(t, sock, f.body)
		if code != f.code {
			t.Errorf("%s: fault %d, want %d:\n%.500s", f.what, code, f.code, resp)
		}
		if f.what == "a nested multicall" && !strings.Contains(resp, "INCORRECT_PARAMETERS") {
			t.Errorf("a nested multicall was not refused:\n%.500s", resp)
		}
	}
	// Not POST, an unknown log, oversized headers: HTTP errors.
	hc := sdRPCClient(sock)
	for path, want := range map[string]int{"/RPC2": http.StatusMethodNotAllowed, "/logtail/nope/stdout": http.StatusNotFound, "/logtail/api/stdin": http.StatusNotFound} {
		resp, err := hc.Get("http://supervisor" + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: HTTP %d, want %d", path, resp.StatusCode, want)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, "http://supervisor/RPC2", strings.NewReader("x"))
	req.Header.Set("X-Big", strings.Repeat("y", 2<<20))
	if resp, err := hc.Do(req); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Errorf("2 MiB of headers accepted")
		}
	}
}

// sdQuote quotes one argument for a supervisord command line, which
// supervisord splits like a shell and expands %(name)s in.
func sdQuote(s string) string {
	s = strings.ReplaceAll(s, "%", "%%")
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

func sdCommand(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = sdQuote(a)
	}
	return strings.Join(q, " ")
}

func TestImportRoundTrip(t *testing.T) {
	dir := t.TempDir()
	self := proctest.Command("hang")[0]
	conf := []string{
		"; a site's supervisord.conf",
		"[unix_http_server]",
		"file=/tmp/supervisor.sock",
		"",
		"[supervisord]",
		"logfile=/tmp/supervisord.log",
		"",
		"[program:api]",
		"command = " + sdCommand(proctest.Command("print-env")),
		`environment = GREETING="hello, world",MODE=prod`,
		"startsecs = 1",
		"stopsignal = INT",
		"stopwaitsecs = 7",
		"",
		"[program:pool]",
		"command = " + sdCommand(proctest.Command("hang")),
		"process_name = %(program_name)s_%(process_num)02d",
		"numprocs = 3",
		"startsecs = 0",
		"",
		"[program:manual]",
		"command = " + sdCommand(proctest.Command("hang")),
		"autostart = false",
		"",
		"[eventlistener:crashmail]",
		"command = /usr/bin/crashmail -a",
		"events = PROCESS_STATE_EXITED",
		"",
		"[include]",
		"files = conf.d/*.conf",
	}
	listenerLine := slices.Index(conf, "[eventlistener:crashmail]") + 1
	// The included file: a program that ignores SIGTERM, and one whose
	// command needs the shell-like quoting (single quotes, spaces, "$0").
	included := []string{
		"[program:stubborn]",
		"command = " + sdCommand(proctest.Command("ignore-sigterm")),
		"stopwaitsecs = 1",
		"startsecs = 0",
		"frobnicate = yes",
		"",
		"[program:quoted]",
		`command = /bin/sh -c 'echo "started with spaces" >&2; exec "$0" tend-helper hang' ` + sdQuote(self),
		"startsecs = 0",
		"",
	}
	frobLine := slices.Index(included, "frobnicate = yes") + 1
	if err := os.MkdirAll(filepath.Join(dir, "conf.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	for p, lines := range map[string][]string{"supervisord.conf": conf, "conf.d/more.conf": included} {
		if err := os.WriteFile(filepath.Join(dir, p), []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// tend import, run in the configuration's directory as an operator would.
	imp := func(args ...string) (string, string) {
		cmd := exec.Command(tendBin, append([]string{"import", "supervisord.conf"}, args...)...)
		cmd.Dir = dir
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("tend import %v: %v\n%s%s", args, err, out.String(), errb.String())
		}
		return out.String(), errb.String()
	}
	stdout, stderr := imp("-o", "tend.toml")
	if stdout != "" {
		t.Errorf("tend import -o wrote to stdout:\n%s", stdout)
	}
	for _, w := range []string{
		fmt.Sprintf("supervisord.conf:%d: [eventlistener:crashmail]", listenerLine),
		fmt.Sprintf("conf.d/more.conf:%d: [program:stubborn] frobnicate", frobLine),
		"supervisord.conf:2: [unix_http_server]",
		"wrote tend.toml (",
	} {
		if !strings.Contains(stderr, w) {
			t.Errorf("tend import's stderr lacks %q:\n%s", w, stderr)
		}
	}
	generated, err := os.ReadFile(filepath.Join(dir, "tend.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if toStdout, _ := imp(); toStdout != string(generated) {
		t.Errorf("tend import to stdout differs from -o:\n%s\n---\n%s", toStdout, generated)
	}

	// The output is TOML, has no [daemon] table, and carries the settings.
	var doc struct {
		Daemon map[string]any            `toml:"daemon"`
		Worker map[string]map[string]any `toml:"worker"`
	}
	if _, err := toml.Decode(string(generated), &doc); err != nil {
		t.Fatalf("tend import's output is not TOML: %v\n%s", err, generated)
	}
	if doc.Daemon != nil || bytes.Contains(generated, []byte("[daemon]")) {
		t.Fatalf("tend import wrote a [daemon] table:\n%s", generated)
	}
	wantWorkers := []string{"api", "manual", "pool_00", "pool_01", "pool_02", "quoted", "stubborn"}
	var got []string
	for n := range doc.Worker {
		got = append(got, n)
	}
	slices.Sort(got)
	if !slices.Equal(got, wantWorkers) {
		t.Fatalf("imported workers %v, want %v:\n%s", got, wantWorkers, generated)
	}
	keys := map[string]map[string]any{
		"api": {"stop_signal": "INT", "stop_timeout": "7s", "start_timeout": "1s",
			"env": map[string]any{"GREETING": "hello, world", "MODE": "prod"}},
		"manual":   {"autostart": false},
		"pool_02":  {"start_timeout": "0s"},
		"stubborn": {"stop_timeout": "1s", "start_timeout": "0s"},
		"quoted":   {"command": []any{"/bin/sh", "-c", `echo "started with spaces" >&2; exec "$0" tend-helper hang`, self}},
	}
	for w, kv := range keys {
		for k, v := range kv {
			if g := doc.Worker[w][k]; fmt.Sprint(g) != fmt.Sprint(v) {
				t.Errorf("worker.%s.%s = %#v, want %#v", w, k, g, v)
			}
		}
	}
	if c := fmt.Sprint(doc.Worker["pool_01"]["command"]); c != fmt.Sprint(proctest.Command("hang")) {
		t.Errorf("worker.pool_01.command = %s", c)
	}
	if _, ok := doc.Worker["api"]["autostart"]; ok {
		t.Errorf("worker.api has autostart though supervisord's default was kept")
	}

	// Prepend the [daemon] table a site adds; the result is still TOML and
	// passes tend check.
	e := &env{t: t, dir: dir, conf: filepath.Join(dir, "tend.toml")}
	t.Cleanup(func() {
		e.stopDaemon()
		killMarked(e.db())
	})
	merged := "[daemon]\nstate_dir = \"state\"\nlog_level = \"debug\"\n\n" + string(generated)
	e.write(merged)
	if _, err := toml.Decode(merged, &doc); err != nil || doc.Daemon["state_dir"] != "state" {
		t.Fatalf("merged configuration: %v %v", err, doc.Daemon)
	}
	if out := e.mustTend("check"); !strings.Contains(out, fmt.Sprintf("ok, %d workers", len(wantWorkers))) {
		t.Fatalf("tend check: %s", out)
	}

	// The daemon runs every program, numprocs expanded; autostart=false
	// stays Stopped.
	e.startDaemon()
	for _, n := range wantWorkers {
		if n != "manual" {
			e.waitStatus(n, "running", running)
		}
	}
	st := e.status()
	if len(st) != len(wantWorkers) {
		t.Fatalf("status lists %d workers, want %d: %v", len(st), len(wantWorkers), st)
	}
	if m := st["manual"]; m.State != "Stopped" || m.Incarnation != 0 {
		t.Fatalf("manual (autostart=false): %+v", m)
	}

	// environment= reaches the process.
	var envOut []byte
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if envOut, _ = os.ReadFile(filepath.Join(dir, "state", "logs", "api.out")); bytes.Contains(envOut, []byte("ready")) {
			break
		}
	}
	for _, kv := range []string{"GREETING=hello, world\n", "MODE=prod\n"} {
		if !bytes.Contains(envOut, []byte(kv)) {
			t.Errorf("api's environment lacks %q:\n%s", kv, envOut)
		}
	}
	// The quoted command ran as the shell would have split it.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		b, _ := os.ReadFile(filepath.Join(dir, "state", "logs", "quoted.err"))
		if bytes.Equal(b, []byte("started with spaces\n")) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("quoted's stderr: %q", b)
		}
	}

	// startsecs=1: api was Running only after a second up.
	var spawned, up time.Time
	for _, ev := range e.history("api") {
		ts, _ := time.Parse(time.RFC3339Nano, ev.Time)
		switch ev.Type {
		case "spawned":
			spawned = ts
		case "running":
			up = ts
			if !strings.Contains(ev.Cause, "1s") {
				t.Errorf("api's running event: %q", ev.Cause)
			}
		}
	}
	if spawned.IsZero() || up.Sub(spawned) < time.Second {
		t.Errorf("api running %s after its spawn, want at least startsecs=1", up.Sub(spawned))
	}

	// stopsignal=INT: the stop sends SIGINT, which ends api.
	mark := sdLastSeq(e)
	e.mustTend("stop", "api")
	var sent, exited bool
	for _, ev := range e.history("api") {
		if ev.Seq <= mark {
			continue
		}
		sent = sent || ev.Type == "signal_sent" && ev.Signal == "INT"
		exited = exited || ev.Type == "exited" && ev.Signal == "INT" && ev.To == "Stopped"
	}
	if !sent || !exited {
		t.Errorf("stop api: no SIGINT sent or no exit by it: %+v", e.history("api"))
	}

	// stopwaitsecs=1: stubborn ignores SIGTERM and is SIGKILLed a second
	// after the stop.
	mark = sdLastSeq(e)
	if out := e.mustTend("stop", "stubborn"); !strings.Contains(out, "Killed") {
		t.Errorf("stop stubborn: %s", out)
	}
	var asked, killed time.Time
	for _, ev := range e.history("stubborn") {
		if ev.Seq <= mark {
			continue
		}
		ts, _ := time.Parse(time.RFC3339Nano, ev.Time)
		switch ev.Type {
		case "stop_requested":
			asked = ts
		case "killed":
			killed = ts
		}
	}
	if d := killed.Sub(asked); asked.IsZero() || killed.IsZero() || d < 900*time.Millisecond || d > 5*time.Second {
		t.Errorf("stubborn killed %s after the stop request, want about stopwaitsecs=1", d)
	}

	// The group comment lines survive: supervisorctl would see pool:pool_00.
	for _, n := range []string{"pool_00", "pool_01", "pool_02"} {
		if !bytes.Contains(generated, []byte(fmt.Sprintf(`# supervisord: worker=%q group="pool"`, n))) {
			t.Errorf("no group line for %s:\n%s", n, generated)
		}
	}
}
