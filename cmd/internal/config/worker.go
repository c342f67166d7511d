package config

import (
	"fmt"
	"math"
	"path/filepath"
	"sort"
	"strings"
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
	w.Command = cmd
	w.Dir = resolve(dir, t.str("dir", ""))
	w.Env = d.env(t)
	w.User = t.str("user", "")
	w.Group = t.str("group", "")
	w.Autostart = t.boolean("autostart", true)
	w.Restart = t.enum("restart", DefaultRestart, RestartAlways, RestartOnFailure, RestartNever)

	w.StartTimeout = t.duration("start_timeout", DefaultStartTimeout)
	w.StopSignal = t.signal("stop_signal", DefaultStopSignal)
	w.StopTimeout = t.duration("stop_timeout", DefaultStopTimeout)
	w.BackoffInitial = t.duration("backoff_initial", DefaultBackoffInitial)
	w.BackoffMax = t.duration("backoff_max", DefaultBackoffMax)
	if w.BackoffMax < w.BackoffInitial {
		key := "backoff_max"
		if !t.has(key) {
			key = "backoff_initial"
		}
		t.errorf(key, "backoff_max (%v) must be at least backoff_initial (%v)", w.BackoffMax, w.BackoffInitial)
	}
	w.CircuitMaxRestarts = t.integer("circuit_max_restarts", DefaultCircuitMaxRestarts, 0)
	w.CircuitWindow = t.duration("circuit_window", DefaultCircuitWindow)
	if w.CircuitMaxRestarts > 0 && w.CircuitWindow == 0 {
		t.errorf("circuit_window", "must be greater than 0 while circuit_max_restarts is set (set circuit_max_restarts = 0 to turn the breaker off)")
	}
	w.CircuitCooldown = t.duration("circuit_cooldown", DefaultCircuitCooldown)

	w.Stdout = d.logPath(t, "stdout", filepath.Join(stateDir, "logs", name+".out"), dir)
	w.Stderr = d.logPath(t, "stderr", filepath.Join(stateDir, "logs", name+".err"), dir)
	size := t.size("log_max_size", DefaultLogMaxSize)
	if size > math.MaxInt64 {
		t.errorf("log_max_size", "is too large")
		size = DefaultLogMaxSize
	}
	w.LogMaxSize = int64(size)
	w.LogBackups = t.integer("log_backups", DefaultLogBackups, 0)
	w.AllowSharedOutputDir = t.boolean("allow_shared_output_dir", false)

	if h := t.sub("health"); h != nil {
		w.Health = d.health(h)
	}
	if l := t.sub("limits"); l != nil {
		w.Limits = d.limits(l)
	}
	t.finish()
	return w
}

func (d *decoder) logPath(t *table, key, def, dir string) string {
	p := t.str(key, def)
	if !t.has(key) {
		return def
	}
	if p == "" {
		t.errorf(key, "must not be empty (leave it out for the default %q)", def)
		return def
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
		v := e.str(k, "")
		if k == "" || strings.ContainsAny(k, "=\x00") {
			e.errorf(k, "invalid environment variable name %q", k)
			continue
		}
		out[k] = v
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
