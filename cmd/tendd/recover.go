package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tendhq/tend/cmd/internal/cli"
	"github.com/tendhq/tend/fsm"
	"github.com/tendhq/tend/fsm/replay"
	"github.com/tendhq/tend/store"
)

func newRecoverCmd(g *globals) *cobra.Command {
	var db, out string
	cmd := &cobra.Command{
		Use:   "recover --db FILE --out NEW",
		Short: "Copy every whole, chain-valid event of a damaged log into a new file",
		Long: `Copy every whole, chain-valid event of a damaged log, from seq 1 up to the
first bad one, into a new file, and report what was left behind. The damaged
file is opened read-only and never modified. Point the daemon at the new file
(move it to STATE_DIR/tend.db) once you have kept the original for study.`,
		Example: `  tend recover --db /var/lib/tend/tend.db --out /var/lib/tend/tend.db.recovered`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if db == "" || out == "" {
				return cli.UsageErr("recover needs --db FILE and --out NEW")
			}
			p := newProgress("recover")
			rep, err := store.Recover(db, out, p.update)
			p.done()
			if err != nil {
				return err
			}
			if g.JSON() {
				return cli.PrintJSON(cmd.OutOrStdout(), rep)
			}
			w := cmd.OutOrStdout()
			if rep.Copied == 0 {
				fmt.Fprintf(w, "copied no events from %s to %s: the first record could not be read\n", db, out)
			} else {
				fmt.Fprintf(w, "copied %d events (seq 1..%d) from %s to %s\n", rep.Copied, rep.LastSeq, db, out)
			}
			if rep.FirstBad != 0 {
				fmt.Fprintf(w, "dropped %d records from seq %d on: %s\n", rep.Dropped, rep.FirstBad, rep.Problem)
			} else {
				fmt.Fprintln(w, "nothing dropped: the source log was whole")
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&db, "db", "", "the damaged log (opened read-only)")
	cmd.Flags().StringVar(&out, "out", "", "the new log to write (must not exist)")
	return cmd
}

// replayWorker folds a log and returns one worker's state.
func replayWorker(l *store.Log, name string) (*fsm.Worker, error) {
	w, _, err := replay.World(l, 0)
	if err != nil {
		return nil, err
	}
	wk := w.Worker(name)
	if wk == nil {
		return nil, &cli.ExitError{Code: cli.ExitNoWorker, Err: fmt.Errorf("no worker %q in %s", name, l.Path())}
	}
	return wk, nil
}
