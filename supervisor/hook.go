package supervisor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/fsm"
	"github.com/tendhq/tend/supervisor/core"
	"github.com/tendhq/tend/supervisor/proc"
)

// This file runs hooks: the commands a worker's settings run around its
// life (core/hook.go decides when). A hook is spawned through the same
// Spawner as its worker, with the worker's user, directory, environment,
// umask, no_new_privs and resource limits, descriptors 0-2 only, in a
// process group of its own and, with cgroups, in a cgroup of its own
// named for it (<worker>.<inc>.<kind>), beside its incarnation's: it is
// killed by that cgroup, and a later daemon finds it by that cgroup, not by
// what its environment says. Its markers name no incarnation
// (proc.EnvHook), so it is never taken for the worker, a member or a stray
// of it, and never adopted as it. Its stdout and stderr go to one pipe the daemon
// reads, keeping only the last lines for the event that records its end.
//
// A hook is killed with its whole group when its timeout passes, when what
// it belonged to is over (CancelHook), and when the supervisor closes; and
// whatever it leaves in its group when it exits is killed then.

// EnvMainPID is the pid of the worker's main process, in the environment
// of a hook of an incarnation that has one (post_start, stop_command).
const EnvMainPID = "TEND_MAINPID"

// hookRun is one running hook.
type hookRun struct {
	key       hookKey
	proc      Process
	out       *os.File // the read end of its output pipe
	tail      tailBuffer
	read      chan struct{} // closed when the output is read to its end
	started   time.Time
	timedOut  atomic.Bool
	cancelled atomic.Bool
}

type hookKey struct {
	worker, kind string
	inc          events.Incarnation
}

// hook returns the running hook kind of worker's incarnation inc, or nil.
func (x *executor) hook(worker, kind string, inc events.Incarnation) *hookRun {
	x.exMu.Lock()
	defer x.exMu.Unlock()
	return x.hooks[hookKey{worker, kind, inc}]
}

// runHook starts a hook and reports its end. A post_stop is waited for
// here, on the worker's queue, so that the next start waits for it; the
// others are waited for beside it, so a stop or a cancel can reach them.
func (x *executor) runHook(f effect) {
	s := x.s
	h, err := x.startHook(f)
	if err != nil {
		if s.ctx.Err() == nil {
			var errno syscall.Errno
			errors.As(err, &errno)
			s.observe("hook", core.HookExited{Worker: f.Worker, Inc: f.Inc, Kind: f.Hook, Ref: f.Ref, Exit: core.Exit{Code: -1},
				Errno: int(errno), Err: err.Error(), Command: hookCommand(f)})
		}
		return
	}
	if f.Hook == fsm.HookPostStop {
		x.finishHook(h, f)
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		x.finishHook(h, f)
	}()
}

func hookCommand(f effect) []string {
	if f.spec == nil {
		return nil
	}
	return f.spec.Hooks[f.Hook]
}

// startHook spawns the hook and registers it before returning, so the
// effects after it on the queue (a stop, a cancel) find it.
func (x *executor) startHook(f effect) (*hookRun, error) {
	s := x.s
	spec, cmd := f.spec, hookCommand(f)
	if len(cmd) == 0 {
		return nil, fmt.Errorf("no %s hook in the settings %s", f.Hook, f.Digest)
	}
	if s.ctx.Err() != nil {
		return nil, ErrClosed
	}
	env := workerEnv(s.cfg.BaseEnv, spec)
	if s.cfg.Instance != "" {
		env = append(env, proc.EnvInstance+"="+s.cfg.Instance)
	}
	env = append(env, proc.EnvHook+"="+f.Hook, proc.EnvHookIncarnation+"="+strconv.FormatUint(uint64(f.Inc), 10),
		proc.EnvHookRun+"="+s.runID)
	if rt := x.current(f.Worker, f.Inc); rt != nil && (f.Hook == fsm.HookPostStart || f.Hook == fsm.HookStopCommand) {
		// A stop_command or post_start needs the process it acts on, as
		// systemd's $MAINPID.
		env = append(env, EnvMainPID+"="+strconv.Itoa(rt.proc.PID()))
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	ps := proc.Spec{Worker: f.Worker, Command: cmd, Dir: spec.Dir, Env: env, Credential: spec.Credential,
		Umask: spec.Umask, NoNewPrivs: spec.NoNewPrivs, Rlimits: spec.Rlimits, Output: w, Beside: true,
		Hook: proc.HookID{Kind: f.Hook, Incarnation: uint64(f.Inc)}}
	s.spawnSem <- struct{}{}
	p, err := s.cfg.Spawner.Start(ps)
	<-s.spawnSem
	w.Close() // the hook holds its own copy
	if err != nil {
		r.Close()
		return nil, err
	}
	h := &hookRun{key: hookKey{f.Worker, f.Hook, f.Inc}, proc: p, out: r, read: make(chan struct{}), started: s.clock.Now()}
	go func() {
		defer close(h.read)
		h.tail.readFrom(r)
	}()
	x.exMu.Lock()
	x.hooks[h.key] = h
	x.exMu.Unlock()
	return h, nil
}

// finishHook waits for the hook's end, bounded by its timeout and by the
// supervisor's life, kills what it left in its group, and reports.
func (x *executor) finishHook(h *hookRun, f effect) {
	s := x.s
	kill := func() { _ = h.proc.Signal(syscall.SIGKILL) }
	stopTimer := s.clock.AfterFunc(f.Delay, func() {
		h.timedOut.Store(true)
		kill()
	})
	stopCtx := context.AfterFunc(s.ctx, kill)
	ex := h.proc.Wait()
	stopTimer()
	stopCtx()
	ran := s.clock.Now().Sub(h.started)
	// Whatever it left in its group dies with it: a hook must not leave
	// processes nobody watches.
	kill()
	// A descendant that left the group may hold the pipe open: the output
	// is read until it is closed, or a little longer than the exit.
	_ = h.out.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	select {
	case <-h.read:
	case <-time.After(time.Second): // the deadline did not take: leave the reader to the pipe's last writer
	}
	h.out.Close()
	// Its cgroup goes once what was killed in it is gone.
	h.proc.Release()
	x.exMu.Lock()
	if x.hooks[h.key] == h {
		delete(x.hooks, h.key)
	}
	x.exMu.Unlock()
	if s.ctx.Err() != nil {
		// The daemon is going: the next one's recovery accounts for it.
		return
	}
	s.observe("hook", core.HookExited{Worker: f.Worker, Inc: f.Inc, Kind: f.Hook, Ref: f.Ref, PID: h.proc.PID(),
		Exit: toExit(ex), TimedOut: h.timedOut.Load(), Cancelled: h.cancelled.Load(), Ran: ran,
		Output: h.tail.lines(), Command: hookCommand(f)})
}

// cancelHook kills a running hook with its group.
func (x *executor) cancelHook(f effect) {
	if h := x.hook(f.Worker, f.Hook, f.Inc); h != nil {
		h.cancelled.Store(true)
		_ = h.proc.Signal(syscall.SIGKILL)
	}
}

// A hook's output is kept to its last tailBytes; of those, the last
// tailLines lines, each at most lineBytes once escaped, go into its event.
const (
	tailBytes = 4096
	tailLines = 10
	lineBytes = 256
)

// tailBuffer keeps the last tailBytes written to it.
type tailBuffer struct {
	mu    sync.Mutex
	buf   []byte
	total int64
}

func (t *tailBuffer) readFrom(f *os.File) {
	b := make([]byte, 4096)
	for {
		n, err := f.Read(b)
		t.write(b[:n])
		if err != nil {
			return
		}
	}
}

func (t *tailBuffer) write(p []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.total += int64(len(p))
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - tailBytes; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
}

// lines is the last lines of the output, control characters and invalid
// UTF-8 escaped, joined by newlines; a line cut short ends in "…", and
// "…" first says earlier output was dropped.
func (t *tailBuffer) lines() string {
	t.mu.Lock()
	buf, total := bytes.Clone(t.buf), t.total
	t.mu.Unlock()
	dropped := total > int64(len(buf))
	buf = bytes.TrimRight(buf, "\n")
	if len(buf) == 0 {
		return ""
	}
	ls := strings.Split(string(buf), "\n")
	if dropped && len(ls) > 1 {
		ls = ls[1:] // its start is gone
	}
	if len(ls) > tailLines {
		ls, dropped = ls[len(ls)-tailLines:], true
	}
	out := make([]string, 0, len(ls)+1)
	if dropped {
		out = append(out, "…")
	}
	for _, l := range ls {
		out = append(out, escapeLine(strings.TrimSuffix(l, "\r")))
	}
	return strings.Join(out, "\n")
}

// escapeLine makes one line of a program's output safe to show on a
// terminal and in a log: control characters, invisible format characters
// (such as bidirectional overrides) and bytes that are not UTF-8 are
// written as Go escapes, and a backslash as two, so nothing is ambiguous.
// The result is at most lineBytes, cut at a character and marked "…".
func escapeLine(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		var esc string
		switch {
		case r == utf8.RuneError && n == 1:
			esc = fmt.Sprintf(`\x%02x`, s[i])
		case r == '\\':
			esc = `\\`
		case r == '\t':
			esc = `\t`
		case r == '\r':
			esc = `\r`
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			esc = fmt.Sprintf(`\x%02x`, r)
		case r != ' ' && !unicode.IsPrint(r):
			esc = fmt.Sprintf(`\u%04x`, r)
		default:
			esc = s[i : i+n]
		}
		if b.Len()+len(esc) > lineBytes {
			b.WriteString("…")
			break
		}
		b.WriteString(esc)
		i += n
	}
	return b.String()
}
