// Package relay is a worker's output relay (output = "relay"): a small
// process, the daemon's own binary started in a hidden mode as s6-log is,
// that holds the read ends of the worker's stdout and stderr pipes, stamps
// each line with its time and the worker's incarnation, writes the lines
// to the worker's output files and rotates them itself, by size and by
// age, optionally compressing what it rotated.
//
// Because the relay, not the daemon, holds the pipes, a worker never
// blocks and never dies of SIGPIPE when the daemon dies; and because the
// relay is the only writer of its files, rotation is exact: a file never
// holds more than log_max_size bytes, and a line is split across files
// only when it is longer than that.
//
// The relay is one per incarnation. It runs in a process group of its
// own, so nothing sent to the worker's group reaches it, and it ends when
// every holder of the pipes' write ends has closed them (the worker and
// whatever of it remains). The daemon records its pid and start time with
// the spawn; a daemon that starts again adopts it by that identity, never
// by a marker in its environment, which is empty.
//
// What this package may not do: decide anything about workers, or import
// more of tend than the files' package (supervisor/logfile) and the
// identity of processes (supervisor/proc).
package relay

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/tendhq/tend/supervisor/logfile"
)

// Arg is argv[1] of the daemon's binary started as a relay; argv[2] is
// its Config as JSON. A worker writes nothing there: the daemon does.
const Arg = "__relay"

// Config is what one relay does.
type Config struct {
	Worker      string
	Incarnation uint64
	// UID is the worker's: its output files may be its own.
	UID uint32
	// MaxSize bounds each file in bytes (0: never rotated by size); Backups
	// is how many rotated files are kept; MaxAge rotates a file that is
	// older at its next line (0: never); Compress gzips rotated files.
	MaxSize  int64
	Backups  int
	MaxAge   time.Duration
	Compress bool
	// Paths are the files the relay's descriptors 3, 4, ... go to, one per
	// pipe: the worker's stdout's, then its stderr's when it is another
	// file. The descriptor after them is where the relay says it is ready
	// (a newline, then it closes it).
	Paths []string
}

// MaxLine bounds a line the relay holds in memory: a longer one is written
// as several records, the later ones marked "+" after the incarnation.
const MaxLine = 64 << 10

// Main runs the relay when the binary was started as one, and never
// returns then; otherwise it returns at once. Call it first in main.
func Main() {
	if len(os.Args) != 3 || os.Args[1] != Arg {
		return
	}
	var c Config
	if err := json.Unmarshal([]byte(os.Args[2]), &c); err != nil || len(c.Paths) == 0 {
		os.Exit(2)
	}
	os.Exit(run(&c))
}

func run(c *Config) int {
	// Its life is its pipes': a signal meant for the worker, or for the
	// terminal, must not end it before the worker's last line is written.
	signal.Ignore(syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGPIPE)
	var wg sync.WaitGroup
	failed := false
	var mu sync.Mutex
	streams := make([]*stream, len(c.Paths))
	for i, path := range c.Paths {
		a, err := logfile.OpenAppender(path, c.UID)
		r := os.NewFile(uintptr(3+i), path)
		if err != nil {
			// Nowhere to write: read and drop, so the worker never blocks.
			mu.Lock()
			failed = true
			mu.Unlock()
			wg.Add(1)
			go func() { defer wg.Done(); drain(r) }()
			continue
		}
		s := &stream{c: c, a: a, now: time.Now}
		streams[i] = s
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.copy(r)
			if err := a.Close(); err != nil {
				mu.Lock()
				failed = true
				mu.Unlock()
			}
		}()
	}
	// Ready: the files are open and every pipe has its reader, so the
	// daemon may start the worker, and what it writes is stamped when
	// it is written.
	ready := os.NewFile(uintptr(3+len(c.Paths)), "ready")
	_, _ = ready.Write([]byte{'\n'})
	_ = ready.Close()
	wg.Wait()
	if failed {
		return 1
	}
	return 0
}

func drain(r *os.File) {
	buf := make([]byte, 64<<10)
	for {
		if _, err := r.Read(buf); err != nil {
			return
		}
	}
}

// stream copies one pipe into one Appender.
type stream struct {
	c   *Config
	a   *logfile.Appender
	now func() time.Time

	line    []byte // the current line, not yet written
	cont    bool   // the current line already had a record
	pending []byte // records to write in one write(2)
	lost    int    // records that could not be written since the last that could
	lostErr error
}

func (s *stream) copy(r *os.File) {
	buf := make([]byte, 64<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			now := s.now()
			s.feed(buf[:n], now)
			s.flush()
		}
		if err != nil {
			break
		}
	}
	if len(s.line) > 0 {
		s.record(s.line, s.now())
		s.line = s.line[:0]
		s.flush()
	}
}

// feed cuts b into lines at newlines.
func (s *stream) feed(b []byte, now time.Time) {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			s.line = append(s.line, b...)
			s.spill(now)
			return
		}
		s.line = append(s.line, b[:i]...)
		b = b[i+1:]
		s.spill(now)
		s.record(s.line, now)
		s.line = s.line[:0]
		s.cont = false
	}
}

// spill writes out pieces of a line too long for one record.
func (s *stream) spill(now time.Time) {
	for room := s.room(); len(s.line) > room; room = s.room() {
		s.record(s.line[:room], now)
		s.line = s.line[:copy(s.line, s.line[room:])]
		s.cont = true
	}
}

// room is how much of a line one record holds: MaxLine, and never more
// than a whole file.
func (s *stream) room() int {
	room := MaxLine
	if s.c.MaxSize > 0 {
		room = min(room, int(s.c.MaxSize)-len(s.stamp(nil, time.Time{}, true))-1)
	}
	return max(room, 1)
}

// stamp is a record's start: "2026-03-14T03:14:07.123456Z #3 ", or "#3+"
// for the later pieces of a long line.
func (s *stream) stamp(dst []byte, now time.Time, cont bool) []byte {
	dst = now.UTC().AppendFormat(dst, "2006-01-02T15:04:05.000000Z07:00")
	dst = append(dst, " #"...)
	dst = strconv.AppendUint(dst, s.c.Incarnation, 10)
	if cont {
		return append(dst, "+ "...)
	}
	return append(dst, ' ')
}

// record adds one record to the pending write, rotating first when it
// would take the file past its bounds.
func (s *stream) record(content []byte, now time.Time) {
	start := len(s.pending)
	s.pending = s.stamp(s.pending, now, s.cont)
	s.pending = append(s.pending, content...)
	s.pending = append(s.pending, '\n')
	rec := len(s.pending) - start
	if !s.a.Rotatable() {
		return
	}
	size := s.a.Size() + int64(start)
	tooBig := s.c.MaxSize > 0 && size+int64(rec) > s.c.MaxSize && size > 0
	tooOld := s.c.MaxAge > 0 && size > 0 && now.Sub(s.a.Born()) >= s.c.MaxAge
	if !tooBig && !tooOld {
		return
	}
	// What is pending before this record goes to the current file, then
	// the file is rotated, and this record starts the next one.
	recBytes := append([]byte(nil), s.pending[start:]...)
	s.pending = s.pending[:start]
	s.flush()
	if err := s.a.Rotate(s.c.Backups, s.c.Compress); err != nil {
		s.note(err)
	}
	s.pending = append(s.pending, recBytes...)
}

// flush writes the pending records in one write. A write that fails
// (a full disk) loses them, counted; the next that succeeds says so.
func (s *stream) flush() {
	if len(s.pending) == 0 {
		return
	}
	if s.lost > 0 {
		msg := s.stamp(nil, s.now(), false)
		msg = fmt.Appendf(msg, "tend relay: %d lines lost: %v\n", s.lost, s.lostErr)
		if _, err := s.a.Write(msg); err == nil {
			s.lost, s.lostErr = 0, nil
		}
	}
	if _, err := s.a.Write(s.pending); err != nil {
		s.lost += bytes.Count(s.pending, []byte{'\n'})
		s.lostErr = err
	}
	s.pending = s.pending[:0]
}

// note keeps a rotation error to be said in the file.
func (s *stream) note(err error) {
	if err == nil || errors.Is(err, os.ErrClosed) {
		return
	}
	msg := s.stamp(nil, s.now(), false)
	msg = fmt.Appendf(msg, "tend relay: rotation: %v\n", err)
	_, _ = s.a.Write(msg)
}
