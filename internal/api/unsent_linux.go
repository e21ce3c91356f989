//go:build linux

package api

import (
	"net"

	"golang.org/x/sys/unix"
)

// unsent returns how many bytes written to a TCP connection the peer has not
// yet acknowledged (SIOCOUTQ): after the last write of an upload, the only
// sign that a slow link still moves is this number going down.
func unsent(c net.Conn) (int, bool) {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return 0, false
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return 0, false
	}
	n, ierr := 0, error(nil)
	if err := raw.Control(func(fd uintptr) { n, ierr = unix.IoctlGetInt(int(fd), unix.SIOCOUTQ) }); err != nil || ierr != nil {
		return 0, false
	}
	return n, true
}
