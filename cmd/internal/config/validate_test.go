package config

import (
	"os/user"
	"path/filepath"
	"reflect"
	"testing"
)

func TestValidateUsersAndGroups(t *testing.T) {
	if _, err := user.Lookup("nobody"); err != nil {
		t.Skip("no user nobody on this host")
	}
	if _, err := user.LookupGroup("nogroup"); err != nil {
		t.Skip("no group nogroup on this host")
	}
	dir := t.TempDir()
	good := writeFile(t, filepath.Join(dir, "good.toml"), lines(
		`[daemon]`, `socket_group = "nogroup"`,
		`[worker.a]`, `command = ["/bin/a"]`, `user = "nobody"`, `group = "nogroup"`,
		`[worker.b]`, `command = ["/bin/b"]`, `user = "0"`, `group = "0"`,
	))
	if _, err := Load(good); err != nil {
		t.Fatalf("Load: %v", err)
	}

	bad := writeFile(t, filepath.Join(dir, "bad.toml"), lines(
		`[daemon]`,                            // 1
		`socket_group = "tend-no-such-group"`, // 2
		`[worker.a]`,                          // 3
		`command = ["/bin/a"]`,                // 4
		`group = "tend-no-such-group"`,        // 5
		`user = "tend-no-such-user"`,          // 6
		`[worker.b]`,                          // 7
		`command = ["/bin/b"]`,                // 8
		`user = "4000000000"`,                 // 9
	))
	c, err := Parse(bad, mustRead(t, bad))
	if err != nil {
		t.Fatalf("Parse must not look users up: %v", err)
	}
	if c.Workers["a"].User != "tend-no-such-user" {
		t.Fatalf("user = %q", c.Workers["a"].User)
	}
	_, err = Load(bad)
	got := configErrors(t, err)
	want := []string{
		bad + `:2: daemon.socket_group: no such group on this host`,
		bad + `:5: worker.a.group: worker "a": no such group on this host`,
		bad + `:6: worker.a.user: worker "a": no such user on this host`,
		bad + `:9: worker.b.user: worker "b": no such user on this host`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
}

// A limit on open files above the kernel's fs.nr_open would fail every
// spawn with EPERM: Validate says so at the key's line.
func TestValidateNofileAgainstNrOpen(t *testing.T) {
	dir := t.TempDir()
	old := nrOpenPath
	nrOpenPath = writeFile(t, filepath.Join(dir, "nr_open"), "1048576\n")
	defer func() { nrOpenPath = old }()
	path := writeFile(t, filepath.Join(dir, "tend.toml"), lines(
		`[worker.a]`, `command = ["/bin/a"]`, `[worker.a.rlimits]`, `nofile = "1024:1048576"`,
		`[worker.b]`, `command = ["/bin/b"]`, `[worker.b.rlimits]`, `nofile = "1024:1048577"`,
	))
	got := configErrors(t, func() error { _, err := Load(path); return err }())
	want := []string{path + `:8: worker.b.rlimits.nofile: worker "b": 1048577 open files is above this host's maximum, fs.nr_open = 1048576`}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
}
