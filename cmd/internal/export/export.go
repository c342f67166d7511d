// Package export publishes every event of the daemon's log to a NATS
// JetStream stream ([export.nats]), in order, each exactly as stored, and
// keeps its place in the log (the cursor "export") only once the server has
// acknowledged it.
//
// The log is the buffer: during an outage nothing is held in memory, and
// when the server is back the exporter reads on from its cursor, with at
// most Window publishes awaiting their acknowledgement. It runs on its own
// goroutine and reads committed events from the store; the supervisor only
// wakes it (Wake never blocks), so a slow or absent server never slows a
// decision, a commit or a restart.
//
// It may not decide anything or append to the log: it reads the log, writes
// its own cursor, and talks to the server.
package export

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/tendhq/tend/cmd/internal/config"
	"github.com/tendhq/tend/cmd/internal/natsio"
	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/store"
)

// CursorName is the exporter's cursor in the log.
const CursorName = "export"

// Timing. The cursor is written at most once per cursorEvery, in its own
// small transaction: each write takes bbolt's write lock and an fsync the
// supervisor's next commit may wait behind, so it is rare. A crash repeats
// at most that much, and only until resumePoint skips what the stream
// already holds (or the server drops it by its message id).
const (
	cursorEvery = 5 * time.Second
	tickEvery   = time.Second
	// linger: an idle exporter woken by new events waits this long before
	// it reads them, so that the events of one decision and of what it
	// sets off (an exit, the restart it schedules, the spawn) are read and
	// published together after the supervisor has made them, rather than
	// one by one while it is making them.
	linger         = 10 * time.Millisecond
	heartbeatEvery = 5 * time.Second
	ackTimeout     = 10 * time.Second
	minBackoff     = 50 * time.Millisecond
	maxBackoff     = time.Second
	warnEvery      = time.Minute
)

// setupTimeout bounds a session's set-up (the stream, the heartbeat
// bucket, the resume point); a server that denies a request answers none.
var setupTimeout = 10 * time.Second

// Config wires an Exporter.
type Config struct {
	Log    *store.Log
	NATS   *config.NATS
	Host   string // this host's name (NATS.Host, or the kernel's)
	Logger zerolog.Logger
}

// Exporter is one daemon's exporter.
type Exporter struct {
	cfg    Config
	logger zerolog.Logger
	opts   natsio.Options
	wake   chan struct{}

	acked     atomic.Uint64 // last seq the server acknowledged (the cursor, maybe not yet written)
	connected atomic.Bool
	published atomic.Uint64
	failures  atomic.Uint64

	// mu protects the following elements.
	mu      sync.Mutex
	lastErr string
	lastAck time.Time
}

// New makes an exporter; Run starts it.
func New(cfg Config) *Exporter {
	o := Options(cfg.NATS)
	o.Name = "tend export " + cfg.Host
	return &Exporter{cfg: cfg, logger: cfg.Logger.With().Str("part", "export").Logger(), opts: o, wake: make(chan struct{}, 1)}
}

// Options are the connection settings of [export.nats].
func Options(n *config.NATS) natsio.Options {
	return natsio.Options{URL: n.URL, Creds: n.Creds, NKey: n.NKey, User: n.User, PasswordFile: n.PasswordFile,
		PasswordEnv: n.PasswordEnv, TLSCA: n.TLSCA, TLSCert: n.TLSCert, TLSKey: n.TLSKey}
}

// Wake tells the exporter that new events are durable. It never blocks.
func (x *Exporter) Wake() {
	select {
	case x.wake <- struct{}{}:
	default:
	}
}

// Status is what tend status and the metrics show of the export.
type Status struct {
	Stream     string     `json:"stream"`
	Subject    string     `json:"subject"`
	Host       string     `json:"host"`
	Log        string     `json:"log"`
	Connected  bool       `json:"connected"`
	Acked      events.Seq `json:"acked"`
	Last       events.Seq `json:"last"`
	LagEvents  uint64     `json:"lag_events"`
	LagSeconds float64    `json:"lag_seconds"`
	LastAck    *time.Time `json:"last_ack,omitempty"`
	Error      string     `json:"error,omitempty"`
}

// Status reports the export's progress: the lag in events, and in seconds
// the age of the oldest event the server has not acknowledged.
func (x *Exporter) Status() Status {
	acked := events.Seq(x.acked.Load())
	last := x.cfg.Log.LastSeq()
	st := Status{Stream: x.cfg.NATS.Stream, Subject: x.cfg.NATS.Subject, Host: x.cfg.Host, Log: x.cfg.Log.LogID(),
		Connected: x.connected.Load(), Acked: acked, Last: last}
	if last > acked {
		st.LagEvents = uint64(last - acked)
		if e, err := x.cfg.Log.Get(acked + 1); err == nil {
			st.LagSeconds = max(time.Since(e.Time).Seconds(), 0)
		}
	}
	x.mu.Lock()
	st.Error = x.lastErr
	if !x.lastAck.IsZero() {
		t := x.lastAck
		st.LastAck = &t
	}
	x.mu.Unlock()
	return st
}

// Run exports until ctx ends, reconnecting with backoff after any error,
// and writes the cursor before it returns.
func (x *Exporter) Run(ctx context.Context) {
	cur, _, err := x.cfg.Log.Cursor(CursorName)
	if err != nil {
		x.logger.Error().Err(err).Msg("export cursor unreadable; exporting from the start (the server drops what it already has)")
	}
	x.acked.Store(uint64(cur))
	x.logger.Info().Str("stream", x.cfg.NATS.Stream).Str("subject", x.cfg.NATS.Subject).Str("host", x.cfg.Host).
		Str("log", x.cfg.Log.LogID()).Uint64("cursor", uint64(cur)).Msg("exporting the log to NATS")
	backoff := minBackoff
	stopWarn := x.warnLag(ctx)
	defer stopWarn()
	for ctx.Err() == nil {
		start := time.Now()
		err := x.session(ctx)
		x.connected.Store(false)
		if ctx.Err() != nil {
			break
		}
		x.failures.Add(1)
		x.setErr(err)
		if time.Since(start) > 10*time.Second {
			backoff = minBackoff // it worked for a while: a fresh failure
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
	x.saveCursor(events.Seq(x.acked.Load()))
}

func (x *Exporter) setErr(err error) {
	msg := err.Error()
	x.mu.Lock()
	changed := msg != x.lastErr
	x.lastErr = msg
	x.mu.Unlock()
	if changed {
		x.logger.Warn().Err(err).Uint64("acked", x.acked.Load()).Msg("export interrupted; the log keeps what is not yet acknowledged and export resumes from there")
	} else {
		x.logger.Debug().Err(err).Msg("export still interrupted")
	}
}

func (x *Exporter) saveCursor(seq events.Seq) {
	if err := x.cfg.Log.SetCursor(CursorName, seq); err != nil {
		x.logger.Error().Err(err).Msg("export cursor not saved")
	}
}

// warnLag warns in the daemon's log while the export lags past
// lag_warning, and says when it has caught up.
func (x *Exporter) warnLag(ctx context.Context) func() {
	limit := x.cfg.NATS.LagWarning
	if limit <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(min(limit/2, 5*time.Second) + time.Millisecond)
		defer tick.Stop()
		var warned time.Time
		for {
			select {
			case <-ctx.Done():
				return
			case <-done:
				return
			case <-tick.C:
			}
			st := x.Status()
			lag := time.Duration(st.LagSeconds * float64(time.Second))
			switch {
			case lag > limit && time.Since(warned) >= warnEvery:
				warned = time.Now()
				x.logger.Warn().Uint64("lag_events", st.LagEvents).Dur("lag", lag).Bool("connected", st.Connected).Str("error", st.Error).
					Msg("export lags behind the log past lag_warning")
			case lag <= limit && !warned.IsZero():
				warned = time.Time{}
				x.logger.Info().Uint64("lag_events", st.LagEvents).Msg("export caught up")
			}
		}
	}()
	return func() { close(done); <-stopped }
}

type inflight struct {
	seq events.Seq
	f   jetstream.PubAckFuture
}

// session is one connection: set up the stream, resume from the cursor
// (or past it, when the server already holds later events of this log),
// then publish in order with a bounded window, advancing the cursor as the
// acknowledgements come, in order. Any error ends the session; the next
// one publishes again everything not acknowledged.
func (x *Exporter) session(ctx context.Context) (err error) {
	closed := make(chan struct{})
	// What the server says on its own (a permission it denies) comes
	// apart from the request it concerns, which then only times out.
	var said atomic.Pointer[string]
	defer func() {
		if p := said.Load(); err != nil && p != nil {
			err = fmt.Errorf("%w (the server said: %s)", err, *p)
		}
	}()
	nc, err := natsio.Connect(x.opts, nats.ReconnectBufSize(-1), nats.MaxReconnects(0), nats.Timeout(2*time.Second),
		nats.NoCallbacksAfterClientClose(),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			msg := err.Error()
			said.Store(&msg)
			x.logger.Debug().Err(err).Msg("the NATS server reports an error")
		}),
		nats.ClosedHandler(func(*nats.Conn) { close(closed) }),
		nats.DisconnectErrHandler(func(*nats.Conn, error) { x.connected.Store(false) }))
	if err != nil {
		return err
	}
	defer nc.Close()
	n := x.cfg.NATS
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(n.Window), jetstream.WithPublishAsyncTimeout(ackTimeout))
	if err != nil {
		return err
	}
	sctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	if _, err := natsio.EnsureStream(sctx, js, natsio.StreamSpec{Name: n.Stream, Prefix: n.Subject,
		DuplicateWindow: n.DuplicateWindow, Replicas: n.Replicas, MaxAge: n.MaxAge}); err != nil {
		return err
	}
	kv, err := natsio.Hosts(sctx, js, n.Stream, true)
	if err != nil {
		x.logger.Info().Err(err).Msg("no heartbeat bucket: tend fleet status will not show this host's lag")
		kv = nil
	}
	acked := events.Seq(x.acked.Load())
	if s := x.resumePoint(sctx, js, acked); s > acked {
		x.logger.Info().Uint64("cursor", uint64(acked)).Uint64("resume", uint64(s)).Msg("the stream already holds this log up to a later seq; resuming after it")
		acked = s
		x.acked.Store(uint64(s))
		x.saveCursor(s)
	}
	cancel()
	x.connected.Store(true)
	x.setErrNil()

	var (
		win       []inflight
		next      = acked + 1
		saved     = acked
		savedAt   = time.Now()
		tick      = time.NewTicker(tickEvery)
		heartbeat time.Time
		dec       events.Decoder
		ev        events.Event
		logID     = x.cfg.Log.LogID()
	)
	defer tick.Stop()
	defer func() {
		if acked != saved {
			x.saveCursor(acked)
		}
	}()
	save := func(force bool) {
		if acked != saved && (force || time.Since(savedAt) >= cursorEvery) {
			x.saveCursor(acked)
			saved, savedAt = acked, time.Now()
		}
	}
	beat := func() {
		if kv == nil || time.Since(heartbeat) < heartbeatEvery {
			return
		}
		heartbeat = time.Now()
		st := x.Status()
		hb := natsio.Heartbeat{Host: x.cfg.Host, Log: logID, Acked: st.Acked, Last: st.Last, LagEvents: st.LagEvents,
			LagSeconds: st.LagSeconds, Time: time.Now().UTC(), Every: heartbeatEvery.String()}
		hctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		if _, err := kv.Put(hctx, natsio.HeartbeatKey(x.cfg.Host, logID), hb.Marshal()); err != nil {
			x.logger.Debug().Err(err).Msg("heartbeat not written")
		}
	}
	for {
		for len(win) < n.Window {
			recs, err := x.cfg.Log.Records(next, n.Window-len(win))
			if err != nil {
				return fmt.Errorf("read the log at seq %d: %w", next, err)
			}
			if len(recs) == 0 {
				break
			}
			for _, r := range recs {
				if err := dec.Decode(r.Data, &ev); err != nil {
					return fmt.Errorf("decode seq %d: %w", r.Seq, err)
				}
				m := nats.NewMsg(natsio.Subject(n.Subject, x.cfg.Host, ev.Worker, ev.Type))
				m.Data = r.Data
				m.Header.Set(natsio.HeaderLog, logID)
				m.Header.Set(natsio.HeaderHost, x.cfg.Host)
				m.Header.Set(natsio.HeaderSeq, strconv.FormatUint(uint64(r.Seq), 10))
				f, err := js.PublishMsgAsync(m, jetstream.WithMsgID(natsio.MsgID(logID, r.Seq)), jetstream.WithExpectStream(n.Stream),
					jetstream.WithRetryAttempts(0))
				if err != nil {
					return fmt.Errorf("publish seq %d: %w", r.Seq, err)
				}
				x.published.Add(1)
				win = append(win, inflight{seq: r.Seq, f: f})
				next = r.Seq + 1
			}
		}
		if len(win) == 0 {
			save(false)
			beat()
			select {
			case <-ctx.Done():
				return nil
			case <-closed:
				return errors.New("connection closed")
			case <-x.wake:
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(linger):
				}
			case <-tick.C:
			}
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-closed:
			return errors.New("connection closed")
		case <-tick.C:
			save(false)
			beat()
		case ack := <-win[0].f.Ok():
			if ack.Stream != n.Stream {
				return fmt.Errorf("seq %d was stored in stream %s, not %s", win[0].seq, ack.Stream, n.Stream)
			}
			acked = win[0].seq
			x.acked.Store(uint64(acked))
			win = win[1:]
			if len(win) == 0 {
				x.mu.Lock()
				x.lastAck = time.Now()
				x.mu.Unlock()
			}
			save(false)
		case err := <-win[0].f.Err():
			return fmt.Errorf("seq %d not acknowledged: %w", win[0].seq, err)
		}
	}
}

func (x *Exporter) setErrNil() {
	x.mu.Lock()
	had := x.lastErr != ""
	x.lastErr = ""
	x.mu.Unlock()
	if had {
		x.logger.Info().Uint64("acked", x.acked.Load()).Msg("export connected again; catching up from the cursor")
	}
}

// resumePoint is the seq past the cursor up to which the stream already
// holds this log: the last message of this host, when it is this log's
// and its bytes are exactly the record the log holds at its seq (after a
// crash that lost the cursor's last writes, or a duplicate window shorter
// than the daemon was down). Anything else resumes at the cursor.
func (x *Exporter) resumePoint(ctx context.Context, js jetstream.JetStream, acked events.Seq) events.Seq {
	st, err := js.Stream(ctx, x.cfg.NATS.Stream)
	if err != nil {
		return acked
	}
	m, err := st.GetLastMsgForSubject(ctx, natsio.HostFilter(x.cfg.NATS.Subject, x.cfg.Host))
	if err != nil || m.Header.Get(natsio.HeaderLog) != x.cfg.Log.LogID() {
		return acked
	}
	seq, err := strconv.ParseUint(m.Header.Get(natsio.HeaderSeq), 10, 64)
	if err != nil || events.Seq(seq) <= acked || events.Seq(seq) > x.cfg.Log.LastSeq() {
		return acked
	}
	recs, err := x.cfg.Log.Records(events.Seq(seq), 1)
	if err != nil || len(recs) != 1 || string(recs[0].Data) != string(m.Data) {
		return acked
	}
	return events.Seq(seq)
}

// Collector returns the export's metrics, read at scrape time.
func (x *Exporter) Collector() prometheus.Collector { return &collector{x: x} }

type collector struct{ x *Exporter }

var (
	descAcked     = prometheus.NewDesc("tend_export_acked_seq", "Last seq of the log the NATS server acknowledged.", nil, nil)
	descLagEvents = prometheus.NewDesc("tend_export_lag_events", "Events of the log not yet acknowledged by the NATS server.", nil, nil)
	descLagSecs   = prometheus.NewDesc("tend_export_lag_seconds", "Age of the oldest event not yet acknowledged by the NATS server (0 when none).", nil, nil)
	descConnected = prometheus.NewDesc("tend_export_connected", "1 while the exporter is connected to the NATS server.", nil, nil)
	descPublished = prometheus.NewDesc("tend_export_published_total", "Events published (a republish after an interruption counts again).", nil, nil)
	descFailures  = prometheus.NewDesc("tend_export_interruptions_total", "Export sessions that ended with an error.", nil, nil)
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descAcked, descLagEvents, descLagSecs, descConnected, descPublished, descFailures} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	st := c.x.Status()
	conn := 0.0
	if st.Connected {
		conn = 1
	}
	ch <- prometheus.MustNewConstMetric(descAcked, prometheus.GaugeValue, float64(st.Acked))
	ch <- prometheus.MustNewConstMetric(descLagEvents, prometheus.GaugeValue, float64(st.LagEvents))
	ch <- prometheus.MustNewConstMetric(descLagSecs, prometheus.GaugeValue, st.LagSeconds)
	ch <- prometheus.MustNewConstMetric(descConnected, prometheus.GaugeValue, conn)
	ch <- prometheus.MustNewConstMetric(descPublished, prometheus.CounterValue, float64(c.x.published.Load()))
	ch <- prometheus.MustNewConstMetric(descFailures, prometheus.CounterValue, float64(c.x.failures.Load()))
}
