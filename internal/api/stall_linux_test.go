package api

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A slow but steady reader, with the transport the tool uses (default
// socket buffers): after the last write, the end of the request sits in the
// kernel's buffer and drains at the reader's pace with no write or read to
// show it; the watchdog sees the buffer empty and does not cut the upload.
func TestAnUploadDrainingFromTheSocketBufferIsNotCut(t *testing.T) {
	const size = 3 << 19
	var got atomic.Int64
	srv := httptest.NewUnstartedServer(slowReader(&got, 10*time.Millisecond)) // ~800 KiB/s
	// A slow link keeps the unacknowledged bytes on the sender's side. On
	// loopback the receiver's kernel acknowledges at once whatever fits its
	// receive buffer (up to tens of MiB where it grows freely), which no
	// client can tell from progress: a small receive buffer on the server
	// leaves the bytes queued on the client's socket, as a slow link does.
	srv.Listener = smallReceiveBuffer(t, 64<<10)
	srv.Start()
	defer srv.Close()
	if !unsentReadable(t, srv.Listener.Addr().String()) {
		t.Skip("this kernel does not tell a socket's unsent bytes (SIOCOUTQ)")
	}
	c, err := NewClient(srv.URL, testKey, &http.Client{Transport: WithStallTimeout(NewTransport(TransportOptions{}), time.Second)})
	require.NoError(t, err)
	p := writeTemp(t, "slow.pdf", make([]byte, size))
	_, err = c.Upload(context.Background(), UploadRequest{Path: p, WorkspaceID: 1})
	require.NoError(t, err, "the server read steadily (8 KiB every 10 ms) the whole time; it read %d bytes", got.Load())
	assert.Greater(t, got.Load(), int64(size))
}

// smallReceiveBuffer listens on loopback with a receive buffer of n bytes,
// which the connections it accepts inherit.
func smallReceiveBuffer(t *testing.T, n int) net.Listener {
	t.Helper()
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, n) }); err != nil {
			return err
		}
		return serr
	}}
	l, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	require.NoError(t, err)
	return l
}

// unsentReadable reports whether unsent works on a connection to addr.
func unsentReadable(t *testing.T, addr string) bool {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer func() { _ = c.Close() }()
	_, ok := unsent(c)
	return ok
}
