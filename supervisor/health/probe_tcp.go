package health

import (
	"context"
	"net"
	"time"
)

// tcpProber is healthy iff a TCP connect to address succeeds. It sends
// nothing: a worker that accepts is considered to be listening.
type tcpProber struct {
	address string
	timeout time.Duration
}

func newTCPProber(spec Spec) prober {
	return tcpProber{address: spec.Address, timeout: spec.Timeout}
}

func (p tcpProber) probe(ctx context.Context) (bool, string) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", p.address)
	if err != nil {
		return false, "dial tcp " + p.address + ": " + describe(ctx, unwrapOp(err), p.timeout)
	}
	conn.Close()
	return true, "dial tcp " + p.address + ": connected"
}

func (tcpProber) close() {}

// unwrapOp drops net.OpError's "dial tcp addr:" prefix, which the Detail
// sentence already carries.
func unwrapOp(err error) error {
	if op, ok := err.(*net.OpError); ok && op.Err != nil {
		return op.Err
	}
	return err
}
