package config

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
	"golang.org/x/sys/unix"

	"github.com/tendhq/tend/cmd/internal/peer"
	"github.com/tendhq/tend/supervisor/health"
	"github.com/tendhq/tend/supervisor/logfile"
)

// Validate runs the checks that depend on the host rather than the file:
// every user and group named must exist, every command with its
// environment must fit in what execve accepts here (execArgLimit), no
// limit on open files may pass the kernel's fs.nr_open, no user other than
// root and the worker may be able to write the directories on the way to a
// worker's output files (unless allow_shared_output_dir says so), and each
// socket's path must be free or hold a socket (tend replaces only a stale
// socket, never a file that happens to be there). It is separate from Parse
// so a config can be checked on a machine other than the one it is for.
func (c *Config) Validate() error {
	var errs Errors
	add := func(key toml.Key, fallback int, err error) {
		errs = append(errs, c.errorAt(key, fallback, err.Error(), err))
	}
	// Many workers name the same user and group; each lookup reads the
	// user database, so each name is looked up once.
	userErr, groupErr := memoize(lookupUser), memoize(lookupGroup)
	base, limit := environBytes(), execArgLimit()
	dirs := map[dirCheck]error{}
	type ids struct {
		uid, gid uint32
		err      error
	}
	idsOf := map[[2]string]ids{}
	if g := c.Daemon.SocketGroup; g != "" {
		if err := groupErr(g); err != nil {
			add(toml.Key{"daemon", "socket_group"}, 0, err)
		}
	}
	c.validateExport(add)
	if err := peer.CheckPath(c.Daemon.Socket); err != nil {
		add(c.SocketKey(), 0, err)
	}
	if p := c.Daemon.RPCSocket(); p != "" {
		if err := peer.CheckPath(p); err != nil {
			add(toml.Key{"daemon", "supervisor_rpc"}, 0, err)
		}
	}
	for _, wname := range c.Order {
		w := c.Workers[wname]
		if w == nil {
			continue
		}
		// Keys and messages name the table the worker is written in: the
		// instances of a template share it, and its problems.
		name := w.TableName()
		if w.User != "" {
			if err := userErr(w.User); err != nil {
				add(toml.Key{"worker", name, "user"}, w.Line, fmt.Errorf("worker %q: %w", name, err))
			}
		}
		if w.Group != "" {
			if err := groupErr(w.Group); err != nil {
				add(toml.Key{"worker", name, "group"}, w.Line, fmt.Errorf("worker %q: %w", name, err))
			}
		}
		if err := checkExecSize(w.Command, c.workerEnvFromFiles(w), base, limit); err != nil {
			add(toml.Key{"worker", name, "command"}, w.Line, err)
		}
		for kind, cmd := range w.Hooks.ByKind() {
			if err := checkExecSize(cmd, w.Env, base, limit); err != nil {
				add(toml.Key{"worker", name, kind}, w.Line, err)
			}
		}
		if h := w.Health; h != nil && h.Type == health.TypeExec {
			if err := checkExecSize(h.Command, nil, base, limit); err != nil {
				add(toml.Key{"worker", name, "health", "command"}, w.Line, err)
			}
		}
		for _, r := range w.Rlimits {
			if r.Resource != unix.RLIMIT_NOFILE {
				continue
			}
			if max, err := nrOpen(); err == nil && r.Hard > max {
				add(toml.Key{"worker", name, "rlimits", r.Name}, w.Line,
					fmt.Errorf("worker %q: %d open files is above this host's maximum, fs.nr_open = %d", name, r.Hard, max))
			}
		}
		id, ok := idsOf[[2]string{w.User, w.Group}]
		if !ok {
			id.uid, id.gid, id.err = workerIDs(w)
			idsOf[[2]string{w.User, w.Group}] = id
		}
		if id.err != nil {
			continue // reported above
		}
		uid, gid := id.uid, id.gid
		checked := ""
		for _, out := range []struct{ key, path string }{{"stdout", w.Stdout}, {"stderr", w.Stderr}} {
			if out.path == Console {
				continue // the daemon's own: nothing of the worker's to judge
			}
			dir := filepath.Dir(out.path)
			if dir == checked {
				continue
			}
			checked = dir
			k := dirCheck{dir, uid, gid}
			err, ok := dirs[k]
			if !ok {
				err = logfile.CheckDir(dir, uid, gid)
				dirs[k] = err
			}
			if err := outputDirError(w, out.key, uid, err); err != nil {
				add(toml.Key{"worker", name, out.key}, w.Line, err)
			}
		}
	}
	return errs.dedup().err(c.src.files...)
}

// nrOpenPath holds the kernel's ceiling on a process's open files: a
// hard RLIMIT_NOFILE above it is refused with EPERM, even to root.
var nrOpenPath = "/proc/sys/fs/nr_open"

func nrOpen() (uint64, error) {
	b, err := os.ReadFile(nrOpenPath)
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
}

type dirCheck struct {
	dir      string
	uid, gid uint32
}

// outputDirError words what logfile.CheckDir found for the worker's key
// (stdout or stderr), or returns nil when it found nothing or the worker
// accepts a shared directory.
func outputDirError(w *Worker, key string, uid uint32, err error) error {
	var shared *logfile.SharedDirError
	var unsafe *logfile.UnsafeError
	switch {
	case errors.As(err, &shared):
		if w.AllowSharedOutputDir {
			return nil
		}
		return fmt.Errorf("worker %q: %s is in %s (or below it), which is writable by %s, not only by root and the worker (uid %d): "+
			"whoever can write there could swap the output files, or a directory on the way to them, for links to files only root may write, "+
			"and read what the worker writes; make it writable only by root and the worker, or set allow_shared_output_dir = true to accept that",
			w.Name, key, shared.Dir, shared.Writer, uid)
	case errors.As(err, &unsafe):
		return fmt.Errorf("worker %q: %s: %v", w.Name, key, unsafe)
	}
	return nil
}

// workerIDs is the uid and gid the worker runs as, looked up as the daemon
// does: its user's, its group's, or else the daemon's own (taken to be
// this process's).
func workerIDs(w *Worker) (uid, gid uint32, err error) {
	uid, gid = uint32(os.Geteuid()), uint32(os.Getegid())
	if w.User != "" {
		var u *user.User
		if numeric(w.User) {
			u, err = user.LookupId(w.User)
		} else {
			u, err = user.Lookup(w.User)
		}
		if err != nil {
			return 0, 0, err
		}
		uid, gid = parseID(u.Uid), parseID(u.Gid)
	}
	if w.Group != "" {
		var g *user.Group
		if numeric(w.Group) {
			g, err = user.LookupGroupId(w.Group)
		} else {
			g, err = user.LookupGroup(w.Group)
		}
		if err != nil {
			return 0, 0, err
		}
		gid = parseID(g.Gid)
	}
	return uid, gid, nil
}

func parseID(s string) uint32 {
	n, _ := strconv.ParseUint(s, 10, 32)
	return uint32(n)
}

func numeric(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

func lookupUser(name string) error {
	var err error
	if numeric(name) {
		_, err = user.LookupId(name)
	} else {
		_, err = user.Lookup(name)
	}
	var unknownName user.UnknownUserError
	var unknownID user.UnknownUserIdError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &unknownName), errors.As(err, &unknownID):
		return errors.New("no such user on this host")
	}
	// Not err itself: it repeats the name. The key and line name the user.
	return errors.New("cannot look up the user: the user database failed")
}

func lookupGroup(name string) error {
	var err error
	if numeric(name) {
		_, err = user.LookupGroupId(name)
	} else {
		_, err = user.LookupGroup(name)
	}
	var unknownName user.UnknownGroupError
	var unknownID user.UnknownGroupIdError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &unknownName), errors.As(err, &unknownID):
		return errors.New("no such group on this host")
	}
	return errors.New("cannot look up the group: the user database failed")
}

// memoize remembers f's answer for each name.
func memoize(f func(string) error) func(string) error {
	seen := map[string]error{}
	return func(name string) error {
		err, ok := seen[name]
		if !ok {
			err = f(name)
			seen[name] = err
		}
		return err
	}
}

// errorAt is a problem of key, at its line or else at fallback.
func (c *Config) errorAt(key toml.Key, fallback int, msg string, err error) *Error {
	src := c.src.sourceOf(key)
	line := src.lines().find(key)
	if line == 0 {
		line = fallback
	}
	return &Error{File: src.file, Line: line, Key: key.String(), Msg: msg, Err: err}
}

// KeyError reports err as a problem of key (e.g. "daemon", "socket") at its
// line in the file, for what is found wrong after loading: a socket path
// that changed between "tend check" and the daemon's start.
func (c *Config) KeyError(err error, key ...string) error {
	return Errors{c.errorAt(key, 0, err.Error(), err)}
}

// CheckKernelLimits refuses every kernel-enforced limit (memory_max,
// memory_high, cpu_max, pids_max) whose cgroup controller is not there for
// the workers, at its key and line, with why: have says, for a controller,
// whether workers get it and, when not, the reason. It is separate from
// Validate because only the daemon, in its own cgroup, knows for sure;
// `tend check` asks the same of what it can see from where it runs.
func (c *Config) CheckKernelLimits(have func(controller string) (ok bool, why string)) error {
	var errs Errors
	for _, name := range c.Order {
		w := c.Workers[name]
		if w == nil {
			continue
		}
		for _, kc := range w.Limits.KernelControllers() {
			if ok, why := have(kc[1]); !ok {
				key := toml.Key{"worker", name, "limits", kc[0]}
				msg := fmt.Sprintf("worker %q: needs the cgroup %s controller for its workers: %s", name, kc[1], why)
				errs = append(errs, c.errorAt(key, w.Line, msg, nil))
			}
		}
	}
	return errs.err()
}
