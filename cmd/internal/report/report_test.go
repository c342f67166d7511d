package report

import (
	"bytes"
	"errors"
	"html"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/events"
)

var (
	laneRE    = regexp.MustCompile(`<div class="lane" data-worker="([^"]*)">`)
	rowRE     = regexp.MustCompile(`<tr data-seq="(\d+)" data-worker="([^"]*)" data-type="([^"]*)" data-t="(\d+)"`)
	summaryRE = regexp.MustCompile(`<tr data-worker="([^"]*)">(.*?)</tr>`)
	cellRE    = regexp.MustCompile(`<td class="(\w+)"(?: data-v="(-?\d+)")?>(.*?)</td>`)
	durRE     = regexp.MustCompile(`<td class="dur" data-v="(\d+)">`)
)

func TestKnownLog(t *testing.T) {
	log := knownLog(t)
	out, st := render1(t, log, Options{Title: "incident 42"})
	s := string(out)

	if got := laneRE.FindAllStringSubmatch(s, -1); len(got) != 3 || got[0][1] != "api" || got[1][1] != "cron" || got[2][1] != "web" {
		t.Errorf("lanes = %v, want api, cron, web", got)
	}
	if !strings.Contains(s, `<div class="daemon-lane" data-worker="">`) {
		t.Error("no daemon lane")
	}
	if st.Events != 29 || st.Rows != 29 || st.Omitted != 0 || st.Workers != 3 || st.Resolution != 0 {
		t.Errorf("stats = %+v", st)
	}
	if !strings.Contains(s, "<title>incident 42</title>") {
		t.Error("title missing")
	}

	// Every event is a row, in seq order, with its worker, type and time.
	rows := rowRE.FindAllStringSubmatch(s, -1)
	if len(rows) != 29 {
		t.Fatalf("%d rows, want 29", len(rows))
	}
	for i, r := range rows {
		seq := atoi(t, r[1])
		if seq != int64(i+1) {
			t.Errorf("row %d has seq %d", i, seq)
		}
		if want := (seq - 1) * 60_000; atoi(t, r[4]) != want {
			t.Errorf("row %d data-t = %s, want %d", seq, r[4], want)
		}
	}
	if rows[11][2] != "api" || rows[11][3] != "exited" || rows[21][3] != "breaker_opened" || rows[0][2] != "" {
		t.Errorf("rows 12/22/1 = %v %v %v", rows[11][1:], rows[21][1:], rows[0][1:])
	}
	// Causes are escaped, in the table and in the data.
	if strings.Contains(s, "restarts <script>") || !strings.Contains(s, "too many restarts &lt;script&gt;") {
		t.Error("a cause is not escaped in the table")
	}

	p := decodePage(t, out)
	if p.T0 != at(1).UnixMilli() || p.Span != 28*60_000 {
		t.Errorf("window = %d + %d, want %d + %d", p.T0, p.Span, at(1).UnixMilli(), 28*60_000)
	}
	got := map[string][]int{}
	for _, m := range p.marks(p.Daemon) {
		got[""] = append(got[""], int(m.seq))
	}
	for i, l := range p.Lanes {
		for _, m := range p.marks(l.Marks) {
			got[l.Name] = append(got[l.Name], int(m.seq))
			if m.t != (m.seq-1)*60_000 || m.count != 1 {
				t.Errorf("%s marker %d at %d count %d", l.Name, m.seq, m.t, m.count)
			}
		}
		_ = i
	}
	for lane, want := range knownMarkers {
		if !slices.Equal(got[lane], want) {
			t.Errorf("markers of %q = %v, want %v", lane, got[lane], want)
		}
	}
	// The details a marker shows.
	apiMarks := p.marks(p.Lanes[0].Marks)
	m12 := apiMarks[0]
	if p.Types[m12.typ] != "exited" || p.Cats[m12.cat] != "failure" || m12.cause != "process exited with code 1" ||
		m12.actor != events.ActorProcess || m12.detail != "exit code 1" {
		t.Errorf("marker 12 = %+v", m12)
	}
	cronMarks := p.marks(p.Lanes[1].Marks)
	if p.Cats[cronMarks[0].cat] != "limit" || p.Cats[cronMarks[1].cat] != "operator" || cronMarks[1].actor != operator ||
		p.Cats[cronMarks[2].cat] != "exit" {
		t.Errorf("cron markers = %+v", cronMarks)
	}
	if c := p.Cats[apiMarks[3].cat]; c != "breaker" || apiMarks[3].cause != "too many restarts <script>" {
		t.Errorf("marker 22 = %+v (%s)", apiMarks[3], c)
	}

	// Bands: the fold's states at the events' times.
	wantBands := map[string][]band{
		"api":  {{2 * 60e3, 1}, {5 * 60e3, 2}, {7 * 60e3, 3}, {11 * 60e3, 1}, {13 * 60e3, 2}, {15 * 60e3, 3}, {20 * 60e3, 1}},
		"cron": {{3 * 60e3, 1}, {8 * 60e3, 2}, {10 * 60e3, 3}, {18 * 60e3, 4}, {19 * 60e3, 1}},
		"web":  {{4 * 60e3, 1}, {22 * 60e3, 2}, {24 * 60e3, 3}, {25 * 60e3, 4}, {27 * 60e3, 5}},
	}
	for i, l := range p.Lanes {
		if b := p.bands(i); !slices.Equal(b, wantBands[l.Name]) {
			t.Errorf("bands of %s = %v, want %v", l.Name, b, wantBands[l.Name])
		}
	}

	// The summary.
	sum := summaries(t, s)
	check := func(worker, col, want string) {
		t.Helper()
		if got := sum[worker][col]; got != want {
			t.Errorf("summary %s %s = %q, want %q", worker, col, got, want)
		}
	}
	check("api", "restarts", "1")
	check("api", "exits", "2")
	check("api", "failures", "2")
	check("api", "state", "Stopped")
	check("api", "mtbf", strconv.FormatInt((9*time.Minute/2).Nanoseconds(), 10)) // Running 7–11 and 15–20: 9 minutes over 2 failures
	check("api", "causes", `<span class="cause" data-n="2">2× process exited with code 1</span>`)
	check("cron", "restarts", "0")
	check("cron", "exits", "1")
	check("cron", "failures", "0")
	check("cron", "mtbf", "-1")
	check("web", "state", "Killed")
	check("web", "failures", "0")
	check("web", "events", "7")
	// Time in each state adds up to the lane's part of the window.
	durs := durRE.FindAllStringSubmatch(summaryRE.FindAllStringSubmatch(s, -1)[0][2], -1)
	var total int64
	var inState []int64
	for _, d := range durs {
		total += atoi(t, d[1])
		inState = append(inState, atoi(t, d[1]))
	}
	if want := []int64{int64(13 * time.Minute), int64(4 * time.Minute), int64(9 * time.Minute), 0, 0}; !slices.Equal(inState, want) {
		t.Errorf("api time in states = %v, want %v", inState, want)
	}
	if total != int64(26*time.Minute) {
		t.Errorf("api time in states sums to %v, want 26m (from its worker_added to the end)", time.Duration(total))
	}
}

// summaries maps worker → column class → value (data-v when present, else
// the cell's contents).
func summaries(t *testing.T, s string) map[string]map[string]string {
	t.Helper()
	out := map[string]map[string]string{}
	for _, r := range summaryRE.FindAllStringSubmatch(s, -1) {
		cols := map[string]string{}
		for _, c := range cellRE.FindAllStringSubmatch(r[2], -1) {
			if c[2] != "" {
				cols[c[1]] = c[2]
			} else {
				cols[c[1]] = html.UnescapeString(c[3])
			}
		}
		out[r[1]] = cols
	}
	return out
}

// A window that starts mid-log still shows the states the workers were in
// when it opened: the fold runs from the start of the log.
func TestWindowStatesBeforeSince(t *testing.T) {
	log := knownLog(t)
	out, st := render1(t, log, Options{Since: at(17), Until: at(25)})
	p := decodePage(t, out)
	if p.T0 != at(17).UnixMilli() || p.Span != 8*60e3 {
		t.Errorf("window %d+%d", p.T0, p.Span)
	}
	if st.Events != 9 { // seqs 17..25
		t.Errorf("Events = %d, want 9", st.Events)
	}
	rows := rowRE.FindAllStringSubmatch(string(out), -1)
	if len(rows) != 9 || rows[0][1] != "17" || rows[8][1] != "25" {
		t.Errorf("rows %v..%v, want 17..25", rows[0][1], rows[len(rows)-1][1])
	}
	want := map[string][]band{
		"api":  {{0, 3}, {4 * 60e3, 1}},                // Running since seq 16, exits at 21
		"cron": {{0, 3}, {2 * 60e3, 4}, {3 * 60e3, 1}}, // Running, stop at 19, exit at 20
		"web":  {{0, 1}, {6 * 60e3, 2}},                // Stopped until the operator's start at 23; Running only at the window's end
	}
	for i, l := range p.Lanes {
		if b := p.bands(i); !slices.Equal(b, want[l.Name]) {
			t.Errorf("bands of %s = %v, want %v", l.Name, b, want[l.Name])
		}
	}
	sum := summaries(t, string(out))
	if sum["api"]["restarts"] != "0" || sum["api"]["failures"] != "1" {
		t.Errorf("api in window: %v", sum["api"])
	}
}

func TestWorkerFilter(t *testing.T) {
	log := knownLog(t)
	out, st := render1(t, log, Options{Workers: []string{"cron"}})
	lanes := laneRE.FindAllStringSubmatch(string(out), -1)
	if len(lanes) != 1 || lanes[0][1] != "cron" || st.Workers != 1 {
		t.Errorf("lanes = %v", lanes)
	}
	for _, r := range rowRE.FindAllStringSubmatch(string(out), -1) {
		if r[2] != "cron" && r[2] != "" {
			t.Errorf("row %s of worker %q in a cron report", r[1], r[2])
		}
	}
	// cron's 7 events (added, start, spawned, running, limit, stop, exit)
	// and the 3 daemon-level ones.
	if st.Events != 7+3 {
		t.Errorf("Events = %d, want 10", st.Events)
	}

	_, err := Write(&bytes.Buffer{}, log, Options{Workers: []string{"cron", "nope"}})
	if err == nil || !strings.Contains(err.Error(), `"nope"`) || !strings.Contains(err.Error(), "api, cron, web") {
		t.Errorf("unknown worker: err = %v", err)
	}
	_, err = Write(&bytes.Buffer{}, log, Options{Since: at(10), Until: at(5)})
	if err == nil {
		t.Error("until before since: no error")
	}
}

// The table is capped; the marked events and the most recent ones stay, and
// the page says how many were left out and how to narrow.
func TestTableCap(t *testing.T) {
	log := knownLog(t)
	out, st := render1(t, log, Options{MaxRows: 10})
	rows := rowRE.FindAllStringSubmatch(string(out), -1)
	var seqs []int
	for _, r := range rows {
		seqs = append(seqs, int(atoi(t, r[1])))
	}
	// The five most recent marked events (23, 26, 27, 28, 29), then the
	// most recent of the rest (25, 24, 22, 21, 20).
	want := []int{20, 21, 22, 23, 24, 25, 26, 27, 28, 29}
	if !slices.Equal(seqs, want) || st.Rows != 10 || st.Omitted != 19 {
		t.Errorf("rows = %v (stats %+v), want %v", seqs, st, want)
	}
	if !strings.Contains(string(out), "19 are left out") || !strings.Contains(string(out), "--worker") {
		t.Error("no note about the rows left out")
	}
	// Marked events older than the most recent make it in: up to seq 16, a
	// cap of 4 keeps the 2 most recent marked (2, 12) and 2 most recent (15, 16).
	out, _ = render1(t, log, Options{MaxRows: 4, Until: at(16)})
	seqs = nil
	for _, r := range rowRE.FindAllStringSubmatch(string(out), -1) {
		seqs = append(seqs, int(atoi(t, r[1])))
	}
	if want := []int{2, 12, 15, 16}; !slices.Equal(seqs, want) {
		t.Errorf("rows = %v, want %v", seqs, want)
	}
}

// The report is self-contained: nothing is fetched.
func TestSelfContained(t *testing.T) {
	out, _ := render1(t, knownLog(t), Options{})
	s := string(out)
	for _, bad := range []string{"http://", "https://", "src=", "@import", "url(", "<link"} {
		if strings.Contains(s, bad) {
			t.Errorf("report contains %q", bad)
		}
	}
	for _, id := range []string{`id="timeline"`, `id="events"`, `id="summary"`} {
		if !strings.Contains(s, id) {
			t.Errorf("report lacks %s", id)
		}
	}
}

func TestEmptyLog(t *testing.T) {
	b := newBuilder(t)
	out, st := render1(t, b.log, Options{})
	if st.Events != 0 || st.Workers != 0 || !strings.Contains(string(out), `id="timeline"`) {
		t.Errorf("empty log: %+v", st)
	}
	decodePage(t, out)
}

func TestProgress(t *testing.T) {
	var last, total uint64
	calls := 0
	_, err := Write(&bytes.Buffer{}, knownLog(t), Options{Progress: func(d, tot uint64) { last, total = d, tot; calls++ }})
	if err != nil || calls == 0 || last != 29 || total != 29 {
		t.Errorf("progress: %d calls, last %d/%d, err %v", calls, last, total, err)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteError(t *testing.T) {
	_, err := Write(failWriter{}, knownLog(t), Options{})
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("err = %v", err)
	}
}

func TestMergeSpans(t *testing.T) {
	// 0-10 Running, 10-12 Stopped, 12-13 Starting, 13-40 Running; buckets of 10.
	in := []span{{0, 3}, {10, 1}, {12, 2}, {13, 3}}
	got := mergeSpans(in, 40, 10)
	// Bucket 0 is all Running; bucket 1 is mostly Running (7 of 10) but mixed;
	// buckets 2-3 Running.
	want := []span{{0, 3}, {10, 3 | mixedBit}, {20, 3}}
	if !slices.Equal(got, want) {
		t.Errorf("mergeSpans = %v, want %v", got, want)
	}
	// Exact when the buckets are finer than the bands.
	if got := mergeSpans(in, 40, 1); !slices.Equal(got, in) {
		t.Errorf("fine merge = %v, want %v", got, in)
	}
}

func TestMergeToBudget(t *testing.T) {
	var lanes []*lane
	for range 10 {
		l := &lane{}
		for i := range 1000 {
			l.spans = append(l.spans, span{int64(i * 100), uint8(1 + i%3)})
		}
		lanes = append(lanes, l)
	}
	res := mergeToBudget(lanes, 100_000, 5000)
	total := 0
	for _, l := range lanes {
		total += len(l.spans)
		for i := 1; i < len(l.spans); i++ {
			if l.spans[i].start <= l.spans[i-1].start {
				t.Fatalf("spans out of order: %v", l.spans[i-1:i+1])
			}
		}
	}
	if res == 0 || total > 5000 || total < 500 {
		t.Errorf("resolution %d, %d spans, want within 5000 and not collapsed", res, total)
	}
}

func TestBucketMarkers(t *testing.T) {
	var ms []marker
	for i := range 1000 {
		cat := uint8(catOperator)
		if i == 7 {
			cat = catFailure
		}
		ms = append(ms, marker{t: int64(i), seq: events.Seq(i + 1), cat: cat, count: 1, mask: 1 << cat})
	}
	l := &lane{markers: ms}
	kept := bucketMarkers([]*lane{l}, 1000, 100)
	if kept != len(l.markers) || kept > 100 {
		t.Fatalf("kept %d markers (%d), want at most 100", kept, len(l.markers))
	}
	n := 0
	for _, m := range l.markers {
		n += m.count
	}
	if n != 1000 {
		t.Errorf("aggregated markers count %d events, want 1000", n)
	}
	if m := l.markers[0]; m.seq != 8 || m.cat != catFailure || m.mask != 1<<catFailure|1<<catOperator {
		t.Errorf("first bucket = %+v, want the failure (seq 8) to represent it with both categories", m)
	}
}
