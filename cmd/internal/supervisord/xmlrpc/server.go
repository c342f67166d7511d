// Package xmlrpc serves the part of supervisord's XML-RPC interface that
// the real supervisorctl uses, so operators can keep typing
// "supervisorctl status" against a tend daemon.
//
// It speaks HTTP on a unix socket: POST /RPC2 for XML-RPC calls and
// GET /logtail/NAME/CHANNEL for "supervisorctl tail -f". Who may connect is
// decided before this package sees a connection, by the listener its
// caller serves it on (the daemon's peer.Listener, with the control
// socket's uid rule and limits); every command is passed to the Control as
// actor "supervisorctl uid=N", the peer's uid as the kernel gives it, so
// the event log says who did it.
//
// # Limits
//
// A request is at most MaxRequest bytes, a multicall at most MaxMulticall
// calls, and a response at most MaxResponse bytes of XML: a call whose
// answer would take it past that gets a FAILED fault saying so. One log
// read returns at most MaxLogRead bytes, and the log reads of all
// responses not yet written hold at most MaxReading bytes.
//
// # Names and groups
//
// supervisord addresses processes as "group:name"; a process alone in a
// group of its own name is just "name". A worker's group is
// WorkerInfo.Group (empty: its own name). As a convenience a bare worker
// name also finds a worker that is in another group.
//
// # States
//
// tend's states map onto supervisord's (codes in parentheses):
//
//	Running                                   RUNNING (20)
//	Stopping                                  STOPPING (40)
//	Starting, restart pending                 BACKOFF (30)
//	Starting                                  STARTING (10)
//	Stopped or Killed, breaker open or spawn
//	failed (SpawnError set)                   FATAL (200)
//	Stopped or Killed, restart pending        BACKOFF (30)
//	Killed                                    EXITED (100)
//	Stopped after exiting on its own          EXITED (100)
//	Stopped otherwise                         STOPPED (0)
//
// Killed becomes EXITED because supervisord has no state for "ended by
// SIGKILL after a stop timed out": the process is gone and was not
// stopped cleanly.
//
// # Reload
//
// supervisorctl's "reread" and "update" both call reloadConfig, which calls
// Control.Reload; tend applies a configuration as a whole, so "reread"
// already applies it. The addProcessGroup, removeProcessGroup and
// stopProcessGroup calls that "update" makes afterwards succeed for the
// groups the last reload reported, and addProcessGroup starts stopped
// autostart workers, so "update" ends where supervisord's would.
//
// This package may NOT start, stop or signal processes, read the event log
// or the configuration itself: it acts only through Control. It reads log
// files only at the paths Control.LogPath returns, through
// supervisor/logfile, which refuses a link or FIFO a worker planted there
// instead of reading through it. It never panics on bad
// input: malformed, oversized and unknown calls get XML-RPC faults.
package xmlrpc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tendhq/tend/cmd/internal/peer"
	"github.com/tendhq/tend/events"
)

// WorkerInfo is what the server needs to know about one worker.
type WorkerInfo struct {
	Name        string
	Group       string // supervisord group; "" means the worker's own name
	State       events.State
	PID         int       // 0 when no process
	Since       time.Time // when State was entered
	Started     time.Time // last spawn; zero if never started
	Incarnation uint64
	ExitCode    *int // the last incarnation's exit code; nil if none or signalled
	// Exited: the last incarnation ended on its own rather than being
	// stopped by request.
	Exited         bool
	RestartPending bool   // an automatic restart is scheduled
	BreakerOpen    bool   // the circuit breaker gave up restarting it
	SpawnError     string // why the last spawn failed; "" if it did not
	Description    string // shown by supervisorctl for FATAL and BACKOFF; a default is used if ""
	Autostart      bool
}

// Control is the daemon as the server sees it. Its methods are called
// concurrently.
type Control interface {
	// Workers returns every configured worker.
	Workers() []WorkerInfo
	// Command starts (start) or stops every named worker as one decision
	// and, with wait, waits until each has reached that goal or settled
	// without reaching it, or ctx ends. It returns one error per name, in
	// order: nil, or one wrapping ErrNoWorker, ErrAlreadyStarted (a start
	// of a worker already starting or running), ErrNotRunning (a stop of a
	// worker with nothing to stop), ErrSpawn (it could not be spawned),
	// ErrExited (it ended before it ran), ErrShuttingDown, or ctx.Err().
	Command(ctx context.Context, start bool, names []string, actor string, wait bool) []error
	// Signal sends sig to the running process of every named worker as one
	// decision, waiting for each outcome until ctx ends. It returns one
	// error per name, in order: nil (sent), or one wrapping ErrNoWorker,
	// ErrNotRunning (nothing runs to be signalled), ErrShuttingDown, or
	// the reason it was not sent.
	Signal(ctx context.Context, names []string, sig int, actor string) []error
	// Reload rereads and applies the configuration, returning the names
	// of the workers added, changed and removed.
	Reload(ctx context.Context, actor string) (added, changed, removed []string, err error)
	// Shutdown begins stopping the daemon and returns without waiting;
	// the daemon closes this Server as part of it.
	Shutdown(actor string) error
	// LogPath is the worker's stdout (or stderr) file, "" if none, and
	// the uid the worker runs as, which may own it besides root.
	LogPath(name string, stderr bool) (path string, uid uint32)
}

// Errors a Control returns (wrapped or not) to get supervisord's matching
// fault. Any other error is reported as FAILED with its text.
var (
	ErrNoWorker       = errors.New("no such worker")           // BAD_NAME
	ErrAlreadyStarted = errors.New("already started")          // ALREADY_STARTED
	ErrNotRunning     = errors.New("not running")              // NOT_RUNNING
	ErrSpawn          = errors.New("spawn error")              // SPAWN_ERROR
	ErrExited         = errors.New("exited before it ran")     // ABNORMAL_TERMINATION
	ErrShuttingDown   = errors.New("shutting down")            // SHUTDOWN_STATE
	ErrCantReread     = errors.New("configuration is invalid") // CANT_REREAD
)

// supervisord's fault codes (supervisor/xmlrpc.py).
const (
	faultUnknownMethod       = 1
	faultIncorrectParameters = 2
	faultBadArguments        = 3
	faultShutdownState       = 6
	faultBadName             = 10
	faultBadSignal           = 11
	faultNoFile              = 20
	faultFailed              = 30
	faultAbnormalTermination = 40
	faultSpawnError          = 50
	faultAlreadyStarted      = 60
	faultNotRunning          = 70
	faultSuccess             = 80
	faultAlreadyAdded        = 90
	faultStillRunning        = 91
	faultCantReread          = 92
)

// faultName is the name supervisord puts at the start of a fault's text.
func faultName(code int) string {
	switch code {
	case faultUnknownMethod:
		return "UNKNOWN_METHOD"
	case faultIncorrectParameters:
		return "INCORRECT_PARAMETERS"
	case faultBadArguments:
		return "BAD_ARGUMENTS"
	case faultShutdownState:
		return "SHUTDOWN_STATE"
	case faultBadName:
		return "BAD_NAME"
	case faultBadSignal:
		return "BAD_SIGNAL"
	case faultNoFile:
		return "NO_FILE"
	case faultFailed:
		return "FAILED"
	case faultAbnormalTermination:
		return "ABNORMAL_TERMINATION"
	case faultSpawnError:
		return "SPAWN_ERROR"
	case faultAlreadyStarted:
		return "ALREADY_STARTED"
	case faultNotRunning:
		return "NOT_RUNNING"
	case faultSuccess:
		return "SUCCESS"
	case faultAlreadyAdded:
		return "ALREADY_ADDED"
	case faultStillRunning:
		return "STILL_RUNNING"
	case faultCantReread:
		return "CANT_REREAD"
	}
	return "UNKNOWN"
}

// Fault is an XML-RPC fault.
type Fault struct {
	Code   int
	String string
}

func (f *Fault) Error() string { return fmt.Sprintf("fault %d: %s", f.Code, f.String) }

// fault builds a Fault whose text is supervisord's: "NAME: extra".
func fault(code int, extra string) *Fault {
	name := faultName(code)
	if extra != "" {
		name += ": " + extra
	}
	return &Fault{Code: code, String: name}
}

// supervisord's process state codes.
const (
	stateStopped  = 0
	stateStarting = 10
	stateRunning  = 20
	stateBackoff  = 30
	stateStopping = 40
	stateExited   = 100
	stateFatal    = 200
)

// StateOf maps a worker onto supervisord's state code and name, by the
// rule in the package documentation.
func StateOf(w WorkerInfo) (code int, name string) {
	switch w.State {
	case events.Running:
		return stateRunning, "RUNNING"
	case events.Stopping:
		return stateStopping, "STOPPING"
	case events.Starting:
		if w.RestartPending {
			return stateBackoff, "BACKOFF"
		}
		return stateStarting, "STARTING"
	}
	switch {
	case w.BreakerOpen || w.SpawnError != "":
		return stateFatal, "FATAL"
	case w.RestartPending:
		return stateBackoff, "BACKOFF"
	case w.State == events.Killed || w.Exited:
		return stateExited, "EXITED"
	}
	return stateStopped, "STOPPED"
}

// running is supervisord's RUNNING_STATES: a start is refused, a stop is
// accepted.
func running(code int) bool {
	return code == stateStarting || code == stateRunning || code == stateBackoff
}

// signallable is supervisord's SIGNALLABLE_STATES.
func signallable(code int) bool {
	return code == stateStarting || code == stateRunning || code == stateStopping
}

// Options tune a Server. Zero values take the defaults.
type Options struct {
	MaxRequest   int64         // largest request body; default 1 MiB
	MaxLogRead   int64         // most bytes one log read returns; default 4 MiB
	MaxResponse  int64         // most bytes of XML one response carries; default 16 MiB
	MaxReading   int64         // most bytes of log reads held by all responses at once; default 64 MiB
	MaxMulticall int           // most calls in one system.multicall; default 256
	WaitTimeout  time.Duration // longest a start or stop waits; default 2 minutes
	TailInterval time.Duration // how often /logtail polls its file; default 250ms
	Version      string        // getSupervisorVersion; default "4.2.5 (tend)"
	Identifier   string        // getIdentification; default "tend"
	PID          int           // getPID; default os.Getpid()
	Now          func() time.Time
}

// Server serves supervisord's XML-RPC interface over a Control.
type Server struct {
	c    Control
	opts Options
	http *http.Server

	ctx    context.Context // ends when the server closes, ending log tails
	cancel context.CancelFunc

	down    atomic.Bool  // Shutdown was called
	reading atomic.Int64 // bytes of log reads held by responses not yet written

	mu         sync.Mutex
	lastReload map[string]string // group -> "added", "changed" or "removed"
	// lastRemoved holds the workers the last reload removed: tend stops
	// and drops them itself, but they stay listed until they have exited.
	lastRemoved map[string]bool
}

// NewServer returns a Server over c.
func NewServer(c Control, opts Options) *Server {
	if opts.MaxRequest <= 0 {
		opts.MaxRequest = 1 << 20
	}
	if opts.MaxLogRead <= 0 {
		opts.MaxLogRead = 4 << 20
	}
	if opts.MaxResponse <= 0 {
		opts.MaxResponse = 16 << 20
	}
	if opts.MaxReading <= 0 {
		opts.MaxReading = 64 << 20
	}
	if opts.MaxMulticall <= 0 {
		opts.MaxMulticall = 256
	}
	if opts.WaitTimeout <= 0 {
		opts.WaitTimeout = 2 * time.Minute
	}
	if opts.TailInterval <= 0 {
		opts.TailInterval = 250 * time.Millisecond
	}
	if opts.Version == "" {
		opts.Version = "4.2.5 (tend)"
	}
	if opts.Identifier == "" {
		opts.Identifier = "tend"
	}
	if opts.PID == 0 {
		opts.PID = os.Getpid()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{c: c, opts: opts, lastReload: map[string]string{}, lastRemoved: map[string]bool{}}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	mux := http.NewServeMux()
	mux.HandleFunc("/RPC2", s.serveRPC)
	mux.HandleFunc("/logtail/", s.serveLogtail)
	s.http = &http.Server{
		Handler:     mux,
		ConnContext: connContext,
		BaseContext: func(net.Listener) context.Context { return s.ctx },
	}
	peer.LimitServer(s.http)
	return s
}

// Serve accepts connections on l until Close. l should be a unix socket
// listener; it decides who may connect (the daemon gives it a
// peer.Listener). Connections whose peer cannot be identified get 403.
func (s *Server) Serve(l net.Listener) error {
	err := s.http.Serve(l)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Close stops the server: listeners and connections are closed and log
// tails end.
func (s *Server) Close() error {
	s.cancel()
	return s.http.Close()
}

type actorKey struct{}

// connContext records the peer's uid when the connection is accepted, so
// that every request on it is attributed to the same actor.
func connContext(ctx context.Context, c net.Conn) context.Context {
	cred, err := peer.Of(c)
	if err != nil {
		return ctx
	}
	return context.WithValue(ctx, actorKey{}, fmt.Sprintf("supervisorctl uid=%d", cred.UID))
}

func actorOf(r *http.Request) (string, bool) {
	a, ok := r.Context().Value(actorKey{}).(string)
	return a, ok
}

func (s *Server) serveRPC(w http.ResponseWriter, r *http.Request) {
	actor, ok := actorOf(r)
	if !ok {
		http.Error(w, "peer credentials unavailable", http.StatusForbidden)
		return
	}
	if r.Method != http.MethodPost {
		http.Error(w, "XML-RPC takes POST", http.StatusMethodNotAllowed)
		return
	}
	var resp []byte
	body, err := io.ReadAll(io.LimitReader(r.Body, s.opts.MaxRequest+1))
	switch {
	case err != nil:
		resp = encodeFault(fault(faultIncorrectParameters, "cannot read request: "+err.Error()))
	case int64(len(body)) > s.opts.MaxRequest:
		resp = encodeFault(fault(faultIncorrectParameters, fmt.Sprintf("request larger than %d bytes", s.opts.MaxRequest)))
	default:
		c, err := decodeCall(body)
		if err != nil {
			resp = encodeFault(fault(faultIncorrectParameters, err.Error()))
			break
		}
		b := s.newBudget()
		defer b.release() // once the response is written
		v, f := s.dispatch(r.Context(), actor, c.method, c.params, false, b)
		if f == nil && c.method != "system.multicall" { // a multicall counts each of its calls
			f = b.take(v)
		}
		if f != nil {
			resp = encodeFault(f)
		} else {
			resp = encodeResponse(v)
		}
	}
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("Content-Length", fmt.Sprint(len(resp)))
	_, _ = w.Write(resp)
}

// procRef is a worker as supervisord names it.
type procRef struct {
	info  WorkerInfo
	group string
}

func (s *Server) procs() []procRef {
	ws := s.c.Workers()
	out := make([]procRef, 0, len(ws))
	for _, w := range ws {
		g := w.Group
		if g == "" {
			g = w.Name
		}
		out = append(out, procRef{w, g})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].group != out[j].group {
			return out[i].group < out[j].group
		}
		return out[i].info.Name < out[j].info.Name
	})
	return out
}

// splitNamespec is supervisord's split_namespec: "g:p", "g:*" or "g:"
// (process empty: the whole group), or "p" (group and process p).
func splitNamespec(spec string) (group, proc string) {
	if g, p, ok := strings.Cut(spec, ":"); ok {
		if p == "*" {
			p = ""
		}
		return g, p
	}
	return spec, spec
}

// lookup resolves a namespec to one worker, or to a group when the spec
// names one with "g:*". It returns a BAD_NAME fault when nothing matches.
func (s *Server) lookup(spec string) (one *procRef, group []procRef, f *Fault) {
	g, p := splitNamespec(spec)
	all := s.procs()
	var inGroup []procRef
	for i := range all {
		if all[i].group == g {
			inGroup = append(inGroup, all[i])
		}
	}
	if p == "" {
		if len(inGroup) == 0 {
			return nil, nil, fault(faultBadName, spec)
		}
		return nil, inGroup, nil
	}
	for i := range inGroup {
		if inGroup[i].info.Name == p {
			return &inGroup[i], nil, nil
		}
	}
	if !strings.Contains(spec, ":") {
		for i := range all {
			if all[i].info.Name == spec {
				return &all[i], nil, nil
			}
		}
	}
	return nil, nil, fault(faultBadName, spec)
}

// toFault maps a Control error to supervisord's fault.
func toFault(err error, name string) *Fault {
	var f *Fault
	switch {
	case errors.As(err, &f):
		return f
	case errors.Is(err, ErrNoWorker):
		return fault(faultBadName, name)
	case errors.Is(err, ErrAlreadyStarted):
		return fault(faultAlreadyStarted, name)
	case errors.Is(err, ErrNotRunning):
		return fault(faultNotRunning, name)
	case errors.Is(err, ErrSpawn):
		return fault(faultSpawnError, name)
	case errors.Is(err, ErrShuttingDown):
		return fault(faultShutdownState, "")
	case errors.Is(err, ErrCantReread):
		return fault(faultCantReread, err.Error())
	}
	return fault(faultFailed, err.Error())
}
