// Package alert sends alerts: for each [[notify]] entry, every event of
// the types (and workers) it names, as a JSON message to a webhook or on
// the stdin of a command, with the event, the `why` of its worker right
// after it (package explain) and the last lines of the worker's stderr.
//
// Delivery is at least once. Each entry keeps its place in the log in a
// cursor of its own ("notify.NAME"), advanced only once a message was
// accepted (a 2xx answer, exit status 0) or, after its last attempt,
// recorded as a notify_failed event, the dead letter; a daemon that
// crashes sends again what it had not finished. Every message carries a
// key, "<log id>:<seq>", the same on every attempt, by which a receiver
// drops what it already has.
//
// Each entry sends from its own goroutine, reading committed events from
// the log: a slow or absent receiver never holds up the supervisor, only
// the alerts after it in the same entry. It may not decide anything: the
// dead letter is recorded through the function the daemon hands it.
package alert

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/tendhq/tend/cmd/internal/config"
	"github.com/tendhq/tend/cmd/internal/explain"
	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/fsm"
	"github.com/tendhq/tend/fsm/replay"
	"github.com/tendhq/tend/store"
	"github.com/tendhq/tend/supervisor/children"
	"github.com/tendhq/tend/supervisor/logfile"
)

// CursorPrefix starts each entry's cursor name in the log.
const CursorPrefix = "notify."

// Bounds on what one message carries and keeps.
const (
	stderrBytes = 64 << 10 // read at most this much of the end of a stderr file
	historyKeep = 200      // a worker's recent events kept for why
	// cursorEvery: how often a cursor moved past events that alert no one
	// is written (its own transaction and fsync, which the supervisor's
	// next commit may wait behind); after an alert it is written at once.
	cursorEvery = 5 * time.Second
	tickEvery   = time.Second
)

// Config wires a Notifier.
type Config struct {
	Log     *store.Log
	Entries []*config.Notify
	Host    string
	Logger  zerolog.Logger
	// DeadLetter records that the alert name about seq was not delivered
	// after attempts attempts; when it returns nil the record is durable.
	DeadLetter func(ctx context.Context, name string, seq events.Seq, about string, attempts int, lastErr string) error
	// Stderr says where a worker's stderr file is and which uid besides
	// root may own it; ok is false when the worker is not configured.
	Stderr func(worker string) (path string, uid uint32, ok bool)
}

// Notifier sends the alerts of every entry.
type Notifier struct {
	senders []*sender
}

// New prepares every entry; it fails when a secret it names cannot be read.
func New(cfg Config) (*Notifier, error) {
	n := &Notifier{}
	for _, e := range cfg.Entries {
		s := &sender{cfg: cfg, e: e, wake: make(chan struct{}, 1),
			logger: cfg.Logger.With().Str("part", "alert").Str("notify", e.Name).Logger()}
		if len(e.Exec) == 0 {
			s.target = &webhook{url: e.Webhook, client: &http.Client{Timeout: e.Timeout,
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
			key, err := secret(e.HMACSecretFile, e.HMACSecretEnv)
			if err != nil {
				return nil, fmt.Errorf("notify %s: %w", e.Name, err)
			}
			s.target.(*webhook).key = key
		} else {
			s.target = &command{argv: e.Exec, timeout: e.Timeout}
		}
		s.from, s.fromErr = s.startCursor()
		n.senders = append(n.senders, s)
	}
	return n, nil
}

// startCursor is where the entry takes up the log: its saved cursor, or
// for a new entry the log's end as New is called, saved at once. Taken
// here and not when its goroutine first runs: an event recorded between
// the two was neither the past nor sent.
func (s *sender) startCursor() (events.Seq, error) {
	cur, found, err := s.cfg.Log.Cursor(s.cursorName())
	if err != nil || found {
		return cur, err
	}
	// A new entry alerts from now on, not on the whole past of the log.
	cur = s.cfg.Log.LastSeq()
	if err := s.cfg.Log.SetCursor(s.cursorName(), cur); err != nil {
		s.logger.Error().Err(err).Msg("alert cursor not saved")
	}
	return cur, nil
}

// secret reads an HMAC key from a file or a variable; nil when neither is
// named. The key itself never appears in an error.
func secret(file, env string) ([]byte, error) {
	switch {
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("hmac_secret_file: %w", errors.Unwrap(err))
		}
		if b = bytes.TrimRight(b, "\r\n"); len(b) == 0 {
			return nil, errors.New("hmac_secret_file is empty")
		}
		return b, nil
	case env != "":
		v := os.Getenv(env)
		if v == "" {
			return nil, fmt.Errorf("hmac_secret_env: variable %s is not set", env)
		}
		return []byte(v), nil
	}
	return nil, nil
}

// Run sends until ctx ends.
func (n *Notifier) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, s := range n.senders {
		wg.Add(1)
		go func() { defer wg.Done(); s.run(ctx) }()
	}
	wg.Wait()
}

// Wake tells every entry that new events are durable. It never blocks.
func (n *Notifier) Wake() {
	for _, s := range n.senders {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// Status is one entry's progress, for tend status and the metrics.
type Status struct {
	Name        string     `json:"name"`
	Cursor      events.Seq `json:"cursor"`    // every event up to here is done with
	Delivered   uint64     `json:"delivered"` // messages accepted since the daemon started
	Failures    uint64     `json:"failures"`  // attempts that failed
	DeadLetters uint64     `json:"dead_letters"`
	Retrying    events.Seq `json:"retrying,omitempty"` // the seq whose message is being retried
	Error       string     `json:"error,omitempty"`    // the last failure
}

// Status reports every entry.
func (n *Notifier) Status() []Status {
	out := make([]Status, len(n.senders))
	for i, s := range n.senders {
		out[i] = s.status()
	}
	return out
}

// Message is what a receiver gets, as JSON.
type Message struct {
	// Key is "<log id>:<seq>", the same on every attempt and after a
	// crash: a receiver drops a message whose key it has seen.
	Key    string          `json:"key"`
	Notify string          `json:"notify"`
	Host   string          `json:"host"`
	Log    string          `json:"log"`
	Event  events.JSON     `json:"event"`
	Why    *explain.Answer `json:"why,omitempty"`
	// WhyText is Why as `tend why` prints it.
	WhyText string   `json:"why_text,omitempty"`
	Stderr  []string `json:"stderr,omitempty"`
	// StderrError says why the stderr lines are missing, when they are.
	StderrError string `json:"stderr_error,omitempty"`
}

type target interface {
	deliver(ctx context.Context, body []byte, key string, attempt int) error
}

type sender struct {
	cfg    Config
	e      *config.Notify
	target target
	logger zerolog.Logger
	wake   chan struct{}
	// from is where the entry takes up the log (startCursor), or fromErr
	// why it cannot.
	from    events.Seq
	fromErr error

	world   *fsm.World
	hist    map[string][]events.Event // a worker's recent events, oldest first
	seeded  map[string]bool
	startAt events.Seq // the fold began after this seq

	cursor      atomic.Uint64
	delivered   atomic.Uint64
	failures    atomic.Uint64
	deadLetters atomic.Uint64
	retrying    atomic.Uint64
	// mu protects lastErr.
	mu      sync.Mutex
	lastErr string
}

func (s *sender) cursorName() string { return CursorPrefix + s.e.Name }

func (s *sender) status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Status{Name: s.e.Name, Cursor: events.Seq(s.cursor.Load()), Delivered: s.delivered.Load(), Failures: s.failures.Load(),
		DeadLetters: s.deadLetters.Load(), Retrying: events.Seq(s.retrying.Load()), Error: s.lastErr}
}

// errStop ends a pass over the log when the daemon stops.
var errStop = errors.New("notify: stopping")

func (s *sender) run(ctx context.Context) {
	cur := s.from
	if s.fromErr != nil {
		// Said where the operator looks (status) as well as in the log.
		s.mu.Lock()
		s.lastErr = "not sending: " + s.fromErr.Error()
		s.mu.Unlock()
		s.logger.Error().Err(s.fromErr).Msg("alert cursor unreadable; not sending this entry's alerts")
		return
	}
	s.cursor.Store(uint64(cur))
	w, _, err := replay.World(s.cfg.Log, cur)
	if err != nil {
		s.logger.Error().Err(err).Msg("log unreadable; not sending this entry's alerts")
		return
	}
	s.world, s.hist, s.seeded, s.startAt = w, map[string][]events.Event{}, map[string]bool{}, cur
	s.logger.Info().Uint64("cursor", uint64(cur)).Msg("sending alerts")
	saved, savedAt := cur, time.Now()
	tick := time.NewTicker(tickEvery)
	defer tick.Stop()
	for {
		last := s.cfg.Log.LastSeq()
		if from := events.Seq(s.cursor.Load()) + 1; from <= last {
			err := s.cfg.Log.Scan(from, last, func(e *events.Event) error {
				if err := s.world.Apply(e); err != nil {
					s.logger.Error().Err(err).Uint64("seq", uint64(e.Seq)).Msg("event does not fold; why is left out")
				}
				s.remember(e)
				if s.matches(e) {
					if err := s.send(ctx, e); err != nil {
						return err
					}
					saved, savedAt = e.Seq, time.Now() // send wrote the cursor
				}
				s.cursor.Store(uint64(e.Seq))
				return nil
			})
			if errors.Is(err, errStop) || ctx.Err() != nil {
				break
			}
			if err != nil {
				s.logger.Error().Err(err).Msg("log unreadable; alerts wait")
			}
		}
		if c := events.Seq(s.cursor.Load()); c != saved && time.Since(savedAt) >= cursorEvery {
			s.saveCursor(c)
			saved, savedAt = c, time.Now()
		}
		select {
		case <-ctx.Done():
		case <-s.wake:
			continue
		case <-tick.C:
			continue
		}
		break
	}
	if c := events.Seq(s.cursor.Load()); c != saved {
		s.saveCursor(c)
	}
}

func (s *sender) saveCursor(seq events.Seq) {
	if err := s.cfg.Log.SetCursor(s.cursorName(), seq); err != nil {
		s.logger.Error().Err(err).Msg("alert cursor not saved")
	}
}

func (s *sender) matches(e *events.Event) bool {
	if !slices.Contains(s.e.On, e.Type) {
		return false
	}
	if e.Type == events.NotifyFailed && e.Policy == s.e.Name {
		return false // never an alert about its own dead letter
	}
	return len(s.e.Workers) == 0 || slices.Contains(s.e.Workers, e.Worker)
}

// remember keeps a worker's recent events for why.
func (s *sender) remember(e *events.Event) {
	if e.Worker == "" {
		return
	}
	h := append(s.hist[e.Worker], *e)
	if len(h) > historyKeep {
		h = slices.Clone(h[len(h)-historyKeep:])
	}
	s.hist[e.Worker] = h
}

// history is a worker's events up to the one being sent: those folded in
// this run, and before them what the log's index has from before the run.
func (s *sender) history(worker string) []events.Event {
	h := s.hist[worker]
	if !s.seeded[worker] && len(h) < historyKeep {
		s.seeded[worker] = true
		if tail, err := s.cfg.Log.WorkerTail(worker, historyKeep); err == nil {
			var before []events.Event
			for _, e := range tail {
				if e.Seq <= s.startAt {
					before = append(before, e)
				}
			}
			h = append(before, h...)
			s.hist[worker] = h
		}
	}
	return h
}

// message builds what is sent about e.
func (s *sender) message(e *events.Event) Message {
	logID := s.cfg.Log.LogID()
	m := Message{Key: logID + ":" + strconv.FormatUint(uint64(e.Seq), 10), Notify: s.e.Name, Host: s.cfg.Host, Log: logID, Event: e.ToJSON()}
	if e.Worker == "" {
		return m
	}
	if w := s.world.Worker(e.Worker); w != nil {
		a := explain.Why(w, s.history(e.Worker))
		m.Why = &a
		var b strings.Builder
		fmt.Fprintf(&b, "%s is %s\n", a.Worker, a.Summary)
		for _, st := range a.Chain {
			fmt.Fprintf(&b, "  seq %-8d %s\n", st.Seq, st.Text)
		}
		m.WhyText = b.String()
	}
	if s.e.StderrLines > 0 && s.cfg.Stderr != nil {
		if path, uid, ok := s.cfg.Stderr(e.Worker); ok {
			lines, err := lastLines(path, uid, s.e.StderrLines)
			if err != nil {
				m.StderrError = err.Error()
			}
			m.Stderr = lines
		}
	}
	return m
}

// lastLines reads the last n lines of a worker's output file through
// logfile, which refuses a link, a FIFO or a file the worker could have
// put in its place, and at most stderrBytes of its end.
func lastLines(path string, uid uint32, n int) ([]string, error) {
	fl := logfile.NewFollower(path, uid)
	defer fl.Close()
	var cut bool
	err := fl.Open(func(f *os.File, size int64) (int64, error) {
		cut = size > stderrBytes
		return max(size-stderrBytes, 0), nil
	})
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, logfile.ErrNoLog) {
			return nil, nil
		}
		return nil, err
	}
	var buf bytes.Buffer
	if _, err := fl.Poll(&capped{w: &buf, n: 2 * stderrBytes}); err != nil && !errors.Is(err, errFull) {
		return nil, err
	}
	text := strings.ToValidUTF8(buf.String(), "\uFFFD")
	if cut {
		if i := strings.IndexByte(text, '\n'); i >= 0 {
			text = text[i+1:] // the first line began before what was read
		}
	}
	text = strings.TrimSuffix(text, "\n")
	if text == "" {
		return nil, nil
	}
	lines := strings.Split(text, "\n")
	return lines[max(len(lines)-n, 0):], nil
}

var errFull = errors.New("full")

// capped writes at most n bytes to w, then fails: a file that grows while
// it is read is not read forever.
type capped struct {
	w io.Writer
	n int
}

func (c *capped) Write(p []byte) (int, error) {
	if len(p) > c.n {
		k, _ := c.w.Write(p[:c.n])
		c.n -= k
		return k, errFull
	}
	k, err := c.w.Write(p)
	c.n -= k
	return k, err
}

// send delivers the message about e, retrying with backoff, and records
// the dead letter after the last attempt; either way it then advances the
// cursor past e. It fails only when ctx ends first.
func (s *sender) send(ctx context.Context, e *events.Event) error {
	m := s.message(e)
	body, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("notify: encode seq %d: %w", e.Seq, err)
	}
	s.retrying.Store(uint64(e.Seq))
	defer s.retrying.Store(0)
	delay := s.e.BackoffInitial
	var last error
	for attempt := 1; attempt <= s.e.MaxAttempts; attempt++ {
		actx, cancel := context.WithTimeout(ctx, s.e.Timeout)
		last = s.target.deliver(actx, body, m.Key, attempt)
		cancel()
		if ctx.Err() != nil {
			return errStop
		}
		if last == nil {
			s.delivered.Add(1)
			s.logger.Debug().Uint64("seq", uint64(e.Seq)).Int("attempt", attempt).Msg("alert delivered")
			s.done(e.Seq)
			return nil
		}
		s.failures.Add(1)
		s.mu.Lock()
		s.lastErr = last.Error()
		s.mu.Unlock()
		s.logger.Warn().Err(last).Uint64("seq", uint64(e.Seq)).Int("attempt", attempt).Int("of", s.e.MaxAttempts).Msg("alert not delivered")
		if attempt == s.e.MaxAttempts {
			break
		}
		select {
		case <-ctx.Done():
			return errStop
		case <-time.After(delay):
		}
		delay = min(2*delay, s.e.BackoffMax)
	}
	about := e.Type.String()
	if e.Worker != "" {
		about += " of " + e.Worker
	}
	for delay := 100 * time.Millisecond; ; delay = min(2*delay, 5*time.Second) {
		err := s.cfg.DeadLetter(ctx, s.e.Name, e.Seq, about, s.e.MaxAttempts, last.Error())
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return errStop
		}
		s.logger.Error().Err(err).Uint64("seq", uint64(e.Seq)).Msg("dead letter not recorded; retrying")
		select {
		case <-ctx.Done():
			return errStop
		case <-time.After(delay):
		}
	}
	s.deadLetters.Add(1)
	s.done(e.Seq)
	return nil
}

// done advances the cursor past a message that was delivered or dead-lettered.
func (s *sender) done(seq events.Seq) {
	s.cursor.Store(uint64(seq))
	s.saveCursor(seq)
}

// webhook POSTs the message.
type webhook struct {
	url    string
	key    []byte // HMAC key, nil: unsigned
	client *http.Client
}

// Headers of a webhook request.
const (
	HeaderKey       = "X-Tend-Key"
	HeaderAttempt   = "X-Tend-Attempt"
	HeaderSignature = "X-Tend-Signature" // "sha256=" and the hex HMAC-SHA256 of the body
)

func (w *webhook) deliver(ctx context.Context, body []byte, key string, attempt int) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return errors.New("the webhook URL cannot be used")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "tend")
	req.Header.Set("Idempotency-Key", key)
	req.Header.Set(HeaderKey, key)
	req.Header.Set(HeaderAttempt, strconv.Itoa(attempt))
	if w.key != nil {
		mac := hmac.New(sha256.New, w.key)
		mac.Write(body)
		req.Header.Set(HeaderSignature, "sha256="+hex.EncodeToString(mac.Sum(nil)))
	}
	resp, err := w.client.Do(req)
	if err != nil {
		// *url.Error names the URL, which may hold a token: only what
		// went wrong is kept.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("webhook: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("webhook answered HTTP %d", resp.StatusCode)
	}
	return nil
}

// command runs a program with the message on its stdin.
type command struct {
	argv    []string
	timeout time.Duration
}

func (c *command) deliver(ctx context.Context, body []byte, key string, attempt int) error {
	cmd := exec.CommandContext(ctx, c.argv[0], c.argv[1:]...)
	cmd.Stdin = bytes.NewReader(body)
	cmd.Env = append(os.Environ(), "TEND_NOTIFY_KEY="+key, "TEND_NOTIFY_ATTEMPT="+strconv.Itoa(attempt))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// On timeout the whole group goes, not only the program.
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	// It leads a process group of its own, as an orphan of a worker's may:
	// the record tells the daemon's orphan reaper that its exit status is
	// this command's.
	pid, err := children.Start(func() (int, error) {
		if err := cmd.Start(); err != nil {
			return 0, err
		}
		return cmd.Process.Pid, nil
	})
	if err == nil {
		defer children.Done(pid)
		err = cmd.Wait()
	}
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("exec: no answer within %s", c.timeout)
		}
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return fmt.Errorf("exec: %s", ee.ProcessState)
		}
		return fmt.Errorf("exec: %w", err)
	}
	return nil
}

// Collector returns the alerts' metrics, read at scrape time.
func (n *Notifier) Collector() prometheus.Collector { return &collector{n: n} }

type collector struct{ n *Notifier }

var (
	descDelivered = prometheus.NewDesc("tend_notify_delivered_total", "Alerts delivered, by [[notify]] entry.", []string{"notify"}, nil)
	descFailures  = prometheus.NewDesc("tend_notify_failures_total", "Alert delivery attempts that failed, by [[notify]] entry.", []string{"notify"}, nil)
	descDead      = prometheus.NewDesc("tend_notify_dead_letters_total", "Alerts given up after their last attempt (notify_failed events).", []string{"notify"}, nil)
	descCursor    = prometheus.NewDesc("tend_notify_cursor_seq", "Every event up to this seq is done with, by [[notify]] entry.", []string{"notify"}, nil)
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descDelivered, descFailures, descDead, descCursor} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	for _, st := range c.n.Status() {
		ch <- prometheus.MustNewConstMetric(descDelivered, prometheus.CounterValue, float64(st.Delivered), st.Name)
		ch <- prometheus.MustNewConstMetric(descFailures, prometheus.CounterValue, float64(st.Failures), st.Name)
		ch <- prometheus.MustNewConstMetric(descDead, prometheus.CounterValue, float64(st.DeadLetters), st.Name)
		ch <- prometheus.MustNewConstMetric(descCursor, prometheus.GaugeValue, float64(st.Cursor), st.Name)
	}
}
