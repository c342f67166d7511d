// Package top is `tend top`: a full-screen live view of every worker (state,
// pid, uptime, restarts, CPU, memory, health) with the `why` of the
// selected one, its output, and keys to start, stop and restart it.
//
// It is a client of the control socket and nothing more: it learns of
// changes from the daemon's event stream (one long-lived connection), reads
// CPU and memory from the status the daemon already samples (one request
// per refresh interval, never more than one at a time), and acts only
// through the same command requests as `tend start|stop|restart`, so the
// daemon records the caller's uid as the actor. It may not import the
// supervisor or the daemon, and it decides nothing about workers: the
// state it shows between two status answers is a mirror of the events'
// own from/to, pid and cause, which the next answer replaces.
//
// Everything it shows that came from outside (names, causes, what a worker
// said of itself, its output) may be hostile and passes through Clean, so
// no control character or escape sequence reaches the terminal raw.
package top
