package main

// End-to-end tests of hooks: real commands run by the real binary around
// real workers, a failing and a timing-out pre_start, a stop_command, a
// hook as nobody, and a daemon killed while a pre_start runs.

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/cmd/internal/client"
	"github.com/tendhq/tend/events"
)

// pidAlive reports whether pid is a live process (a zombie is dead).
func pidAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

func waitDead(t *testing.T, pid int, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for pidAlive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("%s (pid %d) is still alive", what, pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func sh(script string) string { return fmt.Sprintf("[%q, %q, %q]", "/bin/sh", "-c", script) }

func typesOf(evs []events.JSON, only func(events.JSON) bool) string {
	var out []string
	for _, e := range evs {
		if only(e) {
			s := e.Type
			if e.Policy != "" && strings.HasPrefix(e.Type, "hook_") {
				s += ":" + e.Policy
			}
			out = append(out, s)
		}
	}
	return strings.Join(out, " ")
}

func TestHooksEndToEnd(t *testing.T) {
	e := newEnv(t, "")
	log := filepath.Join(e.dir, "hooks.log")
	pids := filepath.Join(e.dir, "slow.pids")
	appOut := filepath.Join(e.dir, "state", "logs", "app.out")
	e.write(fmt.Sprintf(`[daemon]
state_dir = "state"
log_level = "debug"

[worker.app]
command = %[1]s
start_timeout = "100ms"
env = { MODE = "prod" }
pre_start = %[2]s
post_start = %[3]s
stop_command = %[4]s
post_stop = %[5]s

[worker.bad]
command = %[1]s
restart = "never"
pre_start = %[6]s

[worker.slow]
command = %[1]s
restart = "never"
pre_start = %[7]s
hook_timeout = "1s"

[worker.nobody]
command = %[1]s
restart = "never"
user = "nobody"
pre_start = %[8]s
`, helperCmd("signals"),
		sh(`echo "pre_start $TEND_HOOK $TEND_HOOK_INCARNATION $MODE $TEND_INCARNATION" >> `+log),
		sh(`echo "post_start $TEND_MAINPID" >> `+log),
		// It waits for the worker to have seen its USR1: a process may
		// take two signals in either order.
		sh(`echo "stop $TEND_MAINPID" >> `+log+`; kill -USR1 $TEND_MAINPID; until grep -q USR1 `+appOut+`; do sleep 0.01; done`),
		sh(`echo post_stop >> `+log),
		sh(`echo migrating; printf 'no \033[31mdatabase\n' >&2; exit 3`),
		sh(`sleep 60 & echo $! > `+pids+`; exec sleep 60`),
		sh(`echo "uid=$(id -u) home=$HOME hook=$TEND_HOOK"; grep NoNewPrivs /proc/self/status; echo "fds: $(ls /proc/self/fd | tr '\n' ' ')"; exit 1`),
	))
	e.startDaemon()

	// app: pre_start before the spawn, post_start once it runs, with the
	// worker's environment and its main pid.
	app := e.waitStatus("app", "running", running)
	waitFile(t, log, fmt.Sprintf("pre_start pre_start 1 prod 0\npost_start %d\n", app.PID))
	waitFile(t, appOut, "ready\n")

	// stop: the stop_command instead of the signal (the worker gets USR1
	// from it), then the stop signal, then post_stop.
	e.mustTend("stop", "app")
	waitFile(t, log, fmt.Sprintf("post_start %d\nstop %d\npost_stop\n", app.PID, app.PID))
	waitFile(t, appOut, "ready\nUSR1\nTERM\n")
	e.waitStatus("app", "post_stop done", func(w client.WorkerStatus) bool {
		return strings.Contains(typesOf(e.history("app"), func(ev events.JSON) bool { return true }), "hook_exited:post_stop")
	})
	hist := e.history("app")
	// The stop signal's outcome may be recorded before or after the exit
	// it causes: it is checked on its own.
	want := "hook_started:pre_start hook_exited:pre_start spawned running hook_started:post_start hook_exited:post_start " +
		"stop_requested hook_started:stop_command hook_exited:stop_command exited hook_started:post_stop hook_exited:post_stop"
	if got := typesOf(hist, func(ev events.JSON) bool {
		return ev.Type != "worker_added" && ev.Type != "start_requested" && ev.Type != "signal_sent"
	}); got != want {
		t.Errorf("app's history:\n got  %s\n want %s", got, want)
	}
	if got := typesOf(hist, func(ev events.JSON) bool { return ev.Type == "signal_sent" && ev.Signal == "TERM" }); got != "signal_sent" {
		t.Errorf("app's stop signal after its stop_command: %q", got)
	}
	for _, ev := range hist {
		if ev.Type == "hook_exited" && (ev.ExitCode == nil || *ev.ExitCode != 0 || ev.Ref == 0 || len(ev.Command) != 3) {
			t.Errorf("hook_exited %+v", ev)
		}
	}

	// bad: its pre_start fails; a failed start, nothing spawned, and why
	// shows what it said.
	bad := e.waitStatus("bad", "failed", func(w client.WorkerStatus) bool { return w.State == "Stopped" && w.LastExit != nil })
	if !strings.Contains(bad.LastExit.Cause, "pre_start hook of incarnation 1 failed: exit status 3") || bad.LastExit.Code == nil || *bad.LastExit.Code != 3 {
		t.Errorf("bad: %+v", bad.LastExit)
	}
	why := e.mustTend("why", "bad")
	for _, s := range []string{"pre_start hook of incarnation 1 failed: exit status 3", "last output of its pre_start hook of incarnation 1:",
		"    | migrating\n", `    | no \x1b[31mdatabase`} {
		if !strings.Contains(why, s) {
			t.Errorf("why bad lacks %q:\n%s", s, why)
		}
	}
	if strings.Contains(why, "\x1b") {
		t.Errorf("why bad prints a raw escape:\n%q", why)
	}
	for _, ev := range e.history("bad") {
		if ev.Type == "spawned" {
			t.Errorf("bad was spawned after its pre_start failed: %+v", ev)
		}
	}

	// slow: its pre_start outlives its timeout and dies with its group.
	e.waitStatus("slow", "timed out", func(w client.WorkerStatus) bool { return w.State == "Stopped" && w.LastExit != nil })
	if why := e.mustTend("why", "slow"); !strings.Contains(why, "pre_start hook of incarnation 1 timed out after") {
		t.Errorf("why slow:\n%s", why)
	}
	b, _ := os.ReadFile(pids)
	bg, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("pids: %q", b)
	}
	waitDead(t, bg, "the timed-out hook's background child")

	// nobody: the hook runs as the worker does, with what a worker
	// inherits and nothing more.
	e.waitStatus("nobody", "failed", func(w client.WorkerStatus) bool { return w.State == "Stopped" && w.LastExit != nil })
	var out string
	for _, ev := range e.history("nobody") {
		if ev.Type == "hook_exited" {
			out = ev.Text
		}
	}
	for _, s := range []string{"uid=65534 home=/nonexistent hook=pre_start", `NoNewPrivs:\t1`, "fds: 0 1 2 3 "} {
		if !strings.Contains(out, s) {
			t.Errorf("the hook as nobody said %q, lacking %q", out, s)
		}
	}
}

// The daemon dies while a pre_start runs. The next one kills what is left
// of it (recorded), runs it again, and spawns the worker after it: the
// hook is never adopted as the worker, and never runs twice at once.
func TestPreStartRerunAfterACrash(t *testing.T) {
	e := newEnv(t, "")
	pids, mark := filepath.Join(e.dir, "pids"), filepath.Join(e.dir, "mark")
	e.write(fmt.Sprintf(`[daemon]
state_dir = "state"
log_level = "debug"

[worker.mig]
command = %s
start_timeout = "100ms"
pre_start = %s
hook_timeout = "2m"
`, helperCmd("hang"), sh(`echo $$ >> `+pids+`; if [ -e `+mark+` ]; then exit 0; fi; touch `+mark+`; exec sleep 60`)))
	e.startDaemon()
	first := 0
	deadline := time.Now().Add(20 * time.Second)
	for first == 0 && time.Now().Before(deadline) {
		b, _ := os.ReadFile(pids)
		first, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		time.Sleep(20 * time.Millisecond)
	}
	if first == 0 || !pidAlive(first) {
		t.Fatalf("the first pre_start never ran (pid %d)", first)
	}
	if w := e.status()["mig"]; w.State != "Starting" || w.PID != 0 {
		t.Fatalf("mig while its pre_start runs: %+v", w)
	}
	e.killDaemon()
	if !pidAlive(first) {
		t.Fatal("the hook died with the daemon; this test needs it to outlive it")
	}

	e.startDaemon()
	w := e.waitStatus("mig", "running", running)
	waitDead(t, first, "the first pre_start")
	b, _ := os.ReadFile(pids)
	runs := strings.Fields(string(b))
	if len(runs) != 2 {
		t.Fatalf("pre_start ran %d times: %q", len(runs), runs)
	}
	if w.Incarnation != 1 || w.PID == first || strconv.Itoa(w.PID) == runs[1] {
		t.Fatalf("mig: %+v (hooks %v)", w, runs)
	}
	var started events.Seq
	var stray, ended bool
	for _, ev := range e.history("mig") {
		switch {
		case ev.Type == "adopted":
			t.Errorf("something was adopted: %+v", ev)
		case ev.Type == "hook_started":
			if started != 0 {
				t.Errorf("a second hook_started: the rerun answers the first: %+v", ev)
			}
			started = ev.Seq
		case ev.Type == "stray_found" && ev.PID == first && ev.Policy == "pre_start" && ev.Actor == "recovery":
			stray = true
		case ev.Type == "hook_exited" && ev.Ref == started && ev.ExitCode != nil && *ev.ExitCode == 0:
			ended = true
		}
	}
	if !stray || !ended {
		t.Errorf("history lacks the killed hook (%v) or the rerun's end (%v):\n%s", stray, ended, e.mustTend("history", "mig"))
	}
}
