package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

const okWorker = "[worker.web]\ncommand = [\"/bin/web\"]\n" // lines 1-2

func TestErrorMessages(t *testing.T) {
	cases := []struct {
		name string
		src  string
		want []string
	}{
		{"syntax error keeps the library's line",
			lines(`[daemon]`, `log_level = "info"`, `socket =`, `[worker.a]`),
			[]string{`tend.toml:3: syntax error: expected value but found '\n' instead`}},
		{"unknown top-level table",
			lines(`[deamon]`, `log_level = "info"`),
			[]string{`tend.toml:1: deamon: unknown key (did you mean "daemon"?)`}},
		{"unknown key in daemon",
			lines(`[daemon]`, `state_dir = "/tmp/x"`, `log_levl = "debug"`),
			[]string{`tend.toml:3: daemon.log_levl: unknown key (did you mean "log_level"?)`}},
		{"unknown key in worker",
			okWorker + lines(`stop_timout = "5s"`),
			[]string{`tend.toml:3: worker.web.stop_timout: unknown key (did you mean "stop_timeout"?)`}},
		{"unknown key in health",
			okWorker + lines(`[worker.web.health]`, `type = "tcp"`, `address = "127.0.0.1:80"`, `intervall = "5s"`),
			[]string{`tend.toml:6: worker.web.health.intervall: unknown key (did you mean "interval"?)`}},
		{"unknown key in limits, no near match",
			okWorker + lines(`[worker.web.limits]`, `memory = "1GiB"`, `max_open_files = 10`),
			[]string{`tend.toml:5: worker.web.limits.max_open_files: unknown key`}},
		{"unknown key in inline limits",
			okWorker + lines(`limits = { memroy = "1GiB" }`),
			[]string{`tend.toml:3: worker.web.limits.memroy: unknown key (did you mean "memory"?)`}},
		{"bad duration",
			okWorker + lines(`stop_timeout = "5x"`),
			[]string{`tend.toml:3: worker.web.stop_timeout: invalid duration (expected one such as "10s", "1m30s" or "1d")`}},
		{"duration of the wrong type",
			okWorker + lines(`stop_timeout = 5`),
			[]string{`tend.toml:3: worker.web.stop_timeout: expected a duration such as "10s", got an integer`}},
		{"negative duration",
			okWorker + lines(`start_timeout = "-1s"`),
			[]string{`tend.toml:3: worker.web.start_timeout: must not be negative`}},
		{"bad size",
			okWorker + lines(`[worker.web.limits]`, `memory = "12XB"`),
			[]string{`tend.toml:4: worker.web.limits.memory: invalid size (expected one such as "512MiB", "10MB" or a number of bytes)`}},
		{"bad enum",
			okWorker + lines(`restart = "sometimes"`),
			[]string{`tend.toml:3: worker.web.restart: invalid value (use one of "always", "on-failure", "never")`}},
		{"bad log level",
			lines(`[daemon]`, `log_level = "verbose"`),
			[]string{`tend.toml:2: daemon.log_level: invalid value (use one of "trace", "debug", "info", "warn", "error")`}},
		{"bad policy",
			okWorker + lines(`[worker.web.limits]`, `cpu = 50`, `cpu_policy = "nice"`),
			[]string{`tend.toml:5: worker.web.limits.cpu_policy: invalid value (use one of "log", "restart", "stop", "kill")`}},
		{"missing command",
			lines(`[worker.web]`, `restart = "always"`),
			[]string{`tend.toml:1: worker.web.command: required key is missing (e.g. command = ["/usr/bin/app", "--flag"])`}},
		{"empty command",
			lines(`[worker.web]`, `command = []`),
			[]string{`tend.toml:2: worker.web.command: must not be empty`}},
		{"command of the wrong type",
			lines(`[worker.web]`, `command = "/bin/web --flag"`),
			[]string{`tend.toml:2: worker.web.command: expected an array of strings such as ["/usr/bin/app", "--flag"], got a string`}},
		{"command element of the wrong type",
			lines(`[worker.web]`, `command = ["/bin/web", 8080]`),
			[]string{`tend.toml:2: worker.web.command: element 1: expected a string, got an integer`}},
		{"health without address",
			okWorker + lines(`[worker.web.health]`, `type = "tcp"`),
			[]string{`tend.toml:3: worker.web.health.address: must be set for type = "tcp"`}},
		{"health with an empty address",
			okWorker + lines(`[worker.web.health]`, `type = "tcp"`, `address = ""`),
			[]string{`tend.toml:5: worker.web.health.address: must be set for type = "tcp"`}},
		{"health with an address of the wrong type, said once",
			okWorker + lines(`[worker.web.health]`, `type = "tcp"`, `address = 8080`),
			[]string{`tend.toml:5: worker.web.health.address: expected a string, got an integer`}},
		{"health with a bad port",
			okWorker + lines(`[worker.web.health]`, `type = "tcp"`, `address = "127.0.0.1:99999"`),
			[]string{`tend.toml:5: worker.web.health.address: invalid port (use 1-65535)`}},
		{"health with a bad address",
			okWorker + lines(`[worker.web.health]`, `type = "tcp"`, `address = "localhost"`),
			[]string{`tend.toml:5: worker.web.health.address: invalid address (use host:port, e.g. "127.0.0.1:8080")`}},
		{"exec health with an empty command",
			okWorker + lines(`[worker.web.health]`, `type = "exec"`, `command = [""]`),
			[]string{`tend.toml:5: worker.web.health.command: must name a program`}},
		{"health with a command on a tcp check",
			okWorker + lines(`[worker.web.health]`, `type = "tcp"`, `address = ":80"`, `command = []`),
			[]string{`tend.toml:6: worker.web.health.command: is only used with type = "exec", not "tcp"`}},
		{"health with an unknown type",
			okWorker + lines(`[worker.web.health]`, `type = "grpc"`, `address = ":80"`),
			[]string{`tend.toml:4: worker.web.health.type: invalid value (use one of "exec", "tcp", "http")`}},
		{"health with every problem at once",
			okWorker + lines(`[worker.web.health]`, `type = "http"`, `url = 5`, `failures = 0`, `interval = "1ms"`, `address = "x:1"`),
			[]string{
				`tend.toml:5: worker.web.health.url: expected a string, got an integer`,
				`tend.toml:6: worker.web.health.failures: must be between 1 and 1000`,
				`tend.toml:7: worker.web.health.interval: must be between 10ms and 1d`,
				`tend.toml:8: worker.web.health.address: is only used with type = "tcp", not "http"`,
			}},
		{"health without type",
			okWorker + lines(`[worker.web.health]`, `url = "http://x/"`),
			[]string{`tend.toml:3: worker.web.health.type: required key is missing (use "exec", "tcp" or "http")`}},
		{"health with a target of another type",
			okWorker + lines(`[worker.web.health]`, `type = "http"`, `url = "http://127.0.0.1/"`, `address = "127.0.0.1:80"`),
			[]string{`tend.toml:6: worker.web.health.address: is only used with type = "tcp", not "http"`}},
		{"health with a bad url",
			okWorker + lines(`[worker.web.health]`, `type = "http"`, `url = "127.0.0.1/healthz"`),
			[]string{`tend.toml:5: worker.web.health.url: invalid URL (use e.g. "http://127.0.0.1:8080/healthz")`}},
		{"bad worker name",
			lines(`[worker."web server"]`, `command = ["/bin/web"]`),
			[]string{`tend.toml:1: worker."web server": invalid worker name "web server" (use 1-64 of A-Z a-z 0-9 _ . -)`}},
		{"worker name too long",
			lines(`[worker.`+strings.Repeat("a", 65)+`]`, `command = ["/bin/web"]`),
			[]string{`tend.toml:1: worker.` + strings.Repeat("a", 65) + `: invalid worker name "` + strings.Repeat("a", 65) + `" (use 1-64 of A-Z a-z 0-9 _ . -)`}},
		{"worker that is not a table",
			lines(`[worker]`, `web = "/bin/web"`),
			[]string{`tend.toml:2: worker.web: expected a table [worker.web], got a string`}},
		{"backoff_max below backoff_initial",
			okWorker + lines(`backoff_initial = "5s"`, `backoff_max = "1s"`),
			[]string{`tend.toml:4: worker.web.backoff_max: must be at least backoff_initial`}},
		{"backoff_initial above the default backoff_max",
			okWorker + lines(`backoff_initial = "1m"`),
			[]string{`tend.toml:3: worker.web.backoff_initial: must be at most backoff_max (30s unless set)`}},
		{"bad signal",
			okWorker + lines(`stop_signal = "STOP"`),
			[]string{`tend.toml:3: worker.web.stop_signal: invalid signal (use TERM, INT, HUP, QUIT, KILL, USR1, USR2 or a number 1-64)`}},
		{"signal out of range",
			okWorker + lines(`stop_signal = 65`),
			[]string{`tend.toml:3: worker.web.stop_signal: invalid signal number (use 1-64)`}},
		{"negative integer",
			okWorker + lines(`log_backups = -1`),
			[]string{`tend.toml:3: worker.web.log_backups: must be between 0 and 1000`}},
		{"boolean of the wrong type",
			okWorker + lines(`autostart = "yes"`),
			[]string{`tend.toml:3: worker.web.autostart: expected true or false, got a string`}},
		{"cpu not positive",
			okWorker + lines(`[worker.web.limits]`, `cpu = 0`),
			[]string{`tend.toml:4: worker.web.limits.cpu: must be a percentage of one core greater than 0 and at most 819200 (e.g. 50 or 150)`}},
		{"cpu nan",
			okWorker + lines(`[worker.web.limits]`, `cpu = nan`),
			[]string{`tend.toml:4: worker.web.limits.cpu: must be a percentage of one core greater than 0 and at most 819200 (e.g. 50 or 150)`}},
		{"env value of the wrong type, never shown",
			okWorker + lines(`[worker.web.env]`, `PORT = 8080`, `PASSWORD = 123456`, `TOKEN = true`, `LIST = ["s3cr3t"]`),
			[]string{
				`tend.toml:4: worker.web.env.PORT: expected a string, got an integer (the value is not shown: it may be a secret)`,
				`tend.toml:5: worker.web.env.PASSWORD: expected a string, got an integer (the value is not shown: it may be a secret)`,
				`tend.toml:6: worker.web.env.TOKEN: expected a string, got a boolean (the value is not shown: it may be a secret)`,
				`tend.toml:7: worker.web.env.LIST: expected a string, got an array (the value is not shown: it may be a secret)`,
			}},
		{"bad metrics address",
			lines(`[daemon]`, `metrics_listen = "localhost"`),
			[]string{`tend.toml:2: daemon.metrics_listen: invalid address (use host:port, e.g. "127.0.0.1:9100")`}},
		{"bad supervisor rpc",
			lines(`[daemon]`, `supervisor_rpc = "/run/supervisor.sock"`),
			[]string{`tend.toml:2: daemon.supervisor_rpc: invalid endpoint (use "unix:///path/to/supervisor.sock" or "http://host:port")`}},
		{"socket path too long",
			lines(`[daemon]`, `state_dir = "/`+strings.Repeat("d", 100)+`"`),
			[]string{`tend.toml:2: daemon.state_dir: the socket path would be 111 bytes; Unix sockets allow at most 107`}},
		{"umask as an integer",
			okWorker + lines(`umask = 18`),
			[]string{`tend.toml:3: worker.web.umask: expected a string of octal digits such as "027", got an integer`}},
		{"umask not octal",
			okWorker + lines(`umask = "089"`),
			[]string{`tend.toml:3: worker.web.umask: invalid umask (use 3 octal digits such as "022" or "027")`}},
		{"umask with more than permission bits",
			okWorker + lines(`umask = "1777"`),
			[]string{`tend.toml:3: worker.web.umask: invalid umask (use 3 octal digits such as "022" or "027")`}},
		{"no_new_privileges of the wrong type",
			okWorker + lines(`no_new_privileges = "yes"`),
			[]string{`tend.toml:3: worker.web.no_new_privileges: expected true or false, got a string`}},
		{"unknown resource limit",
			okWorker + lines(`[worker.web.rlimits]`, `nofiles = 10`),
			[]string{`tend.toml:4: worker.web.rlimits.nofiles: unknown key (did you mean "nofile"?)`}},
		{"soft limit above the hard limit",
			okWorker + lines(`[worker.web.rlimits]`, `nofile = "4096:1024"`),
			[]string{`tend.toml:4: worker.web.rlimits.nofile: the soft limit 4096 is above the hard limit 1024`}},
		{"soft limit infinite, hard limit not",
			okWorker + lines(`rlimits = { core = "infinity:0" }`),
			[]string{`tend.toml:3: worker.web.rlimits.core: the soft limit infinity is above the hard limit 0`}},
		{"infinite open files",
			okWorker + lines(`[worker.web.rlimits]`, `nofile = "infinity"`),
			[]string{`tend.toml:4: worker.web.rlimits.nofile: cannot be "infinity": the kernel caps open files at fs.nr_open (give a number, e.g. "65536")`}},
		{"limit that is not a number",
			okWorker + lines(`[worker.web.rlimits]`, `nproc = "lots"`),
			[]string{`tend.toml:4: worker.web.rlimits.nproc: invalid limit (use a number, or "infinity")`}},
		{"limit in bytes that is not a size",
			okWorker + lines(`[worker.web.rlimits]`, `core = "1GiB:lots"`),
			[]string{`tend.toml:4: worker.web.rlimits.core: invalid limit (use a size such as "512MiB", a number of bytes, or "infinity")`}},
		{"cpu limit that is not whole seconds",
			okWorker + lines(`[worker.web.rlimits]`, `cpu = "1.5s"`),
			[]string{`tend.toml:4: worker.web.rlimits.cpu: invalid limit (use whole seconds such as "3600" or "1h", or "infinity")`}},
		{"negative limit",
			okWorker + lines(`[worker.web.rlimits]`, `core = -1`),
			[]string{`tend.toml:4: worker.web.rlimits.core: must not be negative, got -1`}},
		{"limit of the wrong type",
			okWorker + lines(`[worker.web.rlimits]`, `nofile = true`),
			[]string{`tend.toml:4: worker.web.rlimits.nofile: expected a limit such as "1024", "1024:4096" or "infinity", got a boolean`}},
		{"rlimits that is not a table",
			okWorker + lines(`rlimits = 5`),
			[]string{`tend.toml:3: worker.web.rlimits: expected a table, got an integer`}},
		{"backoff_max below backoff_initial, both bad",
			okWorker + lines(`backoff_initial = "-5s"`, `backoff_max = "1x"`),
			[]string{
				`tend.toml:3: worker.web.backoff_initial: must not be negative`,
				`tend.toml:4: worker.web.backoff_max: invalid duration (expected one such as "10s", "1m30s" or "1d")`,
			}},
		{"restart of the wrong type",
			okWorker + lines(`restart = true`),
			[]string{`tend.toml:3: worker.web.restart: expected one of "always", "on-failure", "never", got a boolean`}},
		{"circuit breaker without a window",
			okWorker + lines(`circuit_window = "0s"`),
			[]string{`tend.toml:3: worker.web.circuit_window: must be greater than 0 while circuit_max_restarts is set (set circuit_max_restarts = 0 to turn the breaker off)`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseString(t, tc.src)
			if got := configErrors(t, err); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
		})
	}
}

// All problems in a file are reported at once, in line order, not just the
// first one found.
func TestErrorsCollectedAndSorted(t *testing.T) {
	src := lines(
		`[worker.zeta]`,         // 1
		`command = ["/bin/z"]`,  // 2
		`stop_timeout = "5x"`,   // 3
		`[worker.alpha]`,        // 4
		`restart = "sometimes"`, // 5
		`[daemon]`,              // 6
		`log_level = 3`,         // 7
	)
	_, err := parseString(t, src)
	got := configErrors(t, err)
	want := []string{
		`tend.toml:3: worker.zeta.stop_timeout: invalid duration (expected one such as "10s", "1m30s" or "1d")`,
		`tend.toml:4: worker.alpha.command: required key is missing (e.g. command = ["/usr/bin/app", "--flag"])`,
		`tend.toml:5: worker.alpha.restart: invalid value (use one of "always", "on-failure", "never")`,
		`tend.toml:7: daemon.log_level: expected one of "trace", "debug", "info", "warn", "error", got an integer`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	if err.Error() != strings.Join(want, "\n") {
		t.Errorf("Errors.Error() = %q", err.Error())
	}
	var one *Error
	if !errors.As(err, &one) || one.Line != 3 || one.Key != "worker.zeta.stop_timeout" || one.File != "tend.toml" {
		t.Errorf("errors.As(*Error) = %+v", one)
	}
}

func TestErrorFormat(t *testing.T) {
	cases := map[string]*Error{
		"tend.toml:12: worker.web.x: bad": {File: "tend.toml", Line: 12, Key: "worker.web.x", Msg: "bad"},
		"tend.toml: worker.web.x: bad":    {File: "tend.toml", Key: "worker.web.x", Msg: "bad"},
		"tend.toml:3: bad":                {File: "tend.toml", Line: 3, Msg: "bad"},
		"bad":                             {Msg: "bad"},
	}
	for want, e := range cases {
		if got := e.Error(); got != want {
			t.Errorf("Error() = %q, want %q", got, want)
		}
	}
}

func TestWorkerNames(t *testing.T) {
	for _, ok := range []string{"web", "db.replica", "a_b-C.9", strings.Repeat("x", 64), ".hidden"} {
		if err := checkWorkerName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "..", "...", "a b", "a/b", "é", strings.Repeat("x", 65), "a\x00"} {
		if checkWorkerName(bad) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
