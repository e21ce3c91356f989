//go:build unix

// Helpers of the acceptance tests of issues 18 to 21 (fault proxy, documents, report, trees); no test of its own.

package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Helpers of the adversarial acceptance tests (issues 18 to 21): the
// devserver's documents in full, the report, trees, and a fault proxy of
// our own in front of the devserver.

// fullDoc is a document as GET /_devserver/documents lists it.
type fullDoc struct {
	ID               int64   `json:"id"`
	WorkspaceID      int64   `json:"workspace_id"`
	Filename         string  `json:"filename"`
	Title            string  `json:"title"`
	ExternalID       *string `json:"external_id"`
	ExternalMetadata *struct {
		ExternalID         string         `json:"external_id"`
		DocType            string         `json:"doc_type"`
		AdditionalMetadata map[string]any `json:"additional_metadata"`
	} `json:"external_metadata"`
	SHA256   string  `json:"sha256"`
	Size     int64   `json:"size"`
	Tags     []int64 `json:"tags"`
	Versions int     `json:"versions"`
}

// meta returns a key of the document's additional_metadata, "" if none.
func (d fullDoc) meta(key string) string {
	if d.ExternalMetadata == nil {
		return ""
	}
	s, _ := d.ExternalMetadata.AdditionalMetadata[key].(string)
	return s
}

// ours reports whether this tool uploaded the document from source.
func (d fullDoc) ours(source string) bool {
	return d.meta("uploaded_by") == "paradigm-upload" && d.meta("source") == source && d.meta("path") != ""
}

// allDocs lists every current document of every workspace.
func (d *devserver) allDocs(t *testing.T) []fullDoc {
	t.Helper()
	return devDocuments[fullDoc](t, d)
}

// devDocuments reads GET /_devserver/documents into T.
func devDocuments[T any](t *testing.T, d *devserver) []T {
	t.Helper()
	resp, err := http.Get(d.url + "/_devserver/documents")
	require.NoError(t, err)
	defer resp.Body.Close()
	var out struct {
		Documents []T `json:"documents"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	return out.Documents
}

// docsByID indexes documents by id.
func docsByID(docs []fullDoc) map[int64]fullDoc {
	m := make(map[int64]fullDoc, len(docs))
	for _, x := range docs {
		m[x.ID] = x
	}
	return m
}

// sourceDocs returns this tool's documents of source in workspace ws, by
// path; two documents for one path fail the test.
func sourceDocs(t *testing.T, d *devserver, ws int64, source string) map[string]fullDoc {
	t.Helper()
	out := map[string]fullDoc{}
	for _, x := range d.allDocs(t) {
		if x.WorkspaceID != ws || !x.ours(source) {
			continue
		}
		p := x.meta("path")
		if prev, ok := out[p]; ok {
			t.Errorf("%s: two documents of source %q (%d and %d)", p, source, prev.ID, x.ID)
		}
		out[p] = x
	}
	return out
}

// treeSums returns the sha256 of every file under root, by slash path.
func treeSums(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	require.NoError(t, filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		out[filepath.ToSlash(rel)] = sha(b)
		return nil
	}))
	return out
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// mirrors asserts that workspace ws holds exactly one document of source
// per file of root, with the file's content, and no other document of
// source; it returns them by path.
func mirrors(t *testing.T, d *devserver, root string, ws int64, source string) map[string]fullDoc {
	t.Helper()
	want := treeSums(t, root)
	got := sourceDocs(t, d, ws, source)
	var missing, wrong, extra []string
	for p, sum := range want {
		x, ok := got[p]
		switch {
		case !ok:
			missing = append(missing, p)
		case x.SHA256 != sum:
			wrong = append(wrong, p)
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			extra = append(extra, p)
		}
	}
	assert.Empty(t, missing, "files of source %q without a document", source)
	assert.Empty(t, wrong, "documents of source %q with another content than their file", source)
	assert.Empty(t, extra, "documents of source %q whose file is gone", source)
	return got
}

// statsDelta runs f and returns how much each devserver counter moved.
func statsDelta(t *testing.T, d *devserver, f func()) map[string]int64 {
	t.Helper()
	before := d.stats(t)
	f()
	after := d.stats(t)
	out := map[string]int64{}
	for k, v := range after {
		out[k] = v - before[k]
	}
	return out
}

// runArgs starts the tool against d with args, waits at most limit, and
// returns the exit code and what it printed. A run still going at limit is
// killed, and its code is stillRunning.
func runArgs(t *testing.T, d *devserver, limit time.Duration, args ...string) (int, string, string) {
	t.Helper()
	r := startUpload(t, d, args...)
	code := waitUpTo(t, r, limit)
	t.Logf("paradigm-upload %s\nexit %d\n--- stdout\n%s--- stderr\n%s", strings.Join(args, " "), code, r.out.String(), r.errOut.String())
	return code, r.out.String(), r.errOut.String()
}

// stillRunning is the code waitUpTo gives a run it had to kill.
const stillRunning = -1000

// waitUpTo waits for the run to end, at most limit; a run still going then
// is killed (and the test goes on, to say what it found).
func waitUpTo(t *testing.T, r *run, limit time.Duration) int {
	t.Helper()
	code, ended := endWithin(t, r, limit)
	if !ended {
		t.Errorf("still running after %s: killed", limit)
		return stillRunning
	}
	return code
}

// endWithin waits for the run to end, at most limit, and returns its exit
// code; a run still going then is killed, and ended is false.
func endWithin(t *testing.T, r *run, limit time.Duration) (code int, ended bool) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- r.cmd.Wait() }()
	select {
	case err := <-done:
		code, err := exitCode(err)
		require.NoError(t, err)
		return code, true
	case <-time.After(limit):
		_ = r.cmd.Process.Kill()
		<-done
		return 0, false
	}
}

// reportFile is what a test reads of --report.
type reportFile struct {
	Totals struct {
		Found    int            `json:"found"`
		Outcomes map[string]int `json:"outcomes"`
	} `json:"totals"`
	Files []struct {
		Path       string `json:"path"`
		From       string `json:"from"`
		Outcome    string `json:"outcome"`
		Reason     string `json:"reason"`
		Warning    string `json:"warning"`
		DocumentID int64  `json:"document_id"`
		Processing string `json:"processing_status"`
	} `json:"files"`
}

func readReport(t *testing.T, path string) reportFile {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err, "the report")
	var r reportFile
	require.NoError(t, json.Unmarshal(b, &r))
	return r
}

// outcomesOf returns the outcomes the report gives each path.
func (r reportFile) outcomesOf() map[string][]string {
	out := map[string][]string{}
	for _, f := range r.Files {
		out[f.Path] = append(out[f.Path], f.Outcome)
	}
	return out
}

// oneOutcomeEach asserts that the report gives every path one outcome.
func oneOutcomeEach(t *testing.T, r reportFile, what string) {
	t.Helper()
	var many []string
	for p, o := range r.outcomesOf() {
		if len(o) != 1 {
			many = append(many, fmt.Sprintf("%s: %s", p, strings.Join(o, ", ")))
		}
	}
	assert.Empty(t, many, "%s: files with more than one outcome (%d)", what, len(many))
}

// seedDoc makes a document through POST /_devserver/documents.
func seedDoc(t *testing.T, d *devserver, body map[string]any) fullDoc {
	t.Helper()
	b, err := json.Marshal(body)
	require.NoError(t, err)
	resp, err := http.Post(d.url+"/_devserver/documents", "application/json", bytes.NewReader(b))
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	require.Equal(t, http.StatusCreated, resp.StatusCode, "%s", raw)
	var x fullDoc
	require.NoError(t, json.Unmarshal(raw, &x))
	return x
}

// admin posts to a /_devserver/ endpoint without a body.
func admin(t *testing.T, d *devserver, path string) {
	t.Helper()
	resp, err := http.Post(d.url+path, "application/json", nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s: %s", path, raw)
}

// api sends a request to the devserver's API with the key, as a person's
// script or the web interface would, and returns the status.
func api(t *testing.T, d *devserver, method, path, contentType string, body []byte) int {
	t.Helper()
	req, err := http.NewRequest(method, d.url+path, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+key)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	require.Less(t, resp.StatusCode, 300, "%s %s: %s", method, path, raw)
	return resp.StatusCode
}

// patchForm PATCHes a document's fields as a urlencoded form.
func patchForm(t *testing.T, d *devserver, id int64, fields url.Values) {
	t.Helper()
	api(t, d, http.MethodPatch, fmt.Sprintf("/api/v3/files/%d", id), "application/x-www-form-urlencoded", []byte(fields.Encode()))
}

// writeDirs writes dirs folders d0, d1, ... of per files each (writeTree)
// and returns their relative paths.
func writeDirs(t *testing.T, root string, dirs, per int) []string {
	t.Helper()
	var files []string
	for i := 0; i < dirs; i++ {
		files = append(files, writeTree(t, root, fmt.Sprintf("d%d", i), "doc", per)...)
	}
	return files
}

// writeTree writes n files under root/dir named name-%03d.txt, each with
// its own content, and returns their relative paths.
func writeTree(t *testing.T, root, dir, name string, n int) []string {
	t.Helper()
	var out []string
	for i := 0; i < n; i++ {
		rel := fmt.Sprintf("%s/%s-%03d.txt", dir, name, i)
		writeFile(t, root, rel, fmt.Sprintf("%s %s %d\n%s", dir, name, i, strings.Repeat("·", i%17)))
		out = append(out, rel)
	}
	return out
}

// syncTree makes dst an exact copy of src, modification times included (as
// rsync -a does): what a second machine's copy of a folder is.
func syncTree(t *testing.T, src, dst string) {
	t.Helper()
	want := treeSums(t, src)
	require.NoError(t, filepath.Walk(dst, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dst, p)
		if _, ok := want[filepath.ToSlash(rel)]; !ok {
			return os.Remove(p)
		}
		return nil
	}))
	for rel := range want {
		from, to := filepath.Join(src, rel), filepath.Join(dst, rel)
		b, err := os.ReadFile(from)
		require.NoError(t, err)
		info, err := os.Stat(from)
		require.NoError(t, err)
		if old, err := os.ReadFile(to); err == nil && bytes.Equal(old, b) {
			if st, err := os.Stat(to); err == nil && st.ModTime().Equal(info.ModTime()) {
				continue
			}
		}
		require.NoError(t, os.MkdirAll(filepath.Dir(to), 0o755))
		require.NoError(t, os.WriteFile(to, b, 0o644))
		require.NoError(t, os.Chtimes(to, info.ModTime(), info.ModTime()))
	}
}

// faults says what the fault proxy does. Every count is of requests that
// reach it, in the order they arrive.
type faults struct {
	// ResetOneIn resets the connection of one request in N, drawn from
	// Seed (before the request reaches the devserver); ResetFirst also
	// resets the very first request (the preflight's).
	ResetOneIn int
	ResetFirst bool
	Seed       uint64
	// ResetFirstOfEach resets the first request of each kind: the
	// preflight's, the first listing page, the first upload, lookup, poll,
	// bulk delete...
	ResetFirstOfEach bool
	// ListingBadGateway answers 502 to every other listing page (the 1st,
	// 3rd, ...): GET /api/v3/files without an upload session or external
	// id filter.
	ListingBadGateway bool
	// PollBadGateway answers 502 to every other poll of --wait: GET
	// /api/v3/files with an upload session, and GET /api/v3/files/{id}.
	PollBadGateway bool
	// TrickleFirst sends the answer to the first request of that kind
	// ("listing" or "upload") one byte every TrickleEvery.
	TrickleFirst string
	TrickleEvery time.Duration
	// HoldListings never answers a listing page: it waits for the client
	// to go.
	HoldListings bool
	// RefuseEveryFourth answers 429 (Retry-After: 1) to every fourth
	// request, whatever the pace: a load shedder, not a quota.
	RefuseEveryFourth bool
	// DropFirstUploadAnswer passes the first upload to the devserver (which
	// stores it) and resets the connection instead of answering.
	DropFirstUploadAnswer bool
	// FailLookups answers this status to every lookup by external id.
	FailLookups int
}

// faultProxy is a reverse proxy on loopback in front of a devserver.
type faultProxy struct {
	*devserver // its URL: point the tool at it
	f          faults

	mu   sync.Mutex
	rng  *rand.Rand
	seen map[string]bool // kinds of request seen, for ResetFirstOfEach
	// off makes it a plain proxy: the faults are over.
	off atomic.Bool

	requests, resets, listings, listing502, polls, poll502, trickled, held, refused429,
	uploads, droppedAnswers, lookups atomic.Int64
}

func newFaultProxy(t *testing.T, target *devserver, f faults) *faultProxy {
	t.Helper()
	u, err := url.Parse(target.url)
	require.NoError(t, err)
	if f.TrickleEvery == 0 {
		f.TrickleEvery = 3 * time.Second
	}
	p := &faultProxy{f: f, rng: rand.New(rand.NewPCG(f.Seed, 0x5eed)), seen: map[string]bool{}}
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { p.serve(rp, w, r) }))
	t.Cleanup(srv.Close)
	p.devserver = &devserver{url: srv.URL}
	return p
}

// kind sorts a request: listing, poll, lookup, upload or other.
func kind(r *http.Request) string {
	q := r.URL.Query()
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/api/v3/files":
		return "upload"
	case r.Method == http.MethodGet && r.URL.Path == "/api/v3/files" && q.Get("external_metadata__external_id") != "":
		return "lookup"
	case r.Method == http.MethodGet && r.URL.Path == "/api/v3/files" && q.Get("upload_session_uuid") != "":
		return "poll"
	case r.Method == http.MethodGet && r.URL.Path == "/api/v3/files":
		return "listing"
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/api/v3/files/"):
		return "poll"
	}
	return "other"
}

func (p *faultProxy) serve(rp *httputil.ReverseProxy, w http.ResponseWriter, r *http.Request) {
	n := p.requests.Add(1)
	if p.off.Load() {
		rp.ServeHTTP(w, r)
		return
	}
	k := kind(r)
	if p.f.ResetOneIn > 0 || p.f.ResetFirst || p.f.ResetFirstOfEach {
		p.mu.Lock()
		reset := p.f.ResetOneIn > 0 && p.rng.IntN(p.f.ResetOneIn) == 0
		if p.f.ResetFirstOfEach {
			of := r.Method + " " + strings.TrimRight(r.URL.Path, "0123456789") + " " + k
			reset = reset || !p.seen[of]
			p.seen[of] = true
		}
		p.mu.Unlock()
		if reset || p.f.ResetFirst && n == 1 {
			p.resets.Add(1)
			_, _ = io.Copy(io.Discard, r.Body)
			hangUp(w)
			return
		}
	}
	if p.f.RefuseEveryFourth && n%4 == 0 {
		p.refused429.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Retry-After", "1")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = io.WriteString(w, `{"id":"x","code":429,"error":"too_many_requests","detail":"Too many requests.","doc_url":""}`)
		return
	}
	switch k {
	case "listing":
		i := p.listings.Add(1)
		if p.f.HoldListings {
			p.held.Add(1)
			<-r.Context().Done()
			return
		}
		if p.f.ListingBadGateway && i%2 == 1 {
			p.listing502.Add(1)
			badGateway(w)
			return
		}
		if p.f.TrickleFirst == k && i == 1 {
			p.trickled.Add(1)
			p.trickle(rp, w, r)
			return
		}
	case "poll":
		i := p.polls.Add(1)
		if p.f.PollBadGateway && i%2 == 1 {
			p.poll502.Add(1)
			badGateway(w)
			return
		}
	case "lookup":
		p.lookups.Add(1)
		if p.f.FailLookups != 0 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(p.f.FailLookups)
			_, _ = fmt.Fprintf(w, `{"id":"x","code":%d,"error":"internal_error","detail":"The lookup failed.","doc_url":""}`, p.f.FailLookups)
			return
		}
	case "upload":
		i := p.uploads.Add(1)
		if p.f.TrickleFirst == k && i == 1 {
			p.trickled.Add(1)
			p.trickle(rp, w, r)
			return
		}
		if i == 1 && p.f.DropFirstUploadAnswer {
			rec := httptest.NewRecorder()
			rp.ServeHTTP(rec, r) // stored by the devserver
			p.droppedAnswers.Add(1)
			hangUp(w)
			return
		}
	}
	rp.ServeHTTP(w, r)
}

// trickle passes the request on and sends its answer one byte at a time.
func (p *faultProxy) trickle(rp *httputil.ReverseProxy, w http.ResponseWriter, r *http.Request) {
	rec := httptest.NewRecorder()
	rp.ServeHTTP(rec, r)
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.Header().Del("Content-Length")
	w.WriteHeader(rec.Code)
	fl, _ := w.(http.Flusher)
	body := rec.Body.Bytes()
	for i := range body {
		if _, err := w.Write(body[i : i+1]); err != nil {
			return
		}
		if fl != nil {
			fl.Flush()
		}
		select {
		case <-r.Context().Done():
			return
		case <-time.After(p.f.TrickleEvery):
		}
	}
}

func badGateway(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/html")
	w.WriteHeader(http.StatusBadGateway)
	_, _ = io.WriteString(w, "<html><body><h1>502 Bad Gateway</h1></body></html>\n")
}

// hangUp resets the request's connection (RST, not a clean close).
func hangUp(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("the fault proxy needs HTTP/1")
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}
