package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tendhq/tend/events"
)

// pid1 is a daemon run as PID 1 of a new PID namespace, as in a container:
// unshare --pid --fork --mount-proc tend daemon.
type pid1 struct {
	t      *testing.T
	e      *env
	cmd    *exec.Cmd
	stdout bytes.Buffer
	stderr bytes.Buffer
	done   chan struct{}
	code   int
}

// startPID1 starts the daemon on a configuration of daemonKeys (more keys
// of [daemon]) and workers.
func startPID1(t *testing.T, daemonKeys, workers string) *pid1 {
	t.Helper()
	if _, err := exec.LookPath("unshare"); err != nil || os.Geteuid() != 0 {
		t.Skip("needs root and unshare(1)")
	}
	e := newEnv(t, workers)
	e.write(strings.Replace(readFile(t, e.conf), "[daemon]\n", "[daemon]\n"+daemonKeys, 1))
	p := &pid1{t: t, e: e, done: make(chan struct{})}
	p.cmd = exec.Command("unshare", "--pid", "--fork", "--mount-proc", "--kill-child", tendBin, "daemon", "-c", e.conf)
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := p.cmd.Wait()
		p.code = 0
		if ee, ok := err.(*exec.ExitError); ok {
			p.code = ee.ExitCode()
		} else if err != nil {
			p.code = -1
		}
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill() // --kill-child takes the namespace with it
		<-p.done
	})
	return p
}

// tendPID is the daemon's pid as this test sees it: unshare's child.
func (p *pid1) tendPID() int {
	p.t.Helper()
	var pid int
	waitUntil(p.t, "tend forked by unshare", func() bool {
		kids := children(p.cmd.Process.Pid)
		if len(kids) == 1 {
			pid = kids[0]
		}
		return pid != 0
	})
	return pid
}

// exit waits for the daemon to end and returns unshare's status, which is
// the daemon's.
func (p *pid1) exit(within time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(within):
		p.t.Fatalf("the daemon did not exit within %v\nstderr:\n%s", within, p.stderr.String())
	}
	return 0
}

func children(pid int) []int {
	var out []int
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, f := range tasks {
		b, _ := os.ReadFile(f)
		for _, s := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(s); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

func procState(pid int) byte {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return 0
	}
	return b[i+2]
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// As PID 1, the daemon reaps every zombie in its namespace: orphans of a
// worker's tree, and of job-control groups a worker left in the daemon's
// session, which a daemon that leaves them to an owner would keep forever.
// SIGTERM then stops every worker in order and the daemon exits 0.
func TestPID1ReapsEveryZombieAndStopsOnSIGTERM(t *testing.T) {
	p := startPID1(t, "", fmt.Sprintf(`
[worker.groups]
command = %s
restart = "never"
start_timeout = "0s"

[worker.tree]
command = ["/bin/sh", "-c", "sleep 0.3 & sleep 0.4 & exit 0"]
restart = "never"
start_timeout = "0s"

[worker.web]
command = %s
start_timeout = "100ms"
`, helperCmd("orphan-groups", "4", "0.3"), helperCmd("hang")))
	tend := p.tendPID()
	// The orphans are the daemon's children (PID 1 of the namespace) and
	// exit after 0.3 s; none may stay a zombie.
	time.Sleep(700 * time.Millisecond)
	waitUntil(t, "no zombie child of PID 1", func() bool {
		for _, k := range children(tend) {
			if procState(k) == 'Z' {
				return false
			}
		}
		return true
	})
	// web runs as the daemon's only child left.
	waitUntil(t, "only web left", func() bool { return len(children(tend)) == 1 })
	if err := syscall.Kill(tend, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.exit(20 * time.Second); code != 0 {
		t.Fatalf("exit status %d after SIGTERM, want 0\n%s", code, p.stderr.String())
	}
	evs := logEvents(t, p.e.db())
	var stopping, webExit bool
	for _, ev := range evs {
		if ev.Type == events.DaemonStopping && strings.Contains(ev.Cause, "terminated") {
			stopping = true
		}
		// web exits 0 on SIGTERM, after the daemon stopped it.
		if ev.Type == events.Exited && ev.Worker == "web" && ev.From == events.Stopping && ev.ExitCode != nil && *ev.ExitCode == 0 {
			webExit = true
		}
	}
	if !stopping || !webExit {
		var b strings.Builder
		for _, ev := range evs {
			fmt.Fprintf(&b, "\n  %d %s %s %s→%s %q", ev.Seq, ev.Worker, ev.Type, ev.From, ev.To, ev.Cause)
		}
		t.Fatalf("the log does not show an orderly stop (daemon_stopping %v, web stopped %v):%s", stopping, webExit, b.String())
	}
}

// exit_on = "any-failure": a worker that fails and will not be restarted
// stops the daemon, which exits with the worker's status; the reason is in
// the log.
func TestPID1ExitOnAnyFailure(t *testing.T) {
	p := startPID1(t, `exit_on = "any-failure"`+"\n", fmt.Sprintf(`
[worker.job]
command = ["/bin/sh", "-c", "sleep 0.3; exit 7"]
restart = "never"
start_timeout = "0s"

[worker.web]
command = %s
start_timeout = "100ms"
`, helperCmd("hang")))
	if code := p.exit(20 * time.Second); code != 7 {
		t.Fatalf("exit status %d, want the job's 7\n%s", code, p.stderr.String())
	}
	var why *events.Event
	for _, ev := range logEvents(t, p.e.db()) {
		if ev.Type == events.DaemonStopping {
			why = ev
		}
	}
	if why == nil || why.ExitCode == nil || *why.ExitCode != 7 || why.Worker != "job" || !strings.Contains(why.Cause, `exit_on = "any-failure"`) {
		t.Fatalf("daemon_stopping %+v, want the job's status and the reason", why)
	}
}

// exit_on = "all-done" with one-shot jobs: the daemon exits 0 once every
// job has completed. Their output goes to the daemon's own stdout ("-"),
// each line whole and prefixed with the job's name.
func TestPID1AllDoneAndConsoleOutput(t *testing.T) {
	p := startPID1(t, `exit_on = "all-done"`+"\n", `
[worker.a]
command = ["/bin/sh", "-c", "seq -f 'a line %g of the first job, long enough to fill the pipe quickly' 20000"]
type = "oneshot"
stdout = "-"

[worker.b]
command = ["/bin/sh", "-c", "seq -f 'b line %g of the second job' 20000; printf 'sneaky\ra | forged\n' >&2"]
type = "oneshot"
stdout = "-"
stderr = "-"
`)
	if code := p.exit(30 * time.Second); code != 0 {
		t.Fatalf("exit status %d, want 0\n%s", code, p.stderr.String())
	}
	next := map[string]int{"a": 1, "b": 1}
	for _, line := range strings.Split(strings.TrimSuffix(p.stdout.String(), "\n"), "\n") {
		name, rest, ok := strings.Cut(line, " | ")
		want := fmt.Sprintf("%s line %d of the ", name, next[name])
		if !ok || !strings.HasPrefix(rest, want) {
			t.Fatalf("stdout line %q, want %q...", line, name+" | "+want)
		}
		next[name]++
	}
	if next["a"] != 20001 || next["b"] != 20001 {
		t.Fatalf("lines a %d, b %d, want 20000 each", next["a"]-1, next["b"]-1)
	}
	if !strings.Contains(p.stderr.String(), "b | sneaky\nb | a | forged\n") {
		t.Errorf("stderr lacks b's lines, each with b's prefix:\n%s", p.stderr.String())
	}
}

// logEvents reads every event of a log the daemon has closed.
func logEvents(t *testing.T, db string) []*events.Event {
	t.Helper()
	l := openLog(t, db)
	var evs []*events.Event
	if err := l.Scan(1, l.LastSeq(), func(e *events.Event) error {
		c := *e
		evs = append(evs, &c)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return evs
}
