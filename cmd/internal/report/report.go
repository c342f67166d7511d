// Package report renders an event log as one self-contained HTML file for
// postmortems: a timeline of every worker's states with markers for the
// events that matter, a filterable table of events linked to it, and a
// summary per worker.
//
// The file needs nothing but a browser: no network, no external assets.
// CSS and JavaScript are inline and the data is embedded as JSON, so the
// report of a copied log can be mailed or attached to a ticket.
//
// States come from the same fold the daemon uses (fsm.World.Apply), replayed
// from the start of the log (or a snapshot the store trusts), so a band that
// begins before --since shows the state the worker was really in. The report
// stays usable on logs of millions of events by aggregating what would not
// be visible anyway: bands are merged to a fixed resolution when there are too
// many, markers are bucketed per lane with counts, and the table holds a
// bounded number of the most recent and most relevant events.
//
// It may not modify the log: it only reads it (open it ReadOnly, or read
// through a daemon's own handle), and it never starts the supervisor.
package report

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/fsm"
	"github.com/tendhq/tend/store"
)

// DefaultMaxRows is how many events the table holds when Options.MaxRows is 0.
const DefaultMaxRows = 5000

// Budgets for what the timeline embeds. Beyond them the report aggregates:
// a browser handles a few hundred thousand numbers in a typed array easily,
// but not a DOM node or a JSON object per event of a million-event log.
const (
	maxSpans   = 1_000_000 // state bands over all lanes before merging to a resolution
	maxMarkers = 60_000    // markers over all lanes before bucketing per lane
	minPerLane = 60        // a lane keeps at least this many markers however many lanes there are
)

// Options choose what goes into a report.
type Options struct {
	// Since and Until bound the time window; zero means the first and the
	// last event of the log.
	Since, Until time.Time
	// Workers limits the lanes, table and summary to these workers; empty
	// means all. Daemon-level events are always shown.
	Workers []string
	// Title heads the page; empty means one naming the log file.
	Title string
	// Progress, if not nil, is called now and then with the events read so
	// far and the number to read.
	Progress func(done, total uint64)
	// MaxRows bounds the event table; 0 means DefaultMaxRows.
	MaxRows int
	// StderrTail, if not nil, gives the last lines an incarnation wrote to
	// stderr at or before a time (escaped, bounded): a failure's marker
	// shows them.
	StderrTail func(worker string, inc events.Incarnation, at time.Time) []string
}

// Bounds of the stderr a failure's marker shows.
const (
	TailLines   = 10
	TailLineLen = 300
)

// Stats say what a report holds.
type Stats struct {
	Events     uint64        // events in the window for the workers shown (plus daemon-level ones)
	Scanned    uint64        // events read, including those before the window folded for state
	Workers    int           // lanes
	Rows       int           // events in the table
	Omitted    uint64        // events in the window that are not in the table
	Markers    int           // markers embedded (an aggregated marker counts once)
	Resolution time.Duration // band resolution when bands were merged; 0 when exact
	Bytes      int64         // bytes written
}

// span is a state band: from start (ns after the window's start) until the
// next span's start or the window's end.
type span struct {
	start int64
	code  uint8 // events.State, plus mixedBit when merged from several states
}

const mixedBit = 8

// Marker categories, in increasing severity: an aggregated marker takes the
// most severe category among the events it stands for.
const (
	catDaemon = iota
	catOperator
	catExit    // an exit that was asked for (stop, restart)
	catKill    // SIGKILL sent
	catHealth  // health failed or recovered
	catLimit   // resource limit violated
	catBreaker // circuit breaker opened or closed
	catFailure // an exit nobody asked for, a lost process, a failed spawn
	numCats
)

var catNames = [numCats]string{"daemon", "operator", "exit", "kill", "health", "limit", "breaker", "failure"}

type marker struct {
	t      int64 // ns after the window's start
	seq    events.Seq
	cat    uint8
	typ    events.Type
	cause  int // string table indexes
	actor  int
	detail int
	stale  bool
	count  int    // events it stands for (1 unless aggregated)
	mask   uint16 // categories it stands for
}

type lane struct {
	name    string
	spans   []span
	markers []marker
	sum     summary
}

type summary struct {
	endState   events.State
	removed    bool
	restarts0  int // fsm's Restarts when the window opened
	restarts   int // in the window
	exits      int // exits, losses and failed spawns
	failures   int // of which nobody asked for
	inState    [6]time.Duration
	causes     map[string]int
	events     uint64
	seenBefore bool // existed when the window opened
}

// row is an event of the table, copied out of the scan.
type row struct {
	seq          events.Seq
	t            time.Time
	worker       string
	typ          events.Type
	from, to     events.State
	inc          events.Incarnation
	actor, cause string
	facts        events.Event // only what Summary reads, formatted if the row is kept
	stale        bool
	marked       bool
}

// Write reads log and writes the report of opts to w.
func Write(w io.Writer, log *store.Log, opts Options) (Stats, error) {
	d, err := build(log, opts)
	if err != nil {
		return Stats{}, err
	}
	cw := &countWriter{w: w}
	if err := render(cw, d); err != nil {
		return d.stats, fmt.Errorf("report: write: %w", err)
	}
	d.stats.Bytes = cw.n
	return d.stats, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// data is everything the page shows.
type data struct {
	title      string
	path       string
	generated  time.Time
	t0, t1     time.Time
	since      events.Seq // last seq before the window
	until      events.Seq // last seq in the window
	lanes      []*lane
	daemon     []marker
	rows       []row
	recentRows int // rows chosen as most recent (the rest as most recent marked)
	strs       *interner
	filtered   bool
	maxRows    int
	stats      Stats
}

type interner struct {
	idx  map[string]int
	list []string
}

func newInterner() *interner { return &interner{idx: map[string]int{"": 0}, list: []string{""}} }

func (in *interner) id(s string) int {
	if i, ok := in.idx[s]; ok {
		return i
	}
	in.idx[s] = len(in.list)
	in.list = append(in.list, s)
	return len(in.list) - 1
}

// ring keeps the last n rows appended.
type ring struct {
	buf  []row
	next int
	full bool
}

func (r *ring) add(x row, n int) {
	if n <= 0 {
		return
	}
	if len(r.buf) < n {
		r.buf = append(r.buf, x)
		return
	}
	r.buf[r.next] = x
	r.next = (r.next + 1) % n
	r.full = true
}

// newestFirst returns the rows, newest first.
func (r *ring) newestFirst() []row {
	out := make([]row, 0, len(r.buf))
	for i := range r.buf {
		j := (r.next - 1 - i + 2*len(r.buf)) % len(r.buf)
		out = append(out, r.buf[j])
	}
	return out
}

func build(log *store.Log, opts Options) (*data, error) {
	if log == nil {
		return nil, errors.New("report: no log")
	}
	if !opts.Since.IsZero() && !opts.Until.IsZero() && opts.Until.Before(opts.Since) {
		return nil, fmt.Errorf("report: --until %s is before --since %s", opts.Until.Format(time.RFC3339), opts.Since.Format(time.RFC3339))
	}
	d := &data{path: log.Path(), title: opts.Title, generated: time.Now().UTC(), strs: newInterner(), maxRows: opts.MaxRows}
	if d.maxRows <= 0 {
		d.maxRows = DefaultMaxRows
	}
	if d.title == "" {
		d.title = "tend report: " + log.Path()
	}
	last := log.LastSeq()
	var selected map[string]bool
	if len(opts.Workers) > 0 {
		selected = make(map[string]bool, len(opts.Workers))
		for _, n := range opts.Workers {
			selected[n] = true
		}
		d.filtered = true
	}

	// The window in seqs: (since, until].
	var err error
	if !opts.Since.IsZero() {
		if d.since, err = log.SeqAt(opts.Since.Add(-1)); err != nil {
			return nil, fmt.Errorf("report: find --since in %s: %w", log.Path(), err)
		}
	}
	d.until = last
	if !opts.Until.IsZero() {
		if d.until, err = log.SeqAt(opts.Until); err != nil {
			return nil, fmt.Errorf("report: find --until in %s: %w", log.Path(), err)
		}
	}
	if d.since > d.until {
		d.since = d.until
	}

	// The window in time.
	d.t0, d.t1 = opts.Since.UTC(), opts.Until.UTC()
	if last > 0 && d.t0.IsZero() {
		e, err := log.Get(max(d.since+1, 1))
		if err != nil && d.since+1 <= last {
			return nil, fmt.Errorf("report: read %s: %w", log.Path(), err)
		}
		if err == nil {
			d.t0 = e.Time.UTC()
		}
	}
	if last > 0 && d.t1.IsZero() && d.until > 0 {
		e, err := log.Get(d.until)
		if err != nil {
			return nil, fmt.Errorf("report: read %s: %w", log.Path(), err)
		}
		d.t1 = e.Time.UTC()
	}
	if d.t0.IsZero() {
		d.t0 = d.t1
	}
	if d.t1.IsZero() {
		d.t1 = d.t0
	}
	if !d.t1.After(d.t0) {
		// One instant (or an empty log): give the timeline a width.
		d.t1 = d.t0.Add(time.Second)
	}

	// Fold from the newest trusted snapshot not past the window, exactly as
	// the daemon's replay does, or from the first event.
	world := fsm.NewWorld()
	if seq, snap, err := log.LoadSnapshot(); err == nil && seq != 0 && seq <= d.since {
		if w, err := fsm.UnmarshalSnapshot(snap); err == nil && w.Seq == seq {
			world = w
		}
	}
	start := world.Seq + 1
	total := uint64(0)
	if d.until >= start {
		total = uint64(d.until - start + 1)
	}
	done := uint64(0)
	tick := func() {
		done++
		if opts.Progress != nil && done%65536 == 0 {
			opts.Progress(done, total)
		}
	}
	if d.since >= start {
		err := log.Scan(start, d.since, func(e *events.Event) error {
			tick()
			if err := world.Apply(e); err != nil {
				return fmt.Errorf("fold seq %d: %w", e.Seq, err)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("report: read %s before the window: %w", log.Path(), err)
		}
	}

	byName := map[string]*lane{}
	t0 := d.t0.UnixNano()
	rel := func(t time.Time) int64 { return max(t.UnixNano()-t0, 0) }
	addLane := func(name string, w *fsm.Worker, at int64) *lane {
		l := &lane{name: name, sum: summary{causes: map[string]int{}}}
		l.spans = append(l.spans, span{start: at, code: uint8(w.State)})
		l.sum.restarts0 = w.Restarts
		byName[name] = l
		d.lanes = append(d.lanes, l)
		return l
	}
	for _, name := range world.Names(false) {
		if selected == nil || selected[name] {
			l := addLane(name, world.Workers[name], 0)
			l.sum.seenBefore = true
		}
	}

	var recent, marked ring
	half := max(d.maxRows/2, 1)
	if d.until > d.since && d.until >= start {
		err := log.Scan(max(d.since+1, start), d.until, func(e *events.Event) error {
			tick()
			var before fsm.Worker
			if w := world.Workers[e.Worker]; w != nil {
				before = *w
			}
			if err := world.Apply(e); err != nil {
				return fmt.Errorf("fold seq %d: %w", e.Seq, err)
			}
			if e.Worker != "" && selected != nil && !selected[e.Worker] {
				return nil
			}
			d.stats.Events++
			var l *lane
			if e.Worker != "" {
				l = byName[e.Worker]
				w := world.Workers[e.Worker]
				if l == nil && w != nil {
					l = addLane(e.Worker, w, rel(e.Time))
				}
				if l != nil {
					l.sum.events++
					if e.Changes() {
						l.spans = append(l.spans, span{start: rel(e.Time), code: uint8(e.To)})
					}
					l.sum.restarts = w.Restarts - l.sum.restarts0
				}
			}
			r := row{seq: e.Seq, t: e.Time, worker: e.Worker, typ: e.Type, from: e.From, to: e.To,
				inc: e.Incarnation, actor: e.Actor, cause: e.Cause, stale: e.Stale,
				facts: events.Event{Stale: e.Stale, Details: events.Details{PID: e.PID, Signal: e.Signal, Delay: e.Delay}}}
			if e.ExitCode != nil {
				r.facts.ExitCode = events.IntPtr(*e.ExitCode)
			}
			if cat, ok := categorize(e, &before); ok {
				r.marked = true
				det := detail(e)
				if cat == catFailure && e.Type == events.Exited && !e.Stale && opts.StderrTail != nil {
					if tail := opts.StderrTail(e.Worker, e.Incarnation, e.Time); len(tail) > 0 {
						// One line in the marker's tip: the lines are escaped, so
						// no worker can end or style it, and "⏎" parts them.
						det += " · last lines of stderr: " + strings.Join(tail, " ⏎ ")
					}
				}
				m := marker{t: rel(e.Time), seq: e.Seq, cat: cat, typ: e.Type, stale: e.Stale, count: 1, mask: 1 << cat,
					cause: d.strs.id(e.Cause), actor: d.strs.id(e.Actor), detail: d.strs.id(det)}
				if l != nil {
					l.markers = append(l.markers, m)
				} else if e.Worker == "" {
					d.daemon = append(d.daemon, m)
				}
				marked.add(r, half)
			}
			if l != nil && !e.Stale {
				switch e.Type {
				case events.Exited, events.Lost, events.SpawnFailed:
					if e.Changes() {
						l.sum.exits++
						if !before.Flags.StopAsked {
							l.sum.failures++
						}
						l.sum.causes[exitCause(e)]++
					}
				}
			}
			recent.add(r, d.maxRows)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("report: read %s: %w", log.Path(), err)
		}
	}
	d.stats.Scanned = done
	if opts.Progress != nil {
		opts.Progress(done, total)
	}

	if selected != nil {
		var unknown []string
		for _, n := range opts.Workers {
			if world.Workers[n] == nil {
				unknown = append(unknown, n)
			}
		}
		if len(unknown) > 0 {
			return nil, fmt.Errorf("report: no worker %s in %s (it has %s)", strings.Join(quoteAll(unknown), ", "),
				log.Path(), listNames(world.Names(true), 10))
		}
	}

	sort.Slice(d.lanes, func(i, j int) bool { return d.lanes[i].name < d.lanes[j].name })
	end := d.t1.UnixNano() - t0
	for _, l := range d.lanes {
		l.spans = normalize(l.spans, end)
		for i, s := range l.spans {
			e := end
			if i+1 < len(l.spans) {
				e = l.spans[i+1].start
			}
			if st := s.code &^ mixedBit; int(st) < len(l.sum.inState) {
				l.sum.inState[st] += time.Duration(e - s.start)
			}
		}
		if w := world.Workers[l.name]; w != nil {
			l.sum.endState, l.sum.removed = w.State, w.Removed
		}
	}
	d.stats.Resolution = time.Duration(mergeToBudget(d.lanes, end, maxSpans))
	d.stats.Markers = bucketMarkers(d.lanes, end, maxMarkers) + len(d.daemon)
	d.stats.Workers = len(d.lanes)
	d.rows, d.recentRows = pickRows(recent.newestFirst(), marked.newestFirst(), d.maxRows)
	d.stats.Rows = len(d.rows)
	d.stats.Omitted = d.stats.Events - uint64(len(d.rows))
	return d, nil
}

func quoteAll(s []string) []string {
	out := make([]string, len(s))
	for i, x := range s {
		out[i] = fmt.Sprintf("%q", x)
	}
	return out
}

func listNames(names []string, n int) string {
	if len(names) == 0 {
		return "no workers"
	}
	if len(names) > n {
		return strings.Join(names[:n], ", ") + fmt.Sprintf(" and %d more", len(names)-n)
	}
	return strings.Join(names, ", ")
}

// categorize says whether an event gets a marker, and which. before is the
// worker as it was before the event.
func categorize(e *events.Event, before *fsm.Worker) (uint8, bool) {
	switch e.Type {
	case events.Exited, events.Lost, events.SpawnFailed:
		if e.Type == events.Exited && !e.Stale && before.Flags.StopAsked {
			return catExit, true
		}
		return catFailure, true
	case events.KillSent:
		return catKill, true
	case events.HookExited:
		if fsm.HookFailed(e) {
			return catFailure, true // a failed hook fails a start or stops the worker
		}
	case events.HealthFailed, events.HealthRecovered:
		return catHealth, true
	case events.LimitViolated:
		return catLimit, true
	case events.BreakerOpened, events.BreakerClosed:
		return catBreaker, true
	}
	if strings.HasPrefix(e.Actor, "cli") || e.Type == events.CommandRefused {
		return catOperator, true
	}
	if e.Worker == "" {
		return catDaemon, true
	}
	return 0, false
}

// detail is the short fact a marker shows besides its cause.
func detail(e *events.Event) string {
	switch {
	case e.ExitCode != nil:
		return fmt.Sprintf("exit code %d", *e.ExitCode)
	case e.Signal != 0:
		return "signal " + events.SignalName(e.Signal)
	case e.Resource != "":
		return fmt.Sprintf("%s %.4g > limit %.4g", e.Resource, e.Measured, e.Limit)
	}
	return ""
}

// exitCause is what the summary counts an exit under: its cause, or the
// facts when the cause is empty.
func exitCause(e *events.Event) string {
	if e.Cause != "" {
		return e.Cause
	}
	if s := detail(e); s != "" {
		return s
	}
	return e.Type.String()
}

// normalize drops bands that a later band at the same instant replaces and
// bands that start at or after the window's end.
func normalize(s []span, end int64) []span {
	out := s[:0]
	for _, x := range s {
		if x.start >= end && len(out) > 0 {
			break
		}
		if n := len(out); n > 0 && out[n-1].start == x.start {
			out[n-1] = x
			continue
		}
		if n := len(out); n > 0 && out[n-1].code == x.code {
			continue
		}
		out = append(out, x)
	}
	return out
}

// mergeToBudget merges every lane's bands to the finest resolution (a
// power-of-two fraction of the window) at which all lanes together fit in
// budget, and returns that resolution in ns, or 0 if the exact bands fit.
// Each merged bucket takes the state the worker spent most of it in, marked
// mixed when it was in more than one.
func mergeToBudget(lanes []*lane, end int64, budget int) int64 {
	total := 0
	for _, l := range lanes {
		total += len(l.spans)
	}
	if total <= budget || end <= 0 {
		return 0
	}
	for buckets := int64(1 << 16); buckets >= 16; buckets /= 2 {
		width := max(end/buckets, 1)
		merged := make([][]span, len(lanes))
		total = 0
		for i, l := range lanes {
			merged[i] = mergeSpans(l.spans, end, width)
			total += len(merged[i])
			if total > budget {
				break
			}
		}
		if total <= budget || buckets == 16 {
			for i, l := range lanes {
				if merged[i] == nil {
					merged[i] = mergeSpans(l.spans, end, width)
				}
				l.spans = merged[i]
			}
			return width
		}
	}
	return 0
}

// mergeSpans merges spans (ending at end) into buckets of width ns.
func mergeSpans(s []span, end, width int64) []span {
	var out []span
	var acc [mixedBit]int64
	cur := int64(-1) // bucket being accumulated
	emit := func(start int64, code uint8) {
		if n := len(out); n > 0 && out[n-1].code == code {
			return
		}
		out = append(out, span{start: start, code: code})
	}
	flush := func() {
		if cur < 0 {
			return
		}
		best, kinds := 0, 0
		for st := range acc {
			if acc[st] > 0 {
				kinds++
				if acc[st] > acc[best] {
					best = st
				}
			}
		}
		code := uint8(best)
		if kinds > 1 {
			code |= mixedBit
		}
		if kinds > 0 {
			emit(cur*width, code)
		}
		acc = [mixedBit]int64{}
		cur = -1
	}
	for i, x := range s {
		e := end
		if i+1 < len(s) {
			e = s[i+1].start
		}
		st := x.code &^ mixedBit
		for p := x.start; p < e; {
			b := p / width
			if b != cur {
				flush()
				// Whole buckets of one state need no accumulation.
				if p == b*width && e >= (b+1)*width {
					emit(p, st)
					p = e / width * width
					continue
				}
				cur = b
			}
			q := min(e, (b+1)*width)
			acc[st] += q - p
			p = q
		}
	}
	flush()
	return out
}

// bucketMarkers caps each lane's markers: a lane with more than its share of
// the budget keeps one marker per time bucket, the most severe (latest among
// equals), carrying the count and categories of the events it stands for.
// It returns the number of markers kept.
func bucketMarkers(lanes []*lane, end int64, budget int) int {
	per := minPerLane
	if len(lanes) > 0 {
		per = max(budget/len(lanes), minPerLane)
	}
	kept := 0
	for _, l := range lanes {
		if len(l.markers) > per {
			l.markers = bucket(l.markers, end, per)
		}
		kept += len(l.markers)
	}
	return kept
}

func bucket(ms []marker, end int64, n int) []marker {
	width := max(end/int64(n)+1, 1)
	var out []marker
	for _, m := range ms {
		k := len(out) - 1
		if k >= 0 && out[k].t/width == m.t/width {
			agg := &out[k]
			count, mask := agg.count+m.count, agg.mask|m.mask
			if m.cat >= agg.cat {
				*agg = m
			}
			agg.count, agg.mask = count, mask
			continue
		}
		out = append(out, m)
	}
	return out
}

// pickRows chooses the table: up to half of it the most recent marked
// events, the rest the most recent events, in seq order. It returns the
// rows and how many of them are there as most recent.
func pickRows(recent, marked []row, n int) ([]row, int) {
	seen := make(map[events.Seq]bool, n)
	var out []row
	for _, r := range marked {
		if len(out) >= n/2 {
			break
		}
		seen[r.seq] = true
		out = append(out, r)
	}
	fromRecent := 0
	for _, r := range recent {
		if len(out) >= n {
			break
		}
		if !seen[r.seq] {
			seen[r.seq] = true
			out = append(out, r)
			fromRecent++
		}
	}
	slices.SortFunc(out, func(a, b row) int {
		switch {
		case a.seq < b.seq:
			return -1
		case a.seq > b.seq:
			return 1
		}
		return 0
	})
	return out, fromRecent
}
