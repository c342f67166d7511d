package config

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/tendhq/tend/fsm/policy"
	"github.com/tendhq/tend/supervisor/core"
)

const maxWorkerName = 64

// checkWorkerName keeps names safe to use in file names and on the command
// line. Names made only of dots ("." and "..") pass the character rule but
// read as directories in paths, so they are refused too.
func checkWorkerName(name string) error {
	ok := name != "" && len(name) <= maxWorkerName && strings.Trim(name, ".") != ""
	for _, c := range []byte(name) {
		if !(isBare(c) || c == '.') {
			ok = false
		}
	}
	if !ok {
		return fmt.Errorf("invalid worker name %q (use 1-%d of A-Z a-z 0-9 _ . -)", name, maxWorkerName)
	}
	return nil
}

func (d *decoder) worker(t *table, name, dir, stateDir string) *Worker {
	w := &Worker{Name: name, Line: t.line("")}

	cmd, present := t.stringList("command")
	switch {
	case !present:
		t.errorf("command", `required key is missing (e.g. command = ["/usr/bin/app", "--flag"])`)
	case cmd != nil && len(cmd) == 0:
		t.errorf("command", "must not be empty")
	case cmd != nil && cmd[0] == "":
		t.errorf("command", "the program (first element) must not be empty")
	}
	t.checkArgStrings("command", cmd)
	w.Command = cmd
	w.Dir = resolve(dir, t.str("dir", ""))
	w.Env = d.env(t)
	w.EnvFiles = d.envFiles(t, dir)
	t.get("instances") // read by template: one table, many workers
	w.User = t.str("user", "")
	w.Group = t.str("group", "")
	w.Autostart = t.boolean("autostart", true)
	w.ClearEnv = t.boolean("clear_env", false)
	// A worker that runs as another user is kept from gaining privileges
	// back through setuid programs, unless the file says otherwise.
	w.NoNewPrivileges = t.boolean("no_new_privileges", w.User != "")
	w.Umask = t.umask("umask")
	w.Policy = d.policy(t)

	w.StartTimeout = t.durationIn("start_timeout", DefaultStartTimeout, 0, MaxStartTimeout)
	w.StopSignal = t.signal("stop_signal", DefaultStopSignal)
	w.StopTimeout = t.durationIn("stop_timeout", DefaultStopTimeout, 0, MaxStopTimeout)
	w.OnLeaderExit = core.LeaderExit(t.enum("on_leader_exit", string(DefaultOnLeaderExit), string(core.StopRest), string(core.Leave)))

	w.Stdout = d.logPath(t, "stdout", filepath.Join(stateDir, "logs", name+".out"), dir)
	w.Stderr = d.logPath(t, "stderr", filepath.Join(stateDir, "logs", name+".err"), dir)
	w.LogMaxSize = int64(t.sizeMax("log_max_size", DefaultLogMaxSize, MaxLogMaxSize))
	w.LogBackups = t.intIn("log_backups", DefaultLogBackups, 0, MaxLogBackups)
	w.AllowSharedOutputDir = t.boolean("allow_shared_output_dir", false)
	d.output(t, w)

	if h := t.sub("health"); h != nil {
		w.Health = d.health(h)
	}
	if l := t.sub("limits"); l != nil {
		w.Limits = d.limits(l)
	}
	if r := t.sub("rlimits"); r != nil {
		w.Rlimits = d.rlimits(r)
	}
	d.ordering(t, w)
	d.hooks(t, w)
	t.finish()
	return w
}

// policy decodes the worker's restart keys into fsm/policy's Spec, checked
// by its Validate.
func (d *decoder) policy(t *table) policy.Spec {
	p := policy.Spec{Restart: policy.Restart(t.enum("restart", string(DefaultRestart), names(policy.Modes())...))}
	p.BackoffInitial = t.durationIn("backoff_initial", DefaultBackoffInitial, 0, MaxBackoff)
	p.BackoffMax = t.durationIn("backoff_max", DefaultBackoffMax, 0, MaxBackoff)
	if !t.has("backoff_max") && p.BackoffInitial > p.BackoffMax {
		// Past a default the file does not show: point at the key it
		// does, and put the default back as for any refused value, so
		// that Validate does not blame the key nobody wrote.
		t.errorf("backoff_initial", "must be at most backoff_max (%v unless set)", DefaultBackoffMax)
		p.BackoffInitial = DefaultBackoffInitial
	}
	p.BreakerMax = t.intIn("circuit_max_restarts", DefaultCircuitMaxRestarts, 0, MaxCircuitRestarts)
	p.BreakerWindow = t.durationIn("circuit_window", DefaultCircuitWindow, 0, MaxCircuitWindow)
	p.BreakerCooldown = t.durationIn("circuit_cooldown", DefaultCircuitCooldown, 0, MaxCircuitCooldown)
	t.specErrors(&p, p.Validate())
	return p
}

func (d *decoder) logPath(t *table, key, def, dir string) string {
	p := t.str(key, def)
	if !t.has(key) {
		return def
	}
	if p == "" {
		t.errorf(key, "must not be empty (leave it out for the default, under the state directory's logs/)")
		return def
	}
	if p == Console {
		return Console
	}
	return resolve(dir, p)
}

// env reads the env table; an empty table is the same as none, so both
// hash alike. Names with "=" or empty names cannot be passed
// to execve faithfully, so they are refused here instead of mangled later.
func (d *decoder) env(t *table) map[string]string {
	e := t.sub("env")
	if e == nil {
		return nil
	}
	names := make([]string, 0, len(e.m))
	for k := range e.m {
		names = append(names, k)
	}
	sort.Strings(names)
	out := make(map[string]string, len(names))
	for _, k := range names {
		v := e.secret(k)
		if k == "" || strings.ContainsAny(k, "=\x00") {
			e.errorf(k, "invalid environment variable name %q", k)
			continue
		}
		if n := len(k) + 1 + len(v); n+1 > maxArgStrlen {
			e.errorf(k, "NAME=value is %d bytes; the kernel refuses a single environment string of more than %d (MAX_ARG_STRLEN)", n, maxArgStrlen-1)
			continue
		}
		out[k] = v
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// output reads output, log_max_age and log_compress: how the worker's
// output files are written.
func (d *decoder) output(t *table, w *Worker) {
	// Left out, it stays "": the default, and what every earlier file
	// meant.
	w.Output = t.enum("output", "", OutputFile, OutputRelay)
	w.LogMaxAge = t.durationIn("log_max_age", 0, 0, MaxLogMaxAge)
	w.LogCompress = t.boolean("log_compress", false)
	if w.Output == OutputRelay {
		for _, k := range []struct{ key, path string }{{"stdout", w.Stdout}, {"stderr", w.Stderr}} {
			if k.path == Console {
				t.errorf(k.key, `"-" (the daemon's own output) cannot go through a relay (output = "relay"): give a file, or leave output out`)
			}
		}
		if w.LogMaxSize > 0 && w.LogMaxSize < MinRelayLogMaxSize {
			t.errorf("log_max_size", "must be 0 or at least %d bytes with output = \"relay\": a file holds at least one stamped line", MinRelayLogMaxSize)
			w.LogMaxSize = MinRelayLogMaxSize
		}
		return
	}
	for _, k := range []string{"log_max_age", "log_compress"} {
		if t.has(k) {
			t.errorf(k, `is only used with output = "relay" (the relay rotates by age and compresses; a file the worker writes itself is rotated by log_max_size alone)`)
		}
	}
}
