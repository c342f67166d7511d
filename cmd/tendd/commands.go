package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/tendhq/tend/cmd/internal/cli"
	"github.com/tendhq/tend/cmd/internal/client"
	"github.com/tendhq/tend/cmd/internal/config"
	"github.com/tendhq/tend/cmd/internal/daemon"
	"github.com/tendhq/tend/cmd/internal/explain"
	"github.com/tendhq/tend/cmd/internal/metrics"
	"github.com/tendhq/tend/cmd/internal/query"
	"github.com/tendhq/tend/cmd/internal/termsafe"
	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/fsm/replay"
	"github.com/tendhq/tend/store"
)

func newDaemonCmd(g *globals) *cobra.Command {
	var leave, allowUnsafe bool
	cmd := &cobra.Command{
		Use:   "daemon",
		Short: "Run the supervisor in the foreground",
		Long: `Run the supervisor in the foreground (systemd-friendly). It logs JSON to stderr,
human-readable lines when stderr is a terminal. SIGHUP reloads the config;
SIGTERM and SIGINT stop the workers (per their stop settings) and exit.
If the event log fails a write or fsync (a disk error, a full disk), the daemon
records nothing more and exits with status 74, leaving the workers running;
started again, it verifies the log and adopts them.`,
		Example: `  tend daemon -c /etc/tend/tend.toml
  tend daemon -c tend.toml --leave-running   # workers survive the daemon's exit`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, err := g.ConfigPath()
			if err != nil {
				return err
			}
			cfg, err := config.Load(path)
			if err != nil {
				return err
			}
			lvl, err := zerolog.ParseLevel(cfg.Daemon.LogLevel)
			if err != nil {
				lvl = zerolog.InfoLevel
			}
			var w io.Writer = os.Stderr
			if isatty.IsTerminal(os.Stderr.Fd()) {
				w = consoleLog(os.Stderr)
			}
			logger := zerolog.New(w).Level(lvl).With().Timestamp().Str("svc", "tend").Logger()
			err = daemon.Run(cmd.Context(), daemon.Options{ConfigPath: path, Config: cfg, LeaveRunning: leave,
				AllowUnsafeConfig: allowUnsafe, Logger: logger})
			if errors.Is(err, store.ErrFailed) {
				// Fail-stop: the workers run on; a service manager starts
				// the daemon again, which reads the log back from disk.
				return &cli.ExitError{Code: cli.ExitLogFailed, Err: err}
			}
			return err
		},
	}
	cmd.Flags().BoolVar(&leave, "leave-running", false, "on SIGTERM, leave workers running for the next daemon to adopt")
	cmd.Flags().BoolVar(&allowUnsafe, "allow-unsafe-config", false, "run on a config file that users other than root and the daemon's could change (it can start anything as root)")
	return cmd
}

// consoleLog is the daemon's log for people on a terminal. An event's
// cause is its line's message, and a cause may quote a worker (what it
// said with STATUS=): the message is escaped under termsafe's rule.
// zerolog quotes a field's value itself when it holds a control character.
func consoleLog(out io.Writer) zerolog.ConsoleWriter {
	return zerolog.ConsoleWriter{Out: out, TimeFormat: "15:04:05.000", FormatPrepare: func(evt map[string]any) error {
		if m, ok := evt[zerolog.MessageFieldName].(string); ok {
			evt[zerolog.MessageFieldName] = termsafe.Line(m)
		}
		return nil
	}}
}

func newCheckCmd(g *globals) *cobra.Command {
	var diff bool
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Validate a config file without starting anything",
		Long: `Validate a config file without starting anything. With --diff, also ask the
running daemon what a reload would do now: which workers it would add,
remove, restart (and which of their keys changed) and leave alone. Nothing
is reloaded or recorded; no value of a setting is shown.`,
		Example: "  tend check -c tend.toml\n  tend check --diff",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, err := g.ConfigPath()
			if err != nil {
				return err
			}
			cfg, err := config.Load(path)
			if err != nil {
				return &cli.ExitError{Code: cli.ExitFailure, Err: err}
			}
			if _, err := daemon.Specs(cfg, nil); err != nil {
				return err
			}
			tracking, warnings, err := daemon.CheckTracking(cfg)
			if err != nil {
				return &cli.ExitError{Code: cli.ExitFailure, Err: err}
			}
			for _, w := range warnings {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s: %s\n", path, w)
			}
			if web := cfg.Daemon.MetricsWebConfig; web != "" {
				if err := metrics.ValidateWebConfig(web); err != nil {
					return &cli.ExitError{Code: cli.ExitFailure, Err: fmt.Errorf("%s: daemon.metrics_web_config %s: %w", path, web, err)}
				}
			}
			// The daemon refuses what only warns here: check reports on
			// the files, it does not act on them.
			for _, f := range []string{path, cfg.Daemon.MetricsWebConfig} {
				if f == "" {
					continue
				}
				if err := config.CheckTrusted(f, os.Geteuid()); err != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "warning: %v\n", err)
				}
			}
			for _, w := range cfg.Warnings() {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s\n", w)
			}
			for _, p := range cfg.TrustPaths() {
				if err := config.CheckTrustedPath(p.Path, os.Geteuid()); err != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s: %v\n", p.Where, err)
				}
			}
			if addr := cfg.Daemon.MetricsListen; addr != "" && metrics.BeyondLoopback(addr) {
				what := "without metrics_web_config: whoever reaches the port reads every worker's name and state"
				if cfg.Daemon.MetricsWebConfig != "" {
					what = "they name every worker and its state; metrics_web_config says who may read them"
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s: daemon.metrics_listen listens beyond loopback %s\n", path, what)
			}
			// No hash of the file is printed: the log records a digest
			// keyed per log, which only the daemon can compute.
			if !diff {
				fmt.Fprintf(cmd.OutOrStdout(), "%s: ok, %d workers\n", path, len(cfg.Order))
				fmt.Fprintln(cmd.OutOrStdout(), tracking)
				return nil
			}
			return planReload(cmd, g, path, len(cfg.Order))
		},
	}
	cmd.Flags().BoolVar(&diff, "diff", false, "also print what a reload of the running daemon would add, remove, restart and leave alone")
	return cmd
}

// planReload prints what a reload of the running daemon would do. The
// daemon reads its own configuration file, as a reload would, so the
// answer is what a reload does, runtime scales included.
func planReload(cmd *cobra.Command, g *globals, path string, workers int) error {
	if err := g.CheckOutput(); err != nil {
		return err
	}
	c, err := g.Client()
	if err != nil {
		return err
	}
	defer c.Close()
	plan, err := c.PlanReload(cmd.Context())
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if g.JSON() {
		return cli.PrintJSON(out, plan)
	}
	fmt.Fprintf(out, "%s: ok, %d workers\n", path, workers)
	if abs, err := filepath.Abs(path); err == nil && abs != plan.Config {
		fmt.Fprintf(cmd.ErrOrStderr(), "note: the daemon reloads %s, not %s; this is what reloading it would do\n", plan.Config, path)
	}
	if len(plan.Added)+len(plan.Removed)+len(plan.Changed) == 0 {
		fmt.Fprintf(out, "a reload would change nothing (%d workers left alone)\n", len(plan.Unchanged))
		return nil
	}
	fmt.Fprintln(out, "a reload would:")
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	for _, n := range plan.Added {
		fmt.Fprintf(tw, "  add\t%s\n", n)
	}
	for _, n := range plan.Removed {
		fmt.Fprintf(tw, "  remove\t%s\n", n)
	}
	for _, ch := range plan.Changed {
		keys := "settings changed"
		if len(ch.Keys) > 0 {
			keys = strings.Join(ch.Keys, ", ")
		}
		verb := "restart"
		if !ch.Restart {
			verb = "update" // stopped: it takes the settings, nothing restarts
		}
		fmt.Fprintf(tw, "  %s\t%s\t(%s)\n", verb, ch.Name, keys)
	}
	if len(plan.Unchanged) > 0 {
		fmt.Fprintf(tw, "  leave alone\t%s\n", strings.Join(plan.Unchanged, ", "))
	}
	return tw.Flush()
}

func newReloadCmd(g *globals) *cobra.Command {
	var noWait, noDeps bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "reload [NAME...]",
		Short: "Re-read the config; with names, reload those workers (their reload_signal, or a restart)",
		Long: `Without names: re-read the config, start added workers, stop removed ones and
restart changed ones (the same as SIGHUP to the daemon).

With names: reload each running worker: a worker with reload_signal set is
sent that signal (recorded as for tend signal); one without is restarted
(recorded as for tend restart, its dependents restarting with it unless
--no-deps). A worker that is not running is refused: a reload never starts
anything.`,
		Example: `  tend reload
  kill -HUP $(pidof tend)   # the same
  tend reload web           # web's reload_signal, or a restart`,
		RunE: func(cmd *cobra.Command, names []string) error {
			c, err := g.Client()
			if err != nil {
				return err
			}
			defer c.Close()
			if len(names) > 0 {
				if err := g.CheckOutput(); err != nil {
					return err
				}
				wait, err := cli.TimeoutArg(timeout, cmd.Flags().Changed("timeout"))
				if err != nil {
					return err
				}
				reply, err := c.Commands(cmd.Context(), client.CommandRequest{Verb: "reload", Workers: names,
					Wait: !noWait, Timeout: wait, NoDeps: noDeps})
				if err != nil {
					return err
				}
				return cli.PrintResults(cmd.OutOrStdout(), g.Globals, "reload", reply.Results)
			}
			r, err := c.Reload(cmd.Context())
			if err != nil {
				return err
			}
			if g.JSON() {
				return cli.PrintJSON(cmd.OutOrStdout(), r)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "reloaded (digest %.12s, seq %d): added %v, removed %v, changed %v\n", strings.TrimPrefix(r.Hash, store.DigestPrefix), r.Seq, r.Added, r.Removed, r.Changed)
			return nil
		},
	}
	cmd.Flags().BoolVar(&noWait, "no-wait", false, "with names: return once the reload is recorded")
	cmd.Flags().BoolVar(&noDeps, "no-deps", false, "with names: a restart leaves the workers that depend on these alone")
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "with names: bound on the whole wait (default: wait while workers keep reaching their target; give up after 30s in which none does)")
	return cmd
}

// eventTable prints events for people. A cause may quote a worker (what
// it said with STATUS=, a probe's or a hook's output): every cell is
// escaped, and a tab or newline in one cannot break the table.
func eventTable(w io.Writer, evs []events.JSON, withWorker bool) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	head := "SEQ\tTIME\t"
	if withWorker {
		head += "WORKER\t"
	}
	fmt.Fprintln(tw, head+"INC\tEVENT\tTRANSITION\tACTOR\tCAUSE")
	for _, e := range evs {
		t, _ := time.Parse(time.RFC3339Nano, e.Time)
		tr := ""
		if e.From != "" || e.To != "" {
			tr = e.From + " → " + e.To
		}
		if e.Stale {
			tr = "(stale)"
		}
		line := fmt.Sprintf("%d\t%s\t", e.Seq, t.Local().Format("2006-01-02 15:04:05.000"))
		if withWorker {
			line += termsafe.Line(e.Worker) + "\t"
		}
		fmt.Fprintf(tw, "%s%d\t%s\t%s\t%s\t%s\n", line, e.Incarnation, termsafe.Line(e.Type), termsafe.Line(tr), termsafe.Line(e.Actor), termsafe.Line(e.Cause))
	}
	return tw.Flush()
}

func toJSON(evs []events.Event) []events.JSON {
	out := make([]events.JSON, len(evs))
	for i := range evs {
		out[i] = evs[i].ToJSON()
	}
	return out
}

func newHistoryCmd(g *globals) *cobra.Command {
	var sinceFlag string
	var limit int
	cmd := &cobra.Command{
		Use:   "history NAME",
		Short: "A worker's events, oldest first: time, transition, cause and actor",
		Example: `  tend history web --since 1h
  tend history web --limit 50 -o json
  tend history web --db /tmp/copy-of-tend.db   # postmortem on a copy
  tend history web --nats nats://nats.internal:4222 --host web-3   # that host's log, from the stream`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := g.CheckOutput(); err != nil {
				return err
			}
			from, err := timeFlag("since", sinceFlag, time.Now())
			if err != nil {
				return err
			}
			var evs []events.JSON
			if g.offline(cmd.Context()) {
				l, err := g.openDB()
				if err != nil {
					return err
				}
				defer l.Close()
				raw, err := replay.History(l, args[0], from, limit)
				if err != nil {
					return logFailure(l, err)
				}
				if len(raw) == 0 && !workerInLog(l, args[0]) {
					return &cli.ExitError{Code: cli.ExitNoWorker, Err: fmt.Errorf("no worker %q in %s", args[0], l.Path())}
				}
				evs = toJSON(raw)
			} else {
				c, err := g.Client()
				if err != nil {
					return err
				}
				defer c.Close()
				if evs, err = c.History(cmd.Context(), args[0], from, limit); err != nil {
					return err
				}
				if len(evs) == 0 {
					if _, err := c.Status(cmd.Context(), args[0]); err != nil {
						return err
					}
				}
			}
			if g.JSON() {
				return cli.PrintJSON(cmd.OutOrStdout(), evs)
			}
			return eventTable(cmd.OutOrStdout(), evs, false)
		},
	}
	cmd.Flags().StringVar(&sinceFlag, "since", "", "only events after this (a duration like 1h, or a time)")
	cmd.Flags().IntVar(&limit, "limit", 1000, "at most this many of the newest events")
	cmd.Flags().StringVar(&g.db, "db", "", "read this log file instead of asking the daemon")
	g.nats.register(cmd.Flags(), true)
	return cmd
}

func workerInLog(l *store.Log, name string) bool {
	evs, err := l.WorkerTail(name, 1)
	return err == nil && len(evs) > 0
}

func newWhyCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "why NAME",
		Short: "The causal chain behind a worker's current state, in plain words",
		Example: `  tend why web
  tend why web --db /var/lib/tend/tend.db
  tend why web --nats nats://nats.internal:4222 --host web-3`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var a explain.Answer
			if g.offline(cmd.Context()) {
				l, err := g.openDB()
				if err != nil {
					return err
				}
				defer l.Close()
				w, err := replayWorker(l, args[0])
				if err != nil {
					return logFailure(l, err)
				}
				hist, err := l.WorkerTail(args[0], 500)
				if err != nil {
					return logFailure(l, err)
				}
				a = explain.Why(w, hist)
			} else {
				c, err := g.Client()
				if err != nil {
					return err
				}
				defer c.Close()
				if err := c.Get(cmd.Context(), "/v1/why/"+url.PathEscape(args[0]), nil, &a); err != nil {
					return err
				}
			}
			if g.JSON() {
				return cli.PrintJSON(cmd.OutOrStdout(), a)
			}
			_, err := fmt.Fprintln(cmd.OutOrStdout(), strings.Join(termsafe.Lines(a.Lines()), "\n"))
			return err
		},
	}
	cmd.Flags().StringVar(&g.db, "db", "", "read this log file instead of asking the daemon")
	g.nats.register(cmd.Flags(), true)
	return cmd
}

func newEventsCmd(g *globals) *cobra.Command {
	var follow bool
	var worker, typ, sinceFlag string
	var from uint64
	cmd := &cobra.Command{
		Use:   "events",
		Short: "The event log, optionally filtered, optionally followed live",
		Example: `  tend events --since 10m
  tend events --follow --worker web
  tend events --type breaker_opened -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if typ != "" {
				if _, err := events.ParseType(typ); err != nil {
					return cli.UsageErr("--type: %v", err)
				}
			}
			t, err := timeFlag("since", sinceFlag, time.Now())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			var batch []events.JSON
			emit := func(e events.JSON) error {
				if g.JSON() {
					b, _ := json.Marshal(e)
					_, err := fmt.Fprintln(out, string(b))
					return err
				}
				if follow {
					return eventTable(out, []events.JSON{e}, true)
				}
				batch = append(batch, e)
				return nil
			}
			if g.offline(cmd.Context()) {
				if follow {
					return cli.UsageErr("--follow needs a running daemon")
				}
				l, err := g.openDB()
				if err != nil {
					return err
				}
				defer l.Close()
				start := events.Seq(max(from, 1))
				if !t.IsZero() {
					s, err := l.SeqAt(t)
					if err != nil {
						return logFailure(l, err)
					}
					start = max(start, s+1)
				}
				var want events.Type
				if typ != "" {
					want, _ = events.ParseType(typ)
				}
				err = l.Scan(start, 0, func(e *events.Event) error {
					if (worker == "" || e.Worker == worker) && (typ == "" || e.Type == want) {
						return emit(e.ToJSON())
					}
					return nil
				})
				if err != nil {
					return logFailure(l, err)
				}
			} else {
				c, err := g.Client()
				if err != nil {
					return err
				}
				defer c.Close()
				err = c.Events(cmd.Context(), events.Seq(max(from, 1)), follow, worker, typ, t, emit)
				if err != nil && !errors.Is(err, context.Canceled) {
					return err
				}
			}
			if len(batch) > 0 {
				return eventTable(out, batch, true)
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new events as they happen")
	cmd.Flags().StringVar(&worker, "worker", "", "only this worker's events")
	cmd.Flags().StringVar(&typ, "type", "", "only events of this type (e.g. exited, breaker_opened)")
	cmd.Flags().StringVar(&sinceFlag, "since", "", "only events after this (a duration like 1h, or a time)")
	cmd.Flags().Uint64Var(&from, "from", 1, "start at this seq (resume a stream without loss)")
	cmd.Flags().StringVar(&g.db, "db", "", "read this log file instead of asking the daemon")
	return cmd
}

func newLogsCmd(g *globals) *cobra.Command {
	var follow, stderr, withEvents, raw bool
	var lines int
	cmd := &cobra.Command{
		Use:   "logs NAME",
		Short: "A worker's stdout (or stderr), control characters escaped",
		Long: `A worker's stdout (or stderr). What a worker writes is its own to choose, and
escape sequences can retitle a terminal, clear it, write its clipboard or
redraw what was printed before: every control character (but newline and
tab), bidi override and byte that is not UTF-8 is printed as an escape such
as \x1b. --raw prints the bytes as written (for a pipe, not a terminal).`,
		Example: `  tend logs web -n 100
  tend logs web --stderr -f
  tend logs web --events -n 200   # spawns, exits and restarts among the lines (output = "relay")
  tend logs web --raw > web.out   # the bytes as written`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			if withEvents && follow {
				return cli.UsageErr("--events shows what was written; it does not follow (-f)")
			}
			c, err := g.Client()
			if err != nil {
				return err
			}
			defer c.Close()
			w := cmd.OutOrStdout()
			if !raw {
				esc := termsafe.NewWriter(w)
				defer func() {
					if ferr := esc.Flush(); err == nil {
						err = ferr
					}
				}()
				w = esc
			}
			if !withEvents {
				return c.Logs(cmd.Context(), args[0], stderr, follow, lines, w)
			}
			var out bytes.Buffer
			if err := c.Logs(cmd.Context(), args[0], stderr, false, lines, &out); err != nil {
				return err
			}
			evs, err := c.History(cmd.Context(), args[0], time.Time{}, 10_000)
			if err != nil {
				return err
			}
			if err := query.Interleave(w, &out, evs); err != nil {
				return fmt.Errorf("logs %s --events: %w", args[0], err)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&raw, "raw", false, "print the bytes as the worker wrote them, control characters included")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing what the worker writes")
	cmd.Flags().BoolVar(&withEvents, "events", false, "interleave the worker's lifecycle events (spawned, exited, restarts) with its lines, by time")
	cmd.Flags().BoolVar(&stderr, "stderr", false, "show stderr instead of stdout")
	cmd.Flags().IntVarP(&lines, "lines", "n", 20, "how many lines from the end to start with")
	return cmd
}

func newReplayCmd(g *globals) *cobra.Command {
	var at, seq string
	cmd := &cobra.Command{
		Use:   "replay --at TIME | --seq N",
		Short: "Every worker's state at a moment of the log",
		Example: `  tend replay --at 03:14:07
  tend replay --at "2026-03-14 03:14:07" --db /tmp/tend.db
  tend replay --seq 4211 -o json
  tend replay --at 03:14:07 --nats nats://nats.internal:4222 --host web-3`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if at == "" && seq == "" {
				return cli.UsageErr("give --at TIME or --seq N")
			}
			var r client.ReplayResult
			if g.offline(cmd.Context()) {
				l, err := g.openDB()
				if err != nil {
					return err
				}
				defer l.Close()
				r, err = query.ReplayAt(l, at, seq)
				var bad *query.BadQuery
				if errors.As(err, &bad) {
					return cli.UsageErr("%v", err)
				} else if err != nil {
					return logFailure(l, err)
				}
			} else {
				c, err := g.Client()
				if err != nil {
					return err
				}
				defer c.Close()
				if err := c.Get(cmd.Context(), "/v1/replay", url.Values{"at": {at}, "seq": {seq}}, &r); err != nil {
					return err
				}
			}
			if g.JSON() {
				return cli.PrintJSON(cmd.OutOrStdout(), r)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "state after seq %d (%s)\n", r.Seq, r.Time.Local().Format("2006-01-02 15:04:05.000"))
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSTATE\tPID\tINC\tRESTARTS\tSINCE\tCAUSE")
			for _, w := range r.Workers {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\t%s\n", termsafe.Line(w.Name), termsafe.Line(w.State), w.PID, w.Incarnation, w.Restarts,
					w.Since.Local().Format("15:04:05"), termsafe.Line(w.Cause))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&at, "at", "", "a time: 03:14:07, \"2026-03-14 03:14:07\", RFC 3339, or a duration ago (15m)")
	cmd.Flags().StringVar(&seq, "seq", "", "a seq of the log")
	cmd.Flags().StringVar(&g.db, "db", "", "read this log file instead of asking the daemon")
	g.nats.register(cmd.Flags(), true)
	return cmd
}

func newVerifyCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check the log's chain, checksums and index; name the first bad seq",
		Example: `  tend verify
  tend verify --db /tmp/copy-of-tend.db`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var rep store.Report
			what := "the daemon's log"
			if g.offline(cmd.Context()) {
				l, err := g.openDB()
				if err != nil {
					return err
				}
				defer l.Close()
				what = l.Path()
				p := newProgress("verify")
				r, err := l.Verify(p.update)
				p.done()
				if err != nil {
					return logFailure(l, err)
				}
				rep = *r
			} else {
				c, err := g.Client()
				if err != nil {
					return err
				}
				defer c.Close()
				if err := c.Get(cmd.Context(), "/v1/verify", nil, &rep); err != nil {
					return err
				}
			}
			if g.JSON() {
				_ = cli.PrintJSON(cmd.OutOrStdout(), rep)
			} else if rep.OK {
				fmt.Fprintf(cmd.OutOrStdout(), "ok: %d events, chain and checksums intact, index consistent\n", rep.Events)
			}
			switch {
			case !rep.OK && rep.Problem != "":
				return &cli.ExitError{Code: cli.ExitFailure, Err: fmt.Errorf("%s is damaged: first bad seq %d: %s (%d index problems); `tend recover` copies every whole event before it", what, rep.FirstBad, rep.Problem, rep.IndexProblems)}
			case !rep.OK:
				return &cli.ExitError{Code: cli.ExitFailure, Err: fmt.Errorf("%s: the worker index has %d problems; the records and their chain are whole", what, rep.IndexProblems)}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&g.db, "db", "", "read this log file instead of asking the daemon")
	return cmd
}

// progress shows a long offline command's progress on a terminal, and
// nothing when stderr is piped.
type progress struct {
	what string
	tty  bool
	last time.Time
}

func newProgress(what string) *progress {
	return &progress{what: what, tty: isatty.IsTerminal(os.Stderr.Fd())}
}

func (p *progress) update(done, total uint64) {
	if !p.tty || time.Since(p.last) < 100*time.Millisecond {
		return
	}
	p.last = time.Now()
	pct := 100.0
	if total > 0 {
		pct = 100 * float64(done) / float64(total)
	}
	fmt.Fprintf(os.Stderr, "\r%s: %d/%d events (%.0f%%)", p.what, done, total, pct)
}

func (p *progress) done() {
	if p.tty && !p.last.IsZero() {
		fmt.Fprint(os.Stderr, "\r\033[K")
	}
}
