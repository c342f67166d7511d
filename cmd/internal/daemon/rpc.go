package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sync"

	"github.com/tendhq/tend/cmd/internal/config"
	"github.com/tendhq/tend/cmd/internal/peer"
	"github.com/tendhq/tend/cmd/internal/supervisord/importer"
	"github.com/tendhq/tend/cmd/internal/supervisord/xmlrpc"
	"github.com/tendhq/tend/supervisor"
	"github.com/tendhq/tend/supervisor/core"
)

// rpcControl lets supervisorctl drive the daemon: every command it sends
// becomes an event like any other, with the caller's uid as its actor.
type rpcControl struct{ d *Daemon }

// serveRPC serves supervisord's XML-RPC interface on the socket that
// supervisor_rpc names ("unix:///path/supervisor.sock"), behind the same
// uid rule and limits as the control socket.
func (d *Daemon) serveRPC(cfg *config.Config) (func(), error) {
	path := cfg.Daemon.RPCSocket()
	if path == "" {
		return nil, cfg.KeyError(fmt.Errorf("%q: only unix:///path sockets are served", cfg.Daemon.SupervisorRPC), "daemon", "supervisor_rpc")
	}
	ln, err := peer.Listen(path, d.gid)
	if err != nil {
		return nil, cfg.KeyError(err, "daemon", "supervisor_rpc")
	}
	gate := d.gate(ln, "supervisorctl socket", rpcRefused, rpcBusy)
	srv := xmlrpc.NewServer(rpcControl{d}, xmlrpc.Options{Identifier: "tend", PID: os.Getpid()})
	go func() { _ = srv.Serve(gate) }()
	d.logger.Info().Str("socket", path).Msg("serving supervisord XML-RPC")
	var once sync.Once
	return func() { once.Do(func() { _ = srv.Close() }) }, nil
}

// rpcRefused is the answer to a peer the rule refuses. supervisorctl shows
// an HTTP error's status line, not its body, so the reason is said there
// too.
func rpcRefused(c peer.Cred) []byte {
	msg := fmt.Sprintf("uid %d is not allowed to use this socket", c.UID)
	return peer.Answer(http.StatusForbidden, "Forbidden: "+msg, "text/plain; charset=utf-8", msg+"\n")
}

func rpcBusy(peer.Cred) []byte {
	msg := fmt.Sprintf("all %d connections of this socket are in use; try again", peer.MaxConns)
	return peer.Answer(http.StatusServiceUnavailable, "Service Unavailable: "+msg, "text/plain; charset=utf-8", msg+"\n")
}

func (c rpcControl) groups() map[string]string {
	c.d.cfgMu.Lock()
	path := c.d.cfg.Path
	c.d.cfgMu.Unlock()
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	return importer.Groups(b)
}

func (c rpcControl) Workers() []xmlrpc.WorkerInfo {
	ws, _ := c.d.sup.Workers()
	groups := c.groups()
	out := make([]xmlrpc.WorkerInfo, 0, len(ws))
	for i := range ws {
		w := &ws[i]
		group := groups[w.Name]
		if tmpl, _, ok := core.SplitInstance(w.Name); ok && group == "" {
			// An instance is in its template's supervisord group.
			group = groups[tmpl]
		}
		info := xmlrpc.WorkerInfo{
			Name: w.Name, Group: group, State: w.State, PID: w.PID, Since: w.Since,
			Started: w.SpawnedAt, Incarnation: uint64(w.Incarnation), RestartPending: w.Policy.Pending,
			BreakerOpen: w.Policy.BreakerOpen, Description: w.Cause,
		}
		if x := w.LastExit; x != nil {
			info.ExitCode = x.Code
			info.Exited = !w.Live() && !w.Flags.StopAsked
			if x.SpawnFailed {
				info.SpawnError = x.Cause
			}
		}
		if spec := c.d.sup.Spec(w.Name); spec != nil {
			info.Autostart = spec.Autostart
		}
		out = append(out, info)
	}
	return out
}

func mapErr(err error) error {
	switch {
	case errors.Is(err, supervisor.ErrNoWorker):
		return fmt.Errorf("%w: %v", xmlrpc.ErrNoWorker, err)
	case errors.Is(err, supervisor.ErrClosed):
		return fmt.Errorf("%w: %v", xmlrpc.ErrShuttingDown, err)
	}
	return err
}

// Command runs supervisorctl's start or stop through the command layer:
// one decision for every worker named. Whether a worker was already
// started, or had nothing to stop, is read from what that decision
// recorded (a stale event changed nothing), never from a state read
// beforehand.
func (c rpcControl) Command(ctx context.Context, start bool, names []string, actor string, wait bool) []error {
	verb := core.Stop
	if start {
		verb = core.Start
	}
	errs := make([]error, len(names))
	rs, err := c.d.sup.Do(ctx, supervisor.Request{Verb: verb, Workers: names, Actor: actor, Wait: wait})
	if err != nil {
		for i := range errs {
			errs[i] = mapErr(err)
		}
		return errs
	}
	for i, r := range rs {
		switch {
		case r.Err != nil:
			errs[i] = mapErr(r.Err)
		case r.Event != nil && r.Event.Stale && start:
			errs[i] = xmlrpc.ErrAlreadyStarted
		case r.Event != nil && r.Event.Stale:
			errs[i] = xmlrpc.ErrNotRunning
		case wait && !r.Reached && start:
			w := r.Status
			if w.LastExit != nil && w.LastExit.SpawnFailed {
				errs[i] = fmt.Errorf("%w: %s", xmlrpc.ErrSpawn, w.LastExit.Cause)
			} else {
				errs[i] = fmt.Errorf("%w: %s", xmlrpc.ErrExited, r.Reason)
			}
		case wait && !r.Reached:
			errs[i] = fmt.Errorf("%s", r.Reason)
		}
	}
	return errs
}

// Signal runs supervisorctl's signal through the command layer: one
// decision for every worker named, each outcome waited for.
func (c rpcControl) Signal(ctx context.Context, names []string, sig int, actor string) []error {
	errs := make([]error, len(names))
	rs, err := c.d.sup.Do(ctx, supervisor.Request{Verb: core.SendSignal, Workers: names, Actor: actor, Wait: true, Signal: sig})
	if err != nil {
		for i := range errs {
			errs[i] = mapErr(err)
		}
		return errs
	}
	for i, r := range rs {
		switch {
		case errors.Is(r.Err, core.ErrNotRunning):
			errs[i] = fmt.Errorf("%w: %v", xmlrpc.ErrNotRunning, r.Err)
		case r.Err != nil:
			errs[i] = mapErr(r.Err)
		case !r.Reached:
			errs[i] = errors.New(r.Reason)
		}
	}
	return errs
}

func (c rpcControl) Reload(ctx context.Context, actor string) (added, changed, removed []string, err error) {
	r, err := c.d.Reload(ctx, actor)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w: %v", xmlrpc.ErrCantReread, err)
	}
	return r.Added, r.Changed, r.Removed, nil
}

func (c rpcControl) Shutdown(actor string) error {
	select {
	case c.d.shutdown <- actor:
		return nil
	default:
		return xmlrpc.ErrShuttingDown
	}
}

func (c rpcControl) LogPath(name string, stderr bool) (string, uint32) {
	spec := c.d.sup.Spec(name)
	if spec == nil {
		return "", 0
	}
	if stderr {
		return spec.Stderr, outputOwner(spec)
	}
	return spec.Stdout, outputOwner(spec)
}
