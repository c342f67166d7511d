package config

import (
	"reflect"
	"strings"
	"testing"
)

// TestChangedKeysCoverEveryField changes each setting of a worker in turn,
// as TestWorkerHashCoversEveryField does, and expects ChangedKeys to name
// a key for it: a field it forgot would make a reload's cause, and `tend
// check --diff`, say nothing of what changed.
func TestChangedKeysCoverEveryField(t *testing.T) {
	paths := map[string][]int{}
	fieldPaths(reflect.TypeOf(Worker{}), nil, "", paths)
	for name, path := range paths {
		if path == nil {
			continue // reported by the hash test
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
		keys := ChangedKeys(hashTestWorker(), w)
		switch name {
		case "Name", "Line", "Hash", "Policy.StableAfter", "InstanceOf", "Instance":
			// Not settings of the file: the same name is compared (and
			// so the same instance), and StableAfter has no key.
		default:
			if len(keys) == 0 {
				t.Errorf("a change of %s names no key", name)
			}
		}
	}
}

func TestChangedKeysNamesNotValues(t *testing.T) {
	old := mustParse(t, lines(
		`[worker.web]`, `command = ["/bin/web"]`, `env = { MODE = "dev", PASSWORD = "old-secret", GONE = "x" }`,
		`health = { type = "tcp", address = ":80" }`, `stop_timeout = "5s"`,
	)).Workers["web"]
	new := mustParse(t, lines(
		`[worker.web]`, `command = ["/bin/web"]`, `env = { MODE = "dev", PASSWORD = "new-secret", NEW = "y" }`,
		`health = { type = "tcp", address = ":80", interval = "3s" }`, `stop_timeout = "6s"`, `restart = "always"`,
	)).Workers["web"]
	keys := ChangedKeys(old, new)
	want := []string{"env.GONE", "env.NEW", "env.PASSWORD", "health.interval", "restart", "stop_timeout"}
	if !reflect.DeepEqual(keys, want) {
		t.Errorf("keys = %v, want %v", keys, want)
	}
	if s := strings.Join(keys, " "); strings.Contains(s, "secret") {
		t.Errorf("keys show a value: %s", s)
	}
	if keys := ChangedKeys(old, old); keys != nil {
		t.Errorf("unchanged: %v", keys)
	}
}
