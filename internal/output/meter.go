package output

// The meter: what every progress display shows, counted once. Counters are
// atomics, written by the workers and read by the displays as such; the
// rate keeps a short history of samples under a lock.

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/paradigm-upload/paradigm-upload/internal/pace"
	"github.com/paradigm-upload/paradigm-upload/internal/upload"
)

// rateWindow is how far back the rate looks: long enough to smooth out
// bursts, short enough to follow a throttled night.
const rateWindow = 20 * time.Second

// Meter counts a run's progress for the displays, the SIGUSR1 line and the
// final figures. It is an upload.Progress and an upload.Counter: the counting
// walk that runs ahead of the uploads gives it the total.
type Meter struct {
	found, foundBytes atomic.Int64
	done              atomic.Int64 // every file that ended, but those never attempted
	workDone          atomic.Int64 // files that ended after being sent (or tried)
	sent              atomic.Int64
	by                []atomic.Int64 // by outcome
	count             atomic.Pointer[upload.Count]

	now   func() time.Time
	start time.Time
	// began is when sending began: the first byte sent, or the first
	// file done as work; nil before. The rate counts from there.
	began atomic.Pointer[time.Time]
	pacer atomic.Pointer[func() pace.Status]

	mu      sync.Mutex
	samples []sample
}

type sample struct {
	at          time.Time
	work, bytes int64
}

// NewMeter returns a meter whose clock starts now.
func NewMeter() *Meter { return newMeter(time.Now) }

func newMeter(now func() time.Time) *Meter {
	return &Meter{by: make([]atomic.Int64, len(upload.Outcomes())), now: now, start: now()}
}

// Found counts files as the upload's scan finds them.
func (m *Meter) Found(n int, b int64) {
	m.found.Add(int64(n))
	m.foundBytes.Add(b)
}

// Sent counts bytes of content as they are sent.
func (m *Meter) Sent(b int64) {
	m.sent.Add(b)
	if b > 0 {
		m.begin()
	}
}

// begin notes when sending began, once.
func (m *Meter) begin() {
	if m.began.Load() == nil {
		now := m.now()
		m.began.CompareAndSwap(nil, &now)
	}
}

// Done counts a file that ended. A file the run never attempted (it
// stopped first) is counted by outcome, not as done: the bar stays where
// the work stopped.
func (m *Meter) Done(r upload.Result) {
	m.by[r.Outcome].Add(1)
	if r.Outcome == upload.NotAttempted {
		return
	}
	m.done.Add(1)
	if isWork(r) {
		m.begin()
		m.workDone.Add(1)
	}
}

// isWork reports whether a result is one of the files the counting walk
// counts as work, done: it was sent, or at least tried, and the service
// answered. Files already done, files skipped without a request and
// uploads abandoned in flight (a second Ctrl-C) are not, and do not make
// the rate.
func isWork(r upload.Result) bool {
	return (r.Attempts > 0 || r.Outcome.Spec().Sends) && r.Outcome != upload.Interrupted
}

// Pacing sets where the displays read what the pacer does (throttled at a
// learned rate, paused, an outage).
func (m *Meter) Pacing(status func() pace.Status) { m.pacer.Store(&status) }

// Counted takes the running totals of the counting walk.
func (m *Meter) Counted(c upload.Count) { m.count.Store(&c) }

// Snapshot is what a display shows at one moment.
type Snapshot struct {
	// Done files of Total; Total is final once TotalKnown. Files the run
	// stopped before attempting are not done: at the end, Total - Done
	// were never attempted.
	Done, Total int64
	TotalKnown  bool
	// WorkDone of WorkTotal are the files to send (skipped and already done
	// excluded); Sent of WorkBytes their bytes.
	WorkDone, WorkTotal int64
	Sent, WorkBytes     int64
	// By counts files by outcome.
	By []int64
	// FilesPerSec and BytesPerSec are zero until there is a rate to show.
	FilesPerSec, BytesPerSec float64
	// ETA is zero when there is none to show.
	ETA     time.Duration
	Elapsed time.Duration
	// Pace is what the pacer does; zero without one.
	Pace pace.Status
	// Now is when the snapshot was taken.
	Now time.Time
}

// Snapshot reads the counters and works out the rate and the time left.
func (m *Meter) Snapshot() Snapshot {
	now := m.now()
	s := Snapshot{
		Done: m.done.Load(), Total: m.found.Load(), WorkDone: m.workDone.Load(), Sent: m.sent.Load(),
		By: make([]int64, len(m.by)), Elapsed: now.Sub(m.start), Now: now,
	}
	if f := m.pacer.Load(); f != nil {
		s.Pace = (*f)()
	}
	for i := range m.by {
		s.By[i] = m.by[i].Load()
	}
	if c := m.count.Load(); c != nil {
		s.Total = max(s.Total, int64(c.Files))
		s.TotalKnown = c.Complete
		s.WorkTotal, s.WorkBytes = int64(c.Work), c.WorkBytes
	}
	s.Total = max(s.Total, s.Done+s.By[upload.NotAttempted])
	var moving bool
	s.FilesPerSec, s.BytesPerSec, moving = m.rates(now, s.WorkDone, s.Sent)
	// No time left before a file was sent — bytes that left at once into
	// the connections' buffers say nothing of when they arrive — unless
	// bytes keep moving (a large file on its way).
	if s.TotalKnown && (s.WorkDone > 0 || moving) {
		s.ETA = eta(s)
	}
	return s
}

// rates returns files and bytes per second over the last rateWindow,
// counted from when sending began (so that the first reading, however late,
// has them, and an idle start — the listing, files already done — does not
// dilute them); none until a second after that. moving reports that bytes
// were sent in each of the last movingFor seconds sampled.
func (m *Meter) rates(now time.Time, work, bytes int64) (fps, bps float64, moving bool) {
	began := m.began.Load()
	m.mu.Lock()
	defer m.mu.Unlock()
	if began == nil {
		return 0, 0, false
	}
	if len(m.samples) == 0 {
		m.samples = append(m.samples, sample{at: *began})
	}
	if now.Sub(m.samples[len(m.samples)-1].at) >= time.Second {
		m.samples = append(m.samples, sample{at: now, work: work, bytes: bytes})
	}
	for len(m.samples) > 2 && now.Sub(m.samples[1].at) >= rateWindow {
		m.samples = m.samples[1:]
	}
	if n := len(m.samples); n > movingFor {
		moving = true
		for i := n - movingFor; i < n; i++ {
			moving = moving && m.samples[i].bytes > m.samples[i-1].bytes
		}
	}
	base := m.samples[0]
	dt := now.Sub(base.at).Seconds()
	if dt < 1 {
		return 0, 0, moving
	}
	return float64(work-base.work) / dt, float64(bytes-base.bytes) / dt, moving
}

// movingFor is how many seconds in a row bytes must be sent for a time left
// from the bytes alone, before any file was sent.
const movingFor = 3

// eta is the time left: the files still to send at the file rate, or
// their bytes at the byte rate, whichever is longer (a few large files
// left after many small ones, or the other way round).
func eta(s Snapshot) time.Duration {
	files := s.WorkTotal - s.WorkDone
	if files <= 0 {
		return 0
	}
	var secs float64
	if s.FilesPerSec > 0 {
		secs = float64(files) / s.FilesPerSec
	}
	if bytes := s.WorkBytes - s.Sent; bytes > 0 && s.BytesPerSec > 0 {
		secs = max(secs, float64(bytes)/s.BytesPerSec)
	}
	if secs <= 0 {
		return 0
	}
	return max(time.Duration(secs*float64(time.Second)), time.Second)
}
