package cli

import (
	"reflect"
	"strings"
	"testing"
)

// The forms people type are read by the lean client itself; anything
// else (help, an unknown flag or command, a value that does not parse,
// "--", a command's flag before its name) is left to tendd. That Parse
// reads what it accepts as cobra does is cli/tree's property test.
func TestParseTakesTheEverydayForms(t *testing.T) {
	for _, tc := range []struct {
		line    string
		globals map[string]string
		cmd     string
		flags   map[string]string
		args    []string
	}{
		{"status", nil, "status", nil, nil},
		{"-c /etc/tend.toml status -o json", map[string]string{"config": "/etc/tend.toml", "output": "json"}, "status", nil, nil},
		{"status web a@1 -ojson", map[string]string{"output": "json"}, "status", nil, []string{"web", "a@1"}},
		{"--config=x.toml --socket /run/t.sock status --daemon", map[string]string{"config": "x.toml", "socket": "/run/t.sock"}, "status", map[string]string{"daemon": "true"}, nil},
		{"stop --all --timeout 90s", nil, "stop", map[string]string{"all": "true", "timeout": "1m30s"}, nil},
		{"restart web --no-deps --no-wait --all=false", nil, "restart", map[string]string{"no-deps": "true", "no-wait": "true", "all": "false"}, []string{"web"}},
		{"signal web HUP -o=json", map[string]string{"output": "json"}, "signal", nil, []string{"web", "HUP"}},
		{"start - web", nil, "start", nil, []string{"-", "web"}},
		{"-o yaml status", map[string]string{"output": "yaml"}, "status", nil, nil}, // the command says what is wrong
	} {
		inv, ok := Parse(strings.Fields(tc.line))
		if !ok {
			t.Errorf("%q: left to tendd", tc.line)
			continue
		}
		want := func(m map[string]string) map[string]string {
			if m == nil {
				return map[string]string{}
			}
			return m
		}
		if inv.Cmd.Name != tc.cmd || !reflect.DeepEqual(inv.Globals, want(tc.globals)) || !reflect.DeepEqual(inv.Flags, want(tc.flags)) || !reflect.DeepEqual(inv.Args, tc.args) {
			t.Errorf("%q: read as %s %v %v %q", tc.line, inv.Cmd.Name, inv.Globals, inv.Flags, inv.Args)
		}
	}
	if inv, ok := Parse([]string{"-c", "x.toml", "--version"}); !ok || !inv.Version {
		t.Errorf("--version: %v %v", inv, ok)
	}
	for _, line := range []string{
		"", "--help", "status --help", "status -h", "help status", "history web", "bogus",
		"status --bogus", "status -x", "--all stop", "stop --timeout", "stop --timeout 5", "stop --all=maybe",
		"status -- web", "--version status", "status --version", "--version web", "start --no-deps web",
		"-o", "status --daemon=yes",
	} {
		if inv, ok := Parse(strings.Fields(line)); ok {
			t.Errorf("%q: read as %s %v %v %q, want it left to tendd", line, inv.Cmd.Name, inv.Globals, inv.Flags, inv.Args)
		}
	}
}
