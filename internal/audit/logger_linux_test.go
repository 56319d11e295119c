package audit

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// countingHandler counts slog records at warning level and above.
type countingHandler struct {
	mu    sync.Mutex
	warns []string
}

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		h.mu.Lock()
		h.warns = append(h.warns, r.Message)
		h.mu.Unlock()
	}
	return nil
}
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countingHandler) WithGroup(string) slog.Handler      { return h }

// TestLoggerDropsWhenDiskBlocks writes to a FIFO nobody reads, the way a stuck disk
// behaves: requests must go on (dropping events after the timeout), the drops must be
// counted and warned about once, and once the reader comes back Close must flush.
func TestLoggerDropsWhenDiskBlocks(t *testing.T) {
	h := &countingHandler{}
	prev := slog.Default()
	slog.SetDefault(slog.New(h))
	defer slog.SetDefault(prev)

	path := filepath.Join(t.TempDir(), "audit.log")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	// A non-blocking reader lets the logger's open succeed; it never reads.
	idle, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	const fSetPipeSz = 1031 // F_SETPIPE_SZ: a one-page pipe fills after a few events
	if _, _, e := syscall.Syscall(syscall.SYS_FCNTL, idle.Fd(), fSetPipeSz, 4096); e != 0 {
		t.Fatalf("F_SETPIPE_SZ: %v", e)
	}

	l, err := newLogger(path, 0, 1, 4, 2*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	const n = 400 // far more than the pipe, the write buffer and the queue hold
	start := time.Now()
	for range n {
		logRequest(l, "p")
	}
	if elapsed := time.Since(start); elapsed > 10*time.Second {
		t.Errorf("%d requests took %v against a blocked log", n, elapsed)
	}
	dropped := l.Dropped()
	t.Logf("%d of %d events dropped in %v", dropped, n, time.Since(start))
	if dropped == 0 || dropped >= n {
		t.Fatalf("Dropped = %d of %d", dropped, n)
	}

	// The disk comes back: everything not dropped must arrive, and Close must return.
	reader, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	copied := make(chan error, 1)
	go func() {
		_, err := io.Copy(&got, reader)
		copied <- err
	}()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	idle.Close()
	if err := <-copied; err != nil {
		t.Fatal(err)
	}
	reader.Close()
	evs := decodeEvents(t, got.Bytes())
	if uint64(len(evs))+l.Dropped() != n {
		t.Errorf("%d written + %d dropped != %d sent", len(evs), l.Dropped(), n)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.warns) != 1 || !strings.Contains(h.warns[0], "dropped") {
		t.Errorf("warnings %q, want one about dropped events", h.warns)
	}
}

// TestLoggerCountsFailedWrites logs to /dev/full, a disk that is always full: every
// event is counted as dropped, with one warning, and nothing blocks.
func TestLoggerCountsFailedWrites(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full")
	}
	h := &countingHandler{}
	prev := slog.Default()
	slog.SetDefault(slog.New(h))
	defer slog.SetDefault(prev)

	l, err := New("/dev/full", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	const n = 50
	for range n {
		logRequest(l, "p")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if l.Dropped() != n {
		t.Errorf("Dropped = %d, want %d", l.Dropped(), n)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.warns) != 1 || !strings.Contains(h.warns[0], "failed") {
		t.Errorf("warnings %q, want one about failed writes", h.warns)
	}
}

// TestLoggerRotationFailureKeepsLogging makes the renames fail (a directory where the
// backup should go): events still reach the current file.
func TestLoggerRotationFailureKeepsLogging(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.log")
	if err := os.MkdirAll(filepath.Join(path+".1", "occupied"), 0o700); err != nil {
		t.Fatal(err)
	}
	l, err := newLogger(path, 2048, 1, 16, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	const n = 40
	for range n {
		logRequest(l, "p")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got := len(readEvents(t, path)); got != n || l.Dropped() != 0 {
		t.Errorf("%d events in the log and %d dropped, want %d and 0", got, l.Dropped(), n)
	}
}
