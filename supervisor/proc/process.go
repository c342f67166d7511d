package proc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tendhq/tend/supervisor/cgroup"
	"github.com/tendhq/tend/supervisor/children"
)

// Process is one incarnation of a worker. Its methods are safe for
// concurrent use.
//
// What belongs to the incarnation is the kernel's answer, in one of two
// ways, never the environment's:
//
//   - with a cgroup (Cgroup() != nil): the members of the incarnation's
//     cgroup, which its leader was born into and which no process that
//     does not run as root can leave;
//   - without: the process-group rule (cgroup.Leader.Owns): members of
//     the leader's process group, in the leader's session, started at or
//     after the leader and no later than its reaping. Descendants that
//     left the group are found only among the daemon's orphans, by their
//     markers (Strays).
type Process struct {
	spawner  *Spawner
	proc     *os.Process // pidfd-backed; never replaced by a bare pid
	identity Identity
	worker   string
	inc      uint64
	out      *outputs        // nil for an adopted process: its files belong to it
	exited   <-chan struct{} // closed by the exit watch; nil: wait in waitid
	group    *cgroup.Group   // nil: the process-group rule
	// watchFD is the pidfd the exit watch knows the process by, when
	// watched (AfterExit).
	watchFD int32
	watched bool
	adopted bool // spawned by an earlier daemon: not our child
	// leader is the process-group rule's view of the incarnation, set
	// before the Process is handed out; its ExitTicks stay 0 and
	// exitTicks holds them, set by Wait when the leader is reaped.
	leader    cgroup.Leader
	exitTicks atomic.Uint64

	once     sync.Once
	done     chan struct{}
	exit     Exit
	released sync.Once
}

// PID is the leader's pid, which is also the process group id.
func (p *Process) PID() int { return p.identity.PID }

// Identity pins this incarnation for re-adoption by a later daemon.
func (p *Process) Identity() Identity { return p.identity }

// Cgroup is the incarnation's cgroup, or nil when its processes are told
// by the process-group rule.
func (p *Process) Cgroup() *cgroup.Group { return p.group }

// Done is closed once the leader has been reaped and Wait's result is set.
func (p *Process) Done() <-chan struct{} { return p.done }

// Wait blocks until the leader exits, reaps it, and closes the daemon's
// copies of the output files. It reaps exactly once; every caller gets the
// same Exit.
func (p *Process) Wait() Exit {
	p.once.Do(func() {
		if p.exited != nil {
			<-p.exited // then the waits below return at once
		}
		if p.adopted {
			p.exit = p.waitAdopted()
		} else {
			ps, err := p.proc.Wait()
			if err != nil {
				p.exit = Exit{Code: -1, Err: fmt.Errorf("proc: wait %q incarnation %d: %w", p.worker, p.inc, err)}
			} else if ws, ok := ps.Sys().(syscall.WaitStatus); ok {
				p.exit = exitFromStatus(ws)
			} else {
				p.exit = Exit{Code: -1, Err: fmt.Errorf("proc: wait %q incarnation %d: no wait status", p.worker, p.inc)}
			}
			children.Done(p.identity.PID)
			p.spawner.forget(p)
			// The child wrote through its own descriptors; closing ours
			// cannot lose its data, so a close error has nothing to
			// report to.
			_ = p.out.close()
		}
		// The rule's upper bound: nothing that starts later can be of
		// this incarnation (its group id is free once its members die).
		if ticks, err := cgroup.BootTicks(); err == nil {
			p.exitTicks.Store(ticks)
		}
		close(p.done)
	})
	return p.exit
}

// AfterExit runs f on a goroutine of its own once the main process has
// exited, when Wait no longer blocks on it: a thousand idle workers then
// hold no goroutine, and no stack, each. Without an exit watch (no pidfd,
// or the Spawner is closing) the goroutine starts at once and f's Wait
// blocks in it.
func (p *Process) AfterExit(f func()) {
	if p.watched && p.spawner.watch.after(p.watchFD, f) {
		return
	}
	go f()
}

// reaped reports whether Wait has reaped the leader.
func (p *Process) reaped() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Signal sends sig to every process of the incarnation.
//
// While the leader is unreaped, its process group gets sig through the
// leader's pidfd with PIDFD_SIGNAL_PROCESS_GROUP: one call, no recycled
// pid can be hit, and no member forked meanwhile is missed. With a
// cgroup, every other member then gets it too (cgroup.Group.SignalExcept:
// each pinned by a pidfd and checked to be a member, and none twice), and
// SIGKILL is cgroup.kill, which nothing escapes. Without a cgroup, once
// the leader is reaped (or on a kernel before 6.9, which lacks the group
// flag), each member by the process-group rule is pinned, checked and
// signalled. A group with nothing left to signal is not an error.
func (p *Process) Signal(sig syscall.Signal) error {
	if p.group != nil && sig == syscall.SIGKILL {
		if err := p.group.Kill(); err != nil {
			return fmt.Errorf("proc: kill %q incarnation %d: %w", p.worker, p.inc, err)
		}
		return nil
	}
	sent, err := p.signalLeaderGroup(sig)
	if err != nil {
		return err
	}
	if p.group != nil {
		var gerr error
		if sent {
			_, gerr = p.group.SignalExcept(sig, p.identity.PID)
		} else {
			_, gerr = p.group.Signal(sig)
		}
		if gerr != nil {
			return fmt.Errorf("proc: signal %q incarnation %d: %w", p.worker, p.inc, gerr)
		}
		return nil
	}
	if sent {
		return nil
	}
	return p.signalMembers(sig)
}

// signalLeaderGroup signals the leader's process group through its pidfd.
// sent is false when that is not possible: the leader was reaped, or the
// kernel lacks PIDFD_SIGNAL_PROCESS_GROUP (EINVAL, before 6.9).
func (p *Process) signalLeaderGroup(sig syscall.Signal) (sent bool, err error) {
	var serr error
	herr := p.proc.WithHandle(func(fd uintptr) {
		serr = unix.PidfdSendSignal(int(fd), sig, nil, unix.PIDFD_SIGNAL_PROCESS_GROUP)
	})
	switch {
	case herr == nil && serr == nil:
		return true, nil
	case herr == nil && (errors.Is(serr, unix.ESRCH) || errors.Is(serr, unix.EINVAL)):
		return false, nil
	case herr == nil:
		return false, fmt.Errorf("proc: signal %q incarnation %d: %w", p.worker, p.inc, serr)
	case errors.Is(herr, os.ErrProcessDone), errors.Is(herr, os.ErrNoHandle):
		return false, nil
	default:
		return false, fmt.Errorf("proc: signal %q incarnation %d: %w", p.worker, p.inc, herr)
	}
}

// owns applies the process-group rule to a process's stat.
func (p *Process) owns(st stat) bool {
	l := p.leader
	l.ExitTicks = p.exitTicks.Load()
	return st.PID != p.spawner.self && !st.Zombie() && l.Owns(st)
}

// members lists the live members of the incarnation's process group by
// the rule. In the usual case, an empty group, the kernel answers and
// /proc is not read.
func (p *Process) members() ([]int, error) {
	if err := unix.Kill(-p.identity.PID, 0); errors.Is(err, unix.ESRCH) {
		return nil, nil
	}
	var out []int
	err := scanStats(func(st stat) bool {
		if p.owns(st) {
			out = append(out, st.PID)
		}
		return true
	})
	return out, err
}

// signalMembers signals each member by the rule, pinned by a pidfd and
// checked again after the pin, so a pid that changed hands is never hit.
func (p *Process) signalMembers(sig syscall.Signal) error {
	pids, err := p.members()
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	for _, pid := range pids {
		if err := signalPinned(pid, sig, p.owns); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("proc: signal %q incarnation %d: %w", p.worker, p.inc, err)
	}
	return nil
}

// signalPinned signals pid if, once pinned by a pidfd, its stat passes
// belongs.
func signalPinned(pid int, sig syscall.Signal, belongs func(stat) bool) error {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return nil // gone
	}
	defer unix.Close(fd)
	st, err := readStat(pid)
	if err != nil || !belongs(st) {
		return nil
	}
	if err := unix.PidfdSendSignal(fd, sig, nil, 0); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("pid %d: %w", pid, err)
	}
	return nil
}

// GroupAlive reports whether anything of the incarnation is alive: the
// leader, unreaped, or anything Remaining counts.
func (p *Process) GroupAlive() bool { return p.Remaining() > 0 }

// Remaining counts what is alive of the incarnation besides its leader
// once the leader has been reaped: the members of its cgroup or, without
// one, the members of its process group by the rule and its strays.
// While the leader is unreaped it counts as one. When it cannot tell, it
// counts one more, to look again.
func (p *Process) Remaining() int {
	if !p.reaped() {
		return 1
	}
	if p.group != nil {
		// cgroup.events first: nearly every leader ends alone, and then
		// this one read is the answer. It counts what the listing does
		// not: members of cgroups a root worker made inside its own.
		// Neither counts a zombie.
		if pop, err := p.group.Populated(); err != nil {
			return 1
		} else if !pop {
			return 0
		}
		pids, err := p.group.Procs()
		if err != nil || len(pids) == 0 {
			return 1
		}
		return len(pids)
	}
	members, err := p.members()
	n := len(members)
	if err != nil {
		n++
	}
	return n + len(p.Strays())
}

// Member reports whether pid is a live process of this incarnation (a
// readiness notification's sender must be): a member of its cgroup or,
// without one, its leader or a member of its process group by the rule.
func (p *Process) Member(pid int) bool {
	if p.group != nil {
		st, err := readStat(pid)
		return err == nil && !st.Zombie() && p.group.Has(pid)
	}
	if pid == p.identity.PID {
		st, err := readStat(pid)
		return err == nil && !st.Zombie() && st.StartTicks == p.identity.StartTicks
	}
	st, err := readStat(pid)
	return err == nil && p.owns(st)
}

// WaitGone blocks, once the leader is reaped, until nothing of the
// incarnation runs any more, or ctx ends (its error is returned then).
// With a cgroup the kernel tells (cgroup.events, through the tree's one
// inotify watch). Without one, the processes Remaining counts are pinned
// with pidfds and waited for, and looked for again whenever one exits.
func (p *Process) WaitGone(ctx context.Context) error {
	select {
	case <-p.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	if p.group != nil {
		// The tree's inotify watch tells at once. Should the daemon have
		// no inotify instance (the per-user limit), the watch never comes:
		// cgroup.events is then read once a second.
		empty := p.group.Empty()
		tick := time.NewTicker(emptyFallback)
		defer tick.Stop()
		for {
			select {
			case <-empty:
				return nil
			case <-tick.C:
				if pop, err := p.group.Populated(); err == nil && !pop {
					return nil
				}
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	for {
		pids, err := p.members()
		if err == nil {
			pids = append(pids, p.Strays()...)
			if len(pids) == 0 {
				return nil
			}
			err = waitAnyExit(ctx, pids)
		} else {
			// /proc could not be read: look again in a moment.
			select {
			case <-time.After(10 * time.Millisecond):
			case <-ctx.Done():
				err = ctx.Err()
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// emptyFallback is how often WaitGone reads cgroup.events itself, in case
// the inotify watch never reports.
const emptyFallback = time.Second

// waitAnyExit returns once one of pids has exited (or was gone already),
// or ctx ends. It polls their pidfds in one call, waking every 100 ms to
// look at ctx.
func waitAnyExit(ctx context.Context, pids []int) error {
	fds := make([]unix.PollFd, 0, len(pids))
	defer func() {
		for _, f := range fds {
			unix.Close(int(f.Fd))
		}
	}()
	for _, pid := range pids {
		fd, err := unix.PidfdOpen(pid, 0)
		if err != nil {
			return nil // gone since it was listed
		}
		fds = append(fds, unix.PollFd{Fd: int32(fd), Events: unix.POLLIN})
	}
	for ctx.Err() == nil {
		n, err := unix.Poll(fds, 100)
		if n > 0 || (err != nil && !errors.Is(err, unix.EINTR)) {
			return nil
		}
	}
	return ctx.Err()
}

// Release gives back what the incarnation holds in the OS once its end is
// recorded: its cgroup is removed, at once if it is empty or else as soon
// as it is (an incarnation whose rest was left running), unless the
// Spawner is closed first. Without a cgroup there is nothing to give back.
func (p *Process) Release() {
	if p.group == nil {
		return
	}
	p.released.Do(func() { p.spawner.linger(p.group) })
}
