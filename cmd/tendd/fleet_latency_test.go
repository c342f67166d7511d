package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tendhq/tend/cmd/internal/natsio/natstest"
	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/store"
)

// TestRestartLatencyWithExport measures the supervisor's restart latency
// (a worker's exit recorded → its next spawn recorded, from the log's own
// times) with the export to a local NATS server on and off, alternating
// in one run. A measurement, not a check: TEND_EXPORT_LATENCY=1 runs it.
func TestRestartLatencyWithExport(t *testing.T) {
	if os.Getenv("TEND_EXPORT_LATENCY") == "" {
		t.Skip("a measurement: set TEND_EXPORT_LATENCY=1")
	}
	srv := natstest.Start(t, t.TempDir())
	if os.Getenv("TEND_EXPORT_LATENCY_MEMORY") != "" {
		// The server's own writes kept off this machine's disk, as they
		// are when the server runs on another host.
		nc, err := nats.Connect(srv.URL())
		if err != nil {
			t.Fatal(err)
		}
		js, _ := jetstream.New(nc)
		if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: "TEND", Subjects: []string{"tend.>"},
			Storage: jetstream.MemoryStorage, Duplicates: time.Minute}); err != nil {
			t.Fatal(err)
		}
		nc.Close()
	}
	// TEND_EXPORT_LATENCY_SLEEP: how long each incarnation lives (a shell
	// sleep argument): "0" is a tight crash loop that keeps both CPUs busy,
	// "0.05" leaves the machine idle between restarts.
	life := "0"
	if s := os.Getenv("TEND_EXPORT_LATENCY_SLEEP"); s != "" {
		life = s
	}
	roundFor := 3 * time.Second
	if s := os.Getenv("TEND_EXPORT_LATENCY_ROUND"); s != "" {
		roundFor, _ = time.ParseDuration(s)
	}
	worker := `
[worker.loop]
command = ["/bin/sh", "-c", "sleep ` + life + `; exit 3"]
restart = "always"
start_timeout = "1ms"
backoff_initial = "0s"
backoff_max = "0s"
circuit_max_restarts = 0
`
	rounds := 4
	if s := os.Getenv("TEND_EXPORT_LATENCY_ROUNDS"); s != "" {
		fmt.Sscan(s, &rounds)
	}
	all := map[bool][]time.Duration{}
	medians := map[bool][]time.Duration{}
	cpuPer := map[bool][]time.Duration{} // the daemon's CPU time per restart, by round
	for r := 0; r < 2*rounds; r++ {
		on := r%2 == 1
		conf := worker
		if on {
			conf += exportConf(srv.URL(), fmt.Sprintf("lat-%d", r))
		}
		e := newEnv(t, conf)
		e.startDaemon()
		time.Sleep(roundFor)
		if on {
			st := e.daemonStatus()
			t.Logf("round %d: export acked %d of %d", r, st.Export.Acked, st.Export.Last)
		}
		cpu := cpuTicks(e.daemon.Process.Pid)
		e.stopDaemon()
		lat := restartLatencies(t, e.db())
		if len(lat) > 0 {
			cpuPer[on] = append(cpuPer[on], time.Duration(cpu)*10*time.Millisecond/time.Duration(len(lat)))
		}
		all[on] = append(all[on], lat...)
		medians[on] = append(medians[on], median(lat))
		t.Logf("round %d export=%v: %d restarts, median %s", r, on, len(lat), median(lat))
	}
	for _, on := range []bool{false, true} {
		l := all[on]
		slices.Sort(l)
		t.Logf("export=%v: %d restarts, median %s, p90 %s, p99 %s; median of the rounds' medians %s", on, len(l), median(l),
			l[len(l)*9/10], l[len(l)*99/100], median(medians[on]))
		t.Logf("export=%v: the daemon's CPU time per restart, median of the rounds: %s", on, median(cpuPer[on]))
	}
}

// cpuTicks is a process's user and system time so far, in clock ticks
// (1/100 s), from /proc/PID/stat.
func cpuTicks(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	var u, k int64
	fmt.Sscan(f[11], &u)
	fmt.Sscan(f[12], &k)
	return u + k
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

// restartLatencies reads, from a log, the time from each exit of worker
// loop to the spawn of its next incarnation.
func restartLatencies(t *testing.T, db string) []time.Duration {
	l, err := store.Open(db, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var out []time.Duration
	var exitAt time.Time
	err = l.Scan(1, 0, func(e *events.Event) error {
		switch {
		case e.Worker != "loop" || e.Stale:
		case e.Type == events.Exited:
			exitAt = e.Time
		case e.Type == events.Spawned && !exitAt.IsZero():
			out = append(out, e.Time.Sub(exitAt))
			exitAt = time.Time{}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
