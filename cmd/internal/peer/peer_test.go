package peer

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRule(t *testing.T) {
	r := Rule{UID: 1000, GID: 100}
	for _, tc := range []struct {
		c    Cred
		want bool
	}{
		{Cred{UID: 0, GID: 0}, true},                                 // root
		{Cred{UID: 1000, GID: 1000}, true},                           // the daemon's uid
		{Cred{UID: 1001, GID: 100}, true},                            // primary group
		{Cred{UID: 1001, GID: 1001, Groups: []uint32{5, 100}}, true}, // supplementary group
		{Cred{UID: 1001, GID: 1001, Groups: []uint32{5, 101}}, false},
		{Cred{UID: 65534, GID: 65534}, false},
	} {
		if got := r.Allows(tc.c); got != tc.want {
			t.Errorf("Allows(%+v) = %v", tc.c, got)
		}
	}
	if (Rule{UID: 1000, GID: -1}).Allows(Cred{UID: 1001, GID: 0, Groups: []uint32{0}}) {
		t.Error("with no socket group, group 0 was admitted")
	}
	if !(Rule{UID: 1000, GID: -1}).Owner(Cred{UID: 0}) || (Rule{UID: 1000, GID: 100}).Owner(Cred{UID: 1001, GID: 100}) {
		t.Error("Owner: only root and the daemon's uid own the reserve")
	}
}

// The kernel's credentials of a connection, groups included, are this
// process's.
func TestOfReadsTheKernelsCredentials(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "s")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cred, err := Of(s)
	if err != nil {
		t.Fatal(err)
	}
	groups, _ := os.Getgroups()
	var want []uint32
	for _, g := range groups {
		want = append(want, uint32(g))
	}
	slices.Sort(want)
	got := slices.Clone(cred.Groups)
	slices.Sort(got)
	if cred.UID != uint32(os.Getuid()) || cred.GID != uint32(os.Getgid()) || cred.PID != int32(os.Getpid()) || !slices.Equal(got, want) {
		t.Errorf("Of = %+v; want uid %d gid %d pid %d groups %v", cred, os.Getuid(), os.Getgid(), os.Getpid(), want)
	}
	if _, err := Of(&net.TCPConn{}); err == nil {
		t.Error("a TCP connection has peer credentials")
	}
}

func TestListenLeavesEverythingButAStaleSocket(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(file, link); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "dir")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	for path, what := range map[string]string{file: "a regular file", link: "a symbolic link", sub: "a directory"} {
		_, err := Listen(path, -1)
		var pe *PathError
		if !errors.Is(err, ErrNotSocket) || !errors.As(err, &pe) || pe.What != what || !strings.Contains(err.Error(), path) {
			t.Errorf("Listen(%s): %v; want ErrNotSocket, %s", path, err, what)
		}
		if err := CheckPath(path); !errors.Is(err, ErrNotSocket) {
			t.Errorf("CheckPath(%s): %v", path, err)
		}
	}
	if b, err := os.ReadFile(link); err != nil || string(b) != "keep" {
		t.Fatalf("the file behind the link: %q, %v", b, err)
	}

	// A stale socket is replaced; a live one is not.
	sock := filepath.Join(dir, "s.sock")
	stale, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	stale.Close()
	if err := CheckPath(sock); err != nil {
		t.Errorf("CheckPath of a socket: %v", err)
	}
	l, err := Listen(sock, -1)
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode: %v, %v", fi.Mode(), err)
	}
	if _, err := Listen(sock, -1); !errors.Is(err, ErrInUse) {
		t.Errorf("Listen over a live socket: %v", err)
	}
	l.Close()
	if _, err := os.Lstat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Close left the socket: %v", err)
	}

	// With a group the socket is 0660 in it; Close removes only its own
	// socket, not what took its path.
	l, err = Listen(sock, 100)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(sock)
	if err != nil || fi.Mode().Perm() != 0o660 || fi.Sys().(*syscall.Stat_t).Gid != 100 {
		t.Errorf("socket with group: %v, %+v", err, fi)
	}
	if err := os.Remove(sock); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(sock, []byte("other"), 0o600); err != nil {
		t.Fatal(err)
	}
	l.Close()
	if b, _ := os.ReadFile(sock); string(b) != "other" {
		t.Error("Close removed a file that took the socket's path")
	}
}

// fakeUIDs stands in for the kernel: each connection's uid is the first
// byte its client sends.
func fakeUIDs(c net.Conn) (Cred, error) {
	var b [1]byte
	if _, err := io.ReadFull(c, b[:]); err != nil {
		return Cred{}, err
	}
	return Cred{UID: uint32(b[0]), GID: uint32(b[0])}, nil
}

type testListener struct {
	*Listener
	sock string
	mu   sync.Mutex
	reps []Report
}

func listen(t *testing.T, opts Options) *testListener {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "s")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	tl := &testListener{sock: sock}
	opts.Report = func(r Report) {
		tl.mu.Lock()
		tl.reps = append(tl.reps, r)
		tl.mu.Unlock()
	}
	tl.Listener = NewListener(ln, opts)
	tl.Listener.cred = fakeUIDs
	t.Cleanup(func() { tl.Close() })
	return tl
}

// dial connects as uid and returns the connection and, for a connection
// the listener turned away, the status it answered.
func (tl *testListener) dial(t *testing.T, uid byte) net.Conn {
	t.Helper()
	c, err := net.Dial("unix", tl.sock)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte{uid}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func status(t *testing.T, c net.Conn) int {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Admitted connections are bounded; root and the daemon's uid have a
// reserve beyond the bound; a refused connection is answered at once and
// takes no place.
func TestListenerAdmitsWithinItsBounds(t *testing.T) {
	const owner, member, stranger = 0, 7, 9
	tl := listen(t, Options{Rule: Rule{UID: 1, GID: member}, MaxConns: 3, Reserve: 2})
	accepted := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := tl.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	admit := func(uid byte) *Conn {
		t.Helper()
		tl.dial(t, uid)
		select {
		case c := <-accepted:
			return c.(*Conn)
		case <-time.After(5 * time.Second):
			t.Fatalf("uid %d was not admitted", uid)
			return nil
		}
	}
	// Strangers first: refused, and they do not count.
	for range 5 {
		if s := status(t, tl.dial(t, stranger)); s != http.StatusForbidden {
			t.Fatalf("a stranger got %d", s)
		}
	}
	var held []*Conn
	for range 3 {
		held = append(held, admit(member))
	}
	if held[0].Cred.UID != member {
		t.Errorf("Cred of an admitted connection: %+v", held[0].Cred)
	}
	if s := status(t, tl.dial(t, member)); s != http.StatusServiceUnavailable {
		t.Errorf("a member past the bound got %d", s)
	}
	root1, root2 := admit(owner), admit(owner)
	if s := status(t, tl.dial(t, owner)); s != http.StatusServiceUnavailable {
		t.Errorf("root past the reserve got %d", s)
	}
	// A closed connection frees its place, once however often it is
	// closed.
	held[0].Close()
	held[0].Close()
	admit(member)
	if s := status(t, tl.dial(t, member)); s != http.StatusServiceUnavailable {
		t.Errorf("a member past the bound got %d", s)
	}
	root1.Close()
	admit(owner)
	root2.Close()
	for _, c := range held {
		c.Close()
	}
	tl.Close()
	for c := range accepted {
		c.Close()
	}
	tl.mu.Lock()
	defer tl.mu.Unlock()
	if len(tl.reps) != 2 || !tl.reps[0].First || tl.reps[0].Cred.UID != stranger || tl.reps[1].Count != 4 {
		t.Errorf("refusals reported: %+v; want the first in full and 4 more counted (flushed on Close)", tl.reps)
	}
}

// Past MaxTurning connections being turned away at once, the next is
// closed without an answer, and Accept goes on.
func TestListenerBoundsWhatRefusalsCost(t *testing.T) {
	tl := listen(t, Options{Rule: Rule{UID: 1, GID: -1}, MaxTurning: 2})
	accepted := make(chan Cred, 1)
	go func() {
		for {
			c, err := tl.Accept()
			if err != nil {
				return
			}
			accepted <- c.(*Conn).Cred
			c.Close()
		}
	}()
	// Two slow clients keep their refusals open: they never read and
	// never hang up until TurnTimeout.
	slow := []net.Conn{tl.dial(t, 9), tl.dial(t, 9)}
	deadline := time.Now().Add(5 * time.Second)
	for tl.turning.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if s := status(t, tl.dial(t, 9)); s != 0 {
		t.Errorf("a third refused connection got %d; want it closed unanswered", s)
	}
	tl.dial(t, 0)
	select {
	case c := <-accepted:
		if c.UID != 0 {
			t.Fatalf("admitted %+v", c)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("root's connection was not admitted while refusals were being answered")
	}
	for _, c := range slow {
		if s := status(t, c); s != http.StatusForbidden {
			t.Errorf("a slow refused client got %d", s)
		}
	}
}

func TestTallyReportsFirstsAndCounts(t *testing.T) {
	var tl tally
	t0 := time.Unix(1e9, 0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	nobody := Cred{UID: 65534, GID: 65534, PID: 42}
	if !tl.refuse(nobody, at(0)) {
		t.Fatal("the first refusal does not ask to be recorded")
	}
	for i := range 1766 {
		if tl.refuse(nobody, at(time.Duration(i)*time.Microsecond)) {
			t.Fatal("a later refusal asks to be recorded at once")
		}
	}
	reps, next := tl.collect(at(10*time.Millisecond), false)
	if len(reps) != 1 || !reps[0].First || reps[0].Cred.UID != 65534 || reps[0].Cred.PID != 42 || !next.Equal(at(FirstWindow)) {
		t.Fatalf("first collect: %+v, next %v", reps, next)
	}
	reps, next = tl.collect(at(FirstWindow), false)
	if len(reps) != 1 || reps[0].Count != 1766 || reps[0].Over != FirstWindow {
		t.Fatalf("at the end of the first window: %+v", reps)
	}
	if got := reps[0].String(); got != "1,766 more refusals from uid 65534 in the last 1s" {
		t.Errorf("summary reads %q", got)
	}
	if !next.Equal(at(3 * time.Second)) {
		t.Errorf("the second window ends at %v; want it twice as long", next.Sub(t0))
	}
	// A sustained flood: windows double up to MaxWindow, one report each.
	now, reports := at(FirstWindow), 0
	for now.Before(at(10 * time.Minute)) {
		now = now.Add(100 * time.Millisecond)
		tl.refuse(nobody, now)
		r, _ := tl.collect(now, false)
		reports += len(r)
	}
	if reports > 6+9 {
		t.Errorf("ten minutes of refusals made %d reports", reports)
	}
	// Quiet for Forget: the next refusal is a first again.
	tl.collect(now.Add(MaxWindow), false)
	tl.collect(now.Add(MaxWindow+Forget), false)
	tl.collect(now.Add(2*MaxWindow+Forget), false)
	if len(tl.uids) != 0 {
		t.Fatalf("a quiet uid is still counted: %+v", tl.uids)
	}
	if !tl.refuse(nobody, now.Add(time.Hour)) {
		t.Error("after a quiet spell the next refusal is not recorded in full")
	}
	// Past MaxUIDs uids, the rest share one count.
	for uid := range uint32(MaxUIDs + 10) {
		tl.refuse(Cred{UID: 100000 + uid}, now.Add(time.Hour))
	}
	reps, _ = tl.collect(now.Add(time.Hour), true)
	firsts, others := 0, 0
	for _, r := range reps {
		if r.First {
			firsts++
		}
		if r.Others {
			others += r.Count
			if !strings.Contains(r.String(), "uids beyond the first") {
				t.Errorf("others read %q", r.String())
			}
		}
	}
	if firsts != MaxUIDs || others != 11 {
		t.Errorf("%d firsts and %d others; want %d and 11", firsts, others, MaxUIDs)
	}
}

func TestAnswer(t *testing.T) {
	b := Answer(http.StatusForbidden, "Forbidden: uid 5\r\nX-Evil: 1", "text/plain", "no\n")
	resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(string(b))), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 403 || resp.Status != "403 Forbidden: uid 5  X-Evil: 1" || resp.Header.Get("X-Evil") != "" || string(body) != "no\n" || !resp.Close {
		t.Errorf("Answer: %q %v %q", resp.Status, resp.Header, body)
	}
}
