package main

import (
	"io"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/bosun-sh/bosun/internal/agent"
)

func newUninstallCommand(stderr io.Writer) *cobra.Command {
	var dataDir string
	var keepData bool
	cmd := &cobra.Command{
		Use:   "uninstall",
		Short: "Remove every pod, container, mount, interface and rule a stopped bosun server or agent created, and its data directory",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
			return agent.Uninstall(cmd.Context(), dataDir, !keepData, log)
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", "/var/lib/bosun", "data directory of the server or agent to remove")
	cmd.Flags().BoolVar(&keepData, "keep-data", false, "keep the data directory (cluster state, certificates); remove only what runs")
	return cmd
}
