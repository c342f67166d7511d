package cgroup

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Group is one worker incarnation's cgroup. Its methods are safe for
// concurrent use. Membership is the kernel's: a process is in the group
// because it was born there (or descends from one that was), whatever its
// environment, session or process group, and a process running as another
// user than root can neither leave nor enter it.
type Group struct {
	tree   *Tree
	worker string
	inc    uint64
	hook   string // the hook's kind, for a hook's group
	name   string // <worker>.<inc>, or <worker>.<inc>.<hook>
	dir    string // absolute directory
	id     uint64 // the cgroup id (its inode number), which pidfd info reports

	// mu guards fd and empty. Nothing under it waits on the kernel
	// beyond an open or close.
	mu    sync.Mutex
	fd    int           // O_PATH directory fd for the spawn; -1 when closed
	empty chan struct{} // closed once seen unpopulated; nil until Empty
}

// Worker is the worker's name.
func (g *Group) Worker() string { return g.worker }

// Incarnation is the incarnation number.
func (g *Group) Incarnation() uint64 { return g.inc }

// Hook is the kind of the hook whose group this is; "" for an
// incarnation's own.
func (g *Group) Hook() string { return g.hook }

// Dir is the group's directory.
func (g *Group) Dir() string { return g.dir }

// Path is the group as /proc/PID/cgroup shows it ("0::<Path>"). It is
// made when asked for, not kept: it is needed only to tell a member by its
// /proc entry, when there is no pidfd, and a group lives as long as its
// worker runs.
func (g *Group) Path() string { return path.Join(g.tree.path, g.name) }

// ID is the kernel's cgroup id: the directory's inode number, and what
// PIDFD_GET_INFO reports as a process's cgroup.
func (g *Group) ID() uint64 { return g.id }

// FD is the directory descriptor New opened for
// syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: g.FD()}; -1 after
// CloseFD, or for a group from Adopt or Prepare.
func (g *Group) FD() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.fd
}

// CloseFD closes the spawn descriptor. Call it once the spawn returned:
// every descriptor the daemon holds is copied by each later fork. Calling
// it again does nothing.
func (g *Group) CloseFD() error {
	g.mu.Lock()
	fd := g.fd
	g.fd = -1
	g.mu.Unlock()
	if fd < 0 {
		return nil
	}
	return unix.Close(fd)
}

func (g *Group) openFD() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.fd >= 0 {
		return nil
	}
	// O_PATH is enough: clone3 takes the cgroup from the file itself.
	fd, err := unix.Open(g.dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return g.err("open", g.dir, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Ino != g.id {
		// Removed and made again since the handle was taken: not ours.
		unix.Close(fd)
		if err == nil {
			err = fs.ErrNotExist
		}
		return g.err("open", g.dir, err)
	}
	g.fd = fd
	return nil
}

func (g *Group) err(op, p string, err error) error {
	return &GroupError{Op: op, Worker: g.worker, Incarnation: g.inc, Path: p, Err: err}
}

// Procs lists the group's live members, from cgroup.procs: exact, in the
// reader's pid namespace, zombies excluded. Members of cgroups a root
// worker made inside its group are not listed (Kill still reaches them).
// A removed group has no members.
func (g *Group) Procs() ([]int, error) { return g.AppendProcs(nil) }

// AppendProcs appends the members to dst, for a sampler that reuses its
// slice between ticks.
func (g *Group) AppendProcs(dst []int) ([]int, error) {
	out, err := readProcs(g.dir, dst)
	if err != nil {
		return dst, g.err("read", path.Join(g.dir, "cgroup.procs"), err)
	}
	return out, nil
}

// CPUTime is the CPU time every process of the group and of the groups
// below it has used, the dead included, as the kernel charges it
// (cpu.stat usage_usec, which cgroup v2 keeps without the cpu
// controller). It moves whenever any of them runs, and a process can
// neither fork nor exit without running: the sampler reads it alone
// while it stands still. One open, read and close into a pooled buffer.
func (g *Group) CPUTime() (time.Duration, error) {
	d, err := cpuTime(g.dir)
	if err != nil {
		return 0, g.err("read", path.Join(g.dir, "cpu.stat"), err)
	}
	return d, nil
}

// SharedCounterKey names the counter the group's CPU time is summed in
// with every other group of its Tree's: the subtree's directory.
func (g *Group) SharedCounterKey() string { return g.tree.dir }

// SharedCPUTime is the Tree's CPUTime: while it stands still, no process of
// any group in the Tree ran, and neither did the group's own.
func (g *Group) SharedCPUTime() (time.Duration, error) { return g.tree.CPUTime() }

// OpenCPUTime opens the group's cpu.stat for ReadCPUTime, for a reader
// that reads it every second and can spare a descriptor: one read then
// instead of an open, a read and a close. The caller closes it; it is
// O_CLOEXEC, but every fork copies it until then.
func (g *Group) OpenCPUTime() (int, error) {
	name := path.Join(g.dir, "cpu.stat")
	fd, err := unix.Open(name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, g.err("open", name, err)
	}
	return fd, nil
}

// ReadCPUTime is CPUTime through a descriptor from OpenCPUTime: the kernel
// makes the file afresh for a read from its start. Once the group is
// removed the read fails.
func (g *Group) ReadCPUTime(fd int) (time.Duration, error) {
	bp := procsBufs.Get().(*[]byte)
	defer procsBufs.Put(bp)
	b := (*bp)[:cap(*bp)]
	n, err := unix.Pread(fd, b, 0)
	for err == unix.EINTR {
		n, err = unix.Pread(fd, b, 0)
	}
	if err != nil {
		return 0, g.err("read", path.Join(g.dir, "cpu.stat"), err)
	}
	usec, ok := usageUsec(b[:n])
	if !ok {
		return 0, g.err("read", path.Join(g.dir, "cpu.stat"), errNoUsage)
	}
	return time.Duration(usec) * time.Microsecond, nil
}

var errNoUsage = errors.New("no usage_usec")

// cpuTime reads usage_usec from dir/cpu.stat.
func cpuTime(dir string) (time.Duration, error) {
	b, err := readSmall(path.Join(dir, "cpu.stat"))
	if err != nil {
		return 0, err
	}
	defer procsBufs.Put(&b)
	usec, ok := usageUsec(b)
	if !ok {
		return 0, fmt.Errorf("%s: %w", path.Join(dir, "cpu.stat"), errNoUsage)
	}
	return time.Duration(usec) * time.Microsecond, nil
}

// usageUsec finds the first line of cpu.stat, "usage_usec N", without
// allocating.
func usageUsec(b []byte) (uint64, bool) {
	const key = "usage_usec "
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		if !bytes.HasPrefix(line, []byte(key)) {
			continue
		}
		// The conversion does not escape (strconv clones what an error
		// quotes), so this allocates nothing.
		n, err := strconv.ParseUint(string(line[len(key):]), 10, 64)
		if err != nil {
			return 0, false
		}
		return n, true
	}
	return 0, false
}

// Populated reports whether any live process is in the group or below it
// (cgroup.events "populated"). A removed group is not populated.
func (g *Group) Populated() (bool, error) {
	pop, err := populated(g.dir)
	if err != nil {
		return false, g.err("read", path.Join(g.dir, "cgroup.events"), err)
	}
	return pop, nil
}

// Empty returns a channel closed once the group is seen unpopulated, at
// the call or later: call it after the spawn, or it is closed at once.
// One goroutine watches every group of the Tree (inotify on
// cgroup.events); a Tree closed before that leaves the channel open.
func (g *Group) Empty() <-chan struct{} {
	g.mu.Lock()
	if g.empty != nil {
		ch := g.empty
		g.mu.Unlock()
		return ch
	}
	ch := make(chan struct{})
	g.empty = ch
	g.mu.Unlock()
	g.tree.watchEmpty(g, ch)
	return ch
}

// Signal sends sig to every member, race-free: each pid read from
// cgroup.procs is pinned with a pidfd and checked, through the pidfd, to be
// still in this group before the signal goes out, so a pid recycled by a
// process outside the group is never hit. Members forked meanwhile are
// picked up by further passes until one signals no one. It returns how
// many processes it signalled; a group with no one left is not an error.
func (g *Group) Signal(sig syscall.Signal) (int, error) { return g.signal(sig, 0) }

// SignalExcept is Signal to every member outside process group pgid: for a
// caller that has just signalled that group itself (through its leader's
// pidfd, which reaches the whole group at once), so that no member gets
// the signal twice. The group must have been signalled before the call:
// what its members fork is left to that signal. A second SIGTERM or SIGINT is, to many programs, a
// demand to quit at once.
func (g *Group) SignalExcept(sig syscall.Signal, pgid int) (int, error) {
	if pgid <= 0 {
		return 0, g.err("signal", g.dir, fmt.Errorf("%w: process group %d", ErrBadName, pgid))
	}
	return g.signal(sig, pgid)
}

// Has reports whether pid is a member of the group, by /proc/PID/cgroup.
// A pid can change hands at any moment: it is an answer about now, for
// checking a pid that is pinned otherwise (a pidfd, a recorded start time).
func (g *Group) Has(pid int) bool { return procIn(pid, g.Path(), g.tree.procRoot) }

// signal sends sig to every member, leaving out those in process group
// skipPgid when it is not 0.
func (g *Group) signal(sig syscall.Signal, skipPgid int) (int, error) {
	seen := map[int]bool{}
	var errs []error
	n := 0
	var pids []int
	cgPath := g.Path()
	for pass := 0; pass < maxPasses; pass++ {
		var err error
		pids, err = readProcs(g.dir, pids[:0])
		if err != nil {
			return n, g.err("signal", path.Join(g.dir, "cgroup.procs"), err)
		}
		// Another pass is for what members forked while this one
		// signalled them. A member of skipPgid's group was signalled with
		// its group before this listing, and a process forks either
		// before a signal to its group (its child is in the group and is
		// signalled too) or after its parent took it: when this pass
		// signalled no one itself, no other pass could find anyone new.
		tried := 0
		for _, pid := range pids {
			if seen[pid] {
				continue
			}
			seen[pid] = true
			if skipPgid != 0 {
				// Whatever process holds the pid now, one of skipPgid's
				// group is left alone: no pin needed to leave it.
				if pgid, err := unix.Getpgid(pid); err != nil || pgid == skipPgid {
					continue
				}
			}
			tried++
			ok, err := signalMember(pid, sig, g.id, cgPath, g.tree.procRoot, skipPgid)
			if ok {
				n++
			}
			if err != nil {
				errs = append(errs, g.err("signal", "pid "+strconv.Itoa(pid), err))
			}
		}
		if tried == 0 {
			break
		}
	}
	return n, errors.Join(errs...)
}

// maxPasses bounds Signal's re-reads of cgroup.procs: a group that forks
// faster than it can be signalled is Kill's business.
const maxPasses = 8

// signalMember signals pid if, pinned by a pidfd, it is in the cgroup
// (id, or path where the kernel cannot tell a pidfd's cgroup) and, when
// skipPgid is not 0, not in that process group. The group is read after
// the pin: if the pid has changed hands since, the membership check
// refuses the newcomer or the signal goes to the pinned, dead process.
func signalMember(pid int, sig syscall.Signal, id uint64, cgPath, procRoot string, skipPgid int) (bool, error) {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return false, nil // gone since the listing
	}
	defer unix.Close(fd)
	if !pidfdIn(fd, pid, id, cgPath, procRoot) {
		return false, nil
	}
	if skipPgid != 0 {
		// One system call, where reading /proc/PID/stat took three and a
		// parse: this runs once for every member of every worker stopped.
		pgid, err := unix.Getpgid(pid)
		if err != nil {
			return false, nil // gone
		}
		if pgid == skipPgid {
			return false, nil
		}
	}
	if err := unix.PidfdSendSignal(fd, sig, nil, 0); err != nil {
		if errors.Is(err, unix.ESRCH) {
			return false, nil
		}
		return false, err
	}
	return true, nil
}

// pidfdIn reports whether the process behind pidfd is in the cgroup. Linux
// 6.13 and later say so of the pidfd itself (PIDFD_GET_INFO), which is
// exact. Before, /proc/PID/cgroup is read after the pidfd was opened: if
// pid now names another process, that one is either outside (and not
// signalled) or inside (and the signal goes to the pinned, dead process,
// which ignores it).
func pidfdIn(fd, pid int, id uint64, cgPath, procRoot string) bool {
	info := unix.PidfdInfo{Mask: unix.PIDFD_INFO_CGROUPID}
	if err := unix.IoctlPidfdInfo(fd, &info); err == nil && info.Mask&unix.PIDFD_INFO_CGROUPID != 0 {
		return info.Cgroupid == id
	}
	return procIn(pid, cgPath, procRoot)
}

// procIn reports whether /proc/PID/cgroup puts pid in cgroup cgPath.
func procIn(pid int, cgPath, procRoot string) bool {
	b, err := os.ReadFile(procRoot + "/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		return false
	}
	p, ok := parseProcCgroup(bytes.TrimRight(b, "\n"))
	return ok && p == cgPath
}

// Kill kills every process in the group and in cgroups below it. With
// cgroup.kill (Linux 5.14) the kernel does it at once and nothing forked
// meanwhile escapes. Without it the group is frozen, every member gets
// SIGKILL, and the group is thawed. Kill does not wait: Empty tells when
// they are gone.
func (g *Group) Kill() error {
	if g.tree.kill {
		err := writeFile(path.Join(g.dir, "cgroup.kill"), "1")
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return g.err("kill", path.Join(g.dir, "cgroup.kill"), err)
		}
		return nil // ENOENT: removed, so empty
	}
	if err := freezeKill(g.dir, g.id, g.Path(), g.tree.procRoot); err != nil {
		return g.err("kill", g.dir, err)
	}
	return nil
}

// freezeKill is Kill without cgroup.kill: frozen members cannot fork, so
// one listing finds them all.
func freezeKill(dir string, id uint64, cgPath, procRoot string) error {
	freeze := path.Join(dir, "cgroup.freeze")
	if err := writeFile(freeze, "1"); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	// Freezing completes asynchronously; a task in an uninterruptible
	// sleep delays it. SIGKILL reaches frozen tasks anyway, so a slow
	// freeze only widens the window a fork could slip through.
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		if frozen, err := eventsField(dir, "frozen"); err != nil || frozen == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	var errs []error
	seen := map[int]bool{}
	for pass := 0; pass < maxPasses; pass++ {
		pids, err := readProcs(dir, nil)
		if err != nil {
			errs = append(errs, err)
			break
		}
		fresh := 0
		for _, pid := range pids {
			if !seen[pid] {
				seen[pid] = true
				fresh++
				if _, err := signalMember(pid, unix.SIGKILL, id, cgPath, procRoot, 0); err != nil {
					errs = append(errs, err)
				}
			}
		}
		if fresh == 0 {
			break
		}
	}
	// Cgroups a root worker made below are frozen too (the freezer is
	// hierarchical) but their members were not listed: kill them as well.
	if ents, err := os.ReadDir(dir); err == nil {
		for _, e := range ents {
			if e.IsDir() {
				var st unix.Stat_t
				sub := path.Join(dir, e.Name())
				if unix.Stat(sub, &st) == nil {
					errs = append(errs, freezeKill(sub, st.Ino, path.Join(cgPath, e.Name()), procRoot))
				}
			}
		}
	}
	if err := writeFile(freeze, "0"); err != nil && !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Remove deletes the group once it is unpopulated (wrapping ErrPopulated
// while members live), closes its descriptor and ends its watches. Calling
// it again, or on a group already gone, does nothing.
func (g *Group) Remove() error {
	g.CloseFD()
	err := removeDir(g.dir)
	switch {
	case err == nil, errors.Is(err, unix.ENOENT):
		g.tree.forget(g)
		return nil
	case errors.Is(err, unix.EBUSY):
		return g.err("remove", g.dir, ErrPopulated)
	default:
		return g.err("remove", g.dir, err)
	}
}

// Usage is one reading of a group's resource counters.
type Usage struct {
	// CPU is the CPU time used by every process that ever ran in the
	// group (cpu.stat usage_usec), User and System its halves. cgroup v2
	// keeps these without the cpu controller.
	CPU, User, System time.Duration
	// Memory is memory.current: every page charged to the group, page
	// cache and kernel memory included, so it runs higher than the sum
	// of the members' RSS. Valid only with the memory controller.
	Memory      uint64
	MemoryValid bool
	// Pids is pids.current (processes and threads). Valid only with the
	// pids controller.
	Pids      uint64
	PidsValid bool
}

// Usage reads the group's counters. Without the memory controller, the
// caller sums the members' RSS itself (Procs lists them).
func (g *Group) Usage() (Usage, error) {
	var u Usage
	b, err := os.ReadFile(path.Join(g.dir, "cpu.stat"))
	if err != nil {
		return u, g.err("read", path.Join(g.dir, "cpu.stat"), err)
	}
	for line := range bytes.SplitSeq(b, []byte{'\n'}) {
		k, v, ok := bytes.Cut(line, []byte{' '})
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(string(v), 10, 64)
		if err != nil {
			continue
		}
		switch string(k) {
		case "usage_usec":
			u.CPU = time.Duration(n) * time.Microsecond
		case "user_usec":
			u.User = time.Duration(n) * time.Microsecond
		case "system_usec":
			u.System = time.Duration(n) * time.Microsecond
		}
	}
	if g.tree.enabled["memory"] {
		if u.Memory, err = readUint(path.Join(g.dir, "memory.current")); err != nil {
			return u, g.err("read", path.Join(g.dir, "memory.current"), err)
		}
		u.MemoryValid = true
	}
	if g.tree.enabled["pids"] {
		if u.Pids, err = readUint(path.Join(g.dir, "pids.current")); err != nil {
			return u, g.err("read", path.Join(g.dir, "pids.current"), err)
		}
		u.PidsValid = true
	}
	return u, nil
}

// OOMKills is memory.events' oom_kill: how many processes of the group the
// kernel's OOM killer has killed. It needs the memory controller.
func (g *Group) OOMKills() (uint64, error) {
	if !g.tree.enabled["memory"] {
		return 0, g.err("read", path.Join(g.dir, "memory.events"), ErrNoController)
	}
	n, err := keyedField(path.Join(g.dir, "memory.events"), "oom_kill")
	if err != nil {
		return 0, g.err("read", path.Join(g.dir, "memory.events"), err)
	}
	return n, nil
}

// Limits are kernel-enforced limits for one group. A zero field leaves the
// kernel's default, which is no limit.
type Limits struct {
	// MemoryMax is the hard limit in bytes (memory.max): past it the
	// kernel reclaims and, failing that, OOM-kills inside the group.
	MemoryMax uint64
	// MemoryHigh is the throttling limit in bytes (memory.high): past it
	// the group is slowed and reclaimed hard, never killed.
	MemoryHigh uint64
	// OOMGroup makes an OOM kill take the whole group at once
	// (memory.oom.group), so no half of a worker survives.
	OOMGroup bool
	// CPUQuota per CPUPeriod (cpu.max): CPUQuota = 2*CPUPeriod allows two
	// cores. CPUPeriod defaults to 100ms.
	CPUQuota, CPUPeriod time.Duration
	// PidsMax caps processes plus threads (pids.max): a fork past it
	// fails with EAGAIN.
	PidsMax uint64
}

// SetLimits writes the limits; set them between New and the spawn, so the
// worker is born limited. A limit whose controller is not enabled fails
// with ErrNoController, and nothing is written.
func (g *Group) SetLimits(l Limits) error {
	type write struct{ ctrl, file, val string }
	var ws []write
	if l.MemoryMax > 0 {
		ws = append(ws, write{"memory", "memory.max", strconv.FormatUint(l.MemoryMax, 10)})
	}
	if l.MemoryHigh > 0 {
		ws = append(ws, write{"memory", "memory.high", strconv.FormatUint(l.MemoryHigh, 10)})
	}
	if l.OOMGroup {
		ws = append(ws, write{"memory", "memory.oom.group", "1"})
	}
	if l.CPUQuota > 0 {
		period := l.CPUPeriod
		if period <= 0 {
			period = 100 * time.Millisecond
		}
		ws = append(ws, write{"cpu", "cpu.max", strconv.FormatInt(l.CPUQuota.Microseconds(), 10) + " " + strconv.FormatInt(period.Microseconds(), 10)})
	}
	if l.PidsMax > 0 {
		ws = append(ws, write{"pids", "pids.max", strconv.FormatUint(l.PidsMax, 10)})
	}
	for _, w := range ws {
		if !g.tree.enabled[w.ctrl] {
			return g.err("limit", path.Join(g.dir, w.file), fmt.Errorf("%w: %s", ErrNoController, w.ctrl))
		}
	}
	for _, w := range ws {
		if err := writeFile(path.Join(g.dir, w.file), w.val); err != nil {
			return g.err("limit", path.Join(g.dir, w.file), err)
		}
	}
	return nil
}

// readProcs appends the pids in dir/cgroup.procs to dst. Pids of processes
// outside the reader's pid namespace read as 0 and are skipped. A missing
// directory reads as no members.
func readProcs(dir string, dst []int) ([]int, error) {
	b, err := readSmall(path.Join(dir, "cgroup.procs"))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return dst, nil
		}
		return dst, err
	}
	defer procsBufs.Put(&b)
	pid, in := 0, false
	for _, c := range b {
		if c >= '0' && c <= '9' {
			pid, in = pid*10+int(c-'0'), true
			continue
		}
		if in && pid > 0 {
			dst = append(dst, pid)
		}
		pid, in = 0, false
	}
	if in && pid > 0 {
		dst = append(dst, pid)
	}
	return dst, nil
}

// procsBufs holds the buffers readSmall reads cgroup.procs and cpu.stat
// into: the sampler reads every worker's once a second.
var procsBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// readSmall reads a cgroup file with three system calls and a pooled
// buffer, where os.ReadFile also stats it, asks the poller to take it and
// allocates: with limits on ten thousand workers, that is the sampler's
// whole cost. The caller returns the buffer to procsBufs.
func readSmall(name string) ([]byte, error) {
	fd, err := unix.Open(name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	defer unix.Close(fd)
	bp := procsBufs.Get().(*[]byte)
	b := (*bp)[:0]
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := unix.Read(fd, b[len(b):cap(b)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "read", Path: name, Err: err}
		}
		if n == 0 {
			return b, nil
		}
		b = b[:len(b)+n]
	}
}

// populated reads "populated" from dir/cgroup.events; a missing directory
// is not populated.
func populated(dir string) (bool, error) {
	n, err := eventsField(dir, "populated")
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return n == 1, err
}

func eventsField(dir, key string) (uint64, error) {
	return keyedField(path.Join(dir, "cgroup.events"), key)
}

// keyedField reads one "key value" line of a flat keyed cgroup file. It
// reads through readSmall: the leader's exit asks cgroup.events, and
// os.ReadFile's poller registration and stat were most of that read.
func keyedField(file, key string) (uint64, error) {
	b, err := readSmall(file)
	if err != nil {
		return 0, err
	}
	defer procsBufs.Put(&b)
	for line := range bytes.SplitSeq(b, []byte{'\n'}) {
		k, v, ok := bytes.Cut(line, []byte{' '})
		if ok && string(k) == key {
			return strconv.ParseUint(string(bytes.TrimSpace(v)), 10, 64)
		}
	}
	return 0, fmt.Errorf("%s: no %q", file, key)
}

func readUint(file string) (uint64, error) {
	b, err := readSmall(file)
	if err != nil {
		return 0, err
	}
	defer procsBufs.Put(&b)
	return strconv.ParseUint(string(bytes.TrimSpace(b)), 10, 64)
}

// writeFile writes a value to a cgroup control file in one write, as the
// kernel wants it. It does not create the file. Like readSmall it uses the
// system calls alone: a stop of every worker writes cgroup.kill once each.
func writeFile(file, val string) error {
	fd, err := unix.Open(file, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &fs.PathError{Op: "open", Path: file, Err: err}
	}
	for {
		_, err = unix.Write(fd, []byte(val))
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		err = &fs.PathError{Op: "write", Path: file, Err: err}
	}
	if cerr := unix.Close(fd); err == nil && cerr != nil {
		err = &fs.PathError{Op: "close", Path: file, Err: cerr}
	}
	return err
}

// preannounce makes the kernel announce a change of the empty group's
// cgroup.events now, so that the announcement of its first member, due in
// the spawn right after, falls within the kernel's rate limit (one per
// 20 ms per file; later ones wait for a timer). Announced at once, inside
// clone3, it wakes a kworker on the forking CPU while the spawning thread
// waits for its child, and back-to-back spawns took 0.3 to 0.6 ms longer
// (BenchmarkSpawn). Freezing and thawing a group that holds no process is
// an announcement to be had without one, and it changes nothing else. Only
// a failed thaw matters: a worker born into a frozen group would hang.
func preannounce(dir string) error {
	fd, err := unix.Open(path.Join(dir, "cgroup.freeze"), unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil // no freezer: no announcement, and nothing frozen
	}
	defer unix.Close(fd)
	if _, err := unix.Write(fd, []byte("1")); err != nil {
		return nil
	}
	if _, err := unix.Write(fd, []byte("0")); err != nil {
		return fmt.Errorf("thaw: %w", err)
	}
	return nil
}
