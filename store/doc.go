// Package store is tend's event log on disk: an append-only, hash-chained
// sequence of events.Event records in one bbolt file, with a per-worker index,
// the chain head, and a few state snapshots beside it.
//
// It may import nothing of tend's but events. It records events; it never
// judges them: there is no state machine here, and an event that makes no
// sense is stored exactly as given. Deciding is fsm's job, acting is
// supervisor's.
//
// # Write ahead
//
// Append assigns each event its Seq and Prev (the SHA-256 of the record before
// it) and queues the encoded record; it does no I/O. One committer goroutine
// writes everything queued into one bbolt transaction, so concurrent appenders
// share one fsync (group commit). A Ticket resolves only once its events are
// committed and fsynced: nothing may act on an event, or tell anyone of it,
// before its Ticket resolves.
//
// If a commit fails (disk full, EIO, at any point: the write, the data sync,
// the meta-page sync), the log fails, for good: every event queued at that
// moment fails, and every Append and SaveSnapshot after it returns an error
// wrapping ErrFailed (fail-stop, as etcd treats a failed WAL sync). It never
// retries and never trusts a later sync: after a failed fsync the kernel may
// have dropped the pages it could not write, and bbolt writes its meta page
// before the sync that failed, so the rolled-back transaction may be live in
// the file. Whoever owns the Log closes it and opens the file again, which
// reads back what the disk holds: the failed events are then either wholly
// in the log or wholly absent, and none of them was acknowledged.
//
// # File layout, format 1
//
// Buckets and keys (all integers big-endian):
//
//	meta      "magic"   "tend event log"  identifies the file as tend's
//	          "format"  uint32 = 1        a reader refuses a higher one (ErrNewerFormat)
//	          "last"    uint64            last committed seq
//	          "head"    [32]byte          events.Hash of record "last"
//	          "created" int64             Unix nanoseconds when the log was created
//	          "indexed" uint64            every event up to here is in "workers", none after
//	          "digestkey" [32]byte        the key of Digest (see below); readers ignore it
//	          "logid"   [16]byte          the log's id (LogID), random; added on the first writable open of an older log
//	events    seq (8 bytes)        → the record (events.Encode; its own format is in package events)
//	workers   worker 0x00 seq (8)  → empty; one per event up to "indexed", "" for daemon-level ones
//	snapshots seq (8 bytes)        → events.Hash of record seq (32 bytes), then opaque state
//	cursors   name                 → seq (8): how far a named reader got (created on first use)
//
// Worker names may not contain a NUL byte, since NUL ends the name in the index
// key. The index trails the log by up to a few thousand events, because
// entries for many workers land on many pages and writing them with every
// commit made group commit 3-4 times slower. Once that many wait, the
// committer writes them in a transaction of their own as soon as no event
// waits to be committed, so that no event's commit carries them; only a log
// that never goes quiet has an event commit write them, at four times that
// lag. Close writes the rest. Readers scan the short tail the index does not
// cover yet. The events bucket is written with FillPercent 1.0: its keys only ever
// grow, so half-empty pages would only waste space (about 2x on disk).
//
// # Cursors
//
// A reader that hands the log's events on elsewhere (the exporter, each
// alert sender) keeps its place in the "cursors" bucket: the last seq it
// has finished with. A cursor is written in a transaction of its own, never
// in an event commit, so it costs the committer nothing but the bbolt write
// lock for one small commit; it only ever trails the log. Verify and
// Recover ignore the bucket; a recovered log starts without cursors (and
// with a new log id), since its events after the damage are not the ones
// that were handed on.
//
// # Records as stored, and import
//
// Records returns the stored bytes of events (exported byte for byte, so
// their checksums and chain verify off the host). Import builds a new log
// from such bytes, checking each record and its link before writing it
// unchanged, so the new file's chain and head equal the original's.
//
// # Digests of settings
//
// Events that say which settings were loaded (config_loaded, worker_added)
// carry a digest of them, so a reader can tell whether the settings changed
// between two loads. The settings include worker environment values and
// the configuration file's bytes, where secrets live, so the digest is
// keyed: Digest is HMAC-SHA256 under "digestkey", 32 random bytes
// (crypto/rand) made with the log. The key is kept only in the meta bucket:
// never in an event, and never in anything the log's readers export (JSON,
// the HTML report). Two loads of the same settings against the same log
// record the same digest; a reader holding only the events cannot test a
// guessed value offline, as it could against a plain SHA-256. Whoever can
// read the whole file can read the key too: the file is the daemon's
// (mode 0600), and a copy of it must be kept as carefully.
//
// A log created by an older tend has no key. Its first writable open
// (a daemon starting on it) adds one; Open ReadOnly never does, and does not
// need it. The digests such a log recorded before then are the older plain
// SHA-256 over the same settings: they stay as written (the chain forbids
// rewriting them) and still replay exactly, since a digest is opaque to the
// fold; only what it means changed. Digest strings start with DigestPrefix;
// an older, unkeyed one is 64 hex digits without it. Recover copies the key
// with the events, so the copy's digests stay comparable.
//
// # Caveats
//
//   - A writable Log holds bbolt's exclusive flock for its whole life. Another
//     process (a CLI) must query the running daemon through its socket, or copy
//     the file and open the copy ReadOnly. Open never waits forever for the lock.
//   - A bad or foreign file is never modified: Open validates an existing file
//     read-only before it opens it for writing, refuses an existing empty file,
//     and creates only a path that does not exist.
//   - bbolt panics (or faults) on some damaged files; every entry point here
//     recovers and returns an error wrapping ErrCorrupt that names the file.
package store
