package main

import (
	"errors"
	"time"

	"github.com/spf13/cobra"

	"github.com/tendhq/tend/cmd/internal/cli"
	"github.com/tendhq/tend/cmd/internal/top"
)

func newTopCmd(g *globals) *cobra.Command {
	var interval time.Duration
	cmd := &cobra.Command{
		Use:   "top",
		Short: "A live full-screen view of every worker: state, pid, uptime, restarts, CPU, memory, health, why",
		Long: `A live full-screen view of every worker, kept current from the daemon's event
stream, with CPU and memory where the daemon samples them (workers with
limits; one status request per --interval). The lower pane shows ` + "`tend why`" + ` of
the selected worker, or its output. Keys: ↑↓ select, s start, x stop, r restart (x and r ask y/N),
l logs, / filter, o sort (name, cpu, memory, restarts), O reverse, ? help,
q quit. Commands run as you: the daemon records your uid as their actor.`,
		Example: `  tend top
  tend top --interval 5s    # fewer status requests on a very large daemon`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if interval < top.MinInterval {
				return cli.UsageErr("--interval must be at least %s", top.MinInterval)
			}
			c, err := g.Client()
			if err != nil {
				return err
			}
			defer c.Close()
			err = top.Run(cmd.Context(), c, interval)
			if errors.Is(err, top.ErrNotTerminal) {
				return &cli.ExitError{Code: cli.ExitFailure, Err: err}
			}
			return err
		},
	}
	cmd.Flags().DurationVar(&interval, "interval", top.DefaultInterval, "how often to ask for CPU and memory (the daemon samples every sample_interval)")
	return cmd
}
