package limits

import (
	"errors"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// Members lists the processes of one watched incarnation exactly, as its
// cgroup's cgroup.procs does (*cgroup.Group satisfies it): appended to dst,
// zombies excluded.
type Members interface {
	AppendProcs(dst []int) ([]int, error)
}

// CPUCounter is what Members may offer besides: the CPU time every process
// of the incarnation has used, the dead included, as the kernel charges it
// (*cgroup.Group's CPUTime, its cpu.stat usage_usec). A process can fork,
// exit, or touch its own memory only while it runs, and running moves the
// counter; so while the counter stands still the members and their memory
// are as last read, and a tick reads this one counter and nothing else.
type CPUCounter interface {
	CPUTime() (time.Duration, error)
}

// CPUCounterFile is a CPUCounter whose counter can be read through a
// descriptor held open between ticks (*cgroup.Group's OpenCPUTime and
// ReadCPUTime): one read where CPUTime opens, reads and closes, which is
// most of a tick's cost when nothing runs. The sampler holds such
// descriptors only within its share of the descriptor limit (fdShare).
type CPUCounterFile interface {
	OpenCPUTime() (fd int, err error)
	ReadCPUTime(fd int) (time.Duration, error)
}

// SharedCounter is a CPUCounter that is summed, with other incarnations',
// in one counter above them all (*cgroup.Group's: the subtree of the
// daemon's cgroups). While the counter above stands still no process of
// any of them ran, and a tick reads it alone, once, for all of them: the
// cost of an idle fleet is then one read a tick, whatever its size.
// SharedCounterKey tells which counter it is.
type SharedCounter interface {
	SharedCounterKey() string
	SharedCPUTime() (time.Duration, error)
}

// fdShare is how many counters the sampler may hold open with n
// incarnations watched under a descriptor limit of limit: half of what is
// left once two descriptors are set aside for each incarnation (the
// daemon holds a pidfd for each, and spawns need a few). The daemon is so
// left half its limit free whatever the sampler holds; when more are
// watched the share shrinks, and counters beyond it are closed.
func fdShare(limit uint64, n int) int {
	reserve := 2 * uint64(n)
	if limit <= reserve {
		return 0
	}
	return int(min((limit-reserve)/2, uint64(n)))
}

// refreshMembers bounds, in ticks, how long members whose CPU counter
// stands still go without being listed and read again. It catches what
// changes a process without the process running: the kernel reclaiming or
// collapsing its pages, another process writing into its memory, root
// moving a process into or out of the cgroup. Registrations are spread
// over the ticks by id, so they do not all read on the same one. At
// 10,000 idle workers the refresh was most of the daemon's idle CPU at 30
// ticks; none of what it catches makes a process use much more memory
// than a minute earlier without it running.
const refreshMembers = 60

// memberTable samples incarnations whose members are listed for it, with
// no walk of /proc. It is owned by the Run goroutine.
//
// With a CPUCounter (every cgroup) it keeps no descriptor per process: a
// listing reads each member's /proc/PID/statm (one open, read and close;
// statm is a fraction of stat's cost to the kernel) and CPU is the
// counter's. Without one, each member's /proc/PID/stat is read through a
// descriptor kept open across ticks, as procTable does.
type memberTable struct {
	procs   map[int]*memberEntry
	regs    map[uint64]*memberState
	gen     uint64
	prevAt  time.Time
	pids    []int
	statbuf []byte
	procfd  int // /proc, for openat; -1 until needed
	path    []byte
	refresh uint64 // refreshMembers; a test raises it to see the counter alone at work
	share   int    // counters that may be held open this tick (fdShare)
	kept    int    // counters held open
	shared  map[string]*sharedState
}

// sharedState is a SharedCounter's, read at most once a tick.
type sharedState struct {
	gen   uint64 // the tick of the last read
	usage time.Duration
	ok    bool // the last read succeeded
	still bool // and found the counter where the tick before had
}

type memberEntry struct {
	fd      int
	ticks   uint64
	readGen uint64
}

// memberState is one registration's, carried from tick to tick.
type memberState struct {
	gen uint64 // the tick of its last sample
	// With a CPUCounter: the counter as last read, and when; the tick of
	// the last listing (0: none since the counter was last unreadable)
	// and what it found.
	usage   time.Duration
	usageOK bool
	at      time.Time
	listGen uint64
	procs   int
	rss     uint64
	fd      int // the counter held open (CPUCounterFile), or -1
}

func newMemberTable() *memberTable {
	return &memberTable{procs: map[int]*memberEntry{}, regs: map[uint64]*memberState{}, shared: map[string]*sharedState{}, statbuf: make([]byte, 1024), procfd: -1, refresh: refreshMembers}
}

// begin starts a tick; end closes what no registration read in it.
func (m *memberTable) begin() { m.gen++ }

// budget sets how many counters may be held open over the next tick, with
// n incarnations watched.
func (m *memberTable) budget(n int) {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		m.share = 0
		return
	}
	m.share = fdShare(lim.Cur, n)
}

func (m *memberTable) closeCounter(st *memberState) {
	if st.fd >= 0 {
		unix.Close(st.fd)
		st.fd = -1
		m.kept--
	}
}

func (m *memberTable) end(now time.Time) {
	for pid, e := range m.procs {
		if e.readGen != m.gen {
			unix.Close(e.fd)
			delete(m.procs, pid)
		}
	}
	for id, st := range m.regs {
		if st.gen != m.gen {
			m.closeCounter(st)
			delete(m.regs, id)
		}
	}
	for key, sh := range m.shared {
		if sh.gen != m.gen {
			delete(m.shared, key)
		}
	}
	m.prevAt = now
}

func (m *memberTable) close() {
	for pid, e := range m.procs {
		unix.Close(e.fd)
		delete(m.procs, pid)
	}
	for id, st := range m.regs {
		m.closeCounter(st)
		delete(m.regs, id)
	}
	if m.procfd >= 0 {
		unix.Close(m.procfd)
		m.procfd = -1
	}
}

// sample sums one registration's members. ok is false when the members
// could not be listed or read (nothing is concluded then); an empty list
// means the incarnation is over.
func (m *memberTable) sample(id uint64, members Members, now time.Time, pageSize uint64, clkTck float64) (g group, cpuPct float64, cpuValid, ok bool) {
	st := m.regs[id]
	if st == nil {
		st = &memberState{fd: -1}
		m.regs[id] = st
	}
	prevGen := st.gen
	st.gen = m.gen
	if c, isCounter := members.(CPUCounter); isCounter {
		return m.sampleCounted(id, st, prevGen == m.gen-1, members, c, now, pageSize)
	}
	pids, err := members.AppendProcs(m.pids[:0])
	m.pids = pids
	if err != nil {
		return group{}, 0, false, false
	}
	for _, pid := range pids {
		e := m.procs[pid]
		fresh := e == nil
		if fresh {
			fd, err := unix.Open("/proc/"+strconv.Itoa(pid)+"/stat", unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				if outOfFiles(err) {
					// Not gone: unread. A sum without it proves nothing.
					return group{}, 0, false, false
				}
				continue // gone since the listing
			}
			e = &memberEntry{fd: fd}
			m.procs[pid] = e
		}
		n, err := unix.Pread(e.fd, m.statbuf, 0)
		var ps stat
		if err == nil {
			ps, err = parseStat(m.statbuf[:n])
		}
		if err != nil || ps.zombie {
			// The process behind a kept descriptor is gone (a reused
			// pid is a new member, read afresh next tick).
			unix.Close(e.fd)
			delete(m.procs, pid)
			continue
		}
		baseline := !fresh && e.readGen == m.gen-1 && ps.ticks >= e.ticks
		if baseline {
			g.ticks += ps.ticks - e.ticks
		}
		e.ticks, e.readGen = ps.ticks, m.gen
		g.procs++
		g.rss += ps.rss * pageSize
	}
	elapsed := now.Sub(m.prevAt).Seconds()
	if prevGen == m.gen-1 && elapsed > 0 {
		cpuPct, cpuValid = float64(g.ticks)/clkTck/elapsed*100, true
	}
	return g, cpuPct, cpuValid, true
}

// sampleCounted is sample for Members with a CPU counter. The counter is
// read before the listing: a process forked after the listing runs, so
// the next tick sees the counter moved and lists again.
func (m *memberTable) sampleCounted(id uint64, st *memberState, consecutive bool, members Members, c CPUCounter, now time.Time, pageSize uint64) (g group, cpuPct float64, cpuValid, ok bool) {
	// The counter above is read first, before any counter or listing
	// under it this tick: what it saw still, they saw still.
	still := m.sharedStill(c)
	var usage time.Duration
	var err error
	if still && consecutive && st.usageOK {
		usage = st.usage // nothing ran: the counter is where it was
	} else {
		usage, err = m.cpuTime(st, c)
	}
	counted := err == nil
	if counted && st.usageOK && consecutive && usage >= st.usage && now.After(st.at) {
		cpuPct, cpuValid = float64(usage-st.usage)/float64(now.Sub(st.at))*100, true
	}
	same := counted && st.usageOK && consecutive && usage == st.usage && st.listGen != 0 && (m.gen+id)%m.refresh != 0
	st.usage, st.usageOK, st.at = usage, counted, now
	if same {
		return group{procs: st.procs, rss: st.rss}, cpuPct, cpuValid, true
	}
	st.listGen = 0
	pids, err := members.AppendProcs(m.pids[:0])
	m.pids = pids
	if err != nil {
		return group{}, 0, false, false
	}
	for _, pid := range pids {
		rss, err := m.statm(pid)
		if err != nil {
			if outOfFiles(err) {
				return group{}, 0, false, false
			}
			continue // gone since the listing
		}
		g.procs++
		g.rss += rss * pageSize
	}
	if counted {
		st.listGen, st.procs, st.rss = m.gen, g.procs, g.rss
	}
	return g, cpuPct, cpuValid, true
}

// sharedStill reads c's counter above, once a tick, and reports whether
// it stands where it stood the tick before.
func (m *memberTable) sharedStill(c CPUCounter) bool {
	sc, ok := c.(SharedCounter)
	if !ok {
		return false
	}
	key := sc.SharedCounterKey()
	sh := m.shared[key]
	if sh == nil {
		sh = &sharedState{}
		m.shared[key] = sh
	}
	if sh.gen != m.gen {
		usage, err := sc.SharedCPUTime()
		sh.still = err == nil && sh.ok && sh.gen == m.gen-1 && usage == sh.usage
		sh.usage, sh.ok, sh.gen = usage, err == nil, m.gen
	}
	return sh.still
}

// cpuTime reads the counter, through a descriptor held open when the
// share allows one.
func (m *memberTable) cpuTime(st *memberState, c CPUCounter) (time.Duration, error) {
	f, ok := c.(CPUCounterFile)
	if !ok {
		return c.CPUTime()
	}
	if st.fd >= 0 && m.kept > m.share {
		m.closeCounter(st) // the share shrank
	}
	if st.fd < 0 && m.kept < m.share {
		if fd, err := f.OpenCPUTime(); err == nil {
			st.fd = fd
			m.kept++
		}
	}
	if st.fd >= 0 {
		if d, err := f.ReadCPUTime(st.fd); err == nil {
			return d, nil
		}
		m.closeCounter(st)
	}
	return c.CPUTime()
}

// statm returns pid's resident pages, from /proc/PID/statm: the same
// figure as stat's rss field (file, anonymous and shared memory pages
// mapped), which the kernel produces without stat's formatting.
func (m *memberTable) statm(pid int) (uint64, error) {
	if m.procfd < 0 {
		fd, err := unix.Open("/proc", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return 0, err
		}
		m.procfd = fd
	}
	m.path = append(strconv.AppendInt(m.path[:0], int64(pid), 10), "/statm"...)
	fd, err := unix.Openat(m.procfd, string(m.path), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	n, err := unix.Read(fd, m.statbuf)
	unix.Close(fd)
	if err != nil {
		return 0, err
	}
	return parseStatm(m.statbuf[:n])
}

var errStatmFormat = errors.New("limits: malformed /proc/PID/statm")

// parseStatm reads the second field of statm, resident pages.
func parseStatm(b []byte) (uint64, error) {
	i := 0
	for i < len(b) && b[i] != ' ' {
		i++
	}
	if i == 0 || i == len(b) {
		return 0, errStatmFormat
	}
	b = b[i+1:]
	j := 0
	for j < len(b) && b[j] != ' ' && b[j] != '\n' {
		j++
	}
	v, ok := parseUint(b[:j])
	if !ok {
		return 0, errStatmFormat
	}
	return v, nil
}

// outOfFiles tells a process that could not be read for want of a file
// descriptor from one that is gone.
func outOfFiles(err error) bool {
	return errors.Is(err, unix.EMFILE) || errors.Is(err, unix.ENFILE)
}
