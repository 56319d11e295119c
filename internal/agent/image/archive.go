package image

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// ErrNotImageArchive is returned by Inspect for input that is not a tar
// archive holding an OCI image layout or a docker-archive image.
var ErrNotImageArchive = errors.New("not an image archive (want an OCI layout or a docker save tarball)")

// Format is the layout of an image tarball.
type Format string

const (
	// FormatOCI is an OCI image layout: oci-layout and index.json.
	FormatOCI Format = "oci"
	// FormatDocker is what `docker save` writes: manifest.json.
	FormatDocker Format = "docker"
)

// Archive is what Inspect learnt about an image tarball.
type Archive struct {
	Format Format
	// Names are the image references the tarball carries, in its order:
	// io.containerd.image.name or the ref.name tag for OCI, RepoTags for
	// docker-archive. Untagged images are not listed.
	Names []string
}

// maxMetadata bounds how much of index.json or manifest.json is read: a
// real one is a few KiB, and a hostile one must not exhaust memory.
const maxMetadata = 4 << 20

// Inspect reads a tar stream to find its image format and names. It reads
// the whole stream, skipping file contents, so a truncated or corrupt tar
// is reported here rather than half-way through an import.
func Inspect(r io.Reader) (Archive, error) {
	tr := tar.NewReader(r)
	var a Archive
	var sawLayout, sawIndex, sawManifest bool
	var entries int
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if entries == 0 {
				return Archive{}, fmt.Errorf("%w: %v", ErrNotImageArchive, err)
			}
			return Archive{}, fmt.Errorf("reading the tar archive: %w", err)
		}
		entries++
		name := strings.TrimPrefix(hdr.Name, "./")
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		switch name {
		case "oci-layout":
			sawLayout = true
		case "index.json":
			names, err := indexNames(tr)
			if err != nil {
				return Archive{}, fmt.Errorf("index.json: %w", err)
			}
			sawIndex = true
			a.Names = names
		case "manifest.json":
			names, err := dockerNames(tr)
			if err != nil {
				return Archive{}, fmt.Errorf("manifest.json: %w", err)
			}
			sawManifest = true
			if !sawIndex {
				a.Names = names
			}
		}
	}
	switch {
	case sawIndex && sawLayout:
		a.Format = FormatOCI
	case sawManifest:
		a.Format = FormatDocker
	case sawIndex:
		return Archive{}, fmt.Errorf("%w: index.json without oci-layout", ErrNotImageArchive)
	default:
		return Archive{}, ErrNotImageArchive
	}
	return a, nil
}

// InspectFile is Inspect on a file, with the file named in its errors.
func InspectFile(name string) (Archive, error) {
	f, err := os.Open(name)
	if err != nil {
		return Archive{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Archive{}, err
	}
	if !st.Mode().IsRegular() {
		return Archive{}, fmt.Errorf("%s: not a regular file", name)
	}
	a, err := Inspect(f)
	if err != nil {
		return Archive{}, fmt.Errorf("%s: %w", name, err)
	}
	return a, nil
}

func readMetadata(r io.Reader, v any) error {
	data, err := io.ReadAll(io.LimitReader(r, maxMetadata+1))
	if err != nil {
		return err
	}
	if len(data) > maxMetadata {
		return fmt.Errorf("larger than %d bytes", maxMetadata)
	}
	return json.Unmarshal(data, v)
}

func indexNames(r io.Reader) ([]string, error) {
	var idx struct {
		Manifests []struct {
			Annotations map[string]string `json:"annotations"`
		} `json:"manifests"`
	}
	if err := readMetadata(r, &idx); err != nil {
		return nil, err
	}
	var names []string
	for _, m := range idx.Manifests {
		if n := m.Annotations[annotationImageName]; n != "" {
			names = append(names, n)
		} else if n := m.Annotations[annotationRefName]; n != "" {
			names = append(names, n)
		}
	}
	return names, nil
}

func dockerNames(r io.Reader) ([]string, error) {
	var manifest []struct {
		RepoTags []string `json:"RepoTags"`
	}
	if err := readMetadata(r, &manifest); err != nil {
		return nil, err
	}
	var names []string
	for _, m := range manifest {
		names = append(names, m.RepoTags...)
	}
	return names, nil
}
