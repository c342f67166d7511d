package limits

import (
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

// memberTable samples incarnations whose members are listed for it, with
// no walk of /proc: each member's stat is read through a descriptor kept
// open across ticks, as procTable does. It is owned by the Run goroutine.
type memberTable struct {
	procs   map[int]*memberEntry
	regs    map[uint64]uint64 // registration → gen of its last sample, for the CPU baseline
	gen     uint64
	prevAt  time.Time
	pids    []int
	statbuf []byte
}

type memberEntry struct {
	fd      int
	ticks   uint64
	readGen uint64
}

func newMemberTable() *memberTable {
	return &memberTable{procs: map[int]*memberEntry{}, regs: map[uint64]uint64{}, statbuf: make([]byte, 1024)}
}

// begin starts a tick; end closes what no registration read in it.
func (m *memberTable) begin() { m.gen++ }

func (m *memberTable) end(now time.Time) {
	for pid, e := range m.procs {
		if e.readGen != m.gen {
			unix.Close(e.fd)
			delete(m.procs, pid)
		}
	}
	for id, gen := range m.regs {
		if gen != m.gen {
			delete(m.regs, id)
		}
	}
	m.prevAt = now
}

func (m *memberTable) close() {
	for pid, e := range m.procs {
		unix.Close(e.fd)
		delete(m.procs, pid)
	}
}

// sample sums one registration's members. ok is false when the members
// could not be listed (nothing is concluded then); an empty list means
// the incarnation is over.
func (m *memberTable) sample(id uint64, members Members, now time.Time, pageSize uint64, clkTck float64) (g group, cpuPct float64, cpuValid, ok bool) {
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
				continue // gone since the listing
			}
			e = &memberEntry{fd: fd}
			m.procs[pid] = e
		}
		n, err := unix.Pread(e.fd, m.statbuf, 0)
		var st stat
		if err == nil {
			st, err = parseStat(m.statbuf[:n])
		}
		if err != nil || st.zombie {
			// The process behind a kept descriptor is gone (a reused
			// pid is a new member, read afresh next tick).
			unix.Close(e.fd)
			delete(m.procs, pid)
			continue
		}
		baseline := !fresh && e.readGen == m.gen-1 && st.ticks >= e.ticks
		if baseline {
			g.ticks += st.ticks - e.ticks
		}
		e.ticks, e.readGen = st.ticks, m.gen
		g.procs++
		g.rss += st.rss * pageSize
	}
	elapsed := now.Sub(m.prevAt).Seconds()
	if m.regs[id] == m.gen-1 && elapsed > 0 {
		cpuPct, cpuValid = float64(g.ticks)/clkTck/elapsed*100, true
	}
	m.regs[id] = m.gen
	return g, cpuPct, cpuValid, true
}
