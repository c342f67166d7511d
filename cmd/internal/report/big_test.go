package report

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/tendhq/tend/events"
)

// TestMillionEvents measures a report of a 1,000,000-event log: 1,000
// workers cycling through start, spawn, running, exit and a scheduled
// restart. It takes a minute or so, so it runs only with TEND_REPORT_BIG=1;
// TEND_REPORT_BIG_OUT=FILE keeps the report.
func TestMillionEvents(t *testing.T) {
	if os.Getenv("TEND_REPORT_BIG") != "1" {
		t.Skip("set TEND_REPORT_BIG=1 to build and report a 1,000,000-event log")
	}
	const workers, total = 1000, 1_000_000
	b := newBuilder(t)
	start := time.Now()
	tm := base
	n := 0
	next := func(e events.Event) {
		tm = tm.Add(50 * time.Millisecond)
		e.Time = tm
		b.add(e)
		n++
		if len(b.batch) == 10_000 {
			b.flush()
		}
	}
	for w := range workers {
		next(events.Event{Type: events.WorkerAdded, Worker: fmt.Sprintf("worker-%04d", w), Actor: events.ActorDaemon})
	}
	causes := []string{"process exited with code 1", "process exited with code 2", "process killed by signal KILL", "process exited with code 0"}
	for round := 0; n < total; round++ {
		step := round % 5
		for w := 0; w < workers && n < total; w++ {
			name := fmt.Sprintf("worker-%04d", w)
			cycle := round / 5
			switch step {
			case 0:
				next(events.Event{Type: events.StartRequested, Worker: name, Actor: events.ActorPolicy, Cause: "restarting: backoff"})
			case 1:
				next(events.Event{Type: events.Spawned, Worker: name, Actor: events.ActorProcess, Details: events.Details{PID: 1000 + n%30000}})
			case 2:
				next(events.Event{Type: events.Ready, Worker: name, Actor: events.ActorDaemon, Cause: "running"})
			case 3:
				c := (cycle + w) % len(causes)
				next(events.Event{Type: events.Exited, Worker: name, Actor: events.ActorProcess, Cause: causes[c], Details: events.Details{ExitCode: events.IntPtr(c)}})
			case 4:
				next(events.Event{Type: events.RestartScheduled, Worker: name, Actor: events.ActorPolicy, Cause: "backoff", Details: events.Details{Delay: time.Second, Attempt: 1}})
			}
		}
	}
	b.flush()
	t.Logf("built %d events in %s", b.log.LastSeq(), time.Since(start).Round(time.Millisecond))
	if b.log.LastSeq() != total {
		t.Fatalf("log has %d events", b.log.LastSeq())
	}

	out := os.Getenv("TEND_REPORT_BIG_OUT")
	if out == "" {
		out = filepath.Join(t.TempDir(), "big.html")
	}
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	st, err := Write(f, b.log, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	t.Logf("report: %.1f MiB in %s; %+v", float64(st.Bytes)/(1<<20), took.Round(time.Millisecond), st)
	if st.Events != total || st.Workers != workers || st.Rows != DefaultMaxRows || st.Markers > maxMarkers+minPerLane {
		t.Errorf("stats %+v", st)
	}
	if st.Bytes > 20<<20 {
		t.Errorf("report is %d bytes, want under 20 MiB", st.Bytes)
	}

	if _, err := chromiumPath(); err == nil {
		start = time.Now()
		dom, err := dumpDOM(context.Background(), "file://"+out)
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(`data-ready-ms="(\d+)"`).FindStringSubmatch(dom)
		if m == nil {
			t.Fatal("the page's script did not finish")
		}
		t.Logf("chromium: page usable %s ms after navigation; whole run %s (browser start-up and a %.1f MiB DOM dump included)",
			m[1], time.Since(start).Round(time.Millisecond), float64(len(dom))/(1<<20))
	}
}
