package proc

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tendhq/tend/supervisor/proc/proctest"
)

func TestExitCodes(t *testing.T) {
	s := newSpawner(t, Options{})
	for _, code := range []int{0, 3, 255} {
		spec := helperSpec(t, "w", "exit", strconv.Itoa(code))
		p := start(t, s, spec)
		e := p.Wait()
		if e.Code != code || e.Signal != 0 || e.Err != nil {
			t.Fatalf("exit %d: got %+v", code, e)
		}
		if e.Success() != (code == 0) {
			t.Errorf("exit %d: Success() = %v", code, e.Success())
		}
		if want := "exit status " + strconv.Itoa(code); e.String() != want {
			t.Errorf("String() = %q, want %q", e.String(), want)
		}
	}
}

func TestKilledBySignal(t *testing.T) {
	s := newSpawner(t, Options{})
	spec := helperSpec(t, "w", "ignore-sigterm")
	p := start(t, s, spec)
	waitReady(t, p, spec.Stdout)
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("Signal TERM: %v", err)
	}
	select {
	case <-p.Done():
		t.Fatalf("ignore-sigterm died of TERM: %v", p.Wait())
	case <-time.After(100 * time.Millisecond):
	}
	if err := p.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("Signal KILL: %v", err)
	}
	e := p.Wait()
	if e.Code != -1 || e.Signal != syscall.SIGKILL || e.Success() || e.String() != "signal KILL" {
		t.Fatalf("got %+v (%s)", e, e)
	}
}

func TestExitString(t *testing.T) {
	for _, tc := range []struct {
		e    Exit
		want string
	}{
		{Exit{Code: 3}, "exit status 3"},
		{Exit{Code: -1, Signal: syscall.SIGKILL}, "signal KILL"},
		{Exit{Code: -1, Signal: syscall.SIGTERM, CoreDumped: true}, "signal TERM (core dumped)"},
		{Exit{Code: -1, Signal: syscall.Signal(200)}, "signal 200"},
		{Exit{Code: -1}, "unknown"},
		{Exit{Code: -1, Err: errors.New("boom")}, "unknown: boom"},
	} {
		if got := tc.e.String(); got != tc.want {
			t.Errorf("%+v: got %q, want %q", tc.e, got, tc.want)
		}
	}
}

func TestStartErrors(t *testing.T) {
	s := newSpawner(t, Options{})
	dir := t.TempDir()
	noexec := filepath.Join(dir, "noexec")
	if err := os.WriteFile(noexec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cmd  []string
		want syscall.Errno
	}{
		{"missing absolute", []string{filepath.Join(dir, "nope")}, syscall.ENOENT},
		{"missing in PATH", []string{"tend-no-such-binary-here"}, syscall.ENOENT},
		{"not executable", []string{noexec}, syscall.EACCES},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Start(Spec{Worker: "w", Incarnation: 9, Command: tc.cmd})
			var se *StartError
			if !errors.As(err, &se) || se.Worker != "w" || se.Incarnation != 9 {
				t.Fatalf("want *StartError for w/9, got %T %v", err, err)
			}
			var errno syscall.Errno
			if !errors.As(err, &errno) || errno != tc.want {
				t.Fatalf("errno: got %v (%v), want %v", errno, err, tc.want)
			}
		})
	}
	if _, err := s.Start(Spec{Worker: "w"}); err == nil {
		t.Error("empty command: no error")
	}
	if _, err := s.Start(Spec{Worker: "w", Command: []string{"/bin/true"}, Dir: filepath.Join(dir, "nodir")}); !errors.Is(err, syscall.ENOENT) {
		t.Errorf("missing Dir: got %v, want ENOENT", err)
	}
}

func TestCredential(t *testing.T) {
	s := newSpawner(t, Options{})
	spec := Spec{Worker: "w", Command: []string{"/bin/sleep", "30"},
		Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	if os.Geteuid() != 0 {
		if _, err := s.Start(spec); !errors.Is(err, ErrNeedRoot) {
			t.Fatalf("non-root with Credential: got %v, want ErrNeedRoot", err)
		}
		return
	}
	p := start(t, s, spec)
	status, err := os.ReadFile("/proc/" + strconv.Itoa(p.PID()) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(status), "\nUid:\t65534\t65534\t65534\t65534\n") {
		t.Fatalf("worker does not run as 65534:\n%s", status)
	}
}

func TestEnvMarkers(t *testing.T) {
	s := newSpawner(t, Options{})
	spec := helperSpec(t, "web-1", "print-env")
	spec.Incarnation = 42
	spec.Env = []string{"FOO=bar"}
	p := start(t, s, spec)
	env := waitReady(t, p, spec.Stdout)
	for _, want := range []string{"FOO=bar", "TEND_WORKER=" + spec.Worker, "TEND_INCARNATION=42"} {
		if !contains(env, want) {
			t.Errorf("worker environment lacks %q: %q", want, env)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestOutputAppendsAcrossIncarnations(t *testing.T) {
	s := newSpawner(t, Options{})
	logs := filepath.Join(t.TempDir(), "logs", "w")
	path := filepath.Join(logs, "out.log")
	for inc := uint64(1); inc <= 2; inc++ {
		p := start(t, s, Spec{
			Worker: "w", Incarnation: inc,
			Command: []string{"/bin/sh", "-c", `echo "out $TEND_INCARNATION"; echo "err $TEND_INCARNATION" >&2`},
			Stdout:  path, Stderr: path,
		})
		if e := p.Wait(); !e.Success() {
			t.Fatalf("incarnation %d: %v", inc, e)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := "out 1\nerr 1\nout 2\nerr 2\n"; string(b) != want {
		t.Fatalf("log = %q, want %q", b, want)
	}
	fi, _ := os.Stat(path)
	di, _ := os.Stat(logs)
	if fi.Mode().Perm() != 0o640 || di.Mode().Perm() != 0o750 {
		t.Errorf("modes: file %v dir %v, want 0640 and 0750", fi.Mode().Perm(), di.Mode().Perm())
	}
}

func TestIdentity(t *testing.T) {
	s := newSpawner(t, Options{})
	spec := helperSpec(t, "w", "hang")
	p := start(t, s, spec)
	id := p.Identity()
	st, err := readStat(p.PID())
	if err != nil {
		t.Fatal(err)
	}
	boot, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if id.PID != p.PID() || id.StartTicks != st.StartTicks || id.StartTicks == 0 || id.BootID != strings.TrimSpace(string(boot)) {
		t.Fatalf("identity %+v, stat %+v, boot %q", id, st, boot)
	}
	if st.PGRP != p.PID() {
		t.Fatalf("worker not in its own group: pgrp %d pid %d", st.PGRP, p.PID())
	}
}

func TestParseStat(t *testing.T) {
	line := "77 (a) (b c) ) S 1 77 1 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 987654 1 2 3\n"
	st, err := parseStat(77, []byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if st.State != 'S' || st.PPID != 1 || st.PGRP != 77 || st.Session != 1 || st.StartTicks != 987654 {
		t.Fatalf("parsed %+v", st)
	}
	if _, err := parseStat(1, []byte("1 (x) S 1")); err == nil {
		t.Error("short stat parsed")
	}
}

func TestSignalReachesGrandchild(t *testing.T) {
	s := newSpawner(t, Options{Subreaper: true})
	spec := helperSpec(t, "w", "fork-grandchild")
	p := start(t, s, spec)
	gc := atoi(t, waitReady(t, p, spec.Stdout)[0])
	if !p.GroupAlive() {
		t.Fatal("GroupAlive false with a live group")
	}
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if e := p.Wait(); !e.Success() {
		t.Fatalf("leader: %v", e)
	}
	waitFor(t, "grandchild gone", func() bool { return state(gc) == 0 })
	if p.GroupAlive() {
		t.Fatal("GroupAlive true after the group died")
	}
}

// With the leader dead but unreaped, the pidfd group signal must still
// reach the rest of the group; once it is reaped, kill(-pgid) must.
func TestSignalGroupAfterLeaderDies(t *testing.T) {
	s := newSpawner(t, Options{Subreaper: true})
	for _, reap := range []bool{false, true} {
		spec := helperSpec(t, "w", "fork-grandchild")
		p := start(t, s, spec)
		gc := atoi(t, waitReady(t, p, spec.Stdout)[0])
		if err := p.proc.Signal(syscall.SIGKILL); err != nil { // the leader alone
			t.Fatal(err)
		}
		waitFor(t, "leader zombie", func() bool { return state(p.PID()) == 'Z' })
		if reap {
			if e := p.Wait(); e.Signal != syscall.SIGKILL {
				t.Fatalf("leader: %v", e)
			}
		}
		if state(gc) == 0 || state(gc) == 'Z' {
			t.Fatalf("grandchild died with its leader (reap=%v)", reap)
		}
		if !p.GroupAlive() {
			t.Fatalf("GroupAlive false with a live grandchild (reap=%v)", reap)
		}
		if err := p.Signal(syscall.SIGTERM); err != nil {
			t.Fatalf("Signal (reap=%v): %v", reap, err)
		}
		waitFor(t, "grandchild reaped", func() bool { return state(gc) == 0 })
		p.Wait()
	}
}

func TestSignalAfterReapIsNil(t *testing.T) {
	s := newSpawner(t, Options{})
	p := start(t, s, helperSpec(t, "w", "exit", "0"))
	p.Wait()
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL, 0} {
		if err := p.Signal(sig); err != nil {
			t.Fatalf("Signal(%v) after reap: %v", sig, err)
		}
	}
	if p.GroupAlive() {
		t.Fatal("GroupAlive after reap")
	}
}

func TestStraysEscapedGrandchild(t *testing.T) {
	s := newSpawner(t, Options{Subreaper: true})
	spec := helperSpec(t, "w", "escape")
	spec.Incarnation = 5
	p := start(t, s, spec)
	gc := atoi(t, waitReady(t, p, spec.Stdout)[0])

	// An incarnation with another number must not claim the stray.
	other := start(t, s, helperSpec(t, "w", "hang"))
	if got := other.Strays(); len(got) != 0 {
		t.Fatalf("incarnation 1 claims strays %v", got)
	}
	if got := p.Strays(); len(got) != 1 || got[0] != gc {
		t.Fatalf("Strays = %v, want [%d]", got, gc)
	}
	// A group signal cannot reach it: it left the group.
	p.Signal(syscall.SIGKILL)
	p.Wait()
	if !p.GroupAlive() {
		t.Fatal("GroupAlive false while a stray lives")
	}
	n, err := p.SignalStrays(syscall.SIGKILL)
	if err != nil || n != 1 {
		t.Fatalf("SignalStrays = %d, %v", n, err)
	}
	waitFor(t, "stray dead", func() bool { return deadOrZombie(gc) })
	if got := p.Strays(); len(got) != 0 {
		t.Fatalf("Strays after kill = %v", got)
	}
	if p.GroupAlive() {
		t.Fatal("GroupAlive after the stray died")
	}
}

func TestWaitTwice(t *testing.T) {
	s := newSpawner(t, Options{})
	p := start(t, s, helperSpec(t, "w", "exit", "7"))
	var wg sync.WaitGroup
	got := make([]Exit, 4)
	for i := range got {
		wg.Add(1)
		go func() { defer wg.Done(); got[i] = p.Wait() }()
	}
	wg.Wait()
	for _, e := range append(got, p.Wait()) {
		if e.Code != 7 || e.Err != nil {
			t.Fatalf("Wait = %+v", e)
		}
	}
	select {
	case <-p.Done():
	default:
		t.Fatal("Done not closed after Wait")
	}
}

func TestCloseLeavesWorkersRunning(t *testing.T) {
	s, err := NewSpawner(Options{Subreaper: true})
	if err != nil {
		t.Fatal(err)
	}
	spec := helperSpec(t, "w", "hang")
	p := start(t, s, spec)
	waitReady(t, p, spec.Stdout)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	time.Sleep(50 * time.Millisecond)
	if st := state(p.PID()); st == 0 || st == 'Z' {
		t.Fatalf("worker died on Close: state %q", st)
	}
	if _, err := s.Start(spec); !errors.Is(err, ErrClosed) {
		t.Fatalf("Start after Close: %v", err)
	}
	p.Signal(syscall.SIGTERM)
	if e := p.Wait(); !e.Success() {
		t.Fatalf("after Close: %v", e)
	}
}

func TestNoFDLeak(t *testing.T) {
	s := newSpawner(t, Options{})
	dir := t.TempDir()
	count := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Fatal(err)
		}
		return len(ents)
	}
	before := count()
	for i := 0; i < 10; i++ {
		out := filepath.Join(dir, "out")
		p, err := s.Start(Spec{Worker: "w", Command: []string{"/bin/true"}, Stdout: out, Stderr: filepath.Join(dir, "err")})
		if err != nil {
			t.Fatal(err)
		}
		p.Wait()
		p, err = s.Start(Spec{Worker: "w", Command: []string{"/bin/true"}, Stdout: out, Stderr: out})
		if err != nil {
			t.Fatal(err)
		}
		p.Wait()
		if _, err := s.Start(Spec{Worker: "w", Command: []string{filepath.Join(dir, "nope")}, Stdout: out}); err == nil {
			t.Fatal("missing binary started")
		}
		if _, err := s.Start(Spec{Worker: "w", Command: []string{"/bin/true"}, Stdout: filepath.Join(dir, "out", "x")}); err == nil {
			t.Fatal("output under a file opened")
		}
		// Through a fork thread and through the launcher, and a launch
		// that fails.
		core := []Rlimit{{Resource: unix.RLIMIT_CORE, Cur: 0, Max: 0}}
		p, err = s.Start(Spec{Worker: "w", Command: []string{"/bin/true"}, Stdout: out, NoNewPrivs: true})
		if err != nil {
			t.Fatal(err)
		}
		p.Wait()
		p, err = s.Start(Spec{Worker: "w", Command: []string{"/bin/true"}, Stdout: out, Rlimits: core})
		if err != nil {
			t.Fatal(err)
		}
		p.Wait()
		if _, err := s.Start(Spec{Worker: "w", Command: []string{filepath.Join(dir, "nope")}, Stdout: out, Rlimits: core}); err == nil {
			t.Fatal("missing binary launched")
		}
	}
	// More is a leak; fewer is an earlier test's descriptor closed late
	// (the process is shared), which says nothing of these spawns.
	if after := count(); after > before {
		t.Fatalf("fds: %d before, %d after", before, after)
	}
}

func TestProctestCommandIsAbsolute(t *testing.T) {
	if cmd := proctest.Command("exit", "1"); !filepath.IsAbs(cmd[0]) || cmd[1] != "tend-helper" {
		t.Fatalf("Command = %q", cmd)
	}
	if _, err := os.Stat(proctest.Command("x")[0]); errors.Is(err, fs.ErrNotExist) {
		t.Fatal("Command[0] does not exist")
	}
}

// Where PATH led is remembered between spawns, but a program that has moved
// is found again at once, not after the memory ages out.
func TestSpawnFollowsAMovedProgram(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	t.Setenv("PATH", a+":"+b)
	prog, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(a, "tend-test-prog"), prog, 0o755); err != nil {
		t.Fatal(err)
	}
	s := newSpawner(t, Options{})
	spec := Spec{Worker: "w", Command: []string{"tend-test-prog"}}
	if e := start(t, s, spec).Wait(); !e.Success() {
		t.Fatalf("first run: %+v", e)
	}
	if err := os.Rename(filepath.Join(a, "tend-test-prog"), filepath.Join(b, "tend-test-prog")); err != nil {
		t.Fatal(err)
	}
	if e := start(t, s, spec).Wait(); !e.Success() {
		t.Fatalf("after the move: %+v", e)
	}
	if err := os.Remove(filepath.Join(b, "tend-test-prog")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Start(spec); !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("after the removal: %v, want ENOENT", err)
	}
}
