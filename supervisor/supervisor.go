package supervisor

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/fsm"
	"github.com/tendhq/tend/fsm/replay"
	"github.com/tendhq/tend/store"
	"github.com/tendhq/tend/supervisor/console"
	"github.com/tendhq/tend/supervisor/core"
	"github.com/tendhq/tend/supervisor/health"
)

// Errors callers branch on.
var (
	// ErrNoWorker: no worker of that name is configured.
	ErrNoWorker = core.ErrNoWorker
	// ErrClosed: the supervisor is shutting down or closed.
	ErrClosed = core.ErrClosed
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
	// world (default 10,000), or ten per worker when that is more
	// (snapshotInterval).
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
	// Console copies the output of workers whose stdout or stderr is
	// Console to the daemon's own, line by line. nil: such output goes to
	// /dev/null.
	Console *console.Console
	// Instance names this daemon's workers (the log's path): every worker
	// carries it in its environment, so recovery finds its own processes
	// and never another tend's.
	Instance string
	// About is what the daemon's start event says of it besides the
	// replay: how it tells which processes belong to a worker.
	About string
}

// Supervisor is the shell around core.Step: it holds the one lock under
// which inputs are decided and appended, releases durable batches in seq
// order, and carries out their effects.
//
// # Locks
//
// Four, always taken in this order when more than one is held, and all
// after an incarnation's signalling lock (exec.go), which a signal's effect
// holds while its report is decided:
//
//	mu      the pending state (core.State) and the full settings by digest;
//	        the order in which batches enter the log and the release queue.
//	relMu   the release queue.
//	viewMu  the durable world (read-write), and changed.
//	exMu    the executor's tables: per-worker effect queues, the runtime of
//	        each worker's latest incarnation, armed timers, the spawns
//	        being staged (exec.go; the marks of a decision are made with
//	        mu held, before its batch is queued).
//
// Nothing under mu waits, logs or encodes: Step is pure and the append
// only queues for the committer. viewMu is never held while mu is wanted:
// the durable seq mu needs is an atomic.
type Supervisor struct {
	log    *store.Log
	cfg    Config
	clock  Clock
	logger zerolog.Logger
	runID  string // names this run's hooks (proc.EnvHookRun)

	mu       sync.Mutex
	st       *core.State            // the pending world and the settings it names
	full     map[string]*WorkerSpec // every setting by digest, as st.Specs
	replayed *fsm.World             // the log's state when this supervisor started: what Recover reconciles
	loaded   bool                   // the first Load has run
	exitOn   core.ExitOn            // the daemon's exit_on, passed with every Load

	relMu   sync.Mutex
	relQ    []*batch
	relWake chan struct{}
	relStop bool

	viewMu  sync.RWMutex
	durable *fsm.World    // the fold of exactly the events known to be on disk: what status and queries read
	changed chan struct{} // closed and replaced whenever durable advances

	durableSeq atomic.Uint64 // durable.Seq, readable under mu

	// order is every configured worker's name in status order as of a
	// seq of the durable world, which only an event changes: a status of
	// 10,000 idle workers sorts them once, not on every ask. Set under
	// viewMu's read lock by whichever reader finds it stale.
	order atomic.Pointer[nameOrder]

	ex executor

	spawnSem     chan struct{}
	snapshotting atomic.Bool
	lastSnapshot atomic.Uint64
	logFailure   atomic.Pointer[string]
	halted       atomic.Pointer[error] // the commit error that halted the supervisor
	haltCh       chan struct{}         // closed when halted is set
	lines        chan []*events.Event  // events for the daemon's own log, written off the release path
	dropped      atomic.Int64          // log lines dropped because the writer fell behind

	exit chan ExitRequest // the daemon's exit_on decided that it exits

	ctx     context.Context // cancelled by Close: ends monitors and timers
	cancel  context.CancelFunc
	wg      sync.WaitGroup // release loop, effect queues, monitors, timers
	waiters sync.WaitGroup // one per live process
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
	world, stats, err := replay.World(cfg.Log, 0)
	if err != nil {
		return nil, err
	}
	// The fold checked every record's checksum, and the snapshot was
	// checked against the record it names; the chain over what was folded
	// after it shows a record replaced by a well-formed one. Nothing acts
	// on a log that fails it.
	if err := cfg.Log.CheckChain(stats.SnapshotSeq); err != nil {
		return nil, err
	}
	cfg.Logger.Info().Uint64("seq", uint64(world.Seq)).Uint64("snapshot", uint64(stats.SnapshotSeq)).
		Uint64("folded", stats.Folded).Int("workers", len(world.Workers)).Msg("log replayed")
	ctx, cancel := context.WithCancel(context.Background())
	s := &Supervisor{
		log: cfg.Log, cfg: cfg, clock: cfg.Clock, logger: cfg.Logger,
		st: core.NewState(world), full: make(map[string]*WorkerSpec),
		durable: world.Clone(), replayed: world.Clone(),
		relWake: make(chan struct{}, 1), changed: make(chan struct{}),
		spawnSem: make(chan struct{}, cfg.SpawnConcurrency), haltCh: make(chan struct{}),
		lines: make(chan []*events.Event, 1024),
		exit:  make(chan ExitRequest, 1),
		ctx:   ctx, cancel: cancel,
	}
	var id [8]byte
	binary.LittleEndian.PutUint64(id[:], rand.Uint64())
	s.runID = hex.EncodeToString(id[:])
	s.ex.init(s)
	s.durableSeq.Store(uint64(world.Seq))
	s.lastSnapshot.Store(uint64(stats.SnapshotSeq))
	s.wg.Add(2)
	go s.releaseLoop()
	go s.logLoop()
	return s, nil
}

// Close ends every monitor and timer and the release loop, after the
// batches already queued are released. Workers are left as they are: call
// Shutdown first to stop them. The log stays open; its owner closes it.
func (s *Supervisor) Close() {
	s.cancel()
	s.ex.stopTimers()
	s.relMu.Lock()
	s.relStop = true
	s.relMu.Unlock()
	select {
	case s.relWake <- struct{}{}:
	default:
	}
	s.wg.Wait()
}

// WaitProcesses waits for the waiters of processes this supervisor
// spawned (after Shutdown stopped them all).
func (s *Supervisor) WaitProcesses(ctx context.Context) error {
	done := make(chan struct{})
	go func() { s.waiters.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ExitRequest says that the daemon's exit_on setting decided, durably, that
// the daemon stops every worker (which is under way) and then exits with
// Code. Worker is the worker whose end decided it.
type ExitRequest struct {
	Code   int
	Worker string
}

// Exit delivers the exit_on decision, at most once per daemon.
func (s *Supervisor) Exit() <-chan ExitRequest { return s.exit }

// SetExitOn sets the exit_on setting that the next Load passes to the
// decision core.
func (s *Supervisor) SetExitOn(mode core.ExitOn) {
	s.mu.Lock()
	s.exitOn = mode
	s.mu.Unlock()
}

// LogFailure is the commit error that halted the supervisor, or "".
func (s *Supervisor) LogFailure() string {
	if p := s.logFailure.Load(); p != nil {
		return *p
	}
	return ""
}
