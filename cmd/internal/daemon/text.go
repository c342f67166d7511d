package daemon

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// The daemon's own program text and read-only data are most of what it
// has mapped: a 30 MB binary whose code and tables are 19 MB. The kernel
// maps 64 KiB of the file around each page the daemon touches
// (fault-around), so a daemon that has run a few code paths has 16 MB of
// them mapped, most of it code it never runs: with 400 workers that was
// two thirds of its PSS. textSet stops fault-around on those mappings
// (MADV_RANDOM: a touch maps the page touched), and trimText lets go of
// what is mapped (MADV_DONTNEED), so that after a trim only what the daemon
// runs again is mapped. The pages stay in the page cache, so running code
// again costs a minor fault, not a read. Only the file's mappings that can
// never be written are touched: MADV_DONTNEED on the daemon's data would
// lose it.

// textRange is one read-only mapping of the daemon's executable.
type textRange struct{ start, end uintptr }

// textRanges lists the read-only mappings of the running executable
// (text and read-only data), told by the device and inode of
// /proc/self/exe, not by its path, which a replaced binary changes. A
// mapping with any page of its own (Anonymous in smaps) is left out: the
// dynamic loader writes relocations into a page before it makes it
// read-only, and dropping that page would bring back the file's
// unrelocated bytes.
func textRanges() ([]textRange, error) {
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/exe", &st); err != nil {
		return nil, err
	}
	b, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		return nil, err
	}
	return parseTextRanges(b, fmt.Sprintf("%02x:%02x", unix.Major(st.Dev), unix.Minor(st.Dev)), strconv.FormatUint(st.Ino, 10)), nil
}

// parseTextRanges reads smaps text for the private mappings of the file
// dev (as smaps spells it) and ino that can never be written and hold no
// page of their own.
func parseTextRanges(smaps []byte, dev, ino string) []textRange {
	var out []textRange
	var cur textRange
	candidate := false
	sc := bufio.NewScanner(bytes.NewReader(smaps))
	for sc.Scan() {
		line := sc.Bytes()
		f := bytes.Fields(line)
		if len(f) == 0 {
			continue
		}
		if lo, hi, ok := bytes.Cut(f[0], []byte{'-'}); ok && len(f) >= 5 {
			// A mapping's header: start-end perms offset dev inode [path].
			candidate = false
			perms := string(f[1])
			if string(f[3]) != dev || string(f[4]) != ino || len(perms) != 4 || perms[1] != '-' || perms[3] != 'p' {
				continue // another file's, writable or shared: never dropped
			}
			s, err1 := strconv.ParseUint(string(lo), 16, 64)
			e, err2 := strconv.ParseUint(string(hi), 16, 64)
			if err1 != nil || err2 != nil || e <= s {
				continue
			}
			cur, candidate = textRange{uintptr(s), uintptr(e)}, true
			continue
		}
		if candidate && string(f[0]) == "Anonymous:" {
			candidate = false
			if len(f) >= 2 && string(f[1]) == "0" {
				out = append(out, cur)
			}
		}
	}
	return out
}

func madvise(r textRange, advice int) error {
	_, _, errno := unix.Syscall(unix.SYS_MADVISE, r.start, r.end-r.start, uintptr(advice))
	if errno != 0 {
		return errno
	}
	return nil
}

// textSet turns fault-around off on the executable's read-only mappings
// and returns them for trimText; nil when they cannot be found.
func textSet() []textRange {
	rs, err := textRanges()
	if err != nil {
		return nil
	}
	for _, r := range rs {
		if madvise(r, unix.MADV_RANDOM) != nil {
			return nil
		}
	}
	return rs
}

// trimText lets go of the executable's read-only pages the daemon has
// mapped; the next touch of each maps it again from the page cache.
func trimText(rs []textRange) {
	for _, r := range rs {
		_ = madvise(r, unix.MADV_DONTNEED)
	}
}
