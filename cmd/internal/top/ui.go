package top

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/tendhq/tend/cmd/internal/client"
	"github.com/tendhq/tend/cmd/internal/explain"
	"github.com/tendhq/tend/events"
)

// Timing of the view. Every request the view makes is one at a time of
// its kind: the next status request is armed only when the last answer
// has come, the next why only when the last has come and the throttle has
// passed.
const (
	// DefaultInterval is how often the view asks for a status answer, for
	// CPU and memory (which the daemon samples every sample_interval,
	// default 1s) and to correct anything the events' mirror missed.
	DefaultInterval = 2 * time.Second
	// MinInterval bounds --interval from below.
	MinInterval = 250 * time.Millisecond
	// whyDelay is the throttle of why requests: moving the cursor over
	// many workers, or a selected worker that changes many times a
	// second, costs at most one request per whyDelay.
	whyDelay = 200 * time.Millisecond
	// requestTimeout bounds a status or why request.
	requestTimeout = 10 * time.Second
)

var errStreamEnded = errors.New("the event stream ended")

func pathEscape(s string) string { return url.PathEscape(s) }

type mode int

const (
	modeList mode = iota
	modeFilter
	modeConfirm
	modeHelp
)

// Messages: each is the answer to one request, or a timer.
type (
	statusMsg struct {
		st  client.Status
		err error
	}
	statusTickMsg struct{}
	streamMsg     struct {
		evs      []events.JSON
		overflow bool
		err      error
	}
	clockMsg   time.Time
	whyTickMsg struct{}
	whyMsg     struct {
		name string
		ans  explain.Answer
		err  error
	}
	cmdMsg struct {
		verb, name string
		res        client.CommandResult
		err        error
	}
	logsMsg struct{ t *tail }
)

// Model is the live view: a tea.Model. Only its Update changes it; every
// request to the daemon runs as a tea.Cmd off the update loop.
type Model struct {
	ctx      context.Context
	b        Backend
	interval time.Duration
	st       *stream
	t        *table

	width, height  int
	now            time.Time
	cursor, offset int
	sel            string // the selected worker, kept across re-sorting

	mode    mode
	filter  string // as typed in filter mode
	confirm struct{ verb, name string }
	note    string // the last command's answer, or an error, in the footer
	noteBad bool

	statusErr, streamErr error
	statusInFlight       bool

	why struct {
		name     string // whose answer lines holds
		lines    []string
		err      error
		pending  bool // the selected worker's why is wanted
		armed    bool // a whyTickMsg is on its way
		inFlight bool
	}
	logs *logsPane
}

type logsPane struct {
	name   string
	stderr bool
	t      *tail
	lines  []string
	err    error
	cancel context.CancelFunc
}

// New is the view of the workers in st (the daemon's answer before the
// view starts), kept current by b. ctx bounds every request it makes.
func New(ctx context.Context, b Backend, st client.Status, interval time.Duration) *Model {
	m := &Model{ctx: ctx, b: b, interval: max(interval, MinInterval), st: newStream(), t: newTable(), now: time.Now(),
		width: 80, height: 24}
	m.t.applyStatus(&st)
	if l := m.t.view(); len(l) > 0 {
		m.sel = l[0].Name
	}
	return m
}

// Init starts the event stream after the first answer's seq, the status
// timer, the clock, and the selected worker's why.
func (m *Model) Init() tea.Cmd {
	go m.st.run(m.ctx, m.b, m.t.seq+1)
	return tea.Batch(m.waitStream(), m.statusTick(), clockTick(), m.wantWhy())
}

func (m *Model) waitStream() tea.Cmd {
	return func() tea.Msg {
		select {
		case <-m.st.wake:
		case <-m.ctx.Done():
			return nil
		}
		evs, over, err := m.st.take()
		return streamMsg{evs: evs, overflow: over, err: err}
	}
}

func (m *Model) statusTick() tea.Cmd {
	return tea.Tick(m.interval, func(time.Time) tea.Msg { return statusTickMsg{} })
}

func clockTick() tea.Cmd {
	return tea.Tick(time.Second, func(t time.Time) tea.Msg { return clockMsg(t) })
}

func (m *Model) fetchStatus() tea.Cmd {
	if m.statusInFlight {
		return nil
	}
	m.statusInFlight = true
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(m.ctx, requestTimeout)
		defer cancel()
		st, err := m.b.Status(ctx)
		return statusMsg{st: st, err: err}
	}
}

// wantWhy asks for the selected worker's why, at most one request at a
// time and one per whyDelay.
func (m *Model) wantWhy() tea.Cmd {
	m.why.pending = true
	if m.why.armed || m.why.inFlight {
		return nil
	}
	m.why.armed = true
	return tea.Tick(whyDelay, func(time.Time) tea.Msg { return whyTickMsg{} })
}

func (m *Model) fetchWhy() tea.Cmd {
	m.why.armed = false
	if !m.why.pending || m.sel == "" {
		return nil
	}
	m.why.pending, m.why.inFlight = false, true
	name := m.sel
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(m.ctx, requestTimeout)
		defer cancel()
		a, err := m.b.Why(ctx, name)
		return whyMsg{name: name, ans: a, err: err}
	}
}

func (m *Model) command(verb, name string) tea.Cmd {
	m.setNote(false, "%s %s: asked", verb, name)
	return func() tea.Msg {
		res, err := m.b.Command(m.ctx, verb, name)
		return cmdMsg{verb: verb, name: name, res: res, err: err}
	}
}

func (m *Model) setNote(bad bool, format string, args ...any) {
	m.note, m.noteBad = fmt.Sprintf(format, args...), bad
}

// Update applies one message.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		return m, m.follow()
	case tea.KeyPressMsg:
		return m, m.key(msg)
	case streamMsg:
		return m, m.onStream(msg)
	case statusTickMsg:
		return m, m.fetchStatus()
	case statusMsg:
		m.statusInFlight = false
		m.statusErr = msg.err
		if msg.err == nil {
			m.t.applyStatus(&msg.st)
			return m, tea.Batch(m.statusTick(), m.follow())
		}
		return m, m.statusTick()
	case clockMsg:
		m.now = time.Time(msg)
		return m, clockTick()
	case whyTickMsg:
		return m, m.fetchWhy()
	case whyMsg:
		m.why.inFlight = false
		if msg.name == m.sel {
			m.why.name, m.why.err = msg.name, msg.err
			if msg.err == nil {
				m.why.lines = msg.ans.Lines()
			}
		}
		if m.why.pending {
			m.why.pending = false
			return m, m.wantWhy()
		}
	case cmdMsg:
		m.onCommand(msg)
	case logsMsg:
		if m.logs != nil && m.logs.t == msg.t {
			m.logs.lines, m.logs.err = msg.t.snapshot()
			return m, m.waitLogs(msg.t)
		}
	}
	return m, nil
}

func (m *Model) onStream(msg streamMsg) tea.Cmd {
	m.streamErr = msg.err
	selected := false
	for i := range msg.evs {
		if m.t.applyEvent(&msg.evs[i]) && msg.evs[i].Worker == m.sel {
			selected = true
		}
	}
	cmds := []tea.Cmd{m.waitStream(), m.follow()}
	if msg.overflow {
		// Events were dropped: a status answer says what they would have.
		cmds = append(cmds, m.fetchStatus())
	}
	if selected {
		cmds = append(cmds, m.wantWhy())
	}
	return tea.Batch(cmds...)
}

func (m *Model) onCommand(msg cmdMsg) {
	switch {
	case msg.err != nil:
		m.setNote(true, "%s %s: %s", msg.verb, msg.name, msg.err)
	case msg.res.Error != nil:
		m.setNote(true, "%s %s: %s", msg.verb, msg.name, msg.res.Error.Error)
	case !msg.res.Reached:
		m.setNote(true, "%s %s: %s", msg.verb, msg.name, msg.res.Reason)
	default:
		s := msg.res.Status
		if s.PID != 0 {
			m.setNote(false, "%s %s: %s (pid %d, incarnation %d)", msg.verb, msg.name, s.State, s.PID, s.Incarnation)
		} else {
			m.setNote(false, "%s %s: %s", msg.verb, msg.name, s.State)
		}
	}
}

// follow keeps the cursor on the selected worker after the list changed
// (re-sorted, filtered, a worker removed), and in sight. When the selected
// worker is gone from the list, the one now under the cursor is selected,
// and its why asked for.
func (m *Model) follow() tea.Cmd {
	l := m.t.view()
	if len(l) == 0 {
		m.cursor, m.offset, m.sel = 0, 0, ""
		return nil
	}
	found := false
	if m.cursor < len(l) && l[m.cursor].Name == m.sel {
		found = true
	} else {
		for i, r := range l {
			if r.Name == m.sel {
				m.cursor, found = i, true
				break
			}
		}
	}
	m.scroll()
	if found {
		return nil
	}
	m.cursor = min(max(m.cursor, 0), len(l)-1)
	m.sel = l[m.cursor].Name
	m.scroll()
	return m.wantWhy()
}

// scroll keeps the cursor within the rows on screen.
func (m *Model) scroll() {
	h := m.layout().list
	if m.cursor < m.offset {
		m.offset = m.cursor
	}
	if m.cursor >= m.offset+h {
		m.offset = m.cursor - h + 1
	}
	m.offset = max(0, min(m.offset, len(m.t.view())-h))
}

// move selects the row delta rows away (clamped).
func (m *Model) move(delta int) tea.Cmd {
	l := m.t.view()
	if len(l) == 0 {
		return nil
	}
	c := min(max(m.cursor+delta, 0), len(l)-1)
	if l[c].Name == m.sel && c == m.cursor {
		return nil
	}
	m.cursor, m.sel = c, l[c].Name
	m.scroll()
	return m.wantWhy()
}

func (m *Model) key(k tea.KeyPressMsg) tea.Cmd {
	s := k.String()
	if s == "ctrl+c" {
		return m.quit()
	}
	switch m.mode {
	case modeHelp:
		m.mode = modeList
		return nil
	case modeConfirm:
		m.mode = modeList
		if s == "y" || s == "Y" {
			return m.command(m.confirm.verb, m.confirm.name)
		}
		m.setNote(false, "%s %s: not asked", m.confirm.verb, m.confirm.name)
		return nil
	case modeFilter:
		switch s {
		case "enter":
			m.mode = modeList
		case "esc":
			m.mode, m.filter = modeList, ""
		case "backspace":
			if r := []rune(m.filter); len(r) > 0 {
				m.filter = string(r[:len(r)-1])
			}
		default:
			if k.Text == "" {
				return nil
			}
			m.filter += k.Text
		}
		m.t.setFilter(m.filter)
		return m.follow()
	}
	page := max(1, m.layout().list-1)
	switch s {
	case "q":
		return m.quit()
	case "?":
		m.mode = modeHelp
	case "up", "k":
		return m.move(-1)
	case "down", "j":
		return m.move(1)
	case "pgup", "ctrl+b":
		return m.move(-page)
	case "pgdown", "ctrl+f", "space":
		return m.move(page)
	case "home", "g":
		return m.move(-len(m.t.rows))
	case "end", "G":
		return m.move(len(m.t.rows))
	case "/":
		m.mode = modeFilter
	case "esc":
		switch {
		case m.logs != nil:
			m.closeLogs()
		case m.filter != "":
			m.filter = ""
			m.t.setFilter("")
			return m.follow()
		default:
			m.note = ""
		}
	case "o":
		m.t.setSort((m.t.sortBy+1)%numSortKeys, false)
		return m.follow()
	case "O":
		m.t.setSort(m.t.sortBy, !m.t.desc)
		return m.follow()
	case "s":
		if m.sel != "" {
			return m.command("start", m.sel)
		}
	case "x", "r":
		if m.sel != "" {
			m.confirm.verb, m.confirm.name = map[string]string{"x": "stop", "r": "restart"}[s], m.sel
			m.mode = modeConfirm
		}
	case "l":
		return m.toggleLogs(m.sel, false)
	case "e":
		if m.logs != nil {
			return m.toggleLogs(m.logs.name, !m.logs.stderr)
		}
	}
	return nil
}

func (m *Model) quit() tea.Cmd {
	m.closeLogs()
	return tea.Quit
}

// toggleLogs opens the logs pane on name's stdout (or stderr), or closes
// it when it already shows exactly that. One stream connection is held
// while the pane is open, none when it is closed.
func (m *Model) toggleLogs(name string, stderr bool) tea.Cmd {
	if name == "" {
		return nil
	}
	if m.logs != nil && m.logs.name == name && m.logs.stderr == stderr {
		m.closeLogs()
		return nil
	}
	m.closeLogs()
	ctx, cancel := context.WithCancel(m.ctx)
	t := newTail()
	m.logs = &logsPane{name: name, stderr: stderr, t: t, cancel: cancel}
	lines := max(m.layout().pane, 20)
	go func() {
		err := m.b.Logs(ctx, name, stderr, lines, t.write)
		if ctx.Err() == nil {
			if err == nil {
				err = errors.New("the output stream ended")
			}
			t.fail(err)
		}
	}()
	return m.waitLogs(t)
}

func (m *Model) waitLogs(t *tail) tea.Cmd {
	ctx := m.ctx
	return func() tea.Msg {
		select {
		case <-t.wake:
			return logsMsg{t: t}
		case <-ctx.Done():
			return nil
		}
	}
}

func (m *Model) closeLogs() {
	if m.logs != nil {
		m.logs.cancel()
		// Wake its waiter, which then finds the pane closed and stops.
		m.logs.t.fail(context.Canceled)
		m.logs = nil
	}
}
