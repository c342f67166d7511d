package daemon

import (
	"bufio"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tendhq/tend/cmd/internal/config"
	"github.com/tendhq/tend/supervisor"
	"github.com/tendhq/tend/supervisor/cgroup"
	"github.com/tendhq/tend/supervisor/limits"
	"github.com/tendhq/tend/supervisor/proc"
)

// Specs turns a configuration into the supervisor's worker specs. The
// restart policy, health check and limits are already the supervisor's
// types (config decodes into them) and are shared, not copied: neither side
// changes them once parsed.
//
// Each spec's Hash is what the log records for the worker's settings, so it
// is digest applied to the configuration's fingerprint of them
// (store.Log.Digest: keyed per log), never the fingerprint itself: that is
// an unkeyed SHA-256 over settings that include environment values, and
// anyone reading the events could test guesses of a secret against it.
// With digest nil, Hash is left empty; for callers that record nothing.
func Specs(cfg *config.Config, digest func([]byte) string) ([]*supervisor.WorkerSpec, error) {
	out := make([]*supervisor.WorkerSpec, 0, len(cfg.Order))
	var ids idCache
	for _, name := range cfg.Order {
		w := cfg.Workers[name]
		cred, login, err := ids.credential(w.User, w.Group)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: worker.%s: %w", cfg.Path, w.Line, name, err)
		}
		s := &supervisor.WorkerSpec{
			Name: name, Command: w.Command, Dir: w.Dir, Env: w.Env, EnvFiles: w.EnvFiles, Credential: cred,
			ClearEnv: w.ClearEnv, UserEnv: login, NoNewPrivs: w.NoNewPrivileges, Rlimits: rlimits(w.Rlimits),
			Stdout: w.Stdout, Stderr: w.Stderr, LogMaxSize: w.LogMaxSize, LogBackups: w.LogBackups,
			Relay: w.Output == config.OutputRelay, LogMaxAge: w.LogMaxAge, LogCompress: w.LogCompress,
			Autostart: w.Autostart, StartTimeout: w.StartTimeout, StopSignal: w.StopSignal, StopTimeout: w.StopTimeout,
			Policy: w.Policy, Health: w.Health, Limits: w.Limits, OnLeaderExit: w.OnLeaderExit, CgroupLimits: cgroupLimits(w.Limits),
			Oneshot: w.Oneshot, Ready: w.Ready, Deps: w.DependsOn, Schedule: w.Schedule.Core(),
			InstanceOf: w.InstanceOf, Instance: w.Instance,
			ReloadSignal: w.ReloadSignal, HookTimeout: w.HookTimeout,
		}
		if hooks := w.Hooks.ByKind(); len(hooks) > 0 {
			s.Hooks = hooks
		}
		if digest != nil {
			s.Hash = digest([]byte(w.Hash))
		}
		if w.Umask >= 0 {
			m := uint32(w.Umask)
			s.Umask = &m
		}
		out = append(out, s)
	}
	return out, nil
}

// idCache remembers the user and group lookups of one Specs call: many
// workers name the same user, and each lookup reads the user database.
type idCache struct {
	users  map[string]lookedUp[*user.User]
	groups map[string]lookedUp[*user.Group]
}

type lookedUp[T any] struct {
	v   T
	err error
}

func cached[T any](m *map[string]lookedUp[T], name string, lookup func(string) (T, error)) (T, error) {
	if *m == nil {
		*m = map[string]lookedUp[T]{}
	}
	r, ok := (*m)[name]
	if !ok {
		r.v, r.err = lookup(name)
		(*m)[name] = r
	}
	return r.v, r.err
}

// credential resolves user and group names; empty means "as the daemon".
// A worker with a user also gets that user's login variables, so that
// it does not run with the daemon's HOME. A numeric name is an id, as
// config.Validate reads it.
func (c *idCache) credential(userName, groupName string) (*syscall.Credential, map[string]string, error) {
	if userName == "" && groupName == "" {
		return nil, nil, nil
	}
	cred := &syscall.Credential{Uid: uint32(syscall.Getuid()), Gid: uint32(syscall.Getgid())}
	var login map[string]string
	if userName != "" {
		u, err := cached(&c.users, userName, lookupUser)
		if err != nil {
			return nil, nil, fmt.Errorf("user %q: %w", userName, err)
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		cred.Uid, cred.Gid = uint32(uid), uint32(gid)
		login = loginEnv(u)
	}
	if groupName != "" {
		lookup := user.LookupGroup
		if numeric(groupName) {
			lookup = user.LookupGroupId
		}
		g, err := cached(&c.groups, groupName, lookup)
		if err != nil {
			return nil, nil, fmt.Errorf("group %q: %w", groupName, err)
		}
		gid, _ := strconv.ParseUint(g.Gid, 10, 32)
		cred.Gid = uint32(gid)
	}
	return cred, login, nil
}

func lookupUser(name string) (*user.User, error) {
	if numeric(name) {
		return user.LookupId(name)
	}
	return user.Lookup(name)
}

func numeric(s string) bool { return s != "" && strings.Trim(s, "0123456789") == "" }

// loginEnv is what login(1) sets for u: HOME, USER, LOGNAME and SHELL.
func loginEnv(u *user.User) map[string]string {
	return map[string]string{"HOME": u.HomeDir, "USER": u.Username, "LOGNAME": u.Username, "SHELL": loginShell(u.Username)}
}

// passwdPath is the file the login shell is read from.
var passwdPath = "/etc/passwd"

// loginShell is the shell of name's entry in /etc/passwd, or /bin/sh, as
// login(1) has it when the entry names none. os/user does not return the
// shell, so the file is read here; a user known only to another name
// service (LDAP, sssd) gets /bin/sh.
func loginShell(name string) string {
	f, err := os.Open(passwdPath)
	if err != nil {
		return defaultShell
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// name:password:uid:gid:gecos:home:shell
		fields := strings.Split(sc.Text(), ":")
		if len(fields) == 7 && fields[0] == name {
			if fields[6] == "" {
				return defaultShell
			}
			return fields[6]
		}
	}
	return defaultShell
}

const defaultShell = "/bin/sh"

// cpuPeriod is the period of cpu.max, the kernel's default: cpu_max = 150
// allows 150 ms of CPU time in every 100 ms.
const cpuPeriod = 100 * time.Millisecond

// cgroupLimits turns the kernel-enforced limits of a limits table into
// what the spawner writes into each incarnation's cgroup.
func cgroupLimits(l *limits.Spec) cgroup.Limits {
	if l == nil {
		return cgroup.Limits{}
	}
	out := cgroup.Limits{MemoryMax: l.MemoryMax, MemoryHigh: l.MemoryHigh, PidsMax: uint64(l.PidsMax)}
	if l.CPUMax > 0 {
		out.CPUQuota, out.CPUPeriod = time.Duration(l.CPUMax/100*float64(cpuPeriod)), cpuPeriod
	}
	return out
}

// rlimits turns the configuration's limits into the spawner's.
func rlimits(rs []config.Rlimit) []proc.Rlimit {
	if len(rs) == 0 {
		return nil
	}
	out := make([]proc.Rlimit, len(rs))
	for i, r := range rs {
		out[i] = proc.Rlimit{Resource: r.Resource, Cur: r.Soft, Max: r.Hard}
	}
	return out
}
