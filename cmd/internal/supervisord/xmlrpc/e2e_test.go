package xmlrpc

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// supervisorctl finds the real client, or skips (fails when
// TEND_SUPERVISORCTL_TESTS=1 demands it).
func supervisorctl(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("supervisorctl")
	if err != nil {
		if os.Getenv("TEND_SUPERVISORCTL_TESTS") == "1" {
			t.Fatal("supervisorctl not on PATH but TEND_SUPERVISORCTL_TESTS=1")
		}
		t.Skip("supervisorctl not on PATH (apt-get install supervisor); set TEND_SUPERVISORCTL_TESTS=1 to make this a failure")
	}
	return p
}

func ctl(t *testing.T, bin, sock string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"-s", "unix://" + sock}, args...)...)
	out, _ := cmd.CombinedOutput() // exit codes vary with process states; output is checked
	if bytes.Contains(out, []byte("Traceback")) {
		t.Fatalf("supervisorctl %v crashed:\n%s", args, out)
	}
	return string(out)
}

func TestSupervisorctlEndToEnd(t *testing.T) {
	bin := supervisorctl(t)
	f := newFake(t)
	_, sock := serve(t, f, Options{PID: 4242, TailInterval: 20 * time.Millisecond})
	actor := fmt.Sprintf("supervisorctl uid=%d", os.Getuid())

	// A log with more than supervisorctl's default 1600-byte tail.
	var log strings.Builder
	for i := 0; i < 200; i++ {
		fmt.Fprintf(&log, "line %03d\n", i)
	}
	if err := os.WriteFile(f.logs["web"], []byte(log.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.logs["web"]+".err", []byte("oops on stderr\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	type step struct {
		args  []string
		want  []string // regexps, each must match a line, in order
		calls []string // what the Control must have been asked, in order
	}
	steps := []step{
		{[]string{"status"}, []string{
			`^backend:queue_01 +RUNNING +pid 4002, uptime 1:01:0\d$`,
			`^backend:queue_02 +STOPPED +Not started$`,
			`^broken +STOPPED +Not started$`,
			`^cron +STOPPED +Not started$`,
			`^web +RUNNING +pid 4001, uptime 1:01:0\d$`,
		}, nil},
		{[]string{"status", "web", "backend:*"}, []string{`^web +RUNNING`, `^backend:queue_01 +RUNNING`, `^backend:queue_02 +STOPPED`}, nil},
		{[]string{"version"}, []string{`^4\.2\.5 \(tend\)$`}, nil},
		{[]string{"pid"}, []string{`^4242$`}, nil},
		{[]string{"pid", "web"}, []string{`^4001$`}, nil},
		{[]string{"pid", "nope"}, []string{`^No such process nope$`}, nil},
		{[]string{"start", "cron"}, []string{`^cron: started$`}, []string{"start cron by " + actor}},
		{[]string{"start", "cron"}, []string{`^cron: ERROR \(already started\)$`}, nil},
		{[]string{"start", "nope"}, []string{`^nope: ERROR \(no such process\)$`}, nil},
		{[]string{"start", "broken"}, []string{`^broken: ERROR \(spawn error\)$`}, []string{"start broken by " + actor}},
		{[]string{"status", "broken"}, []string{`^broken +FATAL +exec: /nonexistent: no such file$`}, nil},
		{[]string{"stop", "cron"}, []string{`^cron: stopped$`}, []string{"stop cron by " + actor}},
		{[]string{"stop", "cron"}, []string{`^cron: ERROR \(not running\)$`}, nil},
		// The whole group is one command; the daemon judges queue_01
		// already started, and supervisorctl is not told of it.
		{[]string{"start", "backend:*"}, []string{`^backend:queue_02: started$`}, []string{"start queue_01 by " + actor, "start queue_02 by " + actor}},
		{[]string{"stop", "backend:*"}, []string{`^backend:queue_01: stopped$`, `^backend:queue_02: stopped$`}, []string{"stop queue_01 by " + actor, "stop queue_02 by " + actor}},
		{[]string{"start", "backend:queue_01"}, []string{`^backend:queue_01: started$`}, []string{"start queue_01 by " + actor}},
		{[]string{"stop", "nogroup:*"}, []string{`^nogroup: ERROR \(no such group\)$`}, nil},
		{[]string{"restart", "web"}, []string{`^web: stopped$`, `^web: started$`}, []string{"stop web by " + actor, "start web by " + actor}},
		{[]string{"stop", "all"}, []string{`^backend:queue_01: stopped$`, `^web: stopped$`}, nil},
		{[]string{"start", "all"}, []string{`^backend:queue_01: started$`, `^backend:queue_02: started$`, `^broken: ERROR \(spawn error\)$`, `^cron: started$`, `^web: started$`}, nil},
		{[]string{"tail", "web"}, []string{`^ne 022$`, `^line 199$`}, nil},
		{[]string{"tail", "-18", "web"}, []string{`^line 198$`, `^line 199$`}, nil},
		{[]string{"tail", "web", "stderr"}, []string{`^oops on stderr$`}, nil},
		{[]string{"tail", "nope"}, []string{`^nope: ERROR \(no such process name\)$`}, nil},
		{[]string{"tail", "cron"}, []string{`^cron: ERROR \(no log file\)$`}, nil},
		{[]string{"avail"}, []string{`^backend:queue_01 +in use +auto +999:999$`, `^web +in use +auto +999:999$`}, nil},
	}
	for _, st := range steps {
		out := ctl(t, bin, sock, st.args...)
		checkLines(t, st.args, out, st.want)
		calls := f.callLog()
		if strings.Contains(strings.Join(st.args, " "), ":*") {
			sort.Strings(calls) // group members are acted on concurrently
		}
		if st.calls != nil && strings.Join(calls, "\n") != strings.Join(st.calls, "\n") {
			t.Errorf("supervisorctl %v: Control got %q, want %q", st.args, calls, st.calls)
		}
	}
	// "tail web" prints exactly supervisorctl's 1600 bytes.
	if out := ctl(t, bin, sock, "tail", "web"); len(out) != 1600+1 {
		t.Errorf("tail web printed %d bytes, want 1601", len(out))
	}

	// reread and update: the fake applies the reload like tend does.
	f.mu.Lock()
	f.reload = [3][]string{{"newone"}, {"web"}, {"cron"}}
	f.mu.Unlock()
	checkLines(t, []string{"reread"}, ctl(t, bin, sock, "reread"),
		[]string{`^cron: disappeared$`, `^newone: available$`, `^web: changed$`})
	if calls := f.callLog(); len(calls) != 1 || calls[0] != "reload by "+actor {
		t.Errorf("reread: Control got %q", calls)
	}
	f.mu.Lock()
	f.reload = [3][]string{{"another"}, {"web"}, {"queue_02"}}
	f.mu.Unlock()
	out := ctl(t, bin, sock, "update")
	checkLines(t, []string{"update"}, out, []string{
		`^backend: stopped$`, `^backend: updated process group$`,
		`^web: stopped$`, `^web: updated process group$`,
		`^another: added process group$`,
	})
	calls := strings.Join(f.callLog(), "\n")
	for _, want := range []string{"reload by " + actor, "stop web by " + actor, "start web by " + actor,
		"stop queue_01 by " + actor, "start queue_01 by " + actor, "start another by " + actor} {
		if !strings.Contains(calls, want) {
			t.Errorf("update: Control calls %q lack %q", calls, want)
		}
	}

	// tail -f: the last KiB, then what is appended, until interrupted.
	cmd := exec.Command(bin, "-s", "unix://"+sock, "tail", "-f", "web")
	var buf syncBuffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return strings.Contains(buf.String(), "line 199") })
	fh, _ := os.OpenFile(f.logs["web"], os.O_APPEND|os.O_WRONLY, 0)
	fh.WriteString("appended while tailing\n")
	fh.Close()
	waitFor(t, func() bool { return strings.Contains(buf.String(), "appended while tailing") })
	cmd.Process.Signal(syscall.SIGINT)
	cmd.Wait()
	if got := buf.String(); !strings.HasPrefix(got, "==> Press Ctrl-C to exit <==") || strings.Contains(got, "line 080\n") {
		t.Errorf("tail -f output:\n%s", got)
	}

	checkLines(t, []string{"shutdown"}, ctl(t, bin, sock, "shutdown"), []string{`^Shut down$`})
	if calls := f.callLog(); len(calls) != 1 || calls[0] != "shutdown by "+actor {
		t.Errorf("shutdown: Control got %q", calls)
	}
	checkLines(t, []string{"shutdown"}, ctl(t, bin, sock, "shutdown"), []string{`^ERROR: already shutting down$`})
}

func checkLines(t *testing.T, args []string, out string, want []string) {
	t.Helper()
	lines := strings.Split(out, "\n")
	i := 0
	for _, w := range want {
		re := regexp.MustCompile(w)
		for i < len(lines) && !re.MatchString(lines[i]) {
			i++
		}
		if i == len(lines) {
			t.Errorf("supervisorctl %v: no line matching %s (in order) in:\n%s", args, w, out)
			return
		}
		i++
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
