package proc

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tendhq/tend/supervisor/cgroup"
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
	return err == nil && !st.Zombie() && st.StartTicks == startTicks
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
//
// With cgroups, the incarnation keeps its cgroup when the leader is in it
// (a worker started by a daemon that tracked by process group has none,
// and is tracked by the rule). The leader's session becomes one whose
// members' markers Leftovers believes: it is the session of the daemon
// that spawned it, and only that daemon's descendants are in it.
func (s *Spawner) Adopt(worker string, inc uint64, id Identity) (*Process, error) {
	p, err := s.adopt(worker, inc, id, true)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.trusted[p.leader.Session] = true
	s.mu.Unlock()
	return p, nil
}

func (s *Spawner) adopt(worker string, inc uint64, id Identity, watch bool) (*Process, error) {
	if !Same(id.PID, id.StartTicks, id.BootID) {
		return nil, fmt.Errorf("proc: adopt %q pid %d: %w", worker, id.PID, ErrNotSame)
	}
	osp, err := os.FindProcess(id.PID)
	if err != nil {
		return nil, fmt.Errorf("proc: adopt %q pid %d: %w", worker, id.PID, err)
	}
	st, err := readStat(id.PID)
	if err != nil || st.Zombie() || st.StartTicks != id.StartTicks || !Same(id.PID, id.StartTicks, id.BootID) {
		osp.Release()
		return nil, fmt.Errorf("proc: adopt %q pid %d: %w", worker, id.PID, ErrNotSame)
	}
	p := &Process{
		spawner: s, proc: osp, identity: id, worker: worker, inc: inc,
		done: make(chan struct{}), adopted: true,
		leader: cgroup.Leader{PID: id.PID, StartTicks: id.StartTicks, Session: st.Session},
	}
	if s.tree != nil {
		if g, err := s.tree.Adopt(worker, inc); err == nil && g.Has(id.PID) {
			p.group = g
		}
	}
	if watch {
		s.watchExit(p)
	}
	return p, nil
}

// Leftover is what an earlier daemon of this instance left of one
// incarnation, for recovery to adopt or discard: its cgroup or, without
// cgroups, a process group leader that carries its markers.
type Leftover struct {
	Worker      string
	Incarnation uint64
	// Leader is the incarnation's main process as far as the kernel can
	// tell (PID 0 when it cannot): in a cgroup, the member that started
	// first, if it leads its own process group.
	Leader Identity
	// Procs is how many live processes it holds; 0 for an empty cgroup.
	Procs int
	// Cgroup says it is the incarnation's cgroup, with everything in it;
	// otherwise it is one process group leader carrying its markers.
	Cgroup bool
}

// Leftovers lists what earlier daemons of this instance left behind.
//
// With cgroups it is every incarnation cgroup of the daemon's subtree,
// empty ones included: exactly their processes, whatever their
// environment, and nothing else. Without, it is the live process group
// leaders that carry the markers of this instance (FindMarked), but only
// those in a session this daemon trusts: its own, and those of workers it
// adopted by their recorded identity (Adopt first). Markers can be copied
// by any process; a session can only be inherited, so a process in one of
// those descends from a daemon of this host's tend, not from a decoy.
func (s *Spawner) Leftovers(instance string) ([]Leftover, error) {
	if s.tree != nil {
		found, err := s.tree.List()
		if err != nil {
			return nil, err
		}
		out := make([]Leftover, 0, len(found))
		for _, f := range found {
			l := Leftover{Worker: f.Worker, Incarnation: f.Incarnation, Procs: len(f.Procs), Cgroup: true}
			if f.Populated && l.Procs == 0 {
				l.Procs = 1 // in cgroups made inside it, which Procs does not list
			}
			l.Leader = s.firstBorn(f.Procs)
			out = append(out, l)
		}
		return out, nil
	}
	ms, err := s.trustedMarked(instance)
	var out []Leftover
	for _, m := range ms {
		// A hook runs beside an incarnation, not as one: recovery finds
		// hooks on their own (LeftoverHooks).
		if m.Hook == "" {
			out = append(out, Leftover{Worker: m.Worker, Incarnation: m.Incarnation, Leader: m.Identity, Procs: 1})
		}
	}
	return out, err
}

// trustedMarked is FindMarked, keeping only the processes in a session
// this Spawner trusts: markers can be copied by any process, a session
// can only be inherited.
func (s *Spawner) trustedMarked(instance string) ([]Marked, error) {
	ms, err := FindMarked(instance)
	s.mu.Lock()
	defer s.mu.Unlock()
	kept := ms[:0]
	for _, m := range ms {
		if s.trusted[m.Session] {
			kept = append(kept, m)
		}
	}
	return kept, err
}

// HookLeftover is a hook an earlier daemon of this instance started that
// still runs: its cgroup or, without cgroups, the process group leader
// carrying its markers in a session this Spawner trusts.
type HookLeftover struct {
	Worker      string
	Kind        string
	Incarnation uint64 // the incarnation it ran for
	// Leader is its main process as far as the kernel can tell (PID 0
	// when it cannot): in a cgroup, the member that started first, if it
	// leads its own process group.
	Leader Identity
	Procs  int  // how many live processes its cgroup holds; 1 without
	Cgroup bool // found by its cgroup, with everything in it
	// Run is the daemon run that started it, from its markers: "" when
	// found by its cgroup, which this daemon's own hooks are told from by
	// the Tree (Found.Mine).
	Run string
}

// LeftoverHooks lists the hooks earlier daemons of this instance left
// running. With cgroups it is every populated hook group this daemon did
// not make, whatever its members' environment says. Without, it is the
// process group leaders carrying a hook's markers in a session this
// Spawner trusts (its own, and those of the workers it adopted: Adopt
// first), as Leftovers takes incarnations: a decoy that copied the
// markers in a session of its own is never taken for one, nor killed.
func (s *Spawner) LeftoverHooks(instance string) ([]HookLeftover, error) {
	if s.tree != nil {
		found, err := s.tree.Hooks()
		if err != nil {
			return nil, err
		}
		var out []HookLeftover
		for _, f := range found {
			if f.Mine || !f.Populated {
				continue // this daemon's own, or gone (RemoveEmpty takes it)
			}
			out = append(out, HookLeftover{Worker: f.Worker, Kind: f.Hook, Incarnation: f.Incarnation,
				Leader: s.firstBorn(f.Procs), Procs: max(len(f.Procs), 1), Cgroup: true})
		}
		return out, nil
	}
	ms, err := s.trustedMarked(instance)
	var out []HookLeftover
	for _, m := range ms {
		if m.Hook != "" {
			out = append(out, HookLeftover{Worker: m.Worker, Kind: m.Hook, Incarnation: m.HookInc,
				Leader: m.Identity, Procs: 1, Run: m.HookRun})
		}
	}
	return out, err
}

// EndHook kills a hook an earlier daemon left (LeftoverHooks) with
// everything of it: its cgroup (cgroup.kill, which nothing escapes) or,
// without, its process group. It waits up to wait for it to be gone, so
// that the hook run again never runs beside its earlier self, and
// removes its cgroup once it is empty. A hook gone meanwhile is not an
// error.
func (s *Spawner) EndHook(h HookLeftover, wait time.Duration) error {
	if h.Cgroup {
		if s.tree == nil {
			return fmt.Errorf("proc: end hook %q of %q: %w", h.Kind, h.Worker, ErrNoCgroup)
		}
		g, err := s.tree.AdoptHook(h.Worker, h.Incarnation, h.Kind)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := g.Kill(); err != nil {
			return err
		}
		select {
		case <-g.Empty():
		case <-time.After(wait):
			s.linger(g)
			return fmt.Errorf("proc: hook %q of %q was killed but is not gone after %v", h.Kind, h.Worker, wait)
		}
		s.linger(g)
		return nil
	}
	p, err := s.adopt(h.Worker, 0, h.Leader, true)
	if err != nil {
		return nil // gone meanwhile, or no longer the process found
	}
	_ = p.Signal(syscall.SIGKILL)
	done := make(chan struct{})
	go func() { p.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-time.After(wait):
		return fmt.Errorf("proc: hook %q of %q (pid %d) was killed but is not gone after %v", h.Kind, h.Worker, h.Leader.PID, wait)
	}
}

// firstBorn is the identity of the member of a cgroup that started first,
// if it leads a process group of its own: the incarnation's leader, which
// was born into the group before anything it forked.
func (s *Spawner) firstBorn(pids []int) Identity {
	var first stat
	for _, pid := range pids {
		st, err := readStat(pid)
		if err != nil || st.Zombie() {
			continue
		}
		if first.PID == 0 || st.StartTicks < first.StartTicks {
			first = st
		}
	}
	if first.PID == 0 || first.PGRP != first.PID {
		return Identity{}
	}
	return Identity{PID: first.PID, StartTicks: first.StartTicks, BootID: s.bootID}
}

// Discard ends a leftover recovery will not adopt. With kill it is killed
// (with cgroups, cgroup.kill: nothing of it escapes; without, SIGKILL to
// its leader's process group), and it reports how many processes it
// killed. An empty cgroup, or one whose processes are left running, is
// removed once it is empty.
func (s *Spawner) Discard(l Leftover, kill bool) (int, error) {
	if s.tree != nil {
		g, err := s.tree.Adopt(l.Worker, l.Incarnation)
		if errors.Is(err, fs.ErrNotExist) {
			return 0, nil
		}
		if err != nil {
			return 0, err
		}
		n := 0
		if kill {
			if pop, _ := g.Populated(); pop {
				pids, _ := g.Procs()
				n = max(len(pids), 1)
				if err := g.Kill(); err != nil {
					return n, err
				}
			}
		}
		s.linger(g)
		return n, nil
	}
	if !kill || l.Leader.PID == 0 {
		return 0, nil
	}
	p, err := s.adopt(l.Worker, l.Incarnation, l.Leader, false)
	if err != nil {
		return 0, nil // gone meanwhile, or no longer the process found
	}
	defer p.proc.Release()
	members, _ := p.members()
	n := max(len(members), 1)
	return n, p.Signal(syscall.SIGKILL)
}

// linger removes g now if it is empty, or else once it is, unless the
// Spawner closes first (then it stays for a later daemon to find).
func (s *Spawner) linger(g *cgroup.Group) {
	if err := g.Remove(); !errors.Is(err, cgroup.ErrPopulated) {
		s.report(err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		select {
		case <-g.Empty():
			s.report(g.Remove())
		case <-s.stop:
		}
	}()
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
	Session     int // its session id, which its markers cannot fake
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
		if st.PGRP != st.PID || st.Zombie() {
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
			m.Session = st.Session
			out = append(out, m)
		}
		return true
	})
	return out, err
}
