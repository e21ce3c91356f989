package retry

import (
	"context"
	"io"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paradigm-upload/paradigm-upload/internal/api"
	"github.com/paradigm-upload/paradigm-upload/internal/clock/clocktest"
	"github.com/paradigm-upload/paradigm-upload/internal/pace"
)

// backend is a scripted Backend: each method answers with the next error of
// its script (nil: success), and counts its calls.
type backend struct {
	mu      sync.Mutex
	scripts map[string][]error
	calls   map[string]int
	found   []api.File // what Lookup finds
	file    *api.File  // what GetFile answers
	pages   int        // pages of a listing
	hook    func()     // called on every call
}

func newBackend() *backend {
	return &backend{scripts: map[string][]error{}, calls: map[string]int{}, pages: 3}
}

func (b *backend) script(op string, errs ...error) { b.scripts[op] = errs }

func (b *backend) next(op string) error {
	if b.hook != nil {
		b.hook()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls[op]++
	if s := b.scripts[op]; len(s) > 0 {
		b.scripts[op] = s[1:]
		return s[0]
	}
	return nil
}

func (b *backend) count(op string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.calls[op]
}

func (b *backend) Upload(_ context.Context, r api.UploadRequest) (*api.UploadResult, error) {
	if err := b.next("upload"); err != nil {
		return nil, err
	}
	return &api.UploadResult{StatusCode: 201, File: api.File{ID: 7}}, nil
}

func (b *backend) Lookup(context.Context, int64, string) ([]api.File, error) {
	if err := b.next("lookup"); err != nil {
		return nil, err
	}
	return b.found, nil
}

func (b *backend) GetFile(_ context.Context, id int64) (*api.File, error) {
	if err := b.next("get"); err != nil {
		return nil, err
	}
	return b.file, nil
}

func (b *backend) UpdateFile(context.Context, int64, api.FileUpdate) (*api.File, error) {
	return &api.File{ID: 7}, b.next("update")
}

func (b *backend) ContentHash(context.Context, int64) (string, error) { return "", b.next("hash") }

func (b *backend) DeleteFiles(context.Context, []int64) error { return b.next("bulk") }
func (b *backend) DeleteFile(context.Context, int64) error    { return b.next("delete") }

func (b *backend) ListPage(_ context.Context, _ api.ListQuery, next string) (*api.FilePage, error) {
	if err := b.next("page " + next); err != nil {
		return nil, err
	}
	n := 1
	if next != "" {
		n = int(next[len(next)-1] - '0')
	}
	p := &api.FilePage{Count: b.pages, Results: []api.File{{ID: int64(n)}}}
	if n < b.pages {
		p.Next = "/api/v3/files?page=" + string(rune('0'+n+1))
	}
	return p, nil
}

type fixture struct {
	b       *backend
	s       *Service
	clk     *clocktest.Fake
	pacer   *pace.Pacer
	retries []Retry
}

func newFixture(t *testing.T, o Options) *fixture {
	t.Helper()
	f := &fixture{b: newBackend(), clk: clocktest.New(time.Unix(1000, 0))}
	f.pacer = pace.New(f.clk, pace.Options{Policy: pace.Policy{Retries: 2, Base: time.Second, Max: time.Minute,
		Rand: func() float64 { return 1 }}})
	var mu sync.Mutex
	o.OnRetry = func(r Retry) {
		mu.Lock()
		f.retries = append(f.retries, r)
		mu.Unlock()
	}
	f.s = Wrap(f.b, New(f.pacer, o))
	return f
}

func status(code int, retryAfter time.Duration) error {
	return &api.Error{StatusCode: code, Kind: "e", RetryAfter: retryAfter}
}

var (
	reset   = &api.TransportError{Op: "get file", Err: syscall.ECONNRESET}
	refused = &api.TransportError{Op: "get file", Err: &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}}
)

// A 429 uses none of the tries, however many come: the request waits for
// each Retry-After and goes again.
func TestThrottlingUsesNoTries(t *testing.T) {
	f := newFixture(t, Options{})
	var errs []error
	for i := 0; i < 8; i++ {
		errs = append(errs, status(429, 3*time.Second))
	}
	f.b.script("get", errs...)
	_, err := f.s.GetFile(context.Background(), 1)
	require.NoError(t, err)
	assert.Equal(t, 9, f.b.count("get"))
	assert.GreaterOrEqual(t, f.clk.Now().Sub(time.Unix(1000, 0)), 8*3*time.Second, "each Retry-After honoured")
	require.Len(t, f.retries, 8)
	assert.Equal(t, 9, f.retries[7].Try)
}

// Trouble that is the request's own uses the tries: --retries, then the
// last error, with the number of attempts.
func TestTransientFailuresUseTheTries(t *testing.T) {
	for name, e := range map[string]error{"503": status(503, 0), "reset": reset, "502": status(502, 0)} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, Options{})
			f.b.script("get", e, e, e, e)
			_, err := f.s.GetFile(context.Background(), 1)
			var re *Error
			require.ErrorAs(t, err, &re)
			assert.Equal(t, 3, re.Attempts)
			assert.Equal(t, 3, f.b.count("get"))
			assert.Contains(t, err.Error(), "(after 3 attempts)")
			assert.ErrorIs(t, err, e)
		})
	}
}

// During an outage, failures are the service's: they use no tries, and the
// pacer holds each try until it probes.
func TestAnOutageUsesNoTries(t *testing.T) {
	f := newFixture(t, Options{})
	for i, sig := range []pace.Signal{pace.OK, pace.Unavailable, pace.Unavailable, pace.Unavailable} {
		tk, err := f.pacer.Wait(context.Background())
		require.NoError(t, err, "answer %d", i)
		f.pacer.Done(tk, sig, 0) // three unavailable answers in a row: an outage
	}
	require.True(t, f.pacer.Outage())
	f.b.script("get", reset, reset, reset, reset, reset)
	_, err := f.s.GetFile(context.Background(), 1)
	require.NoError(t, err, "five failures, two retries allowed: the outage's did not count")
	assert.Equal(t, 6, f.b.count("get"))
}

// A refused connection before the service ever answered is a mistake of
// setup: one try. The preflight may ride it out.
func TestARefusedConnectionBeforeAnyAnswerIsNotRetried(t *testing.T) {
	f := newFixture(t, Options{})
	f.b.script("get", refused, refused)
	_, err := f.s.GetFile(context.Background(), 1)
	require.ErrorIs(t, err, syscall.ECONNREFUSED)
	assert.Equal(t, 1, f.b.count("get"))

	f = newFixture(t, Options{RetryRefused: true})
	f.b.script("get", refused, refused)
	_, err = f.s.GetFile(context.Background(), 1)
	require.NoError(t, err)
	assert.Equal(t, 3, f.b.count("get"))
}

// Until bounds the tries by a moment on the clock instead of a count.
func TestUntilBoundsTheTries(t *testing.T) {
	f := newFixture(t, Options{})
	r := New(f.pacer, Options{Until: f.clk.Now().Add(10 * time.Second)})
	var errs []error
	for i := 0; i < 100; i++ {
		errs = append(errs, status(503, 0))
	}
	f.b.script("get", errs...)
	err := r.Do(context.Background(), "get", func(ctx context.Context) error { _, err := f.b.GetFile(ctx, 1); return err })
	var re *Error
	require.ErrorAs(t, err, &re)
	assert.Greater(t, re.Attempts, 3, "more than --retries")
	assert.LessOrEqual(t, f.clk.Now().Sub(time.Unix(1000, 0)), 10*time.Second)
}

// Definite answers are returned at once.
func TestDefiniteAnswersAreNotRetried(t *testing.T) {
	for name, e := range map[string]error{
		"404":          status(404, 0),
		"401":          status(401, 0),
		"400":          status(400, 0),
		"a web page":   &api.AnswerError{Op: "get file", StatusCode: 200, Msg: "not JSON"},
		"redirect":     &api.RedirectError{Op: "get file", StatusCode: 302},
		"listing loop": &api.ListingError{Msg: "loops"},
		"budget":       &pace.BudgetError{What: "throttled", Flag: "--throttle-budget"},
		"interrupted":  context.Canceled,
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, Options{})
			f.b.script("get", e)
			_, err := f.s.GetFile(context.Background(), 1)
			require.ErrorIs(t, err, e)
			assert.Equal(t, 1, f.b.count("get"))
			assert.Empty(t, f.retries)
		})
	}
}

func lost(err error, sha string) error {
	return &api.LostError{Op: "upload", Err: err, Size: 3, SHA256: sha}
}

func newUpload(extID string) api.UploadRequest {
	r := api.UploadRequest{Path: "x", WorkspaceID: 42}
	if extID != "" {
		r.External = &api.ExternalMetadata{ExternalID: extID}
	}
	return r
}

func withSHA(id int64, sha string) api.File {
	return api.File{ID: id, ExternalMetadata: &api.ExternalMetadata{ExternalID: "e", AdditionalMetadata: map[string]any{"sha256": sha}}}
}

// An upload sent whole whose answer was lost is asked about before it is
// sent again: found, the answer is the document found; not found, it is
// sent again; the question unanswerable, it is not sent again.
func TestALostUploadIsAskedAboutBeforeItIsSentAgain(t *testing.T) {
	t.Run("found", func(t *testing.T) {
		f := newFixture(t, Options{})
		f.b.script("upload", lost(io.ErrUnexpectedEOF, "abc"))
		f.b.found = []api.File{withSHA(5, "abc")}
		out, err := f.s.Upload(context.Background(), newUpload("e"))
		require.NoError(t, err)
		assert.True(t, out.Recovered)
		assert.Equal(t, int64(5), out.File.ID)
		assert.Equal(t, "abc", out.SHA256)
		assert.Equal(t, 1, f.b.count("upload"), "not sent again")
		assert.Equal(t, 1, f.b.count("lookup"))
	})
	t.Run("not found", func(t *testing.T) {
		f := newFixture(t, Options{})
		f.b.script("upload", lost(io.ErrUnexpectedEOF, "abc"))
		out, err := f.s.Upload(context.Background(), newUpload("e"))
		require.NoError(t, err)
		assert.False(t, out.Recovered)
		assert.Equal(t, 2, out.Attempts)
		assert.Equal(t, 2, f.b.count("upload"))
	})
	t.Run("the question fails", func(t *testing.T) {
		f := newFixture(t, Options{})
		f.b.script("upload", lost(io.ErrUnexpectedEOF, "abc"))
		f.b.script("lookup", status(500, 0), status(500, 0), status(500, 0), status(500, 0))
		_, err := f.s.Upload(context.Background(), newUpload("e"))
		var ue *UnconfirmedError
		require.ErrorAs(t, err, &ue)
		assert.Equal(t, 1, f.b.count("upload"), "not sent again")
		assert.Equal(t, 3, f.b.count("lookup"), "the question itself retried")
	})
	t.Run("two documents, one with the content sent", func(t *testing.T) {
		f := newFixture(t, Options{})
		f.b.script("upload", lost(io.ErrUnexpectedEOF, "abc"))
		f.b.found = []api.File{withSHA(5, "zzz"), withSHA(6, "abc")}
		out, err := f.s.Upload(context.Background(), newUpload("e"))
		require.NoError(t, err)
		assert.Equal(t, int64(6), out.File.ID)
	})
	t.Run("two documents, neither with it", func(t *testing.T) {
		f := newFixture(t, Options{})
		f.b.script("upload", lost(io.ErrUnexpectedEOF, "abc"))
		f.b.found = []api.File{withSHA(5, "zzz"), withSHA(6, "yyy")}
		_, err := f.s.Upload(context.Background(), newUpload("e"))
		var ae *AmbiguousError
		require.ErrorAs(t, err, &ae)
		assert.Contains(t, err.Error(), "ids 5, 6")
		assert.Equal(t, 1, f.b.count("upload"))
	})
	t.Run("no identity to ask by", func(t *testing.T) {
		f := newFixture(t, Options{})
		f.b.script("upload", lost(io.ErrUnexpectedEOF, "abc"))
		_, err := f.s.Upload(context.Background(), newUpload(""))
		var le *api.LostError
		require.ErrorAs(t, err, &le)
		assert.Equal(t, 1, f.b.count("upload"), "not sent again: it could be stored twice")
		assert.Zero(t, f.b.count("lookup"))
	})
	t.Run("a replacement found done", func(t *testing.T) {
		f := newFixture(t, Options{})
		f.b.script("upload", lost(status(502, 0), "abc"))
		file := withSHA(9, "abc")
		f.b.file = &file
		r := newUpload("e")
		r.Replace = 9
		out, err := f.s.Upload(context.Background(), r)
		require.NoError(t, err)
		assert.True(t, out.Recovered)
		assert.Equal(t, 1, f.b.count("upload"))
		assert.Equal(t, 1, f.b.count("get"))
	})
	t.Run("a replacement not done", func(t *testing.T) {
		f := newFixture(t, Options{})
		f.b.script("upload", lost(status(502, 0), "abc"))
		file := withSHA(9, "old")
		f.b.file = &file
		r := newUpload("e")
		r.Replace = 9
		_, err := f.s.Upload(context.Background(), r)
		require.NoError(t, err)
		assert.Equal(t, 2, f.b.count("upload"))
	})
}

// A listing retries the page that failed, not the whole listing.
func TestAListingRetriesThePageThatFailed(t *testing.T) {
	f := newFixture(t, Options{})
	f.b.script("page /api/v3/files?page=2", status(502, 0))
	f.b.script("page /api/v3/files?page=3", reset)
	var ids []int64
	err := api.ListFiles(context.Background(), f.s, api.ListQuery{PageSize: 1}, func(files []api.File) error {
		for _, x := range files {
			ids = append(ids, x.ID)
		}
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, []int64{1, 2, 3}, ids)
	assert.Equal(t, 1, f.b.count("page "), "the first page read once")
	assert.Equal(t, 2, f.b.count("page /api/v3/files?page=2"))
	assert.Equal(t, 2, f.b.count("page /api/v3/files?page=3"))
}

// An interruption ends the tries at once, with the last failure.
func TestAnInterruptionEndsTheTries(t *testing.T) {
	f := newFixture(t, Options{})
	f.b.script("get", status(503, 30*time.Second), status(503, 0))
	ctx, cancel := context.WithCancel(context.Background())
	f.b.hook = cancel
	_, err := f.s.GetFile(ctx, 1)
	var ae *api.Error
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, 503, ae.StatusCode)
	assert.Equal(t, 1, f.b.count("get"))
	assert.Empty(t, f.clk.Slept(), "no wait")
}

// expiring is a context whose deadline passes when expire is called.
type expiring struct {
	context.Context
	mu   sync.Mutex
	done chan struct{}
	over bool
}

func newExpiring() *expiring {
	return &expiring{Context: context.Background(), done: make(chan struct{})}
}

func (e *expiring) expire() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.over {
		e.over = true
		close(e.done)
	}
}

func (e *expiring) Done() <-chan struct{} { return e.done }

func (e *expiring) Err() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.over {
		return context.DeadlineExceeded
	}
	return nil
}

// When the caller's time runs out while the service keeps failing, the
// failure is what is told, not the deadline (the preflight then says "did
// not serve", not "gave no answer").
func TestARunOutDeadlineTellsTheLastFailure(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := newExpiring()
	n := 0
	err := New(f.pacer, Options{}).Do(ctx, "get", func(context.Context) error {
		n++
		if n == 2 {
			ctx.expire()
			return context.DeadlineExceeded // the request cut by the deadline
		}
		return status(503, 0)
	})
	var re *Error
	require.ErrorAs(t, err, &re)
	var ae *api.Error
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, 503, ae.StatusCode)
}
