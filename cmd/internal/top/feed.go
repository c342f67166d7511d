package top

import (
	"bytes"
	"context"
	"sync"
	"time"

	"github.com/tendhq/tend/cmd/internal/client"
	"github.com/tendhq/tend/cmd/internal/explain"
	"github.com/tendhq/tend/events"
)

// Backend is what the view asks of the daemon. *client.Client serves it
// over the socket (see NewBackend); tests serve it from memory.
type Backend interface {
	Status(ctx context.Context) (client.Status, error)
	// Follow streams every event from seq from on, until ctx ends or the
	// connection fails.
	Follow(ctx context.Context, from events.Seq, fn func(events.JSON) error) error
	Why(ctx context.Context, name string) (explain.Answer, error)
	Command(ctx context.Context, verb, name string) (client.CommandResult, error)
	// Logs writes the last lines of a worker's output, then what it
	// appends, until ctx ends.
	Logs(ctx context.Context, name string, stderr bool, lines int, fn func([]byte)) error
}

// NewBackend serves the view from a daemon's client.
func NewBackend(c *client.Client) Backend { return socketBackend{c} }

type socketBackend struct{ c *client.Client }

func (b socketBackend) Status(ctx context.Context) (client.Status, error) { return b.c.Status(ctx) }

func (b socketBackend) Follow(ctx context.Context, from events.Seq, fn func(events.JSON) error) error {
	return b.c.Events(ctx, from, true, "", "", time.Time{}, fn)
}

func (b socketBackend) Why(ctx context.Context, name string) (explain.Answer, error) {
	var a explain.Answer
	err := b.c.Get(ctx, "/v1/why/"+pathEscape(name), nil, &a)
	return a, err
}

// commandTimeout bounds how long a command waits for its target state:
// the view shows the answer when it comes and stays usable meanwhile.
const commandTimeout = 30 * time.Second

func (b socketBackend) Command(ctx context.Context, verb, name string) (client.CommandResult, error) {
	return b.c.Command(ctx, verb, name, true, commandTimeout)
}

func (b socketBackend) Logs(ctx context.Context, name string, stderr bool, lines int, fn func([]byte)) error {
	return b.c.Logs(ctx, name, stderr, true, lines, writerFunc(fn))
}

type writerFunc func([]byte)

func (f writerFunc) Write(p []byte) (int, error) { f(p); return len(p), nil }

// maxPending bounds the events read from the stream and not yet taken by
// the view. Past it they are dropped and the view asks for a status
// answer instead, which says everything they would have.
const maxPending = 20_000

// stream reads the event stream on its own goroutine and hands the view
// whatever has arrived since it last looked, so reading the socket never
// waits for the screen and the screen is redrawn once per batch, not once
// per event.
type stream struct {
	mu       sync.Mutex
	buf      []events.JSON
	overflow bool
	err      error // why the stream is down; nil while it is up
	wake     chan struct{}
}

func newStream() *stream { return &stream{wake: make(chan struct{}, 1)} }

func (s *stream) notify() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *stream) push(e events.JSON) {
	s.mu.Lock()
	if len(s.buf) >= maxPending {
		s.buf, s.overflow = s.buf[:0], true
	}
	s.buf = append(s.buf, e)
	s.err = nil
	s.mu.Unlock()
	s.notify()
}

func (s *stream) fail(err error) {
	s.mu.Lock()
	s.err = err
	s.mu.Unlock()
	s.notify()
}

// take returns what has arrived since the last call.
func (s *stream) take() ([]events.JSON, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	evs, over := s.buf, s.overflow
	s.buf, s.overflow = nil, false
	return evs, over, s.err
}

// retryDelay is how long the stream waits before it reconnects to a
// daemon that went away.
const retryDelay = time.Second

// run follows the daemon's events from seq from until ctx ends,
// reconnecting after a failure where it left off.
func (s *stream) run(ctx context.Context, b Backend, from events.Seq) {
	for ctx.Err() == nil {
		err := b.Follow(ctx, from, func(e events.JSON) error {
			s.push(e)
			from = e.Seq + 1
			return nil
		})
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = errStreamEnded
		}
		s.fail(err)
		select {
		case <-ctx.Done():
		case <-time.After(retryDelay):
		}
	}
}

// tail keeps the last lines of a worker's output for the logs pane.
type tail struct {
	mu      sync.Mutex
	lines   []string // cleaned, oldest first, at most maxLogLines
	partial []byte   // an unfinished last line
	err     error
	gen     int // bumped on each change, so the view copies only when needed
	wake    chan struct{}
}

// Bounds of the logs pane: lines kept, and the length of one line (a
// worker that writes megabytes without a newline is cut, not buffered).
const (
	maxLogLines = 1000
	maxLineLen  = 4096
)

func newTail() *tail { return &tail{wake: make(chan struct{}, 1)} }

func (t *tail) write(p []byte) {
	t.mu.Lock()
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			t.partial = appendBounded(t.partial, p)
			break
		}
		t.partial = appendBounded(t.partial, p[:i])
		t.add(string(t.partial))
		t.partial = t.partial[:0]
		p = p[i+1:]
	}
	t.gen++
	t.mu.Unlock()
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

func appendBounded(b, p []byte) []byte {
	if room := maxLineLen - len(b); len(p) > room {
		p = p[:max(room, 0)]
	}
	return append(b, p...)
}

func (t *tail) add(line string) {
	t.lines = append(t.lines, Clean(line))
	if len(t.lines) > maxLogLines {
		t.lines = append(t.lines[:0], t.lines[len(t.lines)-maxLogLines:]...)
	}
}

func (t *tail) fail(err error) {
	t.mu.Lock()
	t.err = err
	t.gen++
	t.mu.Unlock()
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// snapshot is the lines so far, with the unfinished one last.
func (t *tail) snapshot() ([]string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]string, len(t.lines), len(t.lines)+1)
	copy(out, t.lines)
	if len(t.partial) > 0 {
		out = append(out, Clean(string(t.partial)))
	}
	return out, t.err
}
