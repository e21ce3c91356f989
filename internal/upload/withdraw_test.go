package upload

import (
	"context"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/paradigm-upload/paradigm-upload/internal/api"
)

// storedThenLost stores the first upload, and loses its answer (a 502).
type storedThenLost struct {
	*docs
	armed atomic.Bool
}

func (l *storedThenLost) Upload(ctx context.Context, r api.UploadRequest) (*api.UploadResult, error) {
	if l.armed.CompareAndSwap(true, false) {
		res, err := l.docs.Upload(ctx, r)
		if err != nil {
			return nil, err
		}
		return nil, &api.LostError{Op: "upload", Err: &api.Error{StatusCode: 502, Kind: "bad_gateway"},
			Size: res.Size, ModTime: res.ModTime, SHA256: res.SHA256}
	}
	return l.docs.Upload(ctx, r)
}

// An upload whose answer was lost is asked about before it is sent again;
// when the run stops while that question waits (a 429), the upload may
// have been stored: it ends interrupted, for the next run to ask, not
// "not attempted" with its journal's record dropped.
func TestAnUploadWithdrawnWhileItsLostAnswerIsAskedIsInterrupted(t *testing.T) {
	root := t.TempDir()
	write(t, root, "a.txt", "a")
	stateFile := filepath.Join(t.TempDir(), "state")
	d := newDocs()
	l := &storedThenLost{docs: d}
	l.armed.Store(true)
	stop := make(chan struct{})
	var once sync.Once
	d.fault = func(op string, _ *api.UploadRequest) error {
		if op == "FIND" {
			once.Do(func() { close(stop) })
			return &api.Error{StatusCode: 429, Kind: "throttled", RetryAfter: time.Minute}
		}
		return nil
	}
	out := outcomesOf(t, d, root, stateFile, func(o *Options) { o.Service = l; o.Stop = stop })
	assert.Len(t, withIdentity(d, "a.txt"), 1, "stored")
	assert.Equal(t, Interrupted, out["a.txt"])

	d.fault = nil
	out = outcomesOf(t, d, root, stateFile)
	assert.Contains(t, []Outcome{Present, AlreadyDone}, out["a.txt"], "the next run asks, and finds it")
	assert.Len(t, withIdentity(d, "a.txt"), 1, "one document")
}

// Where content cannot be replaced in place, the old document gives its
// identity up before the new one is uploaded; when the run stops while
// that upload waits (a 429), the old document takes its identity back —
// that request, which mends, is not withdrawn (it waits its Retry-After).
func TestAReplacementWithdrawnGivesTheOldDocumentItsIdentityBack(t *testing.T) {
	root := t.TempDir()
	write(t, root, "a.txt", "a, first")
	stateFile := filepath.Join(t.TempDir(), "state")
	d := newDocs()
	syncRun(t, d, root, stateFile)
	d.mu.Lock()
	d.oldSchema = true
	d.mu.Unlock()
	write(t, root, "a.txt", "a, second version")
	stop := make(chan struct{})
	var once sync.Once
	updates := 0
	d.fault = serial(func(op string, _ *api.UploadRequest) error {
		switch op {
		case "POST":
			once.Do(func() { close(stop) })
			return &api.Error{StatusCode: 429, Kind: "throttled", RetryAfter: time.Minute}
		case "UPDATE":
			if updates++; updates == 2 { // the restore meets a refusal too
				return &api.Error{StatusCode: 429, Kind: "throttled", RetryAfter: time.Minute}
			}
		}
		return nil
	})
	sum := syncRun(t, d, root, stateFile, func(o *Options) { o.Stop = stop })
	assert.Equal(t, 3, updates, "the tombstone, the restore refused, the restore")
	assert.Len(t, withIdentity(d, "a.txt"), 1, "the old document has its identity back")
	assert.Equal(t, 1, sum.Count(NotAttempted))
	for _, n := range sum.Notes {
		assert.NotContains(t, n, "could not take its identity back")
	}
}
