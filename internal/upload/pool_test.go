package upload

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paradigm-upload/paradigm-upload/internal/api"
	"github.com/paradigm-upload/paradigm-upload/internal/retry"
)

// taken reports whether ch delivers within a moment.
func taken[T any](ch <-chan T) bool {
	select {
	case <-ch:
		return true
	case <-time.After(50 * time.Millisecond):
		return false
	}
}

// The pool lets size uploads send at once. One that waits alone for a
// Retry-After gives its place to a new upload, and takes one again only
// when one is free; every place comes back when the uploads leave.
func TestAnUploadWaitingAloneLetsAnotherSend(t *testing.T) {
	p := newPool(2)
	a, b := p.take(), p.take()
	third := make(chan *slot, 1)
	go func() { third <- p.take() }()
	require.False(t, taken(third), "two send at once, not three")

	a.Release() // a waits for its Retry-After
	c := <-third
	back := make(chan error, 1)
	go func() { back <- a.Acquire(context.Background()) }()
	require.False(t, taken(back), "a takes a place again only when one is free")
	b.leave()
	require.True(t, taken(back), "b's place went to a")

	// A wait given up (the run stopped) holds no place.
	c.Release()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	a.leave()
	assert.ErrorIs(t, c.Acquire(ctx), context.Canceled)
	c.leave()
	assert.Empty(t, p.active, "no place to send is left taken")
	assert.Empty(t, p.all, "no place in the run is left taken")
}

// Beyond parkedMax uploads waiting outside the pool, no new upload starts.
func TestUploadsWaitingOutsideThePoolAreBounded(t *testing.T) {
	p := newPool(1)
	for range parkedMax + 1 {
		p.take().Release()
	}
	more := make(chan *slot, 1)
	go func() { more <- p.take() }()
	assert.False(t, taken(more), "at most 1 + parkedMax uploads under way")
}

// The first upload, alone through the gate until it shows that the instance
// keeps external metadata, keeps its place in the pool even while it waits
// a Retry-After alone: the uploads that wait for it hold every other place,
// and it would not find one back (the run hung). The uploads after it give
// theirs back as usual.
func TestTheCanaryKeepsItsPlace(t *testing.T) {
	root := t.TempDir()
	for _, k := range []string{"a.txt", "b.txt", "c.txt"} {
		write(t, root, k, k)
	}
	d := newDocs()
	var mu sync.Mutex
	withSlot := map[string]bool{}
	d.onUpload = func(ctx context.Context, r api.UploadRequest) {
		mu.Lock()
		defer mu.Unlock()
		withSlot[r.Filename] = retry.SlotOf(ctx) != nil
	}
	syncRun(t, d, root, "", func(o *Options) { o.BatchSize = 1 })
	assert.Equal(t, map[string]bool{"a.txt": false, "b.txt": true, "c.txt": true}, withSlot)
}
