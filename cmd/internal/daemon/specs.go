package daemon

import (
	"fmt"
	"os/user"
	"strconv"
	"syscall"

	"github.com/tendhq/tend/cmd/internal/config"
	"github.com/tendhq/tend/fsm/policy"
	"github.com/tendhq/tend/supervisor"
	"github.com/tendhq/tend/supervisor/health"
	"github.com/tendhq/tend/supervisor/limits"
)

// Specs turns a configuration into the supervisor's worker specs.
func Specs(cfg *config.Config) ([]*supervisor.WorkerSpec, error) {
	out := make([]*supervisor.WorkerSpec, 0, len(cfg.Order))
	for _, name := range cfg.Order {
		w := cfg.Workers[name]
		cred, err := credential(w.User, w.Group)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: worker.%s: %w", cfg.Path, w.Line, name, err)
		}
		s := &supervisor.WorkerSpec{
			Name: name, Command: w.Command, Dir: w.Dir, Env: w.Env, Credential: cred,
			Stdout: w.Stdout, Stderr: w.Stderr, LogMaxSize: w.LogMaxSize, LogBackups: w.LogBackups,
			Autostart: w.Autostart, StartTimeout: w.StartTimeout, StopSignal: w.StopSignal, StopTimeout: w.StopTimeout,
			Policy: policy.Spec{
				Restart: policy.Restart(w.Restart), BackoffInitial: w.BackoffInitial, BackoffMax: w.BackoffMax,
				BreakerMax: w.CircuitMaxRestarts, BreakerWindow: w.CircuitWindow, BreakerCooldown: w.CircuitCooldown,
			},
			Hash: w.Hash,
		}
		if h := w.Health; h != nil {
			s.Health = &health.Spec{Type: h.Type, Command: h.Command, Address: h.Address, URL: h.URL,
				Interval: h.Interval, Timeout: h.Timeout, Grace: h.Grace, Failures: h.Failures}
		}
		if l := w.Limits; l != nil {
			s.Limits = &limits.Spec{Memory: l.Memory, CPU: l.CPU, Sustained: l.Sustained,
				MemoryPolicy: limits.Policy(l.MemoryPolicy), CPUPolicy: limits.Policy(l.CPUPolicy)}
		}
		out = append(out, s)
	}
	return out, nil
}

// credential resolves user and group names; empty means "as the daemon".
func credential(userName, groupName string) (*syscall.Credential, error) {
	if userName == "" && groupName == "" {
		return nil, nil
	}
	cred := &syscall.Credential{Uid: uint32(syscall.Getuid()), Gid: uint32(syscall.Getgid())}
	if userName != "" {
		u, err := user.Lookup(userName)
		if err != nil {
			return nil, fmt.Errorf("user %q: %w", userName, err)
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		cred.Uid, cred.Gid = uint32(uid), uint32(gid)
	}
	if groupName != "" {
		g, err := user.LookupGroup(groupName)
		if err != nil {
			return nil, fmt.Errorf("group %q: %w", groupName, err)
		}
		gid, _ := strconv.ParseUint(g.Gid, 10, 32)
		cred.Gid = uint32(gid)
	}
	return cred, nil
}
