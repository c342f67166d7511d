package config

import (
	"errors"
	"os"
	"os/user"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/tendhq/tend/cmd/internal/peer"
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

// An output directory someone other than root and the worker can write is
// refused at the key's line, once per directory, unless the worker allows
// it; the directory a path goes through a link the daemon would not follow
// is refused either way.
func TestValidateOutputDirs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("judges directories as the daemon (root) would")
	}
	if _, err := user.Lookup("nobody"); err != nil {
		t.Skip("no user nobody on this host")
	}
	dir := t.TempDir()
	shared := filepath.Join(dir, "shared")
	if err := os.Mkdir(shared, 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(shared, 0o777)
	home := filepath.Join(dir, "home")
	if err := os.Mkdir(home, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chown(home, 65534, 65534)
	if err := os.Symlink(shared, filepath.Join(home, "link")); err != nil {
		t.Fatal(err)
	}
	conf := writeFile(t, filepath.Join(dir, "tend.toml"), lines(
		`[worker.a]`, // 1
		`command = ["/bin/a"]`,
		`user = "nobody"`,
		`stdout = "shared/a.out"`, // 4
		`stderr = "shared/a.err"`,
		`[worker.b]`, // 6
		`command = ["/bin/b"]`,
		`user = "nobody"`,
		`stdout = "shared/b.out"`,
		`allow_shared_output_dir = true`,
		`[worker.c]`, // 11
		`command = ["/bin/c"]`,
		`user = "nobody"`,
		`stdout = "home/logs/c.out"`,
		`stderr = "home/link/c.err"`, // 15
		`allow_shared_output_dir = true`,
	))
	_, err := Load(conf)
	got := configErrors(t, err)
	if len(got) != 2 {
		t.Fatalf("got %d errors, want 2:\n%s", len(got), strings.Join(got, "\n"))
	}
	for _, want := range []string{conf + `:4: worker.a.stdout: worker "a": stdout is in ` + shared + ` (or below it), which is writable by every user (mode 0777)`, "allow_shared_output_dir = true"} {
		if !strings.Contains(got[0], want) {
			t.Errorf("error %q lacks %q", got[0], want)
		}
	}
	if want := conf + `:15: worker.c.stderr: worker "c": stderr: ` + filepath.Join(home, "link") + " is a symbolic link"; !strings.HasPrefix(got[1], want) {
		t.Errorf("error %q, want it to begin %q", got[1], want)
	}
}

// A socket path must be its own: not the other socket's, the event log's
// or a worker's output file (Parse), and on the host free or a socket
// already (Validate), since tend replaces nothing else.
func TestSocketPaths(t *testing.T) {
	_, err := parseString(t, lines(
		`[daemon]`,                                 // 1
		`state_dir = "/var/lib/t"`,                 // 2
		`socket = "/var/lib/t/tend.db"`,            // 3
		`supervisor_rpc = "unix:///var/lib/t/out"`, // 4
		`[worker.a]`,                               // 5
		`command = ["/bin/a"]`,                     // 6
		`stdout = "/var/lib/t/out"`,                // 7
	))
	want := []string{
		`tend.toml:3: daemon.socket: /var/lib/t/tend.db is the event log's path; the socket needs a path of its own`,
		`tend.toml:4: daemon.supervisor_rpc: /var/lib/t/out is also worker "a"'s stdout file; the socket needs a path of its own`,
	}
	if got := configErrors(t, err); !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
	_, err = parseString(t, lines(`[daemon]`, `state_dir = "/s"`, `supervisor_rpc = "unix:///s/tend.sock"`))
	if got := configErrors(t, err); len(got) != 1 || got[0] != `tend.toml:3: daemon.supervisor_rpc: /s/tend.sock is also the control socket's path; the two sockets need paths of their own` {
		t.Errorf("two sockets on one path: %q", got)
	}

	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "notes"), "keep\n")
	for _, tc := range []struct{ conf, want string }{
		{lines(`[daemon]`, `state_dir = "."`, `socket = "notes"`),
			`:3: daemon.socket: ` + filepath.Join(dir, "notes") + ` is a regular file, not a socket`},
		{lines(`[daemon]`, `state_dir = "."`),
			""},
		{lines(`[daemon]`, `state_dir = "notes"`), // reported when the state directory is made
			""},
		{lines(`[daemon]`, `state_dir = "."`, `supervisor_rpc = "unix://`+dir+`"`),
			`:3: daemon.supervisor_rpc: ` + dir + ` is a directory, not a socket`},
	} {
		path := writeFile(t, filepath.Join(dir, "tend.toml"), tc.conf)
		_, err := Load(path)
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.conf, err)
			}
			continue
		}
		got := configErrors(t, err)
		if len(got) != 1 || !strings.HasPrefix(got[0], path+tc.want) {
			t.Errorf("%s: got %q, want %q", tc.conf, got, path+tc.want)
		}
		var pe *peer.PathError
		if !errors.As(err, &pe) {
			t.Errorf("%T does not unwrap to a *peer.PathError", err)
		}
	}
}

// A kernel-enforced limit whose controller the workers do not get is
// refused at its key and line, saying why.
func TestCheckKernelLimits(t *testing.T) {
	c, err := parseString(t, "[worker.a]\ncommand = [\"/bin/true\"]\n[worker.a.limits]\nmemory = \"1GiB\"\nmemory_max = \"64MiB\"\npids_max = 10\n")
	if err != nil {
		t.Fatal(err)
	}
	err = c.CheckKernelLimits(func(ctrl string) (bool, string) { return ctrl == "pids", "bound to cgroup v1" })
	var es Errors
	if !errors.As(err, &es) || len(es) != 1 || es[0].Key != "worker.a.limits.memory_max" || es[0].Line != 5 ||
		!strings.Contains(es[0].Msg, "memory controller") || !strings.Contains(es[0].Msg, "bound to cgroup v1") {
		t.Fatalf("CheckKernelLimits: %v", err)
	}
	if err := c.CheckKernelLimits(func(string) (bool, string) { return true, "" }); err != nil {
		t.Fatal(err)
	}
}
