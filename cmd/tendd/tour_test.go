package main

// The README's five-minute tour, run as written: the bundled example
// (examples/tend.toml, what `make run` starts) under the real daemon, and
// every command of the tour's code block, in order, read from README.md
// itself. A command the README shows that fails, or prints something other
// than what the README says, fails this test.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tendhq/tend/cmd/internal/client"
)

// tourStep is what the test knows of one command of the tour: what must
// hold before it runs (the tour is read at a person's pace: a breaker has
// opened by the time one asks why), and what it prints.
type tourStep struct {
	before  func(e *env)
	want    []string      // regexps its output must match
	minTime time.Duration // it waits at least this long
	check   func(t *testing.T, dir, out string)
}

// Substitutions, each of which must still apply: the example's fixed
// addresses (the web worker's and the metrics') become free ports, which
// a `make run` beside the tests does not hold, and the tour asks for the
// state 30 s ago of a daemon the test has run for less than that.
var (
	tourConfigAddrs = []string{"127.0.0.1:8089", "127.0.0.1:9464"}
	tourCmdSubst    = map[string]string{"tend replay --at 30s": "tend replay --at 5s"}
)

var tourWorkers = []string{"crashy", "leaky", "stubborn", "ticker", "web"}

func tourSteps() map[string]tourStep {
	var webInc uint64
	rows := func(header string) []string {
		out := []string{header}
		for _, w := range tourWorkers {
			out = append(out, `(?m)^`+w+`\s`)
		}
		return out
	}
	return map[string]tourStep{
		"tend status": {want: rows(`(?m)^NAME\s+STATE\s+PID\s+INC\s+RESTARTS\s+SINCE\s+WHY$`)},
		"kill -9 $(tend status web -o json | jq '.[0].pid')": {before: func(e *env) {
			webInc = e.waitStatus("web", "running", running).Incarnation
		}},
		"tend status web": {
			before: func(e *env) {
				e.waitStatus("web", "restarted", func(w client.WorkerStatus) bool { return running(w) && w.Incarnation > webInc })
			},
			want: []string{`(?m)^web\s+Running\s+\d+\s+2\s+1\s`},
		},
		"tend history web": {want: []string{
			`(?m)^SEQ\s+TIME\s+INC\s+EVENT\s+TRANSITION\s+ACTOR\s+CAUSE$`,
			`exited\s+Running → Stopped\s+process\s+process signal KILL`,
			`restart_scheduled\s+restart-policy\s+killed by signal 9 with restart=always`,
			`(?m)^\d+\s+\S+ \S+\s+2\s+spawned\s`,
		}},
		"tend why crashy": {before: func(e *env) {
			e.waitStatus("crashy", "broke its circuit", func(w client.WorkerStatus) bool { return w.BreakerOpen })
		}},
		"tend why leaky": {before: func(e *env) {
			e.waitStatus("leaky", "killed by its limit", func(w client.WorkerStatus) bool {
				return w.LastExit != nil && w.LastExit.Signal == "KILL"
			})
		}},
		"tend stop stubborn": {want: []string{`(?m)^stubborn: Killed `}, minTime: 2500 * time.Millisecond},
		"tend events --follow": {want: []string{`(?m)^SEQ\s+TIME\s+WORKER\s+INC\s+EVENT`, `daemon_started`,
			`crashy\s+\d+\s+breaker_opened`, `leaky\s+\d+\s+limit_violated`, `stubborn\s+1\s+killed`}},
		"tend replay --at 30s": {want: rows(`(?m)^state after seq [1-9]\d* \(`)},
		"tend verify":          {want: []string{`(?m)^ok: \d+ events, chain and checksums intact, index consistent$`}},
		"tend logs ticker -f":  {want: []string{`(?m)^tick \d+\ntick \d+$`}},
		"tend report -o report.html": {
			want: []string{`(?m)^report.html: \d+ events, 5 workers, `},
			check: func(t *testing.T, dir, _ string) {
				b, err := os.ReadFile(filepath.Join(dir, "report.html"))
				if err != nil || !bytes.Contains(b, []byte("<html")) || !bytes.Contains(b, []byte("stubborn")) {
					t.Errorf("report.html is not the report: %.200q, %v", b, err)
				}
			},
		},
	}
}

// tourBlock is the tour's code block of README.md: its alias line, and
// each command with its comment.
func tourBlock(t *testing.T) (alias string, cmds [][2]string) {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "\n## A five-minute tour\n")
	if i < 0 {
		t.Fatal(`README.md has no "## A five-minute tour"`)
	}
	s = s[i:]
	start := strings.Index(s, "\n```sh\n")
	if start < 0 {
		t.Fatal("the tour has no ```sh block")
	}
	s = s[start+len("\n```sh\n"):]
	s = s[:strings.Index(s, "\n```")]
	comment := regexp.MustCompile(`\s+#\s.*$`)
	for _, line := range strings.Split(s, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		if m := regexp.MustCompile(`^alias tend="(.+)"$`).FindStringSubmatch(line); m != nil {
			alias = m[1]
			continue
		}
		c := ""
		if loc := comment.FindStringIndex(line); loc != nil {
			c = strings.TrimSpace(line[loc[0]:])
			line = line[:loc[0]]
		}
		cmds = append(cmds, [2]string{line, strings.TrimPrefix(c, "# ")})
	}
	if alias == "" || len(cmds) == 0 {
		t.Fatalf("the tour's block has no alias line or no commands:\n%s", s)
	}
	return alias, cmds
}

// quoted turns what a comment quotes of a command's output into regexps:
// "..." parts it, and times and numbers stand for any.
func quoted(comment string) []string {
	m := regexp.MustCompile(`"([^"]+)"`).FindStringSubmatch(comment)
	if m == nil {
		return nil
	}
	var out []string
	for _, part := range strings.Split(m[1], "...") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		re := regexp.QuoteMeta(part)
		re = regexp.MustCompile(`\d\d:\d\d:\d\d`).ReplaceAllString(re, `\d\d:\d\d:\d\d`)
		re = regexp.MustCompile(`(^|[^\\d])\d+(\\\.\d+)?`).ReplaceAllString(re, `${1}\d+(\.\d+)?`)
		out = append(out, re)
	}
	return out
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func TestReadmeTour(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the example for about 15 s")
	}
	if _, err := exec.LookPath("jq"); err != nil {
		t.Skip("the tour uses jq, which is not installed (scripts/deps.sh installs it)")
	}
	alias, cmds := tourBlock(t)
	steps := tourSteps()

	// The example as `make run` runs it: bin/tend-demo and
	// examples/tend.toml relative to the directory, state in ./.tend.
	dir := t.TempDir()
	for _, d := range []string{"bin", "examples"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("go", "build", "-o", filepath.Join(dir, "bin", "tend-demo"), "../tend-demo").CombinedOutput(); err != nil {
		t.Fatalf("build tend-demo: %v\n%s", err, out)
	}
	conf, err := os.ReadFile("../../examples/tend.toml")
	if err != nil {
		t.Fatal(err)
	}
	for _, addr := range tourConfigAddrs {
		if !bytes.Contains(conf, []byte(addr)) {
			t.Fatalf("examples/tend.toml no longer holds %q: update tourConfigAddrs", addr)
		}
		conf = bytes.ReplaceAll(conf, []byte(addr), []byte(freeAddr(t)))
	}
	e := &env{t: t, dir: dir, conf: filepath.Join(dir, "examples", "tend.toml")}
	if err := os.WriteFile(e.conf, conf, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.stopDaemon()
		killMarked(filepath.Join(dir, ".tend", "tend.db"))
	})
	began := time.Now()
	e.stderr = &bytes.Buffer{}
	e.daemon = exec.Command(tendBin, "daemon", "-c", "examples/tend.toml")
	e.daemon.Dir, e.daemon.Stderr = dir, e.stderr
	if err := e.daemon.Start(); err != nil {
		t.Fatal(err)
	}
	for _, _, code := e.tend("status"); code != 0; _, _, code = e.tend("status") {
		if time.Since(began) > 15*time.Second {
			t.Fatalf("the example's daemon did not come up:\n%s", e.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// The alias, as a shell function: the tour's lines run in a shell
	// (one has a pipe and a command substitution).
	if !strings.HasPrefix(alias, "bin/tend ") {
		t.Fatalf("the tour's alias %q does not run bin/tend", alias)
	}
	prelude := fmt.Sprintf("tend() { %q %s \"$@\"; }\n", tendBin, strings.TrimPrefix(alias, "bin/tend "))
	seen := map[string]bool{}
	used := map[string]bool{}
	for _, c := range cmds {
		line, comment := strings.TrimSpace(c[0]), c[1]
		seen[line] = true
		step, known := steps[line]
		if !known {
			t.Errorf("the tour shows %q, which this test does not know: add what it prints to tourSteps", line)
		}
		if step.before != nil {
			step.before(e)
		}
		run := line
		if to, ok := tourCmdSubst[line]; ok {
			run, used[line] = to, true
		}
		follows := regexp.MustCompile(`(^|\s)(-f|--follow)(\s|$)`).MatchString(run)
		ctx, cancel := context.WithCancel(context.Background())
		if follows {
			ctx, cancel = context.WithTimeout(context.Background(), 1200*time.Millisecond)
		}
		cmd := exec.CommandContext(ctx, "/bin/sh", "-c", prelude+run)
		cmd.Dir = dir
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
		cmd.WaitDelay = 2 * time.Second
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		t0 := time.Now()
		err := cmd.Run()
		took := time.Since(t0)
		timedOut := errors.Is(ctx.Err(), context.DeadlineExceeded)
		cancel()
		switch {
		case follows && !timedOut:
			t.Errorf("%s: stopped on its own after %s (%v), it should follow:\n%s%s", line, took.Round(time.Millisecond), err, &out, &errb)
		case !follows && err != nil:
			t.Errorf("%s: %v\n%s%s", line, err, &out, &errb)
		}
		if took < step.minTime {
			t.Errorf("%s: took %s; the tour says it waits", line, took.Round(time.Millisecond))
		}
		for _, re := range append(quoted(comment), step.want...) {
			if !regexp.MustCompile(re).MatchString(out.String()) {
				t.Errorf("%s: its output does not match %s:\n%s%s", line, re, &out, &errb)
			}
		}
		if step.check != nil {
			step.check(t, dir, out.String())
		}
		t.Logf("%6.1fs %s (%s)", time.Since(began).Seconds(), line, took.Round(time.Millisecond))
	}
	for line := range steps {
		if !seen[line] {
			t.Errorf("tourSteps knows %q, which the README's tour no longer shows", line)
		}
	}
	for line := range tourCmdSubst {
		if !used[line] {
			t.Errorf("tourCmdSubst replaces %q, which the README's tour no longer shows", line)
		}
	}
}
