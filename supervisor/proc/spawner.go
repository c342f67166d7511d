package proc

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tendhq/tend/supervisor/cgroup"
	"github.com/tendhq/tend/supervisor/children"
	"github.com/tendhq/tend/supervisor/proc/launch"
)

// Options configures a Spawner. The zero value is usable.
type Options struct {
	// Subreaper makes the daemon the parent of orphaned worker descendants
	// (PR_SET_CHILD_SUBREAPER) and runs a reaper for them. Without it they
	// are reparented to init, which in a container may never reap them.
	// Only one Spawner per process should set it.
	Subreaper bool
	// RotateEvery is how often live output files are checked against
	// their LogMaxSize: a file can grow past it by what its worker writes
	// in this time. A check is one fstatat per file. Default 1 s.
	RotateEvery time.Duration
	// ReapEvery is the reaper's sweep interval, a backstop for coalesced
	// or missed SIGCHLDs. Default 10 s.
	ReapEvery time.Duration
	// ReapDelay is how long the reaper lets SIGCHLDs gather before a
	// pass. Default 50 ms.
	ReapDelay time.Duration
	// ReapGrace is how long a zombie child that may have an owner in the
	// daemon (a probe's, in the daemon's process group) is left to it
	// before the reaper takes it as an orphan. Default 1 s.
	ReapGrace time.Duration
	// OnError, if set, receives errors from the background goroutines
	// (rotation, reaping). It is called from those goroutines and must not
	// block.
	OnError func(error)
	// Cgroups, when set, gives every incarnation a cgroup of its own in
	// this tree, which it is born into: membership, signals, the end of
	// an incarnation and recovery are then the kernel's answers. nil means
	// the process-group rule (cgroup.Leader.Owns). The Spawner owns the
	// tree from then on: Close removes its empty groups and closes it.
	Cgroups *cgroup.Tree
}

// Spawner starts incarnations and owns reaping for the whole daemon.
type Spawner struct {
	watch    *exitWatch // tells exits without a thread per worker
	opts     Options
	bootID   string
	self     int
	selfPgid int
	selfSid  int

	tree *cgroup.Tree // nil: process groups

	// mu guards live, closed, forking, staged and trusted.
	mu      sync.Mutex
	live    map[int]*Process // unreaped worker leaders by pid
	closed  bool
	forking int // Starts past the closed check and not yet done with /dev/null
	// staged is what Stage made ahead of a worker's next Start, by worker:
	// at most one each, taken by that Start, or undone by the next Stage,
	// by Unstage or by Close.
	staged map[string]*staged
	// trusted are the sessions whose members may be taken for this
	// instance's by their markers (see Leftovers): the daemon's own, and
	// those of worker leaders adopted by their recorded identity.
	trusted map[int]bool

	// reapMu makes reaper passes one at a time; it guards lingering, the
	// zombies the last pass left to their owners.
	reapMu    sync.Mutex
	lingering map[int]lingering
	scans     atomic.Int64 // reaper passes that read the children lists

	bufs sync.Pool // *[]byte for reading children files

	// null is /dev/null, opened once: every worker's stdin, and any
	// output configured as "".
	null    *os.File
	paths   pathCache
	threads forkThreads // every fork but the launcher's

	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// NewSpawner prepares a Spawner and starts its rotation goroutine and, with
// opts.Subreaper, its reaper. It sets close-on-exec on every descriptor of
// the process from 3 up (see startProcess).
func NewSpawner(opts Options) (*Spawner, error) {
	if opts.RotateEvery <= 0 {
		opts.RotateEvery = time.Second
	}
	if opts.ReapEvery <= 0 {
		opts.ReapEvery = 10 * time.Second
	}
	if opts.ReapDelay <= 0 {
		opts.ReapDelay = 50 * time.Millisecond
	}
	if opts.ReapGrace <= 0 {
		opts.ReapGrace = time.Second
	}
	// Every spawn does this again; doing it now also covers what the
	// daemon runs by other means (health probes) from the start.
	if err := launch.CloseOnExecFrom(3); err != nil {
		return nil, fmt.Errorf("proc: set close-on-exec on inherited descriptors: %w", err)
	}
	boot, err := readBootID()
	if err != nil {
		return nil, err
	}
	self := os.Getpid()
	sid, err := unix.Getsid(0)
	if err != nil {
		return nil, fmt.Errorf("proc: getsid: %w", err)
	}
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("proc: %w", err)
	}
	watch, err := newExitWatch()
	if err != nil {
		null.Close()
		return nil, err
	}
	s := &Spawner{
		watch:    watch,
		opts:     opts,
		bootID:   boot,
		self:     self,
		selfPgid: unix.Getpgrp(),
		selfSid:  sid,
		live:     make(map[int]*Process),
		trusted:  map[int]bool{sid: true},
		stop:     make(chan struct{}),
		null:     null,
		tree:     opts.Cgroups,
	}
	s.bufs.New = func() any { return new([]byte) }
	if opts.Subreaper {
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			watch.close()
			null.Close()
			return nil, fmt.Errorf("proc: set child subreaper: %w", err)
		}
		// Notify, never Ignore: an ignored SIGCHLD is inherited by workers
		// across exec and changes how they see their own children.
		sigc := make(chan os.Signal, 1)
		signal.Notify(sigc, syscall.SIGCHLD)
		s.wg.Add(1)
		go s.reapLoop(sigc)
	}
	s.wg.Add(1)
	go s.rotateLoop()
	return s, nil
}

// Close stops the reaper and rotation goroutines and gives up the
// subreaper role. It does not signal or wait for workers: they outlive the
// daemon, and a later daemon re-adopts them by Identity.
func (s *Spawner) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		staged := s.staged
		s.staged = nil
		s.mu.Unlock()
		for _, st := range staged {
			<-st.done
			st.discard()
		}
		close(s.stop)
		s.wg.Wait()
		s.watch.close()
		// Start refuses once closed; the forks it let through are the
		// last to use /dev/null.
		for {
			s.mu.Lock()
			forking := s.forking
			s.mu.Unlock()
			if forking == 0 {
				break
			}
			time.Sleep(time.Millisecond)
		}
		s.null.Close()
		s.threads.close()
		if s.tree != nil {
			// Groups still populated (workers left running for the next
			// daemon) stay; the empty ones, and the subtree if nothing is
			// left in it, go.
			if err := s.tree.Remove(); err != nil && !errors.Is(err, cgroup.ErrPopulated) {
				s.closeErr = errors.Join(s.closeErr, err)
			}
			s.tree.Close()
		}
		if s.opts.Subreaper {
			if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0); err != nil {
				s.closeErr = errors.Join(s.closeErr, fmt.Errorf("proc: clear child subreaper: %w", err))
			}
		}
	})
	return s.closeErr
}

// Start spawns one incarnation in a new process group, with stdin on
// /dev/null and stdout/stderr on the Spec's files, and, with cgroups, in
// a new cgroup of its own, created just before (or by Stage) and removed
// again if the spawn fails. Errors are *StartError.
func (s *Spawner) Start(spec Spec) (*Process, error) {
	fail := func(err error) (*Process, error) {
		return nil, &StartError{Worker: spec.Worker, Incarnation: spec.Incarnation, Err: err}
	}
	if len(spec.Command) == 0 || spec.Command[0] == "" {
		return fail(errors.New("empty command"))
	}
	if spec.Credential != nil && os.Geteuid() != 0 {
		return fail(ErrNeedRoot)
	}
	if spec.CgroupLimits != (cgroup.Limits{}) && (s.tree == nil || spec.Beside) {
		return fail(ErrNoCgroup)
	}
	st, ok := s.takeStaged(spec)
	if !ok {
		var err error
		if st, err = s.stage(spec); err != nil {
			return fail(err)
		}
	}
	path, cached, out, g := st.path, st.cached, st.out, st.g
	wm, im := markers(spec.Worker, spec.Incarnation)
	env := append(slices.Clip(spec.Env), wm, im)
	files := []*os.File{out.null, out.stdout, out.stderr}
	for n, f := range spec.Files {
		for len(files) <= n {
			files = append(files, nil)
		}
		files[n] = f
	}

	s.mu.Lock()
	closed := s.closed
	if !closed {
		s.forking++
	}
	s.mu.Unlock()
	if closed {
		st.discard()
		return fail(ErrClosed)
	}
	cgfd := -1
	if g != nil {
		cgfd = g.FD()
	}
	// The fork runs outside mu, so spawns overlap. The reaper cannot take
	// the new child meanwhile: package children records its pid before the
	// fork is done with, and until then leaves alone every child that
	// could be it.
	osp, err := s.fork(path, &spec, env, files, cgfd)
	if cached && errors.Is(err, syscall.ENOENT) {
		// The file PATH led to last time is gone: search PATH again.
		s.paths.forget(spec.Command[0])
		if path, _, err = s.paths.resolve(spec.Command[0]); err == nil {
			osp, err = s.fork(path, &spec, env, files, cgfd)
		}
	}
	if g != nil {
		// Every later fork would copy it; the group is found by its
		// handle from now on.
		g.CloseFD()
	}
	if err != nil {
		s.mu.Lock()
		s.forking--
		s.mu.Unlock()
		st.discard()
		return fail(err)
	}
	// The child has its own descriptors now. Keeping ours would cost a
	// descriptor per file per worker, and every later fork copies and
	// exec closes them all: rotation finds the files by path instead, as
	// carefully as Start opened them.
	out.detach()
	p := &Process{
		spawner:  s,
		proc:     osp,
		worker:   spec.Worker,
		inc:      spec.Incarnation,
		out:      out,
		group:    g,
		done:     make(chan struct{}),
		identity: Identity{PID: osp.Pid, BootID: s.bootID},
	}
	s.watchExit(p)
	s.mu.Lock()
	s.live[osp.Pid] = p
	s.forking--
	s.mu.Unlock()

	// The child is unreaped, so its stat stays readable even if it has
	// already exited; failure means /proc itself is unusable, and a worker
	// without an Identity could not be re-adopted, so it is not kept.
	stat, err := readStat(osp.Pid)
	if err != nil {
		p.Signal(syscall.SIGKILL)
		p.Wait()
		p.Release()
		return fail(fmt.Errorf("identity: %w", err))
	}
	p.identity.StartTicks = stat.StartTicks
	p.leader = cgroup.Leader{PID: osp.Pid, StartTicks: stat.StartTicks, Session: stat.Session}
	return p, nil
}

// forkPart is what Start makes before its fork (stage).
type forkPart struct {
	path   string
	cached bool // path came from the PATH cache
	out    *outputs
	g      *cgroup.Group // nil without cgroups
}

// staged is a forkPart made ahead by Stage for one incarnation.
type staged struct {
	forkPart
	inc  uint64
	key  stageKey
	done chan struct{} // closed once made, or refused (err)
	err  error
}

// stageKey is what of a Spec the staged part depends on: Start uses it
// only for the very settings it was made for.
type stageKey struct {
	program        string
	stdout, stderr string
	maxSize        int64
	backups        int
	uid            uint32
	limits         cgroup.Limits
}

func stageKeyOf(spec Spec) stageKey {
	return stageKey{program: spec.Command[0], stdout: spec.Stdout, stderr: spec.Stderr,
		maxSize: spec.LogMaxSize, backups: spec.LogBackups, uid: workerUID(spec), limits: spec.CgroupLimits}
}

// stageable says whether Start(spec) could use a staged part: a worker's
// own incarnation (a hook's group is made with its run) whose Start would
// get past its checks.
func (s *Spawner) stageable(spec Spec) bool {
	return len(spec.Command) > 0 && spec.Command[0] != "" && !spec.Beside && spec.Hook.Kind == "" &&
		spec.Output == nil && (spec.Credential == nil || os.Geteuid() == 0) &&
		(spec.CgroupLimits == (cgroup.Limits{}) || s.tree != nil)
}

// Stage makes ahead what Start(spec) makes before its fork: the program
// found in PATH, the output files open, and the incarnation's cgroup
// with its limits. None of it runs anything or touches a running
// process, and an empty cgroup left by a crash is reused or removed by
// the next daemon, so it may be made before the decision to spawn is
// durable: a supervisor stages a respawn while its decision is being
// committed, and Start only forks once it is. Whatever Stage could not
// make, Start makes and reports. What is staged for a worker is taken by
// its Start of that incarnation, and undone by the worker's next Stage,
// by Unstage, or by Close. A Stage must have returned before the Start
// of its incarnation begins: one that came later would make again a
// group that may hold the new process, and freeze it for a moment (for
// good, if the daemon died in that moment).
func (s *Spawner) Stage(spec Spec) {
	if !s.stageable(spec) {
		return
	}
	st := &staged{inc: spec.Incarnation, key: stageKeyOf(spec), done: make(chan struct{})}
	s.mu.Lock()
	old := s.staged[spec.Worker]
	if s.closed || (old != nil && old.inc == st.inc && old.key == st.key) {
		s.mu.Unlock()
		return
	}
	if s.staged == nil {
		s.staged = make(map[string]*staged)
	}
	s.staged[spec.Worker] = st
	s.mu.Unlock()
	if old != nil {
		<-old.done
		old.discard()
	}
	st.forkPart, st.err = s.stage(spec)
	close(st.done)
}

// Unstage undoes what Stage made for the worker's incarnation inc, if its
// Start will not come.
func (s *Spawner) Unstage(worker string, inc uint64) {
	s.mu.Lock()
	st := s.staged[worker]
	if st == nil || st.inc != inc {
		s.mu.Unlock()
		return
	}
	delete(s.staged, worker)
	s.mu.Unlock()
	<-st.done
	st.discard()
}

// takeStaged returns what Stage made for spec, waiting for it if it is
// still being made, or false. Anything else staged for the worker is
// undone.
func (s *Spawner) takeStaged(spec Spec) (forkPart, bool) {
	s.mu.Lock()
	st := s.staged[spec.Worker]
	if st != nil {
		delete(s.staged, spec.Worker)
	}
	s.mu.Unlock()
	if st == nil {
		return forkPart{}, false
	}
	<-st.done
	if st.err != nil || st.inc != spec.Incarnation || st.key != stageKeyOf(spec) || !s.stageable(spec) {
		st.discard()
		return forkPart{}, false
	}
	return st.forkPart, true
}

// stage makes what Start needs before its fork.
func (s *Spawner) stage(spec Spec) (forkPart, error) {
	path, cached, err := s.paths.resolve(spec.Command[0])
	if err != nil {
		return forkPart{}, err
	}
	out, err := openOutputs(spec, s.null)
	if err != nil {
		return forkPart{}, err
	}
	st := forkPart{path: path, cached: cached, out: out}
	if s.tree == nil {
		return st, nil
	}
	// The group is made shortly before the fork (by Stage, while the
	// spawn's decision commits; by Start, right before): New prepares its
	// first announcement on cgroup.events so that the fork does not wait
	// for it, and that lasts 20 ms.
	switch {
	case spec.Beside && spec.Hook.Kind != "":
		st.g, err = s.tree.NewHook(spec.Worker, spec.Hook.Incarnation, spec.Hook.Kind)
	case !spec.Beside:
		if st.g, err = s.tree.New(spec.Worker, spec.Incarnation); err == nil && spec.CgroupLimits != (cgroup.Limits{}) {
			if err = st.g.SetLimits(spec.CgroupLimits); err != nil {
				st.g.Remove()
				st.g = nil
			}
		}
	}
	if err != nil {
		out.close()
		return forkPart{}, err
	}
	return st, nil
}

// discard undoes a part that no fork used.
func (st *forkPart) discard() {
	if st.out != nil {
		st.out.close()
	}
	if st.g != nil {
		st.g.Remove()
	}
}

// fork starts the program through startProcess with its pid recorded in
// package children before anyone can reap it.
func (s *Spawner) fork(path string, spec *Spec, env []string, files []*os.File, cgfd int) (*os.Process, error) {
	var p *os.Process
	_, err := children.Start(func() (int, error) {
		var err error
		if p, err = s.startProcess(path, spec, env, files, cgfd); err != nil {
			return 0, err
		}
		return p.Pid, nil
	})
	return p, err
}

// startProcess forks and execs the program at path with the given
// environment and descriptors 0, 1, 2, in a new process group, the
// cheapest way that gives the worker what its Spec asks for:
//   - resource limits belong to the whole process, so they need the
//     launcher, which sets them (and the rest) in the child;
//   - no_new_privs and a umask are per-thread state a child copies from
//     the thread that forks it: a fork from one of forkThreads;
//   - otherwise a plain fork from one of forkThreads too, for its
//     descriptor table of its own, which a fork copies.
//
// Whatever the way, the program inherits exactly files. A fork thread's
// own table holds nothing else, with close-on-exec. Where it cannot have
// one, every other descriptor of the daemon has close-on-exec: Go sets it
// on all it opens, but not on descriptors the daemon inherited from
// whoever started it, nor on those C code (cgo) opened, so such a fork
// comes right after close-on-exec is set on everything from 3 up, which is
// one close_range call; the launcher does the same in the child, where
// nothing can open a descriptor between it and the exec.
func (s *Spawner) startProcess(path string, spec *Spec, env []string, files []*os.File, cgfd int) (*os.Process, error) {
	// No Pdeathsig: it fires when the forking OS thread exits, and workers
	// must survive the daemon anyway. With a cgroup, the child is born in
	// it (clone3 with CLONE_INTO_CGROUP): there is no moment when it, or
	// anything it forks, runs outside.
	sys := &syscall.SysProcAttr{Setpgid: true, UseCgroupFD: cgfd >= 0, CgroupFD: max(cgfd, 0)}
	if spec.launched() {
		c := &launch.Config{Path: path, Argv: spec.Command, Env: env, Dir: spec.Dir,
			Credential: spec.Credential, Umask: -1, NoNewPrivs: spec.NoNewPrivs, Rlimits: spec.Rlimits}
		for n := range spec.Files {
			c.Keep = append(c.Keep, n)
		}
		if spec.Umask != nil {
			c.Umask = int(*spec.Umask)
		}
		return launch.Start(c, files, sys)
	}
	sys.Credential = spec.Credential
	// The child's descriptors by number in the daemon's table, read here:
	// Fd (which also makes the file blocking, as the child expects) must
	// not run on a fork thread, where the number names something else.
	fds := make([]int, len(files))
	for i, f := range files {
		fds[i] = -1
		if f != nil {
			fds[i] = int(f.Fd())
		}
	}
	var p *os.Process
	pid := -1
	var err error
	if ferr := s.threads.fork(spec.NoNewPrivs, spec.Umask, func(own int) {
		if own < 0 {
			p, err = startShared(path, spec, env, files, sys)
			return
		}
		if pid, err = forkOwn(own, path, spec.Command, env, spec.Dir, fds, sys); err != nil {
			err = &os.PathError{Op: "fork/exec", Path: path, Err: err}
		}
	}); ferr != nil {
		return nil, ferr
	}
	runtime.KeepAlive(files)
	if err != nil || p != nil {
		return p, err
	}
	// Here, off the fork thread: the pidfd goes into the daemon's table.
	return handleOf(pid)
}

// startShared forks from a thread that shares the daemon's descriptor
// table, right after close-on-exec is set on everything in it from 3 up.
func startShared(path string, spec *Spec, env []string, files []*os.File, sys *syscall.SysProcAttr) (*os.Process, error) {
	if err := launch.CloseOnExecFrom(3); err != nil {
		return nil, fmt.Errorf("set close-on-exec on inherited descriptors: %w", err)
	}
	return os.StartProcess(path, spec.Command, &os.ProcAttr{Dir: spec.Dir, Env: env, Files: files, Sys: sys})
}

// handleOf is the *os.Process of a child just forked, holding its pidfd in
// the daemon's table. The child is unreaped and package children keeps the
// reaper off it, so its pid names it until it is waited for. Without a
// pidfd (the daemon out of descriptors) it is killed and reaped.
func handleOf(pid int) (*os.Process, error) {
	p, _ := os.FindProcess(pid) // never fails on Linux; without a pidfd it holds the pid
	if p.WithHandle(func(uintptr) {}) != nil {
		// FindProcess keeps pidfd_open's error to itself: ask again for it.
		err := error(unix.EMFILE)
		if fd, perr := unix.PidfdOpen(pid, 0); perr != nil {
			err = perr
		} else {
			unix.Close(fd)
		}
		_ = unix.Kill(pid, unix.SIGKILL)
		var ws unix.WaitStatus
		for {
			if _, werr := unix.Wait4(pid, &ws, 0, nil); werr != unix.EINTR {
				break
			}
		}
		return nil, fmt.Errorf("pidfd of the child: %w", err)
	}
	return p, nil
}

// pathCache remembers where a command name was found in the daemon's
// PATH. Searching a long PATH costs a dozen stats, about 0.1 ms, on every
// restart; the answer is kept for pathTTL, so a program installed earlier in
// PATH is taken up within that time, and dropped as soon as exec finds the
// file gone.
type pathCache struct {
	mu sync.Mutex
	m  map[string]pathEntry
}

type pathEntry struct {
	path string
	at   time.Time
}

const pathTTL = 10 * time.Second

// resolve finds the executable. A name without a slash is looked up in the
// daemon's PATH; "not found" is reported as ENOENT so callers can branch
// on the errno alone. cached says the answer came from an earlier search.
func (c *pathCache) resolve(name string) (path string, cached bool, err error) {
	if strings.Contains(name, "/") {
		return name, false, nil
	}
	now := time.Now()
	c.mu.Lock()
	e, ok := c.m[name]
	c.mu.Unlock()
	if ok && now.Sub(e.at) < pathTTL {
		return e.path, true, nil
	}
	path, err = exec.LookPath(name)
	if err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return "", false, fmt.Errorf("%w: %w", err, syscall.ENOENT)
		}
		return "", false, err
	}
	c.mu.Lock()
	if c.m == nil {
		c.m = make(map[string]pathEntry)
	}
	c.m[name] = pathEntry{path: path, at: now}
	c.mu.Unlock()
	return path, false, nil
}

func (c *pathCache) forget(name string) {
	c.mu.Lock()
	delete(c.m, name)
	c.mu.Unlock()
}

// forget drops a reaped leader from the live set.
func (s *Spawner) forget(p *Process) {
	s.mu.Lock()
	if s.live[p.identity.PID] == p {
		delete(s.live, p.identity.PID)
	}
	s.mu.Unlock()
}

func (s *Spawner) report(err error) {
	if err != nil && s.opts.OnError != nil {
		s.opts.OnError(err)
	}
}

// watchExit registers p's process with the exit watch. Without it (no
// pidfd, or the watch is closed) p.exited stays nil and Wait blocks in
// waitid itself.
func (s *Spawner) watchExit(p *Process) {
	_ = p.proc.WithHandle(func(fd uintptr) {
		if ch, err := s.watch.add(fd); err == nil {
			p.exited, p.watched, p.watchFD = ch, true, int32(fd)
		}
	})
}

// orphans lists the daemon's children that are not unreaped worker leaders
// of this Spawner: orphans of worker trees reparented to the subreaper, and
// children other parts of the daemon started. Every worker exit asks, and
// with a thousand workers the children files name a thousand pids, so the
// read reuses a buffer and the live set is consulted under one lock.
func (s *Spawner) orphans() ([]int, error) {
	bp := s.bufs.Get().(*[]byte)
	kids, err := selfChildren(s.self, bp)
	s.bufs.Put(bp)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	out := kids[:0]
	for _, pid := range kids {
		if _, ok := s.live[pid]; !ok {
			out = append(out, pid)
		}
	}
	s.mu.Unlock()
	return out, nil
}
