package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tendhq/tend/cmd/internal/cli"
	"github.com/tendhq/tend/cmd/internal/config"
	"github.com/tendhq/tend/cmd/internal/query"
	"github.com/tendhq/tend/supervisor/core"
)

func newGraphCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "graph",
		Short: "Print what each worker depends on, from the config (-o dot for Graphviz)",
		Example: `  tend graph
  tend graph -o dot | dot -Tsvg > graph.svg`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if g.Output != "table" && g.Output != "dot" && g.Output != "json" {
				return cli.UsageErr("--output must be table, dot or json, not %q", g.Output)
			}
			path, err := g.ConfigPath()
			if err != nil {
				return err
			}
			cfg, err := config.Load(path)
			if err != nil {
				return &cli.ExitError{Code: cli.ExitFailure, Err: err}
			}
			out := cmd.OutOrStdout()
			switch g.Output {
			case "dot":
				writeDot(out, cfg)
			case "json":
				type node struct {
					Name      string     `json:"name"`
					Type      string     `json:"type"`
					DependsOn []core.Dep `json:"depends_on"`
				}
				var nodes []node
				for _, n := range cfg.Order {
					w := cfg.Workers[n]
					nodes = append(nodes, node{Name: n, Type: kindOf(w), DependsOn: w.DependsOn})
				}
				return cli.PrintJSON(out, nodes)
			default:
				for _, n := range cfg.Order {
					w := cfg.Workers[n]
					var deps []string
					for _, d := range w.DependsOn {
						s := fmt.Sprintf("%s (%s)", d.Name, d.Cond)
						if d.OnRestart != core.DepIgnore && d.OnRestart != "" {
							s += ", on_restart " + string(d.OnRestart)
						}
						deps = append(deps, s)
					}
					line := n
					if w.Oneshot {
						line += " [oneshot]"
					}
					if len(deps) > 0 {
						line += " → " + strings.Join(deps, "; ")
					}
					fmt.Fprintln(out, line)
				}
			}
			return nil
		},
	}
}

func kindOf(w *config.Worker) string {
	if w.Oneshot {
		return config.TypeOneshot
	}
	return config.TypeService
}

func writeDot(w io.Writer, cfg *config.Config) {
	fmt.Fprintln(w, "digraph tend {")
	fmt.Fprintln(w, "  rankdir=LR;")
	for _, n := range cfg.Order {
		shape := "box"
		if cfg.Workers[n].Oneshot {
			shape = "ellipse"
		}
		fmt.Fprintf(w, "  %q [shape=%s];\n", n, shape)
	}
	for _, n := range cfg.Order {
		for _, d := range cfg.Workers[n].DependsOn {
			fmt.Fprintf(w, "  %q -> %q [label=%q];\n", n, d.Name, string(d.Cond))
		}
	}
	fmt.Fprintln(w, "}")
}

func newAnalyzeCmd(g *globals) *cobra.Command {
	var sinceFlag string
	cmd := &cobra.Command{
		Use:   "analyze",
		Short: "The critical chain of the last start-up, from the log: each worker from start requested to ready, and what it waited on",
		Example: `  tend analyze
  tend analyze --db /tmp/copy-of-tend.db --since 2h`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := g.CheckOutput(); err != nil {
				return err
			}
			since, err := timeFlag("since", sinceFlag, time.Now())
			if err != nil {
				return err
			}
			l, err := g.openDB()
			if err != nil {
				return err
			}
			defer l.Close()
			a, err := query.Analyze(l, since)
			if err != nil {
				return logFailure(l, err)
			}
			out := cmd.OutOrStdout()
			if g.JSON() {
				return cli.PrintJSON(out, a)
			}
			return writeAnalysis(out, a)
		},
	}
	cmd.Flags().StringVar(&sinceFlag, "since", "", "analyze the first start-up after this time (default: the last one)")
	cmd.Flags().StringVar(&g.db, "db", "", "read this log file instead of asking the daemon")
	return cmd
}

func writeAnalysis(out io.Writer, a query.StartUp) error {
	if a.Begin.IsZero() {
		fmt.Fprintln(out, "no start-up in the log")
		return nil
	}
	rel := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return "+" + t.Sub(a.Begin).Round(time.Millisecond).String()
	}
	fmt.Fprintf(out, "start-up at %s (seq %d): %d workers, all ready after %s\n", a.Begin.Local().Format("2006-01-02 15:04:05.000"),
		a.BeginSeq, len(a.Workers), a.End.Sub(a.Begin).Round(time.Millisecond))
	if len(a.Critical) > 0 {
		fmt.Fprintln(out, "critical chain:")
		for _, n := range a.Critical {
			w := a.Worker(n)
			fmt.Fprintf(out, "  %-16s requested %-9s spawned %-9s ready %-9s", n, rel(w.Requested), rel(w.Spawned), rel(w.Ready))
			if len(w.WaitedFor) > 0 {
				fmt.Fprintf(out, " waited %s for %s", w.Waited.Round(time.Millisecond), strings.Join(w.WaitedFor, ", "))
			}
			fmt.Fprintln(out)
		}
	}
	fmt.Fprintln(out, "every worker:")
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  NAME\tREQUESTED\tSPAWNED\tREADY\tWAITED\tFOR")
	ws := append([]query.WorkerStartUp(nil), a.Workers...)
	sort.Slice(ws, func(i, j int) bool {
		return ws[i].Ready.Before(ws[j].Ready) || ws[j].Ready.IsZero() && !ws[i].Ready.IsZero()
	})
	for _, w := range ws {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", w.Name, rel(w.Requested), rel(w.Spawned), rel(w.Ready),
			w.Waited.Round(time.Millisecond), strings.Join(w.WaitedFor, ", "))
	}
	return tw.Flush()
}
