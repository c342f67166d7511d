package config

import (
	"maps"
	"reflect"
	"slices"
	"sort"
)

// ChangedKeys names the settings in which two versions of a worker differ,
// as the file spells their keys ("command", "env_file", "env.MODE",
// "health.interval"), sorted. It never says what a value was or is: the
// names go into the log (the cause of worker_changed) and into `tend check
// --diff`, where a value could be a secret. Names of env variables are not
// secret (spawned events record them).
//
// Every field of Worker but Name, Line and Hash belongs to a key here;
// TestChangedKeysCoverEveryField fails when one is added and not.
func ChangedKeys(a, b *Worker) []string {
	if a == nil || b == nil {
		return nil
	}
	var out []string
	for _, k := range workerKeys {
		if !reflect.DeepEqual(k.get(a), k.get(b)) {
			out = append(out, k.key)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(unionKeys(a.Env, b.Env))) {
		va, oka := a.Env[name]
		vb, okb := b.Env[name]
		if oka != okb || va != vb {
			out = append(out, "env."+name)
		}
	}
	out = append(out, specKeys("", &a.Policy, &b.Policy)...)
	out = append(out, subKeys("health", a.Health, b.Health)...)
	out = append(out, subKeys("limits", a.Limits, b.Limits)...)
	sort.Strings(out)
	return slices.Compact(out)
}

func unionKeys(a, b map[string]string) map[string]bool {
	out := make(map[string]bool, len(a)+len(b))
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}

// workerKeys are the keys of Worker's own fields; Env, Policy, Health and
// Limits are compared key by key above.
var workerKeys = []struct {
	key string
	get func(*Worker) any
}{
	{"command", func(w *Worker) any { return w.Command }},
	{"dir", func(w *Worker) any { return w.Dir }},
	{"env_file", func(w *Worker) any { return [2]any{w.EnvFiles, w.EnvFileSums} }},
	{"user", func(w *Worker) any { return w.User }},
	{"group", func(w *Worker) any { return w.Group }},
	{"autostart", func(w *Worker) any { return w.Autostart }},
	{"clear_env", func(w *Worker) any { return w.ClearEnv }},
	{"no_new_privileges", func(w *Worker) any { return w.NoNewPrivileges }},
	{"umask", func(w *Worker) any { return w.Umask }},
	{"rlimits", func(w *Worker) any { return w.Rlimits }},
	{"start_timeout", func(w *Worker) any { return w.StartTimeout }},
	{"stop_timeout", func(w *Worker) any { return w.StopTimeout }},
	{"stop_signal", func(w *Worker) any { return w.StopSignal }},
	{"stdout", func(w *Worker) any { return w.Stdout }},
	{"stderr", func(w *Worker) any { return w.Stderr }},
	{"log_max_size", func(w *Worker) any { return w.LogMaxSize }},
	{"log_backups", func(w *Worker) any { return w.LogBackups }},
	{"output", func(w *Worker) any { return w.Output }},
	{"on_leader_exit", func(w *Worker) any { return w.OnLeaderExit }},
	{"log_max_age", func(w *Worker) any { return w.LogMaxAge }},
	{"log_compress", func(w *Worker) any { return w.LogCompress }},
	{"allow_shared_output_dir", func(w *Worker) any { return w.AllowSharedOutputDir }},
	{"type", func(w *Worker) any { return w.Oneshot }},
	{"reload_signal", func(w *Worker) any { return w.ReloadSignal }},
	{"pre_start", func(w *Worker) any { return w.Hooks.PreStart }},
	{"post_start", func(w *Worker) any { return w.Hooks.PostStart }},
	{"stop_command", func(w *Worker) any { return w.Hooks.StopCommand }},
	{"post_stop", func(w *Worker) any { return w.Hooks.PostStop }},
	{"hook_timeout", func(w *Worker) any { return w.HookTimeout }},
	{"ready", func(w *Worker) any { return [2]any{w.Ready.Kind, w.Ready.FD} }},
	{"ready_timeout", func(w *Worker) any { return w.Ready.Timeout }},
	{"watchdog", func(w *Worker) any { return w.Ready.Watchdog }},
	{"depends_on", func(w *Worker) any { return w.DependsOn }},
	{"schedule", func(w *Worker) any { return schedulePart(w, func(s *Schedule) any { return [2]any{s.Cron, s.Every} }) }},
	{"schedule_tz", func(w *Worker) any { return schedulePart(w, func(s *Schedule) any { return s.Location }) }},
	{"overlap", func(w *Worker) any { return schedulePart(w, func(s *Schedule) any { return s.Overlap }) }},
	{"catch_up", func(w *Worker) any { return schedulePart(w, func(s *Schedule) any { return s.CatchUp }) }},
}

// schedulePart compares a schedule by its settings, not by its derived
// function (which never compares equal).
func schedulePart(w *Worker, f func(*Schedule) any) any {
	if w.Schedule == nil {
		return nil
	}
	return f(w.Schedule)
}

// subKeys compares a table that may be absent ([worker.NAME.health]):
// "health" when one side has none, else "health.KEY" for each differing
// key.
func subKeys[T any](prefix string, a, b *T) []string {
	switch {
	case a == nil && b == nil:
		return nil
	case a == nil || b == nil:
		return []string{prefix}
	}
	return specKeys(prefix+".", a, b)
}

// specKeys compares an owning package's spec field by field and names each
// differing field by its toml tag (a field without one: StableAfter, which
// no file sets, is left out).
func specKeys(prefix string, a, b any) []string {
	va, vb := reflect.ValueOf(a).Elem(), reflect.ValueOf(b).Elem()
	var out []string
	for i := range va.NumField() {
		tag := va.Type().Field(i).Tag.Get("toml")
		if tag == "" || tag == "-" {
			continue
		}
		if !reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			out = append(out, prefix+tag)
		}
	}
	return out
}
