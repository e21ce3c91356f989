package pace

import (
	"bytes"
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

// Throttling never reaches the caller: the transport waits (on the pacer's
// clock) and sends the same body again, as many times as the service asks.
func TestThrottlingIsRiddenOutInsideTheTransport(t *testing.T) {
	s := &script{codes: []int{429, 429, 429, 429, 429, 429, 429, 429}} // more than any retry count
	srv := httptest.NewServer(s)
	defer srv.Close()
	clk := clocktest.New(time.Unix(1000, 0))
	tr, p := newTransport(clk)
	assert.Equal(t, 201, post(t, tr, srv.URL, true))
	assert.Len(t, s.bodies, 9)
	for _, b := range s.bodies {
		assert.Equal(t, "the body", b, "the same body each time")
	}
	assert.Equal(t, int64(8), p.Status().Throttled)
	assert.GreaterOrEqual(t, clk.Now().Sub(time.Unix(1000, 0)), 8*3*time.Second, "each Retry-After honoured")
}

func TestA503IsSentAgainAFewTimesOutsideAnOutage(t *testing.T) {
	s := &script{codes: []int{503, 503, 503, 503}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	clk := clocktest.New(time.Unix(1000, 0))
	tr, p := newTransport(clk)
	// Three 503 in a row make an outage: then the probes go on until the
	// service answers.
	assert.Equal(t, 201, post(t, tr, srv.URL, true))
	assert.Len(t, s.bodies, 5)
	assert.False(t, p.Outage(), "over once it answered")
}

func TestABodyThatCannotBeReplayedIsSentOnce(t *testing.T) {
	s := &script{codes: []int{429}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	tr, _ := newTransport(clocktest.New(time.Unix(1000, 0)))
	assert.Equal(t, 429, post(t, tr, srv.URL, false), "returned to the caller, who decides")
	assert.Len(t, s.bodies, 1)
}

// A refused connection never reached the service: it counts toward an
// outage and is tried again; the run goes on once the service is back.
func TestARefusedConnectionIsAnOutageSignal(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens there now
	clk := clocktest.New(time.Unix(1000, 0))
	p := New(clk, Options{Policy: Policy{Retries: 2, Base: time.Second, Max: time.Minute}, OutageBudget: time.Minute})
	tries := 0
	// Before the service ever answered, a refused connection is a setup
	// mistake: one try, and the error.
	tr := &Transport{Pacer: p, Next: http.DefaultTransport}
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/x", nil)
	require.NoError(t, err)
	resp, err := tr.RoundTrip(req)
	if resp != nil {
		resp.Body.Close()
	}
	require.Error(t, err)
	assert.Equal(t, int64(0), p.Status().Unavailable)
	// Once it has answered, the same is an outage, waited out.
	p.Done(Ticket{}, OK, 0)
	tr = &Transport{Pacer: p, Next: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		tries++
		if tries == 6 {
			// The service is back: listen again and answer.
			return &http.Response{StatusCode: 201, Body: io.NopCloser(bytes.NewReader(nil)), Request: r}, nil
		}
		return http.DefaultTransport.RoundTrip(r)
	})}
	assert.Equal(t, 201, post(t, tr, "http://"+addr+"/x", true))
	assert.Equal(t, 6, tries)
	assert.Equal(t, int64(5), p.Status().Unavailable)
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

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
	assert.Equal(t, 201, post(t, tr, srv.URL, true))
	assert.Len(t, s.bodies, 2)
	assert.Contains(t, clk.Slept(), 3*time.Second, "the refused request waited for its Retry-After")
	assert.False(t, p.PausedUntil().After(clk.Now().Add(-3*time.Second)), "the pool was not paused")
	assert.Zero(t, p.Status().Rate, "nor slowed")
}
