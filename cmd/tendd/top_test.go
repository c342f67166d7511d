package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/cmd/internal/client"
)

// tmuxPane is one tmux server of the test's own, with one session running
// a command on a terminal of a given size: send-keys types, capture-pane
// reads the screen as a person sees it.
type tmuxPane struct {
	t    *testing.T
	sock string
}

func newTmux(t *testing.T, w, h int, command string) *tmuxPane {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed (scripts/deps.sh installs Debian's tmux): cannot drive `tend top` on a terminal")
	}
	p := &tmuxPane{t: t, sock: filepath.Join(t.TempDir(), "tmux.sock")}
	p.run("new-session", "-d", "-s", "top", "-x", fmt.Sprint(w), "-y", fmt.Sprint(h), command)
	t.Cleanup(func() { _ = exec.Command("tmux", "-S", p.sock, "kill-server").Run() })
	return p
}

func (p *tmuxPane) run(args ...string) string {
	p.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-S", p.sock}, args...)...).CombinedOutput()
	if err != nil {
		p.t.Fatalf("tmux %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func (p *tmuxPane) capture() string { return p.run("capture-pane", "-p", "-t", "top") }

// keys types literal text; key presses one named key (Enter, Escape).
func (p *tmuxPane) keys(text string) { p.run("send-keys", "-t", "top", "-l", text) }
func (p *tmuxPane) key(name string)  { p.run("send-keys", "-t", "top", name) }

// wait polls the screen until cond holds, and fails with the last screen
// after a deadline.
func (p *tmuxPane) wait(what string, cond func(screen string) bool) string {
	p.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var s string
	for time.Now().Before(deadline) {
		s = p.capture()
		if cond(s) {
			return s
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.t.Fatalf("the screen never showed %s; last screen:\n%s", what, s)
	return s
}

func (p *tmuxPane) waitFor(text string) string {
	p.t.Helper()
	return p.wait(fmt.Sprintf("%q", text), func(s string) bool { return strings.Contains(s, text) })
}

// rowPID is the pid the screen shows for a Running worker, 0 if none.
func rowPID(screen, name string) int {
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `\s+Running\s+(\d+)\s`).FindStringSubmatch(screen)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// `tend top` on a real terminal (tmux), run as a member of the socket's
// group who is not root: it shows every worker with the pid the daemon
// reports and CPU and memory where the daemon samples them; a restart
// typed in it is recorded with the user's uid as its actor and the new
// pid appears; the selected worker's why and its output are shown, and
// what a worker says or prints is escaped (a title-setting sequence stays
// text and the terminal's title is untouched); it redraws for a new size
// and quits with q.
func TestTopOnATerminal(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed (scripts/deps.sh installs Debian's tmux): cannot drive `tend top` on a terminal")
	}
	group, gid, asUser, actor := "", uint32(0), "", fmt.Sprintf("cli uid=%d", os.Getuid())
	if os.Getuid() == 0 {
		group, gid = usersGroup(t)
		asUser = fmt.Sprintf("setpriv --reuid=%d --regid=%d --clear-groups ", nobody, gid)
		actor = fmt.Sprintf("cli uid=%d", nobody)
	}
	workers := fmt.Sprintf(`[worker.alpha]
command = %s
[worker.bravo]
command = %s
[worker.charlie]
command = %s
[worker.charlie.limits]
memory = "1GiB"
memory_policy = "log"
[worker.evil]
command = ["/bin/sh", "-c", "printf '\\033]0;pwned\\007evil-output\\n'; exec sleep 1000"]
`, helperCmd("hang"), helperCmd("hang"), helperCmd("hang"))
	said := ""
	if _, err := exec.LookPath("systemd-notify"); err == nil {
		said = "said"
		workers += `[worker.said]
command = ["/bin/sh", "-c", "systemd-notify --ready --status=\"$(printf '\\033]0;pwned\\007said')\"; exec sleep 1000"]
ready = "notify"
`
	}
	e := newEnv(t, "")
	daemonConf := "[daemon]\nstate_dir = \"state\"\nlog_level = \"debug\"\nsample_interval = \"100ms\"\n"
	if group != "" {
		daemonConf += fmt.Sprintf("socket_group = %q\n", group)
	}
	e.write(daemonConf + "\n" + workers)
	e.startDaemon()
	if group != "" {
		reachable(t, e)
	}
	for _, w := range []string{"alpha", "bravo", "charlie", "evil", said} {
		if w != "" {
			e.waitStatus(w, "Running", func(s client.WorkerStatus) bool { return s.State == "Running" })
		}
	}
	exitFile := filepath.Join(e.dir, "top.exit")
	p := newTmux(t, 160, 40, fmt.Sprintf("%s%s top --socket %s --interval 300ms; echo $? > %s; sleep 60",
		asUser, tendBin, e.socket(), exitFile))

	// Every worker, with the pid the daemon reports; CPU and memory for the
	// sampled one.
	st := e.status()
	screen := p.wait("every worker Running with its pid", func(s string) bool {
		for _, w := range []string{"alpha", "bravo", "charlie", "evil"} {
			if rowPID(s, w) != st[w].PID {
				return false
			}
		}
		return true
	})
	if !strings.Contains(screen, "NAME") || !strings.Contains(screen, "CPU%") || !strings.Contains(screen, " why alpha") {
		t.Errorf("no column titles or why pane:\n%s", screen)
	}
	p.wait("charlie's memory", func(s string) bool {
		return regexp.MustCompile(`(?m)^charlie\s+Running\s+\d+\s+\S+\s+0\s+\d+\.\d\s+\d[\d.]*[KMG]\s`).MatchString(s)
	})

	// Select bravo with the filter, restart it, confirm.
	old := st["bravo"].PID
	p.keys("/bravo")
	p.key("Enter")
	p.waitFor("filter: bravo (1 shown)")
	p.waitFor("bravo is Running since") // its why, as `tend why bravo` says it
	p.keys("r")
	p.waitFor("restart bravo? y/N")
	p.keys("y")
	screen = p.wait("bravo's new pid", func(s string) bool {
		pid := rowPID(s, "bravo")
		return pid != 0 && pid != old && strings.Contains(s, fmt.Sprintf("restart bravo: Running (pid %d, incarnation 2)", pid))
	})
	if now := e.status()["bravo"].PID; rowPID(screen, "bravo") != now {
		t.Errorf("the screen shows pid %d for bravo, the daemon %d", rowPID(screen, "bravo"), now)
	}
	var restarts []string
	for _, ev := range e.history("bravo") {
		if ev.Type == "restart_requested" {
			restarts = append(restarts, ev.Actor)
		}
	}
	if len(restarts) != 1 || restarts[0] != actor {
		t.Errorf("restart_requested actors %v, want one by %q", restarts, actor)
	}

	// Hostile output, in the logs pane, as text. (After Escape, wait for
	// its effect: an escape followed at once by a key is that key with alt.)
	p.key("Escape")
	p.wait("no filter", func(s string) bool { return !strings.Contains(s, "filter:") })
	p.keys("/evil")
	p.key("Enter")
	p.waitFor("filter: evil (1 shown)")
	p.keys("l")
	screen = p.waitFor(`\x1b]0;pwned\x07evil-output`)
	if !strings.Contains(screen, " logs evil (stdout") {
		t.Errorf("no logs pane title:\n%s", screen)
	}
	// Hostile STATUS=, in the list and the why.
	if said != "" {
		p.key("Escape") // closes the logs pane
		p.waitFor(" why evil")
		p.key("Escape") // clears the filter
		p.wait("no filter", func(s string) bool { return !strings.Contains(s, "filter:") })
		p.keys("/said")
		p.key("Enter")
		p.waitFor(`\x1b]0;pwned\x07said`)
		p.keys("l") // the logs pane again, for the resize below
		p.waitFor(" logs said (stdout")
	}
	if title := p.run("display-message", "-p", "-t", "top", "#{pane_title}"); strings.Contains(title, "pwned") {
		t.Errorf("a worker set the terminal's title: %q", title)
	}

	// A new size: the lower pane moves to its new place (a third of the
	// height, above the footer).
	paneAt := func(s string) int {
		for i, l := range strings.Split(s, "\n") {
			if strings.HasPrefix(l, " logs ") {
				return i
			}
		}
		return -1
	}
	if at := paneAt(p.capture()); at != 40-40/3-1 {
		t.Errorf("the pane starts at line %d of 40, want %d", at, 40-40/3-1)
	}
	p.run("resize-window", "-t", "top", "-x", "100", "-y", "30")
	p.wait("the layout for 100x30", func(s string) bool { return paneAt(s) == 30-30/3-1 })

	p.keys("q")
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(exitFile)
		if err == nil && strings.TrimSpace(string(b)) != "" {
			if code := strings.TrimSpace(string(b)); code != "0" {
				t.Errorf("tend top exited %s after q", code)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tend top did not exit after q:\n%s", p.capture())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Without a terminal there is nothing to draw on: a plain message and
// exit 1, not escape sequences into a pipe.
func TestTopWithoutATerminal(t *testing.T) {
	e := newEnv(t, "[worker.a]\ncommand = "+helperCmd("hang")+"\n")
	e.startDaemon()
	out, errs, code := e.tend("top")
	if code != 1 || out != "" || !strings.Contains(errs, "stdout is not a terminal") || strings.Contains(errs, "\x1b") {
		t.Errorf("tend top into a pipe: exit %d, stdout %q, stderr %q", code, out, errs)
	}
}
