// Package console copies the output of workers whose stdout or stderr is
// "-" to the daemon's own stdout and stderr, so that a container runtime
// (docker logs, kubectl logs) shows every worker's output. Each worker
// writes into a pipe of its own; a copier per pipe cuts what it reads into
// lines and prefixes each with the worker's name ("web | listening"), and
// one writer per destination writes them.
//
// What it guarantees:
//
//   - Lines never interleave mid-line. A record is one line with its
//     prefix, at most MaxRecord bytes (PIPE_BUF, the size up to which the
//     kernel writes to a pipe atomically); each write holds whole records
//     only, and at most MaxRecord bytes, so a reader of the daemon's stdout
//     never sees another writer's bytes (another worker's, the daemon's
//     own log) inside a record. A longer line is cut into records, the
//     second and later prefixed "web + " instead of "web | ".
//   - A worker cannot forge another's prefix: every record starts with
//     the real one, and a carriage return ends a record as a newline does,
//     so "\rdb | fake" from web is written as the record "web | db | fake".
//     Nothing else is escaped; on a terminal, escape sequences a worker
//     prints (colours, cursor movement) still act.
//   - A slow destination slows the workers that write to it, as a
//     terminal does: each destination queues at most Buffer bytes, and a
//     copier waits for room, so its worker waits on its full pipe. A
//     stuck destination stalls them only for Stall: once the writer has
//     written nothing for that long with records queued, records that do
//     not fit are dropped and counted, and the worker's next record that
//     fits is preceded by one saying how many lines and bytes were lost
//     there ("web | tend: 1520 lines (96 KiB) dropped: the daemon's stdout
//     was not being read"). The supervisor never writes here, so neither
//     case reaches its lock.
//
// What it does not do: the pipe's reader is the daemon, so output written
// while no daemon runs is lost, and a worker that outlives the daemon gets
// EPIPE (or SIGPIPE) on its next write. Output that must survive the daemon
// goes to a file.
//
// This package imports nothing of tend's, and decides nothing about
// workers.
package console

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// MaxRecord bounds one record (a line or a piece of one, with its prefix
// and newline): PIPE_BUF, the size up to which a write to a pipe is atomic.
const MaxRecord = 4096

// DefaultBuffer is how many bytes a destination queues.
const DefaultBuffer = 1 << 20

// DefaultStall is how long a destination may write nothing, with records
// queued, before what does not fit is dropped.
const DefaultStall = time.Second

// Options configures a Console. The zero value is usable.
type Options struct {
	// Timestamps starts each record with its time (RFC 3339, UTC,
	// milliseconds) before the worker's name.
	Timestamps bool
	// Buffer is how many bytes each destination queues; DefaultBuffer
	// when 0.
	Buffer int
	// Stall is how long a destination may take nothing before records
	// are dropped; DefaultStall when 0.
	Stall time.Duration
	// Now is the clock for Timestamps; time.Now when nil.
	Now func() time.Time
}

// Console owns the copiers and the two writers.
type Console struct {
	opts    Options
	out     *sink
	err     *sink
	copiers sync.WaitGroup
}

// New starts writers to stdout and stderr (the daemon's own).
func New(stdout, stderr io.Writer, opts Options) *Console {
	if opts.Buffer <= 0 {
		opts.Buffer = DefaultBuffer
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Stall <= 0 {
		opts.Stall = DefaultStall
	}
	c := &Console{opts: opts}
	c.out = newSink(stdout, opts.Buffer, opts.Stall, "stdout")
	c.err = newSink(stderr, opts.Buffer, opts.Stall, "stderr")
	return c
}

// Pipe makes a pipe whose read end the console copies, line by line, to
// the daemon's stdout (or stderr) under worker's name, and returns its
// write end for the worker to inherit. The caller closes the write end once
// the worker has it; the copier ends when every holder of the write end
// has closed it.
func (c *Console) Pipe(worker string, stderr bool) (*os.File, error) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return nil, fmt.Errorf("console: pipe for %q: %w", worker, err)
	}
	// The read end through the poller: a copier waiting for a quiet
	// worker holds no thread.
	if err := unix.SetNonblock(p[0], true); err != nil {
		unix.Close(p[0])
		unix.Close(p[1])
		return nil, fmt.Errorf("console: pipe for %q: %w", worker, err)
	}
	r := os.NewFile(uintptr(p[0]), worker+" output")
	w := os.NewFile(uintptr(p[1]), worker+" output")
	s := c.out
	if stderr {
		s = c.err
	}
	c.copiers.Add(1)
	go func() {
		defer c.copiers.Done()
		defer r.Close()
		cp := &copier{s: s, now: c.opts.Now, stamps: c.opts.Timestamps, name: worker}
		cp.run(r)
	}()
	return w, nil
}

// Close waits, at most until deadline, for the copiers to reach the end of
// their pipes (every worker has stopped) and for the writers to write what
// is queued, then stops the writers. A destination still blocked at the
// deadline loses what is queued for it.
func (c *Console) Close(deadline time.Time) {
	done := make(chan struct{})
	go func() { c.copiers.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Until(deadline)):
	}
	c.out.close(deadline)
	c.err.close(deadline)
}

// Stats are the console's counters since it started.
type Stats struct {
	Lines, Dropped, DroppedBytes uint64
}

// Stats reports the records written and dropped, both destinations
// together.
func (c *Console) Stats() Stats {
	return Stats{
		Lines:        c.out.written.Load() + c.err.written.Load(),
		Dropped:      c.out.dropped.Load() + c.err.dropped.Load(),
		DroppedBytes: c.out.droppedBytes.Load() + c.err.droppedBytes.Load(),
	}
}

// copier cuts one pipe's bytes into records.
type copier struct {
	s      *sink
	now    func() time.Time
	stamps bool
	name   string

	line    []byte // the current line's bytes not yet in a record
	cont    bool   // the current line already had a record: the next is a piece
	afterCR bool   // the last byte read was a carriage return: a newline next is part of it
}

func (cp *copier) run(r io.Reader) {
	buf := make([]byte, 64<<10)
	for {
		n, err := r.Read(buf)
		cp.feed(buf[:n])
		if err != nil {
			break
		}
	}
	if len(cp.line) > 0 {
		cp.emit(true)
	}
}

// feed cuts b into lines: a newline, a carriage return or both end one.
func (cp *copier) feed(b []byte) {
	for len(b) > 0 {
		if cp.afterCR && b[0] == '\n' {
			b = b[1:]
			cp.afterCR = false
			continue
		}
		cp.afterCR = false
		i := bytes.IndexAny(b, "\r\n")
		if i < 0 {
			cp.line = append(cp.line, b...)
			cp.spill()
			return
		}
		cp.line = append(cp.line, b[:i]...)
		cp.afterCR = b[i] == '\r'
		b = b[i+1:]
		cp.spill()
		cp.emit(true)
	}
}

// spill writes out full pieces of a line longer than a record holds.
func (cp *copier) spill() {
	for room := cp.room(); len(cp.line) > room; room = cp.room() {
		cp.record(cp.line[:room], cp.cont)
		cp.line = cp.line[:copy(cp.line, cp.line[room:])]
		cp.cont = true
	}
}

// room is how many bytes of a line fit in one record.
func (cp *copier) room() int {
	return MaxRecord - len(cp.prefix(nil, false)) - 1
}

// emit writes what is left of the current line as its last record.
func (cp *copier) emit(end bool) {
	cp.record(cp.line, cp.cont)
	cp.line = cp.line[:0]
	cp.cont = !end
}

func (cp *copier) prefix(dst []byte, cont bool) []byte {
	if cp.stamps {
		dst = cp.now().UTC().AppendFormat(dst, "2006-01-02T15:04:05.000Z07:00")
		dst = append(dst, ' ')
	}
	dst = append(dst, cp.name...)
	if cont {
		return append(dst, " + "...)
	}
	return append(dst, " | "...)
}

func (cp *copier) record(content []byte, cont bool) {
	rec := make([]byte, 0, 40+len(cp.name)+len(content))
	rec = cp.prefix(rec, cont)
	rec = append(rec, content...)
	rec = append(rec, '\n')
	cp.s.put(cp, rec)
}

// gapRecord says how many records of this worker were dropped.
func (cp *copier) gapRecord(g gap) []byte {
	rec := cp.prefix(nil, false)
	return fmt.Appendf(rec, "tend: %d lines (%d bytes) dropped: the daemon's %s was not being read\n", g.lines, g.bytes, cp.s.what)
}

// sink is one destination: a bounded queue of records and the writer that
// empties it.
type sink struct {
	w     io.Writer
	what  string
	max   int
	stall time.Duration

	mu     sync.Mutex // guards q, size, gaps, closed, progress and progressAt
	q      [][]byte
	size   int
	gaps   map[*copier]gap // records dropped per copier, not yet said
	closed bool
	// progress is closed and replaced each time the writer has written
	// a batch; progressAt is when it last did, or last found the queue
	// empty.
	progress   chan struct{}
	progressAt time.Time
	wake       chan struct{}
	done       chan struct{}

	written, dropped, droppedBytes atomic.Uint64
}

// gap counts the records of one copier dropped since the last it queued.
type gap struct{ lines, bytes uint64 }

// gapReserve is room kept beyond the buffer for the records that say what
// was dropped, so that saying it never needs another drop.
const gapReserve = 64 << 10

func newSink(w io.Writer, max int, stall time.Duration, what string) *sink {
	s := &sink{w: w, what: what, max: max, stall: stall, gaps: map[*copier]gap{},
		progress: make(chan struct{}), progressAt: time.Now(), wake: make(chan struct{}, 1), done: make(chan struct{})}
	go s.loop()
	return s
}

// put queues rec, after the record saying what of cp's was dropped before
// it, if anything was. When it does not fit, it waits for the writer to
// make room, unless the writer has made none for stall: then rec is
// dropped and counted.
func (s *sink) put(cp *copier, rec []byte) {
	s.mu.Lock()
	for !s.closed && s.size+len(rec) > s.max {
		wait := s.stall - time.Since(s.progressAt)
		if wait <= 0 {
			break
		}
		ch := s.progress
		s.mu.Unlock()
		t := time.NewTimer(wait)
		select {
		case <-ch:
		case <-t.C:
		}
		t.Stop()
		s.mu.Lock()
	}
	if s.closed || s.size+len(rec) > s.max {
		g := s.gaps[cp]
		g.lines++
		g.bytes += uint64(len(rec))
		s.gaps[cp] = g
		s.mu.Unlock()
		s.dropped.Add(1)
		s.droppedBytes.Add(uint64(len(rec)))
		return
	}
	if s.size == 0 {
		s.progressAt = time.Now() // the stall clock starts when records wait
	}
	if g, ok := s.gaps[cp]; ok {
		gr := cp.gapRecord(g)
		s.q = append(s.q, gr)
		s.size += len(gr)
		delete(s.gaps, cp)
	}
	s.q = append(s.q, rec)
	s.size += len(rec)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// takeGaps queues, once the queue is empty, the records saying what was
// dropped of copiers that have queued nothing since (their output may have
// ended): within gapReserve, the rest stays counted for later.
func (s *sink) takeGaps() {
	for cp, g := range s.gaps {
		gr := cp.gapRecord(g)
		if s.size+len(gr) > s.max+gapReserve {
			return
		}
		s.q = append(s.q, gr)
		s.size += len(gr)
		delete(s.gaps, cp)
	}
}

// loop writes queued records, whole records only and at most MaxRecord
// bytes in one write.
func (s *sink) loop() {
	defer close(s.done)
	var batch []byte
	for {
		s.mu.Lock()
		if len(s.q) == 0 {
			s.takeGaps()
		}
		q, closed := s.q, s.closed
		s.q = nil
		s.progressAt = time.Now() // idle, or starting on what waits: not stuck
		s.mu.Unlock()
		if len(q) == 0 {
			if closed {
				return
			}
			<-s.wake
			continue
		}
		for i := 0; i < len(q); {
			batch = batch[:0]
			for i < len(q) && len(batch)+len(q[i]) <= MaxRecord {
				batch = append(batch, q[i]...)
				i++
			}
			if len(batch) == 0 { // cannot happen: a record fits MaxRecord
				batch = append(batch, q[i]...)
				i++
			}
			_, err := s.w.Write(batch)
			if err != nil && !errors.Is(err, io.ErrShortWrite) {
				// The destination is gone (a closed stdout): what it
				// cannot take is dropped, as when it is blocked.
				s.dropped.Add(uint64(bytes.Count(batch, []byte{'\n'})))
			} else {
				s.written.Add(uint64(bytes.Count(batch, []byte{'\n'})))
			}
			s.mu.Lock()
			s.size -= len(batch)
			s.progressAt = time.Now()
			close(s.progress)
			s.progress = make(chan struct{})
			s.mu.Unlock()
		}
	}
}

// close stops the writer once the queue is written, or at deadline.
func (s *sink) close(deadline time.Time) {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	select {
	case <-s.done:
	case <-time.After(time.Until(deadline)):
	}
}
