package top

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/tendhq/tend/cmd/internal/client"
	"github.com/tendhq/tend/events"
)

// SortKey is the column the list is ordered by.
type SortKey int

// The orders the sort key cycles through (o): by name ascending, the
// others largest first; O reverses.
const (
	ByName SortKey = iota
	ByCPU
	ByMemory
	ByRestarts
	numSortKeys
)

func (k SortKey) String() string {
	return [...]string{"name", "cpu", "memory", "restarts"}[k]
}

// row is one worker as the view knows it.
type row struct {
	client.WorkerStatus
	// seq is the newest event (or status answer) this row reflects: a
	// status answer older than an event already applied does not undo it.
	seq   events.Seq
	lower string // the name, lower-cased, for the filter
	width int    // of the name on screen, escaped
}

func newRow(w client.WorkerStatus, seq events.Seq) *row {
	return &row{WorkerStatus: w, seq: seq, lower: strings.ToLower(w.Name), width: ansi.StringWidth(Clean(w.Name))}
}

// table is every worker the daemon reported, kept current from the
// event stream and the periodic status, and the sorted, filtered list the
// view shows. It does no I/O; the UI that owns it is its only user.
type table struct {
	rows map[string]*row
	// seq is the last event applied; the stream resumes after it.
	seq    events.Seq
	sortBy SortKey
	desc   bool // reversed (O)
	filter string
	list   []*row // sorted and filtered; rebuilt when dirty
	dirty  bool
}

func newTable() *table { return &table{rows: make(map[string]*row), dirty: true} }

// applyStatus takes a status answer: the daemon's whole view at seq st.Seq,
// with the CPU and memory it sampled. A row that an event newer than the
// answer has already changed keeps what the event said and takes only the
// samples.
func (t *table) applyStatus(st *client.Status) {
	seen := make(map[string]bool, len(st.Workers))
	for i := range st.Workers {
		w := &st.Workers[i]
		seen[w.Name] = true
		r := t.rows[w.Name]
		switch {
		case r == nil:
			t.rows[w.Name] = newRow(*w, st.Seq)
		case r.seq > st.Seq:
			if live(r.State) && r.PID == w.PID {
				r.RSSBytes, r.CPUPercent = w.RSSBytes, w.CPUPercent
			}
		default:
			r.WorkerStatus, r.seq = *w, st.Seq
		}
	}
	for n, r := range t.rows {
		if !seen[n] && r.seq <= st.Seq {
			delete(t.rows, n) // removed from the configuration
		}
	}
	if st.Seq > t.seq {
		t.seq = st.Seq
	}
	t.dirty = true
}

func live(state string) bool {
	return state == "Starting" || state == "Running" || state == "Stopping"
}

// applyEvent mirrors what an event says of its worker until the next
// status answer: the state it moved to, when, why and by whom; the pid of a
// spawn, adoption or MAINPID; the end of a process; health; a restart due;
// the breaker; what the worker said of itself. It decides nothing: the
// daemon's fold already did, and recorded its judgement in the event.
// It reports whether the event concerned a worker.
func (t *table) applyEvent(e *events.JSON) bool {
	if e.Seq <= t.seq {
		return false // already seen (a resumed stream, or a status newer than it)
	}
	t.seq = e.Seq
	typ, err := events.ParseType(e.Type)
	if err != nil || e.Worker == "" {
		return false
	}
	switch typ {
	case events.ConfigLoaded, events.DaemonStarted, events.DaemonStopping, events.CommandRefused:
		return false
	}
	r := t.rows[e.Worker]
	if r == nil {
		if typ != events.WorkerAdded || e.Stale {
			return false
		}
		r = newRow(client.WorkerStatus{Name: e.Worker, State: "Stopped"}, e.Seq)
		t.rows[e.Worker] = r
	}
	t.dirty = true
	r.seq = e.Seq
	if e.Stale {
		return true
	}
	at, _ := time.Parse(time.RFC3339Nano, e.Time)
	if e.To != "" {
		r.State, r.Since, r.Cause, r.Actor = e.To, at, e.Cause, e.Actor
	}
	r.Incarnation = e.Incarnation
	if e.To == "Starting" || e.To == "Stopping" || e.To == "Stopped" {
		r.Waiting, r.WaitingFor, r.WaitingSince = "", "", nil
	}
	switch typ {
	case events.StartRequested, events.RestartRequested:
		if e.To == "Starting" {
			r.PID, r.Health, r.StatusText, r.RestartDue = 0, "", "", nil
			r.RSSBytes, r.CPUPercent = 0, 0
			if e.Actor == events.ActorPolicy {
				r.Restarts++
			} else {
				r.BreakerOpen = false
				if typ == events.RestartRequested {
					r.Restarts++
				}
			}
		} else if typ == events.RestartRequested {
			r.Restarts++
		}
	case events.StopRequested:
		r.RestartDue = nil
		r.Waiting, r.WaitingFor, r.WaitingSince = "", "", nil
	case events.Spawned, events.Adopted:
		r.PID = e.PID
	case events.SpawnFailed, events.Exited, events.Lost:
		r.PID, r.Health, r.RSSBytes, r.CPUPercent = 0, "", 0, 0
		x := &client.ExitInfo{Incarnation: e.Incarnation, Code: e.ExitCode, Signal: e.Signal, Lost: typ == events.Lost, At: at, Cause: e.Cause}
		r.LastExit = x
	case events.HealthFailed:
		r.Health = "failing"
	case events.HealthRecovered:
		r.Health = ""
	case events.RestartScheduled:
		due := at.Add(time.Duration(e.DelayMS * float64(time.Millisecond)))
		r.RestartDue = &due
	case events.BreakerOpened:
		r.BreakerOpen, r.RestartDue = true, nil
	case events.BreakerClosed:
		r.BreakerOpen = false
	case events.RestartCancelled:
		r.RestartDue = nil
	case events.WorkerRemoved:
		delete(t.rows, e.Worker)
	case events.Waiting:
		r.Waiting, r.WaitingFor = e.Policy, e.Cause
		if r.WaitingSince == nil {
			r.WaitingSince = &at
		}
	case events.Notified:
		switch e.Policy {
		case "STATUS":
			r.StatusText = e.Text
		case "MAINPID":
			r.PID = e.PID
		}
	}
	return true
}

// setSort orders the list by k; the same key again keeps the order.
func (t *table) setSort(k SortKey, desc bool) {
	t.sortBy, t.desc, t.dirty = k, desc, true
}

// setFilter keeps only the workers whose name or state contains f (any
// case).
func (t *table) setFilter(f string) {
	t.filter, t.dirty = f, true
}

// view is the sorted, filtered list, rebuilt only after a change.
func (t *table) view() []*row {
	if !t.dirty {
		return t.list
	}
	t.dirty = false
	t.list = t.list[:0]
	f := strings.ToLower(t.filter)
	for _, r := range t.rows {
		if f == "" || strings.Contains(r.lower, f) || strings.Contains(strings.ToLower(r.State), f) {
			t.list = append(t.list, r)
		}
	}
	slices.SortFunc(t.list, t.compare)
	return t.list
}

// compare orders two rows by the sort key (name ascending, the others
// largest first), then by name in any case, then exactly, so the order is
// total and stable.
func (t *table) compare(a, b *row) int {
	var c int
	switch t.sortBy {
	case ByCPU:
		c = cmp.Compare(b.CPUPercent, a.CPUPercent)
	case ByMemory:
		c = cmp.Compare(b.RSSBytes, a.RSSBytes)
	case ByRestarts:
		c = cmp.Compare(b.Restarts, a.Restarts)
	}
	if c == 0 {
		c = strings.Compare(a.lower, b.lower)
	}
	if c == 0 {
		c = strings.Compare(a.Name, b.Name)
	}
	if t.desc {
		c = -c
	}
	return c
}

// counts is how many workers are in each state.
func (t *table) counts() map[string]int {
	m := make(map[string]int, 5)
	for _, r := range t.rows {
		m[r.State]++
	}
	return m
}
