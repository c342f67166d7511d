package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// runBin runs bin with args and env added to the test's, and returns stdout,
// stderr and the exit code.
func runBin(t *testing.T, bin string, env []string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// leanAlone is a copy of the lean client with no tendd beside it: a
// command it would hand over fails, so what it answers it ran itself.
func leanAlone(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	b, err := os.ReadFile(tendBin)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "tend")
	if err := os.WriteFile(p, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// ago is the part of a status line that moves with the clock.
var ago = regexp.MustCompile(`\([0-9hms.]+ ago\)`)

// The lean client runs the everyday commands itself, and what it prints
// and exits with is what the full binary does: for the status table and
// JSON, the daemon's own lines, start, stop, restart (one, --all), signal,
// a worker that does not exist (exit 3), a usage error its commands find
// (exit 2) and --version. Help and cobra's own errors of the command
// line (an unknown flag) are tendd's: TestLeanClientHandsOverToTendd.
func TestLeanClientAnswersAsTendd(t *testing.T) {
	e := newEnv(t, "[worker.a]\ncommand = "+helperCmd("hang")+"\nstart_timeout = \"0s\"\n\n[worker.b]\ncommand = "+helperCmd("hang")+"\ninstances = 2\nstart_timeout = \"0s\"\n")
	e.startDaemon()
	e.waitStatus("a", "running", running)
	e.waitStatus("b@2", "running", running)
	lean := leanAlone(t)
	// A command records events: its lines (or JSON) name the pid, the
	// incarnation, the seq, the time and the chain's hash of each, which
	// the next command's differ in. Those are compared as N and H.
	num, hash := regexp.MustCompile(`[0-9]+`), regexp.MustCompile(`[0-9a-f]{64}`)
	same := func(norm bool, code int, args ...string) {
		t.Helper()
		args = append([]string{"-c", e.conf}, args...)
		lo, le, lc := runBin(t, lean, nil, args...)
		fo, fe, fc := runBin(t, tenddBin, nil, args...)
		lo, fo = ago.ReplaceAllString(lo, "(ago)"), ago.ReplaceAllString(fo, "(ago)")
		if norm {
			lo, fo = num.ReplaceAllString(hash.ReplaceAllString(lo, "H"), "N"), num.ReplaceAllString(hash.ReplaceAllString(fo, "H"), "N")
		}
		if lo != fo || le != fe || lc != fc {
			t.Errorf("tend %s: the lean client and tendd differ:\nlean (exit %d):\n%s%s\ntendd (exit %d):\n%s%s", strings.Join(args, " "), lc, lo, le, fc, fo, fe)
		} else if lc != code {
			t.Errorf("tend %s: exit %d, want %d:\n%s%s", strings.Join(args, " "), lc, code, lo, le)
		}
	}
	same(false, 0, "status")
	same(false, 0, "status", "-o", "json")
	same(false, 0, "-o", "json", "status", "a", "b@1")
	same(false, 0, "status", "--daemon")
	same(false, 0, "status", "--daemon", "-o", "json")
	same(false, 3, "status", "nope")
	same(false, 3, "status", "a", "nope", "-o", "json")
	same(false, 2, "-o", "yaml", "status")
	same(false, 0, "--version")
	same(false, 0, "--config="+e.conf, "--version")
	same(false, 0, "signal", "a", "CONT")
	same(true, 0, "signal", "--all", "CONT", "-o", "json")
	same(false, 2, "signal", "a", "NOSUCHSIG")
	same(false, 3, "stop", "nope")
	same(true, 3, "restart", "a", "nope", "--no-deps")
	same(false, 2, "start")
	same(false, 2, "start", "a", "--all")
	// Each command is run through the lean client first, then through
	// tendd: a stop or a start finds it done the second time, which its
	// lines say alike; a restart (which waits) does the same again.
	same(true, 0, "stop", "a")
	same(true, 0, "start", "a")
	same(true, 0, "start", "a", "-o", "json")
	same(true, 0, "restart", "a")
	same(true, 0, "restart", "b@1", "--timeout", "20s", "--no-deps")
	same(true, 0, "stop", "--all", "--timeout", "10s")
	same(true, 0, "start", "--all")
	same(true, 0, "restart", "--all", "--no-wait")
	e.stopDaemon()
	// No daemon answers.
	same(false, 1, "status")
	same(false, 1, "stop", "a")
}

// Every other command line goes to tendd by exec, unchanged: `tend
// daemon` is the daemon's own process (the same pid, /proc/PID/exe is
// tendd) and starts its workers through tendd's launcher; the root's
// help, an unknown command, top, history, report reach tendd; so do a
// command's help and a command line cobra would refuse (an unknown flag,
// a duration that does not parse), and a status whose [daemon] table
// only a full parse can read. Without tendd,
// the lean client says where it looked.
func TestLeanClientHandsOverToTendd(t *testing.T) {
	e := newEnv(t, "[worker.a]\ncommand = "+helperCmd("hang")+"\n")
	// daemon.state_dir as a dotted key: only a full parse finds the socket.
	e.write("daemon.state_dir = \"state\"\n\n[worker.a]\ncommand = " + helperCmd("hang") + "\n")
	e.startDaemon() // through tendBin, the lean client
	e.waitStatus("a", "running", running)
	exe, err := os.Readlink("/proc/" + strconv.Itoa(e.daemon.Process.Pid) + "/exe")
	if err != nil || exe != tenddBin {
		t.Fatalf("the daemon started as `tend daemon` (pid %d) runs %q (%v), want tendd %s", e.daemon.Process.Pid, exe, err, tenddBin)
	}
	lean := leanAlone(t)
	for _, args := range [][]string{{"--help"}, {}, {"help", "status"}, {"bogus"}, {"top"}, {"history", "a", "-o", "json"}, {"why", "a"}, {"status"}, {"status", "-o", "json"}, {"report", "--bogus"},
		{"status", "--bogus"}, {"status", "--help"}, {"stop", "--timeout", "soon", "a"}, {"--version", "status"}} {
		args = append([]string{"-c", e.conf}, args...)
		lo, le, lc := runBin(t, tendBin, nil, args...)
		fo, fe, fc := runBin(t, tenddBin, nil, args...)
		if ago.ReplaceAllString(lo, "") != ago.ReplaceAllString(fo, "") || le != fe || lc != fc {
			t.Errorf("tend %s: not tendd's answer:\ntend (exit %d):\n%s%s\ntendd (exit %d):\n%s%s", strings.Join(args, " "), lc, lo, le, fc, fo, fe)
		}
		// The copy alone cannot: it would have handed them over.
		_, ae, ac := runBin(t, lean, nil, args...)
		if ac != 1 || !strings.Contains(ae, "tend: this command needs the full binary, tendd") || !strings.Contains(ae, filepath.Join(filepath.Dir(lean), "tendd")) {
			t.Errorf("tend %s without tendd: exit %d, want 1 and the paths tried:\n%s", strings.Join(args, " "), ac, ae)
		}
	}
	// $TEND_DAEMON_BIN: an absolute path is followed, a relative one not.
	args := []string{"-c", e.conf, "history", "a"}
	if out, errs, code := runBin(t, lean, []string{"TEND_DAEMON_BIN=" + tenddBin}, args...); code != 0 || !strings.Contains(out, "spawned") {
		t.Errorf("with $TEND_DAEMON_BIN=%s: exit %d:\n%s%s", tenddBin, code, out, errs)
	}
	rel, err := filepath.Rel(e.dir, tenddBin)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(lean, args...)
	cmd.Dir, cmd.Env = e.dir, append(os.Environ(), "TEND_DAEMON_BIN="+rel)
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "$TEND_DAEMON_BIN="+rel+" (not an absolute path)") {
		t.Errorf("with a relative $TEND_DAEMON_BIN: %v:\n%s", err, out)
	}
	// A tendd that is the lean client itself (linked to it) is not
	// exec'd: it would hand over to itself for ever.
	if err := os.Symlink(lean, filepath.Join(filepath.Dir(lean), "tendd")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	loop := exec.CommandContext(ctx, lean, "-c", e.conf, "top")
	if out, err := loop.CombinedOutput(); ctx.Err() != nil || loop.ProcessState.ExitCode() != 1 || !strings.Contains(string(out), "(this same binary, not the full one)") {
		t.Errorf("tend top with tendd a link to tend: %v (%v):\n%s", err, ctx.Err(), out)
	}
}
