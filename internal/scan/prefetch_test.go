package scan

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A folder large enough to be read ahead (hundreds of entries, a folder
// and a link among them): every file comes with its own size and time, in
// order, and a walk stopped midway leaves no goroutine behind.
func TestAFolderReadAheadGivesEachFileItsOwnDetails(t *testing.T) {
	root := t.TempDir()
	const n = 30*prefetchChunk + 7 // more chunks than are read ahead when the walk stops
	base := time.Unix(1700000000, 0)
	for i := 0; i < n; i++ {
		p := filepath.Join(root, fmt.Sprintf("f%04d.txt", i))
		require.NoError(t, os.WriteFile(p, []byte(strings.Repeat("x", i)), 0o644))
		require.NoError(t, os.Chtimes(p, base, base.Add(time.Duration(i)*time.Second)))
	}
	require.NoError(t, os.MkdirAll(filepath.Join(root, "f0500.d"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "f0500.d", "inner.txt"), []byte("inner"), 0o644))
	require.NoError(t, os.Symlink("f0001.txt", filepath.Join(root, "f0900.link")))

	var got []Entry
	require.NoError(t, Walk(context.Background(), root, Filter{}, func(e Entry) error {
		got = append(got, e)
		return nil
	}))
	require.Len(t, got, n+2)
	i := 0
	for _, e := range got {
		switch e.Rel {
		case "f0500.d/inner.txt":
			assert.Equal(t, int64(5), e.Size)
			continue
		case "f0900.link":
			assert.Equal(t, ReasonSymlink, e.Skip)
			continue
		}
		require.Equal(t, fmt.Sprintf("f%04d.txt", i), e.Rel)
		assert.Equal(t, int64(i), e.Size, e.Rel)
		assert.True(t, e.ModTime.Equal(base.Add(time.Duration(i)*time.Second)), e.Rel)
		i++
	}

	before := runtime.NumGoroutine()
	stop := errors.New("stop")
	seen := 0
	err := Walk(context.Background(), root, Filter{}, func(Entry) error {
		if seen++; seen == 3*prefetchChunk+5 {
			return stop
		}
		return nil
	})
	require.ErrorIs(t, err, stop)
	// (Polled here: assert.Eventually runs goroutines of its own.)
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	assert.LessOrEqual(t, runtime.NumGoroutine(), before, "the read-ahead goroutines end with the walk")
}

// Details read ahead long before the walk uses them (it went down a large
// folder meanwhile) are not used: the walk reads them again.
func TestDetailsReadAheadLongAgoAreReadAgain(t *testing.T) {
	root := t.TempDir()
	for i := 0; i < 3*prefetchChunk; i++ {
		require.NoError(t, os.WriteFile(filepath.Join(root, fmt.Sprintf("f%03d", i)), nil, 0o644))
	}
	entries, err := os.ReadDir(root)
	require.NoError(t, err)
	p := newPrefetcher(entries)
	require.NotNil(t, p)
	defer p.stop()
	assert.True(t, p.get(0).ok, "fresh details are used")
	<-p.done[1]
	p.at[1] = time.Now().Add(-2 * prefetchFresh) // (its reader is done with it)
	assert.False(t, p.get(prefetchChunk).ok, "old details are read again")
	assert.True(t, p.get(2*prefetchChunk).ok)
}
