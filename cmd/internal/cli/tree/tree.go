// Package tree makes cobra commands of tend's command line for the full
// binary (cmd/tendd): the root with the global flags, and the everyday
// commands of package cli, from the same Specs the lean client parses by
// hand, each running cli.Run. tendd adds its own commands to the root.
//
// The lean client (cmd/tend) may NOT import this package: cobra is what it
// is built without (cmd/internal/archtest holds it).
package tree

import (
	"context"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/tendhq/tend/cmd/internal/cli"
)

// NewRoot is the root command, with the global flags and no subcommands.
func NewRoot(g *cli.Globals, version string) *cobra.Command {
	root := &cobra.Command{
		Use:   "tend",
		Short: "A process supervisor whose log explains every change",
		Long: `tend starts, watches and restarts worker processes. Every lifecycle change is
an event, made durable in an append-only log before anything acts on it, so
the log can be replayed and queried: what was every worker doing at 03:14,
and why.`,
		Example: `  tend daemon -c /etc/tend/tend.toml     # run the supervisor
  tend status                              # what is running
  tend why web                             # why web is in its state
  tend history web --since 1h              # what happened to web`,
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return &cli.ExitError{Code: cli.ExitUsage, Err: err}
	})
	pf := root.PersistentFlags()
	for _, f := range cli.GlobalFlags {
		pf.StringVarP(g.Var(f.Name), f.Name, f.Short, f.Default, f.Usage)
	}
	return root
}

// Commands are the everyday commands as cobra commands, each running
// cli.Run with what cobra parsed.
func Commands(g *cli.Globals) []*cobra.Command {
	return commands(func(cmd *cobra.Command, inv *cli.Invocation) error {
		return cli.Run(cmd.Context(), g, inv, cmd.OutOrStdout())
	})
}

// commands makes a cobra command of each Spec, run hands what was parsed
// over (a test takes it there).
func commands(run func(*cobra.Command, *cli.Invocation) error) []*cobra.Command {
	var out []*cobra.Command
	for _, s := range cli.Specs() {
		cmd := &cobra.Command{
			Use:     s.Use,
			Short:   s.Short,
			Long:    s.Long,
			Example: s.Example,
			RunE: func(cmd *cobra.Command, args []string) error {
				inv := &cli.Invocation{Cmd: s, Args: args, Flags: map[string]string{}}
				for _, f := range s.Flags {
					if fl := cmd.Flags().Lookup(f.Name); fl != nil && fl.Changed {
						inv.Flags[f.Name] = fl.Value.String()
					}
				}
				return run(cmd, inv)
			},
		}
		if s.Quick {
			cmd.Annotations = map[string]string{QuickAnnotation: "asks once and prints"}
		}
		for _, f := range s.Flags {
			addFlag(cmd.Flags(), f)
		}
		out = append(out, cmd)
	}
	return out
}

// addFlag registers f with cobra's flag set.
func addFlag(fs *pflag.FlagSet, f cli.Flag) {
	switch f.Kind {
	case cli.Bool:
		fs.BoolP(f.Name, f.Short, false, f.Usage)
	case cli.Duration:
		fs.DurationP(f.Name, f.Short, 0, f.Usage)
	default:
		fs.StringP(f.Name, f.Short, f.Default, f.Usage)
	}
}

// QuickAnnotation marks a command that asks once and prints (status): it
// runs without a handler of its own for SIGINT and SIGTERM, which end it
// as they end any program.
const QuickAnnotation = "tend.quick"

// Execute runs root on args, SIGINT and SIGTERM cancelling its context,
// so a command that waits (start --wait, events --follow) ends the wait
// and says so. A quick command (QuickAnnotation) runs without: taking
// the signals costs a thread (the runtime's signal loop blocks one), for
// a command that never waits.
func Execute(root *cobra.Command, args []string) error {
	root.SetArgs(args)
	if cmd, _, err := root.Find(args); err == nil && cmd.Annotations[QuickAnnotation] != "" {
		return root.ExecuteContext(context.Background())
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return root.ExecuteContext(ctx)
}
