package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/tendhq/tend/cmd/internal/cli"
	"github.com/tendhq/tend/cmd/internal/client"
	"github.com/tendhq/tend/cmd/internal/config"
	"github.com/tendhq/tend/cmd/internal/fleet"
	"github.com/tendhq/tend/cmd/internal/natsio"
	"github.com/tendhq/tend/cmd/internal/query"
	"github.com/tendhq/tend/cmd/internal/termsafe"
	"github.com/tendhq/tend/store"
)

// natsFlags say which stream to read and how to reach it. What they leave
// out comes from the config's [export.nats], when there is one: an
// operator's host reads the stream its own daemon exports to.
type natsFlags struct {
	url, host, log, stream, subject, creds, nkey, user, passwordFile, passwordEnv, tlsCA, tlsCert, tlsKey string
}

func (f *natsFlags) register(fs *pflag.FlagSet, forHost bool) {
	fs.StringVar(&f.url, "nats", "", "read the stream on this NATS server (nats://HOST:4222) instead of a local log")
	if forHost {
		fs.StringVar(&f.host, "host", "", "with --nats: the host whose log to read")
		fs.StringVar(&f.log, "log", "", "with --nats: that host's log with this id (default: its current one)")
	}
	fs.StringVar(&f.stream, "stream", "", "with --nats: the stream (default: [export.nats] stream, or TEND)")
	fs.StringVar(&f.subject, "subject", "", "with --nats: the subject prefix (default: [export.nats] subject, or tend)")
	fs.StringVar(&f.creds, "creds", "", "with --nats: a NATS credentials file")
	fs.StringVar(&f.nkey, "nkey", "", "with --nats: an nkey seed file")
	fs.StringVar(&f.user, "user", "", "with --nats: a user name (with --password-file or --password-env)")
	fs.StringVar(&f.passwordFile, "password-file", "", "with --nats: a file holding the password")
	fs.StringVar(&f.passwordEnv, "password-env", "", "with --nats: a variable holding the password")
	fs.StringVar(&f.tlsCA, "tls-ca", "", "with --nats: CA certificates to trust")
	fs.StringVar(&f.tlsCert, "tls-cert", "", "with --nats: a client certificate (with --tls-key)")
	fs.StringVar(&f.tlsKey, "tls-key", "", "with --nats: the client certificate's key")
}

// options are the flags over the config's [export.nats], over the defaults.
func (f *natsFlags) options(g *globals) (natsio.Options, string, string) {
	o := natsio.Options{Name: "tend fleet"}
	stream, subject := config.DefaultExportStream, config.DefaultExportSubject
	if path, err := g.ConfigPath(); err == nil {
		if data, err := os.ReadFile(path); err == nil {
			if cfg, err := config.Parse(path, data); err == nil && cfg.Export.NATS != nil {
				n := cfg.Export.NATS
				o = natsio.Options{Name: o.Name, URL: n.URL, Creds: n.Creds, NKey: n.NKey, User: n.User, PasswordFile: n.PasswordFile,
					PasswordEnv: n.PasswordEnv, TLSCA: n.TLSCA, TLSCert: n.TLSCert, TLSKey: n.TLSKey}
				stream, subject = n.Stream, n.Subject
			}
		}
	}
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&o.URL, f.url)
	set(&stream, f.stream)
	set(&subject, f.subject)
	if f.creds != "" || f.nkey != "" || f.user != "" {
		o.Creds, o.NKey, o.User, o.PasswordFile, o.PasswordEnv = f.creds, f.nkey, f.user, f.passwordFile, f.passwordEnv
	}
	set(&o.TLSCA, f.tlsCA)
	set(&o.TLSCert, f.tlsCert)
	set(&o.TLSKey, f.tlsKey)
	return o, stream, subject
}

// source connects to the stream the flags name.
func (f *natsFlags) source(g *globals) (fleet.Source, func(), error) {
	o, stream, subject := f.options(g)
	if o.URL == "" {
		return fleet.Source{}, nil, cli.UsageErr("give --nats URL (or [export.nats] url in the config)")
	}
	nc, err := natsio.Connect(o, nats.Timeout(5*time.Second), nats.MaxReconnects(0),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			fmt.Fprintf(os.Stderr, "tend: NATS server: %v\n", err)
		}))
	if err != nil {
		return fleet.Source{}, nil, &cli.ExitError{Code: cli.ExitFailure, Err: err}
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return fleet.Source{}, nil, err
	}
	return fleet.Source{JS: js, Stream: stream, Prefix: subject}, nc.Close, nil
}

// pull rebuilds the log of the flags' host from the stream in a private
// temporary file, opened read-only; it is removed when the command ends.
func (f *natsFlags) pull(ctx context.Context, g *globals) (*store.Log, error) {
	if f.host == "" {
		return nil, cli.UsageErr("--nats needs --host: the host whose log to read")
	}
	src, closeConn, err := f.source(g)
	if err != nil {
		return nil, err
	}
	defer closeConn()
	logs, err := src.Read(ctx, f.host)
	if err != nil {
		return nil, &cli.ExitError{Code: cli.ExitFailure, Err: err}
	}
	l, err := fleet.Pick(logs, f.host, f.log)
	if err != nil {
		return nil, &cli.ExitError{Code: cli.ExitFailure, Err: err}
	}
	path, cleanup, err := fleet.PullToTemp(l)
	if err != nil {
		return nil, &cli.ExitError{Code: cli.ExitFailure, Err: err}
	}
	g.cleanups = append(g.cleanups, cleanup)
	lg, err := store.Open(path, store.Options{ReadOnly: true})
	if err != nil {
		cleanup()
		return nil, &cli.ExitError{Code: cli.ExitFailure, Err: err}
	}
	return lg, nil
}

func newFleetCmd(g *globals) *cobra.Command {
	nf := &natsFlags{}
	cmd := &cobra.Command{
		Use:   "fleet",
		Short: "Read the stream every host exports its log to: states and proofs for the whole fleet",
		Long: `Read the NATS JetStream stream the daemons of many hosts export their logs to
([export.nats]). Nothing runs but the command: it reads the stream anew each
time. The connection comes from the flags, or else from the config's
[export.nats].`,
	}
	nf.register(cmd.PersistentFlags(), false)
	cmd.AddCommand(newFleetStatusCmd(g, nf), newFleetVerifyCmd(g, nf))
	return cmd
}

func newFleetStatusCmd(g *globals, nf *natsFlags) *cobra.Command {
	var lag, silent time.Duration
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Every host's workers and states from its newest events; hosts that lag, went silent or are damaged are flagged",
		Example: `  tend fleet status --nats nats://nats.internal:4222
  tend fleet status -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := g.CheckOutput(); err != nil {
				return err
			}
			src, closeConn, err := nf.source(g)
			if err != nil {
				return err
			}
			defer closeConn()
			logs, err := src.Read(cmd.Context(), "")
			if err != nil {
				return &cli.ExitError{Code: cli.ExitFailure, Err: err}
			}
			beats, err := fleet.Heartbeats(cmd.Context(), src.JS, src.Stream)
			if err != nil {
				fmt.Fprintf(os.Stderr, "tend: heartbeats unreadable: %v\n", err)
			}
			hosts := fleet.Status(logs, beats, fleet.StatusOptions{Lag: lag, Silent: silent})
			if g.JSON() {
				type hostJSON struct {
					fleet.HostState
					Workers []client.WorkerStatus `json:"workers"`
				}
				out := make([]hostJSON, len(hosts))
				for i, h := range hosts {
					out[i] = hostJSON{HostState: h, Workers: []client.WorkerStatus{}}
					for j := range h.Workers {
						out[i].Workers = append(out[i].Workers, query.WorkerStatus(&h.Workers[j]))
					}
				}
				return cli.PrintJSON(cmd.OutOrStdout(), out)
			}
			fleetTable(cmd.OutOrStdout(), hosts)
			return nil
		},
	}
	cmd.Flags().DurationVar(&lag, "lag", time.Minute, "flag a host whose export lags more than this")
	cmd.Flags().DurationVar(&silent, "silent", 0, "flag a host whose exporter has not been heard from for this long (default: three heartbeats)")
	return cmd
}

func fleetTable(w io.Writer, hosts []fleet.HostState) {
	if len(hosts) == 0 {
		fmt.Fprintln(w, "the stream holds no host's events")
		return
	}
	for i, h := range hosts {
		if i > 0 {
			fmt.Fprintln(w)
		}
		line := fmt.Sprintf("HOST %s  log %.8s  seq %d", termsafe.Line(h.Host), termsafe.Line(h.Log), h.Seq)
		if !h.LastEvent.IsZero() {
			line += "  last event " + cli.Since(h.LastEvent)
		}
		if hb := h.Heartbeat; hb != nil {
			line += fmt.Sprintf("  export: lag %d events (%.1fs), heard from %s", hb.LagEvents, hb.LagSeconds, cli.Since(hb.Time))
		}
		if len(h.Flags) > 0 {
			line += "  [" + strings.Join(h.Flags, ", ") + "]"
		}
		fmt.Fprintln(w, line)
		if h.Problem != "" {
			fmt.Fprintf(w, "  damaged: %s\n", termsafe.Line(h.Problem))
		}
		if len(h.OlderLogs) > 0 {
			fmt.Fprintf(w, "  earlier logs in the stream: %s\n", strings.Join(h.OlderLogs, ", "))
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  NAME\tSTATE\tPID\tINC\tRESTARTS\tSINCE\tCAUSE")
		for _, wk := range h.Workers {
			pid := "-"
			if wk.PID != 0 {
				pid = fmt.Sprint(wk.PID)
			}
			// A host's stream is as hostile as its workers.
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%d\t%d\t%s\t%s\n", termsafe.Line(wk.Name), wk.State, pid, wk.Incarnation, wk.Restarts, cli.Since(wk.Since), termsafe.Line(wk.Cause))
		}
		tw.Flush()
	}
}

func newFleetVerifyCmd(g *globals, nf *natsFlags) *cobra.Command {
	var host string
	cmd := &cobra.Command{
		Use:   "verify [--host H]",
		Short: "Check each host's chain in the stream: gaps, reordering, duplicates, tampering; name the first bad seq",
		Example: `  tend fleet verify --nats nats://nats.internal:4222
  tend fleet verify --host web-3 -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := g.CheckOutput(); err != nil {
				return err
			}
			src, closeConn, err := nf.source(g)
			if err != nil {
				return err
			}
			defer closeConn()
			logs, err := src.Read(cmd.Context(), host)
			if err != nil {
				return &cli.ExitError{Code: cli.ExitFailure, Err: err}
			}
			if host != "" && len(logs) == 0 {
				return &cli.ExitError{Code: cli.ExitFailure, Err: fmt.Errorf("the stream holds no events of host %s", host)}
			}
			reps := make([]*fleet.Report, 0, len(logs))
			bad := 0
			for _, l := range logs {
				r := fleet.Verify(l)
				if !r.OK {
					bad++
				}
				reps = append(reps, r)
			}
			out := cmd.OutOrStdout()
			if g.JSON() {
				_ = cli.PrintJSON(out, reps)
			} else {
				for _, r := range reps {
					if r.OK {
						fmt.Fprintf(out, "ok: host %s log %.8s: %d events (seq 1..%d), chain and checksums intact, each once, in order\n", termsafe.Line(r.Host), termsafe.Line(r.Log), r.Events, r.Last)
					} else {
						fmt.Fprintf(out, "DAMAGED: host %s log %.8s: first bad seq %d: %s (%d messages, %d duplicates, %d reordered)\n",
							termsafe.Line(r.Host), termsafe.Line(r.Log), r.FirstBad, termsafe.Line(r.Problem), r.Messages, r.Duplicates, r.Reordered)
					}
				}
			}
			if bad > 0 {
				return &cli.ExitError{Code: cli.ExitFailure, Err: fmt.Errorf("%d of %d logs in stream %s are not whole", bad, len(reps), src.Stream)}
			}
			if len(reps) == 0 {
				fmt.Fprintln(out, "the stream holds no host's events")
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&host, "host", "", "only this host's logs")
	return cmd
}

// errNATSWithDB: the two sources of a log exclude each other.
var errNATSWithDB = errors.New("give --db FILE or --nats URL --host H, not both")
