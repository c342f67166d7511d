package config

import (
	"encoding/binary"
	"strconv"
	"syscall"
	"time"

	"github.com/tendhq/tend/events"
)

// Hooks are the commands a worker runs around its life, each an argv like
// command; nil when not configured.
type Hooks struct {
	PreStart    []string // before each spawn; failing is a failed start
	PostStart   []string // once it is running; failing stops it, a failed start
	StopCommand []string // instead of the stop signal
	PostStop    []string // after each end of an incarnation
}

// hookKeys are the hook keys in the order they are read and hashed.
var hookKeys = []string{"pre_start", "post_start", "stop_command", "post_stop"}

// ByKind lists the hooks set, by their key (the kinds events name).
func (h Hooks) ByKind() map[string][]string {
	out := map[string][]string{}
	for i, cmd := range h.list() {
		if cmd != nil {
			out[hookKeys[i]] = cmd
		}
	}
	return out
}

func (h *Hooks) list() [4][]string {
	return [4][]string{h.PreStart, h.PostStart, h.StopCommand, h.PostStop}
}

func (h *Hooks) any() bool {
	for _, c := range h.list() {
		if c != nil {
			return true
		}
	}
	return false
}

// hooks reads reload_signal, the hook commands and hook_timeout.
func (d *decoder) hooks(t *table, w *Worker) {
	w.ReloadSignal = t.reloadSignal("reload_signal")
	cmds := make([][]string, len(hookKeys))
	for i, key := range hookKeys {
		cmd, present := t.stringList(key)
		switch {
		case !present:
			continue
		case cmd != nil && len(cmd) == 0:
			t.errorf(key, "must not be empty (leave it out for no %s hook)", key)
			cmd = nil
		case cmd != nil && cmd[0] == "":
			t.errorf(key, "the program (first element) must not be empty")
			cmd = nil
		}
		t.checkArgStrings(key, cmd)
		cmds[i] = cmd
	}
	w.Hooks = Hooks{PreStart: cmds[0], PostStart: cmds[1], StopCommand: cmds[2], PostStop: cmds[3]}
	w.HookTimeout = t.durationIn("hook_timeout", DefaultHookTimeout, MinHookTimeout, MaxHookTimeout)
	if t.has("hook_timeout") && !w.Hooks.any() {
		t.errorf("hook_timeout", "bounds the worker's hooks, and it has none (pre_start, post_start, stop_command, post_stop)")
	}
}

// reloadSignal reads a signal a running program can take as "reload": a
// name (HUP, SIGUSR2, RTMIN+1) or a number. KILL and STOP cannot be
// caught, so they can never mean reload.
func (t *table) reloadSignal(name string) syscall.Signal {
	v, ok := t.get(name)
	if !ok {
		return 0
	}
	var s string
	switch v := v.(type) {
	case string:
		s = v
	case int64:
		s = strconv.FormatInt(v, 10)
	default:
		t.wrongType(name, `a signal name such as "HUP" or a number`, v)
		return 0
	}
	n, err := events.ParseSignal(s)
	switch {
	case err != nil:
		// Not err itself: it repeats the value.
		t.errorf(name, "invalid signal (use a name such as HUP, USR1 or SIGUSR2, RTMIN+n, or a number 1-31 or 34-64)")
		return 0
	case n == int(syscall.SIGKILL) || n == int(syscall.SIGSTOP):
		t.errorf(name, "KILL and STOP cannot be caught, so they cannot make a program reload (use restart to start it anew)")
		return 0
	}
	return syscall.Signal(n)
}

// hashHooks writes the hook settings: only when one differs from what a
// file without them gives, after a marker, so the hashes of files without
// them stay what earlier versions computed.
func hashHooks(b []byte, w *Worker) []byte {
	if w.ReloadSignal == 0 && !w.Hooks.any() && w.HookTimeout == DefaultHookTimeout {
		return b
	}
	b = append(b, 0xfb) // a marker of its own: env files take 0xfd, instances 0xfc
	b = binary.AppendVarint(b, int64(w.ReloadSignal))
	for _, cmd := range w.Hooks.list() {
		b = hashStrs(b, cmd)
	}
	return hashDur(b, w.HookTimeout)
}

// Hook bounds: a hook that may run for ever holds its worker's start or
// stop for ever.
const (
	DefaultHookTimeout = 30 * time.Second
	MinHookTimeout     = 10 * time.Millisecond
	MaxHookTimeout     = 24 * time.Hour
)
