package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tendhq/tend/cmd/internal/alert"
	"github.com/tendhq/tend/cmd/internal/cli"
	"github.com/tendhq/tend/cmd/internal/client"
	"github.com/tendhq/tend/cmd/internal/fleet"
	"github.com/tendhq/tend/cmd/internal/natsio/natstest"
	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/store"
)

// crashLoop is a worker that dies every 50 ms, writing to stderr first,
// and is restarted at once, forever: churn.
const crashLoop = `
[worker.crashy]
command = ["/bin/sh", "-c", "sleep 0.05; echo boom on stderr >&2; exit 3"]
restart = "always"
start_timeout = "10ms"
backoff_initial = "10ms"
backoff_max = "20ms"
circuit_max_restarts = 0
`

func exportConf(url, host string) string {
	return fmt.Sprintf("\n[export.nats]\nurl = %q\nhost = %q\nwindow = 32\nlag_warning = \"2s\"\n", url, host)
}

func (e *env) daemonStatus() client.Status {
	e.t.Helper()
	var st client.Status
	if err := json.Unmarshal([]byte(e.mustTend("status", "--daemon", "-o", "json")), &st); err != nil {
		e.t.Fatal(err)
	}
	return st
}

// waitExported waits until the export has acknowledged seq (0: the log's
// end when asked), and returns how long that took.
func (e *env) waitExported(seq events.Seq, within time.Duration) time.Duration {
	e.t.Helper()
	start := time.Now()
	var st client.Status
	for time.Since(start) < within {
		st = e.daemonStatus()
		target := seq
		if seq == 0 && st.Export != nil {
			target = st.Export.Last
		}
		if st.Export != nil && st.Export.Acked > 0 && st.Export.Acked >= target {
			return time.Since(start)
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.t.Fatalf("export did not reach seq %d in %s: %+v", seq, within, st.Export)
	return 0
}

func streamLogs(t *testing.T, url, stream, prefix, host string) []*fleet.Log {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	logs, err := fleet.Source{JS: js, Stream: stream, Prefix: prefix}.Read(context.Background(), host)
	if err != nil {
		t.Fatal(err)
	}
	return logs
}

// The whole export path, end to end, under churn: the server restarts
// mid-export, then is down for 10 s, and the daemon is SIGKILLed
// mid-export; afterwards the stream holds every event of the log once, in
// order, and `tend fleet verify` passes. A copy with one byte changed is
// named by its seq; the host's log read back from the stream answers
// history, why, replay and report as the log itself does.
func TestFleetExportUnderChurn(t *testing.T) {
	srv := natstest.Start(t, t.TempDir())
	e := newEnv(t, crashLoop+exportConf(srv.URL(), "churn-1"))
	e.startDaemon()
	time.Sleep(500 * time.Millisecond)
	e.waitExported(0, 10*time.Second)

	srv.Restart() // mid-export
	time.Sleep(300 * time.Millisecond)

	srv.Stop()
	time.Sleep(10 * time.Second)
	down := e.daemonStatus()
	if down.Export.Connected || down.Export.LagEvents == 0 || down.Export.LagSeconds < 5 {
		t.Errorf("after 10 s down: %+v", down.Export)
	}
	if !strings.Contains(e.mustTend("status"), "not connected") {
		t.Error("tend status does not say the export is interrupted")
	}
	backAt := e.daemonStatus().Seq
	srv.Restart()
	catchUp := e.waitExported(backAt, 30*time.Second)
	t.Logf("catch-up after a 10 s outage under churn: %d events behind, caught up in %s", down.Export.LagEvents, catchUp)

	time.Sleep(200 * time.Millisecond) // mid-export again
	e.killDaemon()
	// Read once the daemon has stopped writing it.
	if log := e.stderr.String(); !strings.Contains(log, "export lags behind the log past lag_warning") {
		t.Errorf("the daemon's log does not warn of the lag (%d bytes)", len(log))
	}
	e.startDaemon()
	time.Sleep(500 * time.Millisecond)
	e.stopDaemon()

	l, err := store.Open(e.db(), store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	last, head, logID := l.LastSeq(), l.Head(), l.LogID()
	third, err := l.Get(last / 3)
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	out := e.mustTend("fleet", "verify", "--nats", srv.URL())
	if !strings.Contains(out, fmt.Sprintf("ok: host churn-1 log %.8s: %d events (seq 1..%d)", logID, last, last)) {
		t.Fatalf("fleet verify:\n%s", out)
	}
	logs := streamLogs(t, srv.URL(), "TEND", "tend", "churn-1")
	rep := fleet.Verify(logs[0])
	if len(logs) != 1 || rep.Messages != int(last) || rep.Duplicates != 0 || rep.Reordered != 0 ||
		events.Hash(logs[0].Msgs[len(logs[0].Msgs)-1].Data) != head {
		t.Fatalf("stream vs log (%d events): %+v", last, rep)
	}
	t.Logf("%d events exported once each, in order, across a server restart, a 10 s outage and a SIGKILL", last)

	// The host's log, read back from the stream, answers as the log does.
	for _, args := range [][]string{
		{"history", "crashy", "-o", "json", "--limit", "50"},
		{"why", "crashy", "-o", "json"},
		{"replay", "--seq", fmt.Sprint(last / 2), "-o", "json"},
		{"replay", "--at", third.Time.Format(time.RFC3339Nano), "-o", "json"},
	} {
		local := e.mustTend(append(args, "--db", e.db())...)
		remote := e.mustTend(append(args, "--nats", srv.URL(), "--host", "churn-1")...)
		if local != remote {
			t.Errorf("tend %v: from the stream\n%s\nfrom the log\n%s", args, remote, local)
		}
	}
	rl := filepath.Join(e.dir, "local.html")
	rr := filepath.Join(e.dir, "remote.html")
	lo := e.mustTend("report", "--db", e.db(), "-o", rl)
	ro := e.mustTend("report", "--nats", srv.URL(), "--host", "churn-1", "-o", rr)
	// The sizes may differ across a KiB: each report names its source (the
	// file or the stream) and when it was made.
	size := regexp.MustCompile(`, [0-9]+ KiB`)
	if size.ReplaceAllString(strings.Replace(lo, rl, "X", 1), "") != size.ReplaceAllString(strings.Replace(ro, rr, "X", 1), "") {
		t.Errorf("report from the stream: %s; from the log: %s", ro, lo)
	}
	if _, _, code := e.tend("history", "crashy", "--db", e.db(), "--nats", srv.URL(), "--host", "churn-1"); code != cli.ExitUsage {
		t.Errorf("--db with --nats: exit %d", code)
	}

	// A copy of the stream with one byte of one record changed.
	tampered := events.Seq(last / 3)
	copyStream(t, srv.URL(), logs[0], "COPY", "copy", tampered)
	out, _, code := e.tend("fleet", "verify", "--nats", srv.URL(), "--stream", "COPY", "--subject", "copy")
	if code != cli.ExitFailure || !strings.Contains(out, fmt.Sprintf("DAMAGED: host churn-1 log %.8s: first bad seq %d", logID, tampered)) {
		t.Fatalf("fleet verify on the tampered copy: exit %d\n%s", code, out)
	}
	_, errs, code := e.tend("history", "crashy", "--nats", srv.URL(), "--stream", "COPY", "--subject", "copy", "--host", "churn-1")
	if code != cli.ExitFailure || !strings.Contains(errs, fmt.Sprintf("is not whole at seq %d", tampered)) {
		t.Errorf("history on the tampered copy: exit %d: %s", code, errs)
	}
}

// copyStream republishes a log's messages into a new stream, headers and
// all, with one byte of the record of seq bad flipped.
func copyStream(t *testing.T, url string, l *fleet.Log, stream, prefix string, bad events.Seq) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: stream, Subjects: []string{prefix + ".>"}}); err != nil {
		t.Fatal(err)
	}
	for _, m := range l.Msgs {
		data := append([]byte(nil), m.Data...)
		if m.Seq == bad {
			data[len(data)-1] ^= 0x01
		}
		msg := nats.NewMsg(prefix + strings.TrimPrefix(m.Subject, "tend"))
		msg.Data = data
		msg.Header.Set("Tend-Log", l.ID)
		msg.Header.Set("Tend-Host", l.Host)
		msg.Header.Set("Tend-Seq", fmt.Sprint(m.Seq))
		if _, err := js.PublishMsg(ctx, msg); err != nil {
			t.Fatal(err)
		}
	}
}

// Three daemons on one machine, each with its own state directory, export
// to one stream: fleet status shows all three, their workers and states.
func TestFleetStatusShowsEveryHost(t *testing.T) {
	srv := natstest.Start(t, t.TempDir())
	var envs []*env
	for i := 1; i <= 3; i++ {
		e := newEnv(t, fmt.Sprintf("[worker.app%d]\ncommand = %s\nstart_timeout = \"20ms\"\n", i, helperCmd("hang"))+exportConf(srv.URL(), fmt.Sprintf("host-%d", i)))
		e.startDaemon()
		e.waitStatus(fmt.Sprintf("app%d", i), "running", running)
		envs = append(envs, e)
	}
	for _, e := range envs {
		e.waitExported(0, 10*time.Second)
	}
	time.Sleep(200 * time.Millisecond)
	var hosts []struct {
		fleet.HostState
		Workers []client.WorkerStatus `json:"workers"`
	}
	out := envs[0].mustTend("fleet", "status", "--nats", srv.URL(), "-o", "json")
	if err := json.Unmarshal([]byte(out), &hosts); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(hosts) != 3 {
		t.Fatalf("fleet status shows %d hosts:\n%s", len(hosts), out)
	}
	for i, h := range hosts {
		want := fmt.Sprintf("app%d", i+1)
		if h.Host != fmt.Sprintf("host-%d", i+1) || len(h.Workers) != 1 || h.Workers[0].Name != want || h.Workers[0].State != "Running" ||
			h.Heartbeat == nil || len(h.Flags) != 0 {
			t.Errorf("host %d: %+v", i+1, h)
		}
	}
	table := envs[0].mustTend("fleet", "status", "--nats", srv.URL())
	for i := 1; i <= 3; i++ {
		if !strings.Contains(table, fmt.Sprintf("HOST host-%d", i)) || !strings.Contains(table, fmt.Sprintf("app%d", i)) {
			t.Errorf("table lacks host-%d:\n%s", i, table)
		}
	}
	// A host whose daemon is gone is flagged silent once its heartbeat is old.
	envs[1].stopDaemon()
	out = envs[0].mustTend("fleet", "status", "--nats", srv.URL(), "--silent", "100ms", "-o", "json")
	if err := json.Unmarshal([]byte(out), &hosts); err != nil || !strings.Contains(strings.Join(hosts[1].Flags, ","), "silent") {
		t.Errorf("stopped host-2 not flagged silent: %v\n%s", err, out)
	}
	if out := envs[0].mustTend("fleet", "verify", "--nats", srv.URL()); strings.Count(out, "ok: host") != 3 {
		t.Errorf("fleet verify:\n%s", out)
	}
}

// Alerts end to end: one receiver fails its first three requests, the
// other is down while the daemon is SIGKILLed; afterwards each has every
// alert, each exactly once after de-duplication by key.
func TestAlertsArriveDespiteFailuresAndACrash(t *testing.T) {
	flaky := &webhookReceiver{failFirst: 3}
	down := &webhookReceiver{down: true}
	fs, ds := flaky.start(t), down.start(t)
	e := newEnv(t, crashLoop+fmt.Sprintf(`
[[notify]]
name = "flaky"
on = ["exited"]
workers = ["crashy"]
webhook = %q
backoff_initial = "10ms"
backoff_max = "50ms"

[[notify]]
name = "down"
on = ["exited"]
webhook = %q
max_attempts = 1000
backoff_initial = "10ms"
backoff_max = "100ms"
`, fs, ds))
	e.startDaemon()
	time.Sleep(1500 * time.Millisecond)
	e.killDaemon()
	if n := len(down.keys()); n != 0 {
		t.Fatalf("the receiver that is down got %d alerts", n)
	}
	down.setDown(false)
	e.startDaemon()
	time.Sleep(500 * time.Millisecond)
	e.mustTend("stop", "crashy")
	want := exitKeys(t, e)
	if len(want) < 5 {
		t.Fatalf("only %d exits", len(want))
	}
	for _, r := range []*webhookReceiver{flaky, down} {
		deadline := time.Now().Add(30 * time.Second)
		for len(r.keys()) < len(want) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
	}
	for name, r := range map[string]*webhookReceiver{"flaky": flaky, "down": down} {
		got := r.keys()
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("%s: got %d alerts, want %d:\n got  %v\n want %v", name, len(got), len(want), got, want)
		}
		t.Logf("%s: %d alerts, %d requests (%d duplicates dropped by key)", name, len(got), r.requestCount(), r.duplicates())
	}
	m := flaky.first()
	if m.Why == nil || !strings.Contains(m.WhyText, "crashy is") || len(m.Stderr) == 0 || !strings.Contains(m.Stderr[len(m.Stderr)-1], "boom on stderr") {
		t.Errorf("alert lacks why or stderr: %+v", m)
	}
	if st := e.daemonStatus(); len(st.Notify) != 2 || st.Notify[0].DeadLetters != 0 {
		t.Errorf("notify status %+v", st.Notify)
	}
}

// exitKeys are the keys of every exited event of crashy in the daemon's log.
func exitKeys(t *testing.T, e *env) []string {
	t.Helper()
	time.Sleep(300 * time.Millisecond)
	var logID string
	out := e.mustTend("events", "--type", "exited", "--worker", "crashy", "-o", "json")
	var keys []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var ev events.JSON
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, fmt.Sprint(ev.Seq))
	}
	if logID = e.logID(); logID == "" {
		t.Fatal("no log id")
	}
	for i := range keys {
		keys[i] = logID + ":" + keys[i]
	}
	return keys
}

// logID reads the log id from the running daemon's file through a copy.
func (e *env) logID() string {
	e.t.Helper()
	data, err := os.ReadFile(e.db())
	if err != nil {
		e.t.Fatal(err)
	}
	cp := filepath.Join(e.t.TempDir(), "copy.db")
	os.WriteFile(cp, data, 0o600)
	l, err := store.Open(cp, store.Options{ReadOnly: true})
	if err != nil {
		e.t.Fatal(err)
	}
	defer l.Close()
	return l.LogID()
}

// webhookReceiver is an alert receiver: it can fail its first requests or
// be down, and it keeps what it accepted.
type webhookReceiver struct {
	mu        sync.Mutex
	failFirst int
	down      bool
	requests  int
	got       []alert.Message
}

func (r *webhookReceiver) start(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		r.requests++
		if r.down || r.requests <= r.failFirst {
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		var m alert.Message
		if err := json.Unmarshal(body, &m); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.got = append(r.got, m)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/hook"
}

func (r *webhookReceiver) setDown(d bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.down = d
}

// keys are the keys accepted, each once, in the order they first came.
func (r *webhookReceiver) keys() []string {
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

func (r *webhookReceiver) requestCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requests
}

func (r *webhookReceiver) duplicates() int {
	n := len(r.keys())
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got) - n
}

func (r *webhookReceiver) first() alert.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.got) == 0 {
		return alert.Message{}
	}
	return r.got[0]
}

// A reload that adds an alert starts it; one that removes it stops it.
func TestReloadStartsAndStopsAlerts(t *testing.T) {
	rcv := &webhookReceiver{}
	url := rcv.start(t)
	e := newEnv(t, crashLoop)
	e.startDaemon()
	if st := e.daemonStatus(); st.Notify != nil {
		t.Fatalf("alerts without [[notify]]: %+v", st.Notify)
	}
	conf := "[daemon]\nstate_dir = \"state\"\nlog_level = \"debug\"\n\n" + crashLoop +
		fmt.Sprintf("\n[[notify]]\nname = \"ops\"\non = [\"exited\"]\nwebhook = %q\n", url)
	e.write(conf)
	e.mustTend("reload")
	deadline := time.Now().Add(10 * time.Second)
	for len(rcv.keys()) < 3 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := len(rcv.keys()); n < 3 {
		t.Fatalf("after the reload that added it: %d alerts", n)
	}
	e.write("[daemon]\nstate_dir = \"state\"\nlog_level = \"debug\"\n\n" + crashLoop)
	e.mustTend("reload")
	if st := e.daemonStatus(); st.Notify != nil {
		t.Errorf("alerts after the reload that removed them: %+v", st.Notify)
	}
	n := len(rcv.keys())
	time.Sleep(300 * time.Millisecond)
	if m := len(rcv.keys()); m > n+1 { // one may have been on its way
		t.Errorf("alerts kept coming after their removal: %d → %d", n, m)
	}
}
