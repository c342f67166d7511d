package main

// End-to-end tests of the daemon's sockets against local users: every
// socket applies the same uid rule and the same limits, a socket path never
// destroys a file, and a flood of connections from a refused user neither
// locks root out nor fills the log.
//
// Clients that must be another uid are this test binary run again as
// nobody (see sockClient), or the real supervisorctl run as nobody.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tendhq/tend/cmd/internal/client"
	"github.com/tendhq/tend/events"
)

// sockClientEnv makes this test binary a socket client (see sockClient)
// instead of running tests.
const sockClientEnv = "TEND_TEST_SOCKET_CLIENT"

func init() {
	if mode := os.Getenv(sockClientEnv); mode != "" {
		os.Exit(sockClient(mode, os.Args[1:]))
	}
}

// sockClient is what a client running as another uid does:
//
//	hold SOCK N    open N connections; print "connected K"; when stdin
//	               closes, print "closed C" (how many the daemon closed)
//	follow SOCK N  open N "events --follow" streams; print "ok A busy B
//	               other O"; when stdin closes, print "alive K"
//	flood SOCK N   N times: connect, ask for status, read the answer, hang
//	               up (8 at a time); print "refused R other O"
func sockClient(mode string, args []string) int {
	if len(args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: MODE SOCK N")
		return 2
	}
	sock := args[0]
	n, _ := strconv.Atoi(args[1])
	dial := func() (net.Conn, error) { return net.DialTimeout("unix", sock, 2*time.Second) }
	waitStdin := func() { _, _ = io.Copy(io.Discard, os.Stdin) }
	switch mode {
	case "hold":
		var conns []net.Conn
		for range n {
			if c, err := dial(); err == nil {
				conns = append(conns, c)
			}
		}
		fmt.Printf("connected %d\n", len(conns))
		var closed atomic.Int32
		for _, c := range conns {
			go func() {
				_, _ = io.Copy(io.Discard, c) // returns when the daemon closes it
				closed.Add(1)
			}()
		}
		waitStdin()
		fmt.Printf("closed %d\n", closed.Load())
	case "follow":
		var ok, busy, other int
		var streams []net.Conn
		for range n {
			c, err := dial()
			if err != nil {
				other++
				continue
			}
			fmt.Fprintf(c, "GET /v1/events?follow=1&worker=nosuch HTTP/1.1\r\nHost: tend\r\n\r\n")
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			_ = c.SetReadDeadline(time.Time{})
			switch {
			case err != nil:
				other++
			case resp.StatusCode == http.StatusOK:
				ok++
				streams = append(streams, c)
				continue
			case resp.StatusCode == http.StatusServiceUnavailable:
				busy++
			default:
				other++
			}
			c.Close()
		}
		fmt.Printf("ok %d busy %d other %d\n", ok, busy, other)
		waitStdin()
		alive := 0
		for _, c := range streams {
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
			var b [1]byte
			if _, err := c.Read(b[:]); err == nil || os.IsTimeout(err) {
				alive++
			}
		}
		fmt.Printf("alive %d\n", alive)
	case "flood":
		var refused, other atomic.Int32
		var wg sync.WaitGroup
		work := make(chan struct{})
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range work {
					c, err := dial()
					if err != nil {
						other.Add(1)
						continue
					}
					_ = c.SetDeadline(time.Now().Add(5 * time.Second))
					fmt.Fprintf(c, "GET /v1/status HTTP/1.1\r\nHost: tend\r\nConnection: close\r\n\r\n")
					resp, err := http.ReadResponse(bufio.NewReader(c), nil)
					if err == nil && resp.StatusCode == http.StatusForbidden {
						refused.Add(1)
					} else {
						other.Add(1)
					}
					c.Close()
				}
			}()
		}
		for range n {
			work <- struct{}{}
		}
		close(work)
		wg.Wait()
		fmt.Printf("refused %d other %d\n", refused.Load(), other.Load())
	default:
		fmt.Fprintln(os.Stderr, "unknown mode", mode)
		return 2
	}
	return 0
}

var (
	clientOnce sync.Once
	clientExe  string
	clientErr  error
)

// clientBinary is a copy of this test binary that nobody may run (the go
// tool builds tests in a directory only root may enter).
func clientBinary(t *testing.T) string {
	t.Helper()
	clientOnce.Do(func() {
		self, err := os.Executable()
		if err != nil {
			clientErr = err
			return
		}
		b, err := os.ReadFile(self)
		if err != nil {
			clientErr = err
			return
		}
		clientExe = filepath.Join(filepath.Dir(tendBin), "sockclient")
		clientErr = os.WriteFile(clientExe, b, 0o755)
	})
	if clientErr != nil {
		t.Fatal(clientErr)
	}
	return clientExe
}

// needRoot skips unless the test can run clients as another uid.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("needs root to run clients as nobody")
	}
}

// asNobody makes cmd run as nobody, in the supplementary groups given
// (none: the groups are cleared).
func asNobody(cmd *exec.Cmd, groups ...uint32) *exec.Cmd {
	return asNobodyIn(cmd, nobody, groups...)
}

// asNobodyIn makes cmd run as nobody with primary group gid.
func asNobodyIn(cmd *exec.Cmd, gid uint32, groups ...uint32) *exec.Cmd {
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: gid, Groups: groups}}
	return cmd
}

// reachable lets nobody walk to the files under the env's directory (the
// sockets keep their own modes).
func reachable(t *testing.T, e *env) {
	t.Helper()
	for _, d := range []string{filepath.Dir(e.dir), e.dir, filepath.Join(e.dir, "state")} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// usersGroup is a group nobody is not in, for socket_group.
func usersGroup(t *testing.T) (string, uint32) {
	t.Helper()
	g, err := user.LookupGroup("users")
	if err != nil {
		t.Skipf("no group users on this host: %v", err)
	}
	gid, _ := strconv.Atoi(g.Gid)
	return g.Name, uint32(gid)
}

// clientProc is a sockClient running as nobody.
type clientProc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
}

func startClient(t *testing.T, gid uint32, mode, sock string, n int) *clientProc {
	t.Helper()
	cmd := asNobodyIn(exec.Command(clientBinary(t), sock, strconv.Itoa(n)), gid)
	cmd.Env = append(os.Environ(), sockClientEnv+"="+mode)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &clientProc{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout)}
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
	})
	return p
}

// line reads the client's next line of output, parsed as "word N word N".
func (p *clientProc) line(t *testing.T) map[string]int {
	t.Helper()
	s, err := p.out.ReadString('\n')
	if err != nil {
		t.Fatalf("socket client: %v (output %q)", err, s)
	}
	f := strings.Fields(s)
	m := map[string]int{}
	for i := 0; i+1 < len(f); i += 2 {
		m[f[i]], _ = strconv.Atoi(f[i+1])
	}
	return m
}

// finish closes the client's stdin and returns its last line.
func (p *clientProc) finish(t *testing.T) map[string]int {
	t.Helper()
	p.stdin.Close()
	m := p.line(t)
	_ = p.cmd.Wait()
	return m
}

// refusals returns the command_refused events.
func refusals(e *env) []events.JSON {
	return sdEvents(e, "--type", "command_refused")
}

// timedStatus runs root's "tend status" and returns how long it took
// (giving up after 5s).
func timedStatus(t *testing.T, e *env) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	t0 := time.Now()
	out, err := exec.CommandContext(ctx, tendBin, "-c", e.conf, "status").CombinedOutput()
	d := time.Since(t0)
	if err != nil && ctx.Err() == nil {
		t.Fatalf("tend status: %v\n%s", err, out)
	}
	return d
}

// The supervisorctl socket applies the control socket's rule: nobody, not
// in the socket group, is refused whatever it asks (even when a wrong mode
// lets it reach the socket), and the refusal is an event without the
// request's payload; a member of the socket group is served, under its own
// uid.
func TestSupervisorRPCAppliesTheUIDRule(t *testing.T) {
	needRoot(t)
	bin := sdSupervisorctl(t)
	group, gid := usersGroup(t)
	e := newEnv(t, "")
	sock := filepath.Join(e.dir, "supervisor.sock")
	e.write(fmt.Sprintf("[daemon]\nstate_dir = \"state\"\nlog_level = \"debug\"\nsocket_group = %q\nsupervisor_rpc = \"unix://%s\"\n\n[worker.a]\ncommand = %s\n",
		group, sock, helperCmd("spam-stdout", "50ms")))
	e.startDaemon()
	before := e.waitStatus("a", "running", running)
	reachable(t, e)
	if err := os.Chmod(sock, 0o666); err != nil { // the misconfiguration the rule is for
		t.Fatal(err)
	}
	ctl := func(groups []uint32, args ...string) (string, int) {
		t.Helper()
		cmd := asNobody(exec.Command(bin, append([]string{"-s", "unix://" + sock}, args...)...), groups...)
		out, err := cmd.CombinedOutput()
		if cmd.ProcessState == nil {
			t.Fatalf("supervisorctl %v as nobody: %v", args, err)
		}
		return string(out), cmd.ProcessState.ExitCode()
	}
	for _, args := range [][]string{{"stop", "a"}, {"tail", "a"}, {"shutdown"}} {
		out, code := ctl(nil, args...)
		if code == 0 || !strings.Contains(out, "not allowed") {
			t.Errorf("supervisorctl %v as nobody was not refused (exit %d):\n%s", args, code, out)
		}
		if strings.Contains(out, "spam") {
			t.Errorf("supervisorctl %v as nobody read a's output:\n%s", args, out)
		}
	}
	if e.daemon.ProcessState != nil {
		t.Fatal("the daemon stopped")
	}
	if now := e.status()["a"]; now.State != "Running" || now.PID != before.PID {
		t.Fatalf("a refused client changed a: %+v", now)
	}
	var first bool
	for _, ev := range refusals(e) {
		if strings.HasPrefix(ev.Actor, "uid=65534 gid=65534 pid=") && strings.Contains(ev.Cause, "supervisorctl socket") {
			first = true
		}
		if strings.Contains(ev.Cause, "stop") || strings.Contains(ev.Cause, "RPC2") {
			t.Errorf("a refusal recorded what was asked: %+v", ev)
		}
	}
	if !first {
		t.Errorf("no command_refused event for uid 65534 on the supervisorctl socket: %+v", refusals(e))
	}
	for _, ev := range sdEvents(e) {
		if ev.Actor == "supervisorctl uid=65534" {
			t.Errorf("a refused client's command is in the log: %+v", ev)
		}
	}

	// A member of the socket group is served, and the log says who.
	if out, code := ctl([]uint32{gid}, "stop", "a"); code != 0 || !strings.Contains(out, "a: stopped") {
		t.Fatalf("supervisorctl stop a as nobody in %s: exit %d:\n%s", group, code, out)
	}
	sdRecorded(e, "stop by a group member", 0, "supervisorctl uid=65534", [2]string{"a", "stop_requested"})
}

// One response of the XML-RPC socket is bounded: a multicall asking for
// 80 MB of log gets faults past the bound, and the daemon's peak memory
// grows by far less than what was asked.
func TestSupervisorRPCResponseIsBounded(t *testing.T) {
	e := newEnv(t, "")
	sock := filepath.Join(e.dir, "supervisor.sock")
	out := filepath.Join(e.dir, "a.out")
	if err := os.WriteFile(out, bytes.Repeat([]byte("0123456789abcdef\n"), 5<<20/17), 0o644); err != nil {
		t.Fatal(err)
	}
	e.write(fmt.Sprintf("[daemon]\nstate_dir = \"state\"\nlog_level = \"debug\"\nsupervisor_rpc = \"unix://%s\"\n\n[worker.a]\ncommand = %s\nstdout = %q\nlog_max_size = \"100MiB\"\n",
		sock, helperCmd("hang"), out))
	e.startDaemon()
	e.waitStatus("a", "running", running)
	const calls, each = 20, 4 << 20
	var mc strings.Builder
	for range calls {
		mc.WriteString(`<value><struct><member><name>methodName</name><value><string>supervisor.readProcessLog</string></value></member>` +
			`<member><name>params</name><value><array><data><value><string>a</string></value><value><int>0</int></value>` +
			`<value><int>` + strconv.Itoa(each) + `</int></value></data></array></value></member></struct></value>`)
	}
	body := sdCall("system.multicall", `<param><value><array><data>`+mc.String()+`</data></array></value></param>`)
	hwm := func() int {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", e.daemon.Process.Pid))
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
				kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
				return kb << 10
			}
		}
		t.Fatal("no VmHWM")
		return 0
	}
	base := hwm()
	resp := sdPostAll(t, sock, body)
	grew := hwm() - base
	t.Logf("a %d-byte multicall asking for %d MiB: %d-byte response, daemon peak memory grew %d MiB", len(body), calls*each>>20, len(resp), grew>>20)
	if !strings.Contains(resp, "response too large") {
		t.Errorf("no fault for a response past the bound:\n%.600s", resp)
	}
	if len(resp) > 17<<20 {
		t.Errorf("response of %d bytes", len(resp))
	}
	if grew > 100<<20 {
		t.Errorf("the daemon's peak memory grew by %d MiB", grew>>20)
	}
	if !strings.Contains(resp, "0123456789abcdef") {
		t.Errorf("the reads that fit were not answered:\n%.300s", resp)
	}

	// A multicall of too many calls is refused as a whole.
	var many strings.Builder
	for range 300 {
		many.WriteString(`<value><struct><member><name>methodName</name><value><string>supervisor.getPID</string></value></member></struct></value>`)
	}
	if code, r := sdPost(t, sock, sdCall("system.multicall", `<param><value><array><data>`+many.String()+`</data></array></value></param>`)); code != 2 {
		t.Errorf("a multicall of 300 calls: fault %d, want 2:\n%.300s", code, r)
	}
}

// sdPostAll posts body to /RPC2 and returns the whole answer.
func sdPostAll(t *testing.T, sock string, body []byte) string {
	t.Helper()
	resp, err := sdRPCClient(sock).Post("http://supervisor/RPC2", "text/xml", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("POST /RPC2: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /RPC2: HTTP %d, %v", resp.StatusCode, err)
	}
	return string(b)
}

// Offsets and lengths at the ends of int64 get an answer or a fault, never
// a panic (which net/http would recover, printing a stack trace into the
// daemon's log).
func TestSupervisorRPCLogOffsetsAtTheLimits(t *testing.T) {
	e := newEnv(t, "")
	sock := filepath.Join(e.dir, "supervisor.sock")
	e.write(fmt.Sprintf("[daemon]\nstate_dir = \"state\"\nlog_level = \"debug\"\nsupervisor_rpc = \"unix://%s\"\n\n[worker.a]\ncommand = %s\n",
		sock, helperCmd("spam-stdout", "10ms")))
	e.startDaemon()
	e.waitStatus("a", "running", running)
	lo, hi := strconv.FormatInt(math.MinInt64, 10), strconv.FormatInt(math.MaxInt64, 10)
	param := func(v string) string { return `<param><value><int>` + v + `</int></value></param>` }
	name := `<param><value><string>a</string></value></param>`
	for _, tc := range []struct {
		method, off, n string
		fault          int // -1: any answer will do
	}{
		{"supervisor.readProcessStdoutLog", lo, "0", 3},
		{"supervisor.readProcessStderrLog", lo, "0", 3},
		{"supervisor.readProcessStdoutLog", lo, lo, 3},
		{"supervisor.readProcessStdoutLog", hi, hi, 0},
		{"supervisor.readProcessStdoutLog", "-1", lo, 3},
		{"supervisor.readProcessStdoutLog", "0", hi, 0},
		{"supervisor.tailProcessStdoutLog", lo, "0", 0},
		{"supervisor.tailProcessStdoutLog", lo, lo, 0},
		{"supervisor.tailProcessStdoutLog", hi, hi, 0},
		{"supervisor.tailProcessStdoutLog", "-1", lo, 0},
		{"supervisor.tailProcessStdoutLog", hi, lo, 0},
		{"supervisor.tailProcessStdoutLog", lo, hi, 0},
	} {
		code, resp := sdPost(t, sock, sdCall(tc.method, name+param(tc.off)+param(tc.n)))
		if code != tc.fault {
			t.Errorf("%s(a, %s, %s): fault %d, want %d:\n%.300s", tc.method, tc.off, tc.n, code, tc.fault, resp)
		}
	}
	e.stopDaemon() // its log is complete, and no longer being written
	if log := e.stderr.String(); strings.Contains(log, "panic") || strings.Contains(log, `"level":"error"`) {
		t.Errorf("the daemon logged a panic or an error:\n%s", log)
	}
}

// A socket path that names anything but a socket is a configuration error
// of "tend check" and of the daemon, naming the key, its line and the
// path; the file is left as it was. A stale socket is replaced.
func TestSocketPathNeverReplacesAFile(t *testing.T) {
	e := newEnv(t, "[worker.a]\ncommand = "+helperCmd("hang")+"\n")
	e.startDaemon()
	e.stopDaemon()
	notes := filepath.Join(e.dir, "notes.txt")
	if err := os.WriteFile(notes, []byte("keep me\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(e.dir, "link.sock")
	if err := os.Symlink(notes, link); err != nil {
		t.Fatal(err)
	}
	sum := func(p string) [32]byte {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return sha256.Sum256(b)
	}
	for _, tc := range []struct {
		what, daemon, key, path, msg string
	}{
		{"the log's own path", `socket = "state/tend.db"`, "daemon.socket", e.db(), "is the event log's path"},
		{"a regular file", `socket = "notes.txt"`, "daemon.socket", notes, "is a regular file, not a socket"},
		{"a symbolic link", `socket = "link.sock"`, "daemon.socket", link, "is a symbolic link, not a socket"},
		{"a regular file for supervisorctl", `supervisor_rpc = "unix://` + notes + `"`, "daemon.supervisor_rpc", notes, "is a regular file, not a socket"},
	} {
		t.Run(tc.what, func(t *testing.T) {
			e.write("[daemon]\nstate_dir = \"state\"\nlog_level = \"debug\"\n" + tc.daemon + "\n\n[worker.a]\ncommand = " + helperCmd("hang") + "\n")
			before := sum(tc.path)
			want := fmt.Sprintf("%s:4: %s: %s %s", e.conf, tc.key, tc.path, tc.msg)
			out, errOut, code := e.tend("check")
			if code == 0 || !strings.Contains(errOut, want) {
				t.Errorf("tend check: exit %d, want an error with %q:\n%s%s", code, want, out, errOut)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			dout, err := exec.CommandContext(ctx, tendBin, "daemon", "-c", e.conf).CombinedOutput()
			if ctx.Err() != nil {
				t.Errorf("tend daemon started")
			} else if err == nil || !strings.Contains(string(dout), want) {
				t.Errorf("tend daemon: %v, want an error with %q:\n%s", err, want, dout)
			}
			killMarked(e.db())
			if sum(tc.path) != before {
				t.Errorf("%s was changed", tc.path)
			}
			if fi, err := os.Lstat(link); err != nil || fi.Mode().Type() != os.ModeSymlink {
				t.Errorf("the symbolic link is gone: %v", err)
			}
		})
	}
	if _, _, code := e.tend("verify", "--db", e.db()); code != 0 {
		t.Error("the log no longer verifies")
	}

	// A socket nothing answers on, as a killed daemon leaves, is replaced.
	e.write("[daemon]\nstate_dir = \"state\"\nlog_level = \"debug\"\n\n[worker.a]\ncommand = " + helperCmd("hang") + "\n")
	l, err := net.Listen("unix", e.socket())
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	e.startDaemon()
}

// Connections from a refused uid are answered and closed at once and take
// no place of an admitted one: 200 of them held open do not keep root out.
func TestRefusedConnectionsDoNotLockRootOut(t *testing.T) {
	needRoot(t)
	e := newEnv(t, "[worker.a]\ncommand = "+helperCmd("hang")+"\n")
	e.startDaemon()
	reachable(t, e)
	if err := os.Chmod(e.socket(), 0o666); err != nil {
		t.Fatal(err)
	}
	p := startClient(t, nobody, "hold", e.socket(), 200)
	if got := p.line(t)["connected"]; got < 150 {
		t.Fatalf("nobody connected only %d times", got)
	}
	if d := timedStatus(t, e); d > time.Second {
		t.Errorf("root's status took %v with 200 connections of nobody open", d)
	}
	time.Sleep(2 * time.Second) // well past the daemon's deadline for a refused connection
	if closed := p.finish(t)["closed"]; closed < 150 {
		t.Errorf("the daemon closed only %d of nobody's 200 connections", closed)
	}
}

// Follow streams of an allowed user count against the connection limit,
// but root keeps a reserve: with 130 streams of a group member (its primary
// group) asked for, 128 are served, the rest told the daemon is busy, and
// root still gets in.
func TestFollowStreamsLeaveRootItsReserve(t *testing.T) {
	needRoot(t)
	group, gid := usersGroup(t)
	e := newEnv(t, "")
	e.write(fmt.Sprintf("[daemon]\nstate_dir = \"state\"\nlog_level = \"debug\"\nsocket_group = %q\n\n[worker.a]\ncommand = %s\n", group, helperCmd("hang")))
	e.startDaemon()
	reachable(t, e)
	p := startClient(t, gid, "follow", e.socket(), 130)
	got := p.line(t)
	// 128 places; the CLI's connections of a moment ago may still hold one.
	if got["ok"] < 126 || got["busy"] < 2 || got["ok"]+got["busy"] != 130 {
		t.Errorf("130 follow streams of a group member: %v, want 128 ok and 2 busy", got)
	}
	for range 3 {
		if d := timedStatus(t, e); d > time.Second {
			t.Errorf("root's status took %v with 128 follow streams open", d)
		}
	}
	if alive := p.finish(t)["alive"]; alive != got["ok"] {
		t.Errorf("%d of %d follow streams survived", alive, got["ok"])
	}
}

// A flood of refused connections writes a bounded number of events: the
// first refusal of the uid, then counted summaries.
func TestRefusalFloodIsSummarised(t *testing.T) {
	needRoot(t)
	e := newEnv(t, "[worker.a]\ncommand = "+helperCmd("hang")+"\n")
	e.startDaemon()
	reachable(t, e)
	if err := os.Chmod(e.socket(), 0o666); err != nil {
		t.Fatal(err)
	}
	size := func() int64 {
		fi, err := os.Stat(e.db())
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	before := size()
	const n = 3000
	p := startClient(t, nobody, "flood", e.socket(), n)
	res := p.line(t)
	_ = p.cmd.Wait()
	if res["refused"]+res["other"] != n || res["refused"] < n/2 {
		t.Fatalf("flood of %d: %v", n, res)
	}
	// Wait for the summary of the last window (windows of 1s, 2s, 4s...).
	var evs []events.JSON
	counted := 0
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		evs, counted = refusals(e), 0
		for _, ev := range evs {
			if strings.HasPrefix(ev.Actor, "uid=65534 gid=65534") {
				counted++
				continue
			}
			var k int
			if _, err := fmt.Sscanf(strings.ReplaceAll(ev.Cause[strings.Index(ev.Cause, ": ")+2:], ",", ""), "%d more refusal", &k); err == nil {
				counted += k
			}
		}
		if counted >= res["refused"] {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("%d refusals (%v) became %d events, counting %d; the log grew by %d bytes", n, res, len(evs), counted, size()-before)
	if len(evs) > 12 {
		t.Errorf("%d refusals wrote %d events", n, len(evs))
	}
	if counted < res["refused"] || counted > n {
		t.Errorf("the events count %d refusals; %d were answered 403 of %d", counted, res["refused"], n)
	}
	if len(evs) < 2 || !strings.Contains(evs[1].Cause, "more refusals from uid 65534 in the last") {
		t.Errorf("no summary event: %+v", evs)
	}
	if grew := size() - before; grew > 256<<10 {
		t.Errorf("the log grew by %d bytes", grew)
	}
}

// "tend status NAME" shows exactly the workers named, as supervisorctl's
// "status NAME" does.
func TestStatusShowsExactlyTheNamedWorkers(t *testing.T) {
	var conf strings.Builder
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		fmt.Fprintf(&conf, "[worker.%s]\ncommand = %s\n", n, helperCmd("hang"))
	}
	e := newEnv(t, conf.String())
	e.startDaemon()
	for _, tc := range [][]string{{"a"}, {"e"}, {"b", "d"}, {"d", "b"}, {"a", "b", "c", "d", "e"}} {
		var ws []client.WorkerStatus
		if err := json.Unmarshal([]byte(e.mustTend(append([]string{"status", "-o", "json"}, tc...)...)), &ws); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, w := range ws {
			got = append(got, w.Name)
		}
		want := append([]string(nil), tc...)
		if len(want) == 2 {
			want = []string{"b", "d"} // in the daemon's order
		}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("status %v shows %v", tc, got)
		}
	}
	if out, errOut, code := e.tend("status", "a", "nope"); code == 0 || !strings.Contains(errOut, "nope") {
		t.Errorf("status a nope: exit %d:\n%s%s", code, out, errOut)
	}
}
