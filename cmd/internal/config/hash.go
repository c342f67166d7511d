package config

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"maps"
	"math"
	"slices"
	"time"
)

// workerHash fingerprints the effective settings, not the text: key order,
// comments, spelling of defaults and the worker's line number must not make
// an unchanged worker look changed and get restarted on reload.
//
// The fields are written one by one into a length-prefixed encoding rather
// than through encoding/json: reflection over a thousand workers was a
// visible part of start-up. Every field but Line and Hash must be written
// here; TestWorkerHashCoversEveryField fails when one is added and not.
func workerHash(w *Worker) string {
	var h workerHasher
	return h.sum(w)
}

// workerHasher keeps its digest and buffer between workers so that hashing
// a large file does not allocate per worker.
type workerHasher struct {
	d   hash.Hash
	buf []byte
}

func (h *workerHasher) sum(w *Worker) string {
	if h.d == nil {
		h.d = sha256.New()
		h.buf = make([]byte, 0, 512)
	}
	b := h.buf[:0]
	b = hashStr(b, w.Name)
	b = hashStrs(b, w.Command)
	b = hashStr(b, w.Dir)
	if w.Env == nil {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		b = binary.AppendUvarint(b, uint64(len(w.Env)))
		for _, k := range slices.Sorted(maps.Keys(w.Env)) {
			b = hashStr(b, k)
			b = hashStr(b, w.Env[k])
		}
	}
	b = hashStr(b, w.User)
	b = hashStr(b, w.Group)
	b = hashBool(b, w.Autostart)
	b = hashBool(b, w.ClearEnv)
	b = hashBool(b, w.NoNewPrivileges)
	b = binary.AppendVarint(b, int64(w.Umask))
	b = binary.AppendUvarint(b, uint64(len(w.Rlimits)))
	for _, r := range w.Rlimits {
		b = hashStr(b, r.Name)
		b = binary.AppendVarint(b, int64(r.Resource))
		b = binary.AppendUvarint(b, r.Soft)
		b = binary.AppendUvarint(b, r.Hard)
	}
	b = hashStr(b, w.Restart)
	b = hashDur(b, w.StartTimeout)
	b = hashDur(b, w.StopTimeout)
	b = hashDur(b, w.BackoffInitial)
	b = hashDur(b, w.BackoffMax)
	b = hashDur(b, w.CircuitWindow)
	b = hashDur(b, w.CircuitCooldown)
	b = binary.AppendVarint(b, int64(w.StopSignal))
	b = binary.AppendVarint(b, int64(w.CircuitMaxRestarts))
	b = hashStr(b, w.OnLeaderExit)
	b = hashStr(b, w.Stdout)
	b = hashStr(b, w.Stderr)
	b = binary.AppendVarint(b, w.LogMaxSize)
	b = binary.AppendVarint(b, int64(w.LogBackups))
	b = hashBool(b, w.AllowSharedOutputDir)
	if hc := w.Health; hc == nil {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		b = hashStr(b, hc.Type)
		b = hashStrs(b, hc.Command)
		b = hashStr(b, hc.Address)
		b = hashStr(b, hc.URL)
		b = hashDur(b, hc.Interval)
		b = hashDur(b, hc.Timeout)
		b = hashDur(b, hc.Grace)
		b = binary.AppendVarint(b, int64(hc.Failures))
	}
	if l := w.Limits; l == nil {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		b = binary.AppendUvarint(b, l.Memory)
		b = binary.BigEndian.AppendUint64(b, math.Float64bits(l.CPU))
		b = hashDur(b, l.Sustained)
		b = hashStr(b, l.MemoryPolicy)
		b = hashStr(b, l.CPUPolicy)
		b = binary.AppendUvarint(b, l.MemoryMax)
		b = binary.AppendUvarint(b, l.MemoryHigh)
		b = binary.BigEndian.AppendUint64(b, math.Float64bits(l.CPUMax))
		b = binary.AppendVarint(b, int64(l.PidsMax))
	}
	h.buf = b
	h.d.Reset()
	h.d.Write(b)
	var sum [sha256.Size]byte
	var out [2 * sha256.Size]byte
	hex.Encode(out[:], h.d.Sum(sum[:0]))
	return string(out[:])
}

func hashStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// hashStrs tells a nil list from an empty one, as the settings do.
func hashStrs(b []byte, xs []string) []byte {
	if xs == nil {
		return append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(xs))+1)
	for _, s := range xs {
		b = hashStr(b, s)
	}
	return b
}

func hashBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

func hashDur(b []byte, d time.Duration) []byte { return binary.AppendVarint(b, int64(d)) }

func fileHash(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}
