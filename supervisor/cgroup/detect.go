package cgroup

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// mount is one cgroup2 line of /proc/self/mountinfo.
type mount struct {
	Root  string // the hierarchy path mounted (field 4), "/" for the whole
	Point string // where (field 5)
}

// parseMountinfo returns the cgroup2 mounts listed in a mountinfo file, in
// order. Fields are space-separated; optional fields end at a lone "-",
// after which come the filesystem type, source and super options. Paths
// escape space, tab, newline and backslash as \ooo.
func parseMountinfo(r io.Reader) ([]mount, error) {
	var out []mount
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		sep := -1
		for i := 6; i < len(f); i++ {
			if f[i] == "-" {
				sep = i
				break
			}
		}
		if len(f) < 6 || sep < 0 || sep+1 >= len(f) {
			continue // not a line we can read; the kernel writes none such
		}
		if f[sep+1] != "cgroup2" {
			continue
		}
		out = append(out, mount{Root: unescapeMount(f[3]), Point: unescapeMount(f[4])})
	}
	return out, sc.Err()
}

func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// parseProcCgroup returns the cgroup v2 path of a /proc/PID/cgroup file: the
// "0::PATH" line. ok is false when there is none (v1 only).
func parseProcCgroup(b []byte) (p string, ok bool) {
	for line := range bytes.SplitSeq(b, []byte{'\n'}) {
		if rest, found := bytes.CutPrefix(line, []byte("0::")); found {
			return string(rest), true
		}
	}
	return "", false
}

// locate maps a cgroup path (as /proc/self/cgroup shows it) to a directory
// through the cgroup2 mount that shows it, preferring the mount of the
// longest root (the most specific) and, among equals, the first listed.
func locate(mounts []mount, cg string) (m mount, dir string, ok bool) {
	best := -1
	for i, m := range mounts {
		if !within(cg, m.Root) {
			continue
		}
		if best < 0 || len(m.Root) > len(mounts[best].Root) {
			best = i
		}
	}
	if best < 0 {
		return mount{}, "", false
	}
	m = mounts[best]
	rel := strings.TrimPrefix(cg, m.Root)
	return m, path.Join(m.Point, rel), true
}

// within reports whether cgroup path p is root or below it.
func within(p, root string) bool {
	if root == "/" {
		return strings.HasPrefix(p, "/") && !strings.HasPrefix(p, "/..")
	}
	return p == root || strings.HasPrefix(p, root+"/")
}

// kernelAtLeast compares a uname release ("6.18.44-fc-v1272") with
// major.minor. An unreadable release passes: the kernel's own answers
// decide then.
func kernelAtLeast(release string, major, minor int) bool {
	f := strings.FieldsFunc(release, func(r rune) bool { return r == '.' || r == '-' })
	if len(f) < 2 {
		return true
	}
	ma, err1 := strconv.Atoi(f[0])
	mi, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil {
		return true
	}
	return ma > major || ma == major && mi >= minor
}

func unameRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}

// probeClone3 asks the kernel for clone3 with arguments it must refuse
// (size 0) before it could fork: EINVAL means clone3 exists and is
// allowed; ENOSYS or EPERM mean it is missing or filtered.
func probeClone3() error {
	_, _, errno := unix.RawSyscall(unix.SYS_CLONE3, 0, 0, 0)
	if errno == unix.EINVAL {
		return nil
	}
	if errno == 0 {
		// Impossible with a NULL argument; treat as available.
		return nil
	}
	return errno
}

// delegated reports whether cgroup directory dir was handed to this
// process: systemd (251 and later) marks a Delegate=yes unit's cgroup with
// the xattr trusted.delegate=1 (user.delegate=1 for a user manager), and
// chowns it to the unit's user when that user is not root.
func delegated(dir string) bool {
	for _, name := range []string{"trusted.delegate", "user.delegate"} {
		buf := make([]byte, 8)
		n, err := unix.Getxattr(dir, name, buf)
		if err == nil && strings.TrimSpace(string(buf[:n])) == "1" {
			return true
		}
	}
	if euid := os.Geteuid(); euid != 0 {
		var st unix.Stat_t
		if unix.Stat(dir, &st) == nil && int(st.Uid) == euid {
			return true
		}
	}
	return false
}

// fields reads a space-separated cgroup file (cgroup.controllers,
// cgroup.subtree_control) as a set.
func fields(file string) (map[string]bool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	set := map[string]bool{}
	for _, f := range strings.Fields(string(b)) {
		set[f] = true
	}
	return set, nil
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// where is the result of finding the daemon's place in the hierarchy.
type where struct {
	mount   mount
	own     string // the daemon's cgroup path, as /proc/self/cgroup says
	base    string // cgroup path under which the subtree is made
	baseDir string
	mode    Mode
	inLeaf  bool // the daemon already sits in a tend daemon leaf
}

// find reads /proc/self/mountinfo and /proc/self/cgroup and decides where
// the daemon's subtree goes, or why it cannot have one.
func find(opts Options) (where, error) {
	mi, err := os.Open(opts.procRoot() + "/self/mountinfo")
	if err != nil {
		return where{}, &UnavailableError{Reason: NoCgroup2, Path: "/proc/self/mountinfo", Err: err}
	}
	mounts, err := parseMountinfo(mi)
	mi.Close()
	if err != nil {
		return where{}, &UnavailableError{Reason: NoCgroup2, Path: "/proc/self/mountinfo", Err: err}
	}
	if len(mounts) == 0 {
		return where{}, &UnavailableError{Reason: NoCgroup2,
			Hint: "mount it (mount -t cgroup2 none /sys/fs/cgroup/unified on a hybrid host) or boot with systemd.unified_cgroup_hierarchy=1"}
	}
	b, err := os.ReadFile(opts.procRoot() + "/self/cgroup")
	if err != nil {
		return where{}, &UnavailableError{Reason: NoUnifiedEntry, Path: "/proc/self/cgroup", Err: err}
	}
	own, ok := parseProcCgroup(b)
	if !ok {
		return where{}, &UnavailableError{Reason: NoUnifiedEntry, Path: "/proc/self/cgroup"}
	}
	own = strings.TrimSuffix(own, " (deleted)")
	w := where{own: own, base: own}
	// A daemon that moved itself into its leaf and then re-executed (or a
	// second Tree in the same process) finds itself in <base>/tend-X/
	// supervisor: the base is two levels up.
	if path.Base(own) == leafName && strings.HasPrefix(path.Base(path.Dir(own)), subtreePrefix) {
		w.base = path.Dir(path.Dir(own))
		w.inLeaf = true
	}
	m, dir, ok := locate(mounts, w.base)
	if !ok {
		return where{}, &UnavailableError{Reason: NotVisible, Path: w.base,
			Hint: "mount the whole cgroup2 hierarchy, or run tend in a cgroup namespace of its own"}
	}
	w.mount, w.baseDir = m, dir
	switch {
	case w.base == "/" && !exists(path.Join(dir, "cgroup.type")):
		// The true root has no cgroup.type: it is the hierarchy itself
		// (a hybrid host, a host without a cgroup manager).
		w.mode = ModeRoot
	case w.base == "/":
		// The root of a cgroup namespace: a container of our own.
		w.mode = ModeNamespace
	case opts.Delegated || delegated(dir):
		w.mode = ModeDelegated
	default:
		return where{}, &UnavailableError{Reason: NotDelegated, Path: w.base,
			Hint: "run tend in a systemd unit with Delegate=yes (systemd before 251 does not mark the delegation; tend must then be told)"}
	}
	return w, nil
}

// checkKernel refuses kernels that cannot spawn into a cgroup or kill one.
// The subtree dir must exist: its files say what the kernel offers.
func checkKernel(subtree string) (kill bool, err error) {
	rel := unameRelease()
	if !kernelAtLeast(rel, 5, 7) {
		return false, &UnavailableError{Reason: OldKernel, Path: "kernel " + rel,
			Err: errors.New("clone3 with CLONE_INTO_CGROUP needs Linux 5.7")}
	}
	if err := probeClone3(); err != nil {
		return false, &UnavailableError{Reason: Clone3Blocked, Err: fmt.Errorf("clone3: %w", err),
			Hint: "allow clone3 in the container's seccomp profile"}
	}
	kill = exists(path.Join(subtree, "cgroup.kill"))
	if !kill && !exists(path.Join(subtree, "cgroup.freeze")) {
		return false, &UnavailableError{Reason: OldKernel, Path: subtree,
			Err: errors.New("neither cgroup.kill (Linux 5.14) nor cgroup.freeze (Linux 5.2)")}
	}
	return kill, nil
}
