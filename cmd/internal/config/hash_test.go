package config

import (
	"reflect"
	"strings"
	"testing"

	"github.com/tendhq/tend/fsm/policy"
	"github.com/tendhq/tend/supervisor/core"
	"github.com/tendhq/tend/supervisor/envfile"
	"github.com/tendhq/tend/supervisor/health"
	"github.com/tendhq/tend/supervisor/limits"
)

func hashTestWorker() *Worker {
	return &Worker{
		Name: "web", Line: 3, Command: []string{"/bin/web", "-x"}, Dir: "/srv", Env: map[string]string{"A": "1"},
		User: "u", Group: "g", Autostart: true,
		Policy: policy.Spec{Restart: policy.Always, BackoffInitial: 3, BackoffMax: 4, BreakerWindow: 5, BreakerCooldown: 6,
			BreakerMax: 7},
		StartTimeout: 1, StopTimeout: 2,
		StopSignal: 15, Stdout: "/o", Stderr: "/e", LogMaxSize: 8, LogBackups: 9,
		Health: &health.Spec{Type: health.TypeExec, Command: []string{"/bin/check"}, Address: "a:1", URL: "http://x/",
			Interval: 10, Timeout: 11, Grace: 12, Failures: 13},
		Limits: &limits.Spec{Memory: 14, CPU: 15.5, Sustained: 16, MemoryPolicy: limits.PolicyLog, CPUPolicy: limits.PolicyKill,
			MemoryMax: 23, MemoryHigh: 24, CPUMax: 25.5, PidsMax: 26},
		OnLeaderExit: core.Leave,
		ClearEnv:     true, NoNewPrivileges: true, Umask: 0o27,
		Rlimits:      []Rlimit{{Name: "nofile", Resource: 7, Soft: 17, Hard: 18}},
		Oneshot:      true,
		Ready:        core.Readiness{Kind: core.ReadyFD, FD: 3, Timeout: 19, Watchdog: 20},
		DependsOn:    []core.Dep{{Name: "db", Cond: core.Ready, OnRestart: core.DepStop}},
		Schedule:     &Schedule{Cron: "* * * * *", Every: 21, Location: "UTC", Overlap: "forbid", CatchUp: "skip"},
		ReloadSignal: 1,
		Hooks: Hooks{PreStart: []string{"/bin/pre"}, PostStart: []string{"/bin/post"}, StopCommand: []string{"/bin/stop"},
			PostStop: []string{"/bin/poststop"}},
		HookTimeout: 22,
		EnvFiles:    []envfile.File{{Path: "/etc/app/env", Optional: true}},
		EnvFileSums: []string{"sum"},
		InstanceOf:  "webs", Instance: 2,
	}
}

// derived are unexported fields computed from the exported ones beside
// them, which the hash covers.
var derived = map[string]bool{"Schedule.next": true}

// fieldPaths lists every leaf setting of t, following structs, pointers to
// structs and the elements of slices of structs (-1 in a path: element 0),
// as field-index paths: the specs of other packages (policy.Spec,
// health.Spec, limits.Spec) are walked like Worker's own fields.
func fieldPaths(t reflect.Type, prefix []int, names string, out map[string][]int) {
	for i := range t.NumField() {
		f := t.Field(i)
		p := append(prefix[:len(prefix):len(prefix)], i)
		if !f.IsExported() {
			if !derived[names+f.Name] {
				out[names+f.Name] = nil // reported by the test: it cannot be set
			}
			continue
		}
		if f.Type.Kind() == reflect.Struct {
			fieldPaths(f.Type, p, names+f.Name+".", out)
			continue
		}
		if f.Type.Kind() == reflect.Pointer && f.Type.Elem().Kind() == reflect.Struct {
			fieldPaths(f.Type.Elem(), p, names+f.Name+".", out)
			continue
		}
		if f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct {
			out[names+f.Name] = p // the list itself: one more element
			fieldPaths(f.Type.Elem(), append(p, -1), names+f.Name+"[0].", out)
			continue
		}
		out[names+f.Name] = p
	}
}

// TestWorkerHashCoversEveryField changes each setting of a worker in turn,
// down into Policy, Health and Limits, and expects the hash to change: a field the
// hasher forgot would let a reload keep a worker running on stale settings.
// Line and Hash describe the text and the result, so they must not count.
func TestWorkerHashCoversEveryField(t *testing.T) {
	want := workerHash(hashTestWorker())
	if again := workerHash(hashTestWorker()); again != want {
		t.Fatalf("hash of equal workers differs: %s vs %s", want, again)
	}
	var h workerHasher
	h.sum(&Worker{Name: "other", Env: map[string]string{"X": strings.Repeat("y", 1000)}})
	if reused := h.sum(hashTestWorker()); reused != want {
		t.Fatalf("a reused hasher gives %s, a fresh one %s", reused, want)
	}

	paths := map[string][]int{}
	fieldPaths(reflect.TypeOf(Worker{}), nil, "", paths)
	if len(paths) < 30 {
		t.Fatalf("found only %d fields", len(paths))
	}
	for name, path := range paths {
		if path == nil {
			t.Errorf("%s is unexported: the hasher cannot be tested on it", name)
			continue
		}
		w := hashTestWorker()
		f := reflect.ValueOf(w).Elem()
		for _, i := range path {
			if f.Kind() == reflect.Pointer {
				f = f.Elem()
			}
			if i < 0 {
				f = f.Index(0)
				continue
			}
			f = f.Field(i)
		}
		changeValue(t, name, f)
		got := workerHash(w)
		switch name {
		case "Line", "Hash":
			if got != want {
				t.Errorf("%s changed the hash; it must not", name)
			}
		default:
			if got == want {
				t.Errorf("%s is not part of the worker hash", name)
			}
		}
	}

	// nil and empty are told apart where the settings tell them apart.
	a, b := hashTestWorker(), hashTestWorker()
	a.Health, b.Health = nil, &health.Spec{}
	if workerHash(a) == workerHash(b) {
		t.Error("no health check hashes like an empty one")
	}
	a, b = hashTestWorker(), hashTestWorker()
	a.Limits, b.Limits = nil, &limits.Spec{}
	if workerHash(a) == workerHash(b) {
		t.Error("no limits hash like empty limits")
	}
	a, b = hashTestWorker(), hashTestWorker()
	a.Command, b.Command = []string{"ab", "c"}, []string{"a", "bc"}
	if workerHash(a) == workerHash(b) {
		t.Error("list elements run together")
	}
	a, b = hashTestWorker(), hashTestWorker()
	a.Env, b.Env = map[string]string{"AB": "C"}, map[string]string{"A": "BC"}
	if workerHash(a) == workerHash(b) {
		t.Error("env names and values run together")
	}
}

// changeValue sets f to a value different from the one it has.
func changeValue(t *testing.T, name string, f reflect.Value) {
	t.Helper()
	switch f.Kind() {
	case reflect.String:
		f.SetString(f.String() + "~")
	case reflect.Bool:
		f.SetBool(!f.Bool())
	case reflect.Int, reflect.Int64:
		f.SetInt(f.Int() + 1)
	case reflect.Uint64:
		f.SetUint(f.Uint() + 1)
	case reflect.Float64:
		f.SetFloat(f.Float() + 1)
	case reflect.Slice:
		if f.Type().Elem().Kind() == reflect.String {
			f.Set(reflect.Append(f, reflect.ValueOf("more")))
		} else {
			f.Set(reflect.Append(f, reflect.Zero(f.Type().Elem())))
		}
	case reflect.Map:
		m := reflect.MakeMap(f.Type())
		for _, k := range f.MapKeys() {
			m.SetMapIndex(k, f.MapIndex(k))
		}
		m.SetMapIndex(reflect.ValueOf("B"), reflect.ValueOf("2"))
		f.Set(m)
	default:
		t.Fatalf("%s: kind %s is not handled here; teach this test and the hasher", name, f.Kind())
	}
}

// TestReloadOfSameFileChangesNothing parses one file twice, as a reload of
// an untouched file does, and expects no worker to count as changed.
func TestReloadOfSameFileChangesNothing(t *testing.T) {
	data := mustRead(t, "testdata/full.toml")
	a, err := Parse("testdata/full.toml", data)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Parse("testdata/full.toml", data)
	if err != nil {
		t.Fatal(err)
	}
	added, removed, changed := Diff(a, b)
	if added != nil || removed != nil || changed != nil {
		t.Errorf("Diff of the same file = %v %v %v", added, removed, changed)
	}
	big := benchConfig(200)
	c, _ := Parse("tend.toml", big)
	d, _ := Parse("tend.toml", big)
	if _, _, changed := Diff(c, d); changed != nil {
		t.Errorf("changed = %v", changed)
	}
}

// A worker that does not use the settings added since (on_leader_exit,
// memory_max, memory_high, cpu_max, pids_max) keeps the hash the version
// before them gave it: an upgrade must not record every worker as changed
// and restart it at the next reload. The value was computed by that
// version.
func TestHashBeforeOwnershipSettingsHolds(t *testing.T) {
	src := "[worker.web]\ncommand = [\"/bin/web\"]\nstop_timeout = \"3s\"\n[worker.web.limits]\nmemory = \"1GiB\"\nmemory_policy = \"restart\"\n"
	c, err := Parse("/etc/tend/tend.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Workers["web"].Hash, "72fbda79ffd52cdbf08b565401e1f1180927eaf4828af37fb367ad5b7e9b610e"; got != want {
		t.Fatalf("hash %s, the version before gave %s", got, want)
	}
	c, err = Parse("/etc/tend/tend.toml", []byte(src+"pids_max = 10\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Workers["web"].Hash == "72fbda79ffd52cdbf08b565401e1f1180927eaf4828af37fb367ad5b7e9b610e" {
		t.Fatal("pids_max did not change the hash")
	}
}
