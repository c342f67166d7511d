package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tendhq/tend/events"
)

// BenchmarkDependencyGraph50 starts a random graph of 50 workers through the
// real binary, each saying it is ready over the notification socket after a
// random delay, and measures what the ordering adds:
//
//   - edge-ms: for each dependent, from the event that made its last
//     requirement ready to its own spawned event (median and p99 over every
//     dependent of every run), which includes its fork and exec;
//   - decide-ms: from that event to the dependent's start_requested (0 when
//     it is recorded in the same decision, as it must be);
//   - startup-s and critical-s: from the daemon's start to the last worker
//     ready, against the sum, along the critical chain, of each worker's
//     own time from spawned to ready (what no supervisor can shorten);
//     chain-edge-ms is their difference per link of that chain.
//
// go test -run '^$' -bench DependencyGraph50 -benchtime 5x ./cmd/tendd/
func BenchmarkDependencyGraph50(b *testing.B) {
	var edges, decide, chain []float64
	var startup, critical []float64
	for i := 0; i < b.N; i++ {
		rng := rand.New(rand.NewPCG(uint64(i), 50))
		deps := make([][]int, 50)
		var conf strings.Builder
		for w := range 50 {
			delay := time.Duration(20+rng.IntN(180)) * time.Millisecond
			fmt.Fprintf(&conf, "[worker.w%02d]\ncommand = %s\nready = \"notify\"\nready_timeout = \"60s\"\n", w, helperCmd("notify", delay.String()))
			if w > 0 {
				for range rng.IntN(4) {
					if d := rng.IntN(w); !slices.Contains(deps[w], d) {
						deps[w] = append(deps[w], d)
					}
				}
			}
			if len(deps[w]) > 0 {
				var parts []string
				for _, d := range deps[w] {
					parts = append(parts, fmt.Sprintf("w%02d = \"ready\"", d))
				}
				fmt.Fprintf(&conf, "depends_on = { %s }\n", strings.Join(parts, ", "))
			}
			conf.WriteString("\n")
		}
		e := newEnv(b, conf.String())
		e.startDaemon()
		deadline := time.Now().Add(60 * time.Second)
		for {
			up := 0
			for _, w := range e.status() {
				if w.State == "Running" {
					up++
				}
			}
			if up == 50 {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("only %d of 50 ready after 60 s", up)
			}
			time.Sleep(20 * time.Millisecond)
		}
		var evs []events.JSON
		dec := json.NewDecoder(strings.NewReader(e.mustTend("events", "-o", "json")))
		for dec.More() {
			var ev events.JSON
			if err := dec.Decode(&ev); err != nil {
				b.Fatal(err)
			}
			evs = append(evs, ev)
		}
		at := func(ev events.JSON) time.Time {
			t, err := time.Parse(time.RFC3339Nano, ev.Time)
			if err != nil {
				b.Fatalf("event %d: time %q: %v", ev.Seq, ev.Time, err)
			}
			return t
		}
		var begin time.Time
		spawned, ready, requested := map[int]time.Time{}, map[int]time.Time{}, map[int]time.Time{}
		for _, ev := range evs {
			var w int
			if _, err := fmt.Sscanf(ev.Worker, "w%d", &w); err != nil || ev.Stale {
				if ev.Type == "daemon_started" && begin.IsZero() {
					begin = at(ev)
				}
				continue
			}
			switch ev.Type {
			case "start_requested":
				if _, ok := requested[w]; !ok {
					requested[w] = at(ev)
				}
			case "spawned":
				if _, ok := spawned[w]; !ok {
					spawned[w] = at(ev)
				}
			case "running":
				if _, ok := ready[w]; !ok {
					ready[w] = at(ev)
				}
			}
		}
		if begin.IsZero() || len(spawned) != 50 || len(ready) != 50 {
			b.Fatalf("log has daemon start %v, %d spawned, %d ready", begin, len(spawned), len(ready))
		}
		// Longest chain by each worker's own spawned-to-ready time.
		own := func(w int) float64 { return ready[w].Sub(spawned[w]).Seconds() }
		best, links := make([]float64, 50), make([]int, 50)
		var last time.Time
		for w := range 50 { // requirements have lower numbers
			best[w] = own(w)
			var gate time.Time
			for _, d := range deps[w] {
				if best[d]+own(w) > best[w] {
					best[w], links[w] = best[d]+own(w), links[d]+1
				}
				if ready[d].After(gate) {
					gate = ready[d]
				}
			}
			if !gate.IsZero() {
				edges = append(edges, spawned[w].Sub(gate).Seconds()*1e3)
				decide = append(decide, requested[w].Sub(gate).Seconds()*1e3)
			}
			if ready[w].After(last) {
				last = ready[w]
			}
		}
		total := last.Sub(begin).Seconds()
		crit := slices.Max(best)
		n := links[slices.Index(best, crit)] + 1 // links plus the first spawn
		startup, critical = append(startup, total), append(critical, crit)
		chain = append(chain, (total-crit)/float64(n)*1e3)
		e.mustTend("stop", "--all")
		e.stopDaemon()
	}
	b.ReportMetric(quantile(edges, 0.5), "edge-ms-median")
	b.ReportMetric(quantile(edges, 0.99), "edge-ms-p99")
	b.ReportMetric(quantile(decide, 0.99), "decide-ms-p99")
	b.ReportMetric(quantile(startup, 0.5), "startup-s")
	b.ReportMetric(quantile(critical, 0.5), "critical-s")
	b.ReportMetric(quantile(chain, 0.5), "chain-edge-ms")
	b.ReportMetric(0, "ns/op")
}

func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	sort.Float64s(s)
	return s[min(len(s)-1, int(q*float64(len(s)-1)+0.5))]
}
