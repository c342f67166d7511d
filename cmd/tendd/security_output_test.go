package main

// End-to-end tests of the files a worker can reach: its output files, their
// rotated copies and the directories that hold them. The daemon runs as
// root; the workers here run as nobody and try to turn the daemon's opens,
// rotations and reads against a file only root may touch.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/events"
)

const nobody = 65534

// hostileDir makes the test's directory reachable by nobody, and puts a
// root-only secret beside the workers' directories.
func hostileDir(t *testing.T, e *env) (secret string) {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("needs root: the workers run as nobody")
	}
	// t.TempDir's parent and the directory itself are 0700.
	for _, d := range []string{filepath.Dir(e.dir), e.dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	secret = filepath.Join(e.dir, "secret")
	if err := os.WriteFile(secret, []byte("SECRET"), 0o600); err != nil {
		t.Fatal(err)
	}
	return secret
}

func mkdirOwned(t *testing.T, dir string, mode os.FileMode, uid, gid int) {
	t.Helper()
	if err := os.Mkdir(dir, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, mode); err != nil { // past the umask
		t.Fatal(err)
	}
	if err := os.Chown(dir, uid, gid); err != nil {
		t.Fatal(err)
	}
}

// waitIncarnation waits until incarnation inc of name was spawned or failed
// to spawn, and returns that event.
func (e *env) waitIncarnation(name string, inc uint64) events.JSON {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for _, ev := range e.history(name) {
			if uint64(ev.Incarnation) == inc && (ev.Type == "spawned" || ev.Type == "spawn_failed") {
				return ev
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.t.Fatalf("%s: incarnation %d was neither spawned nor refused:\n%s", name, inc, e.mustTend("history", name))
	return events.JSON{}
}

// A worker running as nobody, in a directory every user can write, plants
// links where the daemon will write and read: the rotation's temporary
// copy, its live output file before a respawn, a FIFO, and its own output
// directory replaced by a link to a root-only directory. The secret is
// never written, truncated or shown, and the daemon never hangs.
func TestWorkerCannotTurnOutputFilesAgainstRoot(t *testing.T) {
	e := newEnv(t, "")
	secret := hostileDir(t, e)
	shared := filepath.Join(e.dir, "shared") // every user may write here
	mkdirOwned(t, shared, 0o777, 0, 0)
	home := filepath.Join(e.dir, "home") // the worker's own
	mkdirOwned(t, home, 0o755, nobody, nobody)
	rootOnly := filepath.Join(e.dir, "rootonly")
	mkdirOwned(t, rootOnly, 0o700, 0, 0)
	sock := filepath.Join(e.dir, "supervisor.sock")

	// links: its first incarnation points the rotation's temporary file at
	// the secret, passes the size limit, waits for the rotation, then
	// replaces its output file with a link to the secret and exits.
	links := fmt.Sprintf(`
out=%[1]s/links.out
if [ "$TEND_INCARNATION" = 1 ]; then
  ln -s %[2]s "$out.1.tmp"
  i=0; while [ $i -lt 600 ]; do echo "first incarnation, line $i, written to pass the size limit"; i=$((i+1)); done
  n=0; while [ "$(stat -c %%s "$out")" -gt 16384 ] && [ $n -lt 200 ]; do sleep 0.05; n=$((n+1)); done
  rm -f "$out"; ln -s %[2]s "$out"
  exit 1
fi
echo PWNED; exec sleep 600`, shared, secret)
	// fifo replaces its output file with a FIFO nobody reads.
	fifo := fmt.Sprintf(`
out=%s/fifo.out
if [ "$TEND_INCARNATION" = 1 ]; then
  # The daemon may make the next incarnation's file between the rm and the
  # mkfifo: plant until the FIFO is there.
  while ! [ -p "$out" ]; do rm -f "$out"; mkfifo "$out" 2>/dev/null; done
  exit 1
fi
exec sleep 600`, shared)
	// moved replaces the directory of its output files, which sits in a
	// directory it owns, with a link to a root-only directory.
	moved := fmt.Sprintf(`
if [ "$TEND_INCARNATION" = 1 ]; then mv %[1]s/logs %[1]s/logs.old; ln -s %[2]s %[1]s/logs; exit 1; fi
echo PWNED; exec sleep 600`, home, rootOnly)
	worker := func(name, script, stdout string, shared bool) string {
		allow := ""
		if shared {
			allow = "allow_shared_output_dir = true\n"
		}
		return fmt.Sprintf(`
[worker.%s]
command = ["/bin/sh", "-c", %q]
user = "nobody"
restart = "always"
start_timeout = "0s"
backoff_initial = "100ms"
backoff_max = "100ms"
stdout = %q
stderr = %q
log_max_size = "16KiB"
log_backups = 1
%s`, name, script, stdout, stdout, allow)
	}
	e.write(fmt.Sprintf("[daemon]\nstate_dir = \"state\"\nlog_level = \"debug\"\nlog_check_interval = \"50ms\"\nsupervisor_rpc = \"unix://%s\"\n", sock) +
		worker("links", links, filepath.Join(shared, "links.out"), true) +
		worker("fifo", fifo, filepath.Join(shared, "fifo.out"), true) +
		worker("moved", moved, filepath.Join(home, "logs", "moved.out"), false))
	e.startDaemon()

	for name, why := range map[string]string{"links": "is a symbolic link", "fifo": "FIFO", "moved": "is a symbolic link in a directory writable by uid 65534"} {
		ev := e.waitIncarnation(name, 2)
		if ev.Type != "spawn_failed" {
			t.Errorf("%s: its second incarnation was spawned on a planted output file: %+v", name, ev)
		} else if !strings.Contains(ev.Cause, why) {
			t.Errorf("%s: refused for %q, want a reason saying %q", name, ev.Cause, why)
		}
	}
	// The rotation ran while the link was planted at its temporary name.
	if fi, err := os.Lstat(filepath.Join(shared, "links.out.1")); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("links.out was not rotated into a backup of its own: %v, %v", fi, err)
	}
	if b, err := os.ReadFile(secret); err != nil || string(b) != "SECRET" {
		t.Errorf("the secret was written or truncated through a planted link: %q, %v", b, err)
	}
	if ents, _ := os.ReadDir(rootOnly); len(ents) != 0 {
		t.Errorf("the daemon wrote into a root-only directory through a replaced directory: %v", ents)
	}

	// Reading: tend logs and supervisorctl's calls must not show the secret.
	disclosed := func(what, out string) {
		t.Helper()
		if strings.Contains(out, "SECRET") || strings.Contains(out, "PWNED") {
			t.Errorf("%s disclosed the root-only file:\n%s", what, out)
		}
	}
	for _, args := range [][]string{{"logs", "links"}, {"logs", "links", "--stderr"}, {"logs", "moved"}, {"logs", "fifo"}} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		out, errs, _ := e.tendCtx(ctx, args...)
		if ctx.Err() != nil {
			t.Errorf("tend %v hung", args)
		}
		cancel()
		disclosed("tend "+strings.Join(args, " "), out+errs)
	}
	str := func(s string) string { return "<param><value><string>" + s + "</string></value></param>" }
	num := func(n int) string { return fmt.Sprintf("<param><value><int>%d</int></value></param>", n) }
	for _, call := range []struct{ method, params string }{
		{"supervisor.readProcessStdoutLog", str("links") + num(-1000) + num(0)},
		{"supervisor.readProcessStdoutLog", str("links") + num(0) + num(0)},
		{"supervisor.readProcessStderrLog", str("links") + num(-1000) + num(0)},
		{"supervisor.tailProcessStdoutLog", str("links") + num(0) + num(1000)},
		{"supervisor.readProcessStdoutLog", str("moved") + num(-1000) + num(0)},
		{"supervisor.readProcessStdoutLog", str("fifo") + num(-1000) + num(0)},
	} {
		_, out := sdPost(t, sock, sdCall(call.method, call.params))
		disclosed(call.method, out)
	}
	for _, name := range []string{"links", "moved", "fifo"} {
		disclosed("/logtail/"+name, logtail(t, sock, name))
	}
	if b, err := os.ReadFile(secret); err != nil || string(b) != "SECRET" {
		t.Errorf("the secret changed: %q, %v", b, err)
	}
}

// logtail reads /logtail/NAME for a moment: it streams until the client
// goes.
func logtail(t *testing.T, sock, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://supervisor/logtail/"+name+"/stdout", nil)
	resp, err := sdRPCClient(sock).Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// tendCtx is tend with a deadline, for commands that must not hang.
func (e *env) tendCtx(ctx context.Context, args ...string) (string, string, int) {
	cmd := exec.CommandContext(ctx, tendBin, append([]string{"-c", e.conf}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil && cmd.ProcessState == nil {
		e.t.Fatal(err)
	}
	return out.String(), errb.String(), cmd.ProcessState.ExitCode()
}

// A directory on the way to a worker's output files that someone other
// than root and the worker can write is refused by tend check, by the
// daemon at start and by a reload, with the file, line, key, directory and
// who can write it, unless the worker says allow_shared_output_dir = true.
func TestSharedOutputDirIsRefused(t *testing.T) {
	e := newEnv(t, "")
	hostileDir(t, e)
	shared := filepath.Join(e.dir, "shared")
	mkdirOwned(t, shared, 0o777, 0, 0)
	group := filepath.Join(e.dir, "group")
	mkdirOwned(t, group, 0o770, 0, 100) // users
	other := filepath.Join(e.dir, "other")
	mkdirOwned(t, other, 0o755, 12345, 12345)
	mine := filepath.Join(e.dir, "mine")
	mkdirOwned(t, mine, 0o755, nobody, nobody)
	conf := func(allow bool, dir string) string {
		a := ""
		if allow {
			a = "allow_shared_output_dir = true\n"
		}
		return fmt.Sprintf(`[daemon]
state_dir = "state"

[worker.w]
command = ["/bin/sleep", "600"]
user = "nobody"
%sstdout = %q
`, a, filepath.Join(dir, "not", "yet", "w.out"))
	}
	for _, tc := range []struct{ dir, who string }{
		{shared, "every user"},
		{group, `group 100 (users)`},
		{other, "uid 12345"},
	} {
		e.write(conf(false, tc.dir))
		_, errs, code := e.tend("check")
		want := []string{"tend.toml:7: worker.w.stdout:", `worker "w"`, tc.dir, tc.who, "allow_shared_output_dir"}
		for _, w := range want {
			if code == 0 || !strings.Contains(errs, w) {
				t.Errorf("tend check with %s: exit %d, want the message to say %q:\n%s", tc.dir, code, w, errs)
			}
		}
		if strings.Contains(errs, filepath.Join(tc.dir, "not")) {
			t.Errorf("the missing directories are judged by their nearest existing ancestor:\n%s", errs)
		}
	}
	// The worker's own directory, and a shared one explicitly allowed, pass.
	for _, c := range []string{conf(false, mine), conf(true, shared)} {
		e.write(c)
		if _, errs, code := e.tend("check"); code != 0 {
			t.Errorf("tend check: exit %d:\n%s\n%s", code, errs, c)
		}
	}

	e.write(conf(false, shared))
	if out := e.daemonRefuses(); !strings.Contains(out, "worker.w.stdout") || !strings.Contains(out, "allow_shared_output_dir") {
		t.Errorf("the daemon did not refuse the shared directory clearly:\n%s", out)
	}
	e.write(conf(true, shared))
	e.startDaemon()
	e.waitStatus("w", "running", running)
	e.write(conf(false, shared))
	_, errs, code := e.tend("reload")
	if code == 0 || !strings.Contains(errs, "tend.toml:7: worker.w.stdout:") || !strings.Contains(errs, "every user") {
		t.Errorf("reload of a shared directory: exit %d:\n%s", code, errs)
	}
}

// A worker that writes 100 MiB at once leaves at most
// (1 + log_backups) × log_max_size on disk once the next check has run,
// and the newest output is what is kept. The last line is written once
// the burst was cut down (its file under the limit): what a worker writes
// without pause through a rotation's copy is the bound's to cut, and
// logfile's TestRotateCatchesUpWithTheWriter is the test of a line that
// lands during the copy.
func TestOutputBurstIsBounded(t *testing.T) {
	const burst = 100 << 20
	e := newEnv(t, fmt.Sprintf(`
[worker.burst]
command = ["/bin/sh", "-c", "yes 0123456789abcdefghijklmnopqrstuvwxyz | head -c %d; while [ $(stat -L -c %%s /proc/$$/fd/1) -gt 1048576 ]; do sleep 0.05; done; echo; echo END-OF-BURST; exec sleep 600"]
log_max_size = "1MiB"
log_backups = 2
`, burst))
	e.write(strings.Replace(readFile(t, e.conf), "[daemon]\n", "[daemon]\nlog_check_interval = \"50ms\"\n", 1))
	e.startDaemon()
	out := filepath.Join(e.dir, "state", "logs", "burst.out")
	files := []string{out + ".2", out + ".1", out}
	const bound = 3 << 20
	var total int64
	var all []byte
	deadline := time.Now().Add(30 * time.Second)
	for {
		total, all = 0, nil
		for _, f := range files {
			b, _ := os.ReadFile(f)
			total += int64(len(b))
			all = append(all, b...)
		}
		if bytes.HasSuffix(all, []byte("\nEND-OF-BURST\n")) && total <= bound {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the burst the output files hold %d bytes, bound %d (ends %q)", total, bound, all[max(0, len(all)-40):])
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, f := range files[:2] {
		if fi, err := os.Stat(f); err != nil || fi.Size() > 1<<20 {
			t.Errorf("%s: %v, want at most 1 MiB", filepath.Base(f), err)
		}
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// tend report -o writes a private file and replaces a link planted at its
// name instead of writing through it.
func TestReportDoesNotFollowALink(t *testing.T) {
	e := newEnv(t, fmt.Sprintf("[worker.w]\ncommand = %s\n", helperCmd("hang")))
	e.startDaemon()
	e.waitStatus("w", "running", running)
	e.stopDaemon()
	target := filepath.Join(e.dir, "target")
	if err := os.WriteFile(target, []byte("TARGET"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(e.dir, "report.html")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	fresh := filepath.Join(e.dir, "fresh.html")
	for _, out := range []string{link, fresh} {
		e.mustTend("report", "--db", e.db(), "-o", out)
		fi, err := os.Lstat(out)
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, %v; want a regular file of mode 0600", filepath.Base(out), fi.Mode(), err)
		}
		if b := readFile(t, out); !strings.Contains(b, "<html") {
			t.Errorf("%s is not the report", filepath.Base(out))
		}
	}
	if b := readFile(t, target); b != "TARGET" {
		t.Errorf("the report was written through the link into its target")
	}
	if ents, _ := filepath.Glob(filepath.Join(e.dir, ".*")); len(ents) != 0 {
		t.Errorf("temporary files left behind: %v", ents)
	}
}
