package main

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/cmd/internal/cli"
	"github.com/tendhq/tend/cmd/internal/client"
	"github.com/tendhq/tend/cmd/internal/query"
	"github.com/tendhq/tend/events"
)

// A three-level graph through the real binary: a database that says it is
// ready over the notification socket, a one-shot migration that needs it,
// and an app that needs both. The app waits (status and why say for what),
// starts in the decision that records the migration's completion, and
// `tend analyze` finds the chain; stopping the database stops the app
// first.
func TestStartUpOrder(t *testing.T) {
	e := newEnv(t, `
[worker.db]
command = `+helperCmd("notify", "600ms")+`
ready = "notify"

[worker.migrate]
command = ["sh", "-c", "sleep 0.3"]
type = "oneshot"
depends_on = { db = "ready" }

[worker.app]
command = `+helperCmd("hang")+`
start_timeout = "100ms"
depends_on = { db = "ready", migrate = "completed" }
`)
	e.startDaemon()
	w := e.waitStatus("app", "waiting", func(w client.WorkerStatus) bool { return w.Waiting == "start" })
	if !strings.Contains(w.WaitingFor, "db (ready)") {
		t.Fatalf("app waits for %q", w.WaitingFor)
	}
	why := e.mustTend("why", "app")
	if !strings.Contains(why, "its start waits since") || !strings.Contains(why, "migrate (completed)") {
		t.Fatalf("why app:\n%s", why)
	}
	e.waitStatus("app", "running", running)
	db := e.status()["db"]
	if db.StatusText != "serving" {
		t.Errorf("db says %q", db.StatusText)
	}
	// The log's order: db ready, then migrate spawned; migrate completed,
	// then app spawned.
	seqOf := func(worker, typ string) events.Seq {
		for _, ev := range e.history(worker) {
			if ev.Type == typ && !ev.Stale {
				return ev.Seq
			}
		}
		t.Fatalf("%s has no %s", worker, typ)
		return 0
	}
	if !(seqOf("db", "running") < seqOf("migrate", "spawned") && seqOf("migrate", "exited") < seqOf("app", "spawned")) {
		t.Fatalf("out of order: db ready %d, migrate spawned %d, migrate exited %d, app spawned %d",
			seqOf("db", "running"), seqOf("migrate", "spawned"), seqOf("migrate", "exited"), seqOf("app", "spawned"))
	}
	var a query.StartUp
	if err := json.Unmarshal([]byte(e.mustTend("analyze", "-o", "json")), &a); err != nil {
		t.Fatal(err)
	}
	if strings.Join(a.Critical, " ") != "db migrate app" {
		t.Errorf("critical chain %v, want db migrate app", a.Critical)
	}
	// Stop db: app stops first.
	e.mustTend("stop", "db")
	if s1, s2 := seqOf("app", "exited"), lastSeq(t, e, "db", "stop_requested"); s1 > s2 {
		t.Fatalf("db's stop (seq %d) came before app ended (seq %d)", s2, s1)
	}
	if st := e.status()["app"]; st.State != "Stopped" {
		t.Fatalf("app after stop db: %+v", st)
	}
}

func lastSeq(t *testing.T, e *env, worker, typ string) events.Seq {
	t.Helper()
	var s events.Seq
	for _, ev := range e.history(worker) {
		if ev.Type == typ && !ev.Stale {
			s = ev.Seq
		}
	}
	return s
}

// A cycle is refused by `tend check`, spelled out, at its file and line.
func TestDependencyCycleRefused(t *testing.T) {
	e := newEnv(t, `
[worker.a]
command = ["/bin/true"]
depends_on = { b = "ready" }

[worker.b]
command = ["/bin/true"]
depends_on = { a = "started" }
`)
	_, errOut, code := e.tend("check")
	if code != cli.ExitFailure || !strings.Contains(errOut, "dependency cycle: a → b → a") || !strings.Contains(errOut, "tend.toml:12:") {
		t.Fatalf("check: exit %d\n%s", code, errOut)
	}
}

// A requirement whose breaker opens leaves its dependent waiting, and a
// start of the dependent returns at once with the reason.
func TestBlockedRequirement(t *testing.T) {
	e := newEnv(t, `
[worker.db]
command = ["sh", "-c", "exit 1"]
start_timeout = "1s"
restart = "always"
backoff_initial = "10ms"
backoff_max = "10ms"
circuit_max_restarts = 1
autostart = false

[worker.app]
command = `+helperCmd("hang")+`
depends_on = { db = "ready" }
autostart = false
`)
	e.startDaemon()
	_, errOut, code := e.tend("start", "app", "--timeout", "20s")
	if code == 0 || !strings.Contains(errOut, "circuit breaker is open") {
		t.Fatalf("start app: exit %d\n%s\n%s", code, errOut, e.mustTend("history", "db"))
	}
	if w := e.status()["app"]; w.State != "Stopped" || w.Waiting != "start" {
		t.Fatalf("app: %+v", w)
	}
}

// A real daemon that is not ours, redis-server, says it is ready over the
// notification socket.
func TestRedisReadyByNotify(t *testing.T) {
	redis, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("no redis-server (scripts/deps.sh installs it)")
	}
	e := newEnv(t, fmt.Sprintf(`
[worker.redis]
command = [%q, "--port", "0", "--unixsocket", %q, "--supervised", "systemd", "--save", "", "--appendonly", "no"]
ready = "notify"
ready_timeout = "20s"
`, redis, filepath.Join(t.TempDir(), "redis.sock")))
	e.startDaemon()
	e.waitStatus("redis", "running", running)
	ready := lastSeq(t, e, "redis", "running")
	for _, ev := range e.history("redis") {
		if ev.Seq == ready && ev.Actor != "notify" {
			t.Fatalf("redis ready by %s: %+v", ev.Actor, ev)
		}
	}
}

// A scheduled one-shot runs when due; runs missed while the daemon was
// down are caught up once at its next start.
func TestScheduleAcrossARestart(t *testing.T) {
	e := newEnv(t, `
[worker.tick]
command = ["/bin/true"]
type = "oneshot"
every = "1s"
catch_up = "once"
start_timeout = "0s"
`)
	e.startDaemon()
	e.waitStatus("tick", "run twice", func(w client.WorkerStatus) bool { return w.Incarnation >= 2 && w.NextRun != nil })
	e.stopDaemon()
	time.Sleep(2500 * time.Millisecond)
	e.startDaemon()
	e.waitStatus("tick", "caught up", func(w client.WorkerStatus) bool {
		for _, ev := range e.history("tick") {
			if ev.Type == "start_requested" && strings.Contains(ev.Cause, "catching up") && ev.Planned != "" {
				return true
			}
		}
		return false
	})
}
