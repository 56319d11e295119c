// Package logs reads the container log files that the container runtime
// writes in the CRI format, and turns them into what `kubectl logs` shows:
// both streams merged, partial lines joined, optionally following the file
// as the container writes it, with the kubelet's tail, limit, since and
// timestamp options. The runtime writes the files; this package only reads.
package logs

import (
	"bytes"
	"errors"
	"fmt"
	"time"
)

// Stream names the output stream a log line came from.
type Stream string

const (
	Stdout Stream = "stdout"
	Stderr Stream = "stderr"
)

// Entry is one line of a CRI log file:
//
//	2016-10-06T00:17:09.669794202Z stdout F content
//
// The runtime splits long output lines into several entries; all but the
// last carry the partial tag P, the last one F.
type Entry struct {
	Time   time.Time
	Stream Stream
	// Partial is true when the entry continues in the next entry of the
	// same stream: no newline follows Content in the container's output.
	Partial bool
	// Content excludes the line's newline. It aliases the parsed line.
	Content []byte
}

// ErrMalformed is returned by ParseLine for a line that is not in the CRI
// log format.
var ErrMalformed = errors.New("malformed CRI log line")

// ParseLine parses one line of a CRI log file, with or without its
// trailing newline.
func ParseLine(line []byte) (Entry, error) {
	line = bytes.TrimSuffix(line, []byte{'\n'})
	var e Entry
	ts, rest, ok := bytes.Cut(line, []byte{' '})
	if !ok {
		return e, fmt.Errorf("%w: no stream after the timestamp", ErrMalformed)
	}
	t, err := time.Parse(time.RFC3339Nano, string(ts))
	if err != nil {
		return e, fmt.Errorf("%w: timestamp: %w", ErrMalformed, err)
	}
	stream, rest, ok := bytes.Cut(rest, []byte{' '})
	if !ok {
		return e, fmt.Errorf("%w: no tag after the stream", ErrMalformed)
	}
	switch Stream(stream) {
	case Stdout, Stderr:
		e.Stream = Stream(stream)
	default:
		return e, fmt.Errorf("%w: unknown stream %q", ErrMalformed, stream)
	}
	// Tags are colon separated; the first says whether the line is
	// partial. Later tags are reserved and ignored. An empty output line
	// may come without the space after the tag.
	tags, content, _ := bytes.Cut(rest, []byte{' '})
	first, _, _ := bytes.Cut(tags, []byte{':'})
	switch string(first) {
	case "F":
	case "P":
		e.Partial = true
	default:
		return e, fmt.Errorf("%w: unknown tag %q", ErrMalformed, first)
	}
	e.Time = t
	e.Content = content
	return e, nil
}

// isFullLine reports whether a line whose first bytes are prefix ends an
// output line. Anything that is not clearly partial counts as a full line,
// so a malformed line still counts as one for tailLines.
func isFullLine(prefix []byte) bool {
	prefix, _, _ = bytes.Cut(prefix, []byte{'\n'})
	_, rest, ok := bytes.Cut(prefix, []byte{' '})
	if !ok {
		return true
	}
	_, rest, ok = bytes.Cut(rest, []byte{' '})
	if !ok {
		return true
	}
	return !(len(rest) > 0 && rest[0] == 'P' && (len(rest) == 1 || rest[1] == ' ' || rest[1] == ':'))
}
