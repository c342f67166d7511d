// Package envfile reads environment files in systemd's EnvironmentFile
// syntax: NAME=value lines, blank lines and comments (# or ;), values
// optionally quoted, read by the daemon (as root) for a worker at each of
// its spawns.
//
// An environment file usually holds secrets. Nothing here ever puts a
// value, or a line that could hold one, into an error: errors name the
// file, the line and what is wrong, as the configuration's errors do.
//
// It may not log, start processes or decide which files are safe to read:
// the configuration's trust rule (only root and the daemon's user may
// change the file and its directories) is checked when the configuration
// is loaded. Read only keeps a planted FIFO or device from blocking or
// flooding the daemon.
package envfile

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"unicode/utf8"

	"golang.org/x/sys/unix"
)

// MaxSize bounds one file: everything in it must fit in what execve
// accepts for a worker's whole environment anyway, which is less.
const MaxSize = 1 << 20

// File is one environment file of a worker.
type File struct {
	Path string
	// Optional: a missing file is no error (systemd's leading "-"). Any
	// other failure to read it still is.
	Optional bool
}

// Var is one assignment, with the line it starts on.
type Var struct {
	Name, Value string
	Line        int
}

// Error is a problem with one file, at a line when it is about one. Msg
// never holds a value of the file.
type Error struct {
	Path string
	Line int // 0: the file as a whole
	Msg  string
	Err  error // what it came from (fs.ErrNotExist, ...), for errors.Is
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.Path, e.Line, e.Msg)
	}
	return e.Path + ": " + e.Msg
}

func (e *Error) Unwrap() error { return e.Err }

// ErrNotRegular: the path names something other than a regular file (a
// FIFO, a device, a directory): it is not read.
var ErrNotRegular = errors.New("not a regular file")

// Read returns the bytes of the file at path. It opens it non-blocking, so
// a FIFO cannot stall the daemon, refuses anything but a regular file, and
// refuses a file over MaxSize. A missing file is an *Error wrapping
// fs.ErrNotExist.
func Read(path string) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, &Error{Path: path, Msg: describe(err), Err: &fs.PathError{Op: "open", Path: path, Err: err}}
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, &Error{Path: path, Msg: describe(err), Err: err}
	}
	if !fi.Mode().IsRegular() {
		return nil, &Error{Path: path, Msg: fmt.Sprintf("%v (%v)", ErrNotRegular, fi.Mode().Type()), Err: ErrNotRegular}
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, &Error{Path: path, Msg: describe(err), Err: err}
	}
	if len(data) > MaxSize {
		return nil, &Error{Path: path, Msg: fmt.Sprintf("larger than %d KiB", MaxSize>>10)}
	}
	return data, nil
}

// describe words a system error without the path, which Error adds.
func describe(err error) string {
	var errno unix.Errno
	if errors.As(err, &errno) {
		return errno.Error()
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// Parse reads data, the contents of the file at path (used in errors), as
// systemd reads an EnvironmentFile:
//
//   - blank lines and lines whose first non-blank character is # or ; are
//     skipped;
//   - NAME=value, NAME a shell variable name ([A-Za-z_][A-Za-z0-9_]*), with
//     blanks around NAME and around the value dropped;
//   - a value in '...' is taken as it is, and may span lines;
//   - a value in "..." may span lines; in it a backslash keeps the next
//     character if that is one of " \ ` $, joins the next line if that is a
//     newline, and is kept with the next character otherwise;
//   - an unquoted value keeps its inner blanks and any quotes after its
//     first character; a backslash keeps the character after it, and one
//     at the end of the line joins the next line.
//
// Unlike systemd, a line that is not an assignment is an error, not
// skipped: a typo must not drop a setting silently. Every problem of the
// file is returned, as Errors.
func Parse(path string, data []byte) ([]Var, error) {
	p := parser{path: path, src: data, line: 1}
	if !utf8.Valid(data) {
		p.errs = append(p.errs, &Error{Path: path, Msg: "not valid UTF-8"})
		return nil, p.errs
	}
	if i := strings.IndexByte(string(data), 0); i >= 0 {
		p.errs = append(p.errs, &Error{Path: path, Line: 1 + strings.Count(string(data[:i]), "\n"), Msg: "contains a NUL byte"})
		return nil, p.errs
	}
	p.run()
	if len(p.errs) > 0 {
		return nil, p.errs
	}
	return p.vars, nil
}

// Errors is every problem of one file.
type Errors []*Error

func (es Errors) Error() string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "\n")
}

// Unwrap lets errors.As find an individual *Error.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

type parser struct {
	path string
	src  []byte
	i    int
	line int
	vars []Var
	errs Errors
}

func (p *parser) eof() bool { return p.i >= len(p.src) }

func (p *parser) errorf(line int, format string, args ...any) {
	p.errs = append(p.errs, &Error{Path: p.path, Line: line, Msg: fmt.Sprintf(format, args...)})
}

func blank(c byte) bool { return c == ' ' || c == '\t' || c == '\r' }

// next consumes one byte, counting lines.
func (p *parser) next() byte {
	c := p.src[p.i]
	p.i++
	if c == '\n' {
		p.line++
	}
	return c
}

// skipLine consumes the rest of the line and its newline.
func (p *parser) skipLine() {
	for !p.eof() && p.next() != '\n' {
	}
}

func (p *parser) run() {
	for !p.eof() {
		for !p.eof() && blank(p.src[p.i]) {
			p.i++
		}
		if p.eof() {
			return
		}
		switch p.src[p.i] {
		case '\n':
			p.next()
			continue
		case '#', ';':
			p.skipLine()
			continue
		}
		line := p.line
		start := p.i
		for !p.eof() && p.src[p.i] != '=' && p.src[p.i] != '\n' {
			p.i++
		}
		if p.eof() || p.src[p.i] != '=' {
			p.errorf(line, "not an assignment: expected NAME=value (the line is not shown: it may hold a secret)")
			p.skipLine()
			continue
		}
		name := strings.TrimRight(string(p.src[start:p.i]), " \t\r")
		p.i++ // '='
		value, ok := p.value(line)
		if !ok {
			continue
		}
		if !ValidName(name) {
			hint := ""
			if strings.HasPrefix(name, "export ") {
				hint = ` (write NAME=value without "export")`
			}
			p.errorf(line, "invalid variable name: use letters, digits and _, not starting with a digit%s", hint)
			continue
		}
		p.vars = append(p.vars, Var{Name: name, Value: value, Line: line})
	}
}

// value reads what follows '=' up to the end of its (last) line.
func (p *parser) value(line int) (string, bool) {
	for !p.eof() && blank(p.src[p.i]) {
		p.i++
	}
	if p.eof() || p.src[p.i] == '\n' {
		if !p.eof() {
			p.next()
		}
		return "", true
	}
	var b strings.Builder
	switch q := p.src[p.i]; q {
	case '\'', '"':
		p.i++
		closed := false
		for !p.eof() {
			c := p.next()
			if c == q {
				closed = true
				break
			}
			if q == '"' && c == '\\' && !p.eof() {
				n := p.next()
				switch n {
				case '"', '\\', '`', '$':
					b.WriteByte(n)
				case '\n': // a continuation: both go
				default:
					b.WriteByte('\\')
					b.WriteByte(n)
				}
				continue
			}
			b.WriteByte(c)
		}
		if !closed {
			p.errorf(line, "the quote opened on this line is never closed")
			return "", false
		}
		// Only blanks may follow the closing quote.
		for !p.eof() && blank(p.src[p.i]) {
			p.i++
		}
		if !p.eof() && p.src[p.i] != '\n' {
			p.errorf(p.line, "text after the closing quote")
			p.skipLine()
			return "", false
		}
		if !p.eof() {
			p.next()
		}
		return b.String(), true
	}
	for !p.eof() {
		c := p.next()
		if c == '\n' {
			break
		}
		if c == '\\' && !p.eof() {
			n := p.next()
			if n != '\n' {
				b.WriteByte(n)
			}
			continue
		}
		b.WriteByte(c)
	}
	return strings.TrimRight(b.String(), " \t\r"), true
}

// ValidName reports whether name is a shell variable name, as systemd
// requires of an EnvironmentFile's.
func ValidName(name string) bool {
	if name == "" || name[0] >= '0' && name[0] <= '9' {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// Load reads and parses files in order. A missing optional file is
// skipped. present[i] says whether files[i] was read.
func Load(files []File) (vars [][]Var, present []bool, err error) {
	vars = make([][]Var, len(files))
	present = make([]bool, len(files))
	for i, f := range files {
		data, err := Read(f.Path)
		if err != nil {
			if f.Optional && errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return nil, nil, err
		}
		vs, err := Parse(f.Path, data)
		if err != nil {
			return nil, nil, err
		}
		vars[i], present[i] = vs, true
	}
	return vars, present, nil
}

// Environ reads files as a worker's spawn needs them: NAME=value strings,
// a later assignment of a name (in the same file or a later one) winning,
// each name once, where it first appeared.
func Environ(files []File) ([]string, error) {
	vars, _, err := Load(files)
	if err != nil {
		return nil, err
	}
	var out []string
	at := map[string]int{}
	for _, vs := range vars {
		for _, v := range vs {
			kv := v.Name + "=" + v.Value
			if i, ok := at[v.Name]; ok {
				out[i] = kv
				continue
			}
			at[v.Name] = len(out)
			out = append(out, kv)
		}
	}
	return out, nil
}

// Sum fingerprints what a file sets (its assignments, in order), not its
// text: a comment or blank line added does not change it, so a reload does
// not restart a worker for it. A missing optional file has its own sum.
// The sum is an unkeyed hash of secrets: it must stay in memory, as the
// configuration's worker hash does.
func Sum(vars []Var, present bool) string {
	if !present {
		return "absent"
	}
	h := sha256.New()
	var b []byte
	for _, v := range vars {
		b = binary.AppendUvarint(b[:0], uint64(len(v.Name)))
		b = append(b, v.Name...)
		b = binary.AppendUvarint(b, uint64(len(v.Value)))
		b = append(b, v.Value...)
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))
}
