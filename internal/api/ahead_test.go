package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// content returns n bytes that differ from one place to the next, so that
// a chunk sent twice or out of order changes the hash.
func content(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/4093)
	}
	return b
}

// A large file is read and hashed on a goroutine of its own, ahead of the
// send: while the transport has taken only the first 64 KiB, the file has
// been read further (the sha256 no longer adds its time to the send's).
// Before, the file was read, and hashed, only as the transport asked.
func TestALargeFileIsReadAheadOfTheSend(t *testing.T) {
	p := writeTemp(t, "big.pdf", content(16<<20))
	f, info, err := OpenRegular(p)
	require.NoError(t, err)
	body, err := newMultipartBody(UploadRequest{Path: p, WorkspaceID: 1}, f, info, "boundary")
	require.NoError(t, err)
	defer body.Close()
	_, err = io.ReadFull(body, make([]byte, 64<<10))
	require.NoError(t, err)
	want := int64(64<<10 + (aheadChunks-1)*aheadChunk)
	within(t, 5*time.Second, func() {
		for {
			off, err := f.Seek(0, io.SeekCurrent)
			require.NoError(t, err)
			if off >= want {
				return
			}
			time.Sleep(time.Millisecond)
		}
	})
}

// What goes out of a large file is the file, byte for byte, and the hash
// in the fields that follow it is its sha256, known before they are sent.
func TestALargeFileIsSentWholeWithItsHash(t *testing.T) {
	for _, size := range []int{aheadMin, aheadMin + 1, 9<<20 + 12345} {
		data := content(size)
		var got []byte
		var ext string
		c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
			if !assert.NoError(t, r.ParseMultipartForm(1<<20)) {
				return
			}
			ext = r.FormValue("external_metadata")
			file, _, err := r.FormFile("file")
			if !assert.NoError(t, err) {
				return
			}
			got, _ = io.ReadAll(file)
			w.WriteHeader(http.StatusCreated)
			_, _ = w.Write([]byte(`{"id": 4}`))
		})
		p := writeTemp(t, "a.pdf", data)
		var sent int64
		res, err := c.Upload(context.Background(), UploadRequest{Path: p, WorkspaceID: 1, HashKey: "sha256",
			Sent:     func(n int64) { sent += n },
			External: &ExternalMetadata{ExternalID: "id-1"}})
		require.NoError(t, err, "size %d", size)
		sum := sha256.Sum256(data)
		want := hex.EncodeToString(sum[:])
		assert.True(t, bytes.Equal(data, got), "size %d: the content, byte for byte", size)
		assert.Equal(t, want, res.SHA256, "size %d", size)
		assert.JSONEq(t, `{"external_id":"id-1","additional_metadata":{"sha256":"`+want+`"}}`, ext, "size %d", size)
		assert.Equal(t, int64(size), sent, "size %d: every byte reported as sent", size)
	}
}

// A large file that shrinks or grows while it is read ahead fails its
// request before the fields that follow it: the body ends short of its
// closing boundary, and the service stores nothing.
func TestALargeFileThatChangesSizeWhileReadIsCut(t *testing.T) {
	for name, change := range map[string]func(f *os.File) error{
		"shrinks": func(f *os.File) error { return f.Truncate(5 << 20) },
		"grows":   func(f *os.File) error { _, err := f.WriteAt([]byte("more"), 12<<20); return err },
	} {
		p := writeTemp(t, "a.pdf", content(12<<20))
		fd, info, err := OpenRegular(p)
		require.NoError(t, err)
		body, err := newMultipartBody(UploadRequest{Path: p, WorkspaceID: 1, HashKey: "sha256",
			External: &ExternalMetadata{ExternalID: "x"}}, fd, info, "boundary")
		require.NoError(t, err)
		first := make([]byte, 64<<10)
		_, err = io.ReadFull(body, first)
		require.NoError(t, err)
		w, err := os.OpenFile(p, os.O_WRONLY, 0)
		require.NoError(t, err)
		require.NoError(t, change(w))
		require.NoError(t, w.Close())
		rest, err := io.ReadAll(body)
		require.ErrorIs(t, err, ErrFileChanged, name)
		all := append(first, rest...)
		assert.NotContains(t, string(all), "external_metadata", "%s: nothing after the file was sent", name)
		assert.Less(t, int64(len(all)), body.Len(), name)
		require.NoError(t, body.Close())
	}
}
