package export

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/tendhq/tend/cmd/internal/config"
	"github.com/tendhq/tend/cmd/internal/fleet"
	"github.com/tendhq/tend/cmd/internal/natsio/natstest"
	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/store"
)

var t0 = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

func openLog(t testing.TB) *store.Log {
	t.Helper()
	l, err := store.Open(filepath.Join(t.TempDir(), "tend.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// appendN appends n events over a few workers (and daemon-level ones).
func appendN(t testing.TB, l *store.Log, n int) {
	t.Helper()
	evs := make([]*events.Event, n)
	base := int(l.LastSeq())
	for i := range evs {
		w := fmt.Sprintf("w%d.x", (base+i)%5) // a dot, as worker names may have
		if (base+i)%7 == 0 {
			w = ""
		}
		evs[i] = &events.Event{Time: t0.Add(time.Duration(base+i) * time.Millisecond), Worker: w, Type: events.Exited,
			Actor: events.ActorProcess, Cause: "test", Details: events.Details{PID: 1000 + i, ExitCode: events.IntPtr(1)}}
	}
	if err := l.AppendWait(evs...); err != nil {
		t.Fatal(err)
	}
}

func natsConfig(url string) *config.NATS {
	return &config.NATS{URL: url, Stream: "TEND", Subject: "tend", Window: 64, LagWarning: time.Minute,
		DuplicateWindow: time.Minute, Replicas: 1}
}

type running struct {
	x      *Exporter
	cancel context.CancelFunc
	done   chan struct{}
}

func start(t testing.TB, l *store.Log, n *config.NATS, host string) *running {
	t.Helper()
	x := New(Config{Log: l, NATS: n, Host: host, Logger: zerolog.Nop()})
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{x: x, cancel: cancel, done: make(chan struct{})}
	go func() { defer close(r.done); x.Run(ctx) }()
	t.Cleanup(r.stop)
	return r
}

func (r *running) stop() {
	r.cancel()
	<-r.done
}

func waitCaughtUp(t testing.TB, x *Exporter, l *store.Log, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < within {
		x.Wake()
		if st := x.Status(); st.Acked == l.LastSeq() {
			return time.Since(start)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("export did not catch up in %s: %+v", within, x.Status())
	return 0
}

func source(t testing.TB, url string) fleet.Source {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return fleet.Source{JS: js, Stream: "TEND", Prefix: "tend"}
}

// checkStream asserts that the stream holds exactly the log: every event
// once, in order, each payload the stored record, and the chain whole.
func checkStream(t testing.TB, url string, l *store.Log, host string) *fleet.Report {
	t.Helper()
	logs, err := source(t, url).Read(context.Background(), host)
	if err != nil {
		t.Fatal(err)
	}
	if len(logs) != 1 || logs[0].ID != l.LogID() || logs[0].Host != host {
		t.Fatalf("stream holds %d logs for host %s", len(logs), host)
	}
	rep := fleet.Verify(logs[0])
	if !rep.OK || rep.Messages != int(l.LastSeq()) || rep.Events != uint64(l.LastSeq()) || rep.Duplicates != 0 || rep.Reordered != 0 {
		t.Fatalf("stream vs log of %d events: %+v", l.LastSeq(), rep)
	}
	recs, err := l.Records(1, int(l.LastSeq()))
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range logs[0].Msgs {
		if m.Seq != recs[i].Seq || !bytes.Equal(m.Data, recs[i].Data) {
			t.Fatalf("stream message %d is not record %d as stored", i, recs[i].Seq)
		}
		if i == 0 && !strings.HasPrefix(m.Subject, "tend."+host+".") {
			t.Errorf("subject %s", m.Subject)
		}
	}
	return rep
}

func TestExportEveryEventOnceInOrder(t *testing.T) {
	srv := natstest.Start(t, t.TempDir())
	l := openLog(t)
	appendN(t, l, 500)
	r := start(t, l, natsConfig(srv.URL()), "host-a")
	for range 30 {
		appendN(t, l, 50)
		r.x.Wake()
	}
	waitCaughtUp(t, r.x, l, 20*time.Second)
	r.stop()
	checkStream(t, srv.URL(), l, "host-a")
	if cur, _, err := l.Cursor(CursorName); err != nil || cur != l.LastSeq() {
		t.Errorf("cursor %d %v after a clean stop, want %d", cur, err, l.LastSeq())
	}
	if st := r.x.Status(); st.LagEvents != 0 || st.LagSeconds != 0 || st.Log != l.LogID() {
		t.Errorf("status %+v", st)
	}
}

// The server restarts twice and is down for a while as events keep being
// appended: afterwards the stream holds every event once, in order.
func TestExportSurvivesServerRestartsAndAnOutage(t *testing.T) {
	srv := natstest.Start(t, t.TempDir())
	l := openLog(t)
	r := start(t, l, natsConfig(srv.URL()), "host-a")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			appendN(t, l, 5)
			r.x.Wake()
			time.Sleep(time.Millisecond)
		}
	}()
	time.Sleep(300 * time.Millisecond)
	srv.Restart()
	time.Sleep(300 * time.Millisecond)
	srv.Restart()
	time.Sleep(200 * time.Millisecond)
	srv.Stop()
	time.Sleep(2 * time.Second)
	if st := r.x.Status(); st.Connected || st.LagEvents == 0 || st.LagSeconds <= 0 || st.Error == "" {
		t.Errorf("during the outage: %+v", st)
	}
	srv.Restart()
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	waitCaughtUp(t, r.x, l, 20*time.Second)
	rep := checkStream(t, srv.URL(), l, "host-a")
	t.Logf("%d events exported across two restarts and an outage", rep.Events)
}

// A daemon that dies before its cursor's last write, and comes back after
// the server's duplicate window has passed, resumes after what the stream
// already holds instead of publishing it again.
func TestExportResumesAfterWhatTheStreamHolds(t *testing.T) {
	srv := natstest.Start(t, t.TempDir())
	l := openLog(t)
	appendN(t, l, 300)
	n := natsConfig(srv.URL())
	n.DuplicateWindow = time.Second
	r := start(t, l, n, "host-a")
	waitCaughtUp(t, r.x, l, 20*time.Second)
	r.stop()
	if err := l.SetCursor(CursorName, 100); err != nil { // as if the last writes were lost
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // past the duplicate window
	appendN(t, l, 20)
	r = start(t, l, n, "host-a")
	t.Log("caught up in", waitCaughtUp(t, r.x, l, 20*time.Second))
	checkStream(t, srv.URL(), l, "host-a")
}

func TestExportRefusesAStreamWithoutItsSubjects(t *testing.T) {
	srv := natstest.Start(t, t.TempDir())
	s := source(t, srv.URL())
	if _, err := s.JS.CreateStream(context.Background(), jetstream.StreamConfig{Name: "TEND", Subjects: []string{"other.>"}}); err != nil {
		t.Fatal(err)
	}
	l := openLog(t)
	appendN(t, l, 3)
	r := start(t, l, natsConfig(srv.URL()), "host-a")
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && !strings.Contains(r.x.Status().Error, "does not take tend's subjects") {
		time.Sleep(20 * time.Millisecond)
	}
	if st := r.x.Status(); !strings.Contains(st.Error, "stream TEND has subjects [other.>], not tend.>") || st.Acked != 0 {
		t.Errorf("status %+v", st)
	}
}

// BenchmarkExport measures export throughput to a local embedded server
// (or to the server at TEND_NATS_URL, such as Debian's nats-server): b.N
// events already in the log, exported from an empty cursor.
func BenchmarkExport(b *testing.B) {
	url := os.Getenv("TEND_NATS_URL")
	if url == "" {
		url = natstest.Start(b, b.TempDir()).URL()
	}
	l := openLog(b)
	for done := 0; done < b.N; done += 10_000 {
		appendN(b, l, min(10_000, b.N-done))
	}
	n := natsConfig(url)
	n.Window = config.DefaultExportWindow
	b.ResetTimer()
	r := start(b, l, n, "bench-"+l.LogID()[:8])
	waitCaughtUp(b, r.x, l, 10*time.Minute)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// Credentials that may publish events but not create the stream: the
// daemon says so, and what to ask for, without showing the password.
func TestExportSaysWhenItMayNotCreateTheStream(t *testing.T) {
	setupTimeout = time.Second
	defer func() { setupTimeout = 10 * time.Second }()
	srv := natstest.Start(t, t.TempDir(), func(o *server.Options) {
		o.Users = []*server.User{{Username: "tend", Password: "pw-SECRET", Permissions: &server.Permissions{
			Publish: &server.SubjectPermission{Allow: []string{">"}, Deny: []string{"$JS.API.STREAM.CREATE.>"}}}}}
	})
	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, []byte("pw-SECRET\n"), 0o600)
	n := natsConfig(srv.URL())
	n.User, n.PasswordFile = "tend", pw
	l := openLog(t)
	appendN(t, l, 3)
	r := start(t, l, n, "host-a")
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && !strings.Contains(r.x.Status().Error, "could not be created") {
		time.Sleep(20 * time.Millisecond)
	}
	st := r.x.Status()
	if !strings.Contains(st.Error, "stream TEND is missing and could not be created") || !strings.Contains(st.Error, "have it created with subjects tend.>") ||
		!strings.Contains(st.Error, `Permissions Violation for Publish to "$JS.API.STREAM.CREATE.TEND"`) ||
		strings.Contains(st.Error, "pw-SECRET") || st.Acked != 0 {
		t.Errorf("status %+v", st)
	}
}
