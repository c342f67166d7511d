package config

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// Every numeric setting has a bound, and a value past it is refused with
// the key and the line; a value at the bound is accepted.
func TestNumericBounds(t *testing.T) {
	cases := []struct {
		src, key, at string // at: the bound itself, which must pass
	}{
		{`log_backups = 100000000`, "worker.web.log_backups", `log_backups = 1000`},
		{`circuit_max_restarts = 10001`, "worker.web.circuit_max_restarts", `circuit_max_restarts = 10000`},
		{`log_max_size = "2TiB"`, "worker.web.log_max_size", `log_max_size = "1TiB"`},
		{`log_max_size = 9223372036854775807`, "worker.web.log_max_size", `log_max_size = 0`},
		{`start_timeout = "61m"`, "worker.web.start_timeout", `start_timeout = "1h"`},
		{`stop_timeout = "100000d"`, "worker.web.stop_timeout", `stop_timeout = "1d"`},
		{`backoff_max = "25h"`, "worker.web.backoff_max", `backoff_max = "24h"`},
		{"backoff_initial = \"25h\"\nbackoff_max = \"24h\"", "worker.web.backoff_initial", "backoff_initial = \"24h\"\nbackoff_max = \"24h\""},
		{`circuit_window = "31d"`, "worker.web.circuit_window", `circuit_window = "30d"`},
		{`circuit_cooldown = "31d"`, "worker.web.circuit_cooldown", `circuit_cooldown = "30d"`},
		{"[worker.web.limits]\ncpu = 1e308", "worker.web.limits.cpu", "[worker.web.limits]\ncpu = 819200"},
		{"[worker.web.limits]\nmemory = \"1025TiB\"", "worker.web.limits.memory", "[worker.web.limits]\nmemory = \"1024TiB\""},
		{"[worker.web.limits]\nsustained = \"2d\"", "worker.web.limits.sustained", "[worker.web.limits]\nsustained = \"1d\""},
		{"[worker.web.limits]\nmemory_max = \"1025TiB\"", "worker.web.limits.memory_max", "[worker.web.limits]\nmemory_max = \"1024TiB\""},
		{"[worker.web.limits]\nmemory_high = \"1025TiB\"", "worker.web.limits.memory_high", "[worker.web.limits]\nmemory_high = \"1024TiB\""},
		{"[worker.web.limits]\ncpu_max = 819201", "worker.web.limits.cpu_max", "[worker.web.limits]\ncpu_max = 819200"},
		{"[worker.web.limits]\npids_max = 4194305", "worker.web.limits.pids_max", "[worker.web.limits]\npids_max = 4194304"},
		{"[worker.web.health]\ntype = \"tcp\"\naddress = \":1\"\ninterval = \"1ms\"", "worker.web.health.interval", "[worker.web.health]\ntype = \"tcp\"\naddress = \":1\"\ninterval = \"10ms\""},
		{"[worker.web.health]\ntype = \"tcp\"\naddress = \":1\"\ninterval = \"2d\"", "worker.web.health.interval", "[worker.web.health]\ntype = \"tcp\"\naddress = \":1\"\ninterval = \"1d\""},
		{"[worker.web.health]\ntype = \"tcp\"\naddress = \":1\"\ntimeout = \"2h\"", "worker.web.health.timeout", "[worker.web.health]\ntype = \"tcp\"\naddress = \":1\"\ntimeout = \"1h\""},
		{"[worker.web.health]\ntype = \"tcp\"\naddress = \":1\"\ngrace = \"2d\"", "worker.web.health.grace", "[worker.web.health]\ntype = \"tcp\"\naddress = \":1\"\ngrace = \"1d\""},
		{"[worker.web.health]\ntype = \"tcp\"\naddress = \":1\"\nfailures = 1001", "worker.web.health.failures", "[worker.web.health]\ntype = \"tcp\"\naddress = \":1\"\nfailures = 1000"},
	}
	for _, c := range cases {
		_, err := parseString(t, okWorker+c.src+"\n")
		var e *Error
		if !errors.As(err, &e) || e.Key != c.key || e.Line < 3 || !strings.Contains(e.Msg, "at most") && !strings.Contains(e.Msg, "between") {
			t.Errorf("%q: %v, want an error at %s naming its bound", c.src, err, c.key)
		}
		if _, err := parseString(t, okWorker+c.at+"\n"); err != nil {
			t.Errorf("%q (the bound itself): %v", c.at, err)
		}
	}
	for _, c := range []struct{ src, key string }{
		{`sample_interval = "1ms"`, "daemon.sample_interval"},
		{`sample_interval = "2h"`, "daemon.sample_interval"},
	} {
		_, err := parseString(t, "[daemon]\n"+c.src+"\n")
		var e *Error
		if !errors.As(err, &e) || e.Key != c.key || e.Line != 2 {
			t.Errorf("%q: %v", c.src, err)
		}
	}
}

// One argument or NAME=value longer than the kernel's MAX_ARG_STRLEN is
// refused by Parse, wherever the file is checked.
func TestExecStringLimit(t *testing.T) {
	long := strings.Repeat("x", maxArgStrlen)
	for _, c := range []struct{ src, key string }{
		{fmt.Sprintf("[worker.web]\ncommand = [\"/bin/web\", %q]\n", long), "worker.web.command"},
		{fmt.Sprintf("[worker.web]\ncommand = [\"/bin/web\"]\nenv = { BIG = %q }\n", long), "worker.web.env.BIG"},
		{fmt.Sprintf("[worker.web]\ncommand = [\"/bin/web\"]\n[worker.web.health]\ntype = \"exec\"\ncommand = [\"/bin/check\", %q]\n", long), "worker.web.health.command"},
	} {
		_, err := parseString(t, c.src)
		var e *Error
		if !errors.As(err, &e) || e.Key != c.key || !strings.Contains(e.Msg, "MAX_ARG_STRLEN") {
			t.Errorf("%s: %v", c.key, err)
		}
	}
	fits := strings.Repeat("x", maxArgStrlen-1)
	mustParse(t, fmt.Sprintf("[worker.web]\ncommand = [\"/bin/web\", %q]\n", fits))
	mustParse(t, fmt.Sprintf("[worker.web]\ncommand = [\"/bin/web\"]\nenv = { B = %q }\n", fits[:len(fits)-2]))
}

// A command and environment too large for execve together are refused by
// Validate at the worker's command, and the kernel agrees: what Validate
// refuses fails with E2BIG, and what it accepts, close to the limit, runs.
func TestExecTotalLimit(t *testing.T) {
	truePath, err := exec.LookPath("true")
	if err != nil {
		t.Skip("no true(1)")
	}
	limit, base := execArgLimit(), environBytes()
	args := func(total int) []string {
		out := []string{truePath}
		for total > 0 {
			n := min(total, 100_000)
			out = append(out, strings.Repeat("a", n-9)) // its NUL and pointer
			total -= n
		}
		return out
	}
	run := func(argv []string) error {
		cmd := exec.Command(argv[0], argv[1:]...)
		return cmd.Run()
	}
	load := func(argv []string) error {
		var b strings.Builder
		fmt.Fprintf(&b, "[worker.web]\ncommand = [")
		for i, a := range argv {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%q", a)
		}
		b.WriteString("]\n")
		path := writeFile(t, t.TempDir()+"/tend.toml", b.String())
		_, err := Load(path)
		return err
	}

	over := args(limit - base + 1024)
	err = load(over)
	var e *Error
	if !errors.As(err, &e) || e.Key != "worker.web.command" || e.Line != 2 || !strings.Contains(e.Msg, "ARG_MAX") {
		t.Fatalf("Load of a command past the limit: %v", err)
	}
	if err := run(over); !errors.Is(err, syscall.E2BIG) {
		t.Fatalf("the kernel ran what Validate refused (limit %d, environment %d): %v", limit, base, err)
	}

	under := args(limit - base - execReserve - 1024)
	if err := load(under); err != nil {
		t.Fatalf("Load of a command just under the limit: %v", err)
	}
	if err := run(under); err != nil {
		t.Fatalf("what Validate accepts does not run: %v", err)
	}
	if base <= 0 || limit < 128<<10 || len(os.Environ()) == 0 {
		t.Fatalf("limit %d, environment %d", limit, base)
	}
}

// The kernel-enforced limits, on_leader_exit and process_tracking refuse
// what cannot work, at their key.
func TestOwnershipSettings(t *testing.T) {
	for _, c := range []struct{ src, key, msg string }{
		{"[worker.web.limits]\nmemory_max = \"512KiB\"", "worker.web.limits.memory_max", "at least 1MiB"},
		{"[worker.web.limits]\nmemory_high = 0", "worker.web.limits.memory_high", "at least 1MiB"},
		{"[worker.web.limits]\nmemory_max = \"64MiB\"\nmemory_high = \"128MiB\"", "worker.web.limits.memory_high", "at most memory_max"},
		{"[worker.web.limits]\ncpu_max = 0.5", "worker.web.limits.cpu_max", "between 1"},
		{"[worker.web.limits]\npids_max = 0", "worker.web.limits.pids_max", "between 1"},
		{`on_leader_exit = "kill"`, "worker.web.on_leader_exit", `"stop-rest", "leave"`},
	} {
		_, err := parseString(t, okWorker+c.src+"\n")
		var e *Error
		if !errors.As(err, &e) || e.Key != c.key || !strings.Contains(e.Msg, c.msg) {
			t.Errorf("%q: %v, want an error at %s saying %q", c.src, err, c.key, c.msg)
		}
	}
	_, err := parseString(t, "[daemon]\nprocess_tracking = \"cgroups\"\n")
	var e *Error
	if !errors.As(err, &e) || e.Key != "daemon.process_tracking" || e.Line != 2 {
		t.Errorf("process_tracking = \"cgroups\": %v", err)
	}
	c, err := parseString(t, okWorker+"[worker.web.limits]\nmemory_max = \"64MiB\"\ncpu_max = 50\npids_max = 100\n")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Workers["web"].Limits.KernelControllers(); fmt.Sprint(got) != "[[memory_max memory] [cpu_max cpu] [pids_max pids]]" {
		t.Errorf("KernelLimitControllers = %v", got)
	}
}
