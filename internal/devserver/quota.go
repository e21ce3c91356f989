package devserver

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Quota is a request quota per API key, counting every request under /api/
// whatever its endpoint (the SDKs pace every request alike, and API-NOTES.md
// assumes such a quota): a token bucket refilled at PerMinute tokens a
// minute and holding at most Burst. A request beyond it is answered 429
// with Retry-After, the whole seconds until the next token.
type Quota struct {
	// PerMinute is the sustained rate; 0 means no quota.
	PerMinute float64 `json:"per_minute"`
	// Burst is the bucket's size; when 0, a tenth of PerMinute, at least 1.
	Burst float64 `json:"burst"`
}

func (q Quota) check() error {
	for _, v := range []float64{q.PerMinute, q.Burst} {
		if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("quota: %v is not a number of requests", v)
		}
	}
	return nil
}

// withDefaults fills in the default burst.
func (q Quota) withDefaults() Quota {
	if q.PerMinute > 0 && q.Burst == 0 {
		q.Burst = math.Max(1, math.Floor(q.PerMinute/10))
	}
	return q
}

// ParseQuota reads a rate such as 1000/min, 20/s or 5000/h and returns it
// in requests a minute.
func ParseQuota(s string) (float64, error) {
	num, unit, ok := strings.Cut(strings.ReplaceAll(strings.TrimSpace(s), " ", ""), "/")
	n, err := strconv.ParseFloat(num, 64)
	if !ok || err != nil || n < 0 || math.IsInf(n, 0) || math.IsNaN(n) {
		return 0, fmt.Errorf("%q is not a rate (examples: 1000/min, 20/s, 5000/h)", s)
	}
	switch strings.ToLower(unit) {
	case "s", "sec", "second":
		return n * 60, nil
	case "m", "min", "minute":
		return n, nil
	case "h", "hour":
		return n / 60, nil
	}
	return 0, fmt.Errorf("%q is not a rate: the unit must be /s, /min or /h", s)
}

type bucket struct {
	tokens float64
	last   time.Time
}

type quotaState struct {
	mu      sync.Mutex
	q       Quota
	buckets map[string]*bucket
}

// set replaces the quota; every bucket starts full again.
func (qs *quotaState) set(q Quota) {
	qs.mu.Lock()
	defer qs.mu.Unlock()
	qs.q = q.withDefaults()
	qs.buckets = map[string]*bucket{}
}

func (qs *quotaState) get() Quota {
	qs.mu.Lock()
	defer qs.mu.Unlock()
	return qs.q
}

// take spends a token of key's bucket at now, or says how long until the
// next one.
func (qs *quotaState) take(key string, now time.Time) (bool, time.Duration) {
	qs.mu.Lock()
	defer qs.mu.Unlock()
	if qs.q.PerMinute <= 0 {
		return true, 0
	}
	rate := qs.q.PerMinute / 60 // tokens a second
	b := qs.buckets[key]
	if b == nil {
		b = &bucket{tokens: qs.q.Burst, last: now}
		qs.buckets[key] = b
	}
	if dt := now.Sub(b.last).Seconds(); dt > 0 {
		b.tokens = math.Min(qs.q.Burst, b.tokens+dt*rate)
		b.last = now
	}
	const epsilon = 1e-9 // a refill that lands exactly on a token counts
	if b.tokens >= 1-epsilon {
		b.tokens = math.Max(0, b.tokens-1)
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / rate * float64(time.Second))
}

// overQuota answers 429 when the key's quota is spent; it reports whether
// it did.
func (s *Server) overQuota(w http.ResponseWriter, now time.Time) bool {
	ok, wait := s.quota.take(s.cfg.APIKey, now)
	if ok {
		return false
	}
	secs := int(math.Ceil(wait.Seconds() - 1e-9))
	secs = max(secs, 1)
	s.stats.throttled.Add(1)
	s.stats.quotaRefused.Add(1)
	q := s.quota.get()
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	writeError(w, http.StatusTooManyRequests, "rate_limited", fmt.Sprintf(
		"Request quota exceeded (%g requests a minute, bursts of %g): retry in %d s.", q.PerMinute, q.Burst, secs), nil)
	return true
}
