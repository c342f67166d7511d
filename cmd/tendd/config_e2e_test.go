package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/cmd/internal/client"
)

// waitFile waits until the file at path holds want.
func waitFile(t *testing.T, path, want string) string {
	t.Helper()
	var b []byte
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		b, _ = os.ReadFile(path)
		if strings.Contains(string(b), want) {
			return string(b)
		}
	}
	t.Fatalf("%s never held %q; it holds:\n%s", path, want, b)
	return ""
}

// TestEnvFileEndToEnd: a worker gets what its env files set, read at its
// spawn; a reload after a file changed restarts it, and history and why
// say the env file changed, while no value ever reaches the log, the
// daemon's own log or an error.
func TestEnvFileEndToEnd(t *testing.T) {
	const secret1, secret2 = "tok-hunter2-first", "tok-hunter2-second"
	e := newEnv(t, "")
	envPath := filepath.Join(e.dir, "app.env")
	if err := os.WriteFile(envPath, []byte("# the app's secrets\nTOKEN='"+secret1+"'\nMODE=from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(e.dir, "web.out")
	conf := fmt.Sprintf("[daemon]\nstate_dir = \"state\"\nlog_level = \"debug\"\n\n"+
		"[worker.web]\ncommand = %s\nstart_timeout = \"50ms\"\nstdout = %q\nenv = { MODE = \"prod\" }\n"+
		"env_file = [\"app.env\", \"-app.local.env\"]\n", helperCmd("print-env"), out)
	e.write(conf)
	if got := e.mustTend("check"); !strings.Contains(got, "ok, 1 workers") {
		t.Fatalf("check: %s", got)
	}
	e.startDaemon()
	w := e.waitStatus("web", "running", running)
	text := waitFile(t, out, "ready")
	if !strings.Contains(text, "TOKEN="+secret1+"\n") || !strings.Contains(text, "MODE=from-file\n") {
		t.Fatalf("the worker's environment lacks what the env file sets:\n%s", text)
	}

	// A reload with nothing changed leaves it alone.
	if got := e.mustTend("reload"); !strings.Contains(got, "changed []") && strings.Contains(got, "web") {
		t.Fatalf("reload of an unchanged file: %s", got)
	}
	// The file changes: the reload restarts the worker with the new value.
	os.Remove(out)
	if err := os.WriteFile(envPath, []byte("TOKEN="+secret2+"\nMODE=from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := e.mustTend("reload"); !strings.Contains(got, "web") {
		t.Fatalf("reload after the env file changed: %s", got)
	}
	e.waitStatus("web", "restarted", func(s client.WorkerStatus) bool { return running(s) && s.Incarnation > w.Incarnation })
	text = waitFile(t, out, "ready")
	if !strings.Contains(text, "TOKEN="+secret2+"\n") {
		t.Fatalf("the restarted worker did not read the file again:\n%s", text)
	}
	var changed bool
	for _, ev := range e.history("web") {
		if ev.Type == "worker_changed" && ev.Cause == "configuration changed: env_file" {
			changed = true
		}
	}
	if !changed {
		t.Fatalf("no worker_changed naming env_file:\n%s", e.mustTend("history", "web"))
	}
	why := e.mustTend("why", "web")
	if first, _, _ := strings.Cut(why, "\n"); !strings.Contains(first, "after a reload by cli uid=0: configuration changed (env_file)") {
		t.Fatalf("why does not say the env file changed:\n%s", why)
	}

	// A file that no longer parses: the reload is refused at the worker's
	// env_file key, naming the env file's line and not its value.
	if err := os.WriteFile(envPath, []byte("TOKEN="+secret2+"\n"+secret1+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errs, code := e.tend("reload")
	if code == 0 || !strings.Contains(errs, "tend.toml:10: worker.web.env_file: env file "+envPath+":2: not an assignment") ||
		strings.Contains(errs, "hunter2") {
		t.Fatalf("reload of a broken env file: exit %d: %s", code, errs)
	}
	if err := os.WriteFile(envPath, []byte("TOKEN="+secret2+"\nMODE=from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	// An env file that others can change is refused like the config file.
	shared := filepath.Join(e.dir, "shared")
	os.Mkdir(shared, 0o755)
	os.Chmod(shared, 0o777)
	os.WriteFile(filepath.Join(shared, "x.env"), []byte("A=1\n"), 0o600)
	e.write(strings.Replace(conf, `"-app.local.env"`, `"-app.local.env", "shared/x.env"`, 1))
	_, errs, code = e.tend("reload")
	if code == 0 || !strings.Contains(errs, "tend.toml:10: worker.web.env_file: ") || !strings.Contains(errs, "every user (mode 0777)") {
		t.Fatalf("reload with an env file in a shared directory: exit %d: %s", code, errs)
	}
	_, errs, _ = e.tend("check")
	if !strings.Contains(errs, "warning: ") || !strings.Contains(errs, "worker.web.env_file") {
		t.Fatalf("check does not warn of the shared env file: %s", errs)
	}
	e.write(conf)

	e.stopDaemon()
	for _, f := range []string{e.db(), out + ".none"} {
		b, _ := os.ReadFile(f)
		if bytes.Contains(b, []byte("hunter2")) {
			t.Errorf("%s holds a value of the env file", f)
		}
	}
	if strings.Contains(e.stderr.String(), "hunter2") {
		t.Errorf("the daemon's log holds a value of the env file:\n%s", e.stderr)
	}
	// The spawned events name the variables the files set, never their
	// values.
	evs := e.mustTend("events", "--db", e.db(), "--type", "spawned", "-o", "json")
	if !strings.Contains(evs, `"TOKEN"`) || strings.Contains(evs, "hunter2") {
		t.Errorf("spawned events: %s", evs)
	}
}

// TestEnvFileMissingAtSpawn: a required env file that disappears after the
// load fails the next spawn, as spawn_failed naming the file.
func TestEnvFileMissingAtSpawn(t *testing.T) {
	e := newEnv(t, "")
	envPath := filepath.Join(e.dir, "app.env")
	os.WriteFile(envPath, []byte("A=1\n"), 0o600)
	e.write(fmt.Sprintf("[daemon]\nstate_dir = \"state\"\n[worker.web]\ncommand = %s\nstart_timeout = \"50ms\"\n"+
		"env_file = \"app.env\"\nrestart = \"never\"\n", helperCmd("hang")))
	e.startDaemon()
	e.waitStatus("web", "running", running)
	os.Remove(envPath)
	e.mustTend("restart", "--no-wait", "web")
	e.waitStatus("web", "failed to spawn", func(s client.WorkerStatus) bool {
		return s.State == "Stopped" && s.LastExit != nil && strings.Contains(s.LastExit.Cause, envPath)
	})
}

// TestIncludeAndCheckDiff: workers come from drop-in files, errors in them
// name the drop-in and its line, and `check --diff` says what a reload
// would do, without doing it.
func TestIncludeAndCheckDiff(t *testing.T) {
	e := newEnv(t, "")
	confd := filepath.Join(e.dir, "conf.d")
	os.Mkdir(confd, 0o755)
	drop := func(name, body string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(confd, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	e.write(fmt.Sprintf("include = [\"conf.d/*.toml\"]\n[daemon]\nstate_dir = \"state\"\n\n[worker.db]\ncommand = %s\nstart_timeout = \"50ms\"\n", helperCmd("hang")))
	drop("web.toml", fmt.Sprintf("[worker.web]\ncommand = %s\nstart_timeout = \"50ms\"\nenv = { TOKEN = \"s3cr3t-one\" }\n", helperCmd("hang")))
	drop("old.toml", fmt.Sprintf("[worker.old]\ncommand = %s\nstart_timeout = \"50ms\"\n", helperCmd("hang")))
	drop("idle.toml", fmt.Sprintf("[worker.idle]\ncommand = %s\nautostart = false\n", helperCmd("hang")))
	if out := e.mustTend("check"); !strings.Contains(out, "ok, 4 workers") {
		t.Fatalf("check: %s", out)
	}
	e.startDaemon()
	for _, n := range []string{"db", "web", "old"} {
		e.waitStatus(n, "running", running)
	}
	if out := e.mustTend("check", "--diff"); !strings.Contains(out, "a reload would change nothing (4 workers left alone)") {
		t.Fatalf("check --diff of the loaded files: %s", out)
	}

	// A mistake in a drop-in is reported at the drop-in's line.
	drop("new.toml", "[worker.new]\ncommand = [\"/bin/true\"]\nstop_timeout = \"soon\"\n")
	_, errs, code := e.tend("check", "--diff")
	if code == 0 || !strings.Contains(errs, filepath.Join(confd, "new.toml")+":3: worker.new.stop_timeout: invalid duration") {
		t.Fatalf("check --diff of a broken drop-in: exit %d: %s", code, errs)
	}
	drop("new.toml", "[worker.db]\ncommand = [\"/bin/true\"]\n")
	_, errs, _ = e.tend("check")
	if !strings.Contains(errs, filepath.Join(confd, "new.toml")+`:1: worker.db: worker "db" is defined again; it is first defined at `+e.conf+":5") {
		t.Fatalf("check of a duplicate: %s", errs)
	}

	drop("new.toml", fmt.Sprintf("[worker.new]\ncommand = %s\nstart_timeout = \"50ms\"\n", helperCmd("hang")))
	drop("web.toml", fmt.Sprintf("[worker.web]\ncommand = %s\nstart_timeout = \"50ms\"\nenv = { TOKEN = \"s3cr3t-two\" }\nstop_timeout = \"3s\"\n", helperCmd("hang")))
	drop("idle.toml", fmt.Sprintf("[worker.idle]\ncommand = %s\nautostart = false\nstop_timeout = \"4s\"\n", helperCmd("hang")))
	os.Remove(filepath.Join(confd, "old.toml"))
	before := e.status()
	seqBefore := len(e.mustTend("events", "-o", "json"))
	out := e.mustTend("check", "--diff")
	words := strings.Join(strings.Fields(out), " ")
	for _, want := range []string{"add new", "remove old", "restart web (env.TOKEN, stop_timeout)",
		"update idle (stop_timeout)", "leave alone db"} {
		if !strings.Contains(words, want) {
			t.Errorf("check --diff lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "s3cr3t") {
		t.Errorf("check --diff shows a value:\n%s", out)
	}
	var plan client.ReloadPlan
	if err := jsonUnmarshal(e.mustTend("check", "--diff", "-o", "json"), &plan); err != nil {
		t.Fatal(err)
	}
	if len(plan.Changed) != 2 || plan.Changed[1].Name != "web" || !plan.Changed[1].Restart || plan.Changed[0].Restart {
		t.Errorf("plan: %+v", plan)
	}
	// Nothing happened: no event, the same processes.
	if n := len(e.mustTend("events", "-o", "json")); n != seqBefore {
		t.Errorf("check --diff recorded events")
	}
	after := e.status()
	for n, w := range before {
		if after[n].PID != w.PID || after[n].Incarnation != w.Incarnation {
			t.Errorf("check --diff touched %s: %+v → %+v", n, w, after[n])
		}
	}
	if _, ok := after["new"]; ok {
		t.Error("check --diff added a worker")
	}
	// The reload does what the plan said.
	if out := e.mustTend("reload"); !strings.Contains(out, "added [new], removed [old], changed [idle web]") {
		t.Fatalf("reload: %s", out)
	}
	e.waitStatus("new", "running", running)
	if out := e.mustTend("check", "--diff"); !strings.Contains(out, "a reload would change nothing") {
		t.Fatalf("check --diff after the reload: %s", out)
	}
	// A drop-in directory others can write is refused: they could add a
	// worker that runs as root.
	os.Chmod(confd, 0o777)
	_, errs, code = e.tend("reload")
	if code == 0 || !strings.Contains(errs, e.conf+":1: include: ") || !strings.Contains(errs, confd+" can be changed by every user") {
		t.Fatalf("reload with a shared drop-in directory: exit %d: %s", code, errs)
	}
	os.Chmod(confd, 0o755)
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

// TestInstancesAndScale: instances = N makes NAME@1 … NAME@N with
// {instance} in their command, env and output paths; status groups them;
// tend scale adds and removes instances as one recorded decision whose
// actor is the caller, and the scale holds across a daemon restart and a
// reload of the same file, until the file's count changes.
func TestInstancesAndScale(t *testing.T) {
	e := newEnv(t, "")
	logs := filepath.Join(e.dir, "logs")
	os.Mkdir(logs, 0o755)
	conf := func(n int) string {
		return fmt.Sprintf("[daemon]\nstate_dir = \"state\"\n\n[worker.web]\ninstances = %d\ncommand = %s\nstart_timeout = \"50ms\"\n"+
			"env = { SLOT = \"{instance}\", PORT = \"{instance+8080}\" }\nstdout = %q\n", n,
			helperCmd("print-env", "--slot={instance}"), filepath.Join(logs, "web-{instance}.out"))
	}
	e.write(conf(3))
	if out := e.mustTend("check"); !strings.Contains(out, "ok, 3 workers") {
		t.Fatalf("check: %s", out)
	}
	e.startDaemon()
	for i := 1; i <= 3; i++ {
		e.waitStatus(fmt.Sprintf("web@%d", i), "running", running)
	}
	text := waitFile(t, filepath.Join(logs, "web-2.out"), "ready")
	if !strings.Contains(text, "SLOT=2\n") || !strings.Contains(text, "PORT=8082\n") || !strings.Contains(text, "TEND_WORKER=web@2\n") {
		t.Fatalf("web@2's environment:\n%s", text)
	}
	var spawned bool
	for _, ev := range e.history("web@2") {
		if ev.Type == "spawned" && slices.Contains(ev.Command, "--slot=2") {
			spawned = true
		}
	}
	if !spawned {
		t.Errorf("web@2 was not spawned with --slot=2: %s", e.mustTend("history", "web@2"))
	}
	// status: a line for the group, its instances under it; JSON stays flat
	// with a group field.
	table := e.mustTend("status")
	if words := strings.Join(strings.Fields(table), " "); !strings.Contains(words, "web 3/3 running web@1 Running") {
		t.Errorf("status:\n%s", table)
	}
	if st := e.status()["web@3"]; st.Group != "web" {
		t.Errorf("status JSON of web@3: %+v", st)
	}

	// Up to 6, then down to 2.
	out := e.mustTend("scale", "web", "6")
	if !strings.Contains(out, "web: 3 → 6 instances (added web@4, web@5, web@6)") {
		t.Fatalf("scale web 6: %s", out)
	}
	if st := e.status(); st["web@6"].State != "Running" || len(st) != 6 {
		t.Fatalf("after scale 6: %v", st)
	}
	waitFile(t, filepath.Join(logs, "web-6.out"), "SLOT=6\n")
	out = e.mustTend("scale", "web", "2")
	if !strings.Contains(out, "web: 6 → 2 instances (removed web@3, web@4, web@5, web@6)") {
		t.Fatalf("scale web 2: %s", out)
	}
	if st := e.status(); len(st) != 2 || st["web@1"].State != "Running" || st["web@2"].State != "Running" {
		t.Fatalf("after scale 2: %v", st)
	}
	scaled := e.mustTend("events", "--type", "scaled", "-o", "json")
	var evs []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(scaled), "\n") {
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	if len(evs) != 2 || evs[1]["actor"] != "cli uid=0" || evs[1]["instances"] != 2.0 || evs[1]["file_instances"] != 3.0 || evs[1]["worker"] != "web" {
		t.Fatalf("scaled events: %s", scaled)
	}
	var asked, removed bool
	for _, ev := range e.history("web@5") {
		if ev.Type == "stop_requested" && ev.Actor == "cli uid=0" && ev.Cause == "removed: scaled to 2 by cli uid=0: stopping" {
			asked = true
		}
		removed = removed || ev.Type == "worker_removed"
	}
	if !asked || !removed {
		t.Errorf("web@5's removal is not recorded with its actor:\n%s", e.mustTend("history", "web@5"))
	}
	if why := e.mustTend("history", "web"); !strings.Contains(why, "scaled from 6 to 2 instances by cli uid=0") {
		t.Errorf("history web:\n%s", why)
	}

	// A daemon restart keeps the scale: it is in the log.
	e.stopDaemon()
	e.startDaemon()
	e.waitStatus("web@2", "running", running)
	if st := e.status(); len(st) != 2 {
		t.Fatalf("after a restart: %v", st)
	}
	// So does a reload of the same file; check --diff says so too.
	if out := e.mustTend("check", "--diff"); !strings.Contains(out, "a reload would change nothing") {
		t.Errorf("check --diff with the scale in force: %s", out)
	}
	e.mustTend("reload")
	if st := e.status(); len(st) != 2 {
		t.Fatalf("after a reload of the same file: %v", st)
	}
	// Commands on the group reach every instance.
	if out := e.mustTend("restart", "web"); !strings.Contains(out, "web@1: Running") || !strings.Contains(out, "web@2: Running") {
		t.Errorf("restart web: %s", out)
	}
	// A scale above the file's count outlives a restart too: the daemon
	// makes the instances the log's scale needs.
	e.mustTend("scale", "web", "5")
	e.stopDaemon()
	e.startDaemon()
	for i := 1; i <= 5; i++ {
		e.waitStatus(fmt.Sprintf("web@%d", i), "running", running)
	}
	if st := e.status(); len(st) != 5 {
		t.Fatalf("after a restart with a scale to 5: %v", st)
	}
	// The file's count changes: it is in force again.
	e.write(conf(4))
	if out := e.mustTend("check", "--diff"); !strings.Contains(strings.Join(strings.Fields(out), " "), "remove web@5") {
		t.Errorf("check --diff with instances = 4: %s", out)
	}
	e.mustTend("reload")
	e.waitStatus("web@5", "removed", func(s client.WorkerStatus) bool { return s.Name == "" })
	if st := e.status(); len(st) != 4 {
		t.Fatalf("after instances = 4: %v", st)
	}
	if evs := e.mustTend("events", "--type", "scaled"); !strings.Contains(evs, "instances = 4 in the configuration (it said 3 when scaled to 5): the runtime scale ends") {
		t.Errorf("the end of the scale is not recorded:\n%s", evs)
	}
	if _, errs, code := e.tend("scale", "nope", "2"); code != 3 || !strings.Contains(errs, "has no instances") {
		t.Errorf("scale of an unknown worker: exit %d: %s", code, errs)
	}
}
