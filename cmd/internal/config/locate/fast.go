package locate

import (
	"bufio"
	"bytes"
	"io"
	"path/filepath"
	"strings"
)

// The defaults of the two paths a client needs; config's defaults refer to
// these.
const (
	DefaultStateDir   = "/var/lib/tend"
	DefaultSocketName = "tend.sock" // inside the state dir
)

// Paths is where a config's daemon keeps its state and its socket, both
// absolute.
type Paths struct {
	StateDir string
	Socket   string
}

// Fast reads the paths from the [daemon] table of the config file at path,
// whose content is data, without parsing the rest: a config with a
// thousand workers takes tens of milliseconds to parse whole, the [daemon]
// table alone microseconds.
//
// It reads TOML only as far as it must to find that table: where strings,
// multi-line strings, arrays and inline tables begin and end, so that a
// line inside a value is never taken for a header or a key. Of the table
// it reads state_dir and socket when each is a one-line string without
// escapes; false on anything else it cannot be sure of (an escape, a
// dotted or inline daemon key, a key twice, a value it does not know, a
// line it cannot read), and only a full parse can say. It links no TOML
// decoder: the lean client pays no decoder's init on every command.
//
// It reads r up to the end of the [daemon] table and no further: a file
// in which a second [daemon] table follows is not TOML, and no daemon
// runs on it. With [daemon] at the top, a config of 10,000 workers
// (800 KB) costs the client one read of 64 KiB.
func Fast(path string, r io.Reader) (Paths, bool) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return Paths{}, false
	}
	v, ok := scanDaemon(r)
	if !ok {
		return Paths{}, false
	}
	dir := filepath.Dir(abs)
	d := Paths{StateDir: DefaultStateDir}
	if v.stateDir != nil {
		if *v.stateDir == "" {
			return Paths{}, false
		}
		d.StateDir = Resolve(dir, *v.stateDir)
	}
	if v.socket != nil && *v.socket != "" {
		d.Socket = Resolve(dir, *v.socket)
	} else {
		d.Socket = filepath.Join(d.StateDir, DefaultSocketName)
	}
	return d, true
}

// pageReads hands its reader at most a page at a time. The [daemon]
// table is nearly always at the top of a file that may hold thousands of
// workers: a read of 64 KiB would have the kernel copy, and this process
// fault in, sixteen pages of which the scan reads the first. The buffer
// around it stays 64 KiB, the longest line the scan takes.
type pageReads struct{ r io.Reader }

func (p pageReads) Read(b []byte) (int, error) {
	if len(b) > 4096 {
		b = b[:4096]
	}
	return p.r.Read(b)
}

// daemonKeys are the two values of the [daemon] table a client needs; nil
// when absent.
type daemonKeys struct {
	stateDir, socket *string
}

// scanDaemon reads r line by line, up to the end of the [daemon] table,
// carrying across lines only what TOML lets span them: a multi-line
// string, and arrays and inline tables (depth). A line starting a table
// header is one only outside both.
func scanDaemon(r io.Reader) (daemonKeys, bool) {
	var v daemonKeys
	inDaemon, seen, top := false, false, true
	var ml string // the closing quotes of the multi-line string we are in
	depth := 0    // of arrays and inline tables open at the end of the last line
	br := bufio.NewReaderSize(pageReads{r}, 64<<10)
	for first, eof := true, false; !eof; first = false {
		line, err := br.ReadSlice('\n')
		switch {
		case err == io.EOF:
			eof = true
		case err != nil:
			return v, false // a line over 64 KiB, or a failed read: the full parse reads it
		}
		if first {
			line = bytes.TrimPrefix(line, []byte("\xef\xbb\xbf"))
		}
		line = bytes.TrimSuffix(line, []byte("\n"))
		line = bytes.TrimSuffix(line, []byte("\r"))
		rest := line
		switch {
		case ml != "":
			i := closeMultiLine(rest, ml)
			if i < 0 {
				continue
			}
			rest, ml = rest[i:], ""
		case depth == 0:
			t := bytes.TrimLeft(line, " \t")
			if len(t) == 0 || t[0] == '#' {
				continue
			}
			if t[0] == '[' {
				arr := len(t) > 1 && t[1] == '['
				skip := 1
				if arr {
					skip = 2
				}
				name, after, ok := key(t[skip:])
				closing := "]"
				if arr {
					closing = "]]"
				}
				if !ok || !bytes.HasPrefix(after, []byte(closing)) || !blankOrComment(after[len(closing):]) {
					return v, false
				}
				top = false
				daemon := name[0] == "daemon"
				if daemon && arr {
					return v, false // an array: let the full parse say what is wrong
				}
				if seen {
					return v, true // the table ended
				}
				inDaemon = daemon && len(name) == 1
				seen = inDaemon
				continue
			}
			name, after, ok := key(t)
			if !ok || len(after) == 0 || after[0] != '=' {
				return v, false
			}
			value := after[1:]
			if top && name[0] == "daemon" {
				return v, false // daemon.socket = ..., daemon = {...}
			}
			if inDaemon && (name[0] == "state_dir" || name[0] == "socket") {
				s, ok := oneLineString(value)
				if !ok || len(name) > 1 {
					return v, false
				}
				p := &v.stateDir
				if name[0] == "socket" {
					p = &v.socket
				}
				if *p != nil {
					return v, false
				}
				*p = &s
				continue
			}
			rest = value
		}
		var ok bool
		if depth, ml, ok = skipValue(rest, depth); !ok {
			return v, false
		}
	}
	if ml != "" || depth != 0 {
		return v, false
	}
	return v, true
}

// key reads a dotted key, each part bare or a quoted string without
// escapes, and the spaces around it; it returns the parts and what
// follows.
func key(t []byte) ([]string, []byte, bool) {
	var parts []string
	for {
		t = bytes.TrimLeft(t, " \t")
		if len(t) == 0 {
			return nil, nil, false
		}
		var part string
		switch q := t[0]; q {
		case '"', '\'':
			end := bytes.IndexByte(t[1:], q)
			if end < 0 {
				return nil, nil, false
			}
			part = string(t[1 : 1+end])
			if q == '"' && strings.ContainsRune(part, '\\') {
				return nil, nil, false
			}
			t = t[2+end:]
		default:
			n := 0
			for n < len(t) && bareKeyByte(t[n]) {
				n++
			}
			if n == 0 {
				return nil, nil, false
			}
			part, t = string(t[:n]), t[n:]
		}
		parts = append(parts, part)
		t = bytes.TrimLeft(t, " \t")
		if len(t) == 0 || t[0] != '.' {
			return parts, t, true
		}
		t = t[1:]
	}
}

// bareKeyByte reports whether c may be in a TOML bare key: A-Z a-z 0-9 _ -.
func bareKeyByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// blankOrComment reports whether the rest of a line says nothing.
func blankOrComment(b []byte) bool {
	b = bytes.TrimLeft(b, " \t")
	return len(b) == 0 || b[0] == '#'
}

// closeMultiLine finds the end of a multi-line string, whose closing
// quotes are closing, in b: the index just past it, or -1. In a basic
// one a backslash escapes what follows it; up to two quotes more before
// the closing three belong to the string.
func closeMultiLine(b []byte, closing string) int {
	q := closing[0]
	for i := 0; i < len(b); i++ {
		if q == '"' && b[i] == '\\' {
			i++
			continue
		}
		if b[i] != q {
			continue
		}
		n := 0
		for i+n < len(b) && b[i+n] == q {
			n++
		}
		if n >= 3 {
			return i + min(n, 5)
		}
		i += n - 1
	}
	return -1
}

// oneLineString reads a value that is a basic string without escapes or
// a literal string, all on one line, with an optional comment after it.
func oneLineString(value []byte) (string, bool) {
	t := bytes.TrimLeft(value, " \t")
	if len(t) == 0 || (t[0] != '"' && t[0] != '\'') {
		return "", false
	}
	q := t[0]
	if bytes.HasPrefix(t, []byte{q, q, q}) {
		return "", false // multi-line
	}
	end := bytes.IndexByte(t[1:], q)
	if end < 0 {
		return "", false
	}
	s := t[1 : 1+end]
	for _, c := range s {
		if c == '\\' || c < 0x20 && c != '\t' || c == 0x7f {
			return "", false
		}
	}
	if !blankOrComment(t[2+end:]) {
		return "", false
	}
	return string(s), true
}

// skipValue reads the rest of a line, starting at depth arrays and inline
// tables deep, past strings and up to a comment, and returns the depth at
// its end and, when a multi-line string is left open, its closing quotes.
func skipValue(b []byte, depth int) (int, string, bool) {
	for i := 0; i < len(b); i++ {
		switch c := b[i]; c {
		case '#':
			return depth, "", true
		case '[', '{':
			depth++
		case ']', '}':
			depth--
			if depth < 0 {
				return depth, "", false
			}
		case '"', '\'':
			if i+2 < len(b) && b[i+1] == c && b[i+2] == c {
				closing := string([]byte{c, c, c})
				j := closeMultiLine(b[i+3:], closing)
				if j < 0 {
					return depth, closing, true
				}
				i += 3 + j - 1
				continue
			}
			j := i + 1
			for ; j < len(b) && b[j] != c; j++ {
				if c == '"' && b[j] == '\\' {
					j++
				}
			}
			if j >= len(b) {
				return depth, "", false // a one-line string without its end
			}
			i = j
		}
	}
	return depth, "", true
}

// Resolve makes p absolute against the config file's directory, so that a
// config file and the files it names can move together; resolving against
// the daemon's working directory would depend on how it was started.
func Resolve(dir, p string) string {
	if p == "" {
		return ""
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(dir, p)
	}
	return filepath.Clean(p)
}
