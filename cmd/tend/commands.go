package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/tendhq/tend/cmd/internal/client"
	"github.com/tendhq/tend/cmd/internal/config"
	"github.com/tendhq/tend/cmd/internal/daemon"
	"github.com/tendhq/tend/cmd/internal/explain"
	"github.com/tendhq/tend/cmd/internal/metrics"
	"github.com/tendhq/tend/cmd/internal/query"
	"github.com/tendhq/tend/events"
	"github.com/tendhq/tend/fsm/replay"
	"github.com/tendhq/tend/store"
)

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

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
			path, err := g.configPath()
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
				w = zerolog.ConsoleWriter{Out: os.Stderr, TimeFormat: "15:04:05.000"}
			}
			logger := zerolog.New(w).Level(lvl).With().Timestamp().Str("svc", "tend").Logger()
			err = daemon.Run(cmd.Context(), daemon.Options{ConfigPath: path, Config: cfg, LeaveRunning: leave,
				AllowUnsafeConfig: allowUnsafe, Logger: logger})
			if errors.Is(err, store.ErrFailed) {
				// Fail-stop: the workers run on; a service manager starts
				// the daemon again, which reads the log back from disk.
				return &exitError{code: exitLogFailed, err: err}
			}
			return err
		},
	}
	cmd.Flags().BoolVar(&leave, "leave-running", false, "on SIGTERM, leave workers running for the next daemon to adopt")
	cmd.Flags().BoolVar(&allowUnsafe, "allow-unsafe-config", false, "run on a config file that users other than root and the daemon's could change (it can start anything as root)")
	return cmd
}

func newCheckCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "check",
		Short:   "Validate a config file without starting anything",
		Example: "  tend check -c tend.toml",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, err := g.configPath()
			if err != nil {
				return err
			}
			cfg, err := config.Load(path)
			if err != nil {
				return &exitError{code: exitFailure, err: err}
			}
			if _, err := daemon.Specs(cfg, nil); err != nil {
				return err
			}
			if web := cfg.Daemon.MetricsWebConfig; web != "" {
				if err := metrics.ValidateWebConfig(web); err != nil {
					return &exitError{code: exitFailure, err: fmt.Errorf("%s: daemon.metrics_web_config %s: %w", path, web, err)}
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
			if addr := cfg.Daemon.MetricsListen; addr != "" && metrics.BeyondLoopback(addr) {
				what := "without metrics_web_config: whoever reaches the port reads every worker's name and state"
				if cfg.Daemon.MetricsWebConfig != "" {
					what = "they name every worker and its state; metrics_web_config says who may read them"
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s: daemon.metrics_listen listens beyond loopback %s\n", path, what)
			}
			// No hash of the file is printed: the log records a digest
			// keyed per log, which only the daemon can compute.
			fmt.Fprintf(cmd.OutOrStdout(), "%s: ok, %d workers\n", path, len(cfg.Order))
			return nil
		},
	}
}

func since(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := time.Since(t).Round(time.Second)
	return fmt.Sprintf("%s (%s ago)", t.Local().Format("15:04:05"), d)
}

func newStatusCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "status [NAME...]",
		Short: "Show each worker's state, pid, incarnation, restarts, and why",
		Example: `  tend status
  tend status web worker-1 -o json`,
		RunE: func(cmd *cobra.Command, names []string) error {
			if err := g.checkOutput(); err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			defer c.Close()
			st, err := c.Status(cmd.Context(), names...)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if g.json() {
				return printJSON(out, st.Workers)
			}
			if st.LogFailure != "" {
				fmt.Fprintf(os.Stderr, "WARNING: the log refuses writes (%s): the daemon records nothing more and is exiting (status 74); workers keep running\n", st.LogFailure)
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSTATE\tPID\tINC\tRESTARTS\tSINCE\tWHY")
			for _, w := range st.Workers {
				why := ""
				switch {
				case w.BreakerOpen:
					why = "circuit breaker open: " + w.Cause
				case w.RestartDue != nil:
					why = "restart at " + w.RestartDue.Local().Format("15:04:05")
					if w.LastExit != nil {
						why += " after " + strings.TrimPrefix(w.LastExit.Cause, "process ")
					}
				case w.Waiting != "":
					why = w.WaitingFor + " (since " + w.WaitingSince.Local().Format("15:04:05") + ")"
				case w.State != "Running":
					why = w.Cause
					if w.LastExit != nil && (w.State == "Stopped" || w.State == "Killed") {
						why += "; last exit: " + strings.TrimPrefix(w.LastExit.Cause, "process ")
					}
				case w.Health != "":
					why = "health: " + w.Health
				case w.StatusText != "":
					why = w.StatusText
				}
				if w.NextRun != nil {
					why = strings.TrimPrefix(why+"; next run at "+w.NextRun.Local().Format("2006-01-02 15:04:05"), "; ")
				}
				pid := "-"
				if w.PID != 0 {
					pid = fmt.Sprint(w.PID)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\n", w.Name, w.State, pid, w.Incarnation, w.Restarts, since(w.Since), why)
			}
			return tw.Flush()
		},
	}
}

func newCommandCmd(g *globals, verb string) *cobra.Command {
	var all, noWait, noDeps bool
	var timeout time.Duration
	target := map[string]string{"start": "Running", "stop": "Stopped (or Killed)", "restart": "Running again"}[verb]
	cmd := &cobra.Command{
		Use:   verb + " NAME... | --all",
		Short: strings.ToUpper(verb[:1]) + verb[1:] + " workers and wait until they are " + target,
		Example: fmt.Sprintf(`  tend %s web
  tend %s --all --timeout 1m`, verb, verb),
		RunE: func(cmd *cobra.Command, names []string) error {
			if err := g.checkOutput(); err != nil {
				return err
			}
			if all == (len(names) > 0) {
				return usageErr("name workers or pass --all (not both)")
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			defer c.Close()
			// One request for every worker named: the daemon judges it as
			// one command, makes it durable in one commit and answers once.
			reply, err := c.Commands(cmd.Context(), client.CommandRequest{Verb: verb, Workers: names, All: all,
				Wait: !noWait, Timeout: timeout.String(), NoDeps: noDeps})
			if err != nil {
				return err
			}
			results := reply.Results
			names = make([]string, len(results))
			errs := make([]error, len(results))
			for i, r := range results {
				names[i] = r.Worker
				if r.Error != nil {
					errs[i] = &client.Error{ErrorBody: *r.Error}
				}
			}
			out := cmd.OutOrStdout()
			if g.json() {
				_ = printJSON(out, results)
			}
			var failed, missing int
			for i, n := range names {
				r := results[i]
				switch {
				case errs[i] != nil:
					if client.IsNoWorker(errs[i]) {
						missing++
					} else {
						failed++
					}
					fmt.Fprintf(os.Stderr, "%s: %v\n", n, errs[i])
				case !r.Reached:
					failed++
					fmt.Fprintf(os.Stderr, "%s: %s\n", n, r.Reason)
				case !g.json():
					fmt.Fprintf(out, "%s: %s (pid %d, incarnation %d)\n", n, r.Status.State, r.Status.PID, r.Status.Incarnation)
				}
			}
			switch {
			case missing > 0 && failed == 0:
				return &exitError{code: exitNoWorker, err: fmt.Errorf("%d of %d workers do not exist", missing, len(names))}
			case missing+failed > 0:
				return &exitError{code: exitFailure, err: fmt.Errorf("%s failed for %d of %d workers", verb, missing+failed, len(names))}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "every configured worker")
	cmd.Flags().BoolVar(&noWait, "no-wait", false, "return once the command is recorded")
	if verb != "start" {
		cmd.Flags().BoolVar(&noDeps, "no-deps", false, "leave the workers that depend on these alone (by default they are stopped first, or restarted too)")
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 30*time.Second, "how long to wait for the target state")
	return cmd
}

func newReloadCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "reload",
		Short: "Re-read the config: start added workers, stop removed ones, restart changed ones",
		Example: `  tend reload
  kill -HUP $(pidof tend)   # the same`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			defer c.Close()
			r, err := c.Reload(cmd.Context())
			if err != nil {
				return err
			}
			if g.json() {
				return printJSON(cmd.OutOrStdout(), r)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "reloaded (digest %.12s, seq %d): added %v, removed %v, changed %v\n", strings.TrimPrefix(r.Hash, store.DigestPrefix), r.Seq, r.Added, r.Removed, r.Changed)
			return nil
		},
	}
}

// eventTable prints events for people.
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
			line += e.Worker + "\t"
		}
		fmt.Fprintf(tw, "%s%d\t%s\t%s\t%s\t%s\n", line, e.Incarnation, e.Type, tr, e.Actor, e.Cause)
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
  tend history web --db /tmp/copy-of-tend.db   # postmortem on a copy`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := g.checkOutput(); err != nil {
				return err
			}
			var from time.Time
			if sinceFlag != "" {
				t, err := query.ParseTime(sinceFlag, time.Now())
				if err != nil {
					return usageErr("--since: %v", err)
				}
				from = t
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
					return &exitError{code: exitNoWorker, err: fmt.Errorf("no worker %q in %s", args[0], l.Path())}
				}
				evs = toJSON(raw)
			} else {
				c, err := g.client()
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
			if g.json() {
				return printJSON(cmd.OutOrStdout(), evs)
			}
			return eventTable(cmd.OutOrStdout(), evs, false)
		},
	}
	cmd.Flags().StringVar(&sinceFlag, "since", "", "only events after this (a duration like 1h, or a time)")
	cmd.Flags().IntVar(&limit, "limit", 1000, "at most this many of the newest events")
	cmd.Flags().StringVar(&g.db, "db", "", "read this log file instead of asking the daemon")
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
  tend why web --db /var/lib/tend/tend.db`,
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
				c, err := g.client()
				if err != nil {
					return err
				}
				defer c.Close()
				if err := c.Get(cmd.Context(), "/v1/why/"+url.PathEscape(args[0]), nil, &a); err != nil {
					return err
				}
			}
			if g.json() {
				return printJSON(cmd.OutOrStdout(), a)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "%s is %s\n", a.Worker, a.Summary)
			for _, s := range a.Chain {
				fmt.Fprintf(out, "  seq %-8d %s\n", s.Seq, s.Text)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&g.db, "db", "", "read this log file instead of asking the daemon")
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
					return usageErr("--type: %v", err)
				}
			}
			var t time.Time
			if sinceFlag != "" {
				var err error
				if t, err = query.ParseTime(sinceFlag, time.Now()); err != nil {
					return usageErr("--since: %v", err)
				}
			}
			out := cmd.OutOrStdout()
			var batch []events.JSON
			emit := func(e events.JSON) error {
				if g.json() {
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
					return usageErr("--follow needs a running daemon")
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
				c, err := g.client()
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
	var follow, stderr, raw bool
	var lines int
	cmd := &cobra.Command{
		Use:   "logs NAME",
		Short: "A worker's stdout (or stderr), control characters escaped",
		Example: `  tend logs web -n 100
  tend logs web --stderr -f`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			defer c.Close()
			if raw {
				return c.Logs(cmd.Context(), args[0], stderr, follow, lines, cmd.OutOrStdout())
			}
			esc := &escaper{w: cmd.OutOrStdout()}
			err = c.Logs(cmd.Context(), args[0], stderr, follow, lines, esc)
			if ferr := esc.Flush(); err == nil {
				err = ferr
			}
			return err
		},
	}
	cmd.Flags().BoolVar(&raw, "raw", false, "print the bytes as the worker wrote them, control characters included")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing what the worker writes")
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
  tend replay --seq 4211 -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if at == "" && seq == "" {
				return usageErr("give --at TIME or --seq N")
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
					return usageErr("%v", err)
				} else if err != nil {
					return logFailure(l, err)
				}
			} else {
				c, err := g.client()
				if err != nil {
					return err
				}
				defer c.Close()
				if err := c.Get(cmd.Context(), "/v1/replay", url.Values{"at": {at}, "seq": {seq}}, &r); err != nil {
					return err
				}
			}
			if g.json() {
				return printJSON(cmd.OutOrStdout(), r)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "state after seq %d (%s)\n", r.Seq, r.Time.Local().Format("2006-01-02 15:04:05.000"))
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSTATE\tPID\tINC\tRESTARTS\tSINCE\tCAUSE")
			for _, w := range r.Workers {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\t%s\n", w.Name, w.State, w.PID, w.Incarnation, w.Restarts,
					w.Since.Local().Format("15:04:05"), w.Cause)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&at, "at", "", "a time: 03:14:07, \"2026-03-14 03:14:07\", RFC 3339, or a duration ago (15m)")
	cmd.Flags().StringVar(&seq, "seq", "", "a seq of the log")
	cmd.Flags().StringVar(&g.db, "db", "", "read this log file instead of asking the daemon")
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
				c, err := g.client()
				if err != nil {
					return err
				}
				defer c.Close()
				if err := c.Get(cmd.Context(), "/v1/verify", nil, &rep); err != nil {
					return err
				}
			}
			if g.json() {
				_ = printJSON(cmd.OutOrStdout(), rep)
			} else if rep.OK {
				fmt.Fprintf(cmd.OutOrStdout(), "ok: %d events, chain and checksums intact, index consistent\n", rep.Events)
			}
			switch {
			case !rep.OK && rep.Problem != "":
				return &exitError{code: exitFailure, err: fmt.Errorf("%s is damaged: first bad seq %d: %s (%d index problems); `tend recover` copies every whole event before it", what, rep.FirstBad, rep.Problem, rep.IndexProblems)}
			case !rep.OK:
				return &exitError{code: exitFailure, err: fmt.Errorf("%s: the worker index has %d problems; the records and their chain are whole", what, rep.IndexProblems)}
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
