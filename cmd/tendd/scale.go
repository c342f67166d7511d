package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tendhq/tend/cmd/internal/cli"
	"github.com/tendhq/tend/cmd/internal/client"
)

func newScaleCmd(g *globals) *cobra.Command {
	var noWait bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "scale NAME N",
		Short: "Run N instances of a worker with instances (NAME@1 … NAME@N)",
		Long: `Run N instances of a worker that has instances = M in the configuration: the
instances added start (if autostart), those past N stop and are removed. The
scale is recorded (a scaled event, with your uid as its actor) and holds
across reloads and daemon restarts until the configuration's instances for
the worker changes; the file is not rewritten. By default the command waits
until the instances it added have started and those it removed are gone.`,
		Example: `  tend scale web 6
  tend scale web 2 --no-wait`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := g.CheckOutput(); err != nil {
				return err
			}
			n, err := strconv.Atoi(args[1])
			if err != nil || n < 0 {
				return cli.UsageErr("N must be a number of instances (0 or more), not %q", args[1])
			}
			c, err := g.Client()
			if err != nil {
				return err
			}
			defer c.Close()
			res, err := c.Scale(cmd.Context(), args[0], n)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if !noWait {
				if err := waitScale(cmd, c, res, timeout); err != nil {
					return err
				}
			}
			if g.JSON() {
				return cli.PrintJSON(out, res)
			}
			fmt.Fprintf(out, "%s: %d → %d instances", res.Worker, res.From, res.To)
			var parts []string
			if len(res.Added) > 0 {
				parts = append(parts, "added "+strings.Join(res.Added, ", "))
			}
			if len(res.Removed) > 0 {
				parts = append(parts, "removed "+strings.Join(res.Removed, ", "))
			}
			if len(parts) > 0 {
				fmt.Fprintf(out, " (%s)", strings.Join(parts, "; "))
			}
			fmt.Fprintln(out)
			return nil
		},
	}
	cmd.Flags().BoolVar(&noWait, "no-wait", false, "return once the scale is recorded")
	cmd.Flags().DurationVar(&timeout, "timeout", 30*time.Second, "how long to wait")
	return cmd
}

// waitScale waits until every instance the scale added has left Starting
// and every one it removed is gone.
func waitScale(cmd *cobra.Command, c *client.Client, res client.ScaleResult, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		st, err := c.Status(cmd.Context())
		if err != nil {
			return err
		}
		byName := map[string]client.WorkerStatus{}
		for _, w := range st.Workers {
			byName[w.Name] = w
		}
		var pending []string
		for _, n := range res.Added {
			if w, ok := byName[n]; ok && (w.State == "Starting" || w.State == "Stopping") {
				pending = append(pending, n+" is "+w.State)
			}
		}
		for _, n := range res.Removed {
			if w, ok := byName[n]; ok {
				pending = append(pending, n+" is "+w.State+", not yet removed")
			}
		}
		if len(pending) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return &cli.ExitError{Code: cli.ExitFailure, Err: fmt.Errorf("timed out: %s", strings.Join(pending, "; "))}
		}
		select {
		case <-cmd.Context().Done():
			return cmd.Context().Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
