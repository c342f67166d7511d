package limits

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// cgdir is Members and CPUCounter over a cgroup v2 directory made for
// the test, read as *cgroup.Group reads its own (which this package may
// not import): cgroup.procs and cpu.stat's usage_usec. Both are read
// through descriptors opened once, so that they can be read while the
// test has taken every other descriptor.
type cgdir struct {
	dir          string
	procs, usage int
	reads        int // listings; for the sampler goroutine only
}

func (c *cgdir) AppendProcs(dst []int) ([]int, error) {
	c.reads++
	b, err := pread(c.procs)
	if err != nil {
		return dst, err
	}
	for _, f := range strings.Fields(string(b)) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			return dst, err
		}
		dst = append(dst, pid)
	}
	return dst, nil
}

func (c *cgdir) CPUTime() (time.Duration, error) { return usageAt(c.usage) }

func usageAt(fd int) (time.Duration, error) {
	b, err := pread(fd)
	if err != nil {
		return 0, err
	}
	for line := range bytes.SplitSeq(b, []byte{'\n'}) {
		if v, ok := bytes.CutPrefix(line, []byte("usage_usec ")); ok {
			n, err := strconv.ParseUint(string(v), 10, 64)
			return time.Duration(n) * time.Microsecond, err
		}
	}
	return 0, errors.New("no usage_usec")
}

// cgfile is cgdir whose counter can be held open, as *cgroup.Group's.
type cgfile struct{ *cgdir }

func (c cgfile) OpenCPUTime() (int, error) {
	return unix.Open(filepath.Join(c.dir, "cpu.stat"), unix.O_RDONLY|unix.O_CLOEXEC, 0)
}

func (c cgfile) ReadCPUTime(fd int) (time.Duration, error) { return usageAt(fd) }

// cgshared is cgdir whose counter is summed in its parent's, as
// *cgroup.Group's is in its Tree's. counterReads counts the reads of its
// own counter.
type cgshared struct {
	*cgdir
	counterReads *int
}

func (c cgshared) CPUTime() (time.Duration, error) {
	*c.counterReads++
	return c.cgdir.CPUTime()
}

func (c cgshared) SharedCounterKey() string { return filepath.Dir(c.dir) }

func (c cgshared) SharedCPUTime() (time.Duration, error) {
	b, err := os.ReadFile(filepath.Join(filepath.Dir(c.dir), "cpu.stat"))
	if err != nil {
		return 0, err
	}
	v, _, _ := strings.Cut(strings.TrimPrefix(string(b), "usage_usec "), "\n")
	n, err := strconv.ParseUint(v, 10, 64)
	return time.Duration(n) * time.Microsecond, err
}

// pread reads a cgroup file from its start: the kernel makes it afresh.
func pread(fd int) ([]byte, error) {
	b := make([]byte, 4096) // more than a test group lists
	n, err := unix.Pread(fd, b, 0)
	if err != nil {
		return nil, err
	}
	return b[:n], nil
}

// newCgdir makes an empty cgroup under the cgroup v2 mount, or skips the
// test when there is none to write to. Its processes are killed and it is
// removed at the end.
func newCgdir(t testing.TB) *cgdir {
	t.Helper()
	root := cgroup2Mount()
	if root == "" {
		t.Skip("no cgroup v2 mount")
	}
	var b [6]byte
	rand.Read(b[:])
	parent := filepath.Join(root, "limits-test-"+hex.EncodeToString(b[:]))
	if err := os.Mkdir(parent, 0o755); err != nil {
		t.Skipf("cgroup v2 is not writable here: %v", err)
	}
	t.Cleanup(func() { os.Remove(parent) }) // after the group below it
	if _, err := os.Stat(filepath.Join(parent, "cpu.stat")); err != nil {
		t.Skipf("no cpu.stat: %v", err)
	}
	return newCgdirIn(t, parent, "w")
}

// newCgdirIn makes cgroup name under parent, another newCgdir's.
func newCgdirIn(t testing.TB, parent, name string) *cgdir {
	t.Helper()
	dir := filepath.Join(parent, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	c := &cgdir{dir: dir}
	var err error
	if c.procs, err = unix.Open(filepath.Join(dir, "cgroup.procs"), unix.O_RDONLY|unix.O_CLOEXEC, 0); err != nil {
		t.Fatal(err)
	}
	if c.usage, err = unix.Open(filepath.Join(dir, "cpu.stat"), unix.O_RDONLY|unix.O_CLOEXEC, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		unix.Close(c.procs)
		unix.Close(c.usage)
		deadline := time.Now().Add(15 * time.Second)
		for {
			os.WriteFile(filepath.Join(dir, "cgroup.kill"), []byte("1"), 0)
			if err := os.Remove(dir); err == nil || time.Now().After(deadline) {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
	return c
}

func cgroup2Mount() string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS... - FSTYPE SOURCE SUPER
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok || !strings.HasPrefix(post, "cgroup2 ") {
			continue
		}
		if fs := strings.Fields(pre); len(fs) >= 5 && fs[3] == "/" {
			return fs[4]
		}
	}
	return ""
}

// spawnIn starts the test binary as a helper born in c's cgroup, in a
// process group of its own, and returns its pid.
func spawnIn(t testing.TB, c *cgdir, mode string) int {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), helperEnv+"="+mode)
	return startIn(t, c, cmd)
}

// startIn starts cmd born in c's cgroup, in a process group of its own,
// kills the group at the end, and returns its pid.
func startIn(t testing.TB, c *cgdir, cmd *exec.Cmd) int {
	t.Helper()
	fd, err := unix.Open(c.dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	return spawn(t, cmd)
}

// A member forked while the sampler skips listings (the cgroup's CPU
// counter, or the one above it, standing still) counts: forking runs the
// parent, which moves both, and the next tick lists again. Its memory,
// read from statm, fires a memory-only limit that neither process reaches
// alone.
func TestCountedMembersSeeAFork(t *testing.T) {
	for _, kind := range []string{"counter", "file", "shared"} {
		t.Run(kind, func(t *testing.T) {
			c := newCgdir(t)
			var m Members = c
			switch kind {
			case "file":
				m = cgfile{c}
			case "shared":
				m = cgshared{c, new(int)}
			}
			leader := spawnIn(t, c, "forklater:40")
			s := NewSampler(20 * time.Millisecond)
			// No refresh: the counters alone must send the sampler to list again.
			s.members = newMemberTable()
			s.members.refresh = 1 << 62
			s.members.begin()
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); s.Run(ctx) }()
			defer func() { cancel(); <-done }()
			ch := make(chan Violation, 4)
			s.WatchMembers(t.Context(), leader, m, Spec{Memory: 32 * mib, MemoryPolicy: PolicyLog}, func(v Violation) { ch <- v })
			v := await(t, ch)
			if v.Resource != ResourceMemory || v.Measured <= 32*mib {
				t.Fatalf("violation %+v", v)
			}
			smp, ok := s.Latest(leader)
			if !ok || smp.Procs != 2 {
				t.Fatalf("sample %+v %v: the forked child is not counted", smp, ok)
			}
		})
	}
}

// While the counter above stands still, a tick reads it alone: not the
// counters below it, not their members. Once it moves, only the counter
// that moved lists again.
func TestSharedCounterStill(t *testing.T) {
	a := newCgdir(t)
	b := newCgdirIn(t, filepath.Dir(a.dir), "w2")
	spawnIn(t, a, "alloc:1")
	spawnIn(t, b, "alloc:1")
	ra, rb := new(int), new(int)
	ma, mb := cgshared{a, ra}, cgshared{b, rb}
	waitIdle(t, ma)
	m := newMemberTable()
	defer m.close()
	now := time.Now()
	tick := func() {
		t.Helper()
		m.begin()
		now = now.Add(time.Second)
		for id, c := range []cgshared{ma, mb} {
			if g, _, _, ok := m.sample(uint64(id+1), c, now, 4096, 100); !ok || g.procs != 1 || g.rss == 0 {
				t.Fatalf("tick %d, %s: %+v %v", m.gen, c.dir, g, ok)
			}
		}
		m.end(now)
	}
	tick()
	tick() // the first the counter above can stand still in
	*ra, *rb, a.reads, b.reads = 0, 0, 0, 0
	for range 5 {
		tick()
	}
	if *ra+*rb+a.reads+b.reads != 0 {
		t.Fatalf("idle ticks read %d and %d counters and listed %d and %d times", *ra, *rb, a.reads, b.reads)
	}
	// A process that runs in a, briefly, moves the counter above.
	fd, err := unix.Open(a.dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/bin/true")
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	err = cmd.Run()
	unix.Close(fd)
	if err != nil {
		t.Fatal(err)
	}
	tick()
	if *ra != 1 || *rb != 1 || a.reads != 1 || b.reads != 0 {
		t.Fatalf("after a ran: %d and %d counter reads, %d and %d listings; want 1 1 1 0", *ra, *rb, a.reads, b.reads)
	}
}

// waitIdle waits until c's counter stands still over 100 ms.
func waitIdle(t testing.TB, c CPUCounter) {
	t.Helper()
	var last time.Duration
	deadline := time.Now().Add(15 * time.Second)
	for {
		time.Sleep(100 * time.Millisecond)
		u, err := c.CPUTime()
		if err != nil {
			t.Fatal(err)
		}
		if u == last && u > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the helper never went idle")
		}
		last = u
	}
}

// While no member runs, a tick reads the counter and lists no one: the
// members stay as last listed, until the refresh that bounds how long.
func TestCountedMembersIdleNotListed(t *testing.T) {
	c := newCgdir(t)
	leader := spawnIn(t, c, "alloc:1")
	m := newMemberTable()
	defer m.close()
	page := uint64(os.Getpagesize())
	var id uint64 = 1
	waitIdle(t, c)
	c.reads = 0
	now := time.Now()
	listings := 0
	for i := range refreshMembers {
		m.begin()
		now = now.Add(time.Second)
		g, _, _, ok := m.sample(id, c, now, page, 100)
		m.end(now)
		if !ok || g.procs != 1 || g.rss < mib {
			t.Fatalf("tick %d: %+v ok=%v", i, g, ok)
		}
		listings = c.reads
	}
	// The first tick lists (no baseline), one more is the refresh.
	if listings != 2 {
		t.Errorf("%d listings in %d ticks of an idle member, want 2", listings, refreshMembers)
	}
	_ = leader
}

// Sampling members through a CPU counter keeps no descriptor per
// process: at ten thousand workers that is ten thousand descriptors the
// daemon, which holds a pidfd per worker already, cannot spare.
func TestCountedMembersKeepNoFiles(t *testing.T) {
	c := newCgdir(t)
	leader := spawnIn(t, c, "fork:1")
	spawnIn(t, c, "alloc:1")
	before := countFDs(t)
	s := startSampler(t, 10*time.Millisecond)
	s.WatchMembers(t.Context(), leader, c, Spec{}, func(Violation) {})
	eventually(t, "three members sampled", func() bool {
		smp, ok := s.Latest(leader)
		return ok && smp.Procs == 3
	})
	// The sampler's own /proc directory, nothing per member.
	if during := countFDs(t); during > before+1 {
		t.Errorf("%d fds while sampling 3 members, %d before", during, before)
	}
}

// Counters are held open within the share, which a shrinking share
// closes down to, and none is left open once its watch is gone.
func TestCounterFilesWithinShare(t *testing.T) {
	c := newCgdir(t)
	spawnIn(t, c, "alloc:1")
	f := cgfile{c}
	want, err := c.CPUTime()
	if err != nil {
		t.Fatal(err)
	}
	m := newMemberTable()
	defer m.close()
	before := countFDs(t)
	now := time.Now()
	tick := func(share int, ids ...uint64) {
		t.Helper()
		m.begin()
		m.share = share
		now = now.Add(time.Second)
		for _, id := range ids {
			if g, _, _, ok := m.sample(id, f, now, 4096, 100); !ok || g.procs != 1 {
				t.Fatalf("registration %d: %+v %v", id, g, ok)
			}
			if st := m.regs[id]; st.usage < want {
				t.Fatalf("counter read %v, below %v", st.usage, want)
			}
		}
		m.end(now)
	}
	for _, step := range []struct {
		share int
		ids   []uint64
		kept  int
	}{
		{2, []uint64{1, 2, 3}, 2},
		{3, []uint64{1, 2, 3}, 3},
		{1, []uint64{1, 2, 3}, 1},
		{3, []uint64{1}, 1}, // 2 and 3 are gone
		{3, nil, 0},
	} {
		tick(step.share, step.ids...)
		if m.kept != step.kept {
			t.Fatalf("share %d over %v: %d held, want %d", step.share, step.ids, m.kept, step.kept)
		}
		// The /proc directory the first listing opened, and the counters.
		if n := countFDs(t); n != before+1+step.kept {
			t.Fatalf("share %d over %v: %d fds, %d before", step.share, step.ids, n, before)
		}
	}
}

func TestFdShare(t *testing.T) {
	for _, c := range []struct {
		limit uint64
		n     int
		want  int
	}{
		{20000, 10000, 0},
		{20000, 9000, 1000},
		{20000, 5000, 5000},
		{20000, 2000, 2000},
		{1024, 10, 10},
		{1024, 600, 0},
		{1 << 20, 10000, 10000},
		{0, 1, 0},
	} {
		if got := fdShare(c.limit, c.n); got != c.want {
			t.Errorf("fdShare(%d, %d) = %d, want %d", c.limit, c.n, got, c.want)
		}
	}
}

// A member that cannot be read for want of file descriptors is not a
// member gone: the watch is neither dropped nor fed a sum without it.
func TestMembersOutOfFilesNotGone(t *testing.T) {
	for _, counted := range []bool{false, true} {
		t.Run("counted="+strconv.FormatBool(counted), func(t *testing.T) {
			var m Members
			var pid int
			s := NewSampler(time.Second)
			defer func() {
				if s.members != nil {
					s.members.close()
				}
			}()
			if counted {
				c := newCgdir(t)
				pid = spawnIn(t, c, "alloc:1")
				m = c
				// The sampler's /proc directory is open already: it is
				// the member's statm that cannot be.
				s.members = newMemberTable()
				s.members.begin()
				if _, err := s.members.statm(os.Getpid()); err != nil {
					t.Fatal(err)
				}
			} else {
				pid = spawnHelper(t, "alloc:1")
				l := &listed{}
				l.set(pid)
				m = l
			}
			s.WatchMembers(t.Context(), pid, m, Spec{}, func(Violation) {})
			exhaustFiles(t, func() { s.tick(time.Now()) })
			if s.registrations() != 1 {
				t.Fatal("the watch was dropped when its member could not be opened")
			}
			if smp, ok := s.Latest(pid); ok {
				t.Fatalf("a sample %+v taken without its member", smp)
			}
			s.tick(time.Now())
			if smp, ok := s.Latest(pid); !ok || smp.Procs != 1 {
				t.Fatalf("sample after the descriptors came back: %+v %v", smp, ok)
			}
		})
	}
}

// exhaustFiles runs fn with every file descriptor below a lowered soft
// limit taken, and gives them back.
func exhaustFiles(t *testing.T, fn func()) {
	t.Helper()
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	low := lim
	low.Cur = uint64(countFDs(t) + 16)
	var held []int
	t.Cleanup(func() {
		for _, fd := range held {
			unix.Close(fd)
		}
		unix.Setrlimit(unix.RLIMIT_NOFILE, &lim)
	})
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	for {
		fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			break
		}
		held = append(held, fd)
	}
	fn()
	for _, fd := range held {
		unix.Close(fd)
	}
	held = nil
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
}

func TestParseStatm(t *testing.T) {
	for _, c := range []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"2171 1234 300 5 0 150 0\n", 1234, true},
		{"2171 0 0 0 0 0 0\n", 0, true},
		{"2171\n", 0, false},
		{"", 0, false},
		{"1 -5 0 0 0 0 0\n", 0, false},
		{"1 x 0\n", 0, false},
	} {
		got, err := parseStatm([]byte(c.in))
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("parseStatm(%q) = %d, %v", c.in, got, err)
		}
	}
}
