package limits

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/shirou/gopsutil/v4/cpu"
	"golang.org/x/sys/unix"
)

// refreshEvery is how many ticks a non-member's cached group id is trusted.
// Non-members are read once when their pid appears and then only every
// refreshEvery ticks, because a process rarely changes group and re-reading
// every process on the host each tick would cost more than sampling the
// workers. The refresh catches the rare setpgid into a watched group and a pid
// reused between two listings.
const refreshEvery = 30

// procTable is the sampler's view of /proc, kept across ticks. It is owned by
// the sampler goroutine and not safe for concurrent use.
type procTable struct {
	dirfd    int // /proc, rewound and listed once per tick
	dirbuf   []byte
	statbuf  []byte
	procs    map[int]*procEntry
	groups   map[int]uint64 // pgid → gen of its last aggregate, to know whether CPU has a baseline
	gen      uint64
	prevAt   time.Time
	pageSize uint64
	clkTck   float64
}

// procEntry is one process seen in the last listing. Members of watched
// groups keep their stat file open; others keep only their group id.
type procEntry struct {
	fd      int    // kept-open /proc/PID/stat, or -1
	pgid    int    // as of readGen
	ticks   uint64 // utime+stime as of readGen
	readGen uint64
	seenGen uint64
}

// group is one watched group's aggregate for a tick.
type group struct {
	rss   uint64 // bytes
	ticks uint64 // CPU ticks of members that have a baseline
	procs int
}

func openProcTable() (*procTable, error) {
	fd, err := unix.Open("/proc", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("limits: open /proc: %w", err)
	}
	return &procTable{
		dirfd:    fd,
		dirbuf:   make([]byte, 64<<10),
		statbuf:  make([]byte, 1024),
		procs:    make(map[int]*procEntry),
		groups:   make(map[int]uint64),
		pageSize: uint64(os.Getpagesize()),
		clkTck:   cpu.ClocksPerSec,
	}, nil
}

func (t *procTable) close() {
	for pid, e := range t.procs {
		if e.fd >= 0 {
			unix.Close(e.fd)
		}
		delete(t.procs, pid)
	}
	unix.Close(t.dirfd)
}

// scan lists /proc once and aggregates every watched group. complete is
// false when some process could not be read for lack of file descriptors:
// an empty group then proves nothing.
func (t *procTable) scan(watched map[int]bool, now time.Time) (groups map[int]group, cpuPct map[int]float64, complete bool, err error) {
	t.gen++
	refresh := t.gen%refreshEvery == 0
	groups = make(map[int]group, len(watched))
	complete = true
	err = t.list(func(pid int) {
		e := t.procs[pid]
		if e == nil {
			e = &procEntry{fd: -1}
			t.procs[pid] = e
		}
		e.seenGen = t.gen
		if e.fd < 0 && !watched[e.pgid] && !refresh && e.readGen != 0 {
			return // a known non-member
		}
		st, ok, short := t.read(pid, e)
		if short {
			complete = false
		}
		if !ok {
			return
		}
		baseline := e.readGen == t.gen-1 && e.pgid == st.pgid && st.ticks >= e.ticks
		delta := st.ticks - e.ticks
		e.pgid, e.ticks, e.readGen = st.pgid, st.ticks, t.gen
		if !watched[st.pgid] {
			if e.fd >= 0 {
				unix.Close(e.fd)
				e.fd = -1
			}
			return
		}
		if st.zombie {
			return
		}
		g := groups[st.pgid]
		g.procs++
		g.rss += st.rss * t.pageSize
		if baseline {
			g.ticks += delta
		}
		groups[st.pgid] = g
	})
	for pid, e := range t.procs {
		if e.seenGen != t.gen {
			if e.fd >= 0 {
				unix.Close(e.fd)
			}
			delete(t.procs, pid)
		}
	}
	cpuPct = make(map[int]float64, len(groups))
	elapsed := now.Sub(t.prevAt).Seconds()
	for pgid, g := range groups {
		if t.groups[pgid] == t.gen-1 && elapsed > 0 {
			cpuPct[pgid] = float64(g.ticks) / t.clkTck / elapsed * 100
		}
		t.groups[pgid] = t.gen
	}
	for pgid, gen := range t.groups {
		if gen != t.gen {
			delete(t.groups, pgid)
		}
	}
	t.prevAt = now
	return groups, cpuPct, complete, err
}

// read returns the process's stat, through its kept-open fd when it has one.
// A kept-open fd that fails means that exact process is gone; the pid is
// still listed, so it may have been reused, and is opened afresh. short
// reports a failure to open for lack of file descriptors.
func (t *procTable) read(pid int, e *procEntry) (st stat, ok, short bool) {
	if e.fd >= 0 {
		if st, err := t.pread(e.fd); err == nil {
			return st, true, false
		}
		unix.Close(e.fd)
		e.fd = -1
		e.readGen = 0 // a different process, if any: no CPU baseline
	}
	fd, err := unix.Open("/proc/"+strconv.Itoa(pid)+"/stat", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return stat{}, false, errors.Is(err, unix.EMFILE) || errors.Is(err, unix.ENFILE)
	}
	st, err = t.pread(fd)
	if err != nil {
		unix.Close(fd)
		return stat{}, false, false
	}
	e.fd = fd // the caller closes it again if pid is not a member
	return st, true, false
}

func (t *procTable) pread(fd int) (stat, error) {
	n, err := unix.Pread(fd, t.statbuf, 0)
	if err != nil {
		return stat{}, err
	}
	return parseStat(t.statbuf[:n])
}

// list calls fn for every pid in /proc, parsing linux_dirent64 records
// directly so that listing allocates nothing per process.
func (t *procTable) list(fn func(pid int)) error {
	if _, err := unix.Seek(t.dirfd, 0, 0); err != nil {
		return fmt.Errorf("limits: rewind /proc: %w", err)
	}
	for {
		n, err := unix.Getdents(t.dirfd, t.dirbuf)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("limits: list /proc: %w", err)
		}
		if n <= 0 {
			return nil
		}
		for b := t.dirbuf[:n]; len(b) >= direntNameOff; {
			reclen := int(binary.NativeEndian.Uint16(b[direntReclenOff:]))
			if reclen < direntNameOff || reclen > len(b) {
				return errors.New("limits: list /proc: malformed directory entry")
			}
			if pid, ok := direntPid(b[direntNameOff:reclen]); ok {
				fn(pid)
			}
			b = b[reclen:]
		}
	}
}

// linux_dirent64: d_ino u64, d_off s64, d_reclen u16, d_type u8, d_name.
const (
	direntReclenOff = 16
	direntNameOff   = 19
)

// direntPid parses a NUL-terminated all-digit name as a pid.
func direntPid(name []byte) (int, bool) {
	pid := 0
	for i, c := range name {
		if c == 0 {
			return pid, i > 0
		}
		if c < '0' || c > '9' || i > 9 {
			return 0, false
		}
		pid = pid*10 + int(c-'0')
	}
	return 0, false
}
