package audit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// queueSize bounds the events waiting for the disk: about a second of a busy server.
	queueSize = 4096
	// sendTimeout is how long a request waits for room in a full queue before its event
	// is dropped: long enough to ride out a disk hiccup, short enough not to be an outage.
	sendTimeout = 100 * time.Millisecond
	// warnEvery limits the warning about dropped events, which would otherwise come
	// once per request exactly when the server is already struggling.
	warnEvery = time.Minute
)

// Logger writes Events as JSON lines to a file from a single background goroutine.
// Its methods are safe for concurrent use. A nil *Logger records nothing.
type Logger struct {
	path       string
	maxBytes   int64 // 0: never rotate
	maxBackups int
	timeout    time.Duration
	log        *slog.Logger

	mu     sync.RWMutex // write-held only by Close, so senders never race a closed channel
	closed bool
	queue  chan *Event
	done   chan struct{}

	dropped  atomic.Uint64
	lastWarn atomic.Int64 // unix nanoseconds of the last drop warning

	// Owned by the writer goroutine.
	file    *os.File
	out     *bufio.Writer
	buf     bytes.Buffer
	enc     *json.Encoder
	size    int64
	pending int // events in out since its last flush
}

// New opens (appending) or creates the audit log at path with mode 0600 and starts its
// writer. When the file would grow past maxSizeMB megabytes it is renamed path.1 (older
// backups shift to path.2 … path.maxBackups, the oldest is removed) and a new one begun;
// maxSizeMB <= 0 never rotates and maxBackups < 1 keeps one backup. Path "-" writes to
// standard output, as kube-apiserver does.
func New(path string, maxSizeMB, maxBackups int) (*Logger, error) {
	return newLogger(path, int64(maxSizeMB)<<20, maxBackups, queueSize, sendTimeout)
}

func newLogger(path string, maxBytes int64, maxBackups, queue int, timeout time.Duration) (*Logger, error) {
	if maxBytes < 0 {
		maxBytes = 0
	}
	if maxBackups < 1 {
		maxBackups = 1
	}
	l := &Logger{
		path:       path,
		maxBytes:   maxBytes,
		maxBackups: maxBackups,
		timeout:    timeout,
		log:        slog.Default().With("component", "audit"),
		queue:      make(chan *Event, queue),
		done:       make(chan struct{}),
	}
	if path == "-" {
		l.file = os.Stdout
		l.maxBytes = 0
	} else {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("audit log directory: %w", err)
		}
		if err := l.open(); err != nil {
			return nil, err
		}
	}
	l.out = bufio.NewWriterSize(l.file, 64<<10)
	l.enc = json.NewEncoder(&l.buf)
	go l.run()
	return l, nil
}

func (l *Logger) open() error {
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("audit log: %w", err)
	}
	l.file, l.size = f, st.Size()
	return nil
}

// Dropped is how many events were lost because the queue stayed full, the log was
// closed, or the disk refused them.
func (l *Logger) Dropped() uint64 {
	if l == nil {
		return 0
	}
	return l.dropped.Load()
}

// Close writes out every queued event, closes the file and returns the first error of
// doing so. Events sent after Close are dropped. Close is idempotent.
func (l *Logger) Close() error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	if !l.closed {
		l.closed = true
		close(l.queue)
	}
	l.mu.Unlock()
	<-l.done
	if l.file == nil || l.file == os.Stdout {
		return nil
	}
	if err := l.file.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
		return fmt.Errorf("audit log: %w", err)
	}
	return nil
}

// send queues ev; ev must not change afterwards. When the queue is full it waits up to
// the timeout, then drops the event rather than hold the request any longer.
func (l *Logger) send(ev *Event) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		l.drop(1, nil)
		return
	}
	select {
	case l.queue <- ev:
		return
	default:
	}
	t := time.NewTimer(l.timeout)
	defer t.Stop()
	select {
	case l.queue <- ev:
	case <-t.C:
		l.drop(1, nil)
	}
}

// drop counts n events that will never reach the log, and warns about it at most
// once per minute: a full or stuck disk would otherwise add a log line per request.
func (l *Logger) drop(n int, cause error) {
	total := l.dropped.Add(uint64(n))
	now := time.Now().UnixNano()
	last := l.lastWarn.Load()
	if now-last < int64(warnEvery) || !l.lastWarn.CompareAndSwap(last, now) {
		return
	}
	if cause == nil {
		l.log.Warn("audit events dropped: the log cannot keep up", "path", l.path, "dropped_total", total)
		return
	}
	l.log.Warn("audit events dropped: writing the log failed", "path", l.path, "err", cause, "dropped_total", total)
}

func (l *Logger) run() {
	defer close(l.done)
	for ev := range l.queue {
		l.write(ev)
		// Take whatever else is queued before flushing, so a burst costs one syscall.
		for drained := false; !drained; {
			select {
			case ev, ok := <-l.queue:
				if !ok {
					drained = true
					break
				}
				l.write(ev)
			default:
				drained = true
			}
		}
		l.flush()
	}
	l.flush()
}

func (l *Logger) flush() {
	if err := l.out.Flush(); err != nil {
		l.bufferLost(err)
		return
	}
	l.pending = 0
}

// bufferLost discards what the buffered writer holds after it failed: a bufio.Writer
// keeps its first error forever, so it must start over on the file.
func (l *Logger) bufferLost(err error) {
	l.out.Reset(l.file)
	l.drop(l.pending, err)
	l.pending = 0
}

func (l *Logger) write(ev *Event) {
	l.buf.Reset()
	if err := l.enc.Encode(ev); err != nil {
		// Unreachable while the Recorder only keeps valid JSON bodies.
		l.drop(1, err)
		return
	}
	if l.file == nil {
		// The last rotation could not reopen the log; try again rather than give up.
		if err := l.open(); err != nil {
			l.drop(1, err)
			return
		}
		l.out.Reset(l.file)
	}
	if l.maxBytes > 0 && l.size > 0 && l.size+int64(l.buf.Len()) > l.maxBytes {
		if err := l.rotate(); err != nil {
			l.log.Error("rotating the audit log", "path", l.path, "err", err)
			// Try again after another maxBytes, not on every event.
			l.size = 0
		}
	}
	l.pending++
	n, err := l.out.Write(l.buf.Bytes())
	l.size += int64(n)
	if err != nil {
		l.bufferLost(err)
	}
}

// rotate shifts path.N-1 → path.N … path → path.1 and reopens path. If renaming fails
// the current file is reopened and grows: losing audit events is worse than a big file.
func (l *Logger) rotate() error {
	var errs []error
	l.flush()
	if err := l.file.Close(); err != nil {
		errs = append(errs, err)
	}
	for i := l.maxBackups - 1; i >= 1; i-- {
		err := os.Rename(l.backup(i), l.backup(i+1))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := os.Rename(l.path, l.backup(1)); err != nil {
		errs = append(errs, err)
	}
	if err := l.open(); err != nil {
		l.file = nil
		return errors.Join(append(errs, err)...)
	}
	l.out.Reset(l.file)
	return errors.Join(errs...)
}

func (l *Logger) backup(i int) string { return l.path + "." + strconv.Itoa(i) }
