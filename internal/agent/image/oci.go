// Package image owns the container images a node needs without a registry:
// it writes OCI image-layout tarballs from a list of files (the sandbox
// "pause" image is generated here, down to its ELF executable), reads
// enough of an image tarball to name what it holds, and imports tarballs
// into the node's containerd, including the air-gap directory
// DATA_DIR/agent/images/.
package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"runtime"
	"sort"
	"strings"
	"time"
)

// Media types and annotations of the OCI image spec, and the one
// annotation containerd reads to name an imported image.
const (
	mediaTypeIndex     = "application/vnd.oci.image.index.v1+json"
	mediaTypeManifest  = "application/vnd.oci.image.manifest.v1+json"
	mediaTypeConfig    = "application/vnd.oci.image.config.v1+json"
	mediaTypeLayer     = "application/vnd.oci.image.layer.v1.tar"
	mediaTypeLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip"

	annotationRefName   = "org.opencontainers.image.ref.name"
	annotationImageName = "io.containerd.image.name"
)

// DefaultPath is the PATH an image gets when its Config sets no PATH.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// epoch is the modification time of every tar entry and the image's
// creation time: fixed, so the same files always give the same digests.
var epoch = time.Unix(0, 0).UTC()

// Config is the part of an OCI image configuration that bosun's images set.
type Config struct {
	Entrypoint []string
	Cmd        []string
	// Env holds KEY=VALUE pairs; PATH=DefaultPath is added when no PATH is given.
	Env        []string
	WorkingDir string
	User       string
	Labels     map[string]string
}

// FileType is the kind of a layer entry.
type FileType int

const (
	// TypeFile is a regular file whose content is File.Data or, when
	// File.HostPath is set, the content of that host file.
	TypeFile FileType = iota
	// TypeDir is a directory.
	TypeDir
	// TypeSymlink is a symbolic link to File.Target.
	TypeSymlink
)

// File is one entry of an image layer. Parent directories that are not
// listed are added with mode 0755.
type File struct {
	// Path is the absolute path inside the image, such as "/bin/sh".
	Path string
	Type FileType
	// Mode holds the permission bits, and fs.ModeSetuid, fs.ModeSetgid and
	// fs.ModeSticky where wanted. Zero means 0644 for files, 0755 for
	// directories; symlinks are always 0777.
	Mode     fs.FileMode
	Data     []byte
	HostPath string
	Target   string
	UID, GID int
}

// RegularFile is a TypeFile entry with the given content.
func RegularFile(p string, mode fs.FileMode, data []byte) File {
	return File{Path: p, Type: TypeFile, Mode: mode, Data: data}
}

// HostFile is a TypeFile entry copied from hostPath when the layer is written.
func HostFile(p string, mode fs.FileMode, hostPath string) File {
	return File{Path: p, Type: TypeFile, Mode: mode, HostPath: hostPath}
}

// Dir is a TypeDir entry.
func Dir(p string, mode fs.FileMode) File {
	return File{Path: p, Type: TypeDir, Mode: mode}
}

// Symlink is a TypeSymlink entry pointing at target.
func Symlink(p, target string) File {
	return File{Path: p, Type: TypeSymlink, Target: target}
}

// Image is one image of an OCI layout: its reference, configuration and
// the entries of its single layer.
type Image struct {
	// Ref is the full reference, such as "bosun.local/pause:1".
	Ref    string
	Config Config
	Files  []File
	// Uncompressed stores the layer as a plain tar instead of gzip: bigger,
	// but quicker to write and to unpack.
	Uncompressed bool
}

// WriteOCI writes an OCI image-layout tarball holding one image named ref
// with a gzip'd layer made of files. The output depends only on the
// arguments (and the content of host files), never on the clock.
func WriteOCI(w io.Writer, ref string, cfg Config, files []File) error {
	return WriteImages(w, []Image{{Ref: ref, Config: cfg, Files: files}})
}

// WriteImages writes one OCI image-layout tarball holding every image in
// imgs, each listed in index.json under its reference. containerd's
// importer names each image after its io.containerd.image.name annotation.
func WriteImages(w io.Writer, imgs []Image) error {
	if len(imgs) == 0 {
		return errors.New("no image to write")
	}
	out := layoutWriter{tw: tar.NewWriter(w), written: map[string]bool{}}
	if err := out.dir("blobs/"); err != nil {
		return err
	}
	if err := out.dir("blobs/sha256/"); err != nil {
		return err
	}
	index := ociIndex{SchemaVersion: 2, MediaType: mediaTypeIndex}
	for _, img := range imgs {
		desc, err := out.image(img)
		if err != nil {
			return fmt.Errorf("image %q: %w", img.Ref, err)
		}
		index.Manifests = append(index.Manifests, desc)
	}
	layout, _ := json.Marshal(map[string]string{"imageLayoutVersion": "1.0.0"})
	if err := out.file("oci-layout", layout); err != nil {
		return err
	}
	indexJSON, err := json.Marshal(index)
	if err != nil {
		return fmt.Errorf("encoding index.json: %w", err)
	}
	if err := out.file("index.json", indexJSON); err != nil {
		return err
	}
	if err := out.tw.Close(); err != nil {
		return fmt.Errorf("finishing the image archive: %w", err)
	}
	return nil
}

// The JSON documents of the OCI image spec, reduced to the fields bosun writes.
type (
	descriptor struct {
		MediaType   string            `json:"mediaType"`
		Digest      string            `json:"digest"`
		Size        int64             `json:"size"`
		Annotations map[string]string `json:"annotations,omitempty"`
	}
	ociIndex struct {
		SchemaVersion int          `json:"schemaVersion"`
		MediaType     string       `json:"mediaType,omitempty"`
		Manifests     []descriptor `json:"manifests"`
	}
	ociManifest struct {
		SchemaVersion int          `json:"schemaVersion"`
		MediaType     string       `json:"mediaType"`
		Config        descriptor   `json:"config"`
		Layers        []descriptor `json:"layers"`
	}
	ociConfig struct {
		Created      string          `json:"created"`
		Architecture string          `json:"architecture"`
		OS           string          `json:"os"`
		Config       ociImageConfig  `json:"config"`
		RootFS       ociRootFS       `json:"rootfs"`
		History      []ociHistoryRow `json:"history,omitempty"`
	}
	ociImageConfig struct {
		User       string            `json:"User,omitempty"`
		Env        []string          `json:"Env,omitempty"`
		Entrypoint []string          `json:"Entrypoint,omitempty"`
		Cmd        []string          `json:"Cmd,omitempty"`
		WorkingDir string            `json:"WorkingDir,omitempty"`
		Labels     map[string]string `json:"Labels,omitempty"`
	}
	ociRootFS struct {
		Type    string   `json:"type"`
		DiffIDs []string `json:"diff_ids"`
	}
	ociHistoryRow struct {
		Created   string `json:"created"`
		CreatedBy string `json:"created_by"`
	}
)

// layoutWriter writes the entries of an OCI layout into one tar stream.
type layoutWriter struct {
	tw *tar.Writer
	// written holds the blobs already in the archive: two images may share one.
	written map[string]bool
}

func (l *layoutWriter) dir(name string) error {
	hdr := &tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755, ModTime: epoch, Format: tar.FormatPAX}
	if err := l.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	return nil
}

func (l *layoutWriter) file(name string, data []byte) error {
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: epoch, Format: tar.FormatPAX}
	if err := l.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	if _, err := l.tw.Write(data); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	return nil
}

// blob stores data under blobs/sha256/ and describes it.
func (l *layoutWriter) blob(mediaType string, data []byte) (descriptor, error) {
	sum := sha256.Sum256(data)
	hexSum := hex.EncodeToString(sum[:])
	desc := descriptor{MediaType: mediaType, Digest: "sha256:" + hexSum, Size: int64(len(data))}
	if l.written[hexSum] {
		return desc, nil
	}
	l.written[hexSum] = true
	return desc, l.file("blobs/sha256/"+hexSum, data)
}

func (l *layoutWriter) image(img Image) (descriptor, error) {
	tag, err := refTag(img.Ref)
	if err != nil {
		return descriptor{}, err
	}
	arch, err := ociArch(runtime.GOARCH)
	if err != nil {
		return descriptor{}, err
	}
	layer, diffID, err := buildLayer(img.Files, !img.Uncompressed)
	if err != nil {
		return descriptor{}, err
	}
	layerType := mediaTypeLayerGzip
	if img.Uncompressed {
		layerType = mediaTypeLayer
	}
	layerDesc, err := l.blob(layerType, layer)
	if err != nil {
		return descriptor{}, err
	}
	env := img.Config.Env
	if !hasVar(env, "PATH") {
		env = append([]string{"PATH=" + DefaultPath}, env...)
	}
	created := epoch.Format(time.RFC3339)
	cfg := ociConfig{
		Created:      created,
		Architecture: arch,
		OS:           runtime.GOOS,
		Config: ociImageConfig{
			User:       img.Config.User,
			Env:        env,
			Entrypoint: img.Config.Entrypoint,
			Cmd:        img.Config.Cmd,
			WorkingDir: img.Config.WorkingDir,
			Labels:     img.Config.Labels,
		},
		RootFS:  ociRootFS{Type: "layers", DiffIDs: []string{diffID}},
		History: []ociHistoryRow{{Created: created, CreatedBy: "bosun"}},
	}
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		return descriptor{}, fmt.Errorf("encoding the image config: %w", err)
	}
	cfgDesc, err := l.blob(mediaTypeConfig, cfgJSON)
	if err != nil {
		return descriptor{}, err
	}
	manifest := ociManifest{SchemaVersion: 2, MediaType: mediaTypeManifest, Config: cfgDesc, Layers: []descriptor{layerDesc}}
	manifestJSON, err := json.Marshal(manifest)
	if err != nil {
		return descriptor{}, fmt.Errorf("encoding the manifest: %w", err)
	}
	desc, err := l.blob(mediaTypeManifest, manifestJSON)
	if err != nil {
		return descriptor{}, err
	}
	desc.Annotations = map[string]string{annotationRefName: tag, annotationImageName: img.Ref}
	return desc, nil
}

// refTag returns the tag of a reference such as "host:5000/a/b:tag". A
// reference must name a tag: containerd files a tagless OCI import under
// a generated name nobody asked for.
func refTag(ref string) (string, error) {
	if ref == "" || strings.ContainsAny(ref, " \t\n@") {
		return "", fmt.Errorf("image reference %q: want NAME:TAG", ref)
	}
	lastSlash := strings.LastIndexByte(ref, '/')
	colon := strings.LastIndexByte(ref, ':')
	if colon <= lastSlash || colon == len(ref)-1 || colon == 0 {
		return "", fmt.Errorf("image reference %q has no tag: want NAME:TAG", ref)
	}
	return ref[colon+1:], nil
}

// ociArch maps GOARCH to the architecture names of the OCI image spec,
// which uses Go's names.
func ociArch(goarch string) (string, error) {
	switch goarch {
	case "amd64", "arm64", "arm", "386", "ppc64le", "s390x", "riscv64":
		return goarch, nil
	}
	return "", fmt.Errorf("architecture %q is not supported", goarch)
}

func hasVar(env []string, name string) bool {
	for _, kv := range env {
		if strings.HasPrefix(kv, name+"=") {
			return true
		}
	}
	return false
}

// buildLayer writes files as one tar, gzip'd when compress is set, and
// returns it with its diff ID: the digest of the uncompressed tar, which
// is what the image config lists and containerd checks after unpacking.
func buildLayer(files []File, compress bool) (layer []byte, diffID string, err error) {
	entries, err := layerEntries(files)
	if err != nil {
		return nil, "", err
	}
	var buf bytes.Buffer
	diff := sha256.New()
	var zw *gzip.Writer
	var sink io.Writer = &buf
	if compress {
		// No name and no mtime in the gzip header keep the output stable.
		zw, _ = gzip.NewWriterLevel(&buf, gzip.BestSpeed)
		sink = zw
	}
	tw := tar.NewWriter(io.MultiWriter(diff, sink))
	for _, f := range entries {
		if err := writeEntry(tw, f); err != nil {
			return nil, "", fmt.Errorf("layer entry %s: %w", f.Path, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, "", fmt.Errorf("finishing the layer: %w", err)
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			return nil, "", fmt.Errorf("compressing the layer: %w", err)
		}
	}
	return buf.Bytes(), digestOf(diff), nil
}

func digestOf(h hash.Hash) string {
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// layerEntries cleans the paths, rejects duplicates, adds the missing
// parent directories and sorts the result so parents come first and the
// order never depends on the caller's.
func layerEntries(files []File) ([]File, error) {
	byPath := make(map[string]File, len(files))
	for _, f := range files {
		if !strings.HasPrefix(f.Path, "/") {
			return nil, fmt.Errorf("layer entry %q: path must be absolute", f.Path)
		}
		p := path.Clean(f.Path)
		if p == "/" {
			return nil, fmt.Errorf("layer entry %q: the root directory cannot be an entry", f.Path)
		}
		if _, dup := byPath[p]; dup {
			return nil, fmt.Errorf("layer entry %q is listed twice", p)
		}
		switch f.Type {
		case TypeFile, TypeDir:
		case TypeSymlink:
			if f.Target == "" {
				return nil, fmt.Errorf("layer entry %q: symlink without a target", p)
			}
		default:
			return nil, fmt.Errorf("layer entry %q: unknown type %d", p, f.Type)
		}
		f.Path = p
		byPath[p] = f
	}
	for p := range byPath {
		for dir := path.Dir(p); dir != "/"; dir = path.Dir(dir) {
			parent, ok := byPath[dir]
			if !ok {
				byPath[dir] = Dir(dir, 0o755)
				continue
			}
			if parent.Type != TypeDir {
				return nil, fmt.Errorf("layer entry %q: its parent %q is not a directory", p, dir)
			}
		}
	}
	out := make([]File, 0, len(byPath))
	for _, f := range byPath {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

func writeEntry(tw *tar.Writer, f File) error {
	hdr := &tar.Header{
		Name:    strings.TrimPrefix(f.Path, "/"),
		ModTime: epoch,
		Uid:     f.UID,
		Gid:     f.GID,
		Format:  tar.FormatPAX,
	}
	perm := int64(f.Mode.Perm())
	if f.Mode&fs.ModeSetuid != 0 {
		perm |= 0o4000
	}
	if f.Mode&fs.ModeSetgid != 0 {
		perm |= 0o2000
	}
	if f.Mode&fs.ModeSticky != 0 {
		perm |= 0o1000
	}
	switch f.Type {
	case TypeDir:
		hdr.Typeflag = tar.TypeDir
		hdr.Name += "/"
		if perm == 0 {
			perm = 0o755
		}
		hdr.Mode = perm
		return tw.WriteHeader(hdr)
	case TypeSymlink:
		hdr.Typeflag = tar.TypeSymlink
		hdr.Linkname = f.Target
		hdr.Mode = 0o777
		return tw.WriteHeader(hdr)
	}
	hdr.Typeflag = tar.TypeReg
	if perm == 0 {
		perm = 0o644
	}
	hdr.Mode = perm
	if f.HostPath == "" {
		hdr.Size = int64(len(f.Data))
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err := tw.Write(f.Data)
		return err
	}
	src, err := os.Open(f.HostPath)
	if err != nil {
		return err
	}
	defer src.Close()
	st, err := src.Stat()
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", f.HostPath)
	}
	hdr.Size = st.Size()
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if _, err := io.CopyN(tw, src, hdr.Size); err != nil {
		return fmt.Errorf("copying %s: %w", f.HostPath, err)
	}
	return nil
}
