package report

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/fsm"
	"github.com/tendhq/tend/store"
)

// builder writes a log the way the supervisor does: each event is judged by
// World.Decide, appended, and folded, so the log is one fsm.World.Apply
// accepts on replay.
type builder struct {
	t     testing.TB
	log   *store.Log
	world *fsm.World
	batch []*events.Event
}

func newBuilder(t testing.TB) *builder {
	t.Helper()
	l, err := store.Open(filepath.Join(t.TempDir(), "tend.log"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return &builder{t: t, log: l, world: fsm.NewWorld()}
}

// add judges e and queues it; observations concern the worker's current
// incarnation unless e names one.
func (b *builder) add(e events.Event) *events.Event {
	b.t.Helper()
	if w := b.world.Workers[e.Worker]; w != nil && e.Incarnation == 0 {
		e.Incarnation = w.Incarnation
	}
	if err := b.world.Decide(&e); err != nil {
		b.t.Fatalf("decide %s %s: %v", e.Worker, e.Type, err)
	}
	e.Seq = b.world.Seq + 1 // what Append will assign: this builder is the only writer
	if err := b.world.Apply(&e); err != nil {
		b.t.Fatalf("apply %s %s: %v", e.Worker, e.Type, err)
	}
	p := new(events.Event)
	*p = e
	b.batch = append(b.batch, p)
	return p
}

func (b *builder) flush() {
	b.t.Helper()
	if len(b.batch) == 0 {
		return
	}
	if err := b.log.AppendWait(b.batch...); err != nil {
		b.t.Fatal(err)
	}
	b.batch = b.batch[:0]
}

var base = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func at(min int) time.Time { return base.Add(time.Duration(min) * time.Minute) }

const operator = "cli uid=1000"

// knownLog is a small history with every kind of marker, one event a
// minute: event i (seq i) happens at base + i minutes.
func knownLog(t testing.TB) *store.Log {
	b := newBuilder(t)
	i := 0
	ev := func(e events.Event) {
		i++
		e.Time = at(i)
		if e.Actor == "" {
			e.Actor = events.ActorDaemon
		}
		b.add(e)
	}
	code := events.IntPtr
	ev(events.Event{Type: events.DaemonStarted, Cause: "daemon started"})                                                                                                // 1
	ev(events.Event{Type: events.ConfigLoaded, Cause: "configuration loaded", Details: events.Details{Hash: "h1"}})                                                      // 2
	ev(events.Event{Type: events.WorkerAdded, Worker: "api"})                                                                                                            // 3
	ev(events.Event{Type: events.WorkerAdded, Worker: "cron"})                                                                                                           // 4
	ev(events.Event{Type: events.WorkerAdded, Worker: "web"})                                                                                                            // 5
	ev(events.Event{Type: events.StartRequested, Worker: "api", Cause: "autostart"})                                                                                     // 6
	ev(events.Event{Type: events.Spawned, Worker: "api", Actor: events.ActorProcess, Details: events.Details{PID: 100}})                                                 // 7
	ev(events.Event{Type: events.Ready, Worker: "api", Cause: "running"})                                                                                                // 8
	ev(events.Event{Type: events.StartRequested, Worker: "cron", Cause: "autostart"})                                                                                    // 9
	ev(events.Event{Type: events.Spawned, Worker: "cron", Actor: events.ActorProcess, Details: events.Details{PID: 200}})                                                // 10
	ev(events.Event{Type: events.Ready, Worker: "cron", Cause: "running"})                                                                                               // 11
	ev(events.Event{Type: events.Exited, Worker: "api", Actor: events.ActorProcess, Cause: "process exited with code 1", Details: events.Details{ExitCode: code(1)}})    // 12
	ev(events.Event{Type: events.RestartScheduled, Worker: "api", Actor: events.ActorPolicy, Cause: "backoff", Details: events.Details{Delay: time.Second, Attempt: 1}}) // 13
	ev(events.Event{Type: events.StartRequested, Worker: "api", Actor: events.ActorPolicy, Cause: "restarting: backoff"})                                                // 14
	ev(events.Event{Type: events.Spawned, Worker: "api", Actor: events.ActorProcess, Details: events.Details{PID: 101}})                                                 // 15
	ev(events.Event{Type: events.Ready, Worker: "api", Cause: "running"})                                                                                                // 16
	ev(events.Event{Type: events.HealthFailed, Worker: "api", Actor: events.ActorHealth, Cause: "GET /healthz: 503"})                                                    // 17
	ev(events.Event{Type: events.LimitViolated, Worker: "cron", Actor: events.ActorLimits, Cause: "memory over limit",
		Details: events.Details{Resource: "memory", Measured: 3e8, Limit: 2e8, Policy: "log"}}) // 18
	ev(events.Event{Type: events.StopRequested, Worker: "cron", Actor: operator, Cause: "stop requested by " + operator})                                              // 19
	ev(events.Event{Type: events.Exited, Worker: "cron", Actor: events.ActorProcess, Cause: "process exited with code 0", Details: events.Details{ExitCode: code(0)}}) // 20
	ev(events.Event{Type: events.Exited, Worker: "api", Actor: events.ActorProcess, Cause: "process exited with code 1", Details: events.Details{ExitCode: code(1)}})  // 21
	ev(events.Event{Type: events.BreakerOpened, Worker: "api", Actor: events.ActorPolicy, Cause: "too many restarts <script>"})                                        // 22
	ev(events.Event{Type: events.StartRequested, Worker: "web", Actor: operator, Cause: "start requested by " + operator})                                             // 23
	ev(events.Event{Type: events.Spawned, Worker: "web", Actor: events.ActorProcess, Details: events.Details{PID: 300}})                                               // 24
	ev(events.Event{Type: events.Ready, Worker: "web", Cause: "running"})                                                                                              // 25
	ev(events.Event{Type: events.StopRequested, Worker: "web", Actor: operator, Cause: "stop requested by " + operator})                                               // 26
	ev(events.Event{Type: events.KillSent, Worker: "web", Cause: "stop_timeout: SIGKILL", Details: events.Details{Signal: 9}})                                         // 27
	ev(events.Event{Type: events.Exited, Worker: "web", Actor: events.ActorProcess, Cause: "process killed by signal KILL", Details: events.Details{Signal: 9}})       // 28
	ev(events.Event{Type: events.DaemonStopping, Cause: "SIGTERM"})                                                                                                    // 29
	b.flush()
	return b.log
}

// The markers each lane of the known log must have, by seq.
var knownMarkers = map[string][]int{
	"":     {1, 2, 29},
	"api":  {12, 17, 21, 22},
	"cron": {18, 19, 20},
	"web":  {23, 26, 27, 28},
}

// pageJSON mirrors the embedded data, for decoding it in tests.
type pageJSON struct {
	T0     int64    `json:"t0"`
	Span   int64    `json:"span"`
	Res    int64    `json:"res"`
	Strs   []string `json:"strs"`
	Types  []string `json:"types"`
	Cats   []string `json:"cats"`
	Daemon []int64  `json:"daemon"`
	Lanes  []struct {
		Name  string  `json:"name"`
		Bands []int64 `json:"bands"`
		Marks []int64 `json:"marks"`
	} `json:"lanes"`
}

type band struct {
	start int64 // ms after t0
	code  int64
}

type mark struct {
	t, seq, cat, typ, count int64
	cause, actor, detail    string
}

func (p *pageJSON) bands(i int) []band {
	var out []band
	t := int64(0)
	for k := 0; k+1 < len(p.Lanes[i].Bands); k += 2 {
		t += p.Lanes[i].Bands[k]
		out = append(out, band{t, p.Lanes[i].Bands[k+1]})
	}
	return out
}

func (p *pageJSON) marks(a []int64) []mark {
	var out []mark
	t := int64(0)
	for k := 0; k+8 < len(a); k += 9 {
		t += a[k]
		out = append(out, mark{t: t, seq: a[k+1], cat: a[k+2], typ: a[k+3], count: a[k+7],
			cause: p.Strs[a[k+4]], actor: p.Strs[a[k+5]], detail: p.Strs[a[k+6]]})
	}
	return out
}

var dataRE = regexp.MustCompile(`(?s)<script type="application/json" id="report-data">(.*?)</script>`)

func decodePage(t testing.TB, html []byte) *pageJSON {
	t.Helper()
	m := dataRE.FindSubmatch(html)
	if m == nil {
		t.Fatal("no embedded data")
	}
	var p pageJSON
	if err := json.Unmarshal(m[1], &p); err != nil {
		t.Fatalf("embedded data: %v", err)
	}
	return &p
}

func render1(t testing.TB, log *store.Log, opts Options) ([]byte, Stats) {
	t.Helper()
	var buf bytes.Buffer
	st, err := Write(&buf, log, opts)
	if err != nil {
		t.Fatal(err)
	}
	if st.Bytes != int64(buf.Len()) {
		t.Errorf("Stats.Bytes = %d, wrote %d", st.Bytes, buf.Len())
	}
	return buf.Bytes(), st
}

func atoi(t testing.TB, s string) int64 {
	t.Helper()
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
