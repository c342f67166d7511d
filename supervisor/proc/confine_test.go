package proc

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/tendhq/tend/supervisor/proc/launch"
)

// procStatus reads the "Name:\tvalue" lines of /proc/PID/status.
func procStatus(t *testing.T, pid int) map[string]string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}

// procLimit returns the soft and hard columns of one line of
// /proc/PID/limits, e.g. "Max open files".
func procLimit(t *testing.T, pid int, name string) (string, string) {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/limits")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, name) {
			f := strings.Fields(l[len(name):])
			if len(f) >= 2 {
				return f[0], f[1]
			}
		}
	}
	t.Fatalf("no %q in /proc/%d/limits:\n%s", name, pid, b)
	return "", ""
}

func umask(m uint32) *uint32 { return &m }

// sameCore is a limit that changes nothing (the core size the test runs
// with) and so only makes Start take the launcher.
func sameCore(t *testing.T) []Rlimit {
	t.Helper()
	var l unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_CORE, &l); err != nil {
		t.Fatal(err)
	}
	return []Rlimit{{Resource: unix.RLIMIT_CORE, Cur: l.Cur, Max: l.Max}}
}

// A worker that asks for confinement gets it, and is still the worker: the
// process Start returns runs the program (not the launcher), leads its
// own group, and carries the identity Start recorded. (A Go program raises
// its own soft limit on open files, so the limits are read from sleep.)
func TestLaunchedWorkerIsConfined(t *testing.T) {
	s := newSpawner(t, Options{})
	spec := Spec{Worker: t.Name(), Command: []string{"/bin/sleep", "30"}}
	spec.Umask = umask(0o027)
	spec.NoNewPrivs = true
	spec.Rlimits = []Rlimit{
		{Resource: unix.RLIMIT_NOFILE, Cur: 1234, Max: 2345},
		{Resource: unix.RLIMIT_CORE, Cur: 0, Max: launch.Infinity},
		{Resource: unix.RLIMIT_NPROC, Cur: 77, Max: 88},
	}
	p := start(t, s, spec)
	st := procStatus(t, p.PID())
	if st["Name"] != "sleep" {
		t.Fatalf("Start returned before the program ran: %q", st["Name"])
	}
	if st["NoNewPrivs"] != "1" || st["Umask"] != "0027" {
		t.Errorf("NoNewPrivs %q, Umask %q; want 1 and 0027", st["NoNewPrivs"], st["Umask"])
	}
	for _, l := range []struct{ name, soft, hard string }{
		{"Max open files", "1234", "2345"},
		{"Max core file size", "0", "unlimited"},
		{"Max processes", "77", "88"},
	} {
		if soft, hard := procLimit(t, p.PID(), l.name); soft != l.soft || hard != l.hard {
			t.Errorf("%s %s:%s, want %s:%s", l.name, soft, hard, l.soft, l.hard)
		}
	}
	cmdline, _ := os.ReadFile("/proc/" + strconv.Itoa(p.PID()) + "/cmdline")
	if got := strings.Split(strings.TrimSuffix(string(cmdline), "\x00"), "\x00"); !slices.Equal(got, spec.Command) {
		t.Errorf("cmdline %q, want %q", got, spec.Command)
	}
	stat, err := readStat(p.PID())
	if err != nil || stat.PGRP != p.PID() || stat.StartTicks != p.Identity().StartTicks {
		t.Errorf("stat %+v (%v), identity %+v", stat, err, p.Identity())
	}
}

// The environment is the worker's, whole, and nothing of the launcher's.
func TestLaunchedWorkerEnvironment(t *testing.T) {
	s := newSpawner(t, Options{})
	spec := helperSpec(t, "w", "print-env")
	spec.Env = []string{"FOO=bar", "LD_PRELOAD="}
	spec.Rlimits = sameCore(t)
	env := waitReady(t, start(t, s, spec), spec.Stdout)
	want := []string{"FOO=bar", "LD_PRELOAD=", "TEND_WORKER=" + spec.Worker, "TEND_INCARNATION=1"}
	if !slices.Equal(env, want) {
		t.Errorf("environment %q, want %q", env, want)
	}
}

// Without confinement a worker keeps the daemon's umask and limits and
// no_new_privs stays off: the launcher is used only when asked for.
func TestDirectWorkerKeepsDaemonSettings(t *testing.T) {
	s := newSpawner(t, Options{})
	spec := helperSpec(t, "w", "hang")
	p := start(t, s, spec)
	waitReady(t, p, spec.Stdout)
	st, self := procStatus(t, p.PID()), procStatus(t, os.Getpid())
	if st["NoNewPrivs"] != "0" || st["Umask"] != self["Umask"] {
		t.Errorf("NoNewPrivs %q, Umask %q (daemon %q)", st["NoNewPrivs"], st["Umask"], self["Umask"])
	}
}

// Neither the launcher nor a fork thread changes anything else a program
// inherits: blocked and ignored signals, credentials, capabilities, and
// the soft limit on open files, which the Go runtime raises for itself at
// start and a direct spawn restores.
func TestConfinedWorkerInheritsLikeDirect(t *testing.T) {
	s := newSpawner(t, Options{})
	sleep := []string{"/bin/sleep", "30"}
	direct := start(t, s, Spec{Worker: t.Name() + "/d", Command: sleep})
	for _, confined := range []Spec{
		{Worker: t.Name() + "/l", Command: sleep, Rlimits: sameCore(t)},
		{Worker: t.Name() + "/t", Command: sleep, NoNewPrivs: true},
	} {
		p := start(t, s, confined)
		d, c := procStatus(t, direct.PID()), procStatus(t, p.PID())
		for _, k := range []string{"SigBlk", "SigIgn", "SigCgt", "Umask", "Uid", "Gid", "Groups", "CapPrm", "CapEff", "CapBnd", "CapAmb"} {
			if d[k] != c[k] {
				t.Errorf("%s: %s: direct %q, confined %q", confined.Worker, k, d[k], c[k])
			}
		}
		ds, dh := procLimit(t, direct.PID(), "Max open files")
		cs, ch := procLimit(t, p.PID(), "Max open files")
		if ds != cs || dh != ch {
			t.Errorf("%s: nofile: direct %s:%s, confined %s:%s", confined.Worker, ds, dh, cs, ch)
		}
	}
}

// no_new_privs and a umask come from a fork thread: the worker has them,
// the daemon and the workers forked after it do not, and a file the daemon
// creates meanwhile gets the daemon's umask.
func TestForkThreadConfinesOnlyTheWorker(t *testing.T) {
	s := newSpawner(t, Options{})
	self := procStatus(t, os.Getpid())
	if self["NoNewPrivs"] != "0" {
		t.Skip("the test runs with no_new_privs already")
	}
	for i := range 3 {
		p := start(t, s, Spec{Worker: t.Name(), Command: []string{"/bin/sleep", "30"}, NoNewPrivs: i != 1, Umask: umask(0o077)})
		if st := procStatus(t, p.PID()); st["NoNewPrivs"] != strconv.Itoa(b2i(i != 1)) || st["Umask"] != "0077" || st["Name"] != "sleep" {
			t.Errorf("worker %d: NoNewPrivs %q, Umask %q, Name %q", i, st["NoNewPrivs"], st["Umask"], st["Name"])
		}
	}
	plain := start(t, s, Spec{Worker: t.Name(), Command: []string{"/bin/sleep", "30"}})
	if st := procStatus(t, plain.PID()); st["NoNewPrivs"] != "0" || st["Umask"] != self["Umask"] {
		t.Errorf("a plain worker after confined ones: NoNewPrivs %q, Umask %q", st["NoNewPrivs"], st["Umask"])
	}
	if now := procStatus(t, os.Getpid()); now["NoNewPrivs"] != "0" || now["Umask"] != self["Umask"] {
		t.Errorf("the daemon: NoNewPrivs %q, Umask %q; was %q", now["NoNewPrivs"], now["Umask"], self["Umask"])
	}
	f := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(f, nil, 0o666); err != nil {
		t.Fatal(err)
	}
	m, _ := strconv.ParseUint(self["Umask"], 8, 32)
	if fi, _ := os.Stat(f); uint32(fi.Mode().Perm()) != 0o666&^uint32(m) {
		t.Errorf("a file the daemon made: mode %v with umask %s", fi.Mode().Perm(), self["Umask"])
	}
}

// A worker run as nobody gets exactly the credential asked for, with no
// supplementary groups, and its limits. The launcher applies the limits
// before it drops to the worker's user, so where the daemon may raise a
// hard limit (CAP_SYS_RESOURCE) a worker running as nobody gets one above
// the daemon's own, as under systemd.
func TestLaunchedWorkerAsNobody(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	var own unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &own); err != nil {
		t.Fatal(err)
	}
	want := unix.Rlimit{Cur: 100, Max: own.Max - 1}
	if canRaiseLimits(t) {
		want = unix.Rlimit{Cur: own.Max + 1, Max: own.Max + 1}
	} else {
		t.Log("no CAP_SYS_RESOURCE here: only lowering the hard limit is tried")
	}
	s := newSpawner(t, Options{})
	p := start(t, s, Spec{Worker: t.Name(), Command: []string{"/bin/sleep", "30"},
		Credential: &syscall.Credential{Uid: 65534, Gid: 65534}, NoNewPrivs: true,
		Rlimits: []Rlimit{{Resource: unix.RLIMIT_NOFILE, Cur: want.Cur, Max: want.Max}}})
	st := procStatus(t, p.PID())
	if st["Uid"] != "65534\t65534\t65534\t65534" || st["Gid"] != "65534\t65534\t65534\t65534" || st["Groups"] != "" {
		t.Errorf("Uid %q Gid %q Groups %q", st["Uid"], st["Gid"], st["Groups"])
	}
	if st["NoNewPrivs"] != "1" || st["Name"] != "sleep" {
		t.Errorf("NoNewPrivs %q, Name %q", st["NoNewPrivs"], st["Name"])
	}
	soft, hard := procLimit(t, p.PID(), "Max open files")
	if soft != strconv.FormatUint(want.Cur, 10) || hard != strconv.FormatUint(want.Max, 10) {
		t.Errorf("nofile %s:%s, want %d:%d", soft, hard, want.Cur, want.Max)
	}
}

// canRaiseLimits reports whether this process holds CAP_SYS_RESOURCE and
// the kernel allows one more descriptor than its hard limit.
func canRaiseLimits(t *testing.T) bool {
	caps, err := strconv.ParseUint(procStatus(t, os.Getpid())["CapEff"], 16, 64)
	if err != nil || caps&(1<<unix.CAP_SYS_RESOURCE) == 0 {
		return false
	}
	var own unix.Rlimit
	b, err := os.ReadFile("/proc/sys/fs/nr_open")
	n, _ := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	return err == nil && unix.Getrlimit(unix.RLIMIT_NOFILE, &own) == nil && own.Max < n
}

// The launcher closes what the daemon holds without close-on-exec, as a
// direct spawn does, and leaves nothing of its own (its socket) open.
func TestLaunchedWorkerInheritsOnlyStdio(t *testing.T) {
	leak := filepath.Join(t.TempDir(), "leaked")
	if err := os.WriteFile(leak, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	fd, err := syscall.Open(leak, syscall.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	s := newSpawner(t, Options{})
	spec := helperSpec(t, "w", "print-fds")
	spec.Rlimits = sameCore(t)
	if fds := workerFDs(t, s, spec); len(fds) != 3 || fds["0"] == "" || fds["1"] == "" || fds["2"] == "" {
		t.Fatalf("launched worker started with descriptors %v, want exactly 0, 1 and 2", fds)
	}
}

// A failure inside the launcher is a failed spawn with the errno, as it is
// for a direct spawn, never a process that exits: missing or unexecutable
// program, missing directory, a limit the kernel refuses, a directory the
// worker's user may not enter.
func TestLaunchErrors(t *testing.T) {
	s := newSpawner(t, Options{})
	dir := t.TempDir() // 0700, root's
	noexec := filepath.Join(dir, "noexec")
	if err := os.WriteFile(noexec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	nobody := &syscall.Credential{Uid: 65534, Gid: 65534}
	for _, tc := range []struct {
		name string
		spec Spec
		want syscall.Errno
		op   string
	}{
		{"missing program", Spec{Command: []string{filepath.Join(dir, "nope")}}, syscall.ENOENT, "launch: exec " + filepath.Join(dir, "nope")},
		{"missing in PATH", Spec{Command: []string{"tend-no-such-binary-here"}}, syscall.ENOENT, ""},
		{"not executable", Spec{Command: []string{noexec}}, syscall.EACCES, "launch: exec"},
		{"missing dir", Spec{Command: []string{"/bin/true"}, Dir: filepath.Join(dir, "nodir")}, syscall.ENOENT, "launch: chdir"},
		{"nofile above the kernel's maximum", Spec{Command: []string{"/bin/true"},
			Rlimits: []Rlimit{{Resource: unix.RLIMIT_NOFILE, Cur: 1 << 40, Max: 1 << 40}}}, syscall.EPERM, "launch: setrlimit nofile"},
		{"dir the worker's user cannot enter", Spec{Command: []string{"/bin/true"}, Dir: dir, Credential: nobody}, syscall.EACCES, "launch: chdir " + dir},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.spec.Credential != nil && os.Geteuid() != 0 {
				t.Skip("needs root")
			}
			tc.spec.Worker, tc.spec.Incarnation = "w", 9
			if tc.spec.Rlimits == nil {
				tc.spec.Rlimits = sameCore(t)
			}
			_, err := s.Start(tc.spec)
			var se *StartError
			if !errors.As(err, &se) || se.Worker != "w" || se.Incarnation != 9 {
				t.Fatalf("want *StartError for w/9, got %T %v", err, err)
			}
			var errno syscall.Errno
			if !errors.As(err, &errno) || errno != tc.want {
				t.Fatalf("errno: got %v (%v), want %v", errno, err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.op) {
				t.Fatalf("error %q does not say %q", err, tc.op)
			}
		})
	}
	// Every failed launcher was reaped: no child of ours is left.
	if kids, err := s.orphans(); err != nil || len(kids) != 0 {
		t.Fatalf("children left after failed launches: %v (%v)", kids, err)
	}
}
