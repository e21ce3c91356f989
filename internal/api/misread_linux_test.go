package api

import (
	"context"
	"io"
	"net/http"
	"os"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Files of /proc and /sys do not read as their size says: /proc's say 0
// and hold text, /sys's say 4096 and hold a line. Neither is sent: the
// request ends short of its closing boundary (the service stores nothing),
// and the error says why, not that the file changed.
func TestAFileThatReadsDifferentlyFromItsSizeIsNotSent(t *testing.T) {
	for _, path := range []string{"/proc/self/status", "/sys/kernel/mm/transparent_hugepage/enabled"} {
		t.Run(path, func(t *testing.T) {
			st, err := os.Stat(path)
			if err != nil {
				t.Skipf("%s: %v", path, err)
			}
			content, err := os.ReadFile(path)
			require.NoError(t, err)
			if int64(len(content)) == st.Size() {
				t.Skipf("%s reads as its size says here", path)
			}
			var whole atomic.Bool
			c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
				if _, err := io.Copy(io.Discard, r.Body); err == nil {
					whole.Store(true)
				}
				w.WriteHeader(http.StatusCreated)
				_, _ = w.Write([]byte(`{"id": 1}`))
			})
			_, err = c.Upload(context.Background(), UploadRequest{Path: path, WorkspaceID: 1})
			require.ErrorIs(t, err, ErrMisread)
			assert.NotErrorIs(t, err, ErrFileChanged)
			assert.False(t, whole.Load(), "the request was cut before its end")
		})
	}
}
