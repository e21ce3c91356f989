package api

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"sync"
	"sync/atomic"
	"time"
)

// StallError is a request abandoned because no byte moved, in either
// direction, for the stall timeout: a server that accepts the connection and
// then never reads, never answers, or stops halfway through its answer.
type StallError struct {
	After time.Duration
}

// Timeout reports that this is a timeout, as net.Error does.
func (e *StallError) Timeout() bool { return true }

func (e *StallError) Error() string {
	return fmt.Sprintf("no byte sent or received for %s (--timeout)", e.After)
}

// SlowAnswerError is a request abandoned because its answer, though it kept
// coming, did not arrive whole within its bound: twice the stall timeout
// after the request was sent, plus a second for every answerRate bytes of
// the answer (announced, or read so far). A server that trickles an answer
// a byte every few seconds would otherwise hold the request for ever.
type SlowAnswerError struct {
	After time.Duration // the bound that ran out
	Bytes int64         // the bytes of the answer it allowed for
}

// Timeout reports that this is a timeout, as net.Error does.
func (e *SlowAnswerError) Timeout() bool { return true }

func (e *SlowAnswerError) Error() string {
	return fmt.Sprintf("the answer did not arrive whole within %s of the request (--timeout: twice it, plus a second per 64 KiB of answer)", e.After.Round(time.Millisecond))
}

// answerRate is the slowest an answer may arrive, on average, past the
// first two stall timeouts: 64 KiB a second.
const answerRate = 64 << 10

// answerBound is how long after its request an answer of n bytes may take
// to arrive whole.
func answerBound(timeout time.Duration, n int64) time.Duration {
	return 2*timeout + time.Duration(n)*time.Second/answerRate
}

// WithStallTimeout wraps next so that a request is abandoned when no byte
// of it moves for d, either way. On connections made by NewTransport every
// byte the socket takes or gives counts (writes go out in pieces of at most
// 64 KiB, so a slow link keeps proving it moves), and on Linux the bytes the
// peer acknowledges after the last write (the socket's buffer draining);
// over HTTP/2, where the connection carries every stream, and on other
// connections, reads of the request and answer bodies count. A slow upload
// that keeps moving is never cut, however long it takes; one the peer stops
// taking is cut after d, or 2d when it stops with its end still buffered.
//
// The answer has a deadline besides: once the request is sent whole — its
// last byte written, and, where the socket tells, acknowledged by the peer
// — or its answer begins, if sooner, the answer must arrive whole within
// answerBound(d, n) — 2d, plus a second per 64 KiB of the answer — or the
// request is abandoned with a *SlowAnswerError: an answer that trickles a
// byte every few seconds never looks stalled.
func WithStallTimeout(next http.RoundTripper, d time.Duration) http.RoundTripper {
	if d <= 0 {
		return next
	}
	return &stallTransport{next: next, timeout: d, now: time.Now}
}

type stallTransport struct {
	next    http.RoundTripper
	timeout time.Duration
	now     func() time.Time
}

// The causes a watchdog cancels its request with.
var (
	errStalled  = errors.New("stalled")
	errDeadline = errors.New("the answer's deadline passed")
)

func (t *stallTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancelCause(req.Context())
	w := newWatchdog(t.timeout, cancel, t.now)
	var conn *activeConn
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		if conn = asActive(info.Conn); conn != nil {
			conn.watch(w)
			w.conn.Store(conn)
		}
	}, WroteRequest: func(httptrace.WroteRequestInfo) { w.sent() }})
	cause := func() error {
		if req.Context().Err() != nil {
			return nil // the caller gave up
		}
		switch c := context.Cause(ctx); {
		case errors.Is(c, errStalled):
			return &StallError{After: t.timeout}
		case errors.Is(c, errDeadline):
			n := w.answerSize()
			return &SlowAnswerError{After: answerBound(t.timeout, n), Bytes: n}
		}
		return nil
	}
	release := func() {
		if conn != nil {
			conn.unwatch(w)
		}
	}
	r := req.WithContext(ctx)
	if req.Body != nil && req.Body != http.NoBody {
		r.Body = &watchedBody{ReadCloser: req.Body, w: w}
	}
	if req.GetBody != nil {
		r.GetBody = func() (io.ReadCloser, error) {
			b, err := req.GetBody()
			if err != nil || b == nil || b == http.NoBody {
				return b, err
			}
			return &watchedBody{ReadCloser: b, w: w}, nil
		}
	}
	resp, err := t.next.RoundTrip(r)
	if err != nil {
		w.stop()
		release()
		if ce := cause(); ce != nil {
			cancel(nil)
			return nil, ce
		}
		cancel(nil)
		return nil, err
	}
	w.kick()
	w.answering(resp.ContentLength)
	resp.Body = &watchedBody{ReadCloser: resp.Body, w: w, answer: true, done: func() { release(); cancel(nil) }, stalled: cause}
	return resp, nil
}

// watchdog cancels its request once no byte has moved for its timeout, or
// once its answer's deadline has passed.
type watchdog struct {
	timeout time.Duration
	now     func() time.Time
	last    atomic.Int64 // unix nanoseconds of the last byte moved
	from    atomic.Int64 // unix nanoseconds the answer's deadline counts from; 0: not yet
	began   atomic.Bool  // the answer began
	size    atomic.Int64 // the answer's announced length; 0: unknown
	got     atomic.Int64 // the answer's bytes read
	conn    atomic.Pointer[activeConn]
	cancel  context.CancelCauseFunc
	mu      sync.Mutex
	timer   *time.Timer
	stopped bool
}

func newWatchdog(d time.Duration, cancel context.CancelCauseFunc, now func() time.Time) *watchdog {
	w := &watchdog{timeout: d, cancel: cancel, now: now}
	w.last.Store(now().UnixNano())
	w.timer = time.AfterFunc(d, w.check)
	return w
}

// kick notes that bytes moved. It is called on every read, so it only
// stores a time; the timer checks it when it fires.
func (w *watchdog) kick() { w.last.Store(w.now().UnixNano()) }

// sent starts the answer's deadline, if it has not started.
func (w *watchdog) sent() { w.from.CompareAndSwap(0, w.now().UnixNano()) }

// answering notes that the answer began, announcing n bytes (-1: unknown).
func (w *watchdog) answering(n int64) {
	w.sent() // an early answer, before the request was sent whole
	w.began.Store(true)
	w.size.Store(max(n, 0))
}

// answerSize is the size of the answer its deadline allows for.
func (w *watchdog) answerSize() int64 { return max(w.size.Load(), w.got.Load()) }

func (w *watchdog) check() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return
	}
	next, cause := w.judge(w.now())
	if cause != nil {
		w.stopped = true
		w.cancel(cause)
		return
	}
	w.timer.Reset(next)
}

// judge returns when to look again after now, or why the request must be
// abandoned now.
func (w *watchdog) judge(now time.Time) (time.Duration, error) {
	idle := now.Sub(time.Unix(0, w.last.Load()))
	c := w.conn.Load()
	if c != nil && c.draining() {
		// The link took written bytes since the last look: the request is
		// still going out (its end was in the socket's buffer when the
		// transport said it was written), and no answer is due before it
		// arrived.
		w.last.Store(now.UnixNano())
		idle = 0
		if !w.began.Load() && w.from.Load() != 0 {
			w.from.Store(now.UnixNano())
		}
	}
	if idle >= w.timeout {
		return 0, errStalled
	}
	next := w.timeout - idle
	if c != nil {
		// The socket's queue is looked at four times a timeout, so that
		// its draining is known to within a quarter of one.
		next = min(next, w.timeout/4)
	}
	if from := w.from.Load(); from != 0 {
		left := time.Unix(0, from).Add(answerBound(w.timeout, w.answerSize())).Sub(now)
		if left <= 0 {
			return 0, errDeadline
		}
		next = min(next, left)
	}
	return next, nil
}

func (w *watchdog) stop() {
	w.mu.Lock()
	w.stopped = true
	w.timer.Stop()
	w.mu.Unlock()
}

// watchedBody reports every byte read through it to the watchdog.
type watchedBody struct {
	io.ReadCloser
	w       *watchdog
	answer  bool         // the answer's body: its bytes count toward its deadline
	done    func()       // on Close: release the request's context
	stalled func() error // the error to report when the watchdog fired
}

func (b *watchedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.w.kick()
		if b.answer {
			b.w.got.Add(int64(n))
		}
	}
	if err != nil && err != io.EOF && b.stalled != nil {
		if se := b.stalled(); se != nil {
			return n, se
		}
	}
	return n, err
}

func (b *watchedBody) Close() error {
	err := b.ReadCloser.Close()
	if b.done != nil {
		b.w.stop()
		b.done()
	}
	return err
}

// watchConns wraps the connections dial makes so that their traffic kicks
// the watchdogs of the requests using them.
func watchConns(dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &activeConn{Conn: c, queued: -1}, nil
	}
}

// activeConn reports its traffic to the watchdogs of the requests on it
// (one at a time over HTTP/1.1, several over HTTP/2).
type activeConn struct {
	net.Conn
	mu   sync.Mutex
	dogs []*watchdog
	// queued is how many written bytes the peer had not acknowledged when
	// last looked at; -1 when something was written since.
	queued int
	// queue, when set, says how many written bytes the peer has not
	// acknowledged in place of the socket (tests).
	queue func() (int, bool)
}

// unsent returns how many written bytes the peer has not acknowledged, and
// whether that can be told.
func (c *activeConn) unsent() (int, bool) {
	if c.queue != nil {
		return c.queue()
	}
	return unsent(c.Conn)
}

// draining reports whether the peer acknowledged written bytes since the
// last look (or since the last write): a slow link emptying the socket's
// buffer after the last write of a request. Where the number is not known,
// it reports false. The watchdog looks four times a timeout, so a request
// written whole and then left unanswered is cut within a quarter of a
// timeout past its timeout.
func (c *activeConn) draining() bool {
	n, ok := c.unsent()
	if !ok {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// The first look since a write, or fewer bytes queued than at the
	// last look (none at all: the peer took the rest since).
	moved := c.queued < 0 || c.queued > 0 && n < c.queued
	c.queued = n
	return moved
}

// asActive finds the activeConn under c (a TLS connection wraps it). An
// HTTP/2 connection is left out: its traffic is that of every stream on it,
// which would keep alive a stream the service never answers; the bodies'
// reads alone tell a stream's progress there.
func asActive(c net.Conn) *activeConn {
	if tc, ok := c.(*tls.Conn); ok {
		if tc.ConnectionState().NegotiatedProtocol == "h2" {
			return nil
		}
		c = tc.NetConn()
	}
	ac, _ := c.(*activeConn)
	return ac
}

func (c *activeConn) watch(w *watchdog) {
	c.mu.Lock()
	c.dogs = append(c.dogs, w)
	c.mu.Unlock()
}

func (c *activeConn) unwatch(w *watchdog) {
	c.mu.Lock()
	for i, d := range c.dogs {
		if d == w {
			c.dogs = append(c.dogs[:i], c.dogs[i+1:]...)
			break
		}
	}
	c.mu.Unlock()
}

// wrote kicks the watchdogs and notes that the socket's queue grew.
func (c *activeConn) wrote() {
	c.mu.Lock()
	c.queued = -1
	for _, d := range c.dogs {
		d.kick()
	}
	c.mu.Unlock()
}

func (c *activeConn) kick() {
	c.mu.Lock()
	for _, d := range c.dogs {
		d.kick()
	}
	c.mu.Unlock()
}

// maxPiece bounds one write to the socket, so that a slow link reports
// progress at least every maxPiece bytes.
const maxPiece = 64 << 10

func (c *activeConn) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		piece := p[:min(len(p), maxPiece)]
		n, err := c.Conn.Write(piece)
		written += n
		if n > 0 {
			c.wrote()
		}
		if err != nil {
			return written, err
		}
		p = p[n:]
	}
	return written, nil
}

func (c *activeConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.kick()
	}
	return n, err
}
