package daemon

import (
	"os"
	"os/user"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tendhq/tend/cmd/internal/config"
	"github.com/tendhq/tend/supervisor/cgroup"
	"github.com/tendhq/tend/supervisor/core"
	"github.com/tendhq/tend/supervisor/proc"
)

func parse(t *testing.T, src string) *config.Config {
	t.Helper()
	c, err := config.Parse(filepath.Join(t.TempDir(), "tend.toml"), []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// A worker that runs as another user gets that user's login variables and,
// by default, no_new_privs; the daemon's own are not its. A numeric user
// or group is an id, as tend check reads it.
func TestSpecsUserAndConfinement(t *testing.T) {
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody")
	}
	c := parse(t, `
[worker.byname]
command = ["/bin/true"]
user = "nobody"
umask = "027"
rlimits = { nofile = "100:200", core = "infinity" }

[worker.byid]
command = ["/bin/true"]
user = "`+nobody.Uid+`"
group = "`+nobody.Gid+`"
clear_env = true
no_new_privileges = false

[worker.asdaemon]
command = ["/bin/true"]
`)
	specs, err := Specs(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]int{}
	for i, s := range specs {
		byName[s.Name] = i
	}
	login := map[string]string{"HOME": nobody.HomeDir, "USER": "nobody", "LOGNAME": "nobody", "SHELL": loginShell("nobody")}
	a := specs[byName["byname"]]
	if !reflect.DeepEqual(a.UserEnv, login) || !a.NoNewPrivs || a.ClearEnv || a.Umask == nil || *a.Umask != 0o27 {
		t.Errorf("byname: UserEnv %v, NoNewPrivs %v, ClearEnv %v, Umask %v", a.UserEnv, a.NoNewPrivs, a.ClearEnv, a.Umask)
	}
	if len(a.Rlimits) != 2 || a.Rlimits[0] != (proc.Rlimit{Resource: unix.RLIMIT_CORE, Cur: config.RlimitInfinity, Max: config.RlimitInfinity}) ||
		a.Rlimits[1] != (proc.Rlimit{Resource: unix.RLIMIT_NOFILE, Cur: 100, Max: 200}) {
		t.Errorf("byname: Rlimits %+v", a.Rlimits)
	}
	b := specs[byName["byid"]]
	if b.Credential == nil || b.Credential.Uid != 65534 || !reflect.DeepEqual(b.UserEnv, login) || b.NoNewPrivs || !b.ClearEnv || b.Umask != nil {
		t.Errorf("byid: Credential %+v, UserEnv %v, NoNewPrivs %v, ClearEnv %v", b.Credential, b.UserEnv, b.NoNewPrivs, b.ClearEnv)
	}
	d := specs[byName["asdaemon"]]
	if d.Credential != nil || d.UserEnv != nil || d.NoNewPrivs || d.Rlimits != nil || d.Umask != nil {
		t.Errorf("asdaemon: %+v", d)
	}
}

func TestLoginShell(t *testing.T) {
	dir := t.TempDir()
	old := passwdPath
	passwdPath = filepath.Join(dir, "passwd")
	defer func() { passwdPath = old }()
	if err := os.WriteFile(passwdPath, []byte("root:x:0:0:root:/root:/bin/bash\nsvc:x:900:900::/srv:\nbroken line\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"root": "/bin/bash", "svc": "/bin/sh", "ldap-only": "/bin/sh"} {
		if got := loginShell(name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
}

// What tend check accepts, the supervisor runs: the specs are the ones the
// configuration decoded, and each passes its own Validate. An address with
// no host (":8080", this host) was once accepted by the file and refused by
// the health check, which then reported the worker unhealthy for good.
func TestSpecsValidate(t *testing.T) {
	c := parse(t, `
[worker.a]
command = ["/bin/true"]
restart = "always"
circuit_max_restarts = 0
circuit_window = "0s"
[worker.a.health]
type = "tcp"
address = ":8080"
[worker.a.limits]
cpu = 50
cpu_policy = "kill"
`)
	specs, err := Specs(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, w := specs[0], c.Workers["a"]
	if s.Health != w.Health || s.Limits != w.Limits || s.Policy != w.Policy {
		t.Errorf("specs are not the configuration's: %+v %+v %+v", s.Health, s.Limits, s.Policy)
	}
	for _, err := range []error{s.Health.Validate(), s.Limits.Validate(), s.Policy.Validate()} {
		if err != nil {
			t.Error(err)
		}
	}
}

// on_leader_exit and the kernel-enforced limits reach the supervisor's
// spec; a limits table with only sampled limits asks nothing of cgroups.
func TestSpecsOwnershipSettings(t *testing.T) {
	c := parse(t, `
[worker.a]
command = ["/bin/true"]
on_leader_exit = "leave"
[worker.a.limits]
memory_max = "64MiB"
memory_high = "48MiB"
cpu_max = 150
pids_max = 100

[worker.b]
command = ["/bin/true"]
[worker.b.limits]
memory = "1GiB"
`)
	specs, err := Specs(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, b := specs[0], specs[1]
	want := cgroup.Limits{MemoryMax: 64 << 20, MemoryHigh: 48 << 20, CPUQuota: 150 * time.Millisecond, CPUPeriod: 100 * time.Millisecond, PidsMax: 100}
	if a.OnLeaderExit != core.Leave || a.CgroupLimits != want {
		t.Fatalf("a: on_leader_exit %q, cgroup limits %+v", a.OnLeaderExit, a.CgroupLimits)
	}
	if b.OnLeaderExit != core.StopRest || b.CgroupLimits != (cgroup.Limits{}) {
		t.Fatalf("b: on_leader_exit %q, cgroup limits %+v", b.OnLeaderExit, b.CgroupLimits)
	}
}
