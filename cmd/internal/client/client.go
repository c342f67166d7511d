package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tendhq/tend/events"
)

// Client talks to one daemon over its unix socket, one connection per
// request (wire.go).
type Client struct {
	socket string
}

// New returns a client for the daemon listening on socket.
func New(socket string) *Client { return &Client{socket: socket} }

// Close releases what the client holds: nothing outlives a request.
func (c *Client) Close() {}

// Error is an answer the daemon gave with an error code.
type Error struct {
	Status int
	ErrorBody
}

func (e *Error) Error() string { return e.ErrorBody.Error }

// ErrNoDaemon says nothing answers on the socket.
var ErrNoDaemon = errors.New("no tend daemon answers")

// IsNoWorker reports whether err says the worker does not exist.
func IsNoWorker(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == "no_such_worker"
}

func (c *Client) do(ctx context.Context, method, path string, q url.Values) (*response, error) {
	return c.doBody(ctx, method, path, q, nil)
}

// ErrHungUp says the daemon closed the connection before it answered.
var ErrHungUp = errors.New("the daemon closed the connection before it answered")

// hungUp reports whether a request's error is the daemon's end of the
// connection closing before the answer's head arrived.
func hungUp(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// ErrBusy says the daemon is there but takes no more connections now.
var ErrBusy = errors.New("the tend daemon is busy")

func (c *Client) doBody(ctx context.Context, method, path string, q url.Values, body []byte) (*response, error) {
	target := path
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	var conn net.Conn
	for delay := 10 * time.Millisecond; ; delay = min(2*delay, time.Second) {
		var d net.Dialer
		var err error
		conn, err = d.DialContext(ctx, "unix", c.socket)
		if err == nil {
			break
		}
		var op *net.OpError
		if !errors.As(err, &op) || op.Op != "dial" {
			return nil, err
		}
		switch {
		case errors.Is(err, syscall.EAGAIN):
			// The socket's backlog is full: a daemon is there, and busy.
			// Wait and try again, as long as the caller's context allows.
			select {
			case <-ctx.Done():
				return nil, fmt.Errorf("%w: its socket %s took no connection before the deadline: %v", ErrBusy, c.socket, op.Err)
			case <-time.After(delay):
			}
			continue
		case errors.Is(err, syscall.EACCES):
			return nil, fmt.Errorf("cannot open the control socket %s: permission denied (run as root, as the daemon's user, or as a member of its socket_group)", c.socket)
		case errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED):
			return nil, fmt.Errorf("%w on %s (is the daemon running? start it with `tend daemon`, or read a log file with --db): %v", ErrNoDaemon, c.socket, op.Err)
		}
		return nil, fmt.Errorf("cannot connect to the control socket %s: %v", c.socket, op.Err)
	}
	resp, err := roundTrip(ctx, conn, method, target, body)
	if err != nil {
		where := fmt.Sprintf("%s %s on the control socket %s", method, path, c.socket)
		if !hungUp(err) {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		what := "it may have stopped or crashed"
		if method != "GET" {
			// A command's outcome is the log's to say: it may have been
			// made durable just before the daemon went.
			what += ", and the command may or may not have been recorded: `tend history` says, once a daemon runs again"
		}
		return nil, fmt.Errorf("%s: %w (%v); %s", where, ErrHungUp, err, what)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		e := &Error{Status: resp.StatusCode}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(b, &e.ErrorBody) != nil || e.ErrorBody.Error == "" {
			e.ErrorBody = ErrorBody{Error: strings.TrimSpace(string(b)), Code: "failed"}
		}
		return nil, e
	}
	return resp, nil
}

func (c *Client) getJSON(ctx context.Context, method, path string, q url.Values, out any) error {
	resp, err := c.do(ctx, method, path, q)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := readAll(resp)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}

// Ping checks that a daemon answers.
func (c *Client) Ping(ctx context.Context) error {
	var v map[string]any
	return c.getJSON(ctx, "GET", "/v1/ping", nil, &v)
}

// Status asks for the named workers (all when none).
func (c *Client) Status(ctx context.Context, names ...string) (Status, error) {
	var s Status
	resp, err := c.do(ctx, "GET", "/v1/status", url.Values{"name": names})
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	b, err := readAll(resp)
	if err != nil {
		return s, err
	}
	n, err := strconv.Atoi(resp.Header(WorkersHeader))
	if err != nil {
		n = -1
	}
	return s, decodeStatus(b, &s, n)
}

// ViewHeader is the header by which the daemon says what its answer to
// GET /v1/status?view=workers is: ViewWorkers when it is the workers'
// array as `tend status -o json` prints it.
const (
	ViewHeader  = "X-Tend-View"
	ViewWorkers = "workers"
)

// WorkersHeader is the header by which the daemon says how many workers a
// status it streams holds, before it sends them: the client makes room
// for the answer once (readAll), rather than growing a buffer of
// megabytes as it arrives.
const WorkersHeader = "X-Tend-Workers"

// WriteStatusJSON writes the named workers' status (all when none) to w as
// `tend status -o json` prints it, newline included. The daemon encodes it
// so (AppendWorkers) and the client passes the bytes on as they arrive
// (response.copyTo): at 10,000 workers that is 3 MB the client never holds.
// An answer cut short is an error after what arrived was written: what w
// got is then not the whole answer, and the error says so. From a daemon
// that predates the view, the client takes the workers from its whole
// status and indents them itself.
func (c *Client) WriteStatusJSON(ctx context.Context, w io.Writer, names ...string) error {
	resp, err := c.do(ctx, "GET", "/v1/status", url.Values{"name": names, "view": {ViewWorkers}})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.Header(ViewHeader) == ViewWorkers {
		return resp.copyTo(w)
	}
	b, err := readAll(resp)
	if err != nil {
		return err
	}
	var s struct {
		Workers json.RawMessage `json:"workers"`
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	// One buffer: indented, the workers take about half as much again
	// as the daemon's compact form.
	var buf bytes.Buffer
	buf.Grow(len(s.Workers) + len(s.Workers)/2)
	if err := json.Indent(&buf, s.Workers, "", "  "); err != nil {
		return fmt.Errorf("the daemon's status is not JSON: %w", err)
	}
	buf.WriteByte('\n')
	_, err = w.Write(buf.Bytes())
	return err
}

// Commands runs start, stop or restart on many workers as one command:
// one request, one decision, one answer.
func (c *Client) Commands(ctx context.Context, req CommandRequest) (CommandReply, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return CommandReply{}, err
	}
	resp, err := c.doBody(ctx, "POST", "/v1/command", nil, body)
	if err != nil {
		return CommandReply{}, err
	}
	defer resp.Body.Close()
	var r CommandReply
	err = json.NewDecoder(resp.Body).Decode(&r)
	return r, err
}

// Command runs start, stop or restart on one worker, waiting up to timeout
// for the target state when wait is set.
func (c *Client) Command(ctx context.Context, verb, name string, wait bool, timeout time.Duration) (CommandResult, error) {
	q := url.Values{"timeout": {timeout.String()}}
	if wait {
		q.Set("wait", "1")
	}
	var r CommandResult
	err := c.getJSON(ctx, "POST", "/v1/workers/"+url.PathEscape(name)+"/"+verb, q, &r)
	return r, err
}

// Reload asks the daemon to re-read its configuration.
func (c *Client) Reload(ctx context.Context) (ReloadResult, error) {
	var r ReloadResult
	err := c.getJSON(ctx, "POST", "/v1/reload", nil, &r)
	return r, err
}

// Scale asks for n instances of a worker with instances.
func (c *Client) Scale(ctx context.Context, worker string, n int) (ScaleResult, error) {
	body, err := json.Marshal(ScaleRequest{Worker: worker, Instances: n})
	if err != nil {
		return ScaleResult{}, err
	}
	resp, err := c.doBody(ctx, "POST", "/v1/scale", nil, body)
	if err != nil {
		return ScaleResult{}, err
	}
	defer resp.Body.Close()
	var r ScaleResult
	err = json.NewDecoder(resp.Body).Decode(&r)
	return r, err
}

// PlanReload asks what a reload would do now, without reloading.
func (c *Client) PlanReload(ctx context.Context) (ReloadPlan, error) {
	var r ReloadPlan
	err := c.getJSON(ctx, "POST", "/v1/reload", url.Values{"dry_run": {"1"}}, &r)
	return r, err
}

// History returns a worker's events, oldest first.
func (c *Client) History(ctx context.Context, name string, since time.Time, limit int) ([]events.JSON, error) {
	q := url.Values{"limit": {fmt.Sprint(limit)}}
	if !since.IsZero() {
		q.Set("since", since.UTC().Format(time.RFC3339Nano))
	}
	var out []events.JSON
	err := c.getJSON(ctx, "GET", "/v1/history/"+url.PathEscape(name), q, &out)
	return out, err
}

// Get fetches a JSON document from path (why, replay, verify).
func (c *Client) Get(ctx context.Context, path string, q url.Values, out any) error {
	return c.getJSON(ctx, "GET", path, q, out)
}

// CopyLog writes a consistent copy of the daemon's log file to w.
func (c *Client) CopyLog(ctx context.Context, w io.Writer) error {
	resp, err := c.do(ctx, "GET", "/v1/log", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(w, resp.Body)
	return err
}

// Events streams events from seq from; with follow it keeps going until
// ctx ends, resuming after a broken connection from the last seq seen.
func (c *Client) Events(ctx context.Context, from events.Seq, follow bool, worker, typ string, since time.Time, fn func(events.JSON) error) error {
	for {
		q := url.Values{"from": {fmt.Sprint(from)}}
		if follow {
			q.Set("follow", "1")
		}
		if worker != "" {
			q.Set("worker", worker)
		}
		if typ != "" {
			q.Set("type", typ)
		}
		if !since.IsZero() {
			q.Set("since", since.UTC().Format(time.RFC3339Nano))
		}
		resp, err := c.do(ctx, "GET", "/v1/events", q)
		if err != nil {
			return err
		}
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			var e events.JSON
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				resp.Body.Close()
				return fmt.Errorf("events: bad line from daemon: %w", err)
			}
			if err := fn(e); err != nil {
				resp.Body.Close()
				return err
			}
			from = e.Seq + 1
		}
		err = sc.Err()
		resp.Body.Close()
		if !follow || ctx.Err() != nil {
			return err
		}
		// The daemon went away or the connection broke: resume.
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// Logs copies a worker's output to w.
func (c *Client) Logs(ctx context.Context, name string, stderr, follow bool, lines int, w io.Writer) error {
	q := url.Values{"n": {fmt.Sprint(lines)}}
	if stderr {
		q.Set("stderr", "1")
	}
	if follow {
		q.Set("follow", "1")
	}
	resp, err := c.do(ctx, "GET", "/v1/logs/"+url.PathEscape(name), q)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(w, resp.Body)
	if ctx.Err() != nil {
		return nil
	}
	return err
}
