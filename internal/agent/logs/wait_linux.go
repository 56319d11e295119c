package logs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// waiter blocks until a log file may have grown. On Linux it sleeps on
// inotify, so a follower costs nothing while the container is quiet and
// wakes as soon as the runtime writes.
type waiter struct {
	inotify int
	// wake is an eventfd that ctx's end makes readable, so waiting does
	// not have to poll the context.
	wake int
}

func newWaiter(path string) (*waiter, error) {
	in, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("inotify: %w", err)
	}
	mask := uint32(unix.IN_MODIFY | unix.IN_CLOSE_WRITE | unix.IN_MOVE_SELF | unix.IN_DELETE_SELF | unix.IN_ATTRIB)
	if _, err := unix.InotifyAddWatch(in, path, mask); err != nil {
		unix.Close(in)
		return nil, fmt.Errorf("inotify watch %s: %w", path, err)
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(in)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	return &waiter{inotify: in, wake: wake}, nil
}

// wait returns when the file changed, after timeout, or with ctx's error
// when ctx ends.
func (w *waiter) wait(ctx context.Context, timeout time.Duration) error {
	stop := context.AfterFunc(ctx, func() {
		unix.Write(w.wake, []byte{1, 0, 0, 0, 0, 0, 0, 0})
	})
	defer stop()
	fds := []unix.PollFd{{Fd: int32(w.inotify), Events: unix.POLLIN}, {Fd: int32(w.wake), Events: unix.POLLIN}}
	for {
		_, err := unix.Poll(fds, int(timeout/time.Millisecond))
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("poll inotify: %w", err)
		}
		break
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// The events themselves do not matter, only that there were some.
	var buf [4096]byte
	for {
		if _, err := unix.Read(w.inotify, buf[:]); err != nil {
			return nil
		}
	}
}

func (w *waiter) close() {
	unix.Close(w.inotify)
	unix.Close(w.wake)
}
