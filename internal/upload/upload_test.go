package upload

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paradigm-upload/paradigm-upload/internal/api"
	"github.com/paradigm-upload/paradigm-upload/internal/clock/clocktest"
	"github.com/paradigm-upload/paradigm-upload/internal/pace"
	"github.com/paradigm-upload/paradigm-upload/internal/retry"
	"github.com/paradigm-upload/paradigm-upload/internal/scan"
	"github.com/paradigm-upload/paradigm-upload/internal/state"
)

// received is one upload as the fake service saw it.
type received struct {
	name   string
	sum    [32]byte
	tags   []string
	extID  string
	status int
}

// fakeAPI records uploads; answer, when set, picks a status for a file name
// (0: the normal 201).
type fakeAPI struct {
	mu       sync.Mutex
	got      []received
	byExt    map[string]int64
	answer   func(name string, attempt int) int
	attempts map[string]int
	inFlight atomic.Int32
	maxSeen  atomic.Int32
	lookups  atomic.Int32
	hold     time.Duration
	url      string // where it serves
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer key" {
		w.WriteHeader(401)
		_, _ = w.Write([]byte(`{"error":"authentication_failed","detail":"Invalid key"}`))
		return
	}
	if r.Method == http.MethodGet {
		f.lookups.Add(1)
		id := r.URL.Query().Get("external_metadata__external_id")
		f.mu.Lock()
		doc, ok := f.byExt[id]
		f.mu.Unlock()
		results := []any{}
		if ok {
			results = append(results, map[string]any{"id": doc, "upload_session_uuid": "sess", "external_metadata": map[string]any{"external_id": id},
				"workspace": map[string]any{"id": 42}})
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"count": len(results), "next": nil, "results": results})
		return
	}
	n := f.inFlight.Add(1)
	defer f.inFlight.Add(-1)
	for {
		m := f.maxSeen.Load()
		if n <= m || f.maxSeen.CompareAndSwap(m, n) {
			break
		}
	}
	if err := r.ParseMultipartForm(1 << 20); err != nil {
		w.WriteHeader(400)
		return
	}
	file, fh, err := r.FormFile("file")
	if err != nil {
		w.WriteHeader(400)
		return
	}
	b, _ := io.ReadAll(file)
	var em struct {
		ExternalID string `json:"external_id"`
	}
	_ = json.Unmarshal([]byte(r.FormValue("external_metadata")), &em)
	f.mu.Lock()
	if f.attempts == nil {
		f.attempts, f.byExt = map[string]int{}, map[string]int64{}
	}
	f.attempts[fh.Filename]++
	attempt := f.attempts[fh.Filename]
	f.mu.Unlock()
	time.Sleep(f.hold)
	status := 0
	if f.answer != nil {
		status = f.answer(fh.Filename, attempt)
	}
	switch status {
	case 0, 201, 207, -1:
		f.mu.Lock()
		f.got = append(f.got, received{name: fh.Filename, sum: sha256.Sum256(b), tags: r.MultipartForm.Value["tags"], extID: em.ExternalID, status: status})
		id := int64(len(f.got))
		if em.ExternalID != "" {
			f.byExt[em.ExternalID] = id
		}
		f.mu.Unlock()
		if status == -1 { // stored, but the answer is lost
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
			return
		}
		if status == 0 {
			status = 201
		}
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"id": %d, "filename": %q, "status": "pending", "upload_session_uuid": "sess", "external_metadata": %s}`,
			id, fh.Filename, orNull(r.FormValue("external_metadata")))
	case 429:
		w.Header().Set("Retry-After", "2")
		w.WriteHeader(429)
		_, _ = w.Write([]byte(`{"error":"rate_limited","detail":"slow down"}`))
	case 413:
		w.WriteHeader(413)
		_, _ = w.Write([]byte(`<html><body>413 Request Entity Too Large</body></html>`))
	default:
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"error":"e%d","detail":"refused with %d"}`, status, status)
	}
}

// orNull is a JSON value as sent, or null.
func orNull(s string) string {
	if s == "" {
		return "null"
	}
	return s
}

func (f *fakeAPI) names() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]int{}
	for _, g := range f.got {
		out[g.name]++
	}
	return out
}

// tree writes files (relative path → content) under a new folder.
func tree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, c := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		require.NoError(t, os.MkdirAll(filepath.Dir(full), 0o755))
		require.NoError(t, os.WriteFile(full, []byte(c), 0o644))
	}
	return root
}

func options(t *testing.T, f *fakeAPI, root string) Options {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	f.url = srv.URL
	c, err := api.NewClient(srv.URL, "key", &http.Client{Transport: api.NewTransport(api.TransportOptions{MaxConns: 10})})
	require.NoError(t, err)
	clk := clocktest.New(time.Unix(1e9, 0))
	return Options{
		Root: root, WorkspaceID: 42, BatchSize: 4, MaxFails: 100,
		Service: retry.Wrap(c, retry.New(pace.New(clk, pace.Options{Policy: pace.Policy{Retries: 3, Base: time.Second, Max: 10 * time.Second}}), retry.Options{})),
		Clock:   clk,
	}
}

func TestRunUploadsEveryFileOnceAndSkipsTheRest(t *testing.T) {
	files := map[string]string{
		"a.pdf": "A", "sub/b.txt": "B", "sub/deep/c.md": "C", "x.tmp": "T", "prog.exe": "E", ".DS_Store": "D",
	}
	root := tree(t, files)
	f := &fakeAPI{}
	o := options(t, f, root)
	o.Tags = []int64{1, 2}
	o.Filter.Exclude, _ = scan.ParseNameList("tmp,.DS_Store")
	sum, err := Run(context.Background(), o)
	require.NoError(t, err)
	assert.Equal(t, map[string]int{"a.pdf": 1, "b.txt": 1, "c.md": 1}, f.names())
	for _, g := range f.got {
		assert.Equal(t, []string{"1", "2"}, g.tags)
		assert.True(t, strings.HasPrefix(g.extID, "pu2-"))
	}
	assert.Equal(t, 3, sum.Count(Uploaded))
	assert.Equal(t, 3, sum.Count(Skipped))
	assert.Equal(t, map[string]int{"in --exclude-extensions": 2, "unsupported extension": 1}, sum.Reasons[Skipped])
	assert.Equal(t, 0, sum.Count(Failed))
	assert.Equal(t, int64(3), sum.Bytes(Uploaded))
	assert.Equal(t, []string{"sess"}, sum.Sessions)
	assert.Equal(t, 6, sum.Found)
}

func TestRunRespectsBatchSize(t *testing.T) {
	files := map[string]string{}
	for i := 0; i < 30; i++ {
		files[fmt.Sprintf("f%02d.txt", i)] = "x"
	}
	f := &fakeAPI{hold: 20 * time.Millisecond}
	o := options(t, f, tree(t, files))
	o.BatchSize = 5
	sum, err := Run(context.Background(), o)
	require.NoError(t, err)
	assert.Equal(t, 30, sum.Count(Uploaded))
	assert.LessOrEqual(t, f.maxSeen.Load(), int32(5))
	assert.Greater(t, f.maxSeen.Load(), int32(1), "uploads run concurrently")
}

func TestRunSkipsServiceRefusalsWithoutCountingThem(t *testing.T) {
	f := &fakeAPI{answer: func(name string, _ int) int {
		switch name {
		case "big.pdf":
			return 413
		case "odd.txt":
			return 415
		case "tagged.pdf":
			return 207
		}
		return 0
	}}
	o := options(t, f, tree(t, map[string]string{"big.pdf": "x", "odd.txt": "y", "tagged.pdf": "z"}))
	// One file at a time (three dispatched at once would all start before
	// a first skip, counted as a failure, could stop the run).
	o.MaxFails, o.BatchSize = 1, 1
	sum, err := Run(context.Background(), o)
	require.NoError(t, err)
	assert.Equal(t, StopNone, sum.Stopped, "a skip is not a failure: --max-fails 1 does not stop the run")
	assert.Equal(t, 0, sum.Count(Failed))
	assert.Equal(t, 0, sum.Failures())
	assert.Equal(t, 2, sum.Count(Skipped))
	assert.Equal(t, map[string]int{"refused by the service as too large": 1, "refused by the service as an unsupported type": 1}, sum.Reasons[Skipped])
	assert.Equal(t, 1, sum.Count(Uploaded))
	require.Len(t, sum.Warnings, 1)
	assert.Equal(t, "tagged.pdf", sum.Warnings[0].Rel)
}

func TestRunStopsStartingUploadsAfterMaxFails(t *testing.T) {
	files := map[string]string{}
	for i := 0; i < 40; i++ {
		files[fmt.Sprintf("f%02d.txt", i)] = "x"
	}
	f := &fakeAPI{answer: func(string, int) int { return 422 }}
	o := options(t, f, tree(t, files))
	o.BatchSize = 2
	o.MaxFails = 3
	sum, err := Run(context.Background(), o)
	require.NoError(t, err)
	assert.Equal(t, StopMaxFails, sum.Stopped)
	assert.GreaterOrEqual(t, sum.Count(Failed), 3)
	assert.LessOrEqual(t, sum.Count(Failed), 3+2, "only uploads already in flight may fail past the limit")
	for _, fl := range sum.Listed {
		assert.Contains(t, fl.Reason, "refused with 422")
		assert.Equal(t, 1, fl.Attempts, "a permanent answer is not retried")
	}
}

func TestRunStopsAtOnceOnARejectedKey(t *testing.T) {
	files := map[string]string{}
	for i := 0; i < 50; i++ {
		files[fmt.Sprintf("f%02d.txt", i)] = "x"
	}
	f := &fakeAPI{}
	o := options(t, f, tree(t, files))
	c, err := api.NewClient(f.url, "wrong", nil)
	require.NoError(t, err)
	o.Service = c
	o.MaxFails = 1000
	_, err = Run(context.Background(), o)
	require.ErrorIs(t, err, ErrAuth)
	assert.NotContains(t, err.Error(), "wrong", "the key is never shown")
	assert.Empty(t, f.names())
}

func TestRunRetriesTransientErrors(t *testing.T) {
	f := &fakeAPI{answer: func(name string, attempt int) int {
		if name == "a.txt" && attempt == 1 {
			return 429
		}
		if name == "b.txt" && attempt <= 2 {
			return 503
		}
		return 0
	}}
	o := options(t, f, tree(t, map[string]string{"a.txt": "a", "b.txt": "b"}))
	sum, err := Run(context.Background(), o)
	require.NoError(t, err)
	assert.Equal(t, 2, sum.Count(Uploaded))
	assert.Equal(t, 0, sum.Count(Failed), "a retry is not a failure")
	assert.Equal(t, map[string]int{"a.txt": 1, "b.txt": 1}, f.names())
}

func TestRunGivesUpAfterRetries(t *testing.T) {
	f := &fakeAPI{answer: func(string, int) int { return 503 }}
	o := options(t, f, tree(t, map[string]string{"a.txt": "a"}))
	c, err := api.NewClient(f.url, "key", nil)
	require.NoError(t, err)
	o.Service = retry.Wrap(c, retry.New(pace.New(o.Clock, pace.Options{Policy: pace.Policy{Retries: 2, Base: time.Second, Max: 10 * time.Second}}), retry.Options{}))
	sum, err := Run(context.Background(), o)
	require.NoError(t, err)
	require.Len(t, sum.Listed, 1)
	assert.Equal(t, 3, sum.Listed[0].Attempts)
	assert.Contains(t, sum.Listed[0].Reason, "after 3 attempts")
}

func TestRunReconcilesALostAnswerInsteadOfDuplicating(t *testing.T) {
	f := &fakeAPI{answer: func(name string, attempt int) int {
		if attempt == 1 {
			return -1 // stored, then the connection drops
		}
		return 0
	}}
	o := options(t, f, tree(t, map[string]string{"a.txt": "a"}))
	sum, err := Run(context.Background(), o)
	require.NoError(t, err)
	assert.Equal(t, 1, sum.Count(Uploaded))
	assert.Equal(t, map[string]int{"a.txt": 1}, f.names(), "no second document")
	assert.Positive(t, f.lookups.Load())
}

func TestRunStopGently(t *testing.T) {
	files := map[string]string{}
	for i := 0; i < 50; i++ {
		files[fmt.Sprintf("f%02d.txt", i)] = "x"
	}
	stop := make(chan struct{})
	var once sync.Once
	f := &fakeAPI{hold: 10 * time.Millisecond}
	f.answer = func(string, int) int {
		once.Do(func() { close(stop) })
		return 0
	}
	o := options(t, f, tree(t, files))
	o.BatchSize = 2
	o.Stop = stop
	sum, err := Run(context.Background(), o)
	require.NoError(t, err)
	assert.Equal(t, StopInterrupted, sum.Stopped)
	assert.Less(t, sum.Count(Uploaded), 50)
	assert.Equal(t, 0, sum.Count(Failed), "uploads in flight finish")
	assert.Equal(t, 0, sum.Count(Interrupted), "uploads in flight finish")
	assert.Len(t, f.names(), sum.Count(Uploaded))
}

// countingProgress records the counts of the walk that runs ahead.
type countingProgress struct {
	Nop
	mu     sync.Mutex
	counts []Count
}

func (c *countingProgress) Counted(n Count) {
	c.mu.Lock()
	c.counts = append(c.counts, n)
	c.mu.Unlock()
}

func TestCountingWalkReportsTheWholeRunAhead(t *testing.T) {
	files := map[string]string{"skip.exe": "x", "done.txt": "d"}
	for i := 0; i < 1100; i++ {
		files[fmt.Sprintf("d%d/f%04d.txt", i%7, i)] = "12345"
	}
	root := tree(t, files)
	statePath := filepath.Join(t.TempDir(), "state.json")
	f := &fakeAPI{}
	o := options(t, f, root)
	st, err := state.Open(statePath, state.Header{BaseURL: "http://x", WorkspaceID: 42}, state.Options{})
	require.NoError(t, err)
	info, err := os.Stat(filepath.Join(root, "done.txt"))
	require.NoError(t, err)
	require.NoError(t, st.RecordDone(state.Record{Path: "done.txt", Size: 1, ModTime: info.ModTime(), DocumentID: 9}))
	// What the earlier run saw of the (empty, for the fake) workspace: the
	// state file is then trusted, not listed against.
	require.NoError(t, st.RecordCheckpoint(state.Checkpoint{At: time.Unix(1e9, 0)}))
	require.NoError(t, st.Close()) // an earlier run's record
	st, err = state.Open(statePath, state.Header{BaseURL: "http://x", WorkspaceID: 42}, state.Options{})
	require.NoError(t, err)
	o.State = st
	p := &countingProgress{}
	o.Progress = p
	o.BatchSize = 8
	sum, err := Run(context.Background(), o)
	require.NoError(t, err)
	require.NoError(t, st.Close())
	require.Equal(t, 1100, sum.Count(Uploaded))
	p.mu.Lock()
	defer p.mu.Unlock()
	require.NotEmpty(t, p.counts)
	last := p.counts[len(p.counts)-1]
	assert.Equal(t, Count{Files: 1102, Work: 1100, WorkBytes: 1100 * 5, Complete: true}, last)
	assert.GreaterOrEqual(t, len(p.counts), 2, "running totals as the walk goes, then the final one")
	for i := 1; i < len(p.counts); i++ {
		assert.GreaterOrEqual(t, p.counts[i].Files, p.counts[i-1].Files, "totals only grow")
	}
}

// numbered returns n files of 5 bytes, f0000.txt and on, in one folder.
func numbered(n int) map[string]string {
	files := map[string]string{}
	for i := 0; i < n; i++ {
		files[fmt.Sprintf("f%04d.txt", i)] = "12345"
	}
	return files
}

// gatedCount holds the counting walk at its first report until the uploads
// have ended for release files, then lets it go on: the walk then meets
// files this run has just recorded in the state file.
type gatedCount struct {
	Nop
	release int
	mu      sync.Mutex
	done    int
	counts  []Count
	gate    chan struct{} // closed once release files have ended
	held    chan struct{} // closed when the walk reports first
}

func newGatedCount(release int) *gatedCount {
	return &gatedCount{release: release, gate: make(chan struct{}), held: make(chan struct{})}
}

func (g *gatedCount) Done(Result) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.done++
	if g.done == g.release {
		close(g.gate)
	}
}

func (g *gatedCount) Counted(c Count) {
	g.mu.Lock()
	first := len(g.counts) == 0
	g.counts = append(g.counts, c)
	g.mu.Unlock()
	if first {
		close(g.held)
		<-g.gate
	}
}

// The counting walk counts as work every file this run has to send, even
// one it meets after this run has uploaded and recorded it (Fresh): the
// total work does not shrink as the uploads overtake the count.
func TestTheCountIncludesWhatThisRunRecordedMeanwhile(t *testing.T) {
	root := tree(t, numbered(1200))
	st, err := state.Open(filepath.Join(t.TempDir(), "state.json"), state.Header{BaseURL: "http://x", WorkspaceID: 42}, state.Options{})
	require.NoError(t, err)
	o := options(t, &fakeAPI{}, root)
	o.State = st
	g := newGatedCount(1100)
	o.Progress = g
	sum, err := Run(context.Background(), o)
	require.NoError(t, err)
	require.NoError(t, st.Close())
	require.Equal(t, 1200, sum.Count(Uploaded))
	g.mu.Lock()
	defer g.mu.Unlock()
	require.Len(t, g.counts, 2, "one report at 1,024 files, the last at the end")
	assert.Equal(t, Count{Files: 1200, Work: 1200, WorkBytes: 1200 * 5, Complete: true}, g.counts[1],
		"files 1,025 to 1,100 were recorded by this run before the walk met them: still work")
}

// A counting walk cut short (the run abandoned: a second Ctrl-C) reports a
// total that is not complete: the display must not show it as final.
func TestACountCutShortIsNotComplete(t *testing.T) {
	root := tree(t, numbered(1100))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o := options(t, &fakeAPI{}, root)
	g := newGatedCount(-1)
	o.Progress = g
	o.BatchSize = 1
	go func() {
		// The walk waits at its first report; the run is abandoned
		// meanwhile, then the walk goes on and meets the cancellation.
		<-g.held
		cancel()
		close(g.gate)
	}()
	_, _ = Run(ctx, o)
	g.mu.Lock()
	defer g.mu.Unlock()
	require.NotEmpty(t, g.counts)
	last := g.counts[len(g.counts)-1]
	assert.False(t, last.Complete, "the walk did not reach the end: %+v", last)
	assert.Less(t, last.Files, 1100)
}

// The first interruption lets what is on the wire finish, but an upload
// refused (429) and waiting its Retry-After is not sent again: it ends not
// attempted (nothing was stored), neither failed nor uploaded after the
// stop.
func TestRunStopWithdrawsTheUploadsWaitingToRetry(t *testing.T) {
	files := map[string]string{}
	for i := range 4 {
		files[fmt.Sprintf("f%d.txt", i)] = "x"
	}
	stop := make(chan struct{})
	var once sync.Once
	f := &fakeAPI{answer: func(_ string, attempt int) int {
		if attempt == 1 {
			once.Do(func() { close(stop) }) // before any refusal is answered
			return 429
		}
		return 0
	}}
	o := options(t, f, tree(t, files))
	o.Stop = stop
	sum, err := Run(context.Background(), o)
	require.NoError(t, err)
	assert.Equal(t, StopInterrupted, sum.Stopped)
	assert.Equal(t, 4, sum.Count(NotAttempted))
	assert.Zero(t, sum.Count(Failed)+sum.Count(Interrupted)+sum.Count(Uploaded))
	assert.Empty(t, f.names(), "nothing sent again after the stop")
}
