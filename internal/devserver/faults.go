package devserver

import (
	"fmt"
	"hash/fnv"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"time"
)

// fault is what the server does to one request.
type fault struct {
	throttle, unavailable, resetBefore, resetAfter bool
}

// decide draws the faults of a request from the seed and the request's
// identity (key) and how many times that same request came before, so a
// run is reproducible whatever order concurrent requests arrive in.
func (s *Server) decide(key string, upload bool) fault {
	c := s.cfg
	if !s.faulty(upload) {
		return fault{}
	}
	s.mu.Lock()
	n := s.seen[key]
	s.seen[key] = n + 1
	s.counted++
	every := c.ThrottleEvery > 0 && s.counted%c.ThrottleEvery == 0
	s.mu.Unlock()
	if every {
		return fault{throttle: true}
	}
	h := fnv.New64a()
	fmt.Fprintf(h, "%d\x00%s\x00%d", c.Seed, key, n)
	rng := mrand.New(mrand.NewPCG(h.Sum64(), c.Seed))
	f := fault{throttle: rng.Float64() < c.ThrottleRate}
	f.unavailable = !f.throttle && rng.Float64() < c.ErrorRate
	if upload && !f.throttle && !f.unavailable && rng.Float64() < c.ResetRate {
		if rng.Float64() < 0.5 {
			f.resetAfter = true
		} else {
			f.resetBefore = true
		}
	}
	return f
}

// faulty reports whether any fault may be injected into such a request.
func (s *Server) faulty(upload bool) bool {
	c := s.cfg
	return c.ThrottleRate > 0 || c.ThrottleEvery > 0 || c.ErrorRate > 0 || upload && c.ResetRate > 0
}

// refuse answers a throttled or unavailable request; it reports whether it
// did.
func (s *Server) refuse(w http.ResponseWriter, f fault) bool {
	switch {
	case f.throttle:
		s.stats.throttled.Add(1)
		w.Header().Set("Retry-After", retryAfterValue(s.cfg.RetryAfter))
		writeError(w, http.StatusTooManyRequests, "rate_limited", "Too many requests; retry later.", nil)
	case f.unavailable:
		s.stats.errors503.Add(1)
		writeMaintenance(w, s.cfg.Now(), "random 503 (devserver --error-rate)")
	default:
		return false
	}
	return true
}

func (s *Server) sleepLatency(r *http.Request) {
	if s.cfg.Latency <= 0 {
		return
	}
	t := time.NewTimer(s.cfg.Latency)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
	}
}

// retryAfterValue renders a Retry-After in whole seconds, as the service
// does; below a second (a knob for fast tests) it is a decimal.
func retryAfterValue(d time.Duration) string {
	if d < time.Second {
		return strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
	}
	return strconv.Itoa(int(d.Round(time.Second) / time.Second))
}

// reset drops the client's connection without an answer, as a crashed
// proxy or a network cut would.
func reset(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0) // send RST, not FIN
	}
	conn.Close()
}
