package top

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/tendhq/tend/cmd/internal/client"
	"github.com/tendhq/tend/events"
)

var t0 = time.Date(2026, 12, 6, 3, 14, 0, 0, time.UTC)

func ev(seq events.Seq, worker, typ, from, to string, f func(*events.JSON)) events.JSON {
	e := events.JSON{Seq: seq, Time: t0.Add(time.Duration(seq) * time.Second).Format(time.RFC3339Nano),
		Worker: worker, Type: typ, From: from, To: to, Actor: "daemon", Cause: typ + " cause"}
	if f != nil {
		f(&e)
	}
	return e
}

func running(name string, pid int) client.WorkerStatus {
	return client.WorkerStatus{Name: name, State: "Running", PID: pid, Incarnation: 1, Since: t0}
}

func names(rs []*row) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Name
	}
	return out
}

// A restart as the daemon records it, folded event by event: the row
// shows each state, the end of the old pid, the new pid, the restart and
// who asked, before any status answer comes.
func TestEventsUpdateTheRow(t *testing.T) {
	tb := newTable()
	tb.applyStatus(&client.Status{Seq: 10, Workers: []client.WorkerStatus{running("web", 100), running("db", 200)}})
	steps := []struct {
		e     events.JSON
		state string
		pid   int
	}{
		{ev(11, "web", "restart_requested", "Running", "Stopping", func(e *events.JSON) { e.Actor = "cli uid=1000" }), "Stopping", 100},
		{ev(12, "web", "signal_sent", "", "", nil), "Stopping", 100},
		{ev(13, "web", "exited", "Stopping", "Stopped", func(e *events.JSON) { e.Signal = "TERM" }), "Stopped", 0},
		{ev(14, "web", "start_requested", "Stopped", "Starting", func(e *events.JSON) { e.Incarnation = 2; e.Actor = "cli uid=1000" }), "Starting", 0},
		{ev(15, "web", "spawned", "", "", func(e *events.JSON) { e.Incarnation = 2; e.PID = 101 }), "Starting", 101},
		{ev(16, "web", "running", "Starting", "Running", func(e *events.JSON) { e.Incarnation = 2 }), "Running", 101},
	}
	for _, s := range steps {
		if !tb.applyEvent(&s.e) {
			t.Fatalf("seq %d (%s) not applied", s.e.Seq, s.e.Type)
		}
		r := tb.rows["web"]
		if r.State != s.state || r.PID != s.pid {
			t.Fatalf("after %s: state %s pid %d, want %s %d", s.e.Type, r.State, r.PID, s.state, s.pid)
		}
	}
	r := tb.rows["web"]
	if r.Restarts != 1 || r.Incarnation != 2 || !r.Since.Equal(t0.Add(16*time.Second)) || r.LastExit == nil || r.LastExit.Signal != "TERM" {
		t.Errorf("web after the restart: %+v", r.WorkerStatus)
	}
	if tb.rows["db"].PID != 200 || tb.rows["db"].State != "Running" {
		t.Errorf("db changed by web's events: %+v", tb.rows["db"].WorkerStatus)
	}
	if tb.seq != 16 {
		t.Errorf("seq %d, want 16", tb.seq)
	}
}

// What only a status answer says right (restarts by policy, health...),
// and what must not be applied twice or out of order.
func TestEventsStaleDuplicateAndOther(t *testing.T) {
	tb := newTable()
	tb.applyStatus(&client.Status{Seq: 5, Workers: []client.WorkerStatus{running("web", 100)}})
	old := ev(5, "web", "exited", "Running", "Stopped", nil)
	if tb.applyEvent(&old) || tb.rows["web"].State != "Running" {
		t.Fatal("an event the status answer already covers was applied")
	}
	stale := ev(6, "web", "exited", "", "", func(e *events.JSON) { e.Stale = true })
	tb.applyEvent(&stale)
	if r := tb.rows["web"]; r.State != "Running" || r.PID != 100 {
		t.Fatalf("a stale exit changed the row: %+v", r.WorkerStatus)
	}
	for _, e := range []events.JSON{
		ev(7, "web", "health_failed", "", "", nil),
		ev(8, "", "config_loaded", "", "", nil),
		ev(9, "web", "notified", "", "", func(e *events.JSON) { e.Policy = "STATUS"; e.Text = "warming up" }),
	} {
		tb.applyEvent(&e)
	}
	if r := tb.rows["web"]; r.Health != "failing" || r.StatusText != "warming up" {
		t.Errorf("health and STATUS not mirrored: %+v", r.WorkerStatus)
	}
	added := ev(10, "new", "worker_added", "", "", nil)
	tb.applyEvent(&added)
	if r := tb.rows["new"]; r == nil || r.State != "Stopped" {
		t.Fatalf("worker_added made no Stopped row: %+v", r)
	}
	removed := ev(11, "new", "worker_removed", "", "", nil)
	tb.applyEvent(&removed)
	if tb.rows["new"] != nil {
		t.Error("worker_removed left its row")
	}
	sched := ev(12, "web", "restart_scheduled", "", "", func(e *events.JSON) { e.DelayMS = 1500 })
	tb.applyEvent(&sched)
	if d := tb.rows["web"].RestartDue; d == nil || !d.Equal(t0.Add(12*time.Second+1500*time.Millisecond)) {
		t.Errorf("restart due %v", d)
	}
}

// A status answer older than an event already applied does not undo the
// event (but its samples are taken while the pid is the same); a newer
// answer replaces the row, and drops workers it no longer names.
func TestStatusDoesNotUndoNewerEvents(t *testing.T) {
	tb := newTable()
	tb.applyStatus(&client.Status{Seq: 10, Workers: []client.WorkerStatus{running("web", 100), running("db", 200)}})
	e := ev(12, "web", "exited", "Running", "Stopped", nil)
	tb.applyEvent(&e)
	late := client.Status{Seq: 11, Workers: []client.WorkerStatus{running("web", 100), running("db", 200)}}
	late.Workers[1].RSSBytes, late.Workers[1].CPUPercent = 5<<20, 12.5
	tb.applyStatus(&late)
	if r := tb.rows["web"]; r.State != "Stopped" || r.PID != 0 {
		t.Fatalf("an older status answer undid seq 12: %+v", r.WorkerStatus)
	}
	if r := tb.rows["db"]; r.RSSBytes != 5<<20 || r.CPUPercent != 12.5 {
		t.Errorf("db's samples not taken: %+v", r.WorkerStatus)
	}
	newer := client.Status{Seq: 13, Workers: []client.WorkerStatus{running("web", 300)}}
	newer.Workers[0].Restarts = 7
	tb.applyStatus(&newer)
	if r := tb.rows["web"]; r.State != "Running" || r.PID != 300 || r.Restarts != 7 {
		t.Errorf("a newer status answer did not replace the row: %+v", r.WorkerStatus)
	}
	if tb.rows["db"] != nil {
		t.Error("a worker the newer answer does not name is still shown")
	}
	if tb.seq != 13 {
		t.Errorf("seq %d, want 13 (the stream resumes after the answer)", tb.seq)
	}
}

func TestSortAndFilter(t *testing.T) {
	tb := newTable()
	st := client.Status{Seq: 1}
	for i, n := range []string{"delta", "alpha", "Charlie", "bravo"} {
		w := running(n, 100+i)
		w.CPUPercent = []float64{5, 50, 0.5, 50}[i]
		w.RSSBytes = []uint64{300, 100, 400, 200}[i]
		w.Restarts = []int{1, 9, 3, 0}[i]
		st.Workers = append(st.Workers, w)
	}
	st.Workers[3].State = "Killed"
	tb.applyStatus(&st)
	for _, c := range []struct {
		k    SortKey
		desc bool
		want []string
	}{
		{ByName, false, []string{"alpha", "bravo", "Charlie", "delta"}},
		{ByName, true, []string{"delta", "Charlie", "bravo", "alpha"}},
		{ByCPU, false, []string{"alpha", "bravo", "delta", "Charlie"}}, // ties by name
		{ByMemory, false, []string{"Charlie", "delta", "bravo", "alpha"}},
		{ByRestarts, false, []string{"alpha", "Charlie", "delta", "bravo"}},
		{ByRestarts, true, []string{"bravo", "delta", "Charlie", "alpha"}},
	} {
		tb.setSort(c.k, c.desc)
		if got := names(tb.view()); !slices.Equal(got, c.want) {
			t.Errorf("sort %s desc=%v: %v, want %v", c.k, c.desc, got, c.want)
		}
	}
	tb.setSort(ByName, false)
	for f, want := range map[string][]string{
		"AR":     {"Charlie"},
		"a":      {"alpha", "bravo", "Charlie", "delta"},
		"killed": {"bravo"}, // by state
		"zzz":    {},
		"":       {"alpha", "bravo", "Charlie", "delta"},
	} {
		tb.setFilter(f)
		if got := names(tb.view()); !slices.Equal(got, want) {
			t.Errorf("filter %q: %v, want %v", f, got, want)
		}
	}
}

// The list is rebuilt only after a change, and 1,000 workers take well
// under a frame to sort.
func BenchmarkViewThousand(b *testing.B) {
	tb := newTable()
	st := client.Status{Seq: 1}
	for i := range 1000 {
		w := running(fmt.Sprintf("w%04d", i), 1000+i)
		w.CPUPercent = float64(i % 37)
		st.Workers = append(st.Workers, w)
	}
	tb.applyStatus(&st)
	tb.setSort(ByCPU, false)
	for i := 0; b.Loop(); i++ {
		e := ev(events.Seq(2+i), fmt.Sprintf("w%04d", i%1000), "spawned", "", "", func(e *events.JSON) { e.PID = i })
		tb.applyEvent(&e)
		tb.view()
	}
}
