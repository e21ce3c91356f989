package pace

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paradigm-upload/paradigm-upload/internal/clock/clocktest"
)

// script answers requests in turn with the given statuses, then 201.
type script struct {
	mu     sync.Mutex
	codes  []int
	bodies []string
}

func (s *script) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.bodies = append(s.bodies, string(b))
	code := 201
	if len(s.codes) > 0 {
		code, s.codes = s.codes[0], s.codes[1:]
	}
	s.mu.Unlock()
	if code == 429 || code == 503 {
		w.Header().Set("Retry-After", "3")
	}
	w.WriteHeader(code)
}

func newTransport(clk *clocktest.Fake) (*Transport, *Pacer) {
	p := New(clk, Options{Policy: Policy{Retries: 2, Base: time.Second, Max: time.Minute}})
	return &Transport{Pacer: p, Next: http.DefaultTransport}, p
}

func post(t *testing.T, tr http.RoundTripper, url string, replayable bool) int {
	t.Helper()
	var body io.Reader = strings.NewReader("the body")
	if !replayable {
		body = io.MultiReader(strings.NewReader("the body")) // no GetBody
	}
	req, err := http.NewRequest(http.MethodPost, url, body)
	require.NoError(t, err)
	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	return resp.StatusCode
}

// The transport sends each request once and tells the pacer what the
// answer says: a 429 pauses the pool for its Retry-After, and the next
// request (the retrier's next try) waits for the pause's end on the
// pacer's clock.
func TestA429IsReturnedOnceAndPausesThePool(t *testing.T) {
	s := &script{codes: []int{429}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	clk := clocktest.New(time.Unix(1000, 0))
	tr, p := newTransport(clk)
	assert.Equal(t, 429, post(t, tr, srv.URL, true), "returned to the caller, who decides")
	assert.Len(t, s.bodies, 1, "sent once")
	assert.Equal(t, int64(1), p.Status().Throttled)
	assert.Equal(t, 201, post(t, tr, srv.URL, true))
	assert.GreaterOrEqual(t, clk.Now().Sub(time.Unix(1000, 0)), 3*time.Second, "the next request waited for the Retry-After")
}

// Three unavailable answers in a row make an outage; an answer ends it.
func TestUnavailableAnswersMakeAnOutage(t *testing.T) {
	s := &script{codes: []int{503, 502, 504}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	clk := clocktest.New(time.Unix(1000, 0))
	tr, p := newTransport(clk)
	for _, want := range []int{503, 502, 504} {
		assert.Equal(t, want, post(t, tr, srv.URL, true))
	}
	assert.True(t, p.Outage())
	assert.Equal(t, int64(3), p.Status().Unavailable)
	assert.Equal(t, 201, post(t, tr, srv.URL, true), "the probe")
	assert.False(t, p.Outage(), "over once it answered")
}

// A refused connection never reached the service: before the service ever
// answered it says nothing of the service (a mistake of setup, the
// retrier's to judge); once it has answered, it counts toward an outage.
func TestARefusedConnectionIsAnOutageSignalOnlyOnceTheServiceAnswered(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens there now
	clk := clocktest.New(time.Unix(1000, 0))
	p := New(clk, Options{Policy: Policy{Retries: 2, Base: time.Second, Max: time.Minute}, OutageBudget: time.Minute})
	tr := &Transport{Pacer: p, Next: http.DefaultTransport}
	get := func() error {
		req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/x", nil)
		require.NoError(t, err)
		resp, err := tr.RoundTrip(req)
		if resp != nil {
			resp.Body.Close()
		}
		return err
	}
	require.Error(t, get())
	assert.Equal(t, int64(0), p.Status().Unavailable)
	assert.False(t, p.Answered())
	p.Done(Ticket{}, OK, 0)
	for i := 0; i < outageAfter; i++ {
		require.Error(t, get())
	}
	assert.Equal(t, int64(outageAfter), p.Status().Unavailable)
	assert.True(t, p.Outage())
}

// A request its caller gives up while the service is silent (Ctrl-C during
// an outage) is not an answer: the outage goes on.
func TestARequestGivenUpDoesNotEndAnOutage(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	clk := clocktest.New(time.Unix(1000, 0))
	tr, p := newTransport(clk)
	p.Done(wait(t, p), OK, 0)
	for i := 0; i < outageAfter; i++ {
		p.Done(wait(t, p), Unavailable, 0)
	}
	require.True(t, p.Outage())
	clk.Advance(2 * time.Second) // a probe is due
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	require.NoError(t, err)
	time.AfterFunc(50*time.Millisecond, cancel)
	resp, err := tr.RoundTrip(req)
	if resp != nil {
		resp.Body.Close()
	}
	require.ErrorIs(t, err, context.Canceled)
	assert.True(t, p.Outage(), "no answer came")
	tk := wait(t, p)
	assert.True(t, tk.probe, "the next request probes")
}

// Once the pacer takes the refusals for ones that do not follow the rate,
// a refused request waits for its Retry-After by itself, in the transport:
// the pool is not paused, and the request is sent again after that wait.
func TestARefusalIndependentOfTheRateHoldsOnlyItsRequest(t *testing.T) {
	s := &script{codes: []int{429}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	clk := clocktest.New(time.Unix(1000, 0))
	tr, p := newTransport(clk)
	p.mu.Lock()
	p.shedding, p.shedSince, p.shedBaseN, p.shedBaseK = true, clk.Now(), 40, 10
	p.mu.Unlock()
	// The refused request comes back to its caller (the retrier, which
	// waits its Retry-After alone: internal/retry)...
	assert.Equal(t, 429, post(t, tr, srv.URL, true))
	assert.False(t, p.PausedUntil().After(clk.Now()), "the pool was not paused")
	assert.Zero(t, p.Status().Rate, "nor slowed")
	// ...and the next request of the pool goes at once.
	before := clk.Now()
	assert.Equal(t, 201, post(t, tr, srv.URL, true))
	assert.Equal(t, before, clk.Now(), "no wait for the pool")
	assert.Len(t, s.bodies, 2)
}
