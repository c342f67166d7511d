package main

import (
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tendhq/tend/cmd/internal/cli"
	"github.com/tendhq/tend/cmd/internal/config"
	"github.com/tendhq/tend/cmd/internal/daemon"
	"github.com/tendhq/tend/cmd/internal/query"
	"github.com/tendhq/tend/cmd/internal/report"
	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/supervisor"
	"github.com/tendhq/tend/supervisor/logfile"
)

func newReportCmd(g *globals) *cobra.Command {
	var out, sinceFlag, untilFlag, shot string
	var workers []string
	cmd := &cobra.Command{
		Use:   "report -o report.html",
		Short: "Write a self-contained HTML postmortem: timeline, events, per-worker summary",
		Long: `Write one self-contained HTML file (no network, no external assets) from a log:
a timeline with one lane per worker coloured by state, markers for exits,
health failures, limit violations, breaker events and operator commands; a
filterable table of the events; and a summary per worker. It opens in any
browser, from a copied log too. The log is read directly (read-only), so it
works while the daemon runs on a copy, or on the daemon's file once it is down.`,
		Example: `  tend report --db /tmp/copy-of-tend.db -o report.html
  tend report --since 2h --worker web --worker api -o last-2h.html
  tend report --nats nats://nats.internal:4222 --host web-3 -o web-3.html`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" || out == "table" || out == "json" {
				return cli.UsageErr("report needs -o FILE.html")
			}
			opts := report.Options{Workers: workers, StderrTail: g.stderrTails()}
			now := time.Now()
			var err error
			if opts.Since, err = timeFlag("since", sinceFlag, now); err != nil {
				return err
			}
			if opts.Until, err = timeFlag("until", untilFlag, now); err != nil {
				return err
			}
			l, err := g.openDB()
			if err != nil {
				return err
			}
			defer l.Close()
			p := newProgress("report")
			opts.Progress = p.update
			var st report.Stats
			err = report.WriteFile(out, func(w io.Writer) error {
				st, err = report.Write(w, l, opts)
				return err
			})
			p.done()
			if err != nil {
				return logFailure(l, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %d events, %d workers, %d table rows (%d left out), %d KiB\n",
				out, st.Events, st.Workers, st.Rows, st.Omitted, st.Bytes>>10)
			if shot != "" {
				if err := report.Screenshot(out, shot); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "screenshot: %s\n", shot)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&g.db, "db", "", "the log file (default: the config's state directory)")
	f.StringVar(&sinceFlag, "since", "", "start of the window (a duration like 2h, or a time)")
	f.StringVar(&untilFlag, "until", "", "end of the window")
	f.StringSliceVar(&workers, "worker", nil, "only these workers (repeatable)")
	f.StringVar(&shot, "screenshot", "", "also render the report to this PNG with headless chromium")
	g.nats.register(f, true)
	cmd.Flags().StringVarP(&out, "out", "", "", "")
	_ = cmd.Flags().MarkHidden("out")
	cmd.PreRun = func(cmd *cobra.Command, _ []string) { out = g.Output }
	return cmd
}

// stderrTails reads, for a failure's marker, the last lines that workers
// whose output goes through a relay wrote to stderr before they failed,
// from the files the configuration names (the file and its newest backup).
// Without a configuration, or for a worker without relayed stderr, there
// is none.
func (g *globals) stderrTails() func(string, events.Incarnation, time.Time) []string {
	path, err := g.ConfigPath()
	if err != nil {
		return nil
	}
	cfg, err := config.Load(path)
	if err != nil {
		return nil
	}
	specs, err := daemon.Specs(cfg, nil)
	if err != nil {
		return nil
	}
	byName := map[string]*supervisor.WorkerSpec{}
	for _, sp := range specs {
		if sp.Relay && sp.Stderr != "" {
			byName[sp.Name] = sp
		}
	}
	t := &query.Tails{
		Paths: func(worker string) []string {
			sp := byName[worker]
			if sp == nil {
				return nil
			}
			return []string{sp.Stderr + ".1.gz", sp.Stderr + ".1", sp.Stderr}
		},
		Open: func(worker, name string) (io.ReadCloser, error) {
			uid := uint32(os.Geteuid())
			if sp := byName[worker]; sp != nil && sp.Credential != nil {
				uid = sp.Credential.Uid
			}
			// Files a worker can write: opened the way the daemon does.
			f, err := logfile.OpenRead(name, uid)
			if err != nil || !strings.HasSuffix(name, ".gz") {
				return f, err
			}
			zr, err := gzip.NewReader(f)
			if err != nil {
				f.Close()
				return nil, err
			}
			return struct {
				io.Reader
				io.Closer
			}{zr, f}, nil
		},
	}
	return func(worker string, inc events.Incarnation, at time.Time) []string {
		return t.Tail(worker, inc, at, report.TailLines, report.TailLineLen)
	}
}
