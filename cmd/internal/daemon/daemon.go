// Package daemon wires tend's daemon together: configuration, the event
// log, the supervisor, the OS edges, the control socket and signals. It
// owns their lifetimes and the order they start and stop in.
//
// It may not decide anything about workers itself: every change goes
// through the supervisor, and so through the log.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"os/signal"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/tendhq/tend/cmd/internal/client"
	"github.com/tendhq/tend/cmd/internal/config"
	"github.com/tendhq/tend/cmd/internal/metrics"
	"github.com/tendhq/tend/cmd/internal/peer"
	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/fsm"
	"github.com/tendhq/tend/store"
	"github.com/tendhq/tend/supervisor"
	"github.com/tendhq/tend/supervisor/cgroup"
	"github.com/tendhq/tend/supervisor/console"
	"github.com/tendhq/tend/supervisor/core"
	"github.com/tendhq/tend/supervisor/limits"
	"github.com/tendhq/tend/supervisor/proc"
)

// Options are the daemon's command-line settings.
type Options struct {
	ConfigPath string // read again on every reload
	// Config is the file at ConfigPath as the command loaded it (to pick
	// a log level): parsing a large file a second time would delay the
	// first spawn by as long again.
	Config       *config.Config
	LeaveRunning bool // leave workers running on SIGTERM, to be adopted by the next start
	// AllowUnsafeConfig runs on a configuration file that someone other
	// than root and the daemon's user could change (config.CheckTrusted),
	// with a warning, instead of refusing it. Only the command line can say
	// so: a setting in the file could have been put there by that someone.
	AllowUnsafeConfig bool
	Logger            zerolog.Logger
	// Ready, if set, is called once the socket accepts requests.
	Ready func(socket string)
}

// Daemon is one running tend daemon.
type Daemon struct {
	opts    Options
	logger  zerolog.Logger
	log     *store.Log
	sup     *supervisor.Supervisor
	spawner *proc.Spawner
	// tree is the daemon's cgroup subtree, nil when processes are told by
	// process group; tracking says which, and why.
	tree     *cgroup.Tree
	tracking tracking
	// oomTo is the supervisor once it exists, for the tree's OOM reports.
	oomTo   atomic.Pointer[supervisor.Supervisor]
	sampler *limits.Sampler
	clients atomic.Int64
	uid     uint32
	gid     int // socket group, -1 when none

	metrics *metrics.Metrics
	// statusBufs keeps status answers' buffers for the next (api.status),
	// until the trim loop releases them.
	statusBufs statusCache
	shutdown   chan string // a shutdown asked for over a control interface, with its actor
	out        outbound    // export to NATS and alerts

	reloadMu sync.Mutex // one reload at a time
	cfgMu    sync.Mutex
	// cfg is the configuration in force, settled: a reload or a scale
	// decodes it again (Settled.Config) when it needs its workers.
	cfg *config.Settled
}

// DBPath is where a state directory keeps its log.
func DBPath(stateDir string) string { return filepath.Join(stateDir, config.LogName) }

// loadError is a configuration that did not load; nothing was changed.
type loadError struct{ err error }

func (e *loadError) Error() string { return e.err.Error() }
func (e *loadError) Unwrap() error { return e.err }

func (d *Daemon) loadConfig(path string) (*config.Config, []*supervisor.WorkerSpec, error) {
	if err := d.trusted(path); err != nil {
		return nil, nil, &loadError{err}
	}
	cfg, err := config.Load(path)
	if err != nil {
		return nil, nil, &loadError{err}
	}
	if err := d.trustedFiles(cfg); err != nil {
		return nil, nil, &loadError{err}
	}
	if cfg, err = d.withScales(cfg); err != nil {
		return nil, nil, &loadError{err}
	}
	specs, err := Specs(cfg, d.log.Digest)
	if err != nil {
		return nil, nil, &loadError{err}
	}
	if err := kernelLimits(cfg, d.tree, d.tracking); err != nil {
		return nil, nil, &loadError{err}
	}
	return cfg, specs, nil
}

// Run starts the daemon and blocks until ctx ends or SIGTERM/SIGINT, then
// stops the workers (unless leaving them running) and closes the log.
func Run(ctx context.Context, opts Options) error {
	tuneGC()
	cfg := opts.Config
	// The daemon keeps the configuration settled (Daemon.cfg); the one
	// loaded is let go once it has started.
	opts.Config = nil
	d := &Daemon{opts: opts, logger: opts.Logger, cfg: cfg.Settle(), uid: uint32(os.Getuid()), gid: -1, shutdown: make(chan string, 1)}
	d.out.d = d
	if err := d.trusted(opts.ConfigPath); err != nil {
		return err
	}
	if err := d.trustedFiles(cfg); err != nil {
		return err
	}
	if cfg.Daemon.LeaveRunning {
		d.opts.LeaveRunning = true
	}
	if g := cfg.Daemon.SocketGroup; g != "" {
		grp, err := user.LookupGroup(g)
		if err != nil {
			return fmt.Errorf("%s: daemon.socket_group: %w", cfg.Path, err)
		}
		d.gid, _ = strconv.Atoi(grp.Gid)
	}
	if err := os.MkdirAll(cfg.Daemon.StateDir, 0o750); err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	var err error
	d.log, err = store.Open(DBPath(cfg.Daemon.StateDir), store.Options{Timeout: 300 * time.Millisecond})
	if err != nil {
		if errors.Is(err, store.ErrLocked) {
			return fmt.Errorf("another tend daemon is running on %s: %w", cfg.Daemon.StateDir, err)
		}
		if errors.Is(err, store.ErrCorrupt) {
			return damagedLog(DBPath(cfg.Daemon.StateDir), err)
		}
		return err
	}
	defer d.log.Close()
	specs, err := Specs(cfg, d.log.Digest)
	if err != nil {
		return &loadError{err}
	}
	d.tree, d.tracking, err = openTracking(cfg, d.log.Path(), func(o cgroup.OOM) {
		if s := d.oomTo.Load(); s != nil {
			s.KernelOOM(o)
		}
	})
	if err != nil {
		return err
	}
	if err := kernelLimits(cfg, d.tree, d.tracking); err != nil {
		if d.tree != nil {
			d.tree.Close()
		}
		return &loadError{err}
	}
	if d.tree != nil {
		d.logger.Info().Str("tracking", modeCgroup).Str("cgroup", d.tracking.where).Msg(d.tracking.about())
	} else {
		d.logger.Info().Str("tracking", modePgroup).Msg(d.tracking.about())
	}
	// The spawner owns the tree from here: its Close removes the empty
	// groups (all of them once every worker stopped) and closes it.
	d.spawner, err = proc.NewSpawner(proc.Options{Subreaper: true, RotateEvery: cfg.Daemon.LogCheckInterval, Cgroups: d.tree,
		OnError: func(err error) {
			d.logger.Warn().Err(err).Msg("process housekeeping")
		}})
	if err != nil {
		if d.tree != nil {
			d.tree.Close()
		}
		return err
	}
	defer d.spawner.Close()
	d.sampler = limits.NewSampler(cfg.Daemon.SampleInterval)
	sctx, stopSampler := context.WithCancel(context.Background())
	defer stopSampler()
	go d.sampler.Run(sctx)
	go trimLoop(sctx, d.statusBufs.release)

	// Workers whose output is "-" write to the daemon's own stdout and
	// stderr through the console, which ends with the daemon, after the
	// workers: their last lines are written before it exits.
	cons := console.New(os.Stdout, os.Stderr, console.Options{Timestamps: cfg.Daemon.ConsoleTimestamps})
	defer func() { cons.Close(time.Now()) }() // on the way out of a failed start

	var spawner supervisor.Spawner = supervisor.ProcSpawner{Spawner: d.spawner}
	if d.log.LastSeq() == 0 {
		spawner = freshSpawner{supervisor.ProcSpawner{Spawner: d.spawner}}
	}
	d.metrics = metrics.New(d)
	d.sup, err = supervisor.New(supervisor.Config{Log: d.log, Spawner: spawner,
		Watcher: d.sampler, Logger: d.logger, Instance: d.log.Path(), Console: cons, About: d.tracking.about(),
		OnDurable: func(evs []*events.Event, commit time.Duration) {
			d.metrics.ObserveAppend(commit)
			for _, e := range evs {
				d.metrics.EventAppended(e.Type)
			}
			d.out.wake()
		}})
	if err != nil {
		// New fails only when the log cannot be replayed to its end.
		return damagedLog(d.log.Path(), err)
	}
	d.oomTo.Store(d.sup)
	if addr := cfg.Daemon.MetricsListen; addr != "" {
		stopMetrics, err := d.serveMetrics(addr, cfg.Daemon.MetricsWebConfig)
		if err != nil {
			return err
		}
		defer stopMetrics()
	}
	closed := false
	defer func() {
		if !closed {
			d.sup.Close()
		}
	}()

	ln, err := peer.Listen(cfg.Daemon.Socket, d.gid)
	if err != nil {
		return cfg.KeyError(err, cfg.SocketKey()...)
	}
	srv := &http.Server{Handler: d.handler(), ConnContext: withPeer}
	peer.LimitServer(srv)
	gate := d.gate(ln, "control socket", apiRefused, apiBusy)
	defer gate.Close() // removes the socket file, also when start-up fails
	serveErr := make(chan error, 1)

	// Clients wait in the socket's backlog until the log is reconciled with
	// the OS: no command is judged against a world recovery has not seen.
	// A signal during start-up still ends in an orderly shutdown.
	startCtx := context.WithoutCancel(ctx)
	d.sup.SetExitOn(cfg.Daemon.ExitOn)
	// The runtime scales the log holds need settings for their instances.
	if scaled, err := d.withScales(cfg); err != nil {
		return &loadError{err}
	} else if scaled != cfg {
		cfg = scaled
		d.cfgMu.Lock()
		d.cfg = cfg.Settle()
		d.cfgMu.Unlock()
		if specs, err = Specs(cfg, d.log.Digest); err != nil {
			return &loadError{err}
		}
	}
	if _, err := d.sup.LoadConfig(startCtx, supervisor.LoadRequest{Specs: specs, Hash: d.log.Digest([]byte(cfg.Hash)),
		Actor: events.ActorDaemon, Groups: groups(cfg)}); err != nil {
		return err
	}
	if err := d.sup.Recover(startCtx); err != nil {
		return err
	}
	for _, w := range cfg.Warnings() {
		d.logger.Warn().Msg(w)
	}
	if err := d.out.start(cfg); err != nil {
		d.logger.Error().Err(err).Msg("alerts not sent")
	}
	defer d.out.stop(false)
	go func() { serveErr <- srv.Serve(gate) }()
	defer srv.Close()
	stopRPC := func() {}
	if cfg.Daemon.SupervisorRPC != "" {
		stopRPC, err = d.serveRPC(cfg)
		if err != nil {
			return err
		}
		defer stopRPC()
	}
	d.logger.Info().Str("socket", cfg.Daemon.Socket).Str("log", d.log.Path()).Int("workers", len(specs)).Msg("tend daemon ready")
	if opts.Ready != nil {
		opts.Ready(cfg.Daemon.Socket)
	}

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)
	why := ""
	var exit *supervisor.ExitRequest
loop:
	for {
		select {
		case req := <-d.sup.Exit():
			exit = &req
			why = fmt.Sprintf("exit_on = %q decided it (worker %s): exit status %d", string(d.currentConfig().Daemon.ExitOn), req.Worker, req.Code)
			break loop
		case <-d.sup.Halted():
			return d.failStop(srv, stopRPC)
		case <-ctx.Done():
			why = stopCause(ctx, sigs)
			break loop
		case actor := <-d.shutdown:
			why = "shutdown requested by " + actor
			break loop
		case err := <-serveErr:
			d.logger.Error().Err(err).Msg("control socket failed")
			why = "control socket failed"
			break loop
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				if _, err := d.Reload(context.Background(), "signal SIGHUP"); err != nil {
					d.logger.Error().Err(err).Msg("reload refused; the running configuration is unchanged")
				}
				continue
			}
			why = "signal " + sig.String()
			break loop
		}
	}
	leave := d.opts.LeaveRunning && exit == nil // exit_on stops the workers, whatever leave_running says
	d.logger.Info().Str("why", why).Bool("leave_running", leave).Msg("shutting down")
	sctx2, cancel := context.WithTimeout(context.Background(), d.shutdownBudget())
	defer cancel()
	if err := d.sup.Shutdown(sctx2, leave, why); err != nil {
		if herr := d.sup.HaltErr(); herr != nil {
			return d.failStop(srv, stopRPC)
		}
		d.logger.Error().Err(err).Msg("workers did not all stop in time")
	}
	// The last events go out while the server is reachable; what does not
	// stays in the log for the next start. The senders stop before the
	// supervisor: a dead letter is recorded through it.
	d.out.stop(true)
	// The sockets close before the log: counted refusals are recorded as
	// their listeners close.
	_ = srv.Close()
	stopRPC()
	d.sup.Close()
	closed = true
	// The stopped workers' last lines; workers left running keep their
	// pipes, and nothing more is read from them.
	consoleWait := 2 * time.Second
	if leave {
		consoleWait = 0
	}
	cons.Close(time.Now().Add(consoleWait))
	if exit != nil && exit.Code != 0 {
		return &ExitError{Code: exit.Code, Worker: exit.Worker}
	}
	return nil
}

// stopCause is what the log says stopped a daemon whose context ended.
// The command line's context ends on SIGTERM and SIGINT too (cli.Execute),
// and which of it and the daemon's own signal channel the select sees
// first is the scheduler's choice: either way the cause names the signal.
func stopCause(ctx context.Context, sigs <-chan os.Signal) string {
	select {
	case sig := <-sigs:
		if sig != syscall.SIGHUP { // a reload asked for as the daemon stops
			return "signal " + sig.String()
		}
	default:
	}
	// The signal's cause also matches context.Canceled (errors.Is): only
	// the bare sentinel says nothing more.
	if c := context.Cause(ctx); c != nil && c != context.Canceled { //nolint:errorlint // the sentinel itself
		return "context ended: " + c.Error()
	}
	return "context ended"
}

// ExitError is the end of a daemon whose exit_on setting stopped it
// because of a worker's end: the process exits with Code, the status a
// container runtime reads (the worker's exit status, or 128 + the signal
// that killed it). The reason is in the log (daemon_stopping).
type ExitError struct {
	Code   int
	Worker string
}

func (e *ExitError) Error() string {
	return fmt.Sprintf("exit_on: stopped because of worker %s; exit status %d (tend history %s says why)", e.Worker, e.Code, e.Worker)
}

func (d *Daemon) currentConfig() *config.Settled {
	d.cfgMu.Lock()
	defer d.cfgMu.Unlock()
	return d.cfg
}

// ErrLogFailed: the daemon stopped because its log failed a commit
// (fail-stop). It wraps the store's *CommitError, and so store.ErrFailed.
var ErrLogFailed = errors.New("the event log failed a commit")

// failStop ends a daemon whose log failed a commit: the sockets close, the
// supervisor stops without stopping a worker, and Run returns an error
// wrapping ErrLogFailed. A daemon that carried on could act on, or tell a
// client of, an event the disk does not hold; a daemon that exits leaves
// its workers to the next start, which reads the log back from disk,
// verifies it and adopts them, as after a crash.
func (d *Daemon) failStop(srv *http.Server, stopRPC func()) error {
	err := d.sup.HaltErr()
	d.logger.Error().Err(err).Str("log", d.log.Path()).
		Msg("fail-stop: the event log failed a commit; nothing more is recorded, workers keep running, the daemon exits; start it again once the disk is sound: it verifies the log and adopts the workers")
	_ = srv.Close()
	stopRPC()
	return fmt.Errorf("%w: %w", ErrLogFailed, err) // Run's defers close the supervisor and the log
}

// freshSpawner is the spawner of a daemon whose log was empty when it was
// opened. Recover adopts, or kills as strays, only processes of workers the
// replayed log knows; an empty log knows none, so everything a search for
// leftovers could find would be left alone. Without cgroups that search
// reads the environment of every process group leader on the host while
// the first workers are being spawned, so on an empty log it is not made.
// Everything else, Adopt included, is the ProcSpawner's.
type freshSpawner struct{ supervisor.ProcSpawner }

// Leftovers implements supervisor.Adopter.
func (freshSpawner) Leftovers(string) ([]proc.Leftover, error) { return nil, nil }

var _ supervisor.Adopter = freshSpawner{}

// damagedLog says what is wrong with a log the daemon will not start on,
// and what to run about it.
func damagedLog(path string, err error) error {
	return fmt.Errorf("%w\n"+
		"The log is damaged; the daemon will not start on it, and never modifies it.\n"+
		"  tend verify --db %[2]s\n"+
		"      names the first bad seq;\n"+
		"  tend recover --db %[2]s --out %[2]s.recovered\n"+
		"      copies every whole, chain-valid event before it into a new file and reports what it dropped.\n"+
		"Keep the damaged file for study, move the recovered one to %[2]s, and start the daemon again.", err, path)
}

// trusted refuses a configuration file others could change, or only warns
// of it when the command line allowed that. It is checked again on every
// reload: the file is read again then.
func (d *Daemon) trusted(path string) error {
	err := config.CheckTrusted(path, os.Geteuid())
	var unsafe *config.UnsafeError
	if errors.As(err, &unsafe) && d.opts.AllowUnsafeConfig {
		d.logger.Warn().Str("config", unsafe.File).Str("unsafe", unsafe.Path).Str("writable_by", unsafe.Who).
			Msg("the configuration file can be changed by others, who can then run anything as the daemon's user; running on it because of --allow-unsafe-config")
		return nil
	}
	return err
}

// trustedFiles applies the rule of trusted() to every file the
// configuration makes the daemon read besides itself (config.TrustPaths):
// whoever can change an env file chooses what a worker runs with
// (LD_PRELOAD), as root if it runs as root. A refusal names where the
// configuration names the file.
func (d *Daemon) trustedFiles(cfg *config.Config) error {
	for _, p := range cfg.TrustPaths() {
		err := config.CheckTrustedPath(p.Path, os.Geteuid())
		var unsafe *config.UnsafeError
		if errors.As(err, &unsafe) && d.opts.AllowUnsafeConfig {
			d.logger.Warn().Str("file", p.Path).Str("named_at", p.Where).Str("unsafe", unsafe.Path).Str("writable_by", unsafe.Who).
				Msg("a file the configuration names can be changed by others; running on it because of --allow-unsafe-config")
			continue
		}
		if err != nil {
			return fmt.Errorf("%s: %w", p.Where, err)
		}
	}
	return nil
}

// shutdownBudget is the longest stop timeout plus room for SIGKILL to land.
func (d *Daemon) shutdownBudget() time.Duration {
	d.cfgMu.Lock()
	defer d.cfgMu.Unlock()
	return d.cfg.LongestStop + 5*time.Second
}

// Reload re-reads the configuration file. A file that fails to load
// changes nothing.
func (d *Daemon) Reload(ctx context.Context, actor string) (client.ReloadResult, error) {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	cfg, specs, err := d.loadConfig(d.opts.ConfigPath)
	if err != nil {
		return client.ReloadResult{}, err
	}
	digest := d.log.Digest([]byte(cfg.Hash))
	d.sup.SetExitOn(cfg.Daemon.ExitOn)
	d.cfgMu.Lock()
	old := d.cfg
	d.cfgMu.Unlock()
	res, err := d.sup.LoadConfig(ctx, supervisor.LoadRequest{Specs: specs, Hash: digest, Actor: actor, Changes: d.changes(old, cfg),
		Groups: groups(cfg)})
	if err != nil {
		return client.ReloadResult{}, err
	}
	d.cfgMu.Lock()
	d.cfg = cfg.Settle()
	d.cfgMu.Unlock()
	if err := d.out.start(cfg); err != nil {
		d.logger.Error().Err(err).Msg("alerts not sent")
	}
	return client.ReloadResult{Hash: digest, Seq: res.Seq, Added: res.Added, Removed: res.Removed, Changed: res.Changed}, nil
}

// withScales gives cfg the instances that the runtime scales in the log
// may keep in force (more than the file's count): core decides, at the
// load, whether each scale still holds; it needs their settings to.
func (d *Daemon) withScales(cfg *config.Config) (*config.Config, error) {
	counts := map[string]int{}
	for name, tp := range cfg.Templates {
		if sc, ok := d.sup.ScaleOf(name); ok && sc.Count > tp.Instances {
			counts[name] = sc.Count
		}
	}
	if len(counts) == 0 {
		return cfg, nil
	}
	next, err := cfg.WithInstances(counts)
	if err != nil {
		return nil, err
	}
	if err := d.trustedFiles(next); err != nil {
		return nil, err
	}
	return next, nil
}

// groups are the workers with instances of cfg, with the file's counts.
func groups(cfg *config.Config) []core.Group {
	out := make([]core.Group, 0, len(cfg.Templates))
	for _, name := range slices.Sorted(maps.Keys(cfg.Templates)) {
		out = append(out, core.Group{Name: name, Instances: cfg.Templates[name].Instances})
	}
	return out
}

// Scale changes the number of instances of a worker with instances at
// runtime. The new instances are made from the configuration in force
// (the file is not read again); the scale is recorded with its actor and
// holds, across daemon restarts and reloads, until the file's count for
// the worker changes.
func (d *Daemon) Scale(ctx context.Context, group string, n int, actor string) (client.ScaleResult, error) {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	d.cfgMu.Lock()
	kept := d.cfg
	d.cfgMu.Unlock()
	if kept.Templates[group] == nil {
		return client.ScaleResult{}, fmt.Errorf("%w: %q has no instances in the configuration (instances = N makes NAME@1 … NAME@N)", supervisor.ErrNoWorker, group)
	}
	if n < 0 || n > config.MaxInstances {
		return client.ScaleResult{}, &badRequest{fmt.Errorf("instances must be from 0 to %d", config.MaxInstances)}
	}
	cfg, err := kept.Config()
	if err != nil {
		return client.ScaleResult{}, err
	}
	next, err := cfg.WithInstances(map[string]int{group: n})
	if err != nil {
		return client.ScaleResult{}, &loadError{err}
	}
	if err := d.trustedFiles(next); err != nil {
		return client.ScaleResult{}, &loadError{err}
	}
	all, err := Specs(next, d.log.Digest)
	if err != nil {
		return client.ScaleResult{}, &loadError{err}
	}
	byName := make(map[string]*supervisor.WorkerSpec, len(all))
	for _, sp := range all {
		byName[sp.Name] = sp
	}
	specs := make([]*supervisor.WorkerSpec, 0, n)
	for _, name := range next.Instances(group) {
		specs = append(specs, byName[name])
	}
	res, err := d.sup.Scale(ctx, supervisor.ScaleRequest{Group: group, Count: n, Specs: specs, Actor: actor})
	if err != nil {
		return client.ScaleResult{}, err
	}
	d.cfgMu.Lock()
	d.cfg = next.Settle()
	d.cfgMu.Unlock()
	return client.ScaleResult{Worker: group, From: res.From, To: res.To, Added: nonNil(res.Added), Removed: nonNil(res.Removed), Seq: res.Seq}, nil
}

// badRequest is a request the daemon refuses as malformed.
type badRequest struct{ err error }

func (e *badRequest) Error() string { return e.err.Error() }
func (e *badRequest) Unwrap() error { return e.err }

// PlanReload says what Reload would do now (`tend check --diff`), having
// read the configuration file as Reload reads it, without changing
// anything: nothing is recorded, started or stopped. It answers with
// names and keys only.
func (d *Daemon) PlanReload() (client.ReloadPlan, error) {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	cfg, specs, err := d.loadConfig(d.opts.ConfigPath)
	if err != nil {
		return client.ReloadPlan{}, err
	}
	d.cfgMu.Lock()
	old := d.cfg
	d.cfgMu.Unlock()
	ch := d.changes(old, cfg)
	res, err := d.sup.PlanLoad(supervisor.LoadRequest{Specs: specs, Hash: d.log.Digest([]byte(cfg.Hash)), Actor: "plan", Changes: ch,
		Groups: groups(cfg)})
	if err != nil {
		return client.ReloadPlan{}, err
	}
	plan := client.ReloadPlan{Config: cfg.Path, Added: nonNil(res.Added), Removed: nonNil(res.Removed),
		Changed: []client.ChangedWorker{}, Unchanged: []string{}}
	touched := map[string]bool{}
	for _, n := range res.Added {
		touched[n] = true
	}
	for _, n := range res.Changed {
		touched[n] = true
		plan.Changed = append(plan.Changed, client.ChangedWorker{Name: n, Keys: nonNil(ch[n]), Restart: slices.Contains(res.Restarted, n)})
	}
	for _, n := range cfg.Order {
		if !touched[n] {
			plan.Unchanged = append(plan.Unchanged, n)
		}
	}
	return plan, nil
}

func nonNil(xs []string) []string {
	if xs == nil {
		return []string{}
	}
	return xs
}

// changes names, for each worker whose settings differ between the
// configuration in force and a new one, the keys they differ in (never
// values). The one in force is decoded again for it; should that fail,
// which would be a bug, the reload goes on without the keys.
func (d *Daemon) changes(kept *config.Settled, new *config.Config) map[string][]string {
	if kept == nil || new == nil {
		return nil
	}
	old, err := kept.Config()
	if err != nil {
		d.logger.Error().Err(err).Msg("the keys that changed are not known")
		return nil
	}
	_, _, changed := config.Diff(old, new)
	out := make(map[string][]string, len(changed))
	for _, name := range changed {
		out[name] = config.ChangedKeys(old.Workers[name], new.Workers[name])
	}
	return out
}

// The daemon is the metrics' Source.

// Workers implements metrics.Source.
func (d *Daemon) Workers() ([]fsm.Worker, events.Seq) { return d.sup.Workers() }

// Sample implements metrics.Source.
func (d *Daemon) Sample(name string) (limits.Sample, bool) { return d.sup.Sample(name) }

// LogSize implements metrics.Source.
func (d *Daemon) LogSize() int64 {
	n, _ := d.log.Size()
	return n
}

// Clients implements metrics.Source.
func (d *Daemon) Clients() int { return int(d.clients.Load()) }

// serveMetrics serves Prometheus metrics on addr (loopback unless the
// configuration says otherwise), through webConfig when it is set. The
// metrics name every worker and its state: a listener other hosts can reach
// is warned of, since anyone who reaches it reads them unless webConfig
// asks for credentials.
func (d *Daemon) serveMetrics(addr, webConfig string) (func(), error) {
	if webConfig != "" {
		if err := d.trusted(webConfig); err != nil {
			return nil, fmt.Errorf("metrics_web_config: %w", err)
		}
		if err := metrics.ValidateWebConfig(webConfig); err != nil {
			return nil, fmt.Errorf("metrics_web_config %s: %w", webConfig, err)
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics_listen %s: %w", addr, err)
	}
	if metrics.BeyondLoopback(ln.Addr().String()) {
		ev := d.logger.Warn().Str("listen", ln.Addr().String())
		if webConfig == "" {
			ev.Msg("metrics listen beyond loopback without metrics_web_config: whoever reaches the port reads every worker's name and state")
		} else {
			ev.Str("web_config", webConfig).Msg("metrics listen beyond loopback: they name every worker and its state; metrics_web_config says who may read them")
		}
	}
	stop := metrics.Serve(ln, d.metrics.Handler(), webConfig, slog.New(zerolog.NewSlogHandler(d.logger.With().Str("part", "metrics").Logger())))
	d.logger.Info().Str("listen", ln.Addr().String()).Bool("web_config", webConfig != "").Msg("serving metrics")
	return stop, nil
}
