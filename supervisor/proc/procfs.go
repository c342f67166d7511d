package proc

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/tendhq/tend/supervisor/cgroup"
)

// procRoot is where procfs is mounted; a constant, not a knob.
const procRoot = "/proc"

// stat is the part of /proc/PID/stat that tend cares about: the one the
// process-group rule (cgroup.Leader.Owns) reads.
type stat = cgroup.ProcStat

// statBuf holds any /proc/PID/stat: 52 fields of at most 20 digits and a
// command name of at most 64 bytes.
const statBuf = 1536

// readStat reads /proc/PID/stat. Every spawn reads its child's: a plain
// open, read and close into a buffer on the stack, where os.ReadFile also
// made the descriptor non-blocking, asked the poller about it, stat'ed it
// and allocated (a twentieth of the daemon's CPU in a cold start).
func readStat(pid int) (stat, error) {
	path := procRoot + "/" + strconv.Itoa(pid) + "/stat"
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return stat{}, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	var buf [statBuf]byte
	n := 0
	for n < len(buf) {
		m, err := unix.Read(fd, buf[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return stat{}, &os.PathError{Op: "read", Path: path, Err: err}
		}
		if m == 0 {
			return parseStat(pid, buf[:n])
		}
		n += m
	}
	return stat{}, &os.PathError{Op: "read", Path: path, Err: fmt.Errorf("longer than %d bytes", statBuf)}
}

// parseStat parses /proc/PID/stat, whose command name may hold spaces and
// parentheses (cgroup.ParseProcStat counts fields from the last ')').
func parseStat(pid int, b []byte) (stat, error) { return cgroup.ParseProcStat(pid, b) }

// readBootID returns the kernel's boot id, which changes on every boot and
// so tells a pid from a previous boot apart from a live one.
func readBootID() (string, error) {
	b, err := os.ReadFile(procRoot + "/sys/kernel/random/boot_id")
	if err != nil {
		return "", fmt.Errorf("proc: boot id: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// allPIDs lists every pid currently in /proc, in directory order.
func allPIDs() ([]int, error) {
	d, err := os.Open(procRoot)
	if err != nil {
		return nil, fmt.Errorf("proc: list processes: %w", err)
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("proc: list processes: %w", err)
	}
	pids := make([]int, 0, len(names))
	for _, n := range names {
		if n[0] < '0' || n[0] > '9' {
			continue
		}
		if pid, err := strconv.Atoi(n); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// scanStats calls fn for every process whose stat is readable, until fn
// returns false. Processes that vanish during the scan are skipped: the
// scan is a snapshot.
func scanStats(fn func(stat) bool) error {
	pids, err := allPIDs()
	if err != nil {
		return err
	}
	for _, pid := range pids {
		if st, err := readStat(pid); err == nil && !fn(st) {
			return nil
		}
	}
	return nil
}

// groupMembers lists the live (non-zombie) processes of process group pgid.
func groupMembers(pgid int) ([]int, error) {
	var live []int
	err := scanStats(func(st stat) bool {
		if st.PGRP == pgid && !st.Zombie() {
			live = append(live, st.PID)
		}
		return true
	})
	return live, err
}

// hasMarkers reports whether the process's initial environment carries
// both entries exactly. A zombie or a vanished process has no readable
// environment and reports false.
func hasMarkers(pid int, worker, inc string) bool {
	b, err := os.ReadFile(procRoot + "/" + strconv.Itoa(pid) + "/environ")
	if err != nil || len(b) == 0 {
		return false
	}
	var gotW, gotI bool
	for kv := range bytes.SplitSeq(b, []byte{0}) {
		switch string(kv) {
		case worker:
			gotW = true
		case inc:
			gotI = true
		}
	}
	return gotW && gotI
}

// selfChildren lists the daemon's direct children, live or zombie. The
// per-thread children files are used because Go forks from any thread, and
// the kernel reparents a subreaper's orphans to the thread that forked
// their ancestor, so every thread's children count. When the files are
// unavailable (CONFIG_PROC_CHILDREN off) /proc is scanned.
func selfChildren(self int, buf *[]byte) ([]int, error) {
	var kids []int
	if ok := eachChildrenFile(self, buf, func(b []byte) { kids = appendPIDs(kids, b) }); ok {
		return kids, nil
	}
	err := scanStats(func(st stat) bool {
		if st.PPID == self {
			kids = append(kids, st.PID)
		}
		return true
	})
	return kids, err
}

// eachChildrenFile calls fn with the contents of every thread's children
// file, read into *buf (grown as needed and kept by the caller, so a
// sweep over a thousand workers' pids does not allocate per read). It
// reports false when the files are unavailable.
func eachChildrenFile(self int, buf *[]byte, fn func([]byte)) bool {
	d, err := os.Open(procRoot + "/self/task")
	if err != nil {
		return false
	}
	tids, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return false
	}
	if *buf == nil {
		*buf = make([]byte, 16<<10)
	}
	me := strconv.Itoa(self)
	for _, tid := range tids {
		b, err := readAll(procRoot+"/self/task/"+tid+"/children", buf)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) && tid == me {
				return false
			}
			continue // the thread exited meanwhile
		}
		fn(b)
	}
	return true
}

// readAll reads a small procfs file into *buf, growing it until the whole
// file fits.
func readAll(path string, buf *[]byte) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	n := 0
	for {
		if n == len(*buf) {
			*buf = append(*buf, make([]byte, len(*buf))...)
		}
		m, err := f.Read((*buf)[n:])
		n += m
		if err == io.EOF || (err == nil && m == 0) {
			return (*buf)[:n], nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// appendPIDs appends the space-separated decimal pids in b.
func appendPIDs(pids []int, b []byte) []int {
	pid, in := 0, false
	for _, c := range b {
		if c >= '0' && c <= '9' {
			pid, in = pid*10+int(c-'0'), true
			continue
		}
		if in {
			pids = append(pids, pid)
		}
		pid, in = 0, false
	}
	if in {
		pids = append(pids, pid)
	}
	return pids
}
