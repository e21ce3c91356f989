package devserver

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// OutageMode is what the server does during a maintenance window.
type OutageMode string

// The outage modes.
const (
	// OutageUnavailable answers every API request with the service's
	// maintenance 503.
	OutageUnavailable OutageMode = "503"
	// OutageReset drops the connection of every API request.
	OutageReset OutageMode = "reset"
	// OutageRefuse stops listening and closes every connection (with
	// Serve, which owns the listener); a request that still arrives has its
	// connection dropped.
	OutageRefuse OutageMode = "refuse"
)

// ParseOutageMode reads 503, reset or refuse.
func ParseOutageMode(s string) (OutageMode, error) {
	switch m := OutageMode(strings.TrimSpace(s)); m {
	case OutageUnavailable, OutageReset, OutageRefuse:
		return m, nil
	}
	return "", fmt.Errorf("%q is not an outage mode (503, refuse or reset)", s)
}

// Outage is a maintenance window, from Start after the server starts, for
// Duration.
type Outage struct {
	Start, Duration time.Duration
	Mode            OutageMode
}

func (o Outage) check() error {
	if o.Start < 0 || o.Duration <= 0 {
		return fmt.Errorf("outage %s+%s: the start must not be negative and the duration must be positive", o.Start, o.Duration)
	}
	if _, err := ParseOutageMode(string(o.Mode)); err != nil {
		return err
	}
	return nil
}

// ParseOutage reads START+DURATION, such as 30s+60s: a window opening 30 s
// after the server starts and lasting 60 s.
func ParseOutage(s string, mode OutageMode) (Outage, error) {
	a, b, ok := strings.Cut(strings.TrimSpace(s), "+")
	start, err1 := time.ParseDuration(a)
	d, err2 := time.ParseDuration(b)
	if !ok || err1 != nil || err2 != nil {
		return Outage{}, fmt.Errorf("%q is not START+DURATION (example: 30s+60s)", s)
	}
	o := Outage{Start: start, Duration: d, Mode: mode}
	return o, o.check()
}

type window struct {
	from, to time.Time
	mode     OutageMode
}

type outageState struct {
	mu      sync.Mutex
	windows []window
	changed chan struct{} // tells Serve that windows changed
}

func (o *outageState) init(start time.Time, outages []Outage) {
	o.changed = make(chan struct{}, 1)
	for _, x := range outages {
		o.windows = append(o.windows, window{start.Add(x.Start), start.Add(x.Start + x.Duration), x.Mode})
	}
}

func (o *outageState) notify() {
	select {
	case o.changed <- struct{}{}:
	default:
	}
}

// at returns the window open at now, if any.
func (o *outageState) at(now time.Time) (window, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, w := range o.windows {
		if !now.Before(w.from) && now.Before(w.to) {
			return w, true
		}
	}
	return window{}, false
}

// refuseAt returns the refuse window open at now, if any.
func (o *outageState) refuseAt(now time.Time) (window, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, w := range o.windows {
		if w.mode == OutageRefuse && !now.Before(w.from) && now.Before(w.to) {
			return w, true
		}
	}
	return window{}, false
}

// nextRefuse returns the refuse window open at now or, if none, the first
// to open after now.
func (o *outageState) nextRefuse(now time.Time) (window, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var next window
	found := false
	for _, w := range o.windows {
		if w.mode == OutageRefuse && now.Before(w.to) && (!found || w.from.Before(next.from)) {
			next, found = w, true
		}
	}
	return next, found
}

func (o *outageState) add(w window) {
	o.mu.Lock()
	o.windows = append(o.windows, w)
	o.mu.Unlock()
	o.notify()
}

// end closes the open windows at now and cancels those to come.
func (o *outageState) end(now time.Time) {
	o.mu.Lock()
	kept := o.windows[:0]
	for _, w := range o.windows {
		switch {
		case !now.Before(w.to): // past
		case now.Before(w.from): // to come: cancelled
			continue
		default:
			w.to = now
		}
		kept = append(kept, w)
	}
	o.windows = kept
	o.mu.Unlock()
	o.notify()
}

func (o *outageState) list() []window {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]window(nil), o.windows...)
}

// inOutage answers an API request during a maintenance window; it reports
// whether it did.
func (s *Server) inOutage(w http.ResponseWriter, now time.Time) bool {
	win, ok := s.outages.at(now)
	if !ok {
		return false
	}
	if win.mode == OutageUnavailable {
		s.stats.errors503.Add(1)
		s.stats.outage503.Add(1)
		writeMaintenance(w, win.from, "devserver maintenance window")
		return true
	}
	s.stats.outageResets.Add(1)
	reset(w)
	return true
}
