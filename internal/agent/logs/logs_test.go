package logs

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const sample = `2016-10-06T00:17:09.669794202Z stdout F first
2016-10-06T00:17:10.000000000Z stderr F oops
2016-10-06T00:17:11.000000000Z stdout P sec
2016-10-06T00:17:11.500000000Z stdout P o
2016-10-06T00:17:12.000000000Z stdout F nd
not a log line
2016-10-06T00:17:13.000000000Z stdout F 
2016-10-06T00:17:14.000000000Z stdout F last
`

func writeLog(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "0.log")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func ptr[T any](v T) *T { return &v }

func notRunning() bool { return false }

func TestParseLine(t *testing.T) {
	cases := []struct {
		name    string
		line    string
		want    Entry
		wantErr bool
	}{
		{name: "full", line: "2016-10-06T00:17:09.669794202Z stdout F hello world\n",
			want: Entry{Time: time.Date(2016, 10, 6, 0, 17, 9, 669794202, time.UTC), Stream: Stdout, Content: []byte("hello world")}},
		{name: "partial stderr", line: "2016-10-06T00:17:09Z stderr P abc",
			want: Entry{Time: time.Date(2016, 10, 6, 0, 17, 9, 0, time.UTC), Stream: Stderr, Partial: true, Content: []byte("abc")}},
		{name: "empty content", line: "2016-10-06T00:17:09Z stdout F \n",
			want: Entry{Time: time.Date(2016, 10, 6, 0, 17, 9, 0, time.UTC), Stream: Stdout, Content: []byte{}}},
		{name: "no space after tag", line: "2016-10-06T00:17:09Z stdout F",
			want: Entry{Time: time.Date(2016, 10, 6, 0, 17, 9, 0, time.UTC), Stream: Stdout}},
		{name: "extra tags", line: "2016-10-06T00:17:09Z stdout P:x:y  two spaces",
			want: Entry{Time: time.Date(2016, 10, 6, 0, 17, 9, 0, time.UTC), Stream: Stdout, Partial: true, Content: []byte(" two spaces")}},
		{name: "bad time", line: "yesterday stdout F x", wantErr: true},
		{name: "bad stream", line: "2016-10-06T00:17:09Z stdin F x", wantErr: true},
		{name: "bad tag", line: "2016-10-06T00:17:09Z stdout X x", wantErr: true},
		{name: "no tag", line: "2016-10-06T00:17:09Z stdout", wantErr: true},
		{name: "empty", line: "", wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseLine([]byte(tc.line))
			if tc.wantErr {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("err = %v, want ErrMalformed", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !got.Time.Equal(tc.want.Time) || got.Stream != tc.want.Stream || got.Partial != tc.want.Partial || !bytes.Equal(got.Content, tc.want.Content) {
				t.Fatalf("got %+v (%q), want %+v (%q)", got, got.Content, tc.want, tc.want.Content)
			}
		})
	}
}

func TestRead(t *testing.T) {
	cases := []struct {
		name       string
		opts       corev1.PodLogOptions
		wantOut    string
		wantErrOut string // when stdout and stderr are separate
	}{
		{name: "all", wantOut: "first\noops\nsecond\n\nlast\n"},
		{name: "timestamps once per line", opts: corev1.PodLogOptions{Timestamps: true},
			wantOut: "2016-10-06T00:17:09.669794202Z first\n2016-10-06T00:17:10Z oops\n2016-10-06T00:17:11Z second\n2016-10-06T00:17:13Z \n2016-10-06T00:17:14Z last\n"},
		{name: "tail 0", opts: corev1.PodLogOptions{TailLines: ptr[int64](0)}, wantOut: ""},
		{name: "tail 1", opts: corev1.PodLogOptions{TailLines: ptr[int64](1)}, wantOut: "last\n"},
		{name: "tail includes the pieces of a split line", opts: corev1.PodLogOptions{TailLines: ptr[int64](4)}, wantOut: "second\n\nlast\n"},
		{name: "tail beyond start", opts: corev1.PodLogOptions{TailLines: ptr[int64](100)}, wantOut: "first\noops\nsecond\n\nlast\n"},
		{name: "limit", opts: corev1.PodLogOptions{LimitBytes: ptr[int64](8)}, wantOut: "first\noo"},
		{name: "limit with timestamps", opts: corev1.PodLogOptions{LimitBytes: ptr[int64](10), Timestamps: true}, wantOut: "2016-10-06"},
		{name: "since time", opts: corev1.PodLogOptions{SinceTime: ptr(metav1.NewTime(time.Date(2016, 10, 6, 0, 17, 12, 0, time.UTC)))}, wantOut: "nd\n\nlast\n"},
		{name: "since seconds excludes old lines", opts: corev1.PodLogOptions{SinceSeconds: ptr[int64](60)}, wantOut: ""},
	}
	p := writeLog(t, sample)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := Read(context.Background(), p, &tc.opts, notRunning, &out, &out); err != nil {
				t.Fatal(err)
			}
			if out.String() != tc.wantOut {
				t.Fatalf("got %q, want %q", out.String(), tc.wantOut)
			}
		})
	}
}

func TestReadSeparateStreams(t *testing.T) {
	p := writeLog(t, sample)
	var out, errOut bytes.Buffer
	if err := Read(context.Background(), p, nil, notRunning, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if out.String() != "first\nsecond\n\nlast\n" || errOut.String() != "oops\n" {
		t.Fatalf("stdout %q, stderr %q", out.String(), errOut.String())
	}
}

func TestReadMissingFile(t *testing.T) {
	err := Read(context.Background(), filepath.Join(t.TempDir(), "nope.log"), nil, notRunning, &bytes.Buffer{}, &bytes.Buffer{})
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v, want ErrNotExist", err)
	}
}

// syncBuffer is a bytes.Buffer a test can read while Read writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestFollow(t *testing.T) {
	p := writeLog(t, "2016-10-06T00:17:09Z stdout F one\n")
	f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var running atomic.Bool
	running.Store(true)
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- Read(context.Background(), p, &corev1.PodLogOptions{Follow: true}, running.Load, &out, &out)
	}()
	waitFor(t, "first line", func() bool { return out.String() == "one\n" })
	// A line written in two pieces is printed only once it is complete.
	f.WriteString("2016-10-06T00:17:10Z stdout F tw")
	time.Sleep(50 * time.Millisecond)
	f.WriteString("o\n")
	waitFor(t, "second line", func() bool { return out.String() == "one\ntwo\n" })
	f.WriteString("2016-10-06T00:17:11Z stderr F three\n")
	running.Store(false)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Read did not return after the container stopped")
	}
	if got := out.String(); got != "one\ntwo\nthree\n" {
		t.Fatalf("got %q", got)
	}
}

func TestFollowEndsWithContext(t *testing.T) {
	p := writeLog(t, "")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Read(ctx, p, &corev1.PodLogOptions{Follow: true}, func() bool { return true }, &bytes.Buffer{}, &bytes.Buffer{})
	}()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Read did not return when the context ended")
	}
}

func TestFollowRotation(t *testing.T) {
	p := writeLog(t, "2016-10-06T00:17:09Z stdout F old\n")
	var running atomic.Bool
	running.Store(true)
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- Read(context.Background(), p, &corev1.PodLogOptions{Follow: true}, running.Load, &out, &out)
	}()
	waitFor(t, "old line", func() bool { return out.String() == "old\n" })
	if err := os.Rename(p, p+".1"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("2016-10-06T00:17:10Z stdout F new\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "new line", func() bool { return out.String() == "old\nnew\n" })
	running.Store(false)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Read did not return")
	}
}

// naiveTail is tailOffset written the obvious way, for the fuzz test.
func naiveTail(data []byte, n int64) int64 {
	var ends []int64 // offsets just after each full line
	off := int64(0)
	for {
		i := bytes.IndexByte(data[off:], '\n')
		if i < 0 {
			break
		}
		line := data[off : off+int64(i)+1]
		off += int64(i) + 1
		if isFullLine(line[:min(len(line), 64)]) {
			ends = append(ends, off)
		}
	}
	if int64(len(ends)) <= n {
		return 0
	}
	return ends[int64(len(ends))-n-1]
}

func TestTailOffsetLongFile(t *testing.T) {
	var b strings.Builder
	for i := range 5000 {
		tag := "F"
		if i%3 == 0 {
			tag = "P"
		}
		b.WriteString("2016-10-06T00:17:09.669794202Z stdout " + tag + " " + strings.Repeat("x", i%97) + "\n")
	}
	data := []byte(b.String())
	for _, n := range []int64{0, 1, 2, 10, 999, 3000, 4000} {
		got, err := tailOffset(bytes.NewReader(data), int64(len(data)), n)
		if err != nil {
			t.Fatal(err)
		}
		if want := naiveTail(data, n); got != want {
			t.Fatalf("tail %d: got %d, want %d", n, got, want)
		}
	}
}

func FuzzParseLine(f *testing.F) {
	for _, l := range strings.Split(sample, "\n") {
		f.Add([]byte(l))
	}
	f.Add([]byte("2016-10-06T00:17:09Z stdout P:a "))
	f.Fuzz(func(t *testing.T, line []byte) {
		e, err := ParseLine(line)
		if err != nil {
			return
		}
		if e.Stream != Stdout && e.Stream != Stderr {
			t.Fatalf("stream %q", e.Stream)
		}
		if !bytes.Contains(line, e.Content) {
			t.Fatalf("content %q not in line", e.Content)
		}
	})
}

func FuzzTailOffset(f *testing.F) {
	f.Add([]byte(sample), int64(2))
	f.Add([]byte("a\nb\n\n"), int64(0))
	f.Fuzz(func(t *testing.T, data []byte, n int64) {
		if n < 0 {
			n = -n
		}
		got, err := tailOffset(bytes.NewReader(data), int64(len(data)), n%1000)
		if err != nil {
			t.Fatal(err)
		}
		if want := naiveTail(data, n%1000); got != want {
			t.Fatalf("got %d, want %d", got, want)
		}
	})
}
