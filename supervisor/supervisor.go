package supervisor

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/fsm"
	"github.com/tendhq/tend/store"
	"github.com/tendhq/tend/supervisor/health"
)

// Errors callers branch on.
var (
	// ErrNoWorker: no worker of that name is configured.
	ErrNoWorker = errors.New("supervisor: no such worker")
	// ErrClosed: the supervisor is shutting down or closed.
	ErrClosed = errors.New("supervisor: shutting down")
)

// Config wires a Supervisor to its log and to the OS.
type Config struct {
	Log     *store.Log
	Spawner Spawner
	Watcher Watcher // nil: resource limits are not watched
	Probe   Prober  // nil: health.Run
	Clock   Clock   // nil: the wall clock
	// Jitter draws the backoff jitter in [0,1). nil: a private source.
	Jitter func() float64
	Logger zerolog.Logger
	// BaseEnv is the environment every worker starts from before its own
	// env is added. nil: the daemon's environment.
	BaseEnv []string
	// SnapshotEvery is how many events pass between snapshots of the
	// world (default 10,000).
	SnapshotEvery uint64
	// SpawnConcurrency bounds simultaneous fork+execs (default 4×CPUs:
	// a spawner waits while its child execs, so more spawners than CPUs
	// keep the CPUs busy; 1,000 workers started 10% sooner with 4× than
	// with 2×, and no sooner with 8×).
	SpawnConcurrency int
	// OnDurable, if set, is told of every batch of events once it is
	// durable, with the time from its append to its commit (for metrics).
	// It runs on the release path and must not block.
	OnDurable func(evs []*events.Event, commit time.Duration)
	// Instance names this daemon's workers (the log's path): every worker
	// carries it in its environment, so recovery finds its own processes
	// and never another tend's.
	Instance string
}

// Supervisor owns the workers of one daemon.
type Supervisor struct {
	log    *store.Log
	cfg    Config
	clock  Clock
	logger zerolog.Logger

	// mu is the one lock. It guards the fields below it and the order of
	// the release queue. Whoever holds it never waits for the disk or for a
	// process.
	mu       sync.Mutex
	pending  *fsm.World             // the fold of every event handed to the log, durable or not
	replayed *fsm.World             // the log's state when this supervisor started: what Recover reconciles
	specs    map[string]*WorkerSpec // the configuration in force
	removing map[string]bool        // removed from the configuration, stopping first
	lastTime time.Time              // events get non-decreasing times
	closing  bool
	loaded   bool
	jitter   func() float64

	// relMu guards relQ; batches are pushed while mu is held, so the queue
	// is in seq order.
	relMu   sync.Mutex
	relQ    []*batch
	relWake chan struct{}
	relStop bool

	// viewMu guards durable and changed. durable is the fold of exactly the
	// events known to be on disk: what status and queries read.
	viewMu  sync.RWMutex
	durable *fsm.World
	changed chan struct{} // closed and replaced whenever durable advances

	// rtMu guards rts: the runtime of each worker's latest incarnation.
	rtMu sync.Mutex
	rts  map[string]*incarnation

	qmu    sync.Mutex
	queues map[string]*effectQueue

	// tmu guards the armed timers, so Close can cancel them.
	tmu          sync.Mutex
	timers       map[uint64]func() bool
	nextTimer    uint64
	timersClosed bool

	spawnSem     chan struct{}
	snapshotting atomic.Bool
	lastSnapshot atomic.Uint64
	logFailure   atomic.Pointer[string]
	mispredicted atomic.Int64 // exits recorded ahead of the stray search that did not restart (tests assert none)

	ctx     context.Context // cancelled by Close: ends monitors and timers
	cancel  context.CancelFunc
	wg      sync.WaitGroup // release loop, effect queues, monitors, timers
	waiters sync.WaitGroup // one per live process
}

// batch is the events one decision made, the effects they imply, and the
// caller waiting for them to be durable.
type batch struct {
	created time.Time
	evs     []*events.Event
	effects []effect
	ticket  *store.Ticket
	done    chan struct{}
	err     error
}

// New replays the log and returns a supervisor whose state is that replay.
// It starts nothing: call Load with the configuration.
func New(cfg Config) (*Supervisor, error) {
	if cfg.Log == nil || cfg.Spawner == nil {
		return nil, errors.New("supervisor: Config needs a Log and a Spawner")
	}
	if cfg.Clock == nil {
		cfg.Clock = RealClock{}
	}
	if cfg.Probe == nil {
		cfg.Probe = health.Run
	}
	if cfg.Jitter == nil {
		r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(os.Getpid())))
		cfg.Jitter = r.Float64
	}
	if cfg.BaseEnv == nil {
		cfg.BaseEnv = os.Environ()
	}
	if cfg.SnapshotEvery == 0 {
		cfg.SnapshotEvery = 10_000
	}
	if cfg.SpawnConcurrency <= 0 {
		cfg.SpawnConcurrency = 4 * runtime.NumCPU()
	}
	world, stats, err := Replay(cfg.Log, 0)
	if err != nil {
		return nil, err
	}
	cfg.Logger.Info().Uint64("seq", uint64(world.Seq)).Uint64("snapshot", uint64(stats.SnapshotSeq)).
		Uint64("folded", stats.Folded).Int("workers", len(world.Workers)).Msg("log replayed")
	ctx, cancel := context.WithCancel(context.Background())
	s := &Supervisor{
		log: cfg.Log, cfg: cfg, clock: cfg.Clock, logger: cfg.Logger,
		pending: world, durable: world.Clone(), replayed: world.Clone(), lastTime: world.Time,
		specs: make(map[string]*WorkerSpec), removing: make(map[string]bool),
		jitter: cfg.Jitter, relWake: make(chan struct{}, 1), changed: make(chan struct{}),
		rts: make(map[string]*incarnation), queues: make(map[string]*effectQueue), timers: make(map[uint64]func() bool),
		spawnSem: make(chan struct{}, cfg.SpawnConcurrency), ctx: ctx, cancel: cancel,
	}
	s.lastSnapshot.Store(uint64(stats.SnapshotSeq))
	s.wg.Add(1)
	go s.releaseLoop()
	return s, nil
}

// now returns the time for the next event: never before the previous one,
// so the log can be searched by time even if the wall clock steps back.
// Called with mu held.
func (s *Supervisor) now() time.Time {
	t := s.clock.Now().UTC()
	if t.Before(s.lastTime) {
		t = s.lastTime
	}
	s.lastTime = t
	return t
}

// txn collects one decision's events and effects. It exists only while mu
// is held.
type txn struct {
	s *Supervisor
	b *batch
}

// add judges e against the pending world and folds it into the pending
// world; transact hands the whole batch to the log in one Append. It
// returns the event as it will be recorded (with its seq, transition and
// staleness), or the judgement's error, in which case nothing was added.
func (t *txn) add(e events.Event) (*events.Event, error) {
	s := t.s
	e.Time = s.now()
	if err := s.pending.Decide(&e); err != nil {
		return nil, err
	}
	mutantUnlockedGap(&s.mu)
	ev := &e
	// Every append goes through a txn under mu, so the log's next seq is
	// the one after the pending world's; transact checks it.
	ev.Seq = s.pending.Seq + 1
	if err := s.pending.Apply(ev); err != nil {
		// Decide and Apply judge with the same function; disagreement is
		// a bug in this program, not a condition to handle.
		panic(fmt.Sprintf("supervisor: event decided but not applicable: %v", err))
	}
	t.b.evs = append(t.b.evs, ev)
	return ev, nil
}

func (t *txn) effect(f effect) { t.b.effects = append(t.b.effects, f) }

// transact runs build under mu and queues what it recorded for release.
// The batch is queued even when build fails part-way, so that events it did
// record are released (or, if their commit failed, trigger recovery).
func (s *Supervisor) transact(build func(t *txn) error) (*batch, error) {
	s.mu.Lock()
	t := &txn{s: s, b: &batch{done: make(chan struct{}), created: time.Now()}}
	err := build(t)
	if len(t.b.evs) == 0 {
		t.b.err = err
		if err != nil && s.pendingAhead() {
			// A refusal judged against events that are not yet durable
			// is itself news of them: it is answered in seq order, after
			// them, and if their commit fails it is void.
			return t.b, s.enqueueBatch(t.b)
		}
		s.mu.Unlock()
		close(t.b.done)
		return t.b, err
	}
	// One Append for the whole decision: the log commits it whole or not
	// at all, so no part of a decision is ever durable without the rest
	// (a decision split over two commits, the second refused, left an
	// event in the log that the durable view never folded).
	first := t.b.evs[0].Seq
	tk, aerr := s.log.Append(t.b.evs...)
	if aerr != nil {
		// Nothing of it is in the log. The pending world folded it, but
		// the log refuses appends only after a failed commit, and that
		// commit's batch is in the release queue: recoverFromFailedCommit
		// rebuilds the pending world from the durable one before the log
		// takes anything again (or the log is closed).
		s.mu.Unlock()
		t.b.err = aerr
		close(t.b.done)
		return t.b, aerr
	}
	if t.b.evs[0].Seq != first {
		s.mu.Unlock()
		panic(fmt.Sprintf("supervisor: the log gave seq %d to an event the pending world folded as seq %d", t.b.evs[0].Seq, first))
	}
	t.b.ticket = tk
	if qerr := s.enqueueBatch(t.b); qerr != nil {
		return t.b, qerr
	}
	return t.b, err
}

// enqueueBatch puts a batch on the release queue and releases mu, which the
// caller holds. A batch without a ticket is a barrier: it is released, in
// order, once everything before it is.
func (s *Supervisor) enqueueBatch(b *batch) error {
	s.relMu.Lock()
	if s.relStop {
		// Closed: any events are in the log's queue and will be written,
		// but nothing will act on them any more.
		s.relMu.Unlock()
		s.mu.Unlock()
		b.err = ErrClosed
		close(b.done)
		return ErrClosed
	}
	s.relQ = append(s.relQ, b)
	s.relMu.Unlock()
	s.mu.Unlock()
	select {
	case s.relWake <- struct{}{}:
	default:
	}
	return nil
}

// pendingAhead reports whether the pending world holds events that are not
// durable yet. Called with mu held.
func (s *Supervisor) pendingAhead() bool {
	s.viewMu.RLock()
	defer s.viewMu.RUnlock()
	return s.pending.Seq > s.durable.Seq
}

// command runs a decision on behalf of a client and waits until its events
// are durable and its effects started.
func (s *Supervisor) command(ctx context.Context, build func(t *txn) error) ([]*events.Event, error) {
	b, _ := s.transact(build)
	select {
	case <-b.done:
	case <-ctx.Done():
		return nil, fmt.Errorf("supervisor: waiting for the log: %w", ctx.Err())
	}
	return b.evs, b.err
}

// observe records what the OS or a monitor reported, and returns once it
// is durable. Observations must not be lost: while the log refuses writes
// (disk full), whether it refuses the append or fails the commit, the
// observation is judged again and retried until the log recovers or the
// supervisor closes.
func (s *Supervisor) observe(what string, build func(t *txn) error) {
	delay := 20 * time.Millisecond
	for {
		b, err := s.transact(build)
		if err == nil {
			select {
			case <-b.done:
			case <-s.ctx.Done():
				return
			}
			if b.err == nil || errors.Is(b.err, ErrClosed) {
				return
			}
			// Its commit failed (the only other way a queued batch
			// fails); the pending world is rebuilt without it.
		} else if !errors.Is(err, store.ErrFailed) {
			s.logger.Debug().Err(err).Str("observation", what).Msg("observation not recorded")
			return
		}
		if err == nil {
			err = b.err
		}
		s.logger.Error().Err(err).Str("observation", what).Msg("log refuses writes; observation will be retried")
		select {
		case <-s.ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, time.Second)
	}
}

// releaseLoop takes batches in seq order, waits for their commit, folds
// them into the durable world, starts their effects and answers their
// callers. Effects and answers therefore never precede durability.
func (s *Supervisor) releaseLoop() {
	defer s.wg.Done()
	for {
		b := s.nextBatch()
		if b == nil {
			return
		}
		b.effects = mutantEarlyEffects(s, b.effects)
		if b.ticket == nil {
			close(b.done) // a barrier: everything before it is durable
			continue
		}
		if err := b.ticket.Wait(); err != nil {
			s.recoverFromFailedCommit(b, err)
			continue
		}
		s.viewMu.Lock()
		for _, e := range b.evs {
			if err := s.durable.Apply(e); err != nil {
				s.viewMu.Unlock()
				panic(fmt.Sprintf("supervisor: durable event does not fold: %v", err))
			}
		}
		close(s.changed)
		s.changed = make(chan struct{})
		seq := s.durable.Seq
		s.viewMu.Unlock()
		s.logFailure.Store(nil)
		// Effects first: a restart should not wait for the daemon's own
		// log lines to be written.
		for _, f := range b.effects {
			s.dispatch(f)
		}
		close(b.done)
		if s.cfg.OnDurable != nil {
			s.cfg.OnDurable(b.evs, time.Since(b.created))
		}
		s.logEvents(b.evs)
		if uint64(seq)-s.lastSnapshot.Load() >= s.cfg.SnapshotEvery {
			s.snapshot()
		}
	}
}

func (s *Supervisor) nextBatch() *batch {
	for {
		s.relMu.Lock()
		if len(s.relQ) > 0 {
			b := s.relQ[0]
			s.relQ[0] = nil
			s.relQ = s.relQ[1:]
			s.relMu.Unlock()
			return b
		}
		stop := s.relStop
		s.relMu.Unlock()
		if stop {
			return nil
		}
		<-s.relWake
	}
}

// recoverFromFailedCommit handles a commit the disk refused. The store has
// failed every event queued after it, so every batch still in the release
// queue fails too; the pending world is rebuilt from the durable one and
// the log resumes from the last durable event. No effect of a failed event
// runs and its caller gets the error.
func (s *Supervisor) recoverFromFailedCommit(b *batch, err error) {
	msg := err.Error()
	s.logFailure.Store(&msg)
	s.logger.Error().Err(err).Msg("commit failed: events refused, workers keep running; retrying as writes come in")
	b.err = err
	close(b.done)
	s.mu.Lock()
	s.relMu.Lock()
	rest := s.relQ
	s.relQ = nil
	s.relMu.Unlock()
	// The committer resolves every ticket queued behind a failed commit in
	// the same pass, so these waits are already over: nothing here waits
	// for the disk.
	for _, r := range rest {
		if r.ticket == nil {
			r.err = err // a refusal judged on events that never became durable
			close(r.done)
			continue
		}
		if rerr := r.ticket.Wait(); rerr == nil {
			// Cannot happen: the store fails everything after a failed
			// commit. Refuse to guess: stop with a clear message.
			s.mu.Unlock()
			panic("supervisor: a batch committed after an earlier one failed")
		}
		r.err = err
		close(r.done)
	}
	s.viewMu.RLock()
	s.pending = s.durable.Clone()
	s.viewMu.RUnlock()
	s.lastTime = s.pending.Time
	if rerr := s.log.Resume(); rerr != nil {
		s.logger.Error().Err(rerr).Msg("log resume failed")
	}
	s.mu.Unlock()
}

// snapshot saves the durable world so the next start-up folds only what
// came after it. It runs beside the release loop, one at a time.
func (s *Supervisor) snapshot() {
	if !s.snapshotting.CompareAndSwap(false, true) {
		return
	}
	s.viewMu.RLock()
	data, err := s.durable.MarshalSnapshot()
	seq := s.durable.Seq
	s.viewMu.RUnlock()
	if err != nil {
		s.snapshotting.Store(false)
		s.logger.Error().Err(err).Msg("snapshot")
		return
	}
	s.lastSnapshot.Store(uint64(seq))
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer s.snapshotting.Store(false)
		if err := s.log.SaveSnapshot(seq, data); err != nil {
			s.logger.Error().Err(err).Uint64("seq", uint64(seq)).Msg("snapshot not saved")
		}
	}()
}

func (s *Supervisor) logEvents(evs []*events.Event) {
	for _, e := range evs {
		lvl := zerolog.InfoLevel
		switch {
		case e.Stale || e.Type == events.SignalSent:
			lvl = zerolog.DebugLevel
		case e.Type == events.BreakerOpened || e.Type == events.LimitViolated || e.Type == events.HealthFailed || e.Type == events.SpawnFailed:
			lvl = zerolog.WarnLevel
		}
		l := s.logger.WithLevel(lvl).Uint64("seq", uint64(e.Seq)).Str("type", e.Type.String())
		if e.Worker != "" {
			l = l.Str("worker", e.Worker).Uint64("incarnation", uint64(e.Incarnation))
		}
		if e.To != 0 {
			l = l.Str("from", e.From.String()).Str("to", e.To.String())
		}
		if e.PID != 0 {
			l = l.Int("child_pid", e.PID)
		}
		l.Str("actor", e.Actor).Msg(e.Cause)
	}
}

// LogFailure is the last commit error while the log refuses writes, or "".
func (s *Supervisor) LogFailure() string {
	if p := s.logFailure.Load(); p != nil {
		return *p
	}
	return ""
}
