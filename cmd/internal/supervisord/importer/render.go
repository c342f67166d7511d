package importer

import (
	"bufio"
	"bytes"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/tendhq/tend/cmd/internal/config"
)

// groupDef is one [group:x] section.
type groupDef struct {
	name    string
	prio    int
	members map[string]bool
}

// sectionNote says why a section other than program, group or include is
// not converted, or "" for sections tend import does not know.
func sectionNote(name string) string {
	kind, _, _ := strings.Cut(name, ":")
	switch kind {
	case "supervisord":
		return "supervisord's own settings; tend's [daemon] table is configured separately"
	case "supervisorctl":
		return "supervisorctl's client settings; point supervisorctl at tend's [daemon] supervisor_rpc socket instead"
	case "unix_http_server":
		return `tend serves supervisorctl on [daemon] supervisor_rpc = "unix:///path/supervisor.sock"`
	case "inet_http_server":
		return "tend serves supervisorctl only on a unix socket"
	case "rpcinterface":
		return "tend serves its own XML-RPC interface"
	case "eventlistener":
		return "tend has no event listeners; its event log is read with tend's own commands"
	case "fcgi-program":
		return "tend does not manage FastCGI sockets"
	case "ctlplugin":
		return "tend has no supervisorctl plugins"
	}
	return ""
}

func (c *converter) convert(mainFile string) ([]byte, error) {
	groups := map[string]*groupDef{}
	for _, name := range c.in.order {
		s := c.in.sections[name]
		switch {
		case strings.HasPrefix(name, "program:"):
			if prog := strings.TrimPrefix(name, "program:"); prog == "" || strings.ContainsAny(pyStrip(prog), " :/") {
				c.warn(s.file, s.line, "[%s]: invalid program name for supervisord too: skipped", name)
				delete(c.in.sections, name)
			}
		case strings.HasPrefix(name, "group:"):
			c.group(s, groups)
		case name == "DEFAULT":
			c.warn(s.file, s.line, "[DEFAULT]: its values apply to every section, as in supervisord")
		default:
			why := sectionNote(name)
			if why == "" {
				why = "not a supervisord section"
			}
			c.warn(s.file, s.line, "[%s] has no tend equivalent (%s): skipped", name, why)
		}
	}
	workers := c.convertPrograms(groups)
	sort.SliceStable(workers, func(i, j int) bool {
		a, b := workers[i], workers[j]
		if a.groupPrio != b.groupPrio {
			return a.groupPrio < b.groupPrio
		}
		if a.group != b.group {
			return a.group < b.group
		}
		if a.prio != b.prio {
			return a.prio < b.prio
		}
		return a.name < b.name
	})

	var buf bytes.Buffer
	fmt.Fprintf(&buf, "# %s\n", commentSafe(fmt.Sprintf("tend configuration converted from %s by \"tend import\".", mainFile)))
	buf.WriteString("# Settings the source did not set take tend's defaults, which differ from\n")
	buf.WriteString("# supervisord's in places (log sizes and backups, restart limits).\n")
	buf.WriteString("# Lines \"# supervisord: ...\" map workers to supervisord groups for supervisorctl.\n")

	used := map[string]string{}
	for _, w := range workers {
		name := tendName(w.name)
		if name != w.name {
			c.warn(c.in.sections["program:"+w.program].file, c.in.sections["program:"+w.program].line,
				"[program:%s] process %q: tend worker names use only A-Z a-z 0-9 _ . -: named %q", w.program, w.name, name)
		}
		if prev, dup := used[name]; dup {
			alt := tendName(w.group + "." + w.name)
			s := c.in.sections["program:"+w.program]
			if _, dup2 := used[alt]; dup2 || alt == name {
				c.warn(s.file, s.line, "[program:%s] process %q: worker name %q already used by %s: skipped", w.program, w.name, name, prev)
				continue
			}
			c.warn(s.file, s.line, "[program:%s] process %q: worker name %q already used by %s: named %q", w.program, w.name, name, prev, alt)
			name = alt
		}
		used[name] = w.src
		fmt.Fprintf(&buf, "\n# %s\n", commentSafe(fmt.Sprintf("[program:%s] from %s", w.program, w.src)))
		for _, cm := range w.comments {
			fmt.Fprintf(&buf, "# %s\n", commentSafe(cm))
		}
		fmt.Fprintf(&buf, "# supervisord: worker=%s group=%s process=%s priority=%d\n",
			strconv.Quote(name), strconv.Quote(w.group), strconv.Quote(w.name), w.prio)
		fmt.Fprintf(&buf, "[worker.%s]\n", tomlKey(name))
		for _, k := range w.keys {
			buf.WriteString(k)
			buf.WriteByte('\n')
		}
	}
	out := buf.Bytes()
	// The output must load; if it does not, that is a bug here, and the
	// operator must not be handed a file tend will refuse.
	tomlPath := strings.TrimSuffix(mainFile, filepath.Ext(mainFile)) + ".toml"
	if _, err := config.Parse(tomlPath, out); err != nil {
		return nil, fmt.Errorf("converted configuration does not load in tend (please report): %w", err)
	}
	return out, nil
}

func (c *converter) group(s *section, groups map[string]*groupDef) {
	gname := pyStrip(strings.TrimPrefix(s.name, "group:"))
	if gname == "" || strings.ContainsAny(gname, " :/") {
		c.warn(s.file, s.line, "[%s]: invalid group name for supervisord too: skipped", s.name)
		return
	}
	g := &groupDef{name: gname, prio: 999, members: map[string]bool{}}
	vars := c.baseVars(filepath.Dir(s.file))
	for _, o := range s.ordered() {
		vars["here"] = filepath.Dir(o.file)
		v, err := expand(o.value, vars)
		if err != nil {
			c.warnOpt(o, "[%s] %s: %v: skipped", s.name, o.key, err)
			continue
		}
		switch o.key {
		case "programs":
			for _, p := range strings.Split(v, ",") {
				p = strings.TrimSpace(p)
				if p == "" {
					continue
				}
				if _, ok := c.in.sections["program:"+p]; !ok {
					if _, fcgi := c.in.sections["fcgi-program:"+p]; fcgi {
						c.warnOpt(o, "[%s] member %q is an fcgi-program, which tend does not convert: skipped", s.name, p)
					} else {
						c.warnOpt(o, "[%s] names unknown program %q (supervisord refuses this): skipped", s.name, p)
					}
					continue
				}
				g.members[p] = true
			}
		case "priority":
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				c.warnOpt(o, "[%s] priority: %q is not an integer: skipped", s.name, v)
				continue
			}
			g.prio = n
			c.warnOpt(o, "[%s] priority has no tend equivalent: workers are written in priority order", s.name)
		default:
			c.warnOpt(o, "[%s] %s: not a supervisord group option: skipped", s.name, o.key)
		}
	}
	groups[gname] = g
}

// tendName makes a supervisord process name a valid tend worker name.
func tendName(n string) string {
	var b strings.Builder
	for _, r := range n {
		if r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	s := b.String()
	if strings.Trim(s, ".") == "" {
		s = "_" + s
	}
	if len(s) > 64 {
		s = s[:64]
	}
	return s
}

// commentSafe makes s fit in a TOML comment, which must be valid UTF-8
// without control characters.
func commentSafe(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Map(func(r rune) rune {
		if r < 0x20 && r != '\t' || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}

// tomlString renders a TOML basic string.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		case r == 0xFFFD:
			// Invalid UTF-8 in the source: keep what can be kept.
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func tomlStringList(v []string) string {
	q := make([]string, len(v))
	for i, s := range v {
		q[i] = tomlString(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// tomlKey renders a key bare when TOML allows it.
func tomlKey(k string) string {
	if k == "" {
		return `""`
	}
	for _, r := range k {
		if !(r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-')) {
			return tomlString(k)
		}
	}
	return k
}

// Groups reads the "# supervisord:" lines Convert writes and returns, for
// each worker named in them, its supervisord group. Workers without a line
// are absent; supervisorctl then shows them as their own group.
func Groups(toml []byte) map[string]string {
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(toml))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "# supervisord:")
		if !ok {
			continue
		}
		fields := map[string]string{}
		for rest = strings.TrimSpace(rest); rest != ""; rest = strings.TrimSpace(rest) {
			k, v, ok := strings.Cut(rest, "=")
			if !ok {
				break
			}
			var val string
			if strings.HasPrefix(v, `"`) {
				q, err := strconv.QuotedPrefix(v)
				if err != nil {
					break
				}
				val, _ = strconv.Unquote(q)
				rest = v[len(q):]
			} else {
				val, rest, _ = strings.Cut(v, " ")
			}
			fields[strings.TrimSpace(k)] = val
		}
		if w, g := fields["worker"], fields["group"]; w != "" && g != "" {
			out[w] = g
		}
	}
	return out
}
