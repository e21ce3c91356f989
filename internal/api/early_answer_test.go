package api_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paradigm-upload/paradigm-upload/internal/api"
	"github.com/paradigm-upload/paradigm-upload/internal/clock/clocktest"
	"github.com/paradigm-upload/paradigm-upload/internal/pace"
	"github.com/paradigm-upload/paradigm-upload/internal/retry"
)

// A 429 answered before the body is read: the upload is sent again (by the
// run's retrier) while net/http may still be writing the old body. The old
// one is abandoned cleanly (no race, under -race), its bytes taken back
// from the progress, which counts the file once.
func TestAnEarly429AbandonsTheBodyBeingSent(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) <= 3 {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(429)
			return
		}
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(201)
		_, _ = w.Write([]byte(`{"id": 5}`))
	}))
	defer srv.Close()
	p := filepath.Join(t.TempDir(), "big.pdf")
	require.NoError(t, os.WriteFile(p, make([]byte, 8<<20), 0o644))
	clk := clocktest.New(time.Unix(1000, 0))
	pacer := pace.New(clk, pace.Options{Policy: pace.DefaultPolicy()})
	rt := &pace.Transport{Pacer: pacer, Next: api.WithStallTimeout(api.NewTransport(api.TransportOptions{}), time.Minute)}
	c, err := api.NewClient(srv.URL, "k", &http.Client{Transport: rt})
	require.NoError(t, err)
	var sent atomic.Int64
	svc := retry.Wrap(c, retry.New(pacer, retry.Options{}))
	res, err := svc.Upload(context.Background(), api.UploadRequest{Path: p, WorkspaceID: 1, Sent: func(b int64) { sent.Add(b) }})
	require.NoError(t, err)
	assert.Equal(t, int64(5), res.File.ID)
	assert.Equal(t, int64(4), n.Load(), "three refusals, then the upload")
	assert.Equal(t, int64(8<<20), sent.Load(), "the progress counts the file once")
}
