package devserver

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The quota is a token bucket per key counting every API request, checked
// after the key and before anything else; Retry-After is the whole seconds
// until the next token.
func TestQuota(t *testing.T) {
	c, s, clk := setup(t, Config{Quota: Quota{PerMinute: 30, Burst: 3}})                       // a token every 2 s
	id := c.upload(doc{ws: 42, name: "a.pdf"})                                                 // 1
	assert.Equal(t, http.StatusOK, c.get("/api/v3/workspaces").code)                           // 2
	assert.Equal(t, http.StatusNoContent, c.do(http.MethodDelete, filePath(id), nil, "").code) // 3
	for _, r := range [][2]string{{"GET", "/api/v3/files"}, {"GET", "/api/v3/tags"}, {"POST", "/api/v3/files/bulk-delete"},
		{"PATCH", filePath(id)}, {"GET", "/api/v3/no/such/route"}} {
		a := c.do(r[0], r[1], nil, "")
		assert.Equal(t, http.StatusTooManyRequests, a.code, "%v", r)
		assertErrorShape(t, a.body, "rate_limited")
		assert.Equal(t, "2", a.header.Get("Retry-After"), "%v", r)
	}
	assert.Equal(t, http.StatusOK, c.get("/_devserver/stats").code, "/_devserver/ is not counted")
	clk.add(500 * time.Millisecond)
	assert.Equal(t, "2", c.get("/api/v3/files").header.Get("Retry-After"), "1.5 s rounds up")
	clk.add(1000 * time.Millisecond)
	assert.Equal(t, "1", c.get("/api/v3/files").header.Get("Retry-After"), "0.5 s is at least 1")
	clk.add(500 * time.Millisecond)
	assert.Equal(t, http.StatusOK, c.get("/api/v3/files").code, "a token refilled")
	assert.Equal(t, http.StatusTooManyRequests, c.get("/api/v3/files").code)
	clk.add(time.Hour)
	for i := 0; i < 3; i++ {
		assert.Equal(t, http.StatusOK, c.get("/api/v3/files").code, "the bucket holds the burst, no more")
	}
	assert.Equal(t, http.StatusTooManyRequests, c.get("/api/v3/files").code)
	st := s.Stats()
	assert.Equal(t, int64(9), st.QuotaRefused)
	assert.Equal(t, int64(9), st.Throttled)

	// Changed at run time, the buckets full again; 0 lifts the quota.
	a := c.do(http.MethodPut, "/_devserver/quota", strings.NewReader(`{"per_minute": 120}`), "application/json")
	require.Equal(t, http.StatusOK, a.code, "%s", a.raw)
	assert.Equal(t, map[string]any{"per_minute": float64(120), "burst": float64(12)}, a.body, "the default burst: a tenth")
	for i := 0; i < 12; i++ {
		require.Equal(t, http.StatusOK, c.get("/api/v3/files").code, "request %d", i)
	}
	a = c.get("/api/v3/files")
	assert.Equal(t, http.StatusTooManyRequests, a.code)
	assert.Equal(t, "1", a.header.Get("Retry-After"), "0.5 s to the next token")
	require.Equal(t, http.StatusOK, c.do(http.MethodPut, "/_devserver/quota", strings.NewReader(`{"per_minute": 0}`), "application/json").code)
	for i := 0; i < 50; i++ {
		require.Equal(t, http.StatusOK, c.get("/api/v3/files").code)
	}
	assert.Equal(t, http.StatusBadRequest, c.do(http.MethodPut, "/_devserver/quota", strings.NewReader(`{"per_minute": -1}`), "application/json").code)
	assert.Equal(t, http.StatusBadRequest, c.do(http.MethodPut, "/_devserver/quota", strings.NewReader(`{"rate": 1}`), "application/json").code)
}

func TestParseQuotaAndOutage(t *testing.T) {
	for in, want := range map[string]float64{"1000/min": 1000, "20/s": 1200, "600/h": 10, "1.5/m": 1.5, "0/min": 0} {
		got, err := ParseQuota(in)
		require.NoError(t, err, in)
		assert.InDelta(t, want, got, 1e-9, in)
	}
	for _, in := range []string{"1000", "x/min", "10/day", "-1/s", "/min"} {
		_, err := ParseQuota(in)
		assert.Error(t, err, in)
	}
	o, err := ParseOutage("30s+1m", OutageRefuse)
	require.NoError(t, err)
	assert.Equal(t, Outage{30 * time.Second, time.Minute, OutageRefuse}, o)
	for _, in := range []string{"30s", "x+1m", "1m+0s", "-1s+1m"} {
		_, err := ParseOutage(in, OutageUnavailable)
		assert.Error(t, err, in)
	}
	_, err = ParseOutageMode("down")
	assert.Error(t, err)
}

// A 503 window answers every API request with the maintenance 503 (no
// Retry-After); /_devserver/ still answers.
func TestOutage503Window(t *testing.T) {
	c, s, clk := setup(t, Config{Outages: []Outage{{Start: 10 * time.Second, Duration: 5 * time.Second, Mode: OutageUnavailable}}})
	assert.Equal(t, http.StatusOK, c.get("/api/v3/files").code)
	clk.add(10 * time.Second)
	for _, r := range [][2]string{{"GET", "/api/v3/files"}, {"POST", "/api/v3/files"}, {"GET", "/api/v3/workspaces/42"}, {"DELETE", "/api/v3/files/1"}} {
		a := c.do(r[0], r[1], nil, "")
		assert.Equal(t, http.StatusServiceUnavailable, a.code, "%v", r)
		assertMaintenance(t, a)
	}
	o := c.get("/_devserver/outage").body
	assert.NotNil(t, o["active"])
	clk.add(5 * time.Second)
	assert.Equal(t, http.StatusOK, c.get("/api/v3/files").code, "the window is over")
	st := s.Stats()
	assert.Equal(t, int64(4), st.Outage503)
	assert.Equal(t, int64(4), st.Errors503)
}

// POST /_devserver/outage opens a window now; DELETE closes it. A reset
// window drops the connection of every API request.
func TestOutageStartedAndEndedAtRunTime(t *testing.T) {
	c, s, clk := setup(t, Config{})
	a := c.do(http.MethodPost, "/_devserver/outage", strings.NewReader(`{"duration":"1m","mode":"reset"}`), "application/json")
	require.Equal(t, http.StatusOK, a.code, "%s", a.raw)
	assert.Equal(t, "reset", a.body["active"].(map[string]any)["mode"])
	assert.Error(t, dropped(t, c.url+"/api/v3/files"), "the connection is dropped")
	clk.add(30 * time.Second)
	require.Equal(t, http.StatusOK, c.do(http.MethodDelete, "/_devserver/outage", nil, "").code)
	assert.Equal(t, http.StatusOK, c.get("/api/v3/files").code, "ended early")
	assert.Equal(t, int64(1), s.Stats().OutageResets)

	a = c.do(http.MethodPost, "/_devserver/outage", strings.NewReader(`{"duration":"10s"}`), "application/json")
	require.Equal(t, http.StatusOK, a.code)
	assert.Equal(t, http.StatusServiceUnavailable, c.get("/api/v3/files").code, "503 by default")
	clk.add(10 * time.Second)
	assert.Equal(t, http.StatusOK, c.get("/api/v3/files").code)
	for _, body := range []string{`{"duration":"x"}`, `{"duration":"0s"}`, `{"duration":"1s","mode":"down"}`, `{}`} {
		assert.Equal(t, http.StatusBadRequest, c.do(http.MethodPost, "/_devserver/outage", strings.NewReader(body), "application/json").code, body)
	}
}

// dropped sends a GET with the key on a new connection and returns the
// transport's error.
func dropped(t *testing.T, url string) error {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := noKeepAlive().Do(req)
	if err == nil {
		resp.Body.Close()
	}
	return err
}

func noKeepAlive() *http.Client {
	return &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
}

// Serve carries out a refuse window: connections are refused and open ones
// closed, then the server listens again on the same address.
func TestServeRefusesConnectionsDuringARefuseWindow(t *testing.T) {
	s, err := New(Config{APIKey: key})
	require.NoError(t, err)
	defer s.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	states := make(chan bool, 4)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		served <- Serve(ctx, ln, s, ServeOptions{OnListening: func(up bool) { states <- up }})
	}()
	get := func(c *http.Client) (*http.Response, error) {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/api/v3/workspaces", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		return c.Do(req)
	}
	// An open connection, kept alive.
	idle, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer idle.Close()
	_, err = fmt.Fprintf(idle, "GET /_devserver/stats HTTP/1.1\r\nHost: x\r\n\r\n")
	require.NoError(t, err)
	buf := make([]byte, 4096)
	_, err = idle.Read(buf)
	require.NoError(t, err)

	resp, err := get(noKeepAlive())
	require.NoError(t, err)
	resp.Body.Close()

	c := &client{t: t, url: "http://" + addr}
	a := c.do(http.MethodPost, "/_devserver/outage", strings.NewReader(`{"duration":"1h","mode":"refuse"}`), "application/json")
	require.Equal(t, http.StatusOK, a.code)
	require.False(t, recv(t, states))
	resp, err = get(noKeepAlive())
	if err == nil {
		resp.Body.Close()
	}
	assert.ErrorIs(t, err, syscall.ECONNREFUSED, "refused")
	require.NoError(t, idle.SetReadDeadline(time.Now().Add(10*time.Second)))
	_, err = idle.Read(buf)
	assert.Error(t, err, "the open connection was closed")
	assert.Equal(t, int64(1), s.Stats().ListenerStops)

	s.outages.end(s.cfg.Now()) // what DELETE /_devserver/outage does
	require.True(t, recv(t, states))
	resp, err = get(noKeepAlive())
	require.NoError(t, err, "listening again on the same address")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	resp.Body.Close()

	cancel()
	require.NoError(t, recv(t, served))
	resp, err = get(noKeepAlive())
	if err == nil {
		resp.Body.Close()
	}
	assert.Error(t, err, "stopped")
}

// recv fails the test when nothing arrives within 10 s, rather than hang.
func recv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("nothing arrived in 10 s")
	}
	var zero T
	return zero
}

// Without Serve (here httptest), a refuse window drops each request's
// connection.
func TestRefuseWithoutServeDropsConnections(t *testing.T) {
	c, s, _ := setup(t, Config{Outages: []Outage{{Duration: time.Minute, Mode: OutageRefuse}}})
	assert.Error(t, dropped(t, c.url+"/api/v3/files"))
	assert.Equal(t, int64(1), s.Stats().OutageResets)
}
