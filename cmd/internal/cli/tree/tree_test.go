package tree

import (
	"bytes"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"pgregory.net/rapid"

	"github.com/tendhq/tend/cmd/internal/cli"
)

// A quick command runs on a context no signal ends (SIGINT ends it as any
// program), a waiting one on a context SIGINT and SIGTERM cancel; status
// is quick.
func TestQuickCommandsTakeNoSignals(t *testing.T) {
	done := map[string]bool{}
	root := &cobra.Command{Use: "tend"}
	root.PersistentFlags().StringP("config", "c", "", "")
	for _, c := range []*cobra.Command{
		{Use: "quick", Annotations: map[string]string{QuickAnnotation: "yes"}},
		{Use: "waits"},
	} {
		c.RunE = func(cmd *cobra.Command, _ []string) error {
			done[cmd.Name()] = cmd.Context().Done() != nil
			return nil
		}
		root.AddCommand(c)
	}
	for _, args := range [][]string{{"-c", "x.toml", "quick"}, {"waits", "-c", "x.toml"}} {
		if err := Execute(root, args); err != nil {
			t.Fatal(err)
		}
	}
	if done["quick"] || !done["waits"] {
		t.Errorf("signals cancel the context of quick: %v, of waits: %v; want false, true", done["quick"], done["waits"])
	}
	for _, c := range Commands(&cli.Globals{}) {
		if (c.Annotations[QuickAnnotation] != "") != (c.Name() == "status") {
			t.Errorf("%s: quick %q", c.Name(), c.Annotations[QuickAnnotation])
		}
	}
}

// words are what the generated command lines are made of: the commands
// and others, every flag in every form, good and bad values, and what
// pflag and cobra treat specially.
var words = []string{
	"status", "start", "stop", "restart", "signal", "help", "bogus", "", "-", "--",
	"-c", "-cx.toml", "-c=y.toml", "-c=", "--config", "--config=z.toml", "--config=", "--socket", "--socket=/run/t.sock",
	"-o", "-ojson", "-o=table", "--output", "--output=json", "--output=yaml",
	"--all", "--all=false", "--all=true", "--all=1", "--all=maybe", "--no-wait", "--no-deps", "--daemon", "--daemon=F",
	"--timeout", "--timeout=5s", "--timeout=1m30s", "--timeout=-1s", "--timeout=bad", "--timeout=0",
	"--version", "--version=true", "-h", "--help", "--bogus", "-x", "-", "---all",
	"web", "a@1", "HUP", "90s", "json", "-1s", "x.toml", "--weird", "-ab",
}

// Whatever the lean client's Parse accepts, cobra reads alike in tendd:
// the same command, the same global flags, the same flags given (with
// the same values) and the same arguments; --version prints what cobra
// prints. What Parse leaves alone goes to tendd, so no claim is made of
// it.
func TestParseReadsAsCobra(t *testing.T) {
	accepted := 0
	// Rounds of the default 100 checks: a case the words make rarely
	// (--version before a flag that takes a value) is found every run.
	for range 30 {
		check(t, &accepted)
	}
	// A property that held because Parse took nothing would prove nothing.
	if accepted < 300 {
		t.Errorf("Parse accepted %d generated command lines: the property was hardly tried", accepted)
	}
}

func check(t *testing.T, accepted *int) {
	rapid.Check(t, func(rt *rapid.T) {
		args := rapid.SliceOfN(rapid.SampledFrom(words), 0, 8).Draw(rt, "args")
		inv, ok := cli.Parse(args)
		if !ok {
			return
		}
		*accepted++
		g := &cli.Globals{}
		root := NewRoot(g, "test")
		var got *cli.Invocation
		root.AddCommand(commands(func(_ *cobra.Command, i *cli.Invocation) error {
			got = i
			return nil
		})...)
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetErr(io.Discard)
		root.SetArgs(args)
		if err := root.Execute(); err != nil {
			rt.Fatalf("%q: Parse took it, cobra refuses it: %v", args, err)
		}
		if inv.Version {
			if got != nil || out.String() != "tend version test\n" {
				rt.Fatalf("%q: Parse read --version, cobra ran %v and printed %q", args, got, out.String())
			}
			return
		}
		if got == nil {
			rt.Fatalf("%q: Parse read %s, cobra ran nothing and printed %q", args, inv.Cmd.Name, out.String())
		}
		want := &cli.Globals{}
		inv.Apply(want)
		if got.Cmd.Name != inv.Cmd.Name || !reflect.DeepEqual(got.Flags, inv.Flags) || strings.Join(got.Args, "\x00") != strings.Join(inv.Args, "\x00") || len(got.Args) != len(inv.Args) ||
			g.Config != want.Config || g.Socket != want.Socket || g.Output != want.Output {
			rt.Fatalf("%q:\nParse: %s flags %v args %q config %q socket %q output %q\ncobra: %s flags %v args %q config %q socket %q output %q",
				args, inv.Cmd.Name, inv.Flags, inv.Args, want.Config, want.Socket, want.Output,
				got.Cmd.Name, got.Flags, got.Args, g.Config, g.Socket, g.Output)
		}
	})
}

// The flags each command has in tendd are the flags Parse knows, no more:
// cobra's own (--help) aside.
func TestTreeFlagsAreTheSpecs(t *testing.T) {
	root := NewRoot(&cli.Globals{}, "test")
	root.AddCommand(Commands(&cli.Globals{})...)
	for _, s := range cli.Specs() {
		cmd, _, err := root.Find([]string{s.Name})
		if err != nil || cmd.Name() != s.Name {
			t.Fatalf("%s: %v", s.Name, err)
		}
		n := 0
		cmd.LocalFlags().VisitAll(func(f *pflag.Flag) { n++ })
		if n != len(s.Flags) {
			t.Errorf("%s: cobra has %d flags of its own, the spec %d", s.Name, n, len(s.Flags))
		}
	}
}
