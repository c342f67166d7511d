package supervisor

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/supervisor/core"
	"github.com/tendhq/tend/supervisor/notify"
	"github.com/tendhq/tend/supervisor/proc"
)

// This file is the executor's side of readiness: the channel a worker
// says it is ready on (a notification socket or a descriptor), made before
// its spawn, read after it, each message reported to Step as an
// observation of the incarnation. It decides nothing: whether a message
// makes the worker Running is Step's call.

// readyChannel is one incarnation's way to say it is ready.
type readyChannel struct {
	sock   *notify.Socket // ready = "notify"
	pipeR  *os.File       // ready = "fd:N": the daemon's end
	pipeW  *os.File       // the worker's end, closed once it has it
	fd     int
	closed sync.Once
}

// prepareReady makes the channel a spawn of spec needs and adds it to ps
// (NOTIFY_SOCKET, WATCHDOG_USEC, or descriptor N). nil: the default rule.
func (x *executor) prepareReady(worker string, inc events.Incarnation, spec *WorkerSpec, env []string, files map[int]*os.File) (*readyChannel, []string, error) {
	switch spec.Ready.Kind {
	case core.ReadyNotify:
		s, err := notify.Listen(fmt.Sprintf("tend/%d/%s/%d/%d", os.Getpid(), worker, inc, time.Now().UnixNano()))
		if err != nil {
			return nil, env, err
		}
		env = append(env, "NOTIFY_SOCKET="+s.Address())
		if wd := spec.Ready.Watchdog; wd > 0 {
			env = append(env, "WATCHDOG_USEC="+strconv.FormatInt(wd.Microseconds(), 10))
		}
		return &readyChannel{sock: s}, env, nil
	case core.ReadyFD:
		r, w, err := os.Pipe()
		if err != nil {
			return nil, env, fmt.Errorf("readiness pipe: %w", err)
		}
		files[spec.Ready.FD] = w
		return &readyChannel{pipeR: r, pipeW: w, fd: spec.Ready.FD}, env, nil
	}
	return nil, env, nil
}

// spawned drops the daemon's copy of the worker's end.
func (c *readyChannel) spawned() {
	if c != nil && c.pipeW != nil {
		c.pipeW.Close()
	}
}

func (c *readyChannel) close() {
	if c == nil {
		return
	}
	c.closed.Do(func() {
		if c.sock != nil {
			c.sock.Close()
		}
		if c.pipeR != nil {
			c.pipeR.Close()
		}
		if c.pipeW != nil {
			c.pipeW.Close()
		}
	})
}

// watchReady reads rt's channel until its incarnation ends, reporting what
// the worker says. It runs once the spawn is recorded, so nothing it
// reports can come before it.
func (x *executor) watchReady(rt *incarnation) {
	c := rt.ready
	if c == nil {
		return
	}
	s := x.s
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		<-rt.ctx.Done()
		c.close()
	}()
	go func() {
		defer s.wg.Done()
		if c.pipeR != nil {
			x.readFD(rt, c)
			return
		}
		x.readNotify(rt, c)
	}()
}

// readFD waits for a newline on the readiness pipe (the s6 protocol).
func (x *executor) readFD(rt *incarnation, c *readyChannel) {
	r := bufio.NewReader(c.pipeR)
	if _, err := r.ReadString('\n'); err == nil && rt.ctx.Err() == nil {
		x.s.observe("ready", core.FDReady{Worker: rt.worker, Inc: rt.inc, FD: c.fd})
	}
	c.close()
}

// readNotify reads the notification socket. A sender that is not a
// process of the incarnation is reported as such (recorded stale); pings
// feed the watchdog, which reports when they stop.
func (x *executor) readNotify(rt *incarnation, c *readyChannel) {
	s := x.s
	wd := newWatchdog(s, rt)
	defer wd.stop()
	for {
		m, err := c.sock.Read()
		if err != nil {
			return
		}
		if rt.ctx.Err() != nil {
			return
		}
		member := m.PID != 0 && rt.proc.Member(m.PID)
		if !member {
			s.observe("notify", core.Notified{Worker: rt.worker, Inc: rt.inc, PID: m.PID, Foreign: true})
			continue
		}
		if m.Watchdog || m.Ready {
			wd.ping()
		}
		in := core.Notified{Worker: rt.worker, Inc: rt.inc, PID: m.PID, Ready: m.Ready, Status: m.Status,
			Reloading: m.Reloading, Stopping: m.Stopping, Extend: m.Extend}
		if m.MainPID != 0 && rt.proc.Member(m.MainPID) {
			if id, err := proc.IdentityOf(m.MainPID); err == nil {
				in.MainPID, in.MainTicks, in.MainBootID = m.MainPID, id.StartTicks, id.BootID
			}
		}
		if in.Ready || in.Status != nil || in.Reloading || in.Stopping || in.Extend > 0 || in.MainPID != 0 {
			s.observe("notify", in)
		}
	}
}

// watchdog reports an incarnation whose WATCHDOG=1 pings stop for longer
// than its period, counted from its first ping (or READY=1): a worker is
// not held to it while it starts.
type watchdog struct {
	s      *Supervisor
	rt     *incarnation
	period time.Duration
	mu     sync.Mutex
	last   time.Time
	gen    int // of the timer armed last: an older one that fires is moot
	cancel func() bool
	done   bool
}

func newWatchdog(s *Supervisor, rt *incarnation) *watchdog {
	return &watchdog{s: s, rt: rt, period: rt.spec.Ready.Watchdog}
}

func (w *watchdog) ping() {
	if w.period <= 0 {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return
	}
	w.last = w.s.clock.Now()
	if w.cancel != nil {
		w.cancel()
	}
	w.gen++
	gen := w.gen
	w.s.wg.Add(1)
	stop := w.s.clock.AfterFunc(w.period, func() {
		defer w.s.wg.Done()
		w.mu.Lock()
		fire := !w.done && w.gen == gen && w.rt.ctx.Err() == nil
		last := w.last
		w.mu.Unlock()
		if fire {
			w.s.observe("watchdog", core.WatchdogExpired{Worker: w.rt.worker, Inc: w.rt.inc, Period: w.period, LastPing: last})
		}
	})
	w.cancel = func() bool {
		if stop() {
			w.s.wg.Done()
			return true
		}
		return false
	}
}

func (w *watchdog) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.done = true
	if w.cancel != nil {
		w.cancel()
	}
}
