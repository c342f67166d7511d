package xmlrpc

import "fmt"

// budget bounds one response. Everything a response carries is counted as
// the XML it encodes to (escaping can make a log byte five), so that a
// response is never larger than MaxResponse however its calls are
// combined; log reads are checked before their buffer is allocated, and
// the bytes they hold count against the server's MaxReading until the
// response is written, so many connections reading at once cannot
// multiply it either.
type budget struct {
	s    *Server
	left int64 // bytes of XML the response may still carry
	held int64 // bytes of log reads it holds of s.reading
}

func (s *Server) newBudget() *budget { return &budget{s: s, left: s.opts.MaxResponse} }

func (b *budget) tooLarge(n int64) *Fault {
	return fault(faultFailed, fmt.Sprintf("response too large: this answer needs %d more bytes and at most %d bytes are sent in one response; ask for less (a smaller length, fewer calls in a multicall)", n, b.s.opts.MaxResponse))
}

// read reserves n bytes for a log read about to be made.
func (b *budget) read(n int64) *Fault {
	if n > b.left {
		return b.tooLarge(n)
	}
	if b.s.reading.Add(n) > b.s.opts.MaxReading {
		b.s.reading.Add(-n)
		return fault(faultFailed, fmt.Sprintf("busy: more than %d bytes of log reads are being answered; try again", b.s.opts.MaxReading))
	}
	b.held += n
	return nil
}

// take counts v, a value the response is to carry, or says it does not fit.
func (b *budget) take(v any) *Fault {
	n := encodedLen(v)
	if n > b.left {
		return b.tooLarge(n)
	}
	b.left -= n
	return nil
}

// release returns what the response held of the server's reading pool.
func (b *budget) release() {
	b.s.reading.Add(-b.held)
	b.held = 0
}
