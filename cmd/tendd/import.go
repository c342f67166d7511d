package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/tendhq/tend/cmd/internal/supervisord/importer"
)

func newImportCmd(g *globals) *cobra.Command {
	var out string
	var instances bool
	cmd := &cobra.Command{
		Use:   "import supervisord.conf [-o tend.toml]",
		Short: "Convert a supervisord configuration into tend.toml",
		Long: `Convert a supervisord configuration ([program:x] sections, [include] files,
%(here)s / %(ENV_X)s / %(program_name)s / %(process_num)s expansions,
numprocs) into an equivalent tend.toml. What has no tend equivalent (event
listeners, fcgi programs, the inet http server, unknown keys) is reported
line by line on stderr, naming the file and line; nothing is dropped
silently. The output passes tend check.

With --instances, a program with numprocs > 1 whose processes differ only by
their number becomes one worker with instances = N ({instance} where
%(process_num)s was), so tend scale works on it; its processes are then
named NAME@1 … NAME@N, also in supervisorctl, instead of by process_name.`,
		Example: `  tend import /etc/supervisor/supervisord.conf -o /etc/tend/tend.toml
  tend import supervisord.conf > tend.toml`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			toml, warnings, err := importer.ConvertWith(args[0], importer.Options{Instances: instances})
			if err != nil {
				return err
			}
			for _, w := range warnings {
				fmt.Fprintln(os.Stderr, "warning:", w.String())
			}
			if out == "" && g.Output != "table" && g.Output != "json" {
				out = g.Output // -o FILE, as for report
			}
			if out == "" {
				_, err = cmd.OutOrStdout().Write(toml)
				return err
			}
			if err := os.WriteFile(out, toml, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "wrote %s (%d warnings)\n", out, len(warnings))
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "write here instead of stdout")
	cmd.Flags().BoolVar(&instances, "instances", false, "write numprocs as instances = N where the processes differ only by their number (renames them NAME@1 …)")
	return cmd
}
