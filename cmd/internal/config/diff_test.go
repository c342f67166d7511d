package config

import (
	"reflect"
	"testing"
)

func TestDiff(t *testing.T) {
	old := mustParse(t, lines(
		`[worker.same]`, `command = ["/bin/same"]`,
		`[worker.gone]`, `command = ["/bin/gone"]`,
		`[worker.edit]`, `command = ["/bin/edit"]`,
		`[worker.deep]`, `command = ["/bin/deep"]`, `limits.memory = "1GiB"`,
	))
	new := mustParse(t, lines(
		`# moved around and commented; "same" must not count as changed`,
		`[worker.new]`, `command = ["/bin/new"]`,
		`[worker.deep]`, `command = ["/bin/deep"]`, `limits.memory = "2GiB"`,
		`[worker.edit]`, `command = ["/bin/edit", "--flag"]`,
		``,
		`[worker.same]`, `command = ["/bin/same"]  # unchanged`,
	))
	added, removed, changed := Diff(old, new)
	if !reflect.DeepEqual(added, []string{"new"}) {
		t.Errorf("added = %v", added)
	}
	if !reflect.DeepEqual(removed, []string{"gone"}) {
		t.Errorf("removed = %v", removed)
	}
	if !reflect.DeepEqual(changed, []string{"deep", "edit"}) {
		t.Errorf("changed = %v", changed)
	}

	a, r, c := Diff(nil, old)
	if !reflect.DeepEqual(a, []string{"deep", "edit", "gone", "same"}) || r != nil || c != nil {
		t.Errorf("Diff(nil, old) = %v %v %v", a, r, c)
	}
	a, r, c = Diff(old, nil)
	if a != nil || !reflect.DeepEqual(r, []string{"deep", "edit", "gone", "same"}) || c != nil {
		t.Errorf("Diff(old, nil) = %v %v %v", a, r, c)
	}
	a, r, c = Diff(old, old)
	if a != nil || r != nil || c != nil {
		t.Errorf("Diff(old, old) = %v %v %v", a, r, c)
	}
}

func TestWorkerHashIgnoresLayout(t *testing.T) {
	a := mustParse(t, lines(
		`[worker.web]`,
		`command = ["/bin/web"]`,
		`stop_timeout = "10s"`,
		`env = { A = "1", B = "2" }`,
		`[worker.web.health]`,
		`type = "tcp"`,
		`address = "127.0.0.1:80"`,
	))
	b := mustParse(t, lines(
		`# the same worker, written differently`,
		``,
		`[worker.web.health]`,
		`address = "127.0.0.1:80"  # same check`,
		`type = "tcp"`,
		`interval = "10s"         # the default, spelled out`,
		`[worker.web]`,
		`[worker.web.env]`,
		`B = "2"`,
		`A = "1"`,
		`[worker]`,
		`web.command = ['/bin/web']`,
		`web.stop_timeout = "0.1m4s"`,
	))
	if a.Hash == b.Hash {
		t.Error("file hashes of different text must differ")
	}
	if ha, hb := a.Workers["web"].Hash, b.Workers["web"].Hash; ha != hb {
		t.Errorf("worker hash differs for the same effective config:\n%+v\n%+v", a.Workers["web"], b.Workers["web"])
	}
	again := mustParse(t, lines(
		`[worker.web]`,
		`command = ["/bin/web"]`,
		`stop_timeout = "10s"`,
		`env = { A = "1", B = "3" }`,
		`[worker.web.health]`,
		`type = "tcp"`,
		`address = "127.0.0.1:80"`,
	))
	if a.Workers["web"].Hash == again.Workers["web"].Hash {
		t.Error("changing an env value must change the worker hash")
	}
	// The effective log paths depend on state_dir, so moving it changes workers.
	moved := mustParse(t, lines(`[daemon]`, `state_dir = "/srv/tend"`,
		`[worker.web]`, `command = ["/bin/web"]`, `env = { A = "1", B = "2" }`,
		`[worker.web.health]`, `type = "tcp"`, `address = "127.0.0.1:80"`))
	if a.Workers["web"].Hash == moved.Workers["web"].Hash {
		t.Error("moving state_dir moves the default log files and must change the hash")
	}
}

func TestWorkerHashEmptyEnvIsNoEnv(t *testing.T) {
	a := mustParse(t, lines(`[worker.a]`, `command = ["/bin/a"]`))
	b := mustParse(t, lines(`[worker.a]`, `command = ["/bin/a"]`, `env = {}`))
	if a.Workers["a"].Hash != b.Workers["a"].Hash {
		t.Error("an empty env table must hash like no env table")
	}
}
