package report

import (
	"bufio"
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tendhq/tend/events"
)

//go:embed page.html
var pageHTML string

//go:embed report.css
var reportCSS string

//go:embed report.js
var reportJS string

// page is what the template sees.
type page struct {
	Title, Path, Generated, From, To string
	Events, Scanned                  string
	Notes                            []string
	TableNote                        string
	CSS                              template.CSS
	JS                               template.JS
	Data                             template.JS
	Lanes                            []string
	Rows                             []pageRow
	Summary                          []pageSummary
	States                           []string
	Legend                           []legendState
	Types                            []string
	Workers                          []string
	Cats                             []string
}

type legendState struct {
	Code int
	Name string
}

type pageRow struct {
	Seq                                                 events.Seq
	T                                                   int64 // ms after the window's start
	Time, Worker, Type, Transition, Actor, Cause, Facts string
	Inc                                                 events.Incarnation
	Class                                               string
}

type pageSummary struct {
	Worker, State             string
	Restarts, Exits, Failures int
	InState                   []durCell
	MTBF                      durCell
	Causes                    []causeCount
	Events                    uint64
}

type durCell struct {
	Text string
	V    int64 // ns, for sorting; -1 when undefined
}

type causeCount struct {
	Cause string
	N     int
}

func render(w io.Writer, d *data) error {
	tmpl, err := template.New("page").Parse(pageHTML)
	if err != nil {
		return fmt.Errorf("parse page template: %w", err)
	}
	js, err := dataJSON(d)
	if err != nil {
		return err
	}
	p := page{
		Title: d.title, Path: d.path, Generated: d.generated.Format("2006-01-02 15:04:05 UTC"),
		From: fmtTime(d.t0), To: fmtTime(d.t1),
		Events: commas(d.stats.Events), Scanned: commas(d.stats.Scanned),
		CSS: template.CSS(reportCSS), JS: template.JS(reportJS), Data: template.JS(js),
		Cats: catNames[:],
	}
	for _, s := range events.States() {
		p.States = append(p.States, s.String())
		p.Legend = append(p.Legend, legendState{Code: int(s), Name: s.String()})
	}
	seenType := map[events.Type]bool{}
	for _, l := range d.lanes {
		p.Lanes = append(p.Lanes, l.name)
		p.Workers = append(p.Workers, l.name)
	}
	for _, r := range d.rows {
		seenType[r.typ] = true
		pr := pageRow{Seq: r.seq, T: (r.t.UnixNano() - d.t0.UnixNano()) / 1e6, Time: fmtTime(r.t), Worker: r.worker,
			Type: r.typ.String(), Actor: r.actor, Cause: r.cause, Facts: r.facts.Summary(), Inc: r.inc}
		if r.to != 0 {
			pr.Transition = r.from.String() + " → " + r.to.String()
		}
		var cls []string
		if r.marked {
			cls = append(cls, "marked")
		}
		if r.stale {
			cls = append(cls, "stale")
		}
		pr.Class = strings.Join(cls, " ")
		p.Rows = append(p.Rows, pr)
	}
	for _, t := range events.Types() {
		if seenType[t] {
			p.Types = append(p.Types, t.String())
		}
	}
	for _, l := range d.lanes {
		p.Summary = append(p.Summary, summarize(l))
	}
	if d.stats.Resolution > 0 {
		p.Notes = append(p.Notes, fmt.Sprintf("State bands are merged to a resolution of %s (paler where a worker was in several states); narrow the window with --since/--until or --worker for exact bands.",
			roundDur(d.stats.Resolution)))
	}
	aggregated := 0
	for _, l := range d.lanes {
		for _, m := range l.markers {
			if m.count > 1 {
				aggregated++
			}
		}
	}
	if aggregated > 0 {
		p.Notes = append(p.Notes, fmt.Sprintf("%s markers stand for several events each (their count is shown on hover); narrow with --since/--until or --worker to see every one.",
			commas(uint64(aggregated))))
	}
	if d.stats.Omitted > 0 {
		p.TableNote = fmt.Sprintf("The table holds %s of the %s events in the window: the %s most recent marked events (exits, health, limits, breaker, operator commands) and the %s most recent events besides those; %s are left out. Narrow with --since/--until or --worker NAME to see them.",
			commas(uint64(len(d.rows))), commas(d.stats.Events), commas(uint64(len(d.rows)-d.recentRows)), commas(uint64(d.recentRows)), commas(d.stats.Omitted))
	}
	bw := bufio.NewWriterSize(w, 1<<16)
	if err := tmpl.Execute(bw, p); err != nil {
		return err
	}
	return bw.Flush()
}

func summarize(l *lane) pageSummary {
	s := pageSummary{Worker: l.name, State: l.sum.endState.String(), Restarts: l.sum.restarts,
		Exits: l.sum.exits, Failures: l.sum.failures, Events: l.sum.events}
	if l.sum.removed {
		s.State += " (removed)"
	}
	for _, st := range events.States() {
		v := l.sum.inState[st]
		s.InState = append(s.InState, durCell{Text: roundDur(v), V: int64(v)})
	}
	// Mean time between failures: time running divided by the failures,
	// the usual operational definition; undefined without a failure.
	if s.Failures > 0 {
		v := l.sum.inState[events.Running] / time.Duration(s.Failures)
		s.MTBF = durCell{Text: roundDur(v), V: int64(v)}
	} else {
		s.MTBF = durCell{Text: "—", V: -1}
	}
	for c, n := range l.sum.causes {
		s.Causes = append(s.Causes, causeCount{Cause: c, N: n})
	}
	slices.SortFunc(s.Causes, func(a, b causeCount) int {
		if a.N != b.N {
			return b.N - a.N
		}
		return strings.Compare(a.Cause, b.Cause)
	})
	if len(s.Causes) > 3 {
		s.Causes = s.Causes[:3]
	}
	return s
}

// dataJSON is the timeline's data. Bands and markers are flat arrays of
// integers with times as deltas in milliseconds, which keeps a million-event
// report to a few megabytes and lets the page decode it into typed arrays.
func dataJSON(d *data) ([]byte, error) {
	var b []byte
	str := func(s string) {
		q, _ := json.Marshal(s) // a string always marshals; < > & come out escaped
		b = append(b, q...)
	}
	strs := func(list []string) {
		b = append(b, '[')
		for i, s := range list {
			if i > 0 {
				b = append(b, ',')
			}
			str(s)
		}
		b = append(b, ']')
	}
	t0 := d.t0.UnixNano()
	b = append(b, `{"t0":`...)
	b = strconv.AppendInt(b, t0/1e6, 10)
	b = append(b, `,"span":`...)
	b = strconv.AppendInt(b, (d.t1.UnixNano()-t0)/1e6, 10)
	b = append(b, `,"res":`...)
	b = strconv.AppendInt(b, int64(d.stats.Resolution/time.Millisecond), 10)
	states := []string{""}
	for _, s := range events.States() {
		states = append(states, s.String())
	}
	b = append(b, `,"states":`...)
	strs(states)
	types := []string{""}
	for _, t := range events.Types() {
		types = append(types, t.String())
	}
	b = append(b, `,"types":`...)
	strs(types)
	b = append(b, `,"cats":`...)
	strs(catNames[:])
	b = append(b, `,"strs":`...)
	strs(d.strs.list)
	b = append(b, `,"daemon":`...)
	b = marks(b, d.daemon)
	b = append(b, `,"lanes":[`...)
	for i, l := range d.lanes {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":`...)
		str(l.name)
		b = append(b, `,"bands":[`...)
		prev := int64(0)
		for j, s := range l.spans {
			if j > 0 {
				b = append(b, ',')
			}
			ms := s.start / 1e6
			b = strconv.AppendInt(b, ms-prev, 10)
			b = append(b, ',')
			b = strconv.AppendInt(b, int64(s.code), 10)
			prev = ms
		}
		b = append(b, `],"marks":`...)
		b = marks(b, l.markers)
		b = append(b, '}')
	}
	b = append(b, "]}"...)
	return b, nil
}

// marks appends markers as 9 integers each: time (ms, delta from the
// previous marker), seq, category, type, cause, actor, detail (string
// table indexes), count, flags (bit 0 stale, bits 1.. the categories).
func marks(b []byte, ms []marker) []byte {
	b = append(b, '[')
	prev := int64(0)
	for i, m := range ms {
		if i > 0 {
			b = append(b, ',')
		}
		t := m.t / 1e6
		flags := int64(m.mask) << 1
		if m.stale {
			flags |= 1
		}
		for k, v := range []int64{t - prev, int64(m.seq), int64(m.cat), int64(m.typ), int64(m.cause),
			int64(m.actor), int64(m.detail), int64(m.count), flags} {
			if k > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendInt(b, v, 10)
		}
		prev = t
	}
	return append(b, ']')
}

func fmtTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.000") }

// roundDur renders a duration to three significant figures or so, for people.
func roundDur(d time.Duration) string {
	switch {
	case d <= 0:
		return "0s"
	case d >= 48*time.Hour:
		return fmt.Sprintf("%.1fd", d.Hours()/24)
	case d >= time.Hour:
		return fmt.Sprintf("%.1fh", d.Hours())
	case d >= time.Minute:
		return fmt.Sprintf("%.1fm", d.Minutes())
	case d >= time.Second:
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	return d.Round(time.Microsecond).String()
}

func commas(n uint64) string {
	s := strconv.FormatUint(n, 10)
	var out []byte
	for i := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}
