package alert

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	bolt "go.etcd.io/bbolt"

	"github.com/tendhq/tend/cmd/internal/config"
	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/fsm"
	"github.com/tendhq/tend/store"
)

var t0 = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

// fakeLog is a real log written as a daemon would: events judged by fsm.
type fakeLog struct {
	t *testing.T
	l *store.Log
	w *fsm.World
}

func newLog(t *testing.T) *fakeLog {
	l, err := store.Open(filepath.Join(t.TempDir(), "tend.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	f := &fakeLog{t: t, l: l, w: fsm.NewWorld()}
	f.add(events.Event{Type: events.WorkerAdded, Worker: "web"})
	return f
}

func (f *fakeLog) add(e events.Event) events.Seq {
	f.t.Helper()
	e.Time = t0.Add(time.Duration(f.l.LastSeq()) * time.Second)
	if e.Actor == "" {
		e.Actor = events.ActorDaemon
	}
	if err := f.w.Decide(&e); err != nil {
		f.t.Fatalf("%v: %v", e.Type, err)
	}
	if err := f.l.AppendWait(&e); err != nil {
		f.t.Fatal(err)
	}
	if err := f.w.Apply(&e); err != nil {
		f.t.Fatal(err)
	}
	return e.Seq
}

// crash is one incarnation of web that spawns and exits with status 1.
func (f *fakeLog) crash() events.Seq {
	inc := f.w.Worker("web").Incarnation + 1
	f.add(events.Event{Type: events.StartRequested, Worker: "web"})
	f.add(events.Event{Type: events.Spawned, Worker: "web", Incarnation: inc, Details: events.Details{PID: 100}})
	return f.add(events.Event{Type: events.Exited, Worker: "web", Incarnation: inc, Actor: events.ActorProcess,
		Cause: "process exited with status 1", Details: events.Details{PID: 100, ExitCode: events.IntPtr(1)}})
}

// receiver is a webhook that fails the first failFirst requests and
// records the keys of the messages it accepts.
type receiver struct {
	mu        sync.Mutex
	failFirst int
	requests  int
	got       []Message
	attempts  []string
	sigs      []string
	bodies    [][]byte
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests++
	if r.requests <= r.failFirst {
		http.Error(w, "not now", http.StatusServiceUnavailable)
		return
	}
	var m Message
	if err := json.Unmarshal(body, &m); err != nil || m.Key != req.Header.Get(HeaderKey) {
		http.Error(w, "bad", http.StatusBadRequest)
		return
	}
	r.got = append(r.got, m)
	r.attempts = append(r.attempts, req.Header.Get(HeaderAttempt))
	r.sigs = append(r.sigs, req.Header.Get(HeaderSignature))
	r.bodies = append(r.bodies, body)
}

func (r *receiver) keys() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := map[string]bool{}
	var out []string
	for _, m := range r.got {
		if !seen[m.Key] {
			seen[m.Key] = true
			out = append(out, m.Key)
		}
	}
	return out
}

type deadLetters struct {
	mu   sync.Mutex
	seqs []events.Seq
	errs []string
}

func (d *deadLetters) record(_ context.Context, name string, seq events.Seq, about string, attempts int, lastErr string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.seqs = append(d.seqs, seq)
	d.errs = append(d.errs, name+" "+about+" "+lastErr)
	return nil
}

func entry(name, url string) *config.Notify {
	return &config.Notify{Name: name, On: []events.Type{events.Exited}, Webhook: url, Timeout: 2 * time.Second,
		MaxAttempts: 10, BackoffInitial: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond, StderrLines: 3}
}

func run(t *testing.T, cfg Config) (*Notifier, func()) {
	t.Helper()
	if cfg.Logger.GetLevel() == zerolog.TraceLevel {
		cfg.Logger = zerolog.Nop()
	}
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); n.Run(ctx) }()
	stop := func() { cancel(); <-done }
	t.Cleanup(stop)
	return n, stop
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A receiver that fails its first three requests still gets every alert,
// each once after de-duplication by key, signed, with why and stderr.
func TestEveryAlertArrivesDespiteFailures(t *testing.T) {
	f := newLog(t)
	rcv := &receiver{failFirst: 3}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	dir := t.TempDir()
	stderr := filepath.Join(dir, "web.err")
	os.WriteFile(stderr, []byte("one\ntwo\npanic: three\nfour\n"), 0o600)
	keyFile := filepath.Join(dir, "hook.key")
	os.WriteFile(keyFile, []byte("s3cret\n"), 0o600)
	e := entry("ops", srv.URL)
	e.HMACSecretFile = keyFile
	var dl deadLetters
	n, _ := run(t, Config{Log: f.l, Entries: []*config.Notify{e}, Host: "h1", DeadLetter: dl.record,
		Stderr: func(w string) (string, uint32, bool) { return stderr, uint32(os.Geteuid()), w == "web" }})
	var want []string
	for range 5 {
		seq := f.crash()
		want = append(want, f.l.LogID()+":"+formatSeq(seq))
		n.Wake()
	}
	waitFor(t, "five alerts", func() bool { return len(rcv.keys()) == 5 })
	if got := rcv.keys(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("keys %v, want %v", got, want)
	}
	rcv.mu.Lock()
	m := rcv.got[0]
	if rcv.attempts[0] != "4" || len(dl.seqs) != 0 {
		t.Errorf("first accepted on attempt %s (want 4), dead letters %v", rcv.attempts[0], dl.seqs)
	}
	mac := hmac.New(sha256.New, []byte("s3cret"))
	mac.Write(rcv.bodies[0])
	if rcv.sigs[0] != "sha256="+hex.EncodeToString(mac.Sum(nil)) {
		t.Errorf("signature %q", rcv.sigs[0])
	}
	rcv.mu.Unlock()
	if m.Event.Type != "exited" || m.Host != "h1" || m.Notify != "ops" || m.Why == nil || m.Why.State != "Stopped" ||
		!strings.Contains(m.WhyText, "web is Stopped") || strings.Join(m.Stderr, "|") != "two|panic: three|four" {
		t.Errorf("message %+v", m)
	}
	waitFor(t, "the cursor", func() bool { c, _, _ := f.l.Cursor("notify.ops"); return c == f.l.LastSeq() })
	st := n.Status()[0]
	if st.Delivered != 5 || st.Failures != 3 || st.Cursor != f.l.LastSeq() {
		t.Errorf("status %+v", st)
	}
}

func formatSeq(s events.Seq) string { return strconv.FormatUint(uint64(s), 10) }

// After its last attempt an alert becomes a dead letter and the next
// alert goes on; an alert never answers its own dead letter.
func TestDeadLetterAfterTheLastAttempt(t *testing.T) {
	f := newLog(t)
	rcv := &receiver{failFirst: 3}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	e := entry("ops", srv.URL)
	e.MaxAttempts = 2
	e.On = append(e.On, events.NotifyFailed)
	var dl deadLetters
	n, _ := run(t, Config{Log: f.l, Entries: []*config.Notify{e}, Host: "h1", DeadLetter: func(ctx context.Context, name string, seq events.Seq, about string, attempts int, lastErr string) error {
		f.add(events.Event{Type: events.NotifyFailed, Actor: events.ActorAlert, Details: events.Details{Attempt: attempts, Policy: name}})
		return dl.record(ctx, name, seq, about, attempts, lastErr)
	}})
	first := f.crash()
	n.Wake()
	waitFor(t, "the dead letter", func() bool { dl.mu.Lock(); defer dl.mu.Unlock(); return len(dl.seqs) == 1 })
	second := f.crash()
	n.Wake()
	waitFor(t, "the next alert", func() bool { return len(rcv.keys()) == 1 })
	time.Sleep(100 * time.Millisecond)
	dl.mu.Lock()
	defer dl.mu.Unlock()
	if dl.seqs[0] != first || !strings.Contains(dl.errs[0], "ops exited of web webhook answered HTTP 503") {
		t.Errorf("dead letters %v %v", dl.seqs, dl.errs)
	}
	if keys := rcv.keys(); len(keys) != 1 || !strings.HasSuffix(keys[0], ":"+formatSeq(second)) {
		t.Errorf("delivered %v, want only seq %d (not the dead letter itself)", keys, second)
	}
}

// A daemon that stops while the receiver is down sends everything again
// when it comes back: the cursor never passed an undelivered alert.
func TestUndeliveredAlertsSurviveARestart(t *testing.T) {
	f := newLog(t)
	rcv := &receiver{failFirst: 1 << 30}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	e := entry("ops", srv.URL)
	e.MaxAttempts = 1000
	n1, stop := run(t, Config{Log: f.l, Entries: []*config.Notify{e}, Host: "h1", DeadLetter: (&deadLetters{}).record})
	time.Sleep(50 * time.Millisecond) // the entry begins: its cursor is placed at the log's end
	var want []events.Seq
	for range 3 {
		want = append(want, f.crash())
	}
	n1.Wake()
	waitFor(t, "failed attempts", func() bool { rcv.mu.Lock(); defer rcv.mu.Unlock(); return rcv.requests >= 3 })
	stop()
	rcv.mu.Lock()
	rcv.failFirst = 0
	rcv.mu.Unlock()
	n, _ := run(t, Config{Log: f.l, Entries: []*config.Notify{e}, Host: "h1", DeadLetter: (&deadLetters{}).record})
	n.Wake()
	waitFor(t, "three alerts", func() bool { return len(rcv.keys()) == 3 })
	for i, k := range rcv.keys() {
		if !strings.HasSuffix(k, ":"+formatSeq(want[i])) {
			t.Errorf("alert %d: %s, want seq %d", i, k, want[i])
		}
	}
}

// exec gets the message on stdin and its key in the environment; a link
// planted at the worker's stderr path is refused, never read.
func TestExecAndAStderrLink(t *testing.T) {
	f := newLog(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	secret := filepath.Join(dir, "secret")
	os.WriteFile(secret, []byte("root's secret\n"), 0o600)
	logs := filepath.Join(dir, "logs") // the worker's own output directory: it may plant links there
	os.Mkdir(logs, 0o755)
	if err := os.Chown(logs, 65534, 65534); err != nil {
		t.Skip("needs root:", err)
	}
	os.Symlink(secret, filepath.Join(logs, "web.err"))
	os.Lchown(filepath.Join(logs, "web.err"), 65534, 65534)
	e := entry("pager", "")
	e.Webhook, e.Exec = "", []string{"/bin/sh", "-c", `cat > "$0.$TEND_NOTIFY_ATTEMPT"; echo "$TEND_NOTIFY_KEY" > "$0.key"`, out}
	n, _ := run(t, Config{Log: f.l, Entries: []*config.Notify{e}, Host: "h1", DeadLetter: (&deadLetters{}).record,
		Stderr: func(string) (string, uint32, bool) { return filepath.Join(logs, "web.err"), 65534, true }})
	time.Sleep(50 * time.Millisecond)
	seq := f.crash()
	n.Wake()
	waitFor(t, "the command", func() bool { _, err := os.Stat(out + ".key"); return err == nil })
	time.Sleep(50 * time.Millisecond)
	var m Message
	b, _ := os.ReadFile(out + ".1")
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	key, _ := os.ReadFile(out + ".key")
	if m.Key != f.l.LogID()+":"+formatSeq(seq) || strings.TrimSpace(string(key)) != m.Key {
		t.Errorf("key %q / %q", m.Key, key)
	}
	if strings.Contains(string(b), "root's secret") || m.StderrError == "" || len(m.Stderr) != 0 {
		t.Errorf("stderr through a link: %q %q", m.Stderr, m.StderrError)
	}
}

// A webhook URL may hold a token: no error, log line or dead letter
// repeats it.
func TestWebhookErrorsNeverShowTheURL(t *testing.T) {
	f := newLog(t)
	e := entry("ops", "http://127.0.0.1:1/T0/secret-token?key=hunter2")
	e.MaxAttempts = 2
	var dl deadLetters
	var logs strings.Builder
	var mu sync.Mutex
	n, _ := run(t, Config{Log: f.l, Entries: []*config.Notify{e}, Host: "h1", DeadLetter: dl.record,
		Logger: zerolog.New(zerolog.SyncWriter(&lockedWriter{w: &logs, mu: &mu}))})
	time.Sleep(50 * time.Millisecond)
	f.crash()
	n.Wake()
	waitFor(t, "the dead letter", func() bool { dl.mu.Lock(); defer dl.mu.Unlock(); return len(dl.seqs) == 1 })
	mu.Lock()
	defer mu.Unlock()
	all := logs.String() + strings.Join(dl.errs, "\n") + n.Status()[0].Error
	if strings.Contains(all, "secret-token") || strings.Contains(all, "hunter2") || !strings.Contains(all, "connection refused") {
		t.Errorf("errors:\n%s", all)
	}
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// A new entry alerts on what is recorded once it is configured (New), not
// once its goroutine first runs: a crash in between was neither the past
// nor sent.
func TestANewEntryAlertsFromItsConfiguration(t *testing.T) {
	f := newLog(t)
	f.crash() // the past: never sent
	rcv := &receiver{}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	n, err := New(Config{Log: f.l, Entries: []*config.Notify{entry("ops", srv.URL)}, Host: "h1", Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	seq := f.crash() // after New, before Run
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); n.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitFor(t, "the alert", func() bool { return len(rcv.keys()) > 0 })
	if got, want := strings.Join(rcv.keys(), " "), f.l.LogID()+":"+formatSeq(seq); got != want {
		t.Errorf("alerts %s, want %s only", got, want)
	}
}

// A damaged cursor (a value that is not a seq) stops its entry, never the
// others, and says why in the entry's status as well as the daemon's log:
// nothing is sent from a place in the log nobody can name.
func TestADamagedCursorStopsItsEntryAndSaysSo(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tend.db")
	l, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("cursors"))
		if err != nil {
			return err
		}
		return b.Put([]byte(CursorPrefix+"bad"), []byte{1, 2, 3})
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	if l, err = store.Open(path, store.Options{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	f := &fakeLog{t: t, l: l, w: fsm.NewWorld()}
	f.add(events.Event{Type: events.WorkerAdded, Worker: "web"})

	bad, good := &receiver{}, &receiver{}
	badSrv, goodSrv := httptest.NewServer(bad), httptest.NewServer(good)
	defer badSrv.Close()
	defer goodSrv.Close()
	n, _ := run(t, Config{Log: l, Entries: []*config.Notify{entry("bad", badSrv.URL), entry("good", goodSrv.URL)}, Host: "h1", Logger: zerolog.Nop()})
	seq := f.crash()
	n.Wake()
	waitFor(t, "the good entry's alert", func() bool { return len(good.keys()) > 0 })
	if got, want := strings.Join(good.keys(), " "), l.LogID()+":"+formatSeq(seq); got != want {
		t.Errorf("good entry sent %s, want %s", got, want)
	}
	waitFor(t, "the damaged entry's status", func() bool { return n.Status()[0].Error != "" })
	st := n.Status()
	if len(bad.keys()) != 0 || !strings.Contains(st[0].Error, "not sending") || !strings.Contains(st[0].Error, `cursor "notify.bad" is 3 bytes`) {
		t.Errorf("the damaged entry: sent %v, status error %q", bad.keys(), st[0].Error)
	}
}
