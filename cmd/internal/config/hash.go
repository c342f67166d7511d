package config

import (
	"github.com/tendhq/tend/supervisor/core"
	"github.com/tendhq/tend/supervisor/limits"

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
// here, down into the specs of Policy, Health and Limits;
// TestWorkerHashCoversEveryField fails when one is added and not.
//
// The order is the one of earlier versions, when the restart policy was
// fields of Worker: an unchanged file keeps its hashes across an upgrade,
// so the log does not record every worker as changed at the next start.
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
	p := &w.Policy
	b = hashStr(b, string(p.Restart))
	b = hashDur(b, w.StartTimeout)
	b = hashDur(b, w.StopTimeout)
	b = hashDur(b, p.BackoffInitial)
	b = hashDur(b, p.BackoffMax)
	b = hashDur(b, p.BreakerWindow)
	b = hashDur(b, p.BreakerCooldown)
	b = binary.AppendVarint(b, int64(w.StopSignal))
	b = binary.AppendVarint(b, int64(p.BreakerMax))
	b = hashStr(b, w.Stdout)
	b = hashStr(b, w.Stderr)
	b = binary.AppendVarint(b, w.LogMaxSize)
	b = binary.AppendVarint(b, int64(w.LogBackups))
	b = hashBool(b, w.AllowSharedOutputDir)
	if hc := w.Health; hc == nil {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		b = hashStr(b, string(hc.Type))
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
		b = hashStr(b, string(l.MemoryPolicy))
		b = hashStr(b, string(l.CPUPolicy))
	}
	// What orders the worker in time, written only when set, after what
	// came before (see StableAfter below for why that keeps old hashes).
	if w.Oneshot || w.Ready != (core.Readiness{}) || len(w.DependsOn) > 0 || w.Schedule != nil {
		b = append(b, 0xfe) // cannot start what follows: a marker
		b = hashBool(b, w.Oneshot)
		b = binary.AppendVarint(b, int64(w.Ready.Kind))
		b = binary.AppendVarint(b, int64(w.Ready.FD))
		b = hashDur(b, w.Ready.Timeout)
		b = hashDur(b, w.Ready.Watchdog)
		b = binary.AppendUvarint(b, uint64(len(w.DependsOn)))
		for _, d := range w.DependsOn {
			b = hashStr(b, d.Name)
			b = hashStr(b, string(d.Cond))
			b = hashStr(b, string(d.OnRestart))
		}
		if s := w.Schedule; s == nil {
			b = append(b, 0)
		} else {
			b = append(b, 1)
			b = hashStr(b, s.Cron)
			b = hashDur(b, s.Every)
			b = hashStr(b, s.Location)
			b = hashStr(b, s.Overlap)
			b = hashStr(b, s.CatchUp)
		}
	}
	// The env files, written only when there are any, for the same
	// reason, behind a marker of their own.
	if len(w.EnvFiles) > 0 || len(w.EnvFileSums) > 0 {
		b = append(b, 0xfd)
		b = binary.AppendUvarint(b, uint64(len(w.EnvFiles)))
		for _, f := range w.EnvFiles {
			b = hashStr(b, f.Path)
			b = hashBool(b, f.Optional)
		}
		b = hashStrs(b, w.EnvFileSums)
	}
	// Which template's instance, for the same reason.
	if w.InstanceOf != "" {
		b = append(b, 0xfc)
		b = hashStr(b, w.InstanceOf)
		b = binary.AppendVarint(b, int64(w.Instance))
	}
	b = hashHooks(b, w)
	// How the output is written, only when not the default, behind a
	// marker of its own, so the hashes of earlier versions hold.
	if w.Output != "" && w.Output != OutputFile || w.LogMaxAge != 0 || w.LogCompress {
		b = append(b, 0xfa) // env files take 0xfd, instances 0xfc, hooks 0xfb
		b = hashStr(b, w.Output)
		b = hashDur(b, w.LogMaxAge)
		b = hashBool(b, w.LogCompress)
	}
	// What tells and bounds the worker's processes, for the same reason.
	if l := w.Limits; w.OnLeaderExit != core.StopRest || l != nil && len(l.KernelControllers()) > 0 {
		b = append(b, 0xf9) // output takes 0xfa
		b = hashStr(b, string(w.OnLeaderExit))
		if l == nil {
			l = &limits.Spec{}
		}
		b = binary.AppendUvarint(b, l.MemoryMax)
		b = binary.AppendUvarint(b, l.MemoryHigh)
		b = binary.BigEndian.AppendUint64(b, math.Float64bits(l.CPUMax))
		b = binary.AppendVarint(b, int64(l.PidsMax))
	}
	// StableAfter has no key, so it is 0 from every file, and written only
	// when it is not, last: what comes before is self-delimiting, so the
	// encoding stays unambiguous and the hashes of earlier versions hold.
	if p.StableAfter != 0 {
		b = hashDur(b, p.StableAfter)
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
