package events

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"sync"
	"time"
)

// Version is the record format this package writes. It reads every version
// up to and including it. Version 2 added the event types worker_changed and
// leader_exited, and its CRC covers the version byte.
const Version = 2

// lastTypeV1 is the last event type a version-1 record may hold.
const lastTypeV1 = StrayFound

// Record layout offsets (see the package doc). Part of the on-disk format.
const (
	offVersion = 0
	offCRC     = 1
	offSeq     = 5
	offTime    = 13
	offPrev    = 21
	offType    = 53
	offFrom    = 54
	offTo      = 55
	offFlags   = 56
	headerLen  = 57

	flagStale = 1 << 0
)

// Detail tags. Part of the on-disk format.
const (
	tagPID        = 1
	tagExitCode   = 2
	tagSignal     = 3
	tagErrno      = 4
	tagResource   = 5
	tagMeasured   = 6
	tagLimit      = 7
	tagDelay      = 8
	tagAttempt    = 9
	tagPolicy     = 10
	tagHash       = 11
	tagStartTicks = 12
	tagBootID     = 13
	tagEnvNames   = 14
	tagCommand    = 15
	tagText       = 16 // format 2
	tagPlanned    = 17 // format 2
	tagInstances  = 18 // format 2
	tagFileInst   = 19 // format 2
	tagRef        = 20 // format 2
	tagRelayPID   = 21 // format 2
	tagRelayTicks = 22 // format 2
	lastTag       = tagRelayTicks
)

// Errors a decoder returns. Callers branch on them with errors.Is.
var (
	// ErrNewerVersion: the record was written by a newer tend: its version
	// byte is higher and its checksum, which then covers that byte, holds.
	// It is never misread; upgrade tend to read it.
	ErrNewerVersion = errors.New("events: record written by a newer version of tend")
	// ErrChecksum: the record's bytes do not match its CRC (a torn write or a
	// flipped bit), including a damaged version byte.
	ErrChecksum = errors.New("events: record checksum mismatch")
	// ErrCorrupt: the record passed its checksum but does not decode: it was
	// forged or written by a broken writer.
	ErrCorrupt = errors.New("events: malformed record")
)

// castagnoli is made on the first record coded, not at init: making it
// builds the tables of the CPU's CRC instruction (8 KiB), which every
// program linking this package would pay at start, the lean client too,
// whose commands never code a record.
var castagnoli = sync.OnceValue(func() *crc32.Table { return crc32.MakeTable(crc32.Castagnoli) })

// Encode appends e's record to dst and returns the extended slice. Seq, Time
// and Prev must already be set.
func Encode(dst []byte, e *Event) []byte {
	start := len(dst)
	var hdr [headerLen]byte
	hdr[offVersion] = Version
	binary.BigEndian.PutUint64(hdr[offSeq:], uint64(e.Seq))
	binary.BigEndian.PutUint64(hdr[offTime:], uint64(e.Time.UnixNano()))
	copy(hdr[offPrev:], e.Prev[:])
	hdr[offType] = byte(e.Type)
	hdr[offFrom] = byte(e.From)
	hdr[offTo] = byte(e.To)
	if e.Stale {
		hdr[offFlags] |= flagStale
	}
	dst = append(dst, hdr[:]...)
	dst = binary.AppendUvarint(dst, uint64(e.Incarnation))
	dst = appendStr(dst, e.Worker)
	dst = appendStr(dst, e.Actor)
	dst = appendStr(dst, e.Cause)

	d := &e.Details
	if d.PID != 0 {
		dst = append(dst, tagPID)
		dst = binary.AppendUvarint(dst, uint64(d.PID))
	}
	if d.ExitCode != nil {
		dst = append(dst, tagExitCode)
		dst = binary.AppendVarint(dst, int64(*d.ExitCode))
	}
	if d.Signal != 0 {
		dst = append(dst, tagSignal)
		dst = binary.AppendUvarint(dst, uint64(d.Signal))
	}
	if d.Errno != 0 {
		dst = append(dst, tagErrno)
		dst = binary.AppendUvarint(dst, uint64(d.Errno))
	}
	if d.Resource != "" {
		dst = appendStr(append(dst, tagResource), d.Resource)
	}
	if d.Measured != 0 {
		dst = binary.BigEndian.AppendUint64(append(dst, tagMeasured), math.Float64bits(d.Measured))
	}
	if d.Limit != 0 {
		dst = binary.BigEndian.AppendUint64(append(dst, tagLimit), math.Float64bits(d.Limit))
	}
	if d.Delay != 0 {
		dst = append(dst, tagDelay)
		dst = binary.AppendUvarint(dst, uint64(d.Delay))
	}
	if d.Attempt != 0 {
		dst = append(dst, tagAttempt)
		dst = binary.AppendUvarint(dst, uint64(d.Attempt))
	}
	if d.Policy != "" {
		dst = appendStr(append(dst, tagPolicy), d.Policy)
	}
	if d.Hash != "" {
		dst = appendStr(append(dst, tagHash), d.Hash)
	}
	if d.StartTicks != 0 {
		dst = append(dst, tagStartTicks)
		dst = binary.AppendUvarint(dst, d.StartTicks)
	}
	if d.BootID != "" {
		dst = appendStr(append(dst, tagBootID), d.BootID)
	}
	if len(d.EnvNames) > 0 {
		dst = appendStrs(append(dst, tagEnvNames), d.EnvNames)
	}
	if len(d.Command) > 0 {
		dst = appendStrs(append(dst, tagCommand), d.Command)
	}
	if d.Text != "" {
		dst = appendStr(append(dst, tagText), d.Text)
	}
	if !d.Planned.IsZero() {
		dst = binary.BigEndian.AppendUint64(append(dst, tagPlanned), uint64(d.Planned.UnixNano()))
	}
	if d.Instances != 0 {
		dst = binary.AppendUvarint(append(dst, tagInstances), uint64(d.Instances))
	}
	if d.FileInstances != 0 {
		dst = binary.AppendUvarint(append(dst, tagFileInst), uint64(d.FileInstances))
	}
	if d.Ref != 0 {
		dst = append(dst, tagRef)
		dst = binary.AppendUvarint(dst, uint64(d.Ref))
	}
	if d.RelayPID != 0 {
		dst = append(dst, tagRelayPID)
		dst = binary.AppendUvarint(dst, uint64(d.RelayPID))
	}
	if d.RelayStartTicks != 0 {
		dst = append(dst, tagRelayTicks)
		dst = binary.AppendUvarint(dst, d.RelayStartTicks)
	}
	binary.BigEndian.PutUint32(dst[start+offCRC:], crcWithVersion(dst[start:]))
	return dst
}

func appendStr(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendStrs(dst []byte, ss []string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(ss)))
	for _, s := range ss {
		dst = appendStr(dst, s)
	}
	return dst
}

// Hash is the chain hash of a record: SHA-256 over all of its bytes.
func Hash(rec []byte) [32]byte { return sha256.Sum256(rec) }

// Check validates a record's version and checksum without decoding it.
//
// The checksum is tested before the version is believed: version 1's CRC
// leaves the version byte out, so a version-1 record whose version byte was
// damaged still matches its CRC, and is reported as damaged (ErrChecksum),
// never as newer. A record is newer (ErrNewerVersion) only when its version
// byte is higher and its CRC, which from version 2 on covers the version
// byte too, matches.
func Check(rec []byte) error {
	if len(rec) < headerLen {
		return fmt.Errorf("%w: %d bytes is shorter than the %d-byte header", ErrChecksum, len(rec), headerLen)
	}
	stored := binary.BigEndian.Uint32(rec[offCRC:])
	v := rec[offVersion]
	if v >= 2 && crcWithVersion(rec) == stored {
		if v > Version {
			return fmt.Errorf("%w: record version %d, this tend reads up to %d", ErrNewerVersion, v, Version)
		}
		return nil
	}
	body := crc32.Checksum(rec[offSeq:], castagnoli())
	switch {
	case v == 1 && body == stored:
		return nil
	case body == stored:
		return fmt.Errorf("%w: the version byte reads %d, but the record checks as version 1: the version byte is damaged", ErrChecksum, v)
	}
	return fmt.Errorf("%w: version byte %d, stored %08x", ErrChecksum, v, stored)
}

// crcWithVersion is the checksum a record of version 2 or later carries:
// CRC-32C over the version byte followed by every byte after the CRC.
func crcWithVersion(rec []byte) uint32 {
	crc := castagnoli()
	return crc32.Update(crc32.Checksum(rec[offVersion:offVersion+1], crc), crc, rec[offSeq:])
}

// RecordSeq and RecordPrev read header fields of a record that passed Check.
func RecordSeq(rec []byte) Seq { return Seq(binary.BigEndian.Uint64(rec[offSeq:])) }

// RecordPrev returns the previous-record hash stored in rec.
func RecordPrev(rec []byte) (p [32]byte) {
	copy(p[:], rec[offPrev:offPrev+32])
	return p
}

// Decoder decodes records, sharing one copy of each worker and actor name
// among the events it returns (a log names the same few hundred workers
// millions of times). The zero value is ready to use; it is not safe for
// concurrent use.
type Decoder struct {
	names map[string]string
}

func (d *Decoder) intern(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if s, ok := d.names[string(b)]; ok {
		return s
	}
	if d.names == nil {
		d.names = make(map[string]string)
	}
	s := string(b)
	if len(d.names) < 1<<16 { // bounded: a log of unique names must not grow this forever
		d.names[s] = s
	}
	return s
}

// Decode is a convenience for a one-off decode.
func Decode(rec []byte, e *Event) error {
	var d Decoder
	return d.Decode(rec, e)
}

// Decode checks rec and decodes it into e, overwriting every field. The
// event does not alias rec.
func (d *Decoder) Decode(rec []byte, e *Event) error {
	if err := Check(rec); err != nil {
		return err
	}
	*e = Event{}
	e.Seq = Seq(binary.BigEndian.Uint64(rec[offSeq:]))
	e.Time = time.Unix(0, int64(binary.BigEndian.Uint64(rec[offTime:]))).UTC()
	copy(e.Prev[:], rec[offPrev:offPrev+32])
	e.Type = Type(rec[offType])
	e.From = State(rec[offFrom])
	e.To = State(rec[offTo])
	flags := rec[offFlags]
	e.Stale = flags&flagStale != 0
	v := rec[offVersion]
	if v >= 2 && !e.Type.Valid() && e.Type > lastType {
		// A whole record (its CRC covers every byte) of a type this tend
		// does not know: a newer tend wrote it. Refuse, never misread.
		return fmt.Errorf("%w: seq %d: event type %d, this tend knows up to %d", ErrNewerVersion, e.Seq, e.Type, lastType)
	}
	if flags&^flagStale != 0 || !e.Type.Valid() || v == 1 && e.Type > lastTypeV1 ||
		(e.From != 0 && !e.From.Valid()) || (e.To != 0 && !e.To.Valid()) {
		return fmt.Errorf("%w: seq %d: bad type, state or flags", ErrCorrupt, e.Seq)
	}
	r := reader{b: rec[headerLen:]}
	e.Incarnation = Incarnation(r.uvarint())
	e.Worker = d.intern(r.bytes())
	e.Actor = d.intern(r.bytes())
	e.Cause = string(r.bytes())
	for r.err == nil && len(r.b) > 0 {
		tag := r.b[0]
		r.b = r.b[1:]
		switch tag {
		case tagPID:
			e.PID = int(r.uvarint())
		case tagExitCode:
			e.ExitCode = IntPtr(int(r.varint()))
		case tagSignal:
			e.Signal = int(r.uvarint())
		case tagErrno:
			e.Errno = int(r.uvarint())
		case tagResource:
			e.Resource = d.intern(r.bytes())
		case tagMeasured:
			e.Measured = r.float()
		case tagLimit:
			e.Limit = r.float()
		case tagDelay:
			e.Delay = time.Duration(r.uvarint())
		case tagAttempt:
			e.Attempt = int(r.uvarint())
		case tagPolicy:
			e.Policy = d.intern(r.bytes())
		case tagHash:
			e.Hash = string(r.bytes())
		case tagStartTicks:
			e.StartTicks = r.uvarint()
		case tagBootID:
			e.BootID = d.intern(r.bytes())
		case tagEnvNames:
			e.EnvNames = r.strs()
		case tagCommand:
			e.Command = r.strs()
		case tagText:
			if v < 2 {
				return fmt.Errorf("%w: seq %d: detail tag %d in a version-1 record", ErrCorrupt, e.Seq, tag)
			}
			e.Text = string(r.bytes())
		case tagPlanned:
			if v < 2 {
				return fmt.Errorf("%w: seq %d: detail tag %d in a version-1 record", ErrCorrupt, e.Seq, tag)
			}
			e.Planned = time.Unix(0, int64(r.u64())).UTC()
		case tagInstances, tagFileInst:
			if v < 2 {
				return fmt.Errorf("%w: seq %d: detail tag %d in a version-1 record", ErrCorrupt, e.Seq, tag)
			}
			n := int(min(r.uvarint(), 1<<31-1))
			if tag == tagInstances {
				e.Instances = n
			} else {
				e.FileInstances = n
			}
		case tagRef:
			if v < 2 {
				return fmt.Errorf("%w: seq %d: detail tag %d in a version-1 record", ErrCorrupt, e.Seq, tag)
			}
			e.Ref = Seq(r.uvarint())
		case tagRelayPID, tagRelayTicks:
			if v < 2 {
				return fmt.Errorf("%w: seq %d: detail tag %d in a version-1 record", ErrCorrupt, e.Seq, tag)
			}
			if tag == tagRelayPID {
				e.RelayPID = int(r.uvarint())
			} else {
				e.RelayStartTicks = r.uvarint()
			}
		default:
			if v >= 2 && tag > lastTag {
				// As for types: a whole record with a detail this tend
				// does not know was written by a newer one.
				return fmt.Errorf("%w: seq %d: detail tag %d, this tend knows up to %d", ErrNewerVersion, e.Seq, tag, lastTag)
			}
			return fmt.Errorf("%w: seq %d: unknown detail tag %d", ErrCorrupt, e.Seq, tag)
		}
	}
	if r.err != nil {
		return fmt.Errorf("%w: seq %d: %v", ErrCorrupt, e.Seq, r.err)
	}
	return nil
}

// reader is a cursor over a record's variable part that remembers its first
// error, so decoding reads straight through and checks once.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("truncated %s", what)
	}
	r.b = nil
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("varint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail("varint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) bytes() []byte {
	n := r.uvarint()
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.fail("string")
		return nil
	}
	s := r.b[:n]
	r.b = r.b[n:]
	return s
}

func (r *reader) float() float64 { return math.Float64frombits(r.u64()) }

func (r *reader) u64() uint64 {
	if len(r.b) < 8 {
		r.fail("8-byte value")
		return 0
	}
	v := binary.BigEndian.Uint64(r.b)
	r.b = r.b[8:]
	return v
}

func (r *reader) strs() []string {
	n := r.uvarint()
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) { // each string takes at least one byte
		r.fail("list")
		return nil
	}
	out := make([]string, 0, n)
	for i := uint64(0); i < n && r.err == nil; i++ {
		out = append(out, string(r.bytes()))
	}
	return out
}
