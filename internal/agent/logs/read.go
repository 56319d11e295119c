package logs

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// checkPeriod bounds how long a follower at the end of the file goes
// without asking whether the container still runs. A container that exits
// closes its log file, which wakes the follower sooner.
const checkPeriod = time.Second

// maxLineSize bounds one line of a log file. containerd splits output lines
// at 16 KiB; anything far longer is not a CRI log line, and is skipped
// rather than buffered without limit.
const maxLineSize = 1 << 20

// errLimit ends reading once limitBytes have been written.
var errLimit = errors.New("log byte limit reached")

// Read writes the log file at path to stdout and stderr as `kubectl logs`
// shows it, honouring opts (follow, tailLines, limitBytes, sinceSeconds,
// sinceTime, timestamps; container and previous are the caller's
// business). stdout and stderr may be the same writer.
//
// With follow, Read waits for the runtime to append to the file and
// returns once running reports false and the file is drained, or when ctx
// ends (with ctx's error). running is called at most once per checkPeriod
// while Read waits. Before each wait, Read flushes the writers that have a
// Flush method, so a streaming HTTP response delivers what was read.
//
// Lines that are not in the CRI format are skipped.
func Read(ctx context.Context, path string, opts *corev1.PodLogOptions, running func() bool, stdout, stderr io.Writer) error {
	if opts == nil {
		opts = &corev1.PodLogOptions{}
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open log %s: %w", path, err)
	}
	defer func() { f.Close() }()

	var since time.Time
	switch {
	case opts.SinceTime != nil:
		since = opts.SinceTime.Time
	case opts.SinceSeconds != nil:
		since = time.Now().Add(-time.Duration(*opts.SinceSeconds) * time.Second)
	}
	if opts.TailLines != nil {
		fi, err := f.Stat()
		if err != nil {
			return fmt.Errorf("stat log %s: %w", path, err)
		}
		off, err := tailOffset(f, fi.Size(), *opts.TailLines)
		if err != nil {
			return fmt.Errorf("tail log %s: %w", path, err)
		}
		if _, err := f.Seek(off, io.SeekStart); err != nil {
			return fmt.Errorf("seek log %s: %w", path, err)
		}
	}

	p := &printer{out: map[Stream]io.Writer{}, since: since, timestamps: opts.Timestamps}
	p.out[Stdout], p.out[Stderr] = stdout, stderr
	if opts.LimitBytes != nil {
		remaining := *opts.LimitBytes
		p.out[Stdout] = &limitWriter{w: stdout, n: &remaining}
		p.out[Stderr] = &limitWriter{w: stderr, n: &remaining}
	}

	r := bufio.NewReaderSize(f, 32<<10)
	var pending []byte // an incomplete last line, until the runtime ends it
	read := func() error {
		for {
			chunk, err := r.ReadSlice('\n')
			switch {
			case err == nil:
				if len(pending) > 0 {
					pending = append(pending, chunk...)
					chunk, pending = pending, pending[:0]
				}
				if err := p.print(chunk); err != nil {
					return err
				}
			case errors.Is(err, bufio.ErrBufferFull):
				if len(pending) < maxLineSize {
					pending = append(pending, chunk...)
				}
			case errors.Is(err, io.EOF):
				pending = append(pending, chunk...)
				return nil
			default:
				return fmt.Errorf("read log %s: %w", path, err)
			}
		}
	}
	finish := func(err error) error {
		if errors.Is(err, errLimit) {
			err = nil
		}
		flush(stdout)
		flush(stderr)
		return err
	}

	if err := read(); err != nil || !opts.Follow {
		if err == nil && len(pending) > 0 {
			// Not following: a last line without its newline is all there is.
			err = p.print(pending)
		}
		return finish(err)
	}

	w, err := newWaiter(path)
	if err != nil {
		return finish(fmt.Errorf("watch log %s: %w", path, err))
	}
	defer func() { w.close() }()
	var lastCheck time.Time
	for {
		flush(stdout)
		flush(stderr)
		// The runtime may replace the file (log rotation): finish the old
		// one, then continue with the new one from its start.
		if replaced(f, path) {
			if err := read(); err != nil {
				return finish(err)
			}
			nf, err := os.Open(path)
			if err == nil {
				f.Close()
				w.close()
				f, pending = nf, pending[:0]
				r.Reset(f)
				if w, err = newWaiter(path); err != nil {
					return finish(fmt.Errorf("watch log %s: %w", path, err))
				}
				if err := read(); err != nil {
					return finish(err)
				}
				continue
			}
		}
		if time.Since(lastCheck) >= checkPeriod {
			lastCheck = time.Now()
			if !running() {
				// It may have written its last lines since the last read.
				return finish(read())
			}
		}
		if err := w.wait(ctx, checkPeriod); err != nil {
			return finish(err)
		}
		if err := read(); err != nil {
			return finish(err)
		}
	}
}

// replaced reports whether path now names a different file than f.
func replaced(f *os.File, path string) bool {
	a, err := f.Stat()
	if err != nil {
		return false
	}
	b, err := os.Stat(path)
	if err != nil {
		return false
	}
	return !os.SameFile(a, b)
}

func flush(w io.Writer) {
	if f, ok := w.(interface{ Flush() }); ok {
		f.Flush()
	}
}

// printer writes log entries as the kubelet does.
type printer struct {
	out        map[Stream]io.Writer
	since      time.Time
	timestamps bool
	// midLine is true for a stream whose last printed entry was partial:
	// the next entry continues its line and gets no timestamp.
	midLine map[Stream]bool
}

func (p *printer) print(line []byte) error {
	e, err := ParseLine(line)
	if err != nil {
		return nil
	}
	if !p.since.IsZero() && e.Time.Before(p.since) {
		return nil
	}
	if p.midLine == nil {
		p.midLine = map[Stream]bool{}
	}
	w := p.out[e.Stream]
	if p.timestamps && !p.midLine[e.Stream] {
		var buf [64]byte
		ts := e.Time.AppendFormat(buf[:0], time.RFC3339Nano)
		if _, err := w.Write(append(ts, ' ')); err != nil {
			return err
		}
	}
	p.midLine[e.Stream] = e.Partial
	if _, err := w.Write(e.Content); err != nil {
		return err
	}
	if !e.Partial {
		if _, err := w.Write([]byte{'\n'}); err != nil {
			return err
		}
	}
	return nil
}

// limitWriter writes until the budget it shares with its siblings is spent.
type limitWriter struct {
	w io.Writer
	n *int64
}

func (l *limitWriter) Write(b []byte) (int, error) {
	if *l.n <= 0 {
		return 0, errLimit
	}
	short := int64(len(b)) > *l.n
	if short {
		b = b[:*l.n]
	}
	n, err := l.w.Write(b)
	*l.n -= int64(n)
	if err == nil && short {
		err = errLimit
	}
	return n, err
}

// tailOffset returns where the last n output lines of a log file start: the
// offset just after the (n+1)th full (not partial) line from the end, so the
// partial pieces of the first wanted line are included. A last line without
// its newline is not counted.
func tailOffset(r io.ReaderAt, size, n int64) (int64, error) {
	const block = 32 << 10
	const prefixLen = 64 // enough to hold a line's timestamp, stream and tag
	var (
		next   []byte // the first bytes after the current chunk
		lastNL = int64(-1)
		count  int64
		chunk  = make([]byte, block)
	)
	full := func(prefix []byte) bool {
		if isFullLine(prefix) {
			count++
		}
		return count > n
	}
	for pos := size; pos > 0; {
		sz := min(int64(block), pos)
		pos -= sz
		c := chunk[:sz]
		if _, err := r.ReadAt(c, pos); err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		for i := len(c) - 1; i >= 0; i-- {
			if c[i] != '\n' {
				continue
			}
			if lastNL >= 0 {
				prefix := append(append([]byte(nil), c[i+1:min(len(c), i+1+prefixLen)]...), next...)
				if full(prefix) {
					return lastNL + 1, nil
				}
			}
			lastNL = pos + int64(i)
		}
		head := append(append([]byte(nil), c[:min(len(c), prefixLen)]...), next...)
		next = head[:min(len(head), prefixLen)]
	}
	if lastNL >= 0 && full(next) {
		return lastNL + 1, nil
	}
	return 0, nil
}
