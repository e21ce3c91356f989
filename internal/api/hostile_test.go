package api

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Servers of our own that misbehave, one class each.

// recorder counts requests and remembers their Authorization headers.
type keyRecorder struct {
	mu    sync.Mutex
	auths []string
}

func (k *keyRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	k.mu.Lock()
	k.auths = append(k.auths, r.Header.Get("Authorization"))
	k.mu.Unlock()
	_, _ = io.Copy(io.Discard, r.Body)
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"count":0,"next":null,"results":[]}`))
}

func (k *keyRecorder) seen() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]string(nil), k.auths...)
}

// A redirect is never followed — not for an upload (Go would turn the POST
// into a GET and a JSON list would read as a success), not for a read — so
// neither the request nor the key ever reaches another origin: another
// port of the same host, or plain http.
func TestRedirectsAreNeverFollowed(t *testing.T) {
	elsewhere := &keyRecorder{}
	other := httptest.NewServer(elsewhere) // same host, another port
	defer other.Close()
	for _, code := range []int{301, 302, 303, 307, 308} {
		redirecting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, other.URL+r.URL.RequestURI(), code)
		}))
		c, err := NewClient(redirecting.URL, testKey, nil)
		require.NoError(t, err)
		p := writeTemp(t, "a.pdf", []byte("x"))
		_, err = c.Upload(context.Background(), UploadRequest{Path: p, WorkspaceID: 1})
		var re *RedirectError
		require.ErrorAs(t, err, &re, "HTTP %d", code)
		assert.Equal(t, other.URL+"/api/v3/files", re.Location)
		assert.Contains(t, err.Error(), "the server redirects to "+other.URL+"/api/v3/files")
		assert.Contains(t, err.Error(), "use that as --base-url")

		_, err = c.GetFile(context.Background(), 3)
		require.ErrorAs(t, err, &re, "a read is not followed either (HTTP %d)", code)
		_, err = c.Lookup(context.Background(), 1, "x")
		require.ErrorAs(t, err, &re)
		redirecting.Close()
	}
	assert.Empty(t, elsewhere.seen(), "nothing, and so no key, reached the other origin")
}

// An answer with a success status that cannot be read as the document is
// an unknown outcome, never a success (document 0) nor a plain failure.
func TestUnreadableSuccessAnswersAreUnknown(t *testing.T) {
	for name, body := range map[string]string{
		"JSON without an id": `{"status":"pending","filename":"a.pdf"}`,
		"id zero":            `{"id":0}`,
		"not JSON":           `<html>OK</html>`,
		"a JSON list":        `{"count":0,"results":[]}`,
	} {
		t.Run(name, func(t *testing.T) {
			c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				w.WriteHeader(200)
				_, _ = w.Write([]byte(body))
			})
			p := writeTemp(t, "a.pdf", []byte("x"))
			res, err := c.Upload(context.Background(), UploadRequest{Path: p, WorkspaceID: 1})
			var ae *AnswerError
			require.ErrorAs(t, err, &ae, "got %+v", res)
			assert.Nil(t, res)
		})
	}
}

// silentServer accepts connections and then does nothing at all: it reads
// nothing (so a large upload fills the socket buffers and blocks) and
// answers nothing.
func silentServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return "http://" + ln.Addr().String()
}

func stallClient(t *testing.T, base string, d time.Duration) *Client {
	t.Helper()
	c, err := NewClient(base, testKey, &http.Client{Transport: WithStallTimeout(NewTransport(TransportOptions{}), d)})
	require.NoError(t, err)
	return c
}

// within fails the test unless fn returns within d (a bound for a hang, not
// a measurement).
func within(t *testing.T, d time.Duration, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("still hanging after %s", d)
	}
}

func TestASilentServerIsAbandonedAfterTheStallTimeout(t *testing.T) {
	base := silentServer(t)
	c := stallClient(t, base, 150*time.Millisecond)
	for _, size := range []int{10, 64 << 20} { // a small body, and one the socket cannot swallow
		p := writeTemp(t, "a.pdf", make([]byte, size))
		within(t, 20*time.Second, func() {
			_, err := c.Upload(context.Background(), UploadRequest{Path: p, WorkspaceID: 1})
			var te *TransportError
			require.ErrorAs(t, err, &te, "size %d", size)
			var lost *LostError
			if size == 10 {
				// Sent whole: the service may have stored it.
				assert.True(t, te.Sent, "an abandoned upload sent whole may have reached the service")
				require.ErrorAs(t, err, &lost)
				assert.Equal(t, int64(size), lost.Size)
				assert.Len(t, lost.SHA256, 64)
			} else {
				// Cut before the file's end: nothing can have been stored.
				assert.False(t, te.Sent, "an upload cut before its end cannot have been stored")
				assert.NotErrorAs(t, err, &lost)
			}
			var se *StallError
			require.ErrorAs(t, err, &se)
			assert.Contains(t, err.Error(), "no byte sent or received for 150ms (--timeout)")
		})
	}
	within(t, 20*time.Second, func() {
		_, err := c.GetFile(context.Background(), 1)
		var se *StallError
		require.ErrorAs(t, err, &se, "a lookup is under the same rule")
	})
}

// Headers, the first bytes of the body, then silence: the stall timeout
// abandons it. (The answer announces 10 MiB, so that its deadline — twice
// the timeout and a second per 64 KiB — lies far beyond: on a loaded
// machine a late look at a 25-byte answer could meet the deadline first.)
func TestHeadersThenASilentBodyIsAbandoned(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(10<<20))
		w.WriteHeader(200)
		_, _ = w.Write([]byte(`{"count": 1, "results": [`))
		w.(http.Flusher).Flush()
		<-r.Context().Done() // then nothing, until the client gives up
	}))
	defer srv.Close()
	c := stallClient(t, srv.URL, 150*time.Millisecond)
	within(t, 20*time.Second, func() {
		err := c.ListFiles(context.Background(), ListQuery{WorkspaceID: 1}, func([]File) error { return nil })
		require.Error(t, err)
		var se *StallError
		assert.ErrorAs(t, err, &se, "%v", err)
	})
}

// An answer that trickles — headers, then a byte every 30 ms, never silent
// for the stall timeout of 100 ms — is cut at its deadline (200 ms and a
// little after the request), and the caller sees a transient failure, a
// *TransportError, which it retries; a lookup and a listing page alike.
func TestATricklingAnswerIsCutAndIsATransientFailure(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(200)
		for _, err := w.Write([]byte(" ")); err == nil; _, err = w.Write([]byte(" ")) {
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(30 * time.Millisecond):
			}
		}
	}))
	defer srv.Close()
	c := stallClient(t, srv.URL, 100*time.Millisecond)
	for name, call := range map[string]func() error{
		"get": func() error { _, err := c.GetFile(context.Background(), 1); return err },
		"list": func() error {
			return c.ListFiles(context.Background(), ListQuery{WorkspaceID: 1}, func([]File) error { return nil })
		},
	} {
		within(t, 20*time.Second, func() {
			err := call()
			var te *TransportError
			require.ErrorAs(t, err, &te, name)
			var sa *SlowAnswerError
			require.ErrorAs(t, err, &sa, name)
			assert.Contains(t, err.Error(), "did not arrive whole within", name)
		})
	}
}

// An upload that keeps moving is never cut, however long it takes: here it
// takes several times the stall timeout, its bytes trickling in.
func TestASlowUploadThatKeepsMovingIsNeverCut(t *testing.T) {
	const size = 400 << 10
	var got atomic.Int64
	srv := httptest.NewServer(slowReader(&got, 20*time.Millisecond))
	defer srv.Close()
	// Small socket buffers, so the client's writes wait for the reader.
	tr := NewTransport(TransportOptions{})
	tr.WriteBufferSize = 1 << 10
	tr.DialContext = watchConns(func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetWriteBuffer(4 << 10)
		}
		return c, err
	})
	c, err := NewClient(srv.URL, testKey, &http.Client{Transport: WithStallTimeout(tr, 300*time.Millisecond)})
	require.NoError(t, err)
	p := writeTemp(t, "slow.pdf", make([]byte, size))
	start := time.Now()
	res, err := c.Upload(context.Background(), UploadRequest{Path: p, WorkspaceID: 1})
	require.NoError(t, err)
	assert.Equal(t, int64(5), res.File.ID)
	assert.GreaterOrEqual(t, got.Load(), int64(size), "every byte arrived")
	assert.Greater(t, time.Since(start), 600*time.Millisecond, "the upload outlasted the stall timeout twice over (else this test shows nothing)")
}

// The key a server quotes back in an error never reaches the error text.
func TestAnErrorQuotingTheKeyIsRedacted(t *testing.T) {
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(400)
		_, _ = w.Write([]byte(`{"error":"bad_key","detail":"key ` + testKey + ` is not allowed here","fields":{"x":[{"error":"e","detail":"` + testKey + `"}]}}`))
	})
	_, err := c.GetFile(context.Background(), 1)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), testKey)
	assert.Contains(t, err.Error(), "[REDACTED]")
	html := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(502)
		_, _ = w.Write([]byte("<html>upstream said Bearer " + testKey + "</html>"))
	})
	_, err = html.GetFile(context.Background(), 1)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), testKey)
}

func TestAKeyThatCannotBeSentIsRefused(t *testing.T) {
	for _, k := range []string{"", "two\nlines", "tab\there", "esc\x1b[31m", "spa ce", "nul\x00", "é-key"} {
		_, err := NewClient("http://127.0.0.1:1", k, nil)
		require.Error(t, err, "%q", k)
		assert.False(t, strings.Contains(err.Error(), k) && k != "", "the message does not repeat the key")
	}
	_, err := NewClient("http://127.0.0.1:1", "sk-Abc_123.xyz~", nil)
	assert.NoError(t, err)
}

// slowReader reads a request's body 8 KiB at a time, pausing between reads
// (never longer), counting into got; then it answers 201.
func slowReader(got *atomic.Int64, pause time.Duration) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 8<<10)
		for {
			n, err := io.ReadFull(r.Body, buf)
			got.Add(int64(n))
			if err != nil {
				break
			}
			time.Sleep(pause)
		}
		w.WriteHeader(201)
		_, _ = w.Write([]byte(`{"id": 5}`))
	}
}
