package api

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Over HTTP/2 every stream shares one connection: the traffic of other
// requests does not keep alive a request the server never answers.
func TestAStalledHTTP2StreamIsCutWhileOthersMove(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/1") {
			<-r.Context().Done() // never answers
			return
		}
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"id": 2}`))
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	tr := NewTransport(TransportOptions{})
	tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // a test server on loopback
	c, err := NewClient(srv.URL, testKey, &http.Client{Transport: WithStallTimeout(tr, 300*time.Millisecond)})
	require.NoError(t, err)
	p := writeTemp(t, "a.pdf", make([]byte, 64<<10))
	_, err = c.GetFile(context.Background(), 2) // warm the connection
	require.NoError(t, err)
	var stop atomic.Bool
	busy := make(chan struct{})
	go func() {
		defer close(busy)
		for !stop.Load() {
			_, _ = c.Upload(context.Background(), UploadRequest{Path: p, WorkspaceID: 1})
		}
	}()
	defer func() { stop.Store(true); <-busy }()
	done := make(chan error, 1)
	go func() { _, err := c.GetFile(context.Background(), 1); done <- err }()
	select {
	case err := <-done:
		var se *StallError
		assert.ErrorAs(t, err, &se)
	case <-time.After(5 * time.Second):
		t.Fatal("a request the server never answers is still waiting after 5s with --timeout 300ms (HTTP/2, other streams busy)")
	}
}
