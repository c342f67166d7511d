package config

import (
	"os"
	"path/filepath"
	"reflect"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tendhq/tend/fsm/policy"
	"github.com/tendhq/tend/supervisor/core"
	"github.com/tendhq/tend/supervisor/health"
	"github.com/tendhq/tend/supervisor/limits"
)

func TestParseFull(t *testing.T) {
	data, err := os.ReadFile("testdata/full.toml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "tend.toml")
	c, err := Parse(path, data)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if c.Path != path {
		t.Errorf("Path = %q, want %q", c.Path, path)
	}
	if c.Hash != fileHash(data) || len(c.Hash) != 64 {
		t.Errorf("Hash = %q", c.Hash)
	}
	state := filepath.Join(dir, "state")
	wantDaemon := Daemon{
		StateDir:         state,
		Socket:           "/run/tend/tend.sock",
		SocketGroup:      "nogroup",
		LogLevel:         "debug",
		MetricsListen:    "127.0.0.1:9187",
		SupervisorRPC:    "unix:///run/tend/supervisor.sock",
		LeaveRunning:     true,
		SampleInterval:   2 * time.Second,
		LogCheckInterval: 250 * time.Millisecond,
		ExitOn:           core.ExitNever,
		ProcessTracking:  TrackingPgroup,
	}
	if c.Daemon != wantDaemon {
		t.Errorf("Daemon =\n%+v\nwant\n%+v", c.Daemon, wantDaemon)
	}
	if want := []string{"cron", "db.replica", "web"}; !reflect.DeepEqual(c.Order, want) {
		t.Errorf("Order = %v, want %v", c.Order, want)
	}

	web := *c.Workers["web"]
	if len(web.Hash) != 64 {
		t.Errorf("web.Hash = %q", web.Hash)
	}
	web.Hash = ""
	wantWeb := Worker{
		Name:            "web",
		Line:            16,
		Command:         []string{"/usr/bin/python3", "-m", "http.server", "8080"},
		Dir:             "/srv/web",
		Env:             map[string]string{"PORT": "8080", "MODE": "production"},
		User:            "nobody",
		Group:           "nogroup",
		Autostart:       false,
		ClearEnv:        true,
		NoNewPrivileges: false,
		Umask:           0o027,
		Rlimits: []Rlimit{
			{Name: "core", Resource: unix.RLIMIT_CORE, Soft: RlimitInfinity, Hard: RlimitInfinity},
			{Name: "cpu", Resource: unix.RLIMIT_CPU, Soft: 3600, Hard: 3600},
			{Name: "memlock", Resource: unix.RLIMIT_MEMLOCK, Soft: 64 << 20, Hard: RlimitInfinity},
			{Name: "nofile", Resource: unix.RLIMIT_NOFILE, Soft: 4096, Hard: 65536},
			{Name: "nproc", Resource: unix.RLIMIT_NPROC, Soft: 512, Hard: 512},
		},
		Policy: policy.Spec{
			Restart:         policy.Always,
			BackoffInitial:  500 * time.Millisecond,
			BackoffMax:      24 * time.Hour,
			BreakerMax:      10,
			BreakerWindow:   2 * time.Minute,
			BreakerCooldown: 15 * time.Minute,
		},
		StartTimeout:         0,
		StopSignal:           syscall.SIGINT,
		StopTimeout:          90 * time.Second,
		HookTimeout:          DefaultHookTimeout,
		OnLeaderExit:         core.Leave,
		Stdout:               filepath.Join(dir, "logs/web.stdout"),
		Stderr:               "/var/log/web.stderr",
		LogMaxSize:           1_500_000_000,
		LogBackups:           7,
		AllowSharedOutputDir: true,
		Health: &health.Spec{
			Type:     health.TypeHTTP,
			URL:      "http://127.0.0.1:8080/healthz",
			Interval: 5 * time.Second,
			Timeout:  time.Second,
			Failures: 2,
			Grace:    30 * time.Second,
		},
		Limits: &limits.Spec{
			Memory:       512 << 20,
			CPU:          150.5,
			Sustained:    time.Minute,
			MemoryPolicy: limits.PolicyRestart,
			CPUPolicy:    limits.PolicyKill,
			MemoryMax:    1 << 30,
			MemoryHigh:   768 << 20,
			CPUMax:       200,
			PidsMax:      256,
		},
	}
	if !reflect.DeepEqual(web, wantWeb) {
		t.Errorf("web =\n%+v\nwant\n%+v\nhealth %+v\nlimits %+v", web, wantWeb, *web.Health, *web.Limits)
	}

	db := c.Workers["db.replica"]
	if db.StopSignal != syscall.SIGINT || db.LogMaxSize != 0 || db.Line != 68 {
		t.Errorf("db.replica: signal %v, log_max_size %d, line %d", db.StopSignal, db.LogMaxSize, db.Line)
	}
	if db.Health == nil || db.Health.Type != health.TypeTCP || db.Health.Address != "127.0.0.1:5432" {
		t.Errorf("db.replica health = %+v", db.Health)
	}
	if want := filepath.Join(state, "logs", "db.replica.out"); db.Stdout != want {
		t.Errorf("db.replica stdout = %q, want %q", db.Stdout, want)
	}

	cron := c.Workers["cron"]
	if want := "  exec /usr/local/bin/cron-runner --config \"/etc/cron runner.conf\"\n"; len(cron.Command) != 3 || cron.Command[2] != want {
		t.Errorf("cron command = %q", cron.Command)
	}
	if cron.StopSignal != syscall.SIGUSR2 || cron.Policy.Restart != policy.Never {
		t.Errorf("cron: signal %v restart %q", cron.StopSignal, cron.Policy.Restart)
	}
	if want := []Rlimit{{Name: "core", Resource: unix.RLIMIT_CORE}}; !reflect.DeepEqual(cron.Rlimits, want) {
		t.Errorf("cron rlimits = %+v", cron.Rlimits)
	}
	if cron.ClearEnv || cron.NoNewPrivileges || cron.Umask != -1 {
		t.Errorf("cron: clear_env %v, no_new_privileges %v, umask %d; want the defaults", cron.ClearEnv, cron.NoNewPrivileges, cron.Umask)
	}
	if cron.Limits == nil || cron.Limits.Memory != 1<<20 || cron.Limits.MemoryPolicy != limits.PolicyLog {
		t.Errorf("cron limits = %+v", cron.Limits)
	}
	if cron.Health == nil || !reflect.DeepEqual(cron.Health.Command, []string{"/bin/true"}) {
		t.Errorf("cron health = %+v", cron.Health)
	}
}

func TestParseDefaults(t *testing.T) {
	c := mustParse(t, lines(
		`[worker.app]`,
		`command = ["/bin/app"]`,
		`[worker.app.health]`,
		`type = "exec"`,
		`command = ["/bin/check"]`,
		`[worker.app.limits]`,
		`cpu = 50`,
	))
	wantDaemon := Daemon{
		StateDir:         "/var/lib/tend",
		Socket:           "/var/lib/tend/tend.sock",
		LogLevel:         "info",
		SampleInterval:   time.Second,
		LogCheckInterval: time.Second,
		ExitOn:           core.ExitNever,
		ProcessTracking:  TrackingAuto,
	}
	if c.Daemon != wantDaemon {
		t.Errorf("Daemon = %+v, want %+v", c.Daemon, wantDaemon)
	}
	w := *c.Workers["app"]
	w.Hash = ""
	want := Worker{
		Name:      "app",
		Line:      1,
		Command:   []string{"/bin/app"},
		Autostart: true,
		Umask:     -1,
		Policy: policy.Spec{
			Restart:         policy.OnFailure,
			BackoffInitial:  time.Second,
			BackoffMax:      30 * time.Second,
			BreakerMax:      5,
			BreakerWindow:   60 * time.Second,
			BreakerCooldown: 0,
		},
		StartTimeout: time.Second,
		StopSignal:   syscall.SIGTERM,
		StopTimeout:  10 * time.Second,
		HookTimeout:  DefaultHookTimeout,
		OnLeaderExit: core.StopRest,
		Stdout:       "/var/lib/tend/logs/app.out",
		Stderr:       "/var/lib/tend/logs/app.err",
		LogMaxSize:   10 << 20,
		LogBackups:   3,
		Health: &health.Spec{
			Type:     health.TypeExec,
			Command:  []string{"/bin/check"},
			Interval: 10 * time.Second,
			Timeout:  2 * time.Second,
			Failures: 3,
			Grace:    0,
		},
		Limits: &limits.Spec{CPU: 50, Sustained: 0, MemoryPolicy: limits.PolicyLog, CPUPolicy: limits.PolicyLog},
	}
	if !reflect.DeepEqual(w, want) {
		t.Errorf("worker =\n%+v\nwant\n%+v\nhealth %+v\nlimits %+v", w, want, *w.Health, *w.Limits)
	}
}

// A worker that runs as another user gets no_new_privs unless the file
// says no; one that runs as the daemon's user does not unless it says yes.
func TestNoNewPrivilegesDefault(t *testing.T) {
	for _, tc := range []struct {
		keys string
		want bool
	}{
		{``, false},
		{`user = "nobody"`, true},
		{`group = "nogroup"`, false},
		{"user = \"nobody\"\nno_new_privileges = false", false},
		{`no_new_privileges = true`, true},
	} {
		c := mustParse(t, lines(`[worker.a]`, `command = ["/bin/a"]`, tc.keys))
		if got := c.Workers["a"].NoNewPrivileges; got != tc.want {
			t.Errorf("%q: no_new_privileges %v, want %v", tc.keys, got, tc.want)
		}
	}
}

func TestRlimitForms(t *testing.T) {
	inf := uint64(RlimitInfinity)
	for in, want := range map[string][2]uint64{
		`1024`: {1024, 1024}, `"1024"`: {1024, 1024}, `"1024:4096"`: {1024, 4096},
		`"infinity"`: {inf, inf}, `"0:infinity"`: {0, inf}, `"1KiB:1MiB"`: {1024, 1 << 20},
	} {
		c, err := parseString(t, lines(`[worker.a]`, `command = ["/bin/a"]`, `rlimits.core = `+in))
		if err != nil {
			t.Errorf("core = %s: %v", in, err)
			continue
		}
		if r := c.Workers["a"].Rlimits; len(r) != 1 || r[0].Soft != want[0] || r[0].Hard != want[1] {
			t.Errorf("core = %s: %+v, want %v", in, r, want)
		}
	}
	c := mustParse(t, lines(`[worker.a]`, `command = ["/bin/a"]`, `rlimits.cpu = "1m:3600"`))
	if r := c.Workers["a"].Rlimits; len(r) != 1 || r[0].Soft != 60 || r[0].Hard != 3600 {
		t.Errorf("cpu: %+v", r)
	}
}

func TestParseAbsentSections(t *testing.T) {
	c := mustParse(t, lines(`[worker.a]`, `command = ["/bin/a"]`))
	if a := c.Workers["a"]; a.Health != nil || a.Limits != nil || a.Env != nil {
		t.Errorf("absent tables should be nil: %+v", a)
	}
	empty := mustParse(t, "# nothing to run yet\n")
	if len(empty.Workers) != 0 || len(empty.Order) != 0 || empty.Daemon.StateDir != DefaultStateDir {
		t.Errorf("empty config = %+v", empty)
	}
}

func TestStopSignalForms(t *testing.T) {
	cases := map[string]syscall.Signal{
		`"TERM"`: syscall.SIGTERM, `"SIGTERM"`: syscall.SIGTERM, `"INT"`: syscall.SIGINT,
		`"HUP"`: syscall.SIGHUP, `"QUIT"`: syscall.SIGQUIT, `"KILL"`: syscall.SIGKILL,
		`"USR1"`: syscall.SIGUSR1, `"SIGUSR2"`: syscall.SIGUSR2, `"term"`: syscall.SIGTERM,
		`9`: syscall.SIGKILL, `"15"`: syscall.SIGTERM, `34`: syscall.Signal(34),
	}
	for in, want := range cases {
		c, err := parseString(t, lines(`[worker.a]`, `command = ["/bin/a"]`, `stop_signal = `+in))
		if err != nil {
			t.Errorf("stop_signal = %s: %v", in, err)
			continue
		}
		if got := c.Workers["a"].StopSignal; got != want {
			t.Errorf("stop_signal = %s: got %v, want %v", in, got, want)
		}
	}
}

func TestRelativePaths(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, filepath.Join(dir, "etc", "tend.toml"), lines(
		`[daemon]`,
		`state_dir = "../var/tend"`,
		`socket = "run/tend.sock"`,
		`[worker.a]`,
		`command = ["bin/a"]`,
		`dir = "work"`,
		`stdout = "out/a.log"`,
		`stderr = "./err/../a.err"`,
		`[worker.b]`,
		`command = ["/bin/b"]`,
	))
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	etc := filepath.Join(dir, "etc")
	state := filepath.Join(dir, "var", "tend")
	checks := map[string][2]string{
		"state_dir": {c.Daemon.StateDir, state},
		"socket":    {c.Daemon.Socket, filepath.Join(etc, "run", "tend.sock")},
		"a.dir":     {c.Workers["a"].Dir, filepath.Join(etc, "work")},
		"a.stdout":  {c.Workers["a"].Stdout, filepath.Join(etc, "out", "a.log")},
		"a.stderr":  {c.Workers["a"].Stderr, filepath.Join(etc, "a.err")},
		"b.stdout":  {c.Workers["b"].Stdout, filepath.Join(state, "logs", "b.out")},
		"b.stderr":  {c.Workers["b"].Stderr, filepath.Join(state, "logs", "b.err")},
		"b.dir":     {c.Workers["b"].Dir, ""},
	}
	for name, gw := range checks {
		if gw[0] != gw[1] {
			t.Errorf("%s = %q, want %q", name, gw[0], gw[1])
		}
	}
	// The command is an argv, not a path: it is passed through untouched.
	if got := c.Workers["a"].Command[0]; got != "bin/a" {
		t.Errorf("command[0] = %q", got)
	}
	// A relative path given to Load still yields an absolute Config.Path.
	t.Chdir(etc)
	c2, err := Load("tend.toml")
	if err != nil {
		t.Fatal(err)
	}
	if c2.Path != path || c2.Daemon.StateDir != state {
		t.Errorf("relative load: Path %q StateDir %q", c2.Path, c2.Daemon.StateDir)
	}
}

func TestLoadReadError(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "missing.toml"))
	if err == nil || !os.IsNotExist(unwrapAll(err)) {
		t.Fatalf("err = %v, want a wrapped not-exist error", err)
	}
	var es Errors
	if asErrors(err, &es) {
		t.Errorf("I/O failure must not look like a config problem: %v", err)
	}
}
