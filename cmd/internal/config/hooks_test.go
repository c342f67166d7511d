package config

import (
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestHooksAndReloadSignal(t *testing.T) {
	c := mustParse(t, lines(`[worker.a]`, `command = ["/bin/a"]`,
		`reload_signal = "SIGHUP"`,
		`pre_start = ["/bin/migrate", "--up"]`,
		`post_start = ["/bin/register"]`,
		`stop_command = ["/bin/a", "quit"]`,
		`post_stop = ["/bin/deregister"]`,
		`hook_timeout = "5s"`,
		`[worker.b]`, `command = ["/bin/b"]`, `reload_signal = 10`))
	a := c.Workers["a"]
	want := Hooks{PreStart: []string{"/bin/migrate", "--up"}, PostStart: []string{"/bin/register"},
		StopCommand: []string{"/bin/a", "quit"}, PostStop: []string{"/bin/deregister"}}
	if !reflect.DeepEqual(a.Hooks, want) || a.HookTimeout != 5*time.Second || a.ReloadSignal != syscall.SIGHUP {
		t.Errorf("a: %+v %v %v", a.Hooks, a.HookTimeout, a.ReloadSignal)
	}
	if k := a.Hooks.ByKind(); len(k) != 4 || k["stop_command"][1] != "quit" {
		t.Errorf("by kind: %v", k)
	}
	if b := c.Workers["b"]; b.ReloadSignal != syscall.SIGUSR1 || b.Hooks.any() || b.HookTimeout != DefaultHookTimeout {
		t.Errorf("b: %+v", b)
	}
	for in, want := range map[string]syscall.Signal{`"usr2"`: syscall.SIGUSR2, `"RTMIN+1"`: 35, `"WINCH"`: syscall.SIGWINCH, `1`: 1} {
		c := mustParse(t, lines(`[worker.a]`, `command = ["/bin/a"]`, `reload_signal = `+in))
		if got := c.Workers["a"].ReloadSignal; got != want {
			t.Errorf("reload_signal = %s: %v, want %v", in, got, want)
		}
	}
}

// A file without hooks hashes as it did before hooks existed: an upgrade
// must not restart every worker. Nothing of them is written for it.
func TestHooklessWorkerHashUnchanged(t *testing.T) {
	w := mustParse(t, lines(`[worker.a]`, `command = ["/bin/a"]`)).Workers["a"]
	if n := len(hashHooks(nil, w)); n != 0 {
		t.Errorf("a worker without hooks writes %d bytes of them into its hash", n)
	}
	w.Hooks.PostStop = []string{}
	if n := len(hashHooks(nil, w)); n == 0 {
		t.Error("an empty hook list is not told from none")
	}
}

func TestHookErrorsNameTheKeyNotTheValue(t *testing.T) {
	cases := map[string]string{
		`reload_signal = "hunter2"`:                   `tend.toml:3: worker.a.reload_signal: invalid signal`,
		`reload_signal = "KILL"`:                      `tend.toml:3: worker.a.reload_signal: KILL and STOP cannot be caught`,
		`reload_signal = "SIGSTOP"`:                   `tend.toml:3: worker.a.reload_signal: KILL and STOP cannot be caught`,
		`reload_signal = 0`:                           `tend.toml:3: worker.a.reload_signal: invalid signal`,
		`reload_signal = true`:                        `tend.toml:3: worker.a.reload_signal: expected a signal name`,
		`pre_start = []`:                              `tend.toml:3: worker.a.pre_start: must not be empty`,
		`post_stop = ["", "hunter2"]`:                 `tend.toml:3: worker.a.post_stop: the program (first element) must not be empty`,
		`stop_command = "hunter2"`:                    `tend.toml:3: worker.a.stop_command: expected an array of strings`,
		`post_start = [1]`:                            `tend.toml:3: worker.a.post_start: element 0: expected a string`,
		`hook_timeout = "5s"`:                         `tend.toml:3: worker.a.hook_timeout: bounds the worker's hooks, and it has none`,
		"pre_start = [\"/x\"]\nhook_timeout = \"2d\"": `tend.toml:4: worker.a.hook_timeout: must be between`,
		"pre_start = [\"/x\"]\nhook_timeout = \"0s\"": `tend.toml:4: worker.a.hook_timeout: must be between`,
		`pre_stop = ["/x"]`:                           `tend.toml:3: worker.a.pre_stop: unknown key`,
	}
	for line, want := range cases {
		_, err := parseString(t, lines(`[worker.a]`, `command = ["/bin/a"]`, line))
		msgs := configErrors(t, err)
		if len(msgs) != 1 || !strings.HasPrefix(msgs[0], want) {
			t.Errorf("%s:\n got  %q\n want %s…", line, msgs, want)
		}
		if strings.Contains(strings.Join(msgs, "\n"), "hunter2") {
			t.Errorf("%s: the error repeats the value: %q", line, msgs)
		}
	}
}
