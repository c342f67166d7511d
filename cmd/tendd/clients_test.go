package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tendhq/tend/cmd/internal/client"
	"github.com/tendhq/tend/events"
)

// 64 clients issue start, stop and restart at once. Every command the
// daemon acknowledged must be in the log, as acknowledged, and the chain
// must verify.
func TestManyClients(t *testing.T) {
	d := 15 * time.Second
	if os.Getenv("TEND_LONG") != "" {
		d = time.Minute
	}
	if testing.Short() {
		d = 3 * time.Second
	}
	workers := []string{"a", "b", "c", "d"}
	conf := ""
	for _, w := range workers {
		conf += fmt.Sprintf("[worker.%s]\ncommand = %s\nstart_timeout = \"20ms\"\nstop_timeout = \"1s\"\nbackoff_initial = \"0s\"\n\n", w, helperCmd("hang"))
	}
	e := newEnv(t, conf)
	e.startDaemon()
	type ack struct {
		worker, verb string
		ev           events.JSON
	}
	var mu sync.Mutex
	var acks []ack
	var failures int
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var wg sync.WaitGroup
	for g := 0; g < 64; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := client.New(e.socket())
			defer c.Close()
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			for ctx.Err() == nil {
				w := workers[rng.IntN(len(workers))]
				verb := []string{"start", "stop", "restart"}[rng.IntN(3)]
				r, err := c.Command(context.Background(), verb, w, false, 10*time.Second)
				mu.Lock()
				if err != nil {
					failures++
					t.Logf("%s %s: %v", verb, w, err)
				} else if r.Event != nil {
					acks = append(acks, ack{w, verb, *r.Event})
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if failures > 0 {
		t.Errorf("%d commands failed", failures)
	}
	if _, _, code := e.tend("status"); code != 0 {
		t.Fatal("daemon no longer answers")
	}
	e.stopDaemon()
	l := openLog(t, e.db())
	rep, err := l.Verify(nil)
	if err != nil || !rep.OK {
		t.Fatalf("log does not verify: %v %+v", err, rep)
	}
	want := map[string]events.Type{"start": events.StartRequested, "stop": events.StopRequested, "restart": events.RestartRequested}
	for _, a := range acks {
		got, err := l.Get(a.ev.Seq)
		if err != nil {
			t.Fatalf("acknowledged %s %s (seq %d) is not in the log: %v", a.verb, a.worker, a.ev.Seq, err)
		}
		if got.Type != want[a.verb] && got.Type != events.BreakerClosed || got.Worker != a.worker || got.Actor != a.ev.Actor {
			t.Fatalf("seq %d: acknowledged %s %s, log has %s %s by %s", a.ev.Seq, a.verb, a.worker, got.Type, got.Worker, got.Actor)
		}
	}
	t.Logf("%d commands acknowledged in %s, all in the log; %d events; chain verifies", len(acks), d, rep.Events)
	if len(acks) < 64 {
		t.Fatalf("only %d commands went through", len(acks))
	}
}

// The metrics endpoint, scraped and parsed with Prometheus' own parser,
// agrees with tend status.
func TestMetricsAgreeWithStatus(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	e := newEnv(t, "")
	e.write(fmt.Sprintf("[daemon]\nstate_dir = \"state\"\nmetrics_listen = %q\n\n", addr) +
		fmt.Sprintf("[worker.up]\ncommand = %s\nstart_timeout = \"50ms\"\n\n[worker.down]\ncommand = %s\nrestart = \"never\"\nstart_timeout = \"50ms\"\n", helperCmd("hang"), helperCmd("exit", "3")))
	e.startDaemon()
	e.waitStatus("up", "running", running)
	e.waitStatus("down", "stopped", func(w client.WorkerStatus) bool { return w.State == "Stopped" && w.LastExit != nil })
	e.mustTend("restart", "up")
	e.waitStatus("up", "running again", func(w client.WorkerStatus) bool { return running(w) && w.Incarnation == 2 })
	st := e.status()

	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	value := func(name string, labels map[string]string) (float64, bool) {
		f := fams[name]
		if f == nil {
			return 0, false
		}
	next:
		for _, m := range f.Metric {
			for k, v := range labels {
				found := false
				for _, lp := range m.Label {
					if lp.GetName() == k && lp.GetValue() == v {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			switch {
			case m.Gauge != nil:
				return m.Gauge.GetValue(), true
			case m.Counter != nil:
				return m.Counter.GetValue(), true
			}
		}
		return 0, false
	}
	for name, w := range st {
		if v, ok := value("tend_worker_state", map[string]string{"worker": name, "state": w.State}); !ok || v != 1 {
			t.Errorf("%s: tend_worker_state{state=%q} = %v (%v), status says %s", name, w.State, v, ok, w.State)
		}
		if v, ok := value("tend_worker_restarts_total", map[string]string{"worker": name}); !ok || int(v) != w.Restarts {
			t.Errorf("%s: restarts metric %v, status %d", name, v, w.Restarts)
		}
		if v, ok := value("tend_worker_incarnation", map[string]string{"worker": name}); !ok || uint64(v) != w.Incarnation {
			t.Errorf("%s: incarnation metric %v, status %d", name, v, w.Incarnation)
		}
	}
	if v, ok := value("tend_worker_last_exit_code", map[string]string{"worker": "down"}); !ok || v != 3 {
		t.Errorf("last exit code of down: %v %v", v, ok)
	}
	if v, ok := value("tend_events_appended_total", map[string]string{"type": "exited"}); !ok || v < 2 {
		t.Errorf("exited events counted: %v", v)
	}
}
