package probe

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// probeDialer closes probe connections with a one-second linger. A node
// with a hundred containers probed every few seconds would otherwise pile up
// sockets in TIME_WAIT and run out of ephemeral ports.
func probeDialer() *net.Dialer {
	return &net.Dialer{
		Control: func(_, _ string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) {
				serr = unix.SetsockoptLinger(int(fd), unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 1})
			})
			if err != nil {
				return err
			}
			return serr
		},
	}
}
