package store

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/tendhq/tend/events"
)

// FormatVersion is the file layout this package writes (see the package doc).
// It opens every format up to and including it.
const FormatVersion = 1

// Bucket and meta key names. Part of the on-disk format.
var (
	bucketMeta      = []byte("meta")
	bucketEvents    = []byte("events")
	bucketWorkers   = []byte("workers")
	bucketSnapshots = []byte("snapshots")

	keyMagic   = []byte("magic")
	keyFormat  = []byte("format")
	keyLast    = []byte("last")
	keyHead    = []byte("head")
	keyCreated = []byte("created")
	keyIndexed = []byte("indexed")
	keyDigest  = []byte("digestkey")
)

// digestKeyLen is the size of the key Digest is keyed with.
const digestKeyLen = 32

const magic = "tend event log"

// Errors Open returns, always inside an *OpenError. Callers branch with
// errors.Is.
var (
	// ErrLocked: another process holds the file (a running daemon). The
	// message names its pid when /proc/locks tells.
	ErrLocked = errors.New("store: log file is locked by another process")
	// ErrNotLog: the file is not a bbolt file, or is a bbolt file without
	// tend's meta bucket.
	ErrNotLog = errors.New("store: not a tend event log")
	// ErrNewerFormat: the file was written by a newer tend (format > FormatVersion).
	ErrNewerFormat = errors.New("store: log written by a newer format of tend")
	// ErrEmpty: the file exists and has zero bytes. It is refused, never
	// initialised: an empty file where a log should be is a sign of a problem
	// (a failed copy, a wrong path), not a new log.
	ErrEmpty = errors.New("store: log file is empty")
	// ErrCorrupt: the file is truncated or damaged. Also returned (wrapped) by
	// reads that meet a damaged page.
	ErrCorrupt = errors.New("store: log file is corrupt")
)

// Errors the Log's methods return.
var (
	// ErrFailed: a commit failed, and the log refuses every write from then
	// on (fail-stop). Only opening the file again, which reads it back from
	// disk, makes a writable Log of it. Every error of a failed commit, and
	// of every Append and SaveSnapshot after it, wraps ErrFailed and the
	// disk's error; errors.As finds the *CommitError.
	ErrFailed = errors.New("store: log is failed after a commit error")
	// ErrClosed: the Log was closed.
	ErrClosed = errors.New("store: log is closed")
	// ErrReadOnly: Append on a log opened ReadOnly.
	ErrReadOnly = errors.New("store: log is open read-only")
	// ErrNotFound: no event with that seq.
	ErrNotFound = errors.New("store: no such event")
	// ErrMissing: a seq the log should hold has no record (inside a
	// RecordError).
	ErrMissing = errors.New("store: record missing")
	// ErrBadWorker: a worker name the index cannot hold (it contains NUL).
	ErrBadWorker = errors.New("store: worker name contains a NUL byte")
)

// OpenError is the error Open returns: the file and what is wrong with it.
type OpenError struct {
	Path string
	Err  error
}

func (e *OpenError) Error() string { return "store: open " + e.Path + ": " + e.Err.Error() }
func (e *OpenError) Unwrap() error { return e.Err }

// Options tune Open.
type Options struct {
	// ReadOnly opens the file for reading only, taking bbolt's shared lock:
	// for postmortems on a copy of the file while no daemon holds it.
	ReadOnly bool
	// Timeout is how long to wait for the file lock: default 1s for a
	// writable open, 200ms for ReadOnly. It is never infinite, because a
	// lock held by a running daemon does not go away by waiting.
	Timeout time.Duration
	// Fault, when set, is asked at each FaultPoint of every commit of
	// events; an error it returns fails that commit as a disk error at that
	// point would. It is for fault-injection tests; the daemon never sets
	// it.
	Fault func(FaultPoint) error
	// IndexLag, when above 0, is how many committed events may wait for
	// their worker index entries instead of the default 4,096: tests of
	// what uses the log lower it to reach the index's own transaction.
	IndexLag int
}

// FaultPoint is a moment in a commit where Options.Fault may fail it.
type FaultPoint int

const (
	// FaultBeforeWrite: inside the transaction, before any event is put.
	// bbolt rolls back and writes nothing: a failure to allocate or grow
	// the file.
	FaultBeforeWrite FaultPoint = iota + 1
	// FaultBeforeSync: inside the transaction, once every event and the
	// meta keys are put, before bbolt writes its pages. bbolt rolls back:
	// what a failed write or data-page fdatasync leaves, new pages that the
	// file's meta page never references.
	FaultBeforeSync
	// FaultAfterSync: after bbolt committed and synced. The transaction is
	// in the file, yet the commit is reported failed: what a failed
	// meta-page fdatasync can leave when the kernel wrote the page anyway,
	// and any error after the commit.
	FaultAfterSync
	// FaultIndex: inside the worker index's own transaction (catchUp),
	// before any entry is put. An error fails the log as a failed commit
	// of events would.
	FaultIndex
)

var faultPointNames = [...]string{FaultBeforeWrite: "before-write", FaultBeforeSync: "before-sync", FaultAfterSync: "after-sync",
	FaultIndex: "index"}

func (p FaultPoint) String() string {
	if p > 0 && int(p) < len(faultPointNames) {
		return faultPointNames[p]
	}
	return "fault-point(" + strconv.Itoa(int(p)) + ")"
}

// CommitError is the error of a failed commit: which events it held, the
// file, and the disk's error. It wraps ErrFailed and that error.
type CommitError struct {
	Path        string
	First, Last events.Seq // the events of the failed commit (0, 0 for a commit of none)
	// What is what a commit of no events wrote: "snapshot" or "worker index".
	What string
	Err  error
}

func (e *CommitError) Error() string {
	what := e.What
	if e.Last > 0 {
		what = fmt.Sprintf("seq %d..%d", e.First, e.Last)
	}
	return fmt.Sprintf("store: commit of %s to %s failed, the log refuses every write until it is opened again: %v", what, e.Path, e.Err)
}

func (e *CommitError) Unwrap() []error { return []error{ErrFailed, e.Err} }

// Log is an open event log. Its methods are safe for concurrent use.
type Log struct {
	path     string
	db       *bolt.DB
	readOnly bool

	// fault is Options.Fault (tests only): asked at each FaultPoint of a
	// commit.
	fault func(FaultPoint) error
	// indexLag is how many committed events may wait for their worker index
	// entries (see the package doc); tests lower it.
	indexLag events.Seq

	// kick wakes the committer; done is closed when it has exited.
	kick chan struct{}
	done chan struct{}

	// mu protects the following elements.
	mu         sync.Mutex
	nextSeq    events.Seq // last seq handed out by Append
	nextHead   [32]byte   // hash of the record of nextSeq
	durableSeq events.Seq // last seq committed and fsynced
	durableHd  [32]byte   // hash of the record of durableSeq
	indexed    events.Seq // last seq the committed worker index covers
	queue      []*batch   // appended, not yet taken by the committer
	failed     error      // the *CommitError once a commit failed; never cleared
	closing    bool
	closed     bool
	scratch    []byte // encode buffer, reused under mu

	// digestKey keys Digest; set when a writable Log is opened, or once by
	// Recover before the first append, and only read after that. nil on a
	// ReadOnly Log, which never needs it.
	digestKey []byte
	// logID is set once when the Log is opened (see LogID).
	logID string
}

// Open opens the log at path, creating it if (and only if) the path does not
// exist and opts.ReadOnly is false. Every error is an *OpenError.
func Open(path string, opts Options) (*Log, error) {
	l, err := open(path, opts)
	if err != nil {
		return nil, &OpenError{Path: path, Err: err}
	}
	l.fault = opts.Fault
	if opts.IndexLag > 0 {
		l.indexLag = events.Seq(opts.IndexLag)
	}
	return l, nil
}

func open(path string, opts Options) (*Log, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = time.Second
		if opts.ReadOnly {
			opts.Timeout = 200 * time.Millisecond
		}
	}
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist) && !opts.ReadOnly:
		return create(path, opts)
	case err != nil:
		return nil, err
	case !fi.Mode().IsRegular():
		return nil, fmt.Errorf("%w: not a regular file (%s)", ErrNotLog, fi.Mode().Type())
	case fi.Size() == 0:
		return nil, ErrEmpty
	}

	// Validate read-only first, so that a foreign, newer or damaged file is
	// refused before bbolt ever opens it for writing (a writable bbolt open
	// may commit a transaction to rewrite the freelist).
	ro, err := openBolt(path, true, opts.Timeout)
	if err != nil {
		return nil, err
	}
	var st durable
	if err := guard(path, func() error {
		return ro.View(func(tx *bolt.Tx) error {
			var err error
			st, err = checkFile(tx, fi.Size())
			return err
		})
	}); err != nil {
		ro.Close()
		return nil, err
	}
	if opts.ReadOnly {
		l := newLog(path, ro, true, st)
		if err := l.loadLogID(); err != nil {
			l.Close()
			return nil, err
		}
		return l, nil
	}
	ro.Close()

	db, err := openBolt(path, false, opts.Timeout)
	if err != nil {
		return nil, err
	}
	// Re-read under the exclusive lock: the file may have been appended to
	// between the two opens.
	if err := guard(path, func() error {
		return db.View(func(tx *bolt.Tx) error {
			var err error
			st, err = checkFile(tx, -1)
			return err
		})
	}); err != nil {
		db.Close()
		return nil, err
	}
	l := newLog(path, db, false, st)
	if err := l.loadDigestKey(); err != nil {
		l.Close()
		return nil, err
	}
	if err := l.loadLogID(); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// create makes a new log at a path that does not exist. O_EXCL makes sure a
// file someone else created meanwhile is never initialised over.
func create(path string, opts Options) (*Log, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout: opts.Timeout,
		OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
			return os.OpenFile(name, flag|os.O_CREATE|os.O_EXCL, perm)
		},
	})
	if err != nil {
		return nil, err
	}
	err = db.Update(func(tx *bolt.Tx) error {
		m, err := tx.CreateBucket(bucketMeta)
		if err != nil {
			return err
		}
		for _, name := range [][]byte{bucketEvents, bucketWorkers, bucketSnapshots} {
			if _, err := tx.CreateBucket(name); err != nil {
				return err
			}
		}
		var zero [32]byte
		key, err := newDigestKey()
		if err != nil {
			return err
		}
		id, err := newLogID()
		if err != nil {
			return err
		}
		for k, v := range map[string][]byte{
			string(keyLogID):   id,
			string(keyMagic):   []byte(magic),
			string(keyFormat):  binary.BigEndian.AppendUint32(nil, FormatVersion),
			string(keyLast):    binary.BigEndian.AppendUint64(nil, 0),
			string(keyIndexed): binary.BigEndian.AppendUint64(nil, 0),
			string(keyHead):    zero[:],
			string(keyCreated): binary.BigEndian.AppendUint64(nil, uint64(time.Now().UnixNano())),
			string(keyDigest):  key,
		} {
			if err := m.Put([]byte(k), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		os.Remove(path) // ours: created a moment ago by O_EXCL, never initialised
		return nil, fmt.Errorf("initialise: %w", err)
	}
	l := newLog(path, db, false, durable{})
	if err := l.loadDigestKey(); err != nil {
		l.Close()
		return nil, err
	}
	if err := l.loadLogID(); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

func openBolt(path string, readOnly bool, timeout time.Duration) (db *bolt.DB, err error) {
	err = guard(path, func() error {
		var err error
		db, err = bolt.Open(path, 0o600, &bolt.Options{ReadOnly: readOnly, Timeout: timeout})
		return err
	})
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return nil, lockedError(path)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrVersionMismatch):
		return nil, fmt.Errorf("%w: %v", ErrNotLog, err)
	case errors.Is(err, berrors.ErrChecksum):
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, path, err)
	case err != nil && strings.Contains(err.Error(), "file size too small"):
		// bbolt has no sentinel for this one; a file shorter than its two
		// meta pages is not a bbolt file.
		return nil, fmt.Errorf("%w: %v", ErrNotLog, err)
	}
	return db, err
}

// durable is the state a commit leaves in the meta bucket.
type durable struct {
	last    events.Seq
	head    [32]byte
	indexed events.Seq // every event up to here has its index entry, none after
}

// checkFile checks that tx's file is a tend log this code can read, and
// returns its last seq and head. fileSize, when not -1, is compared with the
// size bbolt's meta page says the file has, which catches a truncated copy
// before any page past its end is touched.
func checkFile(tx *bolt.Tx, fileSize int64) (durable, error) {
	path := tx.DB().Path()
	if fileSize >= 0 && fileSize < tx.Size() {
		return durable{}, fmt.Errorf("%w: %s is %d bytes, its bbolt meta page says %d (truncated?)", ErrCorrupt, path, fileSize, tx.Size())
	}
	m := tx.Bucket(bucketMeta)
	if m == nil || string(m.Get(keyMagic)) != magic {
		return durable{}, fmt.Errorf("%w: a bbolt file without tend's meta", ErrNotLog)
	}
	f := m.Get(keyFormat)
	if len(f) != 4 {
		return durable{}, fmt.Errorf("%w: %s: format key is %d bytes", ErrCorrupt, path, len(f))
	}
	if v := binary.BigEndian.Uint32(f); v > FormatVersion {
		return durable{}, fmt.Errorf("%w: format %d, this tend reads up to %d", ErrNewerFormat, v, FormatVersion)
	}
	for _, name := range [][]byte{bucketEvents, bucketWorkers, bucketSnapshots} {
		if tx.Bucket(name) == nil {
			return durable{}, fmt.Errorf("%w: %s: bucket %q missing", ErrCorrupt, path, name)
		}
	}
	last, head, indexed := m.Get(keyLast), m.Get(keyHead), m.Get(keyIndexed)
	if len(last) != 8 || len(head) != 32 || len(indexed) != 8 {
		return durable{}, fmt.Errorf("%w: %s: meta last/head/indexed malformed", ErrCorrupt, path)
	}
	var st durable
	st.last = events.Seq(binary.BigEndian.Uint64(last))
	st.indexed = events.Seq(binary.BigEndian.Uint64(indexed))
	copy(st.head[:], head)
	if st.indexed > st.last {
		return durable{}, fmt.Errorf("%w: %s: meta says seq %d is indexed, but the log ends at %d", ErrCorrupt, path, st.indexed, st.last)
	}
	return st, nil
}

func newLog(path string, db *bolt.DB, readOnly bool, st durable) *Log {
	l := &Log{
		path:       path,
		db:         db,
		readOnly:   readOnly,
		nextSeq:    st.last,
		nextHead:   st.head,
		durableSeq: st.last,
		durableHd:  st.head,
		indexed:    st.indexed,
		indexLag:   defaultIndexLag,
		kick:       make(chan struct{}, 1),
		done:       make(chan struct{}),
	}
	if readOnly {
		close(l.done)
	} else {
		go l.commitLoop()
	}
	return l
}

// guard runs fn, turning a bbolt panic or a memory fault on the mapped file
// (a damaged or truncated page) into an error wrapping ErrCorrupt that names
// the file. bbolt panics on some corrupt files rather than returning errors.
func guard(path string, fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %s: %v", ErrCorrupt, path, r)
		}
	}()
	return fn()
}

// view runs fn in a read transaction under guard.
func (l *Log) view(fn func(tx *bolt.Tx) error) error {
	return guard(l.path, func() error { return l.db.View(fn) })
}

// lockedError explains who holds the lock, if /proc/locks tells, and what to
// do instead of waiting.
func lockedError(path string) error {
	who := "another process"
	if pid := lockHolder(path); pid > 0 {
		who = "pid " + strconv.Itoa(pid)
		if comm, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm"); err == nil {
			who += " (" + strings.TrimSpace(string(comm)) + ")"
		}
	}
	return fmt.Errorf("%w: %s holds it; query the running daemon through its socket, or copy the file and pass --db COPY", ErrLocked, who)
}

// lockHolder finds the pid holding an flock on path in /proc/locks, matching
// the file's device and inode; 0 when it cannot tell.
func lockHolder(path string) int {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0
	}
	dev := uint64(st.Dev)
	major := (dev>>8)&0xfff | (dev>>32)&^0xfff
	minor := dev&0xff | (dev>>12)&^0xff
	want := fmt.Sprintf("%02x:%02x:%d", major, minor, st.Ino)
	data, err := os.ReadFile("/proc/locks")
	if err != nil {
		return 0
	}
	// "1: FLOCK  ADVISORY  WRITE 12345 fd:01:123456 0 EOF"
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 6 || f[1] != "FLOCK" || f[2] == "->" {
			continue
		}
		if f[5] == want {
			if pid, err := strconv.Atoi(f[4]); err == nil {
				return pid
			}
		}
	}
	return 0
}

// Path is the file the log lives in.
func (l *Log) Path() string { return l.path }

// CopyTo writes a consistent copy of the whole file to w, as it is at one
// moment, while appends go on (one read transaction): what lets a reader
// work on the log of a running daemon, which holds the file's lock. The
// copy is a log like the original, its key of digests included: write it
// where only the daemon's own could read the original.
func (l *Log) CopyTo(w io.Writer) (int64, error) {
	var n int64
	err := guard(l.path, func() error {
		return l.db.View(func(tx *bolt.Tx) error {
			var err error
			n, err = tx.WriteTo(w)
			return err
		})
	})
	if err != nil {
		return n, fmt.Errorf("store: copy %s: %w", l.path, err)
	}
	return n, nil
}

// Size is the size of the file in bytes. bbolt files never shrink; freed
// pages are reused.
func (l *Log) Size() (int64, error) {
	fi, err := os.Stat(l.path)
	if err != nil {
		return 0, fmt.Errorf("store: size: %w", err)
	}
	return fi.Size(), nil
}

// LastSeq is the seq of the last durable event (0 for an empty log).
func (l *Log) LastSeq() events.Seq {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.durableSeq
}

// Head is the chain hash of the last durable record (zero for an empty log).
func (l *Log) Head() [32]byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.durableHd
}

// Close waits for every queued append to commit, stops the committer and
// closes the file. It is idempotent; later calls return nil.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closing {
		l.mu.Unlock()
		<-l.done
		return nil
	}
	l.closing = true
	l.mu.Unlock()
	l.wake()
	<-l.done
	l.mu.Lock()
	l.closed = true
	failed := l.failed
	l.mu.Unlock()
	var flushErr error
	if !l.readOnly && failed == nil {
		// Leave the index complete, so readers of the closed file need no
		// tail scan.
		flushErr = guard(l.path, func() error {
			var behind bool
			l.db.View(func(tx *bolt.Tx) error {
				behind = metaSeq(tx, keyIndexed) < metaSeq(tx, keyLast)
				return nil
			})
			if !behind { // an empty Update still costs a commit and two fsyncs
				return nil
			}
			return l.db.Update(func(tx *bolt.Tx) error { return flushIndex(tx, 0) })
		})
	}
	if err := l.db.Close(); err != nil {
		return fmt.Errorf("store: close %s: %w", l.path, err)
	}
	if flushErr != nil {
		return fmt.Errorf("store: close %s: index: %w", l.path, flushErr)
	}
	return nil
}
