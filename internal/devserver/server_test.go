package devserver

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const key = "dev-key"

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func start(t *testing.T, cfg Config) (*httptest.Server, *Server) {
	t.Helper()
	if cfg.APIKey == "" {
		cfg.APIKey = key
	}
	s, err := New(cfg)
	require.NoError(t, err)
	srv := httptest.NewServer(s)
	t.Cleanup(func() { srv.Close(); s.Close() })
	return srv, s
}

// upl builds a multipart upload; fields are sent before the file.
type upl struct {
	fields   [][2]string
	filename string
	content  []byte
}

func post(t *testing.T, url, auth string, f upl) (int, map[string]any, http.Header) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for _, kv := range f.fields {
		require.NoError(t, w.WriteField(kv[0], kv[1]))
	}
	if f.filename != "" {
		fw, err := w.CreateFormFile("file", f.filename)
		require.NoError(t, err)
		_, _ = fw.Write(f.content)
	}
	require.NoError(t, w.Close())
	req, err := http.NewRequest(http.MethodPost, url+"/api/v3/files", &buf)
	require.NoError(t, err)
	req.Header.Set("Content-Type", w.FormDataContentType())
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var body map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	return resp.StatusCode, body, resp.Header
}

func get(t *testing.T, url string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var body map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	return resp.StatusCode, body
}

// num reads a JSON number that encoding/json decoded as float64.
func num(v any) int {
	f, _ := v.(float64)
	return int(f)
}

// retrieveFields are those FileRetrieveResponseSerializerV3 requires (and
// external_metadata and size, which the stand-in always sends);
// listFields those FileListResponseSerializerV3 requires. (The full check
// of types and enums is internal/contract's.)
var (
	retrieveFields = []string{
		"content_types", "created_at", "created_by", "extension", "external_metadata", "filename", "id",
		"pending_reprocess", "signature", "size", "summaries", "tags", "thumbnail", "total_pages", "updated_at",
		"upload_session_uuid", "workspace",
	}
	listFields = []string{
		"content_types", "created_at", "created_by", "extension", "filename", "id", "pending_reprocess", "tags",
		"thumbnail", "total_pages", "updated_at", "upload_session_uuid", "workspace",
	}
)

func assertFileObject(t *testing.T, obj map[string]any) {
	t.Helper()
	assertFields(t, obj, retrieveFields)
}

func assertListItem(t *testing.T, obj map[string]any) {
	t.Helper()
	assertFields(t, obj, listFields)
}

func assertFields(t *testing.T, obj map[string]any, required []string) {
	t.Helper()
	for _, f := range required {
		_, ok := obj[f]
		assert.True(t, ok, "required field %q missing from %v", f, obj)
	}
	ws, _ := obj["workspace"].(map[string]any)
	for _, f := range []string{"id", "name", "workspace_type"} {
		assert.Contains(t, ws, f)
	}
	for _, ts := range []string{"created_at", "updated_at"} {
		_, err := time.Parse(time.RFC3339Nano, obj[ts].(string))
		assert.NoError(t, err, ts)
	}
}

func assertErrorShape(t *testing.T, body map[string]any, kind string) {
	t.Helper()
	for _, f := range []string{"id", "code", "error", "detail", "doc_url"} {
		assert.Contains(t, body, f)
	}
	assert.Equal(t, kind, body["error"])
}

func TestUploadAnswers201WithTheFullFileObject(t *testing.T) {
	dir := t.TempDir()
	srv, s := start(t, Config{DataDir: dir})
	content := []byte("%PDF-1.4 contract")
	code, body, _ := post(t, srv.URL, key, upl{
		fields:   [][2]string{{"workspace_id", "42"}, {"tags", "1"}, {"tags", "2"}, {"parser", "v2.2.1"}, {"external_metadata", `{"external_id":"e-1","additional_metadata":{"path":"a/c.pdf"}}`}},
		filename: "contract.pdf", content: content,
	})
	require.Equal(t, 201, code, "%v", body)
	assertFileObject(t, body)
	assert.Equal(t, "contract.pdf", body["filename"])
	assert.Equal(t, "contract", body["title"])
	assert.Equal(t, "pdf", body["extension"])
	assert.Equal(t, "pending", body["status"])
	assert.Equal(t, len(content), num(body["size"]))
	assert.Equal(t, "File queued for processing", body["message"])
	assert.Len(t, body["tags"], 2)
	assert.Equal(t, "e-1", body["external_metadata"].(map[string]any)["external_id"])
	assert.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, body["upload_session_uuid"])

	// What arrived is kept with its hash.
	m, err := os.ReadFile(filepath.Join(dir, "manifest.jsonl"))
	require.NoError(t, err)
	var entry struct {
		SHA256 string `json:"sha256"`
		Path   string `json:"path"`
	}
	require.NoError(t, json.Unmarshal(bytes.TrimSpace(m), &entry))
	sum := sha256.Sum256(content)
	assert.Equal(t, hex.EncodeToString(sum[:]), entry.SHA256)
	stored, err := os.ReadFile(filepath.Join(dir, entry.Path))
	require.NoError(t, err)
	assert.Equal(t, content, stored)
	assert.Equal(t, int64(1), s.Stats().Uploads)
}

func TestUploadRefusals(t *testing.T) {
	srv, s := start(t, Config{MaxSize: 10})
	code, body, _ := post(t, srv.URL, "", upl{fields: [][2]string{{"workspace_id", "42"}}, filename: "a.pdf", content: []byte("x")})
	assert.Equal(t, 401, code)
	assertErrorShape(t, body, "authentication_failed")

	code, body, _ = post(t, srv.URL, key, upl{fields: [][2]string{{"workspace_id", "99"}}, filename: "a.pdf", content: []byte("x")})
	assert.Equal(t, 422, code)
	assertErrorShape(t, body, "validation_error")
	assert.Contains(t, body["fields"], "workspace_id")

	code, body, _ = post(t, srv.URL, key, upl{fields: [][2]string{{"tags", "x"}}, filename: "", content: nil})
	assert.Equal(t, 422, code)
	fields := body["fields"].(map[string]any)
	assert.Contains(t, fields, "workspace_id")
	assert.Contains(t, fields, "file")
	assert.Contains(t, fields, "tags")

	code, body, _ = post(t, srv.URL, key, upl{fields: [][2]string{{"workspace_id", "42"}}, filename: "big.pdf", content: bytes.Repeat([]byte("x"), 11)})
	assert.Equal(t, 413, code)
	assertErrorShape(t, body, "file_too_large")

	code, body, _ = post(t, srv.URL, key, upl{fields: [][2]string{{"workspace_id", "42"}}, filename: "tool.exe", content: []byte("MZ")})
	assert.Equal(t, 422, code)
	assertErrorShape(t, body, "unsupported_file_type")

	code, body, _ = post(t, srv.URL, key, upl{fields: [][2]string{{"workspace_id", "42"}, {"external_metadata", `{"doc_type":"x"}`}}, filename: "a.pdf", content: []byte("x")})
	assert.Equal(t, 422, code)
	assert.Contains(t, body["fields"], "external_metadata")
	assert.Zero(t, s.Stats().Documents)
}

func TestExternalIDMakesReuploadIdempotent(t *testing.T) {
	srv, s := start(t, Config{})
	f := upl{fields: [][2]string{{"workspace_id", "42"}, {"external_metadata", `{"external_id":"same"}`}}, filename: "a.pdf", content: []byte("x")}
	code, first, _ := post(t, srv.URL, key, f)
	require.Equal(t, 201, code)
	code, again, _ := post(t, srv.URL, key, f)
	require.Equal(t, 200, code)
	assert.Equal(t, first["id"], again["id"])
	assert.Equal(t, int64(1), s.Stats().Documents)
	// The same external id in another workspace is another document.
	f.fields[0][1] = "1"
	code, _, _ = post(t, srv.URL, key, f)
	assert.Equal(t, 201, code)
}

func TestFilenameCollisionIsRenamed(t *testing.T) {
	srv, _ := start(t, Config{})
	f := upl{fields: [][2]string{{"workspace_id", "42"}}, filename: "report.pdf", content: []byte("x")}
	_, first, _ := post(t, srv.URL, key, f)
	_, second, _ := post(t, srv.URL, key, f)
	assert.Equal(t, "report.pdf", first["filename"])
	assert.Regexp(t, `^report_\d{8}_[0-9a-f]{4}\.pdf$`, second["filename"])
	assert.NotEqual(t, first["id"], second["id"])
}

func TestTagsAsJSONArrayTextAnd207(t *testing.T) {
	srv, _ := start(t, Config{MaxTagID: 10})
	code, body, _ := post(t, srv.URL, key, upl{fields: [][2]string{{"workspace_id", "42"}, {"tags", "[1, 2]"}}, filename: "a.pdf", content: []byte("x")})
	require.Equal(t, 201, code)
	assert.Len(t, body["tags"], 2)
	code, body, _ = post(t, srv.URL, key, upl{fields: [][2]string{{"workspace_id", "42"}, {"tags", "3"}, {"tags", "11"}}, filename: "b.pdf", content: []byte("x")})
	require.Equal(t, 207, code)
	assert.Len(t, body["tags"], 1, "the unknown tag is not applied")
}

func TestProcessingAdvancesAndFailsOnPattern(t *testing.T) {
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	srv, _ := start(t, Config{Pace: time.Second, FailPattern: "*broken*", Now: clk.now})
	_, ok, _ := post(t, srv.URL, key, upl{fields: [][2]string{{"workspace_id", "42"}}, filename: "good.pdf", content: []byte("x")})
	_, bad, _ := post(t, srv.URL, key, upl{fields: [][2]string{{"workspace_id", "42"}}, filename: "broken.pdf", content: []byte("x")})
	status := func(obj map[string]any) (string, map[string]any) {
		_, b := get(t, fmt.Sprintf("%s/api/v3/files/%v", srv.URL, obj["id"]))
		return b["status"].(string), b
	}
	st, _ := status(ok)
	assert.Equal(t, "pending", st)
	clk.add(1500 * time.Millisecond)
	st, _ = status(ok)
	assert.Equal(t, "parsing", st)
	clk.add(time.Second)
	st, _ = status(ok)
	assert.Equal(t, "embedding", st)
	st, b := status(bad)
	assert.Equal(t, "parsing_failed", st)
	assert.NotEmpty(t, b["status_detail"])
	clk.add(time.Second)
	st, b = status(ok)
	assert.Equal(t, "embedded", st)
	assertFileObject(t, b)
	assert.NotContains(t, b, "status_detail")

	code, body := get(t, srv.URL+"/api/v3/files/999")
	assert.Equal(t, 404, code)
	assertErrorShape(t, body, "not_found")
}

func TestListFiltersAndPaginates(t *testing.T) {
	srv, _ := start(t, Config{})
	for i := 0; i < 7; i++ {
		ws := "42"
		if i == 6 {
			ws = "1"
		}
		em := fmt.Sprintf(`{"external_id":"ext-%d"}`, i)
		code, _, _ := post(t, srv.URL, key, upl{fields: [][2]string{{"workspace_id", ws}, {"external_metadata", em}}, filename: fmt.Sprintf("doc%d.pdf", i), content: []byte("x")})
		require.Equal(t, 201, code)
	}
	code, page := get(t, srv.URL+"/api/v3/files?workspace_id=42&page_size=4")
	require.Equal(t, 200, code)
	assert.Equal(t, 6, num(page["count"]))
	assert.Len(t, page["results"], 4)
	assert.Nil(t, page["previous"])
	next := page["next"].(string)
	assert.Contains(t, next, "page=2")
	for _, r := range page["results"].([]any) {
		assertListItem(t, r.(map[string]any))
	}
	code, page2 := get(t, next)
	require.Equal(t, 200, code)
	assert.Len(t, page2["results"], 2)
	assert.Nil(t, page2["next"])
	assert.NotNil(t, page2["previous"])

	_, byExt := get(t, srv.URL+"/api/v3/files?workspace_id=42&external_metadata__external_id=ext-3")
	require.Equal(t, 1, num(byExt["count"]))
	assert.Equal(t, "doc3.pdf", byExt["results"].([]any)[0].(map[string]any)["filename"])
	_, byName := get(t, srv.URL+"/api/v3/files?filename=DOC5")
	assert.Equal(t, 1, num(byName["count"]))
	_, byStatus := get(t, srv.URL+"/api/v3/files?status=embedded")
	assert.Equal(t, 0, num(byStatus["count"]))
	_, byStatus = get(t, srv.URL+"/api/v3/files?status=pending,embedded")
	assert.Equal(t, 7, num(byStatus["count"]))
	session := page["results"].([]any)[0].(map[string]any)["upload_session_uuid"].(string)
	_, bySession := get(t, srv.URL+"/api/v3/files?upload_session_uuid="+session)
	assert.Equal(t, 6, num(bySession["count"]))
	code, _ = get(t, srv.URL+"/api/v3/files?page=9")
	assert.Equal(t, 404, code)

	code, ws := get(t, srv.URL+"/api/v3/workspaces")
	require.Equal(t, 200, code)
	assert.Len(t, ws["results"], 2)
}

// Faults depend on the seed and on each request's identity, not on arrival
// order: two runs in opposite orders see the same answer for each file.
func TestFaultsAreReproducibleFromTheSeed(t *testing.T) {
	run := func(reverse bool) map[string][]int {
		srv, _ := start(t, Config{ThrottleRate: 0.3, ErrorRate: 0.2, Seed: 42})
		codes := map[string][]int{}
		for i := 0; i < 30; i++ {
			n := i
			if reverse {
				n = 29 - i
			}
			name := fmt.Sprintf("f%d.pdf", n)
			for attempt := 0; attempt < 2; attempt++ { // a retry of the same file is drawn afresh
				code, body, h := post(t, srv.URL, key, upl{fields: [][2]string{{"workspace_id", "42"}}, filename: name, content: []byte("x")})
				if code == 429 {
					assert.Equal(t, "1", h.Get("Retry-After"))
					assertErrorShape(t, body, "rate_limited")
				}
				codes[name] = append(codes[name], code)
			}
		}
		return codes
	}
	a, b := run(false), run(true)
	assert.Equal(t, a, b)
	var all []int
	for _, c := range a {
		all = append(all, c...)
	}
	assert.Contains(t, all, 429)
	assert.Contains(t, all, 503)
	assert.Contains(t, all, 201)
	other, _ := start(t, Config{ThrottleRate: 0.3, ErrorRate: 0.2, Seed: 43})
	var differs bool
	for name, c := range a {
		code, _, _ := post(t, other.URL, key, upl{fields: [][2]string{{"workspace_id", "42"}}, filename: name, content: []byte("x")})
		differs = differs || code != c[0]
	}
	assert.True(t, differs, "another seed gives other faults")
}

func TestResetDropsTheConnectionBeforeOrAfterStoring(t *testing.T) {
	srv, s := start(t, Config{ResetRate: 1, Seed: 3})
	var before, after int
	for i := 0; i < 20; i++ {
		var buf bytes.Buffer
		w := multipart.NewWriter(&buf)
		_ = w.WriteField("workspace_id", "42")
		fw, _ := w.CreateFormFile("file", fmt.Sprintf("f%d.pdf", i))
		_, _ = fw.Write(bytes.Repeat([]byte("x"), 4096))
		_ = w.Close()
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/v3/files", &buf)
		req.Header.Set("Content-Type", w.FormDataContentType())
		req.Header.Set("Authorization", "Bearer "+key)
		docs := s.Stats().Documents
		resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
		if resp != nil {
			resp.Body.Close()
		}
		require.Error(t, err, "no answer ever comes back")
		if s.Stats().Documents > docs {
			after++
		} else {
			before++
		}
	}
	assert.Positive(t, before)
	assert.Positive(t, after)
	st := s.Stats()
	assert.Equal(t, int64(before), st.ResetsBefore)
	assert.Equal(t, int64(after), st.ResetsAfter)
}

func TestLargeBodyIsStreamedNotBuffered(t *testing.T) {
	srv, s := start(t, Config{Discard: true, MaxSize: 64 << 20})
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		_ = mw.WriteField("workspace_id", "42")
		fw, _ := mw.CreateFormFile("file", "big.pdf")
		bw := bufio.NewWriter(fw)
		chunk := bytes.Repeat([]byte("0123456789abcdef"), 4096)
		for i := 0; i < 512; i++ { // 32 MiB
			_, _ = bw.Write(chunk)
		}
		_ = bw.Flush()
		_ = mw.Close()
		_ = pw.Close()
	}()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/v3/files", pr)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 201, resp.StatusCode)
	assert.Equal(t, int64(32<<20), s.Stats().Bytes)
	assert.True(t, strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json"))
}

// --throttle-every N: a load shedder that counts. Every Nth request —
// uploads and reads alike — is refused with the Retry-After, whatever the
// pace; the others are served.
func TestThrottleEveryRefusesEveryNthRequest(t *testing.T) {
	srv, _ := start(t, Config{ThrottleEvery: 4, RetryAfter: 2 * time.Second})
	var codes []int
	for i := range 12 {
		if i%2 == 0 {
			code, _ := get(t, srv.URL+"/api/v3/workspaces")
			codes = append(codes, code)
			continue
		}
		code, body, h := post(t, srv.URL, key, upl{fields: [][2]string{{"workspace_id", "42"}}, filename: fmt.Sprintf("f%d.pdf", i), content: []byte("x")})
		if code == 429 {
			assert.Equal(t, "2", h.Get("Retry-After"))
			assertErrorShape(t, body, "rate_limited")
		}
		codes = append(codes, code)
	}
	assert.Equal(t, []int{200, 201, 200, 429, 200, 201, 200, 429, 200, 201, 200, 429}, codes)
}
