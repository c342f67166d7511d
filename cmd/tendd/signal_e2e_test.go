package main

// End-to-end tests of operator signals and reload: the real binary, real
// workers that print every signal they get, the real CLI and the real
// supervisorctl.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tendhq/tend/cmd/internal/client"
	"github.com/tendhq/tend/events"
)

func TestSignalEndToEnd(t *testing.T) {
	e := newEnv(t, fmt.Sprintf(`
[worker.web]
command = %[1]s
start_timeout = "100ms"
reload_signal = "USR2"
backoff_initial = "0s"

[worker.plain]
command = %[1]s
start_timeout = "100ms"

[worker.off]
command = %[1]s
autostart = false
`, helperCmd("signals")))
	e.startDaemon()
	web := e.waitStatus("web", "running", running)
	e.waitStatus("plain", "running", running)
	out := filepath.Join(e.dir, "state", "logs", "web.out")
	waitFile(t, out, "ready\n")
	actor := fmt.Sprintf("cli uid=%d", os.Getuid())

	got := e.mustTend("signal", "web", "HUP")
	if want := fmt.Sprintf("web: SIGHUP sent to incarnation 1 (pid %d)\n", web.PID); got != want {
		t.Errorf("tend signal web HUP:\n got  %q\n want %q", got, want)
	}
	// Each is waited for: a process may take two pending signals in
	// either order.
	waitFile(t, out, "ready\nHUP\n")
	e.mustTend("signal", "web", "sigusr1")
	waitFile(t, out, "ready\nHUP\nUSR1\n")
	e.mustTend("signal", "web", "28") // WINCH
	waitFile(t, out, "ready\nHUP\nUSR1\nWINCH\n")

	// The request and its outcome are events with the operator as actor.
	var req, sent *events.JSON
	for _, ev := range e.history("web") {
		switch {
		case ev.Type == "signal_requested" && ev.Signal == "HUP":
			req = &ev
		case ev.Type == "signal_sent" && req != nil && ev.Ref == req.Seq:
			sent = &ev
		}
	}
	if req == nil || req.Actor != actor || req.Incarnation != 1 || req.PID != web.PID || req.From != "" {
		t.Fatalf("signal_requested: %+v", req)
	}
	if sent == nil || sent.Actor != actor || sent.Stale || sent.Errno != 0 || sent.Incarnation != 1 {
		t.Fatalf("signal_sent: %+v", sent)
	}
	if table := e.mustTend("history", "web"); !strings.Contains(table, "SIGHUP requested by "+actor) {
		t.Errorf("history table:\n%s", table)
	}

	// Refusals say what is wrong, and send nothing.
	for _, tc := range []struct {
		args []string
		code int
		says string
	}{
		{[]string{"signal", "web", "FOO"}, 2, `"FOO"`},
		{[]string{"signal", "web", "0"}, 2, `"0"`},
		{[]string{"signal", "off", "HUP"}, 1, "not running: off is Stopped"},
		{[]string{"signal", "nope", "HUP"}, 3, "no such worker"},
		{[]string{"signal", "web"}, 2, "name workers or pass --all"},
		{[]string{"reload", "off"}, 1, "not running: off is Stopped"},
	} {
		_, stderr, code := e.tend(tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.says) {
			t.Errorf("tend %v: exit %d, stderr %q; want exit %d saying %q", tc.args, code, stderr, tc.code, tc.says)
		}
	}

	// reload: web's reload_signal; plain has none and restarts.
	if got := e.mustTend("reload", "web", "plain"); !strings.Contains(got, "web: SIGUSR2 (its reload_signal) sent to incarnation 1") ||
		!strings.Contains(got, "plain: Running") {
		t.Errorf("tend reload web plain:\n%s", got)
	}
	waitFile(t, out, "WINCH\nUSR2\n")
	if p := e.status()["plain"]; p.Incarnation != 2 || p.State != "Running" {
		t.Errorf("plain after reload: %+v", p)
	}
	if w := e.status()["web"]; w.Incarnation != 1 {
		t.Errorf("web was restarted by its reload: %+v", w)
	}

	// --all signals what runs and leaves the rest out.
	var rs []client.CommandResult
	if err := json.Unmarshal([]byte(e.mustTend("signal", "--all", "HUP", "-o", "json")), &rs); err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || rs[0].Worker != "plain" || rs[1].Worker != "web" || !rs[1].Reached || rs[1].Outcome == nil || rs[1].Did != "signal" {
		t.Errorf("signal --all: %+v", rs)
	}

	// A KILL is sent as asked; what follows is an exit the policy handles,
	// and why names the signal and who sent it.
	e.mustTend("signal", "web", "KILL")
	e.waitStatus("web", "restarted", func(w client.WorkerStatus) bool { return running(w) && w.Incarnation == 2 })
	if why := e.mustTend("why", "web"); !strings.Contains(why, "the last exit was signal KILL after SIGKILL sent by "+actor) {
		t.Errorf("why web:\n%s", why)
	}
}

// The real supervisorctl's signal command against tend.
func TestSupervisorctlSignal(t *testing.T) {
	bin := sdSupervisorctl(t)
	e := newEnv(t, "")
	sock := filepath.Join(e.dir, "supervisor.sock")
	ctl := sdCtl{t: t, bin: bin, sock: sock}
	e.write(fmt.Sprintf(`[daemon]
state_dir = "state"
supervisor_rpc = "unix://%s"

# supervisord: worker="pool_00" group="pool" process="pool_00" priority=999
[worker.pool_00]
command = %[2]s
start_timeout = "100ms"

# supervisord: worker="pool_01" group="pool" process="pool_01" priority=999
[worker.pool_01]
command = %[2]s
start_timeout = "100ms"

[worker.web]
command = %[2]s
start_timeout = "100ms"

[worker.off]
command = %[2]s
autostart = false
`, sock, helperCmd("signals")))
	e.startDaemon()
	for _, n := range []string{"web", "pool_00", "pool_01"} {
		e.waitStatus(n, "running", running)
		waitFile(t, filepath.Join(e.dir, "state", "logs", n+".out"), "ready\n")
	}
	from := sdLastSeq(e)
	ctl.expect([]string{"signal", "HUP", "web"}, `^web: signalled$`)
	waitFile(t, filepath.Join(e.dir, "state", "logs", "web.out"), "ready\nHUP\n")
	sdRecorded(e, "signal", from, fmt.Sprintf("supervisorctl uid=%d", os.Getuid()), [2]string{"web", "signal_requested"}, [2]string{"web", "signal_sent"})

	ctl.expect([]string{"signal", "USR1", "pool:*"}, `^pool:pool_00: signalled$`, `^pool:pool_01: signalled$`)
	waitFile(t, filepath.Join(e.dir, "state", "logs", "pool_01.out"), "ready\nUSR1\n")
	// One supervisorctl run checks several answers: each costs seconds.
	out, code := ctl.run("signal", "HUP", "off", "nope", "nogroup:*")
	sdLines(t, []string{"signal", "HUP", "off", "nope", "nogroup:*"}, out,
		[]string{`^off: ERROR \(not running\)$`, `^nope: ERROR \(no such process\)$`, `^nogroup: ERROR \(no such group\)$`})
	if code == 0 {
		t.Error("supervisorctl signal of a stopped worker exited 0")
	}
	ctl.expect([]string{"signal", "FOO", "web"}, `^web: ERROR \(bad signal name\)$`)
	out = ctl.expect([]string{"signal", "USR2", "all"}, `^pool:pool_00: signalled$`, `^pool:pool_01: signalled$`, `^web: signalled$`)
	if strings.Contains(out, "off") {
		t.Errorf("signal all named a stopped worker:\n%s", out)
	}
	waitFile(t, filepath.Join(e.dir, "state", "logs", "web.out"), "ready\nHUP\nUSR2\n")
}
