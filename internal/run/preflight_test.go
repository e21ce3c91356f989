package run

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
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
)

const testKey = "preflight-key-0123456789"

// fakeInstance answers GET /api/v3/workspaces/{id} and GET /api/v3/workspaces
// with what its fields say, and counts the requests.
type fakeInstance struct {
	mu       sync.Mutex
	requests []string
	// one and list write the answers; nil: a Paradigm that has workspace 42.
	one, list http.HandlerFunc
	// tags writes the answer of GET /api/v3/tags; nil: tags 1 to 3.
	tags http.HandlerFunc
}

func (f *fakeInstance) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests = append(f.requests, r.Method+" "+r.URL.Path)
	f.mu.Unlock()
	switch {
	case r.Header.Get("Authorization") != "Bearer "+testKey:
		apiError(w, 401, "authentication_failed", "Invalid API key.")
	case r.URL.Path == "/api/v3/tags" && f.tags != nil:
		f.tags(w, r)
	case r.URL.Path == "/api/v3/tags":
		_, _ = w.Write([]byte(`{"count":3,"next":null,"previous":null,"results":[{"id":3,"name":"c"},{"id":2,"name":"b"},{"id":1,"name":"a"}]}`))
	case r.URL.Path == "/api/v3/workspaces" && f.list != nil:
		f.list(w, r)
	case r.URL.Path == "/api/v3/workspaces":
		_, _ = w.Write([]byte(`{"count":2,"next":null,"previous":null,"results":[{"id":1,"name":"Me"},{"id":42,"name":"Contracts"}]}`))
	case strings.HasPrefix(r.URL.Path, "/api/v3/workspaces/") && f.one != nil:
		f.one(w, r)
	case r.URL.Path == "/api/v3/workspaces/42" || r.URL.Path == "/api/v3/workspaces/1":
		fmt.Fprintf(w, `{"id":%s,"name":"x","workspace_type":"custom"}`, strings.TrimPrefix(r.URL.Path, "/api/v3/workspaces/"))
	default:
		apiError(w, 404, "not_found", "Workspace not found.")
	}
}

func apiError(w http.ResponseWriter, status int, kind, detail string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"id":"e1","code":%d,"error":%q,"detail":%q,"doc_url":"https://docs.lighton.ai"}`, status, kind, detail)
}

func html(status int) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(status)
		_, _ = w.Write([]byte("<!doctype html><html><body><h1>Welcome to Paradigm</h1></body></html>"))
	}
}

func status(code int) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) { apiError(w, code, "unavailable", "Try later.") }
}

func clientFor(t *testing.T, base, key string) *api.Client {
	t.Helper()
	c, err := api.NewClient(base, key, &http.Client{Transport: api.NewTransport(api.TransportOptions{})})
	require.NoError(t, err)
	return c
}

// check runs the preflight against srv for workspace id and returns its
// error and the requests it sent.
func check(t *testing.T, f *fakeInstance, id int64, key string) ([]string, error) {
	t.Helper()
	srv := httptest.NewServer(f)
	defer srv.Close()
	err := preflight(context.Background(), clientFor(t, srv.URL, key), fakeRetrier(), id, 5*time.Second, nil)
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests, err
}

// setupError asserts an exit 2 whose message holds each of want.
func setupError(t *testing.T, err error, want ...string) {
	t.Helper()
	require.Error(t, err)
	assert.Equal(t, ExitUsage, Code(err), "%v", err)
	assert.NotContains(t, err.Error(), "\n")
	for _, w := range want {
		assert.Contains(t, err.Error(), w)
	}
	assert.NotContains(t, err.Error(), testKey)
}

func TestPreflightPassesWithOneRequestWhenAllIsWell(t *testing.T) {
	reqs, err := check(t, &fakeInstance{}, 42, testKey)
	require.NoError(t, err)
	assert.Equal(t, []string{"GET /api/v3/workspaces/42"}, reqs)
}

func TestPreflightNamesAWorkspaceThatDoesNotExist(t *testing.T) {
	reqs, err := check(t, &fakeInstance{}, 99, testKey)
	setupError(t, err, "workspace 99 does not exist or this API key cannot use it", "paradigm-upload workspaces")
	assert.Equal(t, []string{"GET /api/v3/workspaces/99", "GET /api/v3/workspaces"}, reqs)
}

// An instance without GET /api/v3/workspaces/{id} (an older version, or the
// devserver before it served it) is checked through the list, not skipped.
func TestPreflightChecksThroughTheListWhenTheWorkspaceEndpointIsMissing(t *testing.T) {
	missing := func(w http.ResponseWriter, _ *http.Request) { apiError(w, 404, "not_found", "No such endpoint.") }
	_, err := check(t, &fakeInstance{one: missing}, 42, testKey)
	require.NoError(t, err)
	_, err = check(t, &fakeInstance{one: html(404)}, 42, testKey)
	require.NoError(t, err)
	_, err = check(t, &fakeInstance{one: missing}, 7, testKey)
	setupError(t, err, "workspace 7 does not exist")
}

func TestPreflightStopsForARejectedKey(t *testing.T) {
	reqs, err := check(t, &fakeInstance{}, 42, "wrong-key-0000")
	setupError(t, err, "the API key was rejected (HTTP 401 Unauthorized: Invalid API key.)")
	assert.Len(t, reqs, 1)

	forbidden := func(w http.ResponseWriter, _ *http.Request) { apiError(w, 403, "permission_denied", "Not allowed.") }
	_, err = check(t, &fakeInstance{one: forbidden}, 42, testKey)
	setupError(t, err, "the API key may not use workspace 42", "paradigm-upload workspaces")
}

func TestPreflightNamesSomethingThatIsNotAParadigmAPI(t *testing.T) {
	for name, f := range map[string]*fakeInstance{
		"a web page for every path":  {one: html(200), list: html(200)},
		"a web server's 404 pages":   {one: html(404), list: html(404)},
		"a JSON that is not the API": {one: func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`{"status":"ok"}`)) }, list: html(404)},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := check(t, f, 42, testKey)
			setupError(t, err, "does not look like a Paradigm API", "is --base-url the address of the instance?")
		})
	}
}

// Transient trouble is ridden out within the preflight's time; an API error
// that is neither about the key nor the workspace is left to the uploads.
func TestPreflightRidesOutTransientTrouble(t *testing.T) {
	for name, codes := range map[string][]int{
		"throttled":      {429, 429},
		"in maintenance": {503, 503, 503, 503},
		"a proxy's 502":  {502},
	} {
		t.Run(name, func(t *testing.T) {
			var mu sync.Mutex
			left := codes
			f := &fakeInstance{one: func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				defer mu.Unlock()
				if len(left) > 0 {
					code := left[0]
					left = left[1:]
					apiError(w, code, "unavailable", "Try later.")
					return
				}
				fmt.Fprint(w, `{"id":42,"name":"x"}`)
			}}
			reqs, err := check(t, f, 42, testKey)
			require.NoError(t, err)
			assert.Len(t, reqs, len(codes)+1, "tried again until it served")
		})
	}
	_, err := check(t, &fakeInstance{one: status(400), list: status(400)}, 42, testKey)
	require.NoError(t, err, "an API error on the list too: the API is there")
}

// A connection dropped on the preflight's first request is a hiccup, not a
// mistake of setup.
func TestPreflightRidesOutADroppedConnection(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			conn, _, _ := w.(http.Hijacker).Hijack()
			_ = conn.Close()
			return
		}
		(&fakeInstance{}).ServeHTTP(w, r)
	}))
	defer srv.Close()
	var notes []string
	err := preflight(context.Background(), clientFor(t, srv.URL, testKey), fakeRetrier(), 42, 5*time.Second,
		func(s string) { notes = append(notes, s) })
	require.NoError(t, err)
	assert.Equal(t, int32(2), n.Load())
	require.Len(t, notes, 1, "one line says it waits")
	assert.Contains(t, notes[0], "trying again for up to 5s")
}

// A service unavailable for the whole preflight is not a mistake of setup:
// exit 1, and the line says the rerun will work.
func TestPreflightNamesAServiceUnavailableThroughout(t *testing.T) {
	for name, f := range map[string]*fakeInstance{
		"in maintenance":   {one: status(503)},
		"throttled":        {one: status(429)},
		"list unavailable": {one: html(404), list: status(503)},
	} {
		t.Run(name, func(t *testing.T) {
			reqs, err := check(t, f, 42, testKey)
			require.Error(t, err)
			assert.Equal(t, ExitFailures, Code(err), "%v", err)
			assert.Contains(t, err.Error(), "did not serve for 5s")
			assert.Contains(t, err.Error(), "run the same command again once it is back")
			assert.Greater(t, len(reqs), 2, "tried more than once")
		})
	}
}

func TestPreflightNamesWhatCannotBeReached(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dead := "http://" + ln.Addr().String()
	require.NoError(t, ln.Close())
	err = preflight(context.Background(), clientFor(t, dead, testKey), fakeRetrier(), 42, 5*time.Second, nil)
	setupError(t, err, "nothing is listening at "+dead+" (connection refused)")

	// https:// to a server that speaks plain HTTP: not transient, named.
	plain := httptest.NewServer(&fakeInstance{})
	defer plain.Close()
	tlsURL := strings.Replace(plain.URL, "http://", "https://", 1)
	err = preflight(context.Background(), clientFor(t, tlsURL, testKey), fakeRetrier(), 42, 5*time.Second, nil)
	setupError(t, err, tlsURL+" answers plain HTTP, not TLS", "use --base-url "+plain.URL)

	// A server that accepts and never answers.
	stall := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer stall.Close()
	err = preflight(context.Background(), clientFor(t, stall.URL, testKey), fakeRetrier(), 42, 300*time.Millisecond, nil)
	setupError(t, err, stall.URL+" gave no answer in 300ms")

	// A certificate no authority vouches for.
	tlsSrv := httptest.NewTLSServer(&fakeInstance{})
	defer tlsSrv.Close()
	err = preflight(context.Background(), clientFor(t, tlsSrv.URL, testKey), fakeRetrier(), 42, 5*time.Second, nil)
	setupError(t, err, "certificate", "pass --ca-cert")
}

// fakeRetrier is the run's retry policy on a fake clock: the preflight's
// waits take no time.
func fakeRetrier() *retry.Retrier {
	clk := clocktest.New(time.Unix(1e9, 0))
	policy := pace.DefaultPolicy()
	policy.Rand = func() float64 { return 0.5 } // the same waits every run
	return retry.New(pace.New(clk, pace.Options{Policy: policy}), retry.Options{})
}

func TestPreflightIsInterruptible(t *testing.T) {
	stall := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer stall.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	client := clientFor(t, stall.URL, testKey)
	go func() { done <- preflight(ctx, client, fakeRetrier(), 42, time.Minute, nil) }()
	cancel()
	err := <-done
	assert.Equal(t, ExitInterrupted, Code(err), "%v", err)
}

// Tags the service does not have would leave every document without them
// (each upload answered 207): the preflight names them, exit 2.
func TestPreflightRefusesTagsTheServiceDoesNotHave(t *testing.T) {
	f := &fakeInstance{}
	srv := httptest.NewServer(f)
	defer srv.Close()
	client := clientFor(t, srv.URL, testKey)
	err := checkTags(context.Background(), client, fakeRetrier(), []int64{2, 99999}, 5*time.Second)
	setupError(t, err, "--tags: tag 99999 does not exist at "+srv.URL, "nothing was uploaded")
	err = checkTags(context.Background(), client, fakeRetrier(), []int64{7, 1, 99999}, 5*time.Second)
	setupError(t, err, "--tags: tags 7 and 99999 do not exist at "+srv.URL)

	require.NoError(t, checkTags(context.Background(), client, fakeRetrier(), []int64{1, 3}, 5*time.Second))
	f.mu.Lock()
	n := len(f.requests)
	f.mu.Unlock()
	require.NoError(t, checkTags(context.Background(), client, fakeRetrier(), nil, 5*time.Second))
	f.mu.Lock()
	assert.Len(t, f.requests, n, "no tags, no request")
	f.mu.Unlock()

	// The list cannot be read for a while: the uploads go on (a tag still
	// missing then makes the run end with exit 1, never 0).
	f.tags = status(503)
	require.NoError(t, checkTags(context.Background(), client, fakeRetrier(), []int64{1}, 5*time.Second))
	// A key the tags' list refuses is refused.
	err = checkTags(context.Background(), clientFor(t, srv.URL, "wrong-key-0000"), fakeRetrier(), []int64{1}, 5*time.Second)
	setupError(t, err, "the API key was rejected")
}
