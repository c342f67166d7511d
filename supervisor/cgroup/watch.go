package cgroup

import (
	"encoding/binary"
	"errors"
	"os"
	"path"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// watcher tells, from one goroutine for the whole Tree, when groups become
// empty and when the OOM killer strikes in them. The kernel marks
// cgroup.events and memory.events modified when their values change, and
// inotify reports that; one inotify descriptor holds every watch, so a
// thousand workers cost a thousand watches, not a thousand threads or
// descriptors. The descriptor is non-blocking and read through Go's poller,
// so Close wakes the reader.
//
// A watch that cannot be added (the per-user inotify limit) is polled
// instead, once a second, by the same goroutine.
type watcher struct {
	file *os.File // the inotify descriptor; closed by close
	t    *Tree

	// mu guards the maps. Reads of cgroup files and OOM reports happen
	// outside it.
	mu     sync.Mutex
	byWD   map[int32]*watch
	polled map[*watch]bool
	done   chan struct{}
}

type watchKind int

const (
	watchEmpty watchKind = iota + 1
	watchOOM
)

type watch struct {
	kind  watchKind
	wd    int32 // -1 when polled
	g     *Group
	empty chan struct{} // watchEmpty: closed once unpopulated
	kills uint64        // watchOOM: oom_kill last seen
}

// pollEvery is how often watches inotify could not take are checked.
const pollEvery = time.Second

// watcher returns the Tree's watcher, starting it on first use when start
// is set. It is nil after Close, or if inotify could not be had (then
// watches are never delivered; Populated still answers).
func (t *Tree) watcher(start bool) *watcher {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.watch == nil && start && !t.closed && t.watchErr == nil {
		t.watch, t.watchErr = newWatcher(t)
	}
	return t.watch
}

func newWatcher(t *Tree) (*watcher, error) {
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return nil, err
	}
	w := &watcher{
		file:   os.NewFile(uintptr(fd), "inotify"),
		t:      t,
		byWD:   map[int32]*watch{},
		polled: map[*watch]bool{},
		done:   make(chan struct{}),
	}
	go w.loop()
	return w, nil
}

// watchEmpty closes ch once g is seen unpopulated.
func (t *Tree) watchEmpty(g *Group, ch chan struct{}) {
	w := t.watcher(true)
	if w == nil {
		// No inotify at all: answer now if we can, else never.
		if pop, err := g.Populated(); err == nil && !pop {
			close(ch)
		}
		return
	}
	wa := &watch{kind: watchEmpty, g: g, empty: ch}
	w.add(wa, path.Join(g.dir, "cgroup.events"))
	// Added first, read second: a change between the two is reported by
	// the watch, a state before it by the read.
	w.check(wa)
}

// watchOOM reports g's OOM kills through the Tree's OnOOM.
func (t *Tree) watchOOM(g *Group) {
	w := t.watcher(true)
	if w == nil {
		return
	}
	n, err := keyedField(path.Join(g.dir, "memory.events"), "oom_kill")
	if err != nil {
		return
	}
	wa := &watch{kind: watchOOM, g: g, kills: n}
	w.add(wa, path.Join(g.dir, "memory.events"))
	w.check(wa)
}

func (w *watcher) add(wa *watch, file string) {
	var wd int
	var err error
	// Through the file's Control, so Close cannot close the descriptor
	// (and the number go to another file) while it is used here.
	rc, cerr := w.file.SyscallConn()
	if cerr == nil {
		cerr = rc.Control(func(fd uintptr) {
			wd, err = unix.InotifyAddWatch(int(fd), file, unix.IN_MODIFY)
		})
	}
	if cerr != nil {
		err = cerr
	}
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			wa.wd = -1
			return // the group is gone; check reports it
		}
		w.poll(wa)
		return
	}
	w.mu.Lock()
	wa.wd = int32(wd)
	w.byWD[wa.wd] = wa
	w.mu.Unlock()
}

// poll has the loop check a watch every pollEvery instead of waiting for
// inotify.
func (w *watcher) poll(wa *watch) {
	w.mu.Lock()
	defer w.mu.Unlock()
	wa.wd = -1
	w.polled[wa] = true
	// Wake the reader so it starts polling.
	w.file.SetReadDeadline(time.Now())
}

// drop ends a watch.
func (w *watcher) drop(wa *watch) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if wa.wd >= 0 && w.byWD[wa.wd] == wa {
		delete(w.byWD, wa.wd)
		// IN_IGNORED follows; the reader finds no entry for it.
		if rc, err := w.file.SyscallConn(); err == nil {
			_ = rc.Control(func(fd uintptr) { _, _ = unix.InotifyRmWatch(int(fd), uint32(wa.wd)) })
		}
	}
	delete(w.polled, wa)
}

// check acts on a watch's file as it is now. It runs outside mu.
func (w *watcher) check(wa *watch) {
	switch wa.kind {
	case watchEmpty:
		pop, err := populated(wa.g.dir)
		if err != nil || pop {
			return
		}
		w.drop(wa)
		w.closeEmpty(wa)
	case watchOOM:
		n, err := keyedField(path.Join(wa.g.dir, "memory.events"), "oom_kill")
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				w.drop(wa)
			}
			return
		}
		w.mu.Lock()
		prev := wa.kills
		if n > prev {
			wa.kills = n
		}
		w.mu.Unlock()
		if n > prev && w.t.onOOM != nil {
			w.t.onOOM(OOM{Worker: wa.g.worker, Incarnation: wa.g.inc, Kills: n, New: n - prev})
		}
	}
}

// closeEmpty closes an empty watch's channel exactly once.
func (w *watcher) closeEmpty(wa *watch) {
	w.mu.Lock()
	ch := wa.empty
	wa.empty = nil
	w.mu.Unlock()
	if ch != nil {
		close(ch)
	}
}

func (w *watcher) loop() {
	defer close(w.done)
	buf := make([]byte, 64*(unix.SizeofInotifyEvent+unix.NAME_MAX+1))
	for {
		// Under mu, like add's wake-up: a watch polled from now on
		// either is seen here or cuts the Read short.
		w.mu.Lock()
		if len(w.polled) > 0 {
			w.file.SetReadDeadline(time.Now().Add(pollEvery))
		} else {
			w.file.SetReadDeadline(time.Time{})
		}
		w.mu.Unlock()
		n, err := w.file.Read(buf)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				w.pollAll()
				continue
			}
			return // closed
		}
		var due []*watch
		overflow := false
		w.mu.Lock()
		for b := buf[:n]; len(b) >= unix.SizeofInotifyEvent; {
			wd := int32(binary.NativeEndian.Uint32(b[0:4]))
			mask := binary.NativeEndian.Uint32(b[4:8])
			nameLen := int(binary.NativeEndian.Uint32(b[12:16]))
			b = b[min(len(b), unix.SizeofInotifyEvent+nameLen):]
			if mask&unix.IN_Q_OVERFLOW != 0 {
				overflow = true
				continue
			}
			wa := w.byWD[wd]
			if wa == nil {
				continue
			}
			if mask&unix.IN_IGNORED != 0 {
				// The file went away with its group: rmdir needs an
				// unpopulated group, so an empty watch is satisfied.
				delete(w.byWD, wd)
				wa.wd = -1
			}
			due = append(due, wa)
		}
		if overflow {
			// Events were lost: look at everything.
			for _, wa := range w.byWD {
				due = append(due, wa)
			}
		}
		w.mu.Unlock()
		for _, wa := range due {
			if wa.wd < 0 && wa.kind == watchEmpty {
				w.closeEmpty(wa)
				continue
			}
			w.check(wa)
		}
	}
}

func (w *watcher) pollAll() {
	w.mu.Lock()
	due := make([]*watch, 0, len(w.polled))
	for wa := range w.polled {
		due = append(due, wa)
	}
	w.mu.Unlock()
	for _, wa := range due {
		w.check(wa)
	}
}

func (w *watcher) close() {
	w.file.Close()
	<-w.done
}
