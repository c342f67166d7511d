package config

import (
	"errors"
	"path/filepath"
	"reflect"
	"testing"
)

// A settled configuration decodes again into the one it was settled from:
// the same workers with the same settings and hashes, the instances a
// scale made included, with nothing read from disk (the files have changed
// since), and a problem found in it names the file and line of its key.
func TestSettledConfigIsTheConfig(t *testing.T) {
	dir := t.TempDir()
	main := writeFile(t, filepath.Join(dir, "tend.toml"), lines(
		`include = ["conf.d/*.toml"]`,
		`[daemon]`, `state_dir = "state"`,
		`[worker.db]`, `command = ["/bin/db"]`, `env_file = "db.env"`,
		`[worker.web]`, `instances = 2`, `command = ["/bin/web", "--port", "{instance+8000}"]`, `env_file = "web.env"`,
	))
	writeFile(t, filepath.Join(dir, "db.env"), "A=1\n")
	writeFile(t, filepath.Join(dir, "web.env"), "B=1\n")
	writeFile(t, filepath.Join(dir, "conf.d", "app.toml"), lines(
		`# more`, `[worker.app]`, `command = ["/bin/app"]`, `[worker.app.limits]`, `memory_max = "64MiB"`,
	))
	loaded, err := Load(main)
	if err != nil {
		t.Fatal(err)
	}
	c, err := loaded.WithInstances(map[string]int{"web": 3})
	if err != nil {
		t.Fatal(err)
	}
	s := c.Settle()
	writeFile(t, main, "not toml [[[")
	writeFile(t, filepath.Join(dir, "db.env"), "A=2\n")
	writeFile(t, filepath.Join(dir, "web.env"), "B=2\n")
	writeFile(t, filepath.Join(dir, "conf.d", "app.toml"), lines(`[worker.app]`, `command = ["/bin/other"]`))
	writeFile(t, filepath.Join(dir, "conf.d", "new.toml"), lines(`[worker.new]`, `command = ["/bin/new"]`))

	again, err := s.Config()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again.Order, c.Order) || len(c.Order) != 5 {
		t.Fatalf("workers %v, want %v", again.Order, c.Order)
	}
	for _, name := range c.Order {
		if !reflect.DeepEqual(again.Workers[name], c.Workers[name]) {
			t.Errorf("worker %s decoded again:\n%+v\nwant\n%+v", name, again.Workers[name], c.Workers[name])
		}
	}
	if again.Hash != c.Hash || again.Path != c.Path || !reflect.DeepEqual(again.Files, c.Files) || s.Hash != c.Hash {
		t.Errorf("hash %s path %s files %v, want %s %s %v", again.Hash, again.Path, again.Files, c.Hash, c.Path, c.Files)
	}
	if s.LongestStop != DefaultStopTimeout {
		t.Errorf("longest stop %v, want %v", s.LongestStop, DefaultStopTimeout)
	}
	var es Errors
	err = again.CheckKernelLimits(func(string) (bool, string) { return false, "none here" })
	if !errors.As(err, &es) || len(es) != 1 || es[0].File != filepath.Join(dir, "conf.d", "app.toml") || es[0].Line != 5 || es[0].Key != "worker.app.limits.memory_max" {
		t.Errorf("CheckKernelLimits of the settled configuration: %v", err)
	}
	// A scale to fewer instances than the file's is kept too.
	down, err := loaded.WithInstances(map[string]int{"web": 1})
	if err != nil {
		t.Fatal(err)
	}
	if again, err := down.Settle().Config(); err != nil || !reflect.DeepEqual(again.Order, []string{"app", "db", "web@1"}) {
		t.Errorf("scaled down and settled: %v, %v", again.Order, err)
	}
}
