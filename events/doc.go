// Package events is the vocabulary of tend's log: the Event every lifecycle
// change becomes, the worker states it records, and the binary record format
// those events are stored in.
//
// It may not import anything of tend's, perform I/O, read the clock or decide
// anything: it describes what happened; fsm decides whether it may, store keeps
// it, supervisor makes it happen.
//
// # Record format, versions 1 and 2
//
// Each event is one record. The store keys it by its seq (8 bytes, big-endian)
// and stores the record as the value. All integers below are unsigned varints
// (encoding/binary Uvarint) unless a width is given; "str" is a uvarint length
// followed by that many bytes of UTF-8.
//
//	offset size  field
//	0      1     version         1 or 2 (this tend writes 2); a reader refuses a higher one (ErrNewerVersion)
//	1      4     crc             CRC-32C (Castagnoli), big-endian: version 1, of every byte after it;
//	                             version 2, of the version byte and every byte after the CRC
//	5      8     seq             big-endian; equals the key
//	13     8     time            Unix nanoseconds, UTC, big-endian two's complement
//	21     32    prev            SHA-256 of the previous record's bytes (zero for seq 1)
//	53     1     type            Type, see the constants (values never change meaning)
//	54     1     from            State before, 0 when the event changes no state
//	55     1     to              State after, 0 when the event changes no state
//	56     1     flags           bit 0: stale (recorded, changed nothing)
//	57     ...   incarnation     uvarint
//	             worker          str
//	             actor           str
//	             cause           str
//	             details         zero or more (tag byte, value) pairs to the end
//
// Detail tags and their value encodings:
//
//	1 pid          uvarint         8 delay        uvarint nanoseconds
//	2 exit code    zigzag varint   9 attempt      uvarint
//	3 signal       uvarint        10 policy       str
//	4 errno        uvarint        11 hash         str
//	5 resource     str            12 start ticks  uvarint
//	6 measured     8-byte float64 13 boot id      str
//	7 limit        8-byte float64 14 env names    uvarint count, then str each
//	16 text        str (format 2) 15 command      uvarint count, then str each
//	17 planned     8-byte Unix nanoseconds, big-endian (format 2)
//	18 instances   uvarint (format 2)
//	19 file instances uvarint (format 2)
//	20 ref         uvarint seq (format 2)
//	21 relay pid   uvarint (format 2)
//	22 relay start ticks uvarint (format 2)
//
// Every version keeps the first five bytes: the version byte, then the CRC.
// In version 1 the CRC leaves the version byte out; from version 2 on it
// covers the version byte followed by every byte after the CRC. A reader
// therefore checks the CRC before it believes the version: a record whose
// version byte is not 1 but whose bytes after the CRC match it as version 1
// is a version-1 record with a damaged version byte (ErrChecksum), and only
// a record whose higher version byte is covered by a matching CRC is newer
// (ErrNewerVersion). A flipped byte anywhere is reported as damage, never as
// "written by a newer tend".
//
// Version 2 has the layout of version 1. It adds the event types
// worker_changed (26), leader_exited (27), waiting (28), notified (29),
// not_ready (30) and run_skipped (31), and the detail tags text (16) and
// planned (17); a version-1 record holding any of them is malformed
// (ErrCorrupt). A version-1 reader meets version 2's version byte and
// refuses the record as newer.
//
// Types and tags added later within version 2, with the version byte
// unchanged: notify_failed (32), scaled (33), signal_requested (34),
// hook_started (35) and hook_exited (36), and the detail tags instances
// (18), file instances (19), ref (20, the seq of the event an outcome
// answers), relay pid (21) and relay start ticks (22). A reader that
// predates one refuses its record as newer (below), never misreading it.
//
// A version-2 reader that meets, in a record whose CRC matches, an event type
// or a detail tag it does not know refuses it as written by a newer tend
// (ErrNewerVersion), never silently dropping what it cannot read: a later
// tend may add types and tags without a new version byte. In a version-1
// record an unknown type or tag is malformed (ErrCorrupt).
//
// # The chain
//
// The hash of a record is SHA-256 over all of its bytes. Each record carries
// the hash of the one before it, so altering, removing or reordering any
// record breaks every link after it; Verify-style readers name the first seq
// whose link or checksum fails. The chain head (the hash of the last record)
// is kept by the store beside the log.
//
// # What never enters the log
//
// Worker environment values: a Spawned event records the names of the
// variables it set (EnvNames), never their values, because values are where
// secrets live.
//
// Nor any plain hash of them. The hash detail (tag 11) of config_loaded,
// worker_added and worker_changed is a digest of the settings loaded, which include those
// values and the configuration file's bytes. It is opaque to every reader
// and to the fold, which only compares digests with each other. Its writer
// keys it with a secret kept beside the log, never in it (package store,
// "Digests of settings"): "hmac-sha256:" and 64 hex digits. Logs written by
// an older tend hold the plain SHA-256 instead, 64 hex digits without a
// prefix; they read and replay as before.
//
// These constants and layouts are part of the on-disk format: a change that
// alters the meaning of an existing byte is a new version, never an edit.
package events
