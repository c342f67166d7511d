package proc

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrExitUnknown is the Err of an adopted process's Exit: it is not our
// child, so the kernel gives its exit status to someone else.
var ErrExitUnknown = errors.New("exit status unknown (process adopted after a daemon restart)")

// ErrNotSame says a pid no longer belongs to the process a log recorded:
// it exited, or the pid was reused, or the machine rebooted.
var ErrNotSame = errors.New("proc: not the recorded process")

// Same reports whether pid is still the live (not zombie) process with
// this start time in this boot. A pid alone is never trusted.
func Same(pid int, startTicks uint64, bootID string) bool {
	if pid <= 0 || startTicks == 0 {
		return false
	}
	if b, err := readBootID(); err != nil || b != bootID {
		return false
	}
	st, err := readStat(pid)
	return err == nil && !st.zombie() && st.StartTicks == startTicks
}

// IdentityOf reads the identity of a live process (pid, start time, boot).
func IdentityOf(pid int) (Identity, error) {
	boot, err := readBootID()
	if err != nil {
		return Identity{}, err
	}
	st, err := readStat(pid)
	if err != nil {
		return Identity{}, err
	}
	return Identity{PID: pid, StartTicks: st.StartTicks, BootID: boot}, nil
}

// Adopt takes over a worker process that a previous daemon spawned and
// that outlived it. The process is pinned with a pidfd and its identity
// checked again after pinning, so a pid reused in between is refused
// (ErrNotSame). Wait then watches the pidfd; its Exit has Err
// ErrExitUnknown, since another process reaps it.
func (s *Spawner) Adopt(worker string, inc uint64, id Identity) (*Process, error) {
	if !Same(id.PID, id.StartTicks, id.BootID) {
		return nil, fmt.Errorf("proc: adopt %q pid %d: %w", worker, id.PID, ErrNotSame)
	}
	osp, err := os.FindProcess(id.PID)
	if err != nil {
		return nil, fmt.Errorf("proc: adopt %q pid %d: %w", worker, id.PID, err)
	}
	if !Same(id.PID, id.StartTicks, id.BootID) {
		osp.Release()
		return nil, fmt.Errorf("proc: adopt %q pid %d: %w", worker, id.PID, ErrNotSame)
	}
	wm, im := markers(worker, inc)
	return &Process{
		spawner: s, proc: osp, identity: id, worker: worker, inc: inc,
		wMarker: wm, iMarker: im, done: make(chan struct{}), adopted: true,
		exited: s.watchExit(osp),
	}, nil
}

// waitAdopted blocks until the pidfd says the process exited (at once
// when the exit watch already said so).
func (p *Process) waitAdopted() Exit {
	var perr error
	err := p.proc.WithHandle(func(fd uintptr) {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		for {
			_, perr = unix.Poll(fds, -1)
			if perr == nil || !errors.Is(perr, unix.EINTR) {
				return
			}
		}
	})
	if err == nil {
		err = perr
	}
	if err != nil && !errors.Is(err, os.ErrProcessDone) {
		return Exit{Code: -1, Err: fmt.Errorf("proc: watch adopted %q pid %d: %w", p.worker, p.identity.PID, err)}
	}
	return Exit{Code: -1, Err: ErrExitUnknown}
}

// EnvInstance marks which daemon's log a worker belongs to, so that a
// daemon never mistakes another tend's workers on the same host for its own.
// The supervisor sets it in Spec.Env.
const EnvInstance = "TEND_INSTANCE"

// A hook (a command run around a worker's life) is spawned with
// Incarnation 0, so its markers name no incarnation: it is never taken
// for a member, a stray or the leader of one. The supervisor sets these
// in its Spec.Env instead: which hook it is, and for which incarnation.
const (
	EnvHook            = "TEND_HOOK"
	EnvHookIncarnation = "TEND_HOOK_INCARNATION"
	// EnvHookRun names the daemon run that started the hook, so that a
	// daemon recovering from an earlier one's crash tells that one's hooks
	// from those it has started itself.
	EnvHookRun = "TEND_HOOK_RUN"
)

// Marked is a live process group leader carrying tend's markers: a
// worker's incarnation, or a hook (Hook set, Incarnation 0, HookInc the
// incarnation it runs for).
type Marked struct {
	Worker      string
	Incarnation uint64
	Hook        string
	HookInc     uint64
	HookRun     string
	Identity    Identity
}

// FindMarked lists live process group leaders whose environment carries
// TEND_INSTANCE=instance: the workers of that daemon, found after a crash
// even when the log never learned their pid, and its hooks.
func FindMarked(instance string) ([]Marked, error) {
	boot, err := readBootID()
	if err != nil {
		return nil, err
	}
	want := EnvInstance + "=" + instance
	var out []Marked
	err = scanStats(func(st stat) bool {
		if st.PGRP != st.PID || st.zombie() {
			return true
		}
		b, err := os.ReadFile(procRoot + "/" + strconv.Itoa(st.PID) + "/environ")
		if err != nil {
			return true
		}
		var m Marked
		mine := false
		for kv := range bytes.SplitSeq(b, []byte{0}) {
			s := string(kv)
			switch {
			case s == want:
				mine = true
			case strings.HasPrefix(s, EnvWorker+"="):
				m.Worker = s[len(EnvWorker)+1:]
			case strings.HasPrefix(s, EnvIncarnation+"="):
				m.Incarnation, _ = strconv.ParseUint(s[len(EnvIncarnation)+1:], 10, 64)
			case strings.HasPrefix(s, EnvHook+"="):
				m.Hook = s[len(EnvHook)+1:]
			case strings.HasPrefix(s, EnvHookIncarnation+"="):
				m.HookInc, _ = strconv.ParseUint(s[len(EnvHookIncarnation)+1:], 10, 64)
			case strings.HasPrefix(s, EnvHookRun+"="):
				m.HookRun = s[len(EnvHookRun)+1:]
			}
		}
		if m.Incarnation != 0 {
			m.Hook, m.HookInc, m.HookRun = "", 0, "" // a worker's own: what it says of hooks is not believed
		}
		if mine && m.Worker != "" && (m.Incarnation != 0 || m.Hook != "" && m.HookInc != 0) {
			m.Identity = Identity{PID: st.PID, StartTicks: st.StartTicks, BootID: boot}
			out = append(out, m)
		}
		return true
	})
	return out, err
}
