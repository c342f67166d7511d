package config

import (
	"strings"
	"testing"

	"github.com/tendhq/tend/supervisor/core"
)

// exit_on, console_timestamps and output to the console ("-").
func TestParseContainerSettings(t *testing.T) {
	c := mustParse(t, lines(
		`[daemon]`,
		`exit_on = "any-failure"`,
		`console_timestamps = true`,
		`[worker.web]`,
		`command = ["/bin/web"]`,
		`stdout = "-"`,
		`stderr = "-"`,
	))
	if c.Daemon.ExitOn != core.ExitAnyFailure || !c.Daemon.ConsoleTimestamps {
		t.Errorf("daemon %+v", c.Daemon)
	}
	if w := c.Workers["web"]; w.Stdout != Console || w.Stderr != Console {
		t.Errorf("web's output %q %q, want the console", w.Stdout, w.Stderr)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

func TestParseBadExitOn(t *testing.T) {
	_, err := parseString(t, lines(`[daemon]`, `exit_on = "sometimes"`))
	if err == nil {
		t.Fatal("accepted")
	}
	msg := err.Error()
	for _, want := range []string{"tend.toml:2:", "daemon.exit_on", `"any-exit"`, `"all-done"`} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not say %q", msg, want)
		}
	}
	if strings.Contains(msg, "sometimes") {
		t.Errorf("error %q repeats the value", msg)
	}
}
