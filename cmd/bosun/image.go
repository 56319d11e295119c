package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bosun-sh/bosun/internal/agent"
	"github.com/bosun-sh/bosun/internal/agent/image"
	"github.com/bosun-sh/bosun/internal/agent/runtime"
)

func newImageCommand(stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Manage the container images of this node",
	}
	cmd.SetErr(stderr)
	dataDir := "/var/lib/bosun"
	imp := &cobra.Command{
		Use:   "import [--data-dir DIR] FILE.tar...",
		Short: "Import OCI or docker-archive image tarballs into this node's container runtime",
		Long: `Import OCI or docker-archive image tarballs (as written by "docker save" or
"ctr images export") into this node's containerd. When the agent is not
running, the tarballs are copied into DATA_DIR/agent/images/ and imported
when it starts.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			socket := runtime.Socket(agent.ContainerdDir(dataDir))
			added, err := image.Add(cmd.Context(), socket, agent.ImagesDir(dataDir), files)
			for _, a := range added {
				names := strings.Join(a.Names, ", ")
				if names == "" {
					names = "untagged image"
				}
				if a.QueuedAs != "" {
					fmt.Fprintf(stdout, "%s: copied to %s; the agent imports %s when it starts\n", a.File, a.QueuedAs, names)
				} else {
					fmt.Fprintf(stdout, "%s: imported %s\n", a.File, names)
				}
			}
			return err
		},
	}
	imp.Flags().StringVar(&dataDir, "data-dir", dataDir, "data directory of the node")
	cmd.AddCommand(imp)
	return cmd
}
