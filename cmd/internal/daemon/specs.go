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
		cred, err := ids.credential(w.User, w.Group)
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
		}
		if digest != nil {
			s.Hash = digest([]byte(w.Hash))
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
func (c *idCache) credential(userName, groupName string) (*syscall.Credential, error) {
	if userName == "" && groupName == "" {
		return nil, nil
	}
	cred := &syscall.Credential{Uid: uint32(syscall.Getuid()), Gid: uint32(syscall.Getgid())}
	if userName != "" {
		u, err := cached(&c.users, userName, user.Lookup)
		if err != nil {
			return nil, fmt.Errorf("user %q: %w", userName, err)
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		cred.Uid, cred.Gid = uint32(uid), uint32(gid)
	}
	if groupName != "" {
		g, err := cached(&c.groups, groupName, user.LookupGroup)
		if err != nil {
			return nil, fmt.Errorf("group %q: %w", groupName, err)
		}
		gid, _ := strconv.ParseUint(g.Gid, 10, 32)
		cred.Gid = uint32(gid)
	}
	return cred, nil
}
