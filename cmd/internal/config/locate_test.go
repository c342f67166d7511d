package config

import (
	"os"
	"path/filepath"
	"testing"
)

// Locate must agree with a full Parse on every shape of [daemon] table.
func TestLocateAgreesWithParse(t *testing.T) {
	dir := t.TempDir()
	cases := []string{
		"[daemon]\nstate_dir = \"s\"\n[worker.a]\ncommand = [\"x\"]\n",
		"[worker.a]\ncommand = [\"x\"]\n[daemon]\nsocket = \"/tmp/x.sock\"\nstate_dir = \"s\"\n",
		"[worker.a]\ncommand = [\"x\"]\n",
		"[daemon] # comment\nstate_dir = \"s\" # why\n",
		"daemon.state_dir = \"dotted\"\n",
		"daemon = { state_dir = \"inline\" }\n",
		"[daemon]\nstate_dir = '''\nmulti\n[line]'''\n",
		"[daemon]\nstate_dir = \"/abs/state\"\n[daemon.extra]\nx = 1\n",
		"[ daemon ]\nstate_dir = \"/spaced\"\n",
		"[\"daemon\"]\nsocket = \"/tmp/quoted.sock\"\n",
		"[worker.a]\ncommand = [\"sh\", \"-c\", '''\n[daemon]\nsocket = \"/evil\"\n''']\n",
	}
	for i, c := range cases {
		path := filepath.Join(dir, "tend.toml")
		if err := os.WriteFile(path, []byte(c), 0o600); err != nil {
			t.Fatal(err)
		}
		got, gerr := Locate(path)
		cfg, perr := Parse(path, []byte(c))
		if perr != nil {
			if gerr == nil && got.Socket == "" {
				t.Errorf("case %d: Parse fails (%v) but Locate answered nothing", i, perr)
			}
			continue
		}
		if gerr != nil || got.StateDir != cfg.Daemon.StateDir || got.Socket != cfg.Daemon.Socket {
			t.Errorf("case %d: Locate %+v %v, Parse %q %q", i, got, gerr, cfg.Daemon.StateDir, cfg.Daemon.Socket)
		}
	}
}
