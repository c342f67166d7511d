package peer

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of Options, and why.
const (
	// MaxConns admitted connections may be open at once, from any uid
	// the rule allows: each is a file descriptor and a goroutine or two,
	// and "events --follow" or "logs -f" keep one for as long as they
	// run.
	MaxConns = 128
	// Reserve more are kept for root and the daemon's own uid, so that
	// the operator can always get in, even when an allowed user holds
	// every other connection open with follow streams.
	Reserve = 16
	// MaxTurning connections that are turned away may be being answered
	// at once; past that they are closed without an answer. Each is
	// given TurnTimeout to take its answer and hang up, so a flood from a
	// refused uid holds at most MaxTurning descriptors for that long.
	MaxTurning  = 32
	TurnTimeout = 500 * time.Millisecond
)

// Limits of the HTTP servers behind the sockets, the same for each: a
// client gets this long to send its request headers and its whole request,
// and an idle kept-alive connection is closed after IdleTimeout. Streams
// ("events --follow", "logs -f", "tail -f") clear their write deadline;
// nothing sets one on any other answer either.
const (
	ReadHeaderTimeout = 5 * time.Second
	ReadTimeout       = 10 * time.Second
	IdleTimeout       = 60 * time.Second
	MaxHeaderBytes    = 16 << 10
)

// LimitServer gives srv the limits above.
func LimitServer(srv *http.Server) {
	srv.ReadHeaderTimeout = ReadHeaderTimeout
	srv.ReadTimeout = ReadTimeout
	srv.IdleTimeout = IdleTimeout
	srv.MaxHeaderBytes = MaxHeaderBytes
}

// Options configure a Listener. Zero numbers take the defaults above.
type Options struct {
	Rule       Rule
	MaxConns   int
	Reserve    int
	MaxTurning int
	// Refused is the answer written to a peer the rule refuses, Busy the
	// one to an allowed peer when no connection is free (both whole HTTP
	// responses; see Answer).
	Refused func(Cred) []byte
	Busy    func(Cred) []byte
	// Report records refusals, on a goroutine of its own (see Report).
	// Nil: they are not recorded.
	Report func(Report)
	// Open is told of every admitted connection opened (+1) and closed (-1).
	Open func(delta int)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Answer is a complete HTTP/1.1 response that closes the connection. An
// empty reason is the status's usual text; a client that shows only the
// status line (supervisorctl does) shows a reason given here.
func Answer(status int, reason, contentType, body string) []byte {
	if reason == "" {
		reason = http.StatusText(status)
	}
	reason = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, reason)
	return []byte("HTTP/1.1 " + strconv.Itoa(status) + " " + reason + "\r\n" +
		"Content-Type: " + contentType + "\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\n" +
		"Connection: close\r\n\r\n" + body)
}

// Listener admits, out of the connections its net.Listener accepts, those
// the rule allows while a connection is free; it answers the others at
// once and closes them. Credentials are checked before anything of the
// connection is read, and a refused connection never takes a place of an
// admitted one.
type Listener struct {
	net.Listener
	opts Options
	rep  *reporter
	cred func(net.Conn) (Cred, error) // Of; tests stand in other uids

	mu       sync.Mutex // guards shared and reserved
	shared   int        // admitted connections open, of MaxConns
	reserved int        // and of Reserve

	turning atomic.Int32
	turns   sync.WaitGroup
	close   sync.Once
}

// NewListener wraps l, a unix socket listener.
func NewListener(l net.Listener, opts Options) *Listener {
	if opts.MaxConns <= 0 {
		opts.MaxConns = MaxConns
	}
	if opts.Reserve < 0 {
		opts.Reserve = 0
	} else if opts.Reserve == 0 {
		opts.Reserve = Reserve
	}
	if opts.MaxTurning <= 0 {
		opts.MaxTurning = MaxTurning
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Open == nil {
		opts.Open = func(int) {}
	}
	if opts.Refused == nil {
		opts.Refused = func(c Cred) []byte {
			return Answer(http.StatusForbidden, "", "text/plain; charset=utf-8", fmt.Sprintf("uid %d is not allowed to use this socket\n", c.UID))
		}
	}
	if opts.Busy == nil {
		opts.Busy = func(Cred) []byte {
			return Answer(http.StatusServiceUnavailable, "", "text/plain; charset=utf-8", "too many connections are open; try again\n")
		}
	}
	l2 := &Listener{Listener: l, opts: opts, cred: Of}
	if opts.Report != nil {
		l2.rep = newReporter(opts.Report, opts.Now)
	}
	return l2
}

// Accept returns the next admitted connection, a *Conn.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		cred, err := l.cred(c)
		if err != nil {
			c.Close() // not a peer this package can identify: never admitted
			continue
		}
		if !l.opts.Rule.Allows(cred) {
			if l.rep != nil {
				l.rep.refuse(cred)
			}
			l.turnAway(c, l.opts.Refused(cred))
			continue
		}
		release, ok := l.admit(cred)
		if !ok {
			l.turnAway(c, l.opts.Busy(cred))
			continue
		}
		l.opts.Open(1)
		return &Conn{Conn: c, Cred: cred, release: func() { release(); l.opts.Open(-1) }}, nil
	}
}

// admit takes a place for cred: a shared one, else (root and the daemon's
// uid only) one of the reserve.
func (l *Listener) admit(cred Cred) (release func(), ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.shared < l.opts.MaxConns:
		l.shared++
		return func() { l.mu.Lock(); l.shared--; l.mu.Unlock() }, true
	case l.opts.Rule.Owner(cred) && l.reserved < l.opts.Reserve:
		l.reserved++
		return func() { l.mu.Lock(); l.reserved--; l.mu.Unlock() }, true
	}
	return nil, false
}

// turnAway writes answer to c and closes it, reading (and dropping) what
// the peer sent meanwhile so that it hears the answer rather than a reset.
// It never waits: past MaxTurning at once, c is closed unanswered.
func (l *Listener) turnAway(c net.Conn, answer []byte) {
	if int(l.turning.Add(1)) > l.opts.MaxTurning {
		l.turning.Add(-1)
		c.Close()
		return
	}
	l.turns.Add(1)
	go func() {
		defer l.turns.Done()
		defer l.turning.Add(-1)
		defer c.Close()
		_ = c.SetDeadline(l.opts.Now().Add(TurnTimeout))
		if _, err := c.Write(answer); err != nil {
			return
		}
		if uc, ok := c.(*net.UnixConn); ok {
			_ = uc.CloseWrite()
		}
		_, _ = io.CopyN(io.Discard, c, 64<<10)
	}()
}

// Close stops accepting, waits for the connections being turned away, and
// records the refusals still counted.
func (l *Listener) Close() error {
	err := l.Listener.Close()
	l.close.Do(func() {
		l.turns.Wait()
		if l.rep != nil {
			l.rep.close()
		}
	})
	return err
}

// Conn is an admitted connection and its peer's credentials. Closing it
// frees its place.
type Conn struct {
	net.Conn
	Cred    Cred
	once    sync.Once
	release func()
}

// Close implements net.Conn.
func (c *Conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
