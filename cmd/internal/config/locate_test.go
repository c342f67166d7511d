package config

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/tendhq/tend/cmd/internal/config/locate"
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

// The configs the repository ships (the bundled example, the container
// example, the full reference) are read by locate.Fast itself, not handed
// to a full parse, and it agrees with the full parse on each.
func TestShippedConfigsLocateFast(t *testing.T) {
	for _, p := range []string{"../../../examples/tend.toml", "../../../examples/container/tend.toml", "testdata/full.toml"} {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		fast, ok := locate.Fast(p, bytes.NewReader(data))
		if !ok {
			t.Errorf("%s: Fast hands it to a full parse", p)
			continue
		}
		cfg, err := Parse(p, data)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if fast.StateDir != cfg.Daemon.StateDir || fast.Socket != cfg.Daemon.Socket {
			t.Errorf("%s: Fast %+v, Parse %q %q", p, fast, cfg.Daemon.StateDir, cfg.Daemon.Socket)
		}
	}
}
