package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/tendhq/tend/cmd/internal/supervisord/importer"
)

func newImportCmd(g *globals) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "import supervisord.conf [-o tend.toml]",
		Short: "Convert a supervisord configuration into tend.toml",
		Long: `Convert a supervisord configuration ([program:x] sections, [include] files,
%(here)s / %(ENV_X)s / %(program_name)s / %(process_num)s expansions,
numprocs) into an equivalent tend.toml. What has no tend equivalent (event
listeners, fcgi programs, the inet http server, unknown keys) is reported
line by line on stderr, naming the file and line; nothing is dropped
silently. The output passes tend check.`,
		Example: `  tend import /etc/supervisor/supervisord.conf -o /etc/tend/tend.toml
  tend import supervisord.conf > tend.toml`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			toml, warnings, err := importer.Convert(args[0])
			if err != nil {
				return err
			}
			for _, w := range warnings {
				fmt.Fprintln(os.Stderr, "warning:", w.String())
			}
			if out == "" && g.output != "table" && g.output != "json" {
				out = g.output // -o FILE, as for report
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
	return cmd
}
