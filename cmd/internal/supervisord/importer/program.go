package importer

import (
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/tendhq/tend/cmd/internal/config"
	"github.com/tendhq/tend/fsm/policy"
	"github.com/tendhq/tend/supervisor/core"
)

// programKey reports whether key is a [program:x] option supervisord 4
// knows and, for those tend has no counterpart for, why.
func programKey(key string) (why string, known bool) {
	switch key {
	case "command", "process_name", "numprocs", "numprocs_start",
		"priority", "autostart", "startsecs", "startretries",
		"autorestart", "exitcodes", "stopsignal", "stopwaitsecs",
		"stopasgroup", "killasgroup", "user", "redirect_stderr",
		"stdout_logfile", "stdout_logfile_maxbytes", "stdout_logfile_backups",
		"stderr_logfile", "stderr_logfile_maxbytes", "stderr_logfile_backups",
		"environment", "directory", "umask":
		return "", true
	case "serverurl":
		return "tend sets no SUPERVISOR_SERVER_URL", true
	case "stdout_capture_maxbytes", "stderr_capture_maxbytes":
		return "tend has no process communication events", true
	case "stdout_events_enabled", "stderr_events_enabled":
		return "tend has no output events", true
	case "stdout_syslog", "stderr_syslog":
		return "tend does not write to syslog", true
	}
	return "", false
}

// worker is one converted process.
type worker struct {
	name, group, program string
	groupPrio, prio      int
	src                  string // "file:line" of the [program:x] header
	comments             []string
	keys                 []string // rendered "key = value" lines
}

// proc gathers what one program section says, for one process.
type proc struct {
	c    *converter
	s    *section
	dflt *section
	vars map[string]any
}

// get returns the option, falling back to [DEFAULT] as configparser does.
func (p *proc) get(key string) (*option, bool) {
	if o, ok := p.s.get(key); ok {
		return o, true
	}
	if p.dflt != nil {
		return p.dflt.get(key)
	}
	return nil, false
}

// str returns the expanded value of key; ok is false when the key is unset
// or cannot be expanded (which is reported).
func (p *proc) str(key string) (string, *option, bool) {
	o, ok := p.get(key)
	if !ok {
		return "", nil, false
	}
	p.vars["here"] = filepath.Dir(o.file)
	v, err := expand(o.value, p.vars)
	if err != nil {
		p.c.warnOpt(o, "[%s] %s: %v: skipped", p.s.name, key, err)
		return "", o, false
	}
	return v, o, true
}

func (p *proc) boolean(key string) (val, set bool) {
	v, o, ok := p.str(key)
	if !ok {
		return false, false
	}
	switch strings.ToLower(v) {
	case "yes", "true", "on", "1":
		return true, true
	case "no", "false", "off", "0":
		return false, true
	}
	p.c.warnOpt(o, "[%s] %s: %q is not a boolean: skipped", p.s.name, key, v)
	return false, false
}

func (p *proc) integer(key string, min int) (int, *option, bool) {
	v, o, ok := p.str(key)
	if !ok {
		return 0, o, false
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < min {
		p.c.warnOpt(o, "[%s] %s: %q is not an integer of at least %d: skipped", p.s.name, key, v, min)
		return 0, o, false
	}
	return n, o, true
}

// byteSize is supervisord's byte_size: a number with an optional KB, MB or
// GB suffix, all powers of 1024.
func byteSize(s string) (int64, bool) {
	v := strings.ToLower(strings.TrimSpace(s))
	mult := int64(1)
	for suf, m := range map[string]int64{"kb": 1 << 10, "mb": 1 << 20, "gb": 1 << 30} {
		if strings.HasSuffix(v, suf) {
			v, mult = strings.TrimSuffix(v, suf), m
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, false
	}
	return n * mult, true
}

// convertPrograms turns every [program:x] into workers.
func (c *converter) convertPrograms(groups map[string]*groupDef) []*worker {
	var out []*worker
	for _, name := range c.in.order {
		s := c.in.sections[name]
		prog, ok := strings.CutPrefix(name, "program:")
		if !ok || s == nil {
			continue
		}
		gname, gprio := prog, 0
		var gs []*groupDef
		for _, g := range groups {
			if g.members[prog] {
				gs = append(gs, g)
			}
		}
		sort.Slice(gs, func(i, j int) bool { return gs[i].name < gs[j].name })
		if len(gs) > 1 {
			c.warn(s.file, s.line, "[%s] is in several groups (%s); tend keeps it once, in group %s", name, groupNames(gs), gs[0].name)
		}
		p := &proc{c: c, s: s, dflt: c.in.sections["DEFAULT"]}
		p.vars = c.baseVars(filepath.Dir(s.file))
		if len(gs) > 0 {
			gname, gprio = gs[0].name, gs[0].prio
		} else {
			gprio = 999
			if v, ok := p.intOr("priority", 999); ok {
				gprio = v
			}
		}
		out = append(out, c.program(s, prog, gname, gprio)...)
	}
	return out
}

func groupNames(gs []*groupDef) string {
	n := make([]string, len(gs))
	for i, g := range gs {
		n[i] = g.name
	}
	return strings.Join(n, ", ")
}

// intOr reads an integer key quietly (the full read reports problems).
func (p *proc) intOr(key string, def int) (int, bool) {
	o, ok := p.get(key)
	if !ok {
		return def, true
	}
	v, err := expand(o.value, p.vars)
	if err != nil {
		return def, false
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return def, false
	}
	return n, true
}

func (c *converter) program(s *section, prog, gname string, gprio int) []*worker {
	src := fmt.Sprintf("%s:%d", c.name(s.file), s.line)
	warnHeader := func(format string, args ...any) { c.warn(s.file, s.line, format, args...) }

	// Keys that are unknown or have no tend counterpart, reported once per
	// program whatever numprocs is.
	for _, o := range s.ordered() {
		why, known := programKey(o.key)
		switch {
		case !known:
			c.warnOpt(o, "[%s] %s: not a supervisord program option: skipped", s.name, o.key)
		case why != "":
			c.warnOpt(o, "[%s] %s has no tend equivalent (%s): skipped", s.name, o.key, why)
		}
	}

	base := func() *proc {
		p := &proc{c: c, s: s, dflt: c.in.sections["DEFAULT"]}
		p.vars = c.baseVars(filepath.Dir(s.file))
		p.vars["program_name"] = prog
		p.vars["group_name"] = gname
		return p
	}
	p := base()
	numprocs, numprocsStart := 1, 0
	if n, _, ok := p.integer("numprocs", 0); ok {
		numprocs = n
	}
	if n, _, ok := p.integer("numprocs_start", 0); ok {
		numprocsStart = n
	}
	if numprocs == 0 {
		warnHeader("[%s] numprocs = 0: no process to convert", s.name)
		return nil
	}
	if numprocs > maxNumprocs {
		warnHeader("[%s] numprocs = %d: only the first %d are converted", s.name, numprocs, maxNumprocs)
		numprocs = maxNumprocs
	}
	pnRaw := "%(program_name)s"
	if o, ok := p.get("process_name"); ok {
		pnRaw = o.value
	}
	if numprocs > 1 && !strings.Contains(pnRaw, "%(process_num)") {
		warnHeader("[%s] numprocs > 1 but process_name has no %%(process_num): supervisord refuses this: skipped", s.name)
		return nil
	}
	prio := 999
	if n, o, ok := p.integer("priority", -1<<31); ok {
		prio = n
		c.warnOpt(o, "[%s] priority has no tend equivalent (tend starts and stops workers independently): kept as a comment, and workers are written in priority order", s.name)
	}

	var out []*worker
	for num := numprocsStart; num < numprocsStart+numprocs; num++ {
		p := base()
		p.vars["process_num"] = num
		p.vars["numprocs"] = numprocs
		w := c.process(p, prog, gname, pnRaw)
		if w == nil {
			continue
		}
		w.groupPrio, w.prio, w.src = gprio, prio, src
		out = append(out, w)
	}
	if c.opts.Instances && numprocs > 1 && len(out) == numprocs {
		if tw := c.asInstances(base, prog, gname, pnRaw, numprocsStart, out); tw != nil {
			tw.groupPrio, tw.prio, tw.src = gprio, prio, src
			warnHeader("[%s] numprocs = %d: one worker with instances = %d; its processes are %s … %s in tend (%s … %s in supervisord)",
				s.name, numprocs, numprocs, core.InstanceName(prog, 1), core.InstanceName(prog, numprocs), out[0].name, out[len(out)-1].name)
			return []*worker{tw}
		}
	}
	return out
}

// instanceMark stands for %(process_num) while a program is converted as a
// template: a number no real configuration writes elsewhere.
const instanceMark = 987654321

// asInstances converts a program with numprocs > 1 as one worker with
// instances, or returns nil when its processes differ in more than their
// number as {instance} can write it: the template, with each process's
// number put in, must render exactly as that process did (a zero-padded
// %(process_num)02d does not, for instance), and the number may only
// appear in string settings.
func (c *converter) asInstances(base func() *proc, prog, gname, pnRaw string, start int, procs []*worker) *worker {
	p := base()
	p.vars["process_num"] = instanceMark
	p.vars["numprocs"] = len(procs)
	marked := c.process(p, prog, gname, pnRaw)
	if marked == nil || tendName(prog) != prog {
		return nil
	}
	// Instance i is process start+i-1.
	ref := "{instance}"
	switch k := start - 1; {
	case k > 0:
		ref = fmt.Sprintf("{instance+%d}", k)
	case k < 0:
		ref = fmt.Sprintf("{instance%d}", k)
	}
	mark := strconv.Itoa(instanceMark)
	tw := &worker{name: prog, group: gname, program: prog, keys: []string{"instances = " + strconv.Itoa(len(procs))}}
	for _, k := range marked.keys {
		key, _, _ := strings.Cut(k, " ")
		if strings.Contains(k, mark) && !slices.Contains([]string{"command", "env", "dir", "stdout", "stderr", "user"}, key) {
			return nil
		}
		tw.keys = append(tw.keys, strings.ReplaceAll(k, mark, ref))
	}
	for _, cm := range marked.comments {
		tw.comments = append(tw.comments, strings.ReplaceAll(cm, mark, ref))
	}
	for i, w := range procs {
		num := strconv.Itoa(start + i)
		if len(w.keys)+1 != len(tw.keys) || len(w.comments) != len(tw.comments) {
			return nil
		}
		for j, k := range w.keys {
			if strings.ReplaceAll(marked.keys[j], mark, num) != k {
				return nil
			}
		}
	}
	// The output of one file for every instance is refused by tend.
	for _, k := range tw.keys {
		if key, _, _ := strings.Cut(k, " "); (key == "stdout" || key == "stderr") && !strings.Contains(k, "{instance") && !strings.Contains(k, "/dev/null") {
			return nil
		}
	}
	return tw
}

// process converts one process of a program.
func (c *converter) process(p *proc, prog, gname, pnRaw string) *worker {
	s := p.s
	w := &worker{group: gname, program: prog}
	warnHeader := func(format string, args ...any) { c.warn(s.file, s.line, format, args...) }
	set := func(key, value string) { w.keys = append(w.keys, key+" = "+value) }
	note := func(format string, args ...any) { w.comments = append(w.comments, fmt.Sprintf(format, args...)) }

	p.vars["here"] = filepath.Dir(s.file)
	pname, err := expand(pnRaw, p.vars)
	if err != nil {
		warnHeader("[%s] process_name: %v: program skipped", s.name, err)
		return nil
	}
	pname = pyStrip(pname)
	if pname == "" || strings.ContainsAny(pname, " :/") {
		warnHeader("[%s] process name %q is invalid for supervisord too (empty or with space, ':' or '/'): program skipped", s.name, pname)
		return nil
	}
	w.name = pname

	// environment first: its values become %(ENV_x)s for the rest. Its
	// line is written after the command, which reads better.
	envLine := ""
	if o, ok := p.get("environment"); ok {
		p.vars["here"] = filepath.Dir(o.file)
		v, err := expand(o.value, p.vars)
		var pairs []envPair
		if err == nil {
			pairs, err = parseEnvironment(v)
		}
		if err != nil {
			c.warnOpt(o, "[%s] environment: %v: skipped", s.name, err)
		} else if len(pairs) > 0 {
			items := make([]string, 0, len(pairs))
			for _, kv := range pairs {
				if kv.key == "" || strings.Contains(kv.key, "=") {
					c.warnOpt(o, "[%s] environment: variable name %q cannot be passed to a program: skipped", s.name, kv.key)
					continue
				}
				p.vars["ENV_"+kv.key] = kv.value
				items = append(items, tomlKey(kv.key)+" = "+tomlString(kv.value))
			}
			envLine = "{ " + strings.Join(items, ", ") + " }"
		}
	}

	cmd, o, ok := p.str("command")
	if !ok {
		if o == nil {
			warnHeader("[%s] has no command: supervisord refuses this: program skipped", s.name)
		}
		return nil
	}
	argv, err := splitCommand(cmd)
	if err != nil || len(argv) == 0 || argv[0] == "" {
		if err == nil {
			err = fmt.Errorf("empty command")
		}
		c.warnOpt(o, "[%s] command: %v: program skipped", s.name, err)
		return nil
	}
	if !strings.Contains(argv[0], "/") {
		note("command: supervisord looks %q up in PATH when it starts the program", argv[0])
	}
	set("command", tomlStringList(argv))
	if envLine != "" {
		set("env", envLine)
	}

	if v, o, ok := p.str("directory"); ok {
		if !filepath.IsAbs(v) {
			c.warnOpt(o, "[%s] directory %q is relative to supervisord's working directory; tend resolves it against the tend.toml's directory", s.name, v)
		}
		if v != "" {
			set("dir", tomlString(v))
		}
	}
	if v, _, ok := p.str("user"); ok && v != "" {
		set("user", tomlString(v))
	}
	if v, o, ok := p.str("umask"); ok && v != "" {
		// supervisord reads it as Python's int(v, 8) does: "022" or "0o22".
		m, err := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(strings.TrimSpace(v)), "0o"), 8, 32)
		if err != nil || m > 0o777 {
			c.warnOpt(o, "[%s] umask %q is not an octal mask: skipped", s.name, v)
		} else {
			set("umask", tomlString(fmt.Sprintf("%03o", m)))
		}
	}
	if v, set_ := p.boolean("autostart"); set_ {
		set("autostart", strconv.FormatBool(v))
	}

	restart := config.DefaultRestart
	if v, o, ok := p.str("autorestart"); ok {
		switch strings.ToLower(v) {
		case "yes", "true", "on", "1":
			restart = policy.Always
		case "no", "false", "off", "0":
			restart = policy.Never
		case "unexpected":
			restart = policy.OnFailure
		default:
			c.warnOpt(o, "[%s] autorestart: %q is not true, false or unexpected: skipped", s.name, v)
			restart = ""
		}
		if restart != "" {
			set("restart", tomlString(string(restart)))
		}
	}
	if v, o, ok := p.str("exitcodes"); ok {
		codes, good := exitCodes(v)
		switch {
		case !good:
			c.warnOpt(o, "[%s] exitcodes: %q is not a list of exit codes 0-255: skipped", s.name, v)
		case len(codes) != 1 || codes[0] != 0:
			c.warnOpt(o, "[%s] exitcodes = %s: tend treats only exit code 0 as success, so other codes count as failures (restart = %q)", s.name, v, restart)
			note("exitcodes = %s in supervisord; tend: only 0 is success", v)
		}
	}

	startsecs := 1
	if n, o, ok := p.integer("startsecs", 0); ok {
		n = capAt(c, o, s.name, "startsecs", n, int(config.MaxStartTimeout.Seconds()))
		startsecs = n
		set("start_timeout", tomlString(fmt.Sprintf("%ds", n)))
	}
	if n, o, ok := p.integer("startretries", 0); ok {
		if n == 0 {
			c.warnOpt(o, "[%s] startretries = 0: tend's breaker cannot forbid every retry; using circuit_max_restarts = 1", s.name)
			n = 1
		}
		if n > maxRestarts {
			c.warnOpt(o, "[%s] startretries = %d: capped at %d", s.name, n, maxRestarts)
			n = maxRestarts
		}
		win := circuitWindow(n, startsecs)
		note("startretries = %d: supervisord gives up after that many failed starts in a row;", n)
		note("tend opens its breaker after circuit_max_restarts restarts within circuit_window,")
		note("chosen (%ds) to cover that many restarts with tend's backoff", win)
		set("circuit_max_restarts", strconv.Itoa(n))
		set("circuit_window", tomlString(fmt.Sprintf("%ds", win)))
	}
	if v, o, ok := p.str("stopsignal"); ok {
		if sig, good := stopSignal(v); good {
			set("stop_signal", sig)
		} else {
			c.warnOpt(o, "[%s] stopsignal: %q is not a signal: skipped", s.name, v)
		}
	}
	if n, o, ok := p.integer("stopwaitsecs", 0); ok {
		n = capAt(c, o, s.name, "stopwaitsecs", n, int(config.MaxStopTimeout.Seconds()))
		set("stop_timeout", tomlString(fmt.Sprintf("%ds", n)))
	}
	for _, k := range []string{"stopasgroup", "killasgroup"} {
		if v, set_ := p.boolean(k); set_ {
			o, _ := p.get(k)
			if v {
				note("%s = true: tend always signals the whole process group", k)
			} else {
				c.warnOpt(o, "[%s] %s = false: tend always signals the whole process group, not only the program", s.name, k)
			}
		}
	}

	c.logs(p, w, set, note)
	// execve cannot carry a NUL byte, so tend refuses them anywhere in a
	// command, environment or path.
	for _, k := range w.keys {
		if strings.Contains(k, `\u0000`) {
			key, _, _ := strings.Cut(k, " ")
			warnHeader("[%s] %s contains a NUL byte: program skipped", s.name, key)
			return nil
		}
	}
	return w
}

// logs converts the stdout/stderr settings.
func (c *converter) logs(p *proc, w *worker, set func(k, v string), note func(string, ...any)) {
	s := p.s
	paths := map[string]string{} // "" = AUTO (tend's default)
	for _, ch := range []string{"stdout", "stderr"} {
		v, o, ok := p.str(ch + "_logfile")
		if !ok {
			continue
		}
		switch strings.ToLower(v) {
		case "auto":
		case "none":
			paths[ch] = "/dev/null"
			note("%s_logfile = NONE: discarded", ch)
		case "syslog":
			c.warnOpt(o, "[%s] %s_logfile = syslog: tend does not write to syslog; output goes to tend's default log file", s.name, ch)
		default:
			if strings.HasPrefix(v, "~") {
				c.warnOpt(o, "[%s] %s_logfile %q: tend does not expand ~: kept as written", s.name, ch, v)
			} else if !filepath.IsAbs(v) {
				c.warnOpt(o, "[%s] %s_logfile %q is relative to supervisord's working directory; tend resolves it against the tend.toml's directory", s.name, ch, v)
			}
			paths[ch] = v
		}
	}
	redirect, _ := p.boolean("redirect_stderr")
	if redirect {
		if o, ok := p.get("stderr_logfile"); ok && paths["stderr"] != "" && paths["stderr"] != "/dev/null" {
			c.warnOpt(o, "[%s] redirect_stderr = true: stderr_logfile is ignored, as supervisord ignores it", s.name)
		}
		if paths["stdout"] == "" {
			paths["stdout"] = filepath.Join(config.DefaultStateDir, "logs", w.name+".log")
			note("redirect_stderr with stdout_logfile = AUTO: both go to one file in tend's default state dir")
		}
		paths["stderr"] = paths["stdout"]
	}
	if v := paths["stdout"]; v != "" {
		set("stdout", tomlString(v))
	}
	if v := paths["stderr"]; v != "" {
		set("stderr", tomlString(v))
	}

	// tend has one size and one backup count for both streams.
	pick := func(suffix string, parse func(string) (int64, bool)) (int64, string, bool) {
		var vals []int64
		var srcs []string
		var first *option
		for _, ch := range []string{"stdout", "stderr"} {
			if redirect && ch == "stderr" {
				continue
			}
			v, o, ok := p.str(ch + "_logfile_" + suffix)
			if !ok {
				continue
			}
			n, good := parse(v)
			if !good {
				c.warnOpt(o, "[%s] %s_logfile_%s: %q is invalid: skipped", s.name, ch, suffix, v)
				continue
			}
			if first == nil {
				first = o
			}
			vals = append(vals, n)
			srcs = append(srcs, fmt.Sprintf("%s_logfile_%s=%s", ch, suffix, v))
		}
		if len(vals) == 0 {
			return 0, "", false
		}
		if len(vals) == 2 && vals[0] != vals[1] {
			c.warnOpt(first, "[%s] stdout and stderr logfile_%s differ: tend has one setting for both; using stdout's", s.name, suffix)
		}
		return vals[0], srcs[0], true
	}
	if n, src, ok := pick("maxbytes", byteSize); ok {
		if n > config.MaxLogMaxSize {
			c.warn(p.s.file, p.s.line, "[%s] %s: capped at tend's largest log_max_size, %d", p.s.name, src, int64(config.MaxLogMaxSize))
			n = config.MaxLogMaxSize
		}
		set("log_max_size", strconv.FormatInt(n, 10)+" # "+src)
	}
	if n, src, ok := pick("backups", func(v string) (int64, bool) {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		return int64(n), err == nil && n >= 0
	}); ok {
		if n > config.MaxLogBackups {
			c.warn(p.s.file, p.s.line, "[%s] %s: capped at tend's largest log_backups, %d", p.s.name, src, config.MaxLogBackups)
			n = config.MaxLogBackups
		}
		set("log_backups", strconv.FormatInt(n, 10)+" # "+src)
	}
}

func exitCodes(v string) ([]int, bool) {
	if strings.TrimSpace(v) == "" {
		return nil, true
	}
	var out []int
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 || n > 255 {
			return nil, false
		}
		out = append(out, n)
	}
	return out, true
}

// stopSignal maps a supervisord stopsignal to a tend stop_signal value:
// the names tend knows stay names, anything else becomes its number.
func stopSignal(v string) (string, bool) {
	v = strings.TrimSpace(v)
	if n, err := strconv.Atoi(v); err == nil {
		if n < 1 || n > 64 {
			return "", false
		}
		return strconv.Itoa(n), true
	}
	name := strings.ToUpper(v)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	switch name {
	case "SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGKILL", "SIGUSR1", "SIGUSR2":
		return tomlString(strings.TrimPrefix(name, "SIG")), true
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return strconv.Itoa(int(sig)) + " # " + name, true
	}
	return "", false
}

// circuitWindow is long enough for n restarts with tend's default
// backoff (doubling from backoff_initial to backoff_max) when each start
// lasts startsecs, and never shorter than tend's default window.
func circuitWindow(n, startsecs int) int {
	total := 0
	delay := int(config.DefaultBackoffInitial.Seconds())
	maxDelay := int(config.DefaultBackoffMax.Seconds())
	for i := 0; i < n; i++ {
		total += delay + startsecs
		delay = min(delay*2, maxDelay)
	}
	return max(total+10, int(config.DefaultCircuitWindow.Seconds()))
}

// capAt keeps n within tend's bound for the setting an option maps to,
// saying so when it does not fit.
func capAt(c *converter, o *option, section, key string, n, hi int) int {
	if n > hi {
		c.warnOpt(o, "[%s] %s = %d: capped at %d, tend's bound", section, key, n, hi)
		return hi
	}
	return n
}
