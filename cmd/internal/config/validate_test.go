package config

import (
	"errors"
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
		bad + `:2: daemon.socket_group: unknown group "tend-no-such-group"`,
		bad + `:5: worker.a.group: worker "a": unknown group "tend-no-such-group"`,
		bad + `:6: worker.a.user: worker "a": unknown user "tend-no-such-user"`,
		bad + `:9: worker.b.user: worker "b": unknown user "4000000000"`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%q\nwant\n%q", got, want)
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
