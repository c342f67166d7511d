package daemon

import (
	"sync"
	"time"
	"unsafe"

	"github.com/tendhq/tend/supervisor"
)

// statusBuffers are what one status answer is made in: at 10,000 workers
// 3.5 MB of views and 3 MB of bytes. They are kept for the next answers
// (statusCache): made afresh, they are pages the kernel must map and
// zero, a fault per 4 KiB, and on a virtual machine that is most of an
// answer's time: 1,700 faults took a status from 18 to 61 ms.
type statusBuffers struct {
	views []supervisor.WorkerView
	out   []byte
	used  time.Time
}

var sizeofView = unsafe.Sizeof(supervisor.WorkerView{})

func (b *statusBuffers) size() int {
	return cap(b.views)*int(sizeofView) + cap(b.out)
}

// statusKeep is how many status answers' buffers are kept (as many as run
// at once, beyond which an answer makes its own), and statusIdle how long
// they are kept once no status asks for them: a status run again and again
// (a watch, a dashboard, a script) reuses them; an idle daemon hands them
// back with the rest of its free memory.
const (
	statusKeep = 2
	statusIdle = 10 * time.Second
)

// statusCache keeps status answers' buffers between answers. It is not a
// sync.Pool: a pool is emptied by two collections, and what one processor
// put in it, another does not find (its private slot), so with two
// processors every other answer made its 6.5 MB afresh. It is emptied
// instead by release, from the daemon's trim loop, once unused for
// statusIdle.
type statusCache struct {
	mu   sync.Mutex // guards free; held for no I/O or wait
	free []*statusBuffers
}

// get returns kept buffers, or new empty ones.
func (c *statusCache) get() *statusBuffers {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := len(c.free); n > 0 {
		b := c.free[n-1]
		c.free[n-1] = nil
		c.free = c.free[:n-1]
		return b
	}
	return new(statusBuffers)
}

// put keeps b for the next answer, used at now, unless statusKeep are kept.
func (c *statusCache) put(b *statusBuffers, now time.Time) {
	b.used = now
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.free) < statusKeep {
		c.free = append(c.free, b)
	}
}

// release lets go of the buffers unused since statusIdle before now, and
// returns how many bytes they held.
func (c *statusCache) release(now time.Time) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, kept := 0, c.free[:0]
	for _, b := range c.free {
		if now.Sub(b.used) >= statusIdle {
			n += b.size()
			continue
		}
		kept = append(kept, b)
	}
	clear(c.free[len(kept):])
	c.free = kept
	return n
}
