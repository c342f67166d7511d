package config

import (
	"errors"
	"path/filepath"
	"testing"
)

// A settled configuration keeps no line index, yet a problem found in it
// later still names the file and line of its key: in the main file and in
// one it includes, where the worker is defined.
func TestSettleDropsTheLineIndexAndKeepsLines(t *testing.T) {
	dir := t.TempDir()
	main := writeFile(t, filepath.Join(dir, "tend.toml"), lines(
		`include = ["extra.toml"]`,
		`[daemon]`, `state_dir = "state"`,
		`socket = "tend.sock"`,
		`[worker.db]`, `command = ["/bin/db"]`,
	))
	writeFile(t, filepath.Join(dir, "extra.toml"), lines(
		`# more`, `[worker.app]`, `command = ["/bin/app"]`, `[worker.app.limits]`, `memory_max = "64MiB"`,
	))
	c, err := Load(main)
	if err != nil {
		t.Fatal(err)
	}
	c.Settle()
	if c.src.main.ix != nil || c.src.workers["app"].ix != nil {
		t.Fatal("Settle kept a line index")
	}
	var es Errors
	if err := c.KeyError(errors.New("in use"), c.SocketKey()...); !errors.As(err, &es) || es[0].File != main || es[0].Line != 4 || es[0].Key != "daemon.socket" {
		t.Errorf("KeyError after Settle: %v", err)
	}
	err = c.CheckKernelLimits(func(string) (bool, string) { return false, "none here" })
	if !errors.As(err, &es) || len(es) != 1 || es[0].File != filepath.Join(dir, "extra.toml") || es[0].Line != 5 || es[0].Key != "worker.app.limits.memory_max" {
		t.Errorf("CheckKernelLimits after Settle: %v", err)
	}
}
