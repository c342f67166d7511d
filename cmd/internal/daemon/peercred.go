package daemon

import (
	"context"
	"fmt"
	"net"
	"sync"

	"golang.org/x/sys/unix"
)

// Peer is who is on the other end of a control connection, as the kernel
// says (SO_PEERCRED, captured at connect time).
type Peer struct {
	UID, GID uint32
	PID      int32
}

// Actor is how the peer appears in the log.
func (p Peer) Actor() string { return fmt.Sprintf("cli uid=%d", p.UID) }

type peerKey struct{}

func peerOf(ctx context.Context) (Peer, bool) {
	p, ok := ctx.Value(peerKey{}).(Peer)
	return p, ok
}

func peerCred(c net.Conn) (Peer, error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return Peer{}, fmt.Errorf("not a unix socket connection")
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return Peer{}, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return Peer{}, err
	}
	if cerr != nil {
		return Peer{}, cerr
	}
	return Peer{UID: cred.Uid, GID: cred.Gid, PID: cred.Pid}, nil
}

// limitListener bounds how many connections are open at once, so a flood
// of idle clients costs a bounded number of file descriptors.
type limitListener struct {
	net.Listener
	sem  chan struct{}
	open func(delta int)
}

func (l *limitListener) Accept() (net.Conn, error) {
	l.sem <- struct{}{}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	l.open(1)
	return &limitConn{Conn: c, release: func() { <-l.sem; l.open(-1) }}, nil
}

type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
