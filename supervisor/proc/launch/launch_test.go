package launch

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) {
	Main()
	os.Exit(m.Run())
}

func TestConfigRoundTrip(t *testing.T) {
	for _, c := range []*Config{
		{Path: "/bin/true", Argv: []string{"true"}, Env: []string{}, Umask: -1},
		{Path: "/srv/app", Argv: []string{"app", "-x", ""}, Env: []string{"A=1", "B=" + strings.Repeat("v", 70000)},
			Dir: "/srv", Credential: &syscall.Credential{Uid: 65534, Gid: 65533, Groups: []uint32{1, 2}, NoSetGroups: true},
			Umask: 0o27, NoNewPrivs: true,
			Rlimits: []Rlimit{{Resource: unix.RLIMIT_NOFILE, Cur: 10, Max: Infinity}, {Resource: unix.RLIMIT_CORE}}},
	} {
		got, err := decode(c.encode())
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, c) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, c)
		}
	}
}

// Whatever the bytes, decode returns an error or a Config, never panics.
func TestDecodeRefusesMalformed(t *testing.T) {
	good := (&Config{Path: "/bin/true", Argv: []string{"true"}, Env: []string{"A=1"}, Umask: -1,
		Rlimits: []Rlimit{{Resource: 7, Cur: 1, Max: 2}}}).encode()
	for i := range good {
		if _, err := decode(good[:i]); err == nil {
			t.Errorf("a prefix of %d bytes decoded", i)
		}
	}
	if _, err := decode(append(good[:len(good):len(good)], 0)); err == nil {
		t.Error("trailing byte accepted")
	}
	if _, err := decode([]byte(magic + "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01")); err == nil {
		t.Error("huge length accepted")
	}
}

func TestResult(t *testing.T) {
	c := &Config{Path: "/x/prog", Dir: "/x"}
	for _, tc := range []struct {
		said    []byte
		reached bool
		want    string
		errno   syscall.Errno
	}{
		{nil, false, "", 0},
		{[]byte{execing}, true, "", 0},
		{append([]byte{execing}, failure(opExec, syscall.ENOENT, 0)...), true, "launch: exec /x/prog: no such file or directory", syscall.ENOENT},
		{failure(opChdir, syscall.EACCES, 0), false, "launch: chdir /x: permission denied", syscall.EACCES},
		{failure(opRlimit, syscall.EPERM, unix.RLIMIT_NOFILE), false, "launch: setrlimit nofile: operation not permitted", syscall.EPERM},
		{[]byte("garbage"), false, "launch: malformed report from the launcher", 0},
	} {
		err, reached := result(tc.said, c)
		if reached != tc.reached || (err == nil) != (tc.want == "") || err != nil && err.Error() != tc.want {
			t.Errorf("%q: got %v, %v; want %q, %v", tc.said, err, reached, tc.want, tc.reached)
		}
		var errno syscall.Errno
		if tc.errno != 0 && (!errors.As(err, &errno) || errno != tc.errno) {
			t.Errorf("%q: errno %v, want %v", tc.said, errno, tc.errno)
		}
	}
}

// fakeLauncher puts a shell script in the launcher's place for one test.
func fakeLauncher(t *testing.T, script string) {
	path := filepath.Join(t.TempDir(), "launcher")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+script), 0o755); err != nil {
		t.Fatal(err)
	}
	old := self
	self = path
	t.Cleanup(func() { self = old })
}

func stdio(t *testing.T) []*os.File {
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { null.Close() })
	return []*os.File{null, null, null}
}

// A launcher that ends without a word (killed, or its runtime failed) is a
// failed start, reaped, with its exit status; never a worker that ran.
func TestLauncherDiedSilently(t *testing.T) {
	fakeLauncher(t, "exit 3\n")
	c := &Config{Path: "/bin/true", Argv: []string{"true"}, Umask: -1}
	p, err := Start(c, stdio(t), &syscall.SysProcAttr{Setpgid: true})
	if p != nil || !errors.Is(err, ErrDied) || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("got %v, %v; want ErrDied with exit status 3", p, err)
	}
}

// A launcher that reached exec hands over the program's process.
func TestLauncherExecs(t *testing.T) {
	fakeLauncher(t, `cat <&3 >/dev/null; printf x >&3; exec 3>&-; exec sleep 30`+"\n")
	c := &Config{Path: "/bin/sleep", Argv: []string{"sleep", "30"}, Umask: -1}
	p, err := Start(c, stdio(t), &syscall.SysProcAttr{Setpgid: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Wait()
	defer p.Kill()
}

// The report of a failed step wins over the reset that a launcher leaves
// when it exits before it read the whole configuration.
func TestLauncherReportBeforeReading(t *testing.T) {
	fakeLauncher(t, `printf 'e\011\002\000\000\000\000\000\000\000' >&3; exit 127`+"\n")
	c := &Config{Path: "/x/prog", Argv: []string{"prog"}, Env: []string{strings.Repeat("E", 1<<20)}, Umask: -1}
	_, err := Start(c, stdio(t), &syscall.SysProcAttr{Setpgid: true})
	if !errors.Is(err, syscall.ENOENT) || !strings.Contains(err.Error(), "exec /x/prog") {
		t.Fatalf("got %v, want the launcher's ENOENT report", err)
	}
}

func TestStartNeedsWiring(t *testing.T) {
	wired.Store(false)
	defer wired.Store(true)
	if _, err := Start(&Config{Path: "/bin/true", Argv: []string{"true"}}, stdio(t), nil); !errors.Is(err, ErrNotWired) {
		t.Fatalf("got %v, want ErrNotWired", err)
	}
}

// CloseOnExecFrom, through close_range and through the walk of
// /proc/self/fd, marks what lacked the flag; a descriptor handed to a child
// on purpose still reaches it, and the process's own stay usable.
func TestCloseOnExecFrom(t *testing.T) {
	for _, walk := range []bool{false, true} {
		fd, err := syscall.Open(os.DevNull, syscall.O_RDONLY, 0) // no O_CLOEXEC
		if err != nil {
			t.Fatal(err)
		}
		if walk {
			err = cloexecWalk(3)
		} else {
			err = CloseOnExecFrom(3)
		}
		if err != nil {
			t.Fatal(err)
		}
		if flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil || flags&unix.FD_CLOEXEC == 0 {
			t.Fatalf("walk=%v: fd %d flags %d, %v", walk, fd, flags, err)
		}
		syscall.Close(fd)
	}
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command("/bin/sh", "-c", "readlink /proc/self/fd/3")
	cmd.ExtraFiles = []*os.File{f}
	out, err := cmd.Output()
	if err != nil || strings.TrimSpace(string(out)) != os.DevNull {
		t.Fatalf("a file passed on purpose: %q, %v", out, err)
	}
}
