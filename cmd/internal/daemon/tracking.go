package daemon

import (
	"errors"
	"fmt"
	"strings"

	"github.com/tendhq/tend/cmd/internal/client"
	"github.com/tendhq/tend/cmd/internal/config"
	"github.com/tendhq/tend/supervisor/cgroup"
)

// tracking is how the daemon tells which processes belong to a worker
// incarnation, as its start event, its log, `tend status` and `tend check`
// say it.
type tracking struct {
	mode  string // "cgroup" or "pgroup"
	where string // the cgroup subtree's directory; "" for pgroup
	info  string // the subtree, how it was had, how groups are killed, the controllers
	why   string // for pgroup: why no cgroups
}

const (
	modeCgroup = "cgroup"
	modePgroup = "pgroup"
)

// about is the sentence of the start event.
func (t tracking) about() string {
	if t.mode == modeCgroup {
		return "processes tracked by cgroup: " + t.info
	}
	return "processes tracked by process group: " + t.why
}

func (t tracking) status() *client.Tracking {
	return &client.Tracking{Mode: t.mode, Where: t.where, Why: t.why}
}

// unavailable words why cgroups are not used, without the package prefix.
func unavailable(err error) string {
	return strings.TrimPrefix(err.Error(), "cgroup: not used: ")
}

// openTracking decides how the daemon tracks its workers' processes:
// process_tracking = "pgroup" takes process groups; "auto" takes a cgroup
// subtree where one can be had, and says why not where not; "cgroup"
// refuses to start without one, and takes the daemon's own cgroup as
// delegated to it where nothing marks it so (systemd before 251 sets no
// trusted.delegate on a Delegate=yes unit). instance is the log's path.
func openTracking(cfg *config.Config, instance string, onOOM func(cgroup.OOM)) (*cgroup.Tree, tracking, error) {
	mode := cfg.Daemon.ProcessTracking
	if mode == config.TrackingPgroup {
		return nil, tracking{mode: modePgroup, why: `process_tracking = "pgroup"`}, nil
	}
	tree, err := cgroup.Open(cgroup.InstanceID(instance), cgroup.Options{OnOOM: onOOM, Delegated: mode == config.TrackingCgroup})
	switch {
	case err == nil:
		info := tree.Info()
		return tree, tracking{mode: modeCgroup, where: info.Dir, info: info.String()}, nil
	case errors.Is(err, cgroup.ErrUnavailable) && mode != config.TrackingCgroup:
		return nil, tracking{mode: modePgroup, why: "cgroups not used: " + unavailable(err) + delegationHint(err)}, nil
	default:
		return nil, tracking{}, cfg.KeyError(fmt.Errorf("cannot track processes by cgroup: %w", err), "daemon", "process_tracking")
	}
}

// delegationHint says how to tell tend that its cgroup is its own, where
// that is what stood in the way.
func delegationHint(err error) string {
	var ue *cgroup.UnavailableError
	if errors.As(err, &ue) && ue.Reason == cgroup.NotDelegated {
		return `; process_tracking = "cgroup" takes the daemon's cgroup as delegated to it`
	}
	return ""
}

// kernelLimits refuses a configuration whose kernel-enforced limits this
// daemon's workers cannot have: no cgroups, or a controller that is not
// enabled for them.
func kernelLimits(cfg *config.Config, tree *cgroup.Tree, t tracking) error {
	return cfg.CheckKernelLimits(func(ctrl string) (bool, string) {
		switch {
		case tree == nil:
			return false, "processes are tracked by process group (" + t.why + ")"
		case tree.Enabled(ctrl):
			return true, ""
		}
		return false, tree.Info().Missing[ctrl]
	})
}

// CheckTracking is `tend check`'s view of process tracking: a line saying
// what the daemon would take, as far as can be told from where check runs,
// warnings where it cannot tell, and an error (at its key and line) for
// what the daemon would refuse on this host whatever its cgroup: cgroup
// tracking or a kernel-enforced limit where the host has no cgroup v2 that
// could give it. A daemon under systemd sits in a cgroup of its own, which
// check cannot see from a login session: the daemon's start says for sure.
func CheckTracking(cfg *config.Config) (line string, warnings []string, err error) {
	if cfg.Daemon.ProcessTracking == config.TrackingPgroup {
		line = `process tracking: by process group (process_tracking = "pgroup")`
		return line, nil, kernelLimits(cfg, nil, tracking{mode: modePgroup, why: `process_tracking = "pgroup"`})
	}
	info, perr := cgroup.Probe(cgroup.InstanceID(DBPath(cfg.Daemon.StateDir)),
		cgroup.Options{Delegated: cfg.Daemon.ProcessTracking == config.TrackingCgroup})
	if perr == nil {
		line = "process tracking: by cgroup, under " + info.Dir + " (" + info.Mode.String() + ")"
		if len(info.Controllers) > 0 {
			line += "; controllers for workers: " + strings.Join(info.Controllers, " ")
		}
		err = cfg.CheckKernelLimits(func(ctrl string) (bool, string) {
			for _, c := range info.Controllers {
				if c == ctrl {
					return true, ""
				}
			}
			return false, info.Missing[ctrl]
		})
		return line, nil, err
	}
	var ue *cgroup.UnavailableError
	if !errors.As(perr, &ue) {
		return "", nil, perr
	}
	hostWide := ue.Reason == cgroup.NoCgroup2 || ue.Reason == cgroup.OldKernel || ue.Reason == cgroup.Clone3Blocked
	if !hostWide {
		// NotDelegated, NotVisible, NotWritable, NoUnifiedEntry: about
		// where check runs, which is not where the daemon will.
		line = "process tracking: cannot tell from here (" + unavailable(perr) + "); the daemon says at its start"
		if cfg.Daemon.ProcessTracking == config.TrackingCgroup {
			warnings = append(warnings, `process_tracking = "cgroup": the daemon refuses to start where it cannot have a cgroup subtree; from here: `+unavailable(perr))
		}
		for _, name := range cfg.Order {
			for _, kc := range cfg.Workers[name].Limits.KernelControllers() {
				warnings = append(warnings, fmt.Sprintf("worker.%s.limits.%s needs the cgroup %s controller: cannot tell from here whether the daemon's workers get it; the daemon refuses to start without it", name, kc[0], kc[1]))
			}
		}
		return line, warnings, nil
	}
	line = "process tracking: by process group (" + unavailable(perr) + ")"
	if cfg.Daemon.ProcessTracking == config.TrackingCgroup {
		return line, nil, cfg.KeyError(fmt.Errorf("cannot track processes by cgroup on this host: %w", perr), "daemon", "process_tracking")
	}
	return line, nil, kernelLimits(cfg, nil, tracking{mode: modePgroup, why: unavailable(perr)})
}
