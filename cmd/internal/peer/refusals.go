package peer

import (
	"fmt"
	"strconv"
	"sync"
	"time"
)

// How often refusals reach the log. The first refusal of a uid is reported
// in full at once; the ones after it are counted, and each count is
// reported when its window ends. Windows start at FirstWindow and double,
// up to MaxWindow, while refusals keep coming, so a sustained flood from
// one uid costs a few reports in its first minute and one a minute after
// that, however fast it is. A uid quiet for Forget starts over: its next
// refusal is reported in full again.
//
// At most MaxUIDs uids are counted apart (a user with subordinate uids can
// connect as thousands); refusals of further uids share one count.
const (
	FirstWindow = time.Second
	MaxWindow   = time.Minute
	Forget      = time.Minute
	MaxUIDs     = 1024
)

// Report is one thing to record about refusals.
type Report struct {
	// First is set for the first refusal of a uid in a while; Cred is
	// then that connection's peer.
	First bool
	Cred  Cred
	// Count refusals came after the last report of the uid, over the
	// duration Over (a summary; First is false).
	Count int
	Over  time.Duration
	// Others: Count is of uids past MaxUIDs, not of Cred.UID alone.
	Others bool
}

// String says it in a sentence, e.g. "1,766 more refusals from uid 65534
// in the last 1s".
func (r Report) String() string {
	if r.First {
		return fmt.Sprintf("uid %d is not allowed to use this socket", r.Cred.UID)
	}
	noun := "refusals"
	if r.Count == 1 {
		noun = "refusal"
	}
	who := "uid " + strconv.FormatUint(uint64(r.Cred.UID), 10)
	if r.Others {
		who = fmt.Sprintf("uids beyond the first %d", MaxUIDs)
	}
	return fmt.Sprintf("%s more %s from %s in the last %s", thousands(r.Count), noun, who, r.Over.Round(100*time.Millisecond))
}

func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// tally is the state of refusal reporting, apart from the clock and the
// goroutine that acts on it, so its rules can be tested with made-up times.
type tally struct {
	mu     sync.Mutex // guards uids and others; held only to count or to collect
	uids   map[uint32]*uidTally
	others *uidTally
}

type uidTally struct {
	first  *Cred // not yet reported
	count  int
	since  time.Time // start of what count covers
	window time.Duration
	due    time.Time // when count is reported
	last   time.Time // the latest refusal
}

// refuse counts one refusal of c at now. It reports whether there is a
// first refusal to record right away.
func (t *tally) refuse(c Cred, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.uids == nil {
		t.uids = map[uint32]*uidTally{}
	}
	u := t.uids[c.UID]
	if u == nil && len(t.uids) >= MaxUIDs {
		if t.others == nil {
			t.others = &uidTally{since: now, window: FirstWindow, due: now.Add(FirstWindow)}
		}
		u = t.others
	}
	if u == nil {
		c.Groups = nil // not reported; a peer may have many
		t.uids[c.UID] = &uidTally{first: &c, since: now, window: FirstWindow, due: now.Add(FirstWindow), last: now}
		return true
	}
	u.count++
	u.last = now
	return false
}

// collect returns what is to be reported at now, and when to look again
// (zero: nothing pending). flush reports every count at once, whatever
// its window.
func (t *tally) collect(now time.Time, flush bool) (out []Report, next time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	step := func(u *uidTally, uid uint32, others bool) (keep bool) {
		if u.first != nil {
			out = append(out, Report{First: true, Cred: *u.first, Count: 1})
			u.first = nil
		}
		if !flush && now.Before(u.due) {
			if next.IsZero() || u.due.Before(next) {
				next = u.due
			}
			return true
		}
		if u.count > 0 {
			out = append(out, Report{Cred: Cred{UID: uid}, Count: u.count, Over: now.Sub(u.since), Others: others})
			u.count, u.since = 0, now
			u.window = min(2*u.window, MaxWindow)
		} else if now.Sub(u.last) >= Forget {
			return false
		}
		u.due = now.Add(u.window)
		if next.IsZero() || u.due.Before(next) {
			next = u.due
		}
		return true
	}
	for uid, u := range t.uids {
		if !step(u, uid, false) {
			delete(t.uids, uid)
		}
	}
	if t.others != nil && !step(t.others, 0, true) {
		t.others = nil
	}
	return out, next
}

// reporter hands the tally's reports to record on a goroutine of its own:
// recording (an append to the log, an fsync) never holds up an accept, and
// while it is slow the tally keeps counting.
type reporter struct {
	tally  tally
	record func(Report)
	now    func() time.Time
	wake   chan struct{}
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once
}

func newReporter(record func(Report), now func() time.Time) *reporter {
	r := &reporter{record: record, now: now, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go r.run()
	return r
}

// refuse counts a refusal; it never blocks.
func (r *reporter) refuse(c Cred) {
	if r.tally.refuse(c, r.now()) {
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}
}

func (r *reporter) run() {
	defer close(r.done)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case <-r.stop:
			reps, _ := r.tally.collect(r.now(), true)
			r.send(reps)
			return
		case <-r.wake:
		case <-timer.C:
		}
		reps, next := r.tally.collect(r.now(), false)
		r.send(reps)
		timer.Stop()
		if !next.IsZero() {
			timer.Reset(max(next.Sub(r.now()), time.Millisecond))
		}
	}
}

func (r *reporter) send(reps []Report) {
	for _, rep := range reps {
		r.record(rep)
	}
}

// close reports every count still pending and stops.
func (r *reporter) close() {
	r.once.Do(func() { close(r.stop) })
	<-r.done
}
