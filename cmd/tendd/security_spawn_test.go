package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tendhq/tend/cmd/internal/client"
)

// A worker inherits nothing of the daemon by accident. The daemon is
// started holding a descriptor without close-on-exec (fd 3, as a shell or
// a service manager may leave it) and with variables of its own; workers
// run as nobody, through the launcher (no_new_privileges, the default for
// a user) and directly (no_new_privileges = false), and one with
// clear_env. Each lists its descriptors and its environment: it must see
// exactly 0, 1 and 2, nobody's login variables, and, with clear_env,
// nothing of the daemon's. The three take the three ways to spawn: the
// launcher (a resource limit), a fork thread (no_new_privs) and a plain
// fork.
func TestWorkerInheritsNothingByAccident(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("workers run as nobody: needs root")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody")
	}
	// The shell lists its own descriptors ($$) through ls, and its
	// environment; nothing in the script opens a descriptor in the shell
	// itself (a command substitution would: its pipe).
	show := `["/bin/sh", "-c", "echo fds; ls /proc/$$/fd; echo env; env; exec sleep 600"]`
	e := newEnv(t, fmt.Sprintf(`
[worker.launched]
command = %[1]s
user = "nobody"
umask = "027"
rlimits.core = 0 # a resource limit: through the launcher

[worker.direct]
command = %[1]s
user = "nobody"
no_new_privileges = false

[worker.clean]
command = %[1]s
user = "nobody" # no_new_privileges by default: from a fork thread
clear_env = true
env = { KEEP = "mine" }

[worker.missing]
command = ["/nonexistent/program"]
user = "nobody"
rlimits.nofile = 1024
restart = "never"
`, show))
	leak, err := os.Create(filepath.Join(e.dir, "daemon-only"))
	if err != nil {
		t.Fatal(err)
	}
	defer leak.Close()
	e.startDaemonWith(func(c *exec.Cmd) {
		c.ExtraFiles = []*os.File{leak} // fd 3 in the daemon, without close-on-exec
		c.Env = append(os.Environ(), "HOME=/root", "USER=root", "TEND_E2E_DAEMON_ONLY=secret")
	})
	if target, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/3", e.daemon.Process.Pid)); err != nil || target != leak.Name() {
		t.Fatalf("the daemon does not hold the descriptor under test: %q, %v", target, err)
	}

	checkLaunchFailure(t, e)

	wantLogin := map[string]string{"HOME": nobody.HomeDir, "USER": "nobody", "LOGNAME": "nobody", "SHELL": passwdShell(t, "nobody")}
	for _, name := range []string{"launched", "direct", "clean"} {
		w := e.waitStatus(name, "running", running)
		fds, env := workerReport(t, filepath.Join(e.dir, "state", "logs", name+".out"))
		if fds != "0 1 2" {
			t.Errorf("%s: started with descriptors %q, want exactly 0 1 2", name, fds)
		}
		for k, v := range wantLogin {
			if env[k] != v {
				t.Errorf("%s: %s=%q, want %q", name, k, env[k], v)
			}
		}
		status, err := os.ReadFile("/proc/" + strconv.Itoa(w.PID) + "/status")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(status), "\nUid:\t65534\t65534\t65534\t65534\n") {
			t.Errorf("%s does not run as nobody", name)
		}
		nnp := strings.Contains(string(status), "\nNoNewPrivs:\t1\n")
		if nnp != (name != "direct") {
			t.Errorf("%s: NoNewPrivs %v", name, nnp)
		}
		if name == "launched" && !strings.Contains(string(status), "\nUmask:\t0027\n") {
			t.Errorf("launched: umask not 0027:\n%s", status)
		}
		switch name {
		case "clean":
			for k := range env {
				if !strings.HasPrefix(k, "TEND_") && wantLogin[k] == "" && k != "PATH" && k != "KEEP" && k != "PWD" {
					t.Errorf("clean: %s from the daemon's environment", k)
				}
			}
			if env["PATH"] != "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" || env["KEEP"] != "mine" {
				t.Errorf("clean: PATH %q, KEEP %q", env["PATH"], env["KEEP"])
			}
		default:
			if env["TEND_E2E_DAEMON_ONLY"] != "secret" {
				t.Errorf("%s: the daemon's environment does not pass without clear_env", name)
			}
		}
	}
}

// A program the launcher cannot exec is a failed spawn with its errno,
// as without the launcher: never an exit of the worker.
func checkLaunchFailure(t *testing.T, e *env) {
	t.Helper()
	e.waitStatus("missing", "failed", func(w client.WorkerStatus) bool { return w.State == "Stopped" && w.Incarnation > 0 })
	for _, ev := range e.history("missing") {
		switch ev.Type {
		case "spawn_failed":
			if ev.Errno != int(syscall.ENOENT) || !strings.Contains(ev.Cause, "launch: exec /nonexistent/program") {
				t.Errorf("spawn_failed: errno %d, cause %q", ev.Errno, ev.Cause)
			}
			return
		case "spawned", "exited":
			t.Fatalf("missing: %s event: %+v", ev.Type, ev)
		}
	}
	t.Fatalf("missing: no spawn_failed in %+v", e.history("missing"))
}

// workerReport waits for the shell's report and returns its descriptor
// list and its environment.
func workerReport(t *testing.T, path string) (string, map[string]string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		fds, rest, ok := strings.Cut(strings.TrimPrefix(string(b), "fds\n"), "env\n")
		if ok && strings.HasPrefix(string(b), "fds\n") && strings.Contains(rest, "TEND_INCARNATION=") {
			env := map[string]string{}
			for _, l := range strings.Split(rest, "\n") {
				if k, v, ok := strings.Cut(l, "="); ok {
					env[k] = v
				}
			}
			return strings.Join(strings.Fields(fds), " "), env
		}
		if time.Now().After(deadline) {
			t.Fatalf("no report in %s: %q", path, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// passwdShell is name's login shell in /etc/passwd.
func passwdShell(t *testing.T, name string) string {
	f, err := os.Open("/etc/passwd")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Split(sc.Text(), ":"); len(fields) == 7 && fields[0] == name {
			return fields[6]
		}
	}
	t.Fatalf("%s not in /etc/passwd", name)
	return ""
}
