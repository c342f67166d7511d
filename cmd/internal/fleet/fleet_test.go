package fleet

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/cmd/internal/natsio"
	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/fsm"
	"github.com/tendhq/tend/store"
)

var t0 = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

// hostLog makes a real log whose events fold (web added, started,
// spawned, running, then exits and restarts), and returns it as the
// stream would hold it.
func hostLog(t *testing.T, host string, n int) (*Log, *store.Log) {
	t.Helper()
	l, err := store.Open(filepath.Join(t.TempDir(), "tend.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	w := fsm.NewWorld()
	add := func(e events.Event) {
		e.Time = t0.Add(time.Duration(l.LastSeq()) * time.Second)
		e.Actor = events.ActorDaemon
		if err := w.Decide(&e); err != nil {
			t.Fatalf("%v: %v", e.Type, err)
		}
		if err := l.AppendWait(&e); err != nil {
			t.Fatal(err)
		}
		if err := w.Apply(&e); err != nil {
			t.Fatal(err)
		}
	}
	add(events.Event{Type: events.WorkerAdded, Worker: "web"})
	for inc := 1; int(l.LastSeq()) < n; inc++ {
		add(events.Event{Type: events.StartRequested, Worker: "web"})
		add(events.Event{Type: events.Spawned, Worker: "web", Incarnation: events.Incarnation(inc), Details: events.Details{PID: 100 + inc}})
		add(events.Event{Type: events.Ready, Worker: "web", Incarnation: events.Incarnation(inc)})
		add(events.Event{Type: events.Exited, Worker: "web", Incarnation: events.Incarnation(inc), Details: events.Details{PID: 100 + inc, ExitCode: events.IntPtr(1)}})
	}
	add(events.Event{Type: events.StartRequested, Worker: "web"})
	recs, err := l.Records(1, int(l.LastSeq()))
	if err != nil {
		t.Fatal(err)
	}
	out := &Log{Host: host, ID: l.LogID()}
	for i, r := range recs {
		out.Msgs = append(out.Msgs, Msg{StreamSeq: uint64(i + 1), Seq: r.Seq, Data: r.Data, Stored: t0.Add(time.Duration(i) * time.Second)})
	}
	return out, l
}

func TestVerifyNamesTheFirstBadSeq(t *testing.T) {
	clean, _ := hostLog(t, "a", 40)
	if rep := Verify(clean); !rep.OK || rep.Events != uint64(len(clean.Msgs)) || rep.First != 1 {
		t.Fatalf("clean log: %+v", rep)
	}
	mutate := func(f func(ms []Msg) []Msg) *Log {
		ms := make([]Msg, len(clean.Msgs))
		for i, m := range clean.Msgs {
			m.Data = append([]byte(nil), m.Data...)
			ms[i] = m
		}
		return &Log{Host: "a", ID: clean.ID, Msgs: f(ms)}
	}
	cases := []struct {
		name string
		log  *Log
		seq  events.Seq
		want string
	}{
		{"a flipped byte", mutate(func(ms []Msg) []Msg { ms[16].Data[len(ms[16].Data)-1] ^= 0x20; return ms }), 17, "tampered or damaged"},
		{"a re-checksummed forgery", mutate(func(ms []Msg) []Msg {
			var e events.Event
			events.Decode(ms[9].Data, &e)
			e.Cause = "forged"
			ms[9].Data = events.Encode(nil, &e)
			return ms
		}), 11, "prev hash does not match the record of seq 10"},
		{"a gap", mutate(func(ms []Msg) []Msg { return append(ms[:5], ms[6:]...) }), 6, "seq 6 is missing"},
		{"reordered", mutate(func(ms []Msg) []Msg { ms[7], ms[8] = ms[8], ms[7]; return ms }), 8, "seq 8 was stored after seq 9"},
		{"a duplicate", mutate(func(ms []Msg) []Msg { return append(ms, ms[20]) }), 21, "a duplicate slipped past de-duplication"},
		{"a second record for a seq", mutate(func(ms []Msg) []Msg {
			var e events.Event
			events.Decode(ms[3].Data, &e)
			e.Cause = "other"
			return append(ms, Msg{StreamSeq: 99, Seq: 4, Data: events.Encode(nil, &e)})
		}), 4, "different records"},
		{"a header lying about its seq", mutate(func(ms []Msg) []Msg { ms[12].Seq = 30; return ms }), 13, "claims seq 30 but holds the record of seq 13"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rep := Verify(c.log)
			if rep.OK || rep.FirstBad != c.seq || !strings.Contains(rep.Problem, c.want) {
				t.Errorf("got first bad %d %q, want %d %q", rep.FirstBad, rep.Problem, c.seq, c.want)
			}
		})
	}
}

// Pull rebuilds the host's log byte for byte; duplicates and reordering
// change nothing of the chain, a gap or a forgery stops it at its seq.
func TestPullRebuildsTheLog(t *testing.T) {
	lg, orig := hostLog(t, "a", 60)
	lg.Msgs = append(lg.Msgs, lg.Msgs[10])
	lg.Msgs[3], lg.Msgs[4] = lg.Msgs[4], lg.Msgs[3]
	path, cleanup, err := PullToTemp(lg)
	if err != nil {
		t.Fatal(err)
	}
	l, err := store.Open(path, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if l.Head() != orig.Head() || l.LastSeq() != orig.LastSeq() {
		t.Error("the pulled log is not the original")
	}
	if r, err := l.Verify(nil); err != nil || !r.OK {
		t.Errorf("verify: %+v %v", r, err)
	}
	l.Close()
	cleanup()

	lg.Msgs = append(lg.Msgs[:20], lg.Msgs[21:]...)
	_, _, err = PullToTemp(lg)
	var ce *ChainError
	if !errors.As(err, &ce) || ce.Seq != 21 || ce.Host != "a" {
		t.Errorf("pull with a gap: %v", err)
	}
}

func TestStatusFlagsHosts(t *testing.T) {
	now := t0.Add(time.Hour)
	a, _ := hostLog(t, "a", 20)
	b, _ := hostLog(t, "b", 20)
	c, _ := hostLog(t, "c", 20)
	c.Msgs[5].Data[len(c.Msgs[5].Data)-1] ^= 1
	old, _ := hostLog(t, "a", 10)
	for i := range old.Msgs {
		old.Msgs[i].Stored = old.Msgs[i].Stored.Add(-time.Hour)
	}
	beats := map[string]natsio.Heartbeat{
		natsio.HeartbeatKey("a", a.ID): {Host: "a", Log: a.ID, Time: now.Add(-2 * time.Second), Every: "5s"},
		natsio.HeartbeatKey("b", b.ID): {Host: "b", Log: b.ID, Time: now.Add(-time.Minute), Every: "5s", LagEvents: 40, LagSeconds: 120},
	}
	hs := Status([]*Log{old, a, b, c}, beats, StatusOptions{Lag: time.Minute, Now: now})
	if len(hs) != 3 {
		t.Fatalf("%d hosts", len(hs))
	}
	if h := hs[0]; h.Host != "a" || h.Log != a.ID || len(h.OlderLogs) != 1 || len(h.Flags) != 0 || h.Seq != 22 ||
		len(h.Workers) != 1 || h.Workers[0].State != events.Starting {
		t.Errorf("a: %+v", h)
	}
	if h := hs[1]; strings.Join(h.Flags, ",") != "silent,lagging" {
		t.Errorf("b: %+v", h.Flags)
	}
	if h := hs[2]; strings.Join(h.Flags, ",") != "damaged,no heartbeat" || h.Seq != 5 || !strings.Contains(h.Problem, "first bad seq 6") {
		t.Errorf("c: %+v", h)
	}
}
