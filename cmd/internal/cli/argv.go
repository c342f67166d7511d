package cli

import (
	"strconv"
	"strings"
	"time"
)

// Kind is the kind of value a flag takes.
type Kind int

const (
	Bool     Kind = iota // given alone (--all), or --all=false
	String               // --output json, --output=json, -o json, -ojson, -o=json
	Duration             // as String, a Go duration (90s, 1m30s)
)

// Flag is one flag of the everyday commands. The lean client parses it
// (Parse) and tendd registers it with cobra (cli/tree), from this one
// description.
type Flag struct {
	Name    string
	Short   string // one letter, or none
	Kind    Kind
	Default string // a String's value when not given
	Usage   string
}

// Spec is one everyday command: its help, its flags, and whether it is
// quick (asks once and prints: it takes no handler of its own for SIGINT
// and SIGTERM, which end it as they end any program).
type Spec struct {
	Name                      string
	Use, Short, Long, Example string
	Quick                     bool
	Flags                     []Flag
}

// GlobalFlags are the flags of every command, before or after its name.
var GlobalFlags = []Flag{
	{Name: "config", Short: "c", Kind: String, Usage: "config file (default: $TEND_CONFIG, ./tend.toml, /etc/tend/tend.toml)"},
	{Name: "socket", Kind: String, Usage: "control socket (default: from the config)"},
	{Name: "output", Short: "o", Kind: String, Default: "table", Usage: "output format: table or json"},
}

// Specs are the everyday commands, in the order help lists them.
func Specs() []Spec {
	verb := func(v string) Spec {
		target := map[string]string{"start": "Running", "stop": "Stopped (or Killed)", "restart": "Running again"}[v]
		flags := []Flag{
			{Name: "all", Kind: Bool, Usage: "every configured worker"},
			{Name: "no-wait", Kind: Bool, Usage: "return once the command is recorded"},
		}
		if v != "start" {
			flags = append(flags, Flag{Name: "no-deps", Kind: Bool, Usage: "leave the workers that depend on these alone (by default they are stopped first, or restarted too)"})
		}
		flags = append(flags, Flag{Name: "timeout", Kind: Duration, Usage: "bound on the whole wait for the target state (default: wait while workers keep reaching it; give up after 30s in which none does)"})
		return Spec{
			Name:  v,
			Use:   v + " NAME... | --all",
			Short: strings.ToUpper(v[:1]) + v[1:] + " workers and wait until they are " + target,
			Example: "  tend " + v + " web\n" +
				"  tend " + v + " --all --timeout 1m",
			Flags: flags,
		}
	}
	return []Spec{
		{
			Name:  "status",
			Use:   "status [NAME...]",
			Short: "Show each worker's state, pid, incarnation, restarts, and why",
			Example: `  tend status
  tend status web worker-1 -o json
  tend status --daemon -o json     # the log, the export to NATS and the alerts`,
			Quick: true,
			Flags: []Flag{{Name: "daemon", Kind: Bool, Usage: "show the daemon's own state (the log, the export to NATS, the alerts) instead of the workers"}},
		},
		verb("start"), verb("stop"), verb("restart"),
		{
			Name:  "signal",
			Use:   "signal NAME... SIGNAL | --all SIGNAL",
			Short: "Send a signal to workers' running processes, and record who sent it",
			Long: `Send a signal (a name such as HUP or SIGHUP, RTMIN+n, or a number) to the
process group of each worker's running incarnation, and to any process of
that incarnation that left its group, as the stop signal is sent. The
request and its outcome are events with you as their actor, so history and
why show them. The signal is decided for the incarnation that runs when
the command is recorded, and never reaches a later one: if that
incarnation ends first, nothing is sent and the outcome says so. A worker
with no running process is refused (not running). Every signal may be sent,
KILL and STOP included; what follows (an exit the restart policy handles, a
frozen worker) is recorded like anything else.`,
			Example: `  tend signal web HUP
  tend signal web worker-1 SIGUSR1
  tend signal --all USR2`,
			Flags: []Flag{
				{Name: "all", Kind: Bool, Usage: "every configured worker that runs"},
				{Name: "no-wait", Kind: Bool, Usage: "return once the signal is recorded, before it is sent"},
				{Name: "timeout", Kind: Duration, Usage: "bound on the whole wait for the outcomes (default: wait while outcomes keep arriving; give up after 30s in which none does)"},
			},
		},
	}
}

// Invocation is a command line of an everyday command, parsed: the
// global flags given, the command, the flags given to it (each as the
// canonical text of its value: true or false, a duration as Go prints
// it, a string as given) and its arguments. Version is the root's
// --version, with no command.
type Invocation struct {
	Globals map[string]string
	Cmd     Spec
	Flags   map[string]string
	Args    []string
	Version bool
}

// Apply sets g's global flags to those inv was given, and the defaults of
// the others.
func (inv *Invocation) Apply(g *Globals) {
	for _, f := range GlobalFlags {
		v, ok := inv.Globals[f.Name]
		if !ok {
			v = f.Default
		}
		*g.Var(f.Name) = v
	}
}

// Var is where g keeps the global flag name (one of GlobalFlags).
func (g *Globals) Var(name string) *string {
	switch name {
	case "config":
		return &g.Config
	case "socket":
		return &g.Socket
	case "output":
		return &g.Output
	}
	panic("cli: no global flag " + name)
}

// Bool is the value of a Bool flag, false when not given.
func (inv *Invocation) Bool(name string) bool { return inv.Flags[name] == "true" }

// Duration is the value of a Duration flag, and whether it was given.
func (inv *Invocation) Duration(name string) (time.Duration, bool) {
	v, ok := inv.Flags[name]
	if !ok {
		return 0, false
	}
	d, err := time.ParseDuration(v)
	return d, err == nil
}

// Parse reads a command line of an everyday command as cobra and its flag
// parser (pflag) read it in tendd, for the lean client, which links
// neither. ok is false for anything else, and for anything it is not sure
// it reads as they do: another command, --help, an unknown flag, a value
// that does not parse, "--", a flag of the command before its name. The
// lean client then hands the command line to tendd, whose answer (help,
// or the error) is cobra's own. A property test holds that whatever Parse
// accepts, cobra reads alike (cli/tree).
func Parse(args []string) (inv Invocation, ok bool) {
	specs := Specs()
	var cmd *Spec
	inv.Globals, inv.Flags = map[string]string{}, map[string]string{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if len(a) < 2 || a[0] != '-' {
			// A word: the command's name, then its arguments. pflag
			// takes "-" and "" as arguments too.
			if cmd != nil {
				inv.Args = append(inv.Args, a)
				continue
			}
			for j := range specs {
				if specs[j].Name == a {
					cmd = &specs[j]
				}
			}
			if cmd == nil {
				return inv, false
			}
			continue
		}
		if a == "--" {
			return inv, false
		}
		// --name, --name=value, -n, -nvalue, -n=value.
		var name, val string
		var short, hasVal bool
		if strings.HasPrefix(a, "--") {
			name, val, hasVal = strings.Cut(a[2:], "=")
		} else {
			short, name, val = true, a[1:2], a[2:]
			if len(val) >= 2 && val[0] == '=' {
				val = val[1:]
			}
			hasVal = val != ""
		}
		if !short && !hasVal && name == "version" && cmd == nil && i == len(args)-1 {
			// The root's own flag, last: cobra learns of it only once it
			// has found the command, and before that takes the word
			// after it for its value.
			inv.Version = true
			continue
		}
		into := inv.Globals
		f := lookup(GlobalFlags, name, short)
		if f == nil && cmd != nil {
			f, into = lookup(cmd.Flags, name, short), inv.Flags
		}
		if f == nil {
			return inv, false
		}
		switch {
		case f.Kind == Bool && !hasVal:
			val = "true"
		case !hasVal:
			// pflag takes the next word as the value, whatever it is.
			if i+1 == len(args) {
				return inv, false
			}
			i++
			val = args[i]
		}
		switch f.Kind {
		case Bool:
			b, err := strconv.ParseBool(val)
			if err != nil {
				return inv, false
			}
			val = strconv.FormatBool(b)
		case Duration:
			d, err := time.ParseDuration(val)
			if err != nil {
				return inv, false
			}
			val = d.String()
		}
		into[f.Name] = val
	}
	switch {
	case inv.Version && (cmd != nil || len(inv.Args) > 0):
		return inv, false
	case inv.Version:
		return inv, true
	case cmd == nil:
		return inv, false
	}
	inv.Cmd = *cmd
	return inv, true
}

// lookup finds a flag by its name, or by its letter when short.
func lookup(flags []Flag, name string, short bool) *Flag {
	for i := range flags {
		if (!short && flags[i].Name == name) || (short && flags[i].Short != "" && flags[i].Short == name) {
			return &flags[i]
		}
	}
	return nil
}
