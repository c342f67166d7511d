package launch

import (
	"encoding/binary"
	"errors"
	"math"
	"syscall"
)

// Config is what the launcher applies before it execs the program.
type Config struct {
	// Path is the program, already resolved: it is exec'd as it is.
	Path string
	Argv []string
	// Env is the program's whole environment.
	Env []string
	// Dir is the working directory; "" keeps the daemon's.
	Dir string
	// Credential, when set, is the user, group and supplementary groups
	// the program runs as (Groups nil: none, unless NoSetGroups).
	Credential *syscall.Credential
	// Umask is the file mode creation mask; negative keeps the daemon's.
	Umask int
	// NoNewPrivs sets PR_SET_NO_NEW_PRIVS: neither the program nor
	// anything it execs can gain privileges (setuid bits, file
	// capabilities).
	NoNewPrivs bool
	Rlimits    []Rlimit
	// Keep are descriptors (3 and up) the program gets on purpose: they
	// keep their number and lose close-on-exec.
	Keep []int
}

// Rlimit is one resource limit.
type Rlimit struct {
	Resource int    // RLIMIT_NOFILE, RLIMIT_NPROC, ...
	Cur, Max uint64 // Infinity for no limit
}

// Infinity is RLIM_INFINITY: no limit.
const Infinity = math.MaxUint64

// magic starts every Config on the wire, so a launcher started by hand on
// some other descriptor fails at once instead of misreading it.
const magic = "tend-launch/1\n"

// maxConfig bounds what the launcher reads: argv and environment together
// cannot pass execve beyond a few MiB anyway.
const maxConfig = 64 << 20

// encode writes c in a length-prefixed form.
func (c *Config) encode() []byte {
	n := len(magic) + len(c.Path) + len(c.Dir) + 64
	for _, s := range c.Argv {
		n += len(s) + 4
	}
	for _, s := range c.Env {
		n += len(s) + 4
	}
	b := make([]byte, 0, n)
	b = append(b, magic...)
	b = putStr(b, c.Path)
	b = putStrs(b, c.Argv)
	b = putStrs(b, c.Env)
	b = putStr(b, c.Dir)
	if cr := c.Credential; cr == nil {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		b = binary.AppendUvarint(b, uint64(cr.Uid))
		b = binary.AppendUvarint(b, uint64(cr.Gid))
		b = binary.AppendUvarint(b, uint64(len(cr.Groups)))
		for _, g := range cr.Groups {
			b = binary.AppendUvarint(b, uint64(g))
		}
		b = putBool(b, cr.NoSetGroups)
	}
	b = binary.AppendVarint(b, int64(c.Umask))
	b = putBool(b, c.NoNewPrivs)
	b = binary.AppendUvarint(b, uint64(len(c.Rlimits)))
	for _, r := range c.Rlimits {
		b = binary.AppendUvarint(b, uint64(r.Resource))
		b = binary.AppendUvarint(b, r.Cur)
		b = binary.AppendUvarint(b, r.Max)
	}
	b = binary.AppendUvarint(b, uint64(len(c.Keep)))
	for _, fd := range c.Keep {
		b = binary.AppendUvarint(b, uint64(fd))
	}
	return b
}

func putStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func putStrs(b []byte, xs []string) []byte {
	b = binary.AppendUvarint(b, uint64(len(xs)))
	for _, s := range xs {
		b = putStr(b, s)
	}
	return b
}

func putBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

var errMalformed = errors.New("malformed launch configuration")

// decoder reads what encode wrote; the first problem sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errMalformed
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errMalformed
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) == 0 {
		d.err = errMalformed
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) str() string {
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.b)) {
		d.err = errMalformed
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

// count reads a length and checks it against what is left, each element
// taking at least one byte, so a corrupt length cannot allocate much.
func (d *decoder) count() int {
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.b)) {
		d.err = errMalformed
		return 0
	}
	return int(n)
}

func (d *decoder) strs() []string {
	n := d.count()
	out := make([]string, 0, n)
	for range n {
		out = append(out, d.str())
	}
	return out
}

func decode(b []byte) (*Config, error) {
	if len(b) < len(magic) || string(b[:len(magic)]) != magic {
		return nil, errMalformed
	}
	d := &decoder{b: b[len(magic):]}
	c := &Config{}
	c.Path = d.str()
	c.Argv = d.strs()
	c.Env = d.strs()
	c.Dir = d.str()
	if d.byte() == 1 {
		cr := &syscall.Credential{}
		cr.Uid = uint32(d.uvarint())
		cr.Gid = uint32(d.uvarint())
		n := d.count()
		if n > 0 {
			cr.Groups = make([]uint32, 0, n)
		}
		for range n {
			cr.Groups = append(cr.Groups, uint32(d.uvarint()))
		}
		cr.NoSetGroups = d.byte() == 1
		c.Credential = cr
	}
	c.Umask = int(d.varint())
	c.NoNewPrivs = d.byte() == 1
	n := d.count()
	for range n {
		c.Rlimits = append(c.Rlimits, Rlimit{Resource: int(d.uvarint()), Cur: d.uvarint(), Max: d.uvarint()})
	}
	for range d.count() {
		c.Keep = append(c.Keep, int(d.uvarint()))
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = errMalformed
	}
	if d.err != nil || len(c.Argv) == 0 || c.Path == "" {
		return nil, errMalformed
	}
	return c, nil
}
