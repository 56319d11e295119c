package image

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/bosun-sh/bosun/internal/atomicfile"
)

// Added says what Add did with one tarball.
type Added struct {
	File  string
	Names []string
	// QueuedAs is set when containerd was not answering: the tarball was
	// copied there, to be imported when the agent starts.
	QueuedAs string
}

// Add makes image tarballs available to a node, as `bosun image import`
// does: into its containerd at address when that answers, else into its
// images directory dir for the agent to import at start. Every file is checked to be a readable image tarball first, so
// bad input changes nothing.
func Add(ctx context.Context, address, dir string, files []string) ([]Added, error) {
	if len(files) == 0 {
		return nil, fmt.Errorf("no image tarball given")
	}
	added := make([]Added, 0, len(files))
	for _, f := range files {
		a, err := InspectFile(f)
		if err != nil {
			return nil, err
		}
		added = append(added, Added{File: f, Names: a.Names})
	}
	if Reachable(ctx, address) {
		for i, a := range added {
			if err := Import(ctx, address, a.File); err != nil {
				return added[:i], err
			}
		}
		return added, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("images directory: %w", err)
	}
	for i := range added {
		name := filepath.Base(added[i].File)
		if !strings.HasSuffix(name, ".tar") {
			name += ".tar"
		}
		dst := filepath.Join(dir, name)
		if err := copyFile(added[i].File, dst); err != nil {
			return added[:i], fmt.Errorf("copying %s into %s: %w", added[i].File, dir, err)
		}
		added[i].QueuedAs = dst
	}
	return added, nil
}

// copyFile copies src to dst through a temporary file, so the agent
// never imports half a tarball.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	return atomicfile.Write(dst, in, 0o644)
}
