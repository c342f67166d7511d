package limits

import (
	"context"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shirou/gopsutil/v4/cpu"
)

// DefaultInterval is the tick used when NewSampler is given a non-positive
// interval.
const DefaultInterval = time.Second

// Sampler samples every watched process group once per interval from a
// single goroutine (Run), however many groups are watched. One Sampler serves
// the whole daemon.
type Sampler struct {
	interval time.Duration
	running  atomic.Bool

	// mu guards the fields below. The sampler goroutine holds it only to
	// snapshot registrations and to publish results, never across /proc
	// reads or report calls.
	mu       sync.Mutex
	regs     map[uint64]*registration
	watchers map[int]int // pgid → number of live registrations
	latest   map[int]Sample
	nextID   uint64

	// Owned by the Run goroutine, and reused from tick to tick.
	table    *procTable
	members  *memberTable
	snap     []*registration
	watched  map[int]bool // process groups walked for
	pageSize uint64
}

// registration is one Watch. tracker is touched only under Sampler.mu.
type registration struct {
	id      uint64
	ctx     context.Context
	pgid    int
	spec    Spec
	report  func(Violation)
	stop    func() bool
	tracker Tracker
	// members lists the processes when set (WatchMembers); otherwise they
	// are the process group pgid's, found by the walk of /proc.
	members Members
	// listed is this tick's sample of members, written and read by the
	// Run goroutine only.
	listed struct {
		g        group
		pct      float64
		valid    bool
		complete bool
	}
}

// NewSampler returns a Sampler that ticks every interval once Run is called.
func NewSampler(interval time.Duration) *Sampler {
	if interval <= 0 {
		interval = DefaultInterval
	}
	return &Sampler{
		interval: interval,
		regs:     make(map[uint64]*registration),
		watchers: make(map[int]int),
		latest:   make(map[int]Sample),
		pageSize: uint64(os.Getpagesize()),
	}
}

// Run is the tick loop; it returns when ctx is done, closing every file it
// kept open. Only one Run works at a time: a second concurrent call returns
// at once. If /proc cannot be opened, each tick tries again and nothing is
// sampled meanwhile.
func (s *Sampler) Run(ctx context.Context) {
	if !s.running.CompareAndSwap(false, true) {
		return
	}
	defer s.running.Store(false)
	defer func() {
		if s.table != nil {
			s.table.close()
			s.table = nil
		}
		if s.members != nil {
			s.members.close()
			s.members = nil
		}
	}()
	tick := time.NewTicker(s.interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			s.tick(now)
		}
	}
}

// Watch samples process group pgid until ctx is done (pass the worker
// incarnation's context) or the group has no live member left, whichever is
// first; a vanished group is dropped without a report. It returns at once.
//
// report is called from the sampler goroutine with each Violation, and must
// not block: hand the violation to a channel or an event queue and return.
// A report may still arrive just after ctx is done, so the caller must be
// able to tell it is stale (the incarnation it stamps does that).
//
// A pgid that is not positive, a nil report or an invalid spec registers
// nothing.
func (s *Sampler) Watch(ctx context.Context, pgid int, spec Spec, report func(Violation)) {
	s.watch(ctx, pgid, nil, spec, report)
}

// WatchMembers is Watch for an incarnation whose processes members lists
// exactly (its cgroup): nothing walks /proc for it, and a process that
// left the process group still counts. pgid names its samples (Latest).
// It is dropped once members lists no one.
func (s *Sampler) WatchMembers(ctx context.Context, pgid int, members Members, spec Spec, report func(Violation)) {
	if members == nil {
		return
	}
	s.watch(ctx, pgid, members, spec, report)
}

func (s *Sampler) watch(ctx context.Context, pgid int, members Members, spec Spec, report func(Violation)) {
	if pgid <= 0 || report == nil || spec.Validate() != nil || ctx.Err() != nil {
		return
	}
	s.mu.Lock()
	s.nextID++
	r := &registration{id: s.nextID, ctx: ctx, pgid: pgid, spec: spec, report: report, members: members}
	s.regs[r.id] = r
	s.watchers[pgid]++
	// Under mu: if ctx is already done the func runs on its own goroutine
	// and waits for mu, so r.stop is always set before any removal.
	r.stop = context.AfterFunc(ctx, func() { s.unwatch(r.id) })
	s.mu.Unlock()
}

// Latest returns the most recent sample of a watched group.
func (s *Sampler) Latest(pgid int) (Sample, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	smp, ok := s.latest[pgid]
	return smp, ok
}

func (s *Sampler) unwatch(id uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.removeLocked(id)
}

func (s *Sampler) removeLocked(id uint64) {
	r, ok := s.regs[id]
	if !ok {
		return
	}
	delete(s.regs, id)
	if r.stop != nil {
		r.stop()
	}
	if s.watchers[r.pgid]--; s.watchers[r.pgid] <= 0 {
		delete(s.watchers, r.pgid)
		delete(s.latest, r.pgid)
	}
}

type firing struct {
	report func(Violation)
	v      Violation
}

// tick samples every watched group once and delivers the violations, outside
// the lock. What it keeps between ticks it reuses: a tick over members
// whose CPU counters stand still allocates nothing per watch.
func (s *Sampler) tick(now time.Time) {
	s.mu.Lock()
	regs := s.snap[:0]
	for _, r := range s.regs {
		regs = append(regs, r)
	}
	clear(s.watched)
	for _, r := range regs {
		if r.members == nil {
			if s.watched == nil {
				s.watched = make(map[int]bool)
			}
			s.watched[r.pgid] = true
		}
	}
	s.mu.Unlock()
	s.snap = regs
	defer clear(s.snap) // holds no registration past the tick

	// /proc is walked only for process groups; members are read as
	// listed, outside the lock.
	var groups map[int]group
	var cpuPct map[int]float64
	complete := true
	if len(s.watched) > 0 {
		if s.table == nil {
			t, err := openProcTable()
			if err != nil {
				return
			}
			s.table = t
		}
		var err error
		groups, cpuPct, complete, err = s.table.scan(s.watched, now)
		if err != nil {
			// A partial listing must not make live groups look vanished.
			complete = false
		}
	}
	if s.members != nil {
		s.members.budget(len(regs))
	}
	for _, r := range regs {
		if r.members == nil {
			continue
		}
		if s.members == nil {
			s.members = newMemberTable()
			s.members.begin()
			s.members.budget(len(regs))
		}
		l := &r.listed
		l.g, l.pct, l.valid, l.complete = s.members.sample(r.id, r.members, now, s.pageSize, cpu.ClocksPerSec)
	}
	if s.members != nil {
		s.members.end(now)
		s.members.begin()
	}

	var fire []firing
	s.mu.Lock()
	for _, r := range regs {
		if _, live := s.regs[r.id]; !live || r.ctx.Err() != nil {
			continue
		}
		g, complete := groups[r.pgid], complete
		pct, valid := cpuPct[r.pgid]
		if r.members != nil {
			l := r.listed
			g, pct, valid, complete = l.g, l.pct, l.valid, l.complete
		}
		if g.procs == 0 {
			if complete {
				s.removeLocked(r.id)
			}
			continue
		}
		smp := Sample{At: now, RSS: g.rss, CPU: pct, CPUValid: valid, Procs: g.procs}
		s.latest[r.pgid] = smp
		for _, v := range r.tracker.Observe(r.spec, smp) {
			fire = append(fire, firing{r.report, v})
		}
	}
	s.mu.Unlock()
	for _, f := range fire {
		f.report(f.v)
	}
}
