package top

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/tendhq/tend/cmd/internal/client"
	"github.com/tendhq/tend/cmd/internal/explain"
	"github.com/tendhq/tend/events"
)

// fake serves the view from memory and records what it was asked.
type fake struct {
	mu       sync.Mutex
	status   client.Status
	statuses int
	whys     []string
	commands []string
	why      func(name string) explain.Answer
	logs     string
}

func (f *fake) Status(context.Context) (client.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.statuses++
	return f.status, nil
}

func (f *fake) Follow(ctx context.Context, _ events.Seq, _ func(events.JSON) error) error {
	<-ctx.Done()
	return ctx.Err()
}

func (f *fake) Why(_ context.Context, name string) (explain.Answer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.whys = append(f.whys, name)
	if f.why != nil {
		return f.why(name), nil
	}
	return explain.Answer{Worker: name, Summary: "Running since 03:14:00 because it is"}, nil
}

func (f *fake) Command(_ context.Context, verb, name string) (client.CommandResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.commands = append(f.commands, verb+" "+name)
	return client.CommandResult{Worker: name, Reached: true, Status: client.WorkerStatus{Name: name, State: "Running", PID: 4242, Incarnation: 2}}, nil
}

func (f *fake) Logs(ctx context.Context, _ string, _ bool, _ int, fn func([]byte)) error {
	fn([]byte(f.logs))
	<-ctx.Done()
	return nil
}

func newModel(t *testing.T, f *fake, w, h int) *Model {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	m := New(ctx, f, f.status, time.Second)
	m.now = t0.Add(time.Hour)
	m.Update(tea.WindowSizeMsg{Width: w, Height: h})
	return m
}

func press(m *Model, keys ...string) tea.Cmd {
	var last tea.Cmd
	for _, k := range keys {
		var msg tea.KeyPressMsg
		switch k {
		case "up":
			msg = tea.KeyPressMsg{Code: tea.KeyUp}
		case "down":
			msg = tea.KeyPressMsg{Code: tea.KeyDown}
		case "enter":
			msg = tea.KeyPressMsg{Code: tea.KeyEnter}
		case "esc":
			msg = tea.KeyPressMsg{Code: tea.KeyEscape}
		default:
			r, _ := utf8.DecodeRuneInString(k)
			msg = tea.KeyPressMsg{Code: r, Text: k}
		}
		_, last = m.Update(msg)
	}
	return last
}

func workers(n int) client.Status {
	st := client.Status{Seq: 1}
	for i := range n {
		w := running(fmt.Sprintf("w%04d", i), 1000+i)
		w.RSSBytes, w.CPUPercent = uint64(i)<<20, float64(i%7)
		st.Workers = append(st.Workers, w)
	}
	return st
}

// sgr matches the styles the view itself writes (Select Graphic
// Rendition); nothing else may be an escape.
var sgr = regexp.MustCompile(`\x1b\[[0-9;:]*m`)

// assertSafe fails if s, less the view's own SGR sequences, holds any
// control character but newline (C0, DEL, C1 as a byte or a rune), a
// format character, or invalid UTF-8.
func assertSafe(t *testing.T, s string) {
	t.Helper()
	rest := sgr.ReplaceAllString(s, "")
	for i, r := range rest {
		switch {
		case r == utf8.RuneError:
			t.Fatalf("invalid UTF-8 at %d: %q", i, rest[max(0, i-20):min(len(rest), i+20)])
		case r == '\n':
		case r < 0x20 || r == 0x7f || r >= 0x80 && r <= 0x9f || r >= 0x200b && r <= 0x200f || r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069:
			t.Fatalf("control or format character %U reaches the terminal at %d: %q", r, i, rest[max(0, i-20):min(len(rest), i+20)])
		}
	}
}

func TestClean(t *testing.T) {
	for in, want := range map[string]string{
		"web-1":                  "web-1",
		"\x1b]0;pwned\x07":       `\x1b]0;pwned\x07`,
		"\x1b[2J\x1b[31mred":     `\x1b[2J\x1b[31mred`,
		"a\u009b31mb":            `a\u009b31mb`, // C1 CSI, UTF-8 encoded
		"\x9b31m":                `\x9b31m`,     // C1 CSI as a raw byte (invalid UTF-8)
		"evil\u202eexe.txt":      `evil\u202eexe.txt`,
		"zero\u200bwidth":        `zero\u200bwidth`,
		"line\nbreak\r\x7f\x00":  `line\x0abreak\x0d\x7f\x00`,
		"tab\there":              "tab    here",
		"日本語 ünïcödé 🙂":          "日本語 ünïcödé 🙂",
		"\xff\xfe":               `\xff\xfe`,
		"para\u2029sep":          `para\u2029sep`,
		"private\U000F0000 use":  `private\U000f0000 use`,
		"\x1bP+q\x1b\\ (DCS)":    `\x1bP+q\x1b\ (DCS)`,
		"\x1b_apc\x1b\\ and pm ": `\x1b_apc\x1b\ and pm `,
	} {
		got := Clean(in)
		if got != want {
			t.Errorf("Clean(%q) = %q, want %q", in, got, want)
		}
		assertSafe(t, got)
		if Clean(got) != got {
			t.Errorf("Clean is not idempotent on %q", got)
		}
	}
}

const hostile = "\x1b]0;pwned\x07\x1b[2J\u009b1m\u202e\xff"

// Everything shown that came from outside is escaped: a worker's name,
// state, cause, what it said of itself (STATUS=), its exit cause, its why
// and its output, in the list, the pane, the footer and the header.
func TestViewEscapesEverythingShown(t *testing.T) {
	w := running("evil"+hostile, 66)
	w.StatusText = "status" + hostile
	w.Health = "failing" + hostile
	w.RSSBytes = 1 << 20
	x := running("x"+hostile, 67)
	x.State, x.Cause = "Stopped"+hostile, "cause"+hostile
	x.LastExit = &client.ExitInfo{Cause: "exit" + hostile}
	f := &fake{status: client.Status{Seq: 1, Workers: []client.WorkerStatus{w, x}}, logs: "out" + hostile + "\nmore" + hostile}
	f.why = func(name string) explain.Answer {
		return explain.Answer{Worker: name, Summary: "summary" + hostile, Chain: []explain.Step{{Seq: 1, Text: "step" + hostile}}}
	}
	m := newModel(t, f, 120, 30)
	m.Update(m.fetchWhy2())
	out := m.render()
	assertSafe(t, out)
	for _, want := range []string{`evil\x1b]0;pwned\x07`, `summary\x1b]0;pwned\x07`, `step\x1b]0;pwned\x07`} {
		if !strings.Contains(ansi.Strip(out), want) {
			t.Errorf("the view does not show %q escaped:\n%s", want, ansi.Strip(out))
		}
	}
	press(m, "down")
	assertSafe(t, m.render())
	if !strings.Contains(ansi.Strip(m.render()), `cause\x1b]0;`) {
		t.Errorf("x's cause not shown escaped:\n%s", ansi.Strip(m.render()))
	}
	// The logs pane, the filter as typed, a command's answer.
	cmd := press(m, "l")
	m.Update(cmd())
	press(m, "/", "\x1b", "]", "x")
	m.onCommand(cmdMsg{verb: "stop", name: "x" + hostile, err: errors.New("refused" + hostile)})
	out = m.render()
	assertSafe(t, out)
	if !strings.Contains(ansi.Strip(out), `out\x1b]0;pwned\x07`) {
		t.Errorf("the logs pane does not show the output escaped:\n%s", ansi.Strip(out))
	}
}

// fetchWhy2 runs a why request at once (no throttle) and returns its answer.
func (m *Model) fetchWhy2() tea.Msg {
	m.why.pending = true
	return m.fetchWhy()()
}

// The list shows only what fits (1,000 workers, 40 lines), every line fits
// the width after a resize, and the cursor stays on the selected worker as
// the order changes under it.
func TestViewIsVirtualAndFollowsTheSelection(t *testing.T) {
	f := &fake{status: workers(1000)}
	m := newModel(t, f, 160, 40)
	check := func(w, h int) {
		t.Helper()
		out := m.render()
		lines := strings.Split(out, "\n")
		if len(lines) != h {
			t.Fatalf("%d lines on a %d-line terminal", len(lines), h)
		}
		for i, l := range lines {
			if ansi.StringWidth(l) > w {
				t.Fatalf("line %d is %d cells wide on a %d-cell terminal: %q", i, ansi.StringWidth(l), w, ansi.Strip(l))
			}
		}
	}
	check(160, 40)
	press(m, "G")
	if m.sel != "w0999" || !strings.Contains(m.render(), "w0999") || strings.Contains(m.render(), "w0000") {
		t.Fatalf("End: selected %s", m.sel)
	}
	press(m, "up", "up")
	if m.sel != "w0997" {
		t.Fatalf("selected %s after two ups, want w0997", m.sel)
	}
	// Sort by memory (largest first): w0997 moves near the top, the
	// cursor with it.
	press(m, "o", "o")
	if m.t.sortBy != ByMemory || m.sel != "w0997" || m.cursor != 2 || !strings.Contains(m.render(), "w0997") {
		t.Fatalf("after sorting by memory: sel %s cursor %d", m.sel, m.cursor)
	}
	for _, sz := range [][2]int{{80, 24}, {60, 10}, {200, 60}, {30, 5}} {
		m.Update(tea.WindowSizeMsg{Width: sz[0], Height: sz[1]})
		check(sz[0], sz[1])
		if !strings.Contains(m.render(), "w0997") {
			t.Errorf("%dx%d: the selected worker is not on screen", sz[0], sz[1])
		}
	}
	// Filter: typing narrows the list; esc clears it.
	press(m, "/", "w", "0", "0", "1", "enter")
	if got := names(m.t.view()); len(got) != 10 || m.sel[:4] != "w001" {
		t.Fatalf("filter w001: %v, sel %s", got, m.sel)
	}
	press(m, "esc")
	if len(m.t.view()) != 1000 {
		t.Fatal("esc did not clear the filter")
	}
}

// Events change the rows on screen, and an event of the selected worker
// asks again for its why; restart asks first, then runs as a command.
func TestUpdateOnEventsAndCommands(t *testing.T) {
	f := &fake{status: client.Status{Seq: 3, Workers: []client.WorkerStatus{running("a", 10), running("b", 20)}}}
	m := newModel(t, f, 120, 30)
	press(m, "down")
	if m.sel != "b" {
		t.Fatalf("selected %s", m.sel)
	}
	m.why.armed = false // as if the throttle had passed
	_, cmd := m.Update(streamMsg{evs: []events.JSON{
		ev(4, "b", "restart_requested", "Running", "Stopping", nil),
		ev(5, "b", "exited", "Stopping", "Stopped", nil),
		ev(6, "b", "start_requested", "Stopped", "Starting", nil),
		ev(7, "b", "spawned", "", "", func(e *events.JSON) { e.PID = 21 }),
	}})
	if cmd == nil || !m.why.pending {
		t.Error("an event of the selected worker did not ask for its why again")
	}
	if out := ansi.Strip(m.render()); !regexp.MustCompile(`(?m)^b +Starting +21 `).MatchString(out) {
		t.Errorf("the row of b does not show the new pid:\n%s", out)
	}
	if cmd := press(m, "r"); cmd != nil || m.mode != modeConfirm || !strings.Contains(ansi.Strip(m.render()), "restart b? y/N") {
		t.Fatalf("r did not ask first")
	}
	press(m, "n")
	if len(f.commands) != 0 || m.mode != modeList {
		t.Fatalf("n ran %v", f.commands)
	}
	press(m, "r")
	m.Update(press(m, "y")())
	press(m, "x")
	m.Update(press(m, "Y")())
	m.Update(press(m, "s")())
	if got := strings.Join(f.commands, ", "); got != "restart b, stop b, start b" {
		t.Errorf("commands %q", got)
	}
	if !strings.Contains(m.render(), "start b: Running (pid 4242, incarnation 2)") {
		t.Errorf("the command's answer is not shown:\n%s", ansi.Strip(m.render()))
	}
}

// One status request at a time, armed only when the last answer came; a
// dropped batch of events asks for one at once.
func TestStatusRequestsDoNotPileUp(t *testing.T) {
	f := &fake{status: workers(3)}
	m := newModel(t, f, 120, 30)
	_, c1 := m.Update(statusTickMsg{})
	_, c2 := m.Update(statusTickMsg{})
	if c1 == nil || c2 != nil {
		t.Fatalf("two ticks in a row: %v %v, want one request", c1 != nil, c2 != nil)
	}
	_, next := m.Update(c1())
	if next == nil || m.statusInFlight {
		t.Fatal("the answer did not arm the next tick")
	}
	if _, cmd := m.Update(streamMsg{overflow: true}); cmd == nil {
		t.Fatal("no command after an overflow")
	}
	if !m.statusInFlight {
		t.Error("an overflow of the event buffer did not ask for a status answer")
	}
}

func TestStreamDropsPastItsBound(t *testing.T) {
	s := newStream()
	for i := range maxPending + 10 {
		s.push(events.JSON{Seq: events.Seq(i + 1)})
	}
	evs, over, err := s.take()
	if !over || len(evs) != 10 || err != nil || evs[0].Seq != maxPending+1 {
		t.Fatalf("take after %d events: %d, overflow %v, err %v", maxPending+10, len(evs), over, err)
	}
	if evs, over, _ := s.take(); len(evs) != 0 || over {
		t.Fatal("take is not emptied")
	}
}

func TestTailBoundsLinesAndLength(t *testing.T) {
	tl := newTail()
	tl.write([]byte(strings.Repeat("x", 3*maxLineLen) + "\n"))
	for i := range maxLogLines + 5 {
		tl.write([]byte(fmt.Sprintf("line %d\n", i)))
	}
	tl.write([]byte("partial\x1b]0;pwned\x07"))
	lines, _ := tl.snapshot()
	if len(lines) != maxLogLines+1 || lines[0] != "line 5" || lines[len(lines)-1] != `partial\x1b]0;pwned\x07` {
		t.Fatalf("%d lines, first %q, last %q", len(lines), lines[0], lines[len(lines)-1])
	}
	tl2 := newTail()
	tl2.write([]byte(strings.Repeat("y", 3*maxLineLen)))
	tl2.write([]byte("\n"))
	if l, _ := tl2.snapshot(); len(l) != 1 || len(l[0]) != maxLineLen {
		t.Fatalf("a long line kept %d bytes", len(l[0]))
	}
}

// Updating and drawing the view with 1,000 workers and a batch of 1,000
// events is far below a frame (16 ms).
func BenchmarkUpdateThousand(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := &fake{status: workers(1000)}
	m := New(ctx, f, f.status, time.Second)
	m.Update(tea.WindowSizeMsg{Width: 160, Height: 50})
	m.t.setSort(ByCPU, false)
	batch := make([]events.JSON, 1000)
	seq := events.Seq(2)
	for b.Loop() {
		for i := range batch {
			batch[i] = ev(seq, fmt.Sprintf("w%04d", i), "spawned", "", "", func(e *events.JSON) { e.PID = int(seq) })
			seq++
		}
		m.onStream(streamMsg{evs: batch})
		_ = m.render()
	}
}

// When the selected worker leaves the list (removed, or filtered out),
// the one under the cursor is selected and its why asked for.
func TestSelectionMovesWhenTheWorkerGoes(t *testing.T) {
	f := &fake{status: client.Status{Seq: 3, Workers: []client.WorkerStatus{running("a", 10), running("b", 20)}}}
	m := newModel(t, f, 120, 30)
	press(m, "down")
	m.why.armed, m.why.pending = false, false
	_, cmd := m.Update(streamMsg{evs: []events.JSON{ev(4, "b", "worker_removed", "", "", nil)}})
	if m.sel != "a" || m.cursor != 0 || cmd == nil || !m.why.pending {
		t.Fatalf("after b was removed: sel %q cursor %d, why pending %v", m.sel, m.cursor, m.why.pending)
	}
	m.why.armed, m.why.pending = false, false
	press(m, "/", "z")
	if m.sel != "" || !strings.Contains(ansi.Strip(m.render()), "no worker selected") {
		t.Fatalf("an empty list keeps %q selected", m.sel)
	}
	press(m, "esc")
	if m.sel != "a" || !m.why.pending {
		t.Fatalf("after the filter was cleared: sel %q, why pending %v", m.sel, m.why.pending)
	}
}

// The help fits a 24-line terminal whole, and any key closes it.
func TestHelp(t *testing.T) {
	f := &fake{status: workers(3)}
	m := newModel(t, f, 80, 24)
	press(m, "?")
	out := ansi.Strip(m.render())
	if n := len(strings.Split(out, "\n")); n != 24 {
		t.Errorf("help: %d lines", n)
	}
	for _, l := range helpLines() {
		if !strings.Contains(out, strings.TrimSpace(ansi.Truncate(l, 80, "…"))) {
			t.Errorf("help line %q not shown:\n%s", l, out)
		}
	}
	press(m, "x")
	if m.mode != modeList || len(f.commands) != 0 {
		t.Errorf("the key that closed the help did something else: mode %d, commands %v", m.mode, f.commands)
	}
}
