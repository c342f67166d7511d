package daemon

import (
	"context"
	"os"
	"reflect"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tendhq/tend/cmd/internal/alert"
	"github.com/tendhq/tend/cmd/internal/client"
	"github.com/tendhq/tend/cmd/internal/config"
	"github.com/tendhq/tend/cmd/internal/export"
	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/supervisor/core"
)

// outbound is what leaves the host: the export of the log to NATS and the
// alerts. Each runs on goroutines of its own and reads committed events
// from the log; the release path only wakes them.
type outbound struct {
	d *Daemon

	// mu protects the following elements; wake reads them under it, and
	// never waits there (Wake does not block).
	mu       sync.Mutex
	exp      *export.Exporter
	not      *alert.Notifier
	expCfg   *config.NATS
	notCfg   []*config.Notify
	cancel   context.CancelFunc
	done     chan struct{}
	expColl  prometheus.Collector
	notColl  prometheus.Collector
	hostName string
}

// exportDrain is how long a stopping daemon lets the exporter publish its
// last events (daemon_stopping among them) while the server is reachable.
const exportDrain = 2 * time.Second

// hostOf is this host's name in the stream: [export.nats] host, or the
// kernel's.
func hostOf(cfg *config.Config) string {
	if n := cfg.Export.NATS; n != nil && n.Host != "" {
		return n.Host
	}
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	return h
}

// start starts the exporter and the alert senders cfg asks for, replacing
// any running ones whose settings differ. A secret an alert cannot read
// stops nothing else: it is returned, and that entry does not run.
func (o *outbound) start(cfg *config.Config) error {
	o.mu.Lock()
	same := o.done != nil && reflect.DeepEqual(o.expCfg, cfg.Export.NATS) && reflect.DeepEqual(o.notCfg, cfg.Notify) && o.hostName == hostOf(cfg)
	o.mu.Unlock()
	if same {
		return nil
	}
	o.stop(false)
	var (
		exp *export.Exporter
		not *alert.Notifier
		err error
	)
	host := hostOf(cfg)
	if n := cfg.Export.NATS; n != nil {
		exp = export.New(export.Config{Log: o.d.log, NATS: n, Host: host, Logger: o.d.logger})
	}
	if len(cfg.Notify) > 0 {
		not, err = alert.New(alert.Config{Log: o.d.log, Entries: cfg.Notify, Host: host, Logger: o.d.logger,
			DeadLetter: o.deadLetter, Stderr: o.stderrOf})
		if err != nil {
			not = nil
		}
	}
	if exp == nil && not == nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var wg sync.WaitGroup
	reg := o.d.metrics.Registry()
	o.mu.Lock()
	o.exp, o.not, o.expCfg, o.notCfg, o.cancel, o.done, o.hostName = exp, not, cfg.Export.NATS, cfg.Notify, cancel, done, host
	if exp != nil {
		o.expColl = exp.Collector()
		reg.MustRegister(o.expColl)
		wg.Add(1)
		go func() { defer wg.Done(); exp.Run(ctx) }()
	}
	if not != nil {
		o.notColl = not.Collector()
		reg.MustRegister(o.notColl)
		wg.Add(1)
		go func() { defer wg.Done(); not.Run(ctx) }()
	}
	o.mu.Unlock()
	go func() { wg.Wait(); close(done) }()
	return err
}

// stop ends the exporter and the senders. drain: the daemon is stopping,
// and the exporter gets a moment to publish the last events.
func (o *outbound) stop(drain bool) {
	o.mu.Lock()
	exp, cancel, done := o.exp, o.cancel, o.done
	o.mu.Unlock()
	if done == nil {
		return
	}
	if drain && exp != nil {
		deadline := time.Now().Add(exportDrain)
		for time.Now().Before(deadline) {
			st := exp.Status()
			if st.Acked >= st.Last || !st.Connected {
				break
			}
			exp.Wake()
			time.Sleep(10 * time.Millisecond)
		}
	}
	cancel()
	<-done
	o.mu.Lock()
	reg := o.d.metrics.Registry()
	if o.expColl != nil {
		reg.Unregister(o.expColl)
	}
	if o.notColl != nil {
		reg.Unregister(o.notColl)
	}
	o.exp, o.not, o.expCfg, o.notCfg, o.cancel, o.done, o.expColl, o.notColl = nil, nil, nil, nil, nil, nil, nil, nil
	o.mu.Unlock()
}

// wake tells them new events are durable. It runs on the supervisor's
// release path and never blocks.
func (o *outbound) wake() {
	o.mu.Lock()
	exp, not := o.exp, o.not
	o.mu.Unlock()
	if exp != nil {
		exp.Wake()
	}
	if not != nil {
		not.Wake()
	}
}

// deadLetter records an alert given up as a notify_failed event, through
// the supervisor like any other input.
func (o *outbound) deadLetter(ctx context.Context, name string, seq events.Seq, about string, attempts int, lastErr string) error {
	return o.d.sup.NotifyFailed(ctx, core.NotifyFailed{Notifier: name, Seq: seq, About: about, Attempts: attempts, Err: lastErr})
}

// stderrOf is where a configured worker's stderr file is, and the uid that
// may own it besides root.
func (o *outbound) stderrOf(worker string) (string, uint32, bool) {
	spec := o.d.sup.Spec(worker)
	if spec == nil {
		return "", 0, false
	}
	return spec.Stderr, outputOwner(spec), true
}

// status fills the export and alert parts of tend status.
func (o *outbound) status(out *client.Status) {
	o.mu.Lock()
	exp, not := o.exp, o.not
	o.mu.Unlock()
	if exp != nil {
		st := exp.Status()
		out.Export = &client.ExportStatus{Stream: st.Stream, Subject: st.Subject, Host: st.Host, Log: st.Log, Connected: st.Connected,
			Acked: st.Acked, Last: st.Last, LagEvents: st.LagEvents, LagSeconds: st.LagSeconds, LastAck: st.LastAck, Error: st.Error}
	}
	if not != nil {
		for _, st := range not.Status() {
			out.Notify = append(out.Notify, client.NotifyStatus{Name: st.Name, Cursor: st.Cursor, Delivered: st.Delivered,
				Failures: st.Failures, DeadLetters: st.DeadLetters, Retrying: st.Retrying, Error: st.Error})
		}
	}
}
