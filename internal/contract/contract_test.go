package contract

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/paradigm-upload/paradigm-upload/internal/devserver"
)

// target is where the contract is checked: the devserver, or the instance
// the environment names.
type target struct {
	base, key string
	ws        int64
	local     bool // the devserver: its /_devserver/ endpoints can steer it
	client    *http.Client
}

// TestContract checks every endpoint the devserver serves against the
// schemas of schema_test.go, on the devserver and, when the environment
// names one, on a real instance.
func TestContract(t *testing.T) {
	t.Run("devserver", func(t *testing.T) {
		s, err := devserver.New(devserver.Config{APIKey: "contract-key", MaxTagID: 20})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(s)
		t.Cleanup(func() { srv.Close(); s.Close() })
		check(t, &target{base: srv.URL, key: "contract-key", ws: 42, local: true, client: srv.Client()})
	})
	t.Run("service", func(t *testing.T) {
		base, key, ws := os.Getenv("PARADIGM_CONTRACT_BASE_URL"), os.Getenv("PARADIGM_CONTRACT_API_KEY"), os.Getenv("PARADIGM_CONTRACT_WORKSPACE_ID")
		if base == "" || key == "" || ws == "" {
			t.Skip("set PARADIGM_CONTRACT_BASE_URL, PARADIGM_CONTRACT_API_KEY and PARADIGM_CONTRACT_WORKSPACE_ID to check a real instance")
		}
		id, err := strconv.ParseInt(ws, 10, 64)
		if err != nil {
			t.Fatalf("PARADIGM_CONTRACT_WORKSPACE_ID: %v", err)
		}
		check(t, &target{base: strings.TrimRight(base, "/"), key: key, ws: id, client: &http.Client{Timeout: 2 * time.Minute}})
	})
}

type reply struct {
	code   int
	body   any
	header http.Header
	raw    []byte
}

func (tg *target) call(t *testing.T, method, path string, body io.Reader, contentType string, key string) reply {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, tg.base+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := tg.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := reply{code: resp.StatusCode, header: resp.Header, raw: raw}
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			r.body = string(raw)
		}
	}
	return r
}

func (tg *target) get(t *testing.T, path string) reply {
	t.Helper()
	return tg.call(t, http.MethodGet, path, nil, "", tg.key)
}

func (tg *target) sendJSON(t *testing.T, method, path string, v any) reply {
	t.Helper()
	b, _ := json.Marshal(v)
	return tg.call(t, method, path, bytes.NewReader(b), "application/json", tg.key)
}

func (tg *target) form(t *testing.T, method, path string, fields url.Values) reply {
	t.Helper()
	return tg.call(t, method, path, strings.NewReader(fields.Encode()), "application/x-www-form-urlencoded", tg.key)
}

func (tg *target) multipart(t *testing.T, method, path string, fields [][2]string, name string, content []byte) reply {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for _, kv := range fields {
		_ = w.WriteField(kv[0], kv[1])
	}
	if name != "" {
		fw, _ := w.CreateFormFile("file", name)
		_, _ = fw.Write(content)
	}
	_ = w.Close()
	return tg.call(t, method, path, &buf, w.FormDataContentType(), tg.key)
}

// expect checks the status and the body against s.
func expect(t *testing.T, what string, r reply, code int, s *schema) {
	t.Helper()
	if r.code != code {
		t.Errorf("%s: status %d, want %d: %.300s", what, r.code, code, r.raw)
		return
	}
	if s == nil {
		if len(bytes.TrimSpace(r.raw)) > 0 {
			t.Errorf("%s: %d with a body: %.300s", what, code, r.raw)
		}
		return
	}
	for _, e := range conform("$", r.body, s) {
		t.Errorf("%s: %s", what, e)
	}
}

// expectError checks an error answer: the documented shape, and for a 422
// per-field errors each {error, detail}.
func expectError(t *testing.T, what string, r reply, code int, c contract) {
	t.Helper()
	s := c.apiError
	if code == http.StatusUnprocessableEntity {
		s = c.validationError
	}
	expect(t, what, r, code, s)
	if m, ok := r.body.(map[string]any); ok && m["fields"] != nil {
		for name, errs := range m["fields"].(map[string]any) {
			fe := arrayOf(object("APIV3FieldError", map[string]*schema{"detail": str(), "error": str()}, nil))
			for _, e := range conform("$.fields."+name, errs, fe) {
				t.Errorf("%s: %s", what, e)
			}
		}
	}
}

func field(r reply, name string) any {
	if m, ok := r.body.(map[string]any); ok {
		return m[name]
	}
	return nil
}

func check(t *testing.T, tg *target) {
	c := schemas()
	ws := strconv.FormatInt(tg.ws, 10)
	var nonce [6]byte
	_, _ = rand.Read(nonce[:])
	extID := "paradigm-upload-contract-" + hex.EncodeToString(nonce[:])

	// Workspaces.
	expect(t, "GET /api/v3/workspaces", tg.get(t, "/api/v3/workspaces"), 200, c.workspacePage)
	expect(t, "GET /api/v3/workspaces/{id}", tg.get(t, "/api/v3/workspaces/"+ws), 200, c.workspaceDetails)
	expectError(t, "GET /api/v3/workspaces/{unknown}", tg.get(t, "/api/v3/workspaces/2147483000"), 404, c)

	// Upload, then the same external id again.
	fields := [][2]string{{"workspace_id", ws}, {"title", "contract check"},
		{"external_metadata", fmt.Sprintf(`{"external_id":%q,"additional_metadata":{"by":"paradigm-upload contract test"}}`, extID)}}
	up := tg.multipart(t, http.MethodPost, "/api/v3/files", fields, "contract-check.txt", []byte("contract check "+extID))
	expect(t, "POST /api/v3/files", up, 201, c.fileCreate)
	id, ok := field(up, "id").(float64)
	if !ok {
		t.Fatalf("no document id in %s", up.raw)
	}
	file := fmt.Sprintf("/api/v3/files/%d", int64(id))
	t.Cleanup(func() { tg.call(t, http.MethodDelete, file, nil, "", tg.key) })
	again := tg.multipart(t, http.MethodPost, "/api/v3/files", fields, "contract-check.txt", []byte("ignored"))
	expect(t, "POST /api/v3/files (the same external id)", again, 200, c.fileCreate)
	if field(again, "id") != field(up, "id") {
		t.Errorf("idempotent upload: id %v, want %v", field(again, "id"), field(up, "id"))
	}
	expectError(t, "POST /api/v3/files without a workspace", tg.multipart(t, http.MethodPost, "/api/v3/files", nil, "x.txt", []byte("x")), 422, c)

	// Reads.
	expect(t, "GET /api/v3/files/{id}", tg.get(t, file), 200, c.fileRetrieve)
	expectError(t, "GET /api/v3/files/{unknown}", tg.get(t, "/api/v3/files/999999999999"), 404, c)
	list := tg.get(t, "/api/v3/files?workspace_id="+ws+"&external_metadata__external_id="+url.QueryEscape(extID))
	expect(t, "GET /api/v3/files", list, 200, c.filePage)
	if n, _ := field(list, "count").(float64); n != 1 {
		t.Errorf("GET /api/v3/files by external id: count %v, want 1", field(list, "count"))
	}
	expect(t, "GET /api/v3/files?include_details=true", tg.get(t, "/api/v3/files?page_size=5&include_details=true&workspace_id="+ws), 200, c.filePage)
	expect(t, "GET /api/v3/tags", tg.get(t, "/api/v3/tags"), 200, c.tagPage)

	// Changes.
	expect(t, "PATCH /api/v3/files/{id} (title)", tg.form(t, http.MethodPatch, file, url.Values{"title": {"contract check, renamed"}}), 200, c.fileRetrieve)
	expect(t, "PATCH /api/v3/files/{id} (external_metadata)", tg.form(t, http.MethodPatch, file,
		url.Values{"external_metadata": {`{"additional_metadata":{"step":"patched"}}`}}), 200, c.fileRetrieve)
	expectError(t, "PATCH /api/v3/files/{id} with JSON", tg.sendJSON(t, http.MethodPatch, file, map[string]string{"title": "x"}), 415, c)
	expectError(t, "PATCH /api/v3/files/{id} with a null doc_type", tg.form(t, http.MethodPatch, file,
		url.Values{"external_metadata": {`{"doc_type":null}`}}), 422, c)
	if tags, _ := field(tg.get(t, "/api/v3/tags?page_size=1"), "results").([]any); len(tags) > 0 {
		tag := int64(tags[0].(map[string]any)["id"].(float64))
		expect(t, "POST /api/v3/files/{id}/tags", tg.sendJSON(t, http.MethodPost, file+"/tags", map[string]any{"tags": []int64{tag}}), 200, c.fileRetrieve)
		expect(t, "DELETE /api/v3/files/{id}/tags/{tag_id}", tg.call(t, http.MethodDelete, fmt.Sprintf("%s/tags/%d", file, tag), nil, "", tg.key), 204, nil)
	}
	replaced := tg.multipart(t, http.MethodPatch, file, nil, "contract-check-v2.txt", []byte("replaced "+extID))
	expect(t, "PATCH /api/v3/files/{id} (file)", replaced, 200, c.fileRetrieve)
	if p := field(replaced, "pending_reprocess"); p != "update" {
		t.Errorf("PATCH with a file: pending_reprocess %v, want \"update\"", p)
	}
	expectError(t, "POST /api/v3/files/bulk-delete with an unknown id",
		tg.sendJSON(t, http.MethodPost, "/api/v3/files/bulk-delete", map[string]any{"ids": []int64{int64(id), 999999999999}}), 404, c)
	expect(t, "the document survives a refused bulk delete", tg.get(t, file), 200, c.fileRetrieve)
	expectError(t, "POST /api/v3/files/bulk-delete with no id",
		tg.sendJSON(t, http.MethodPost, "/api/v3/files/bulk-delete", map[string]any{"ids": []int64{}}), 422, c)
	expect(t, "DELETE /api/v3/files/{id}", tg.call(t, http.MethodDelete, file, nil, "", tg.key), 204, nil)
	expectError(t, "GET /api/v3/files/{deleted}", tg.get(t, file), 404, c)

	// The key.
	expectError(t, "GET /api/v3/files with a wrong key", tg.call(t, http.MethodGet, "/api/v3/files", nil, "", "wrong-key"), 401, c)
	expectError(t, "GET /api/v3/files without a key", tg.call(t, http.MethodGet, "/api/v3/files", nil, "", ""), 401, c)

	if !tg.local {
		return
	}
	// What only the devserver can be made to answer: a 429 and a 503.
	admin := func(method, path, body string) {
		r := tg.call(t, method, path, strings.NewReader(body), "application/json", "")
		if r.code != 200 {
			t.Fatalf("%s %s: %d %s", method, path, r.code, r.raw)
		}
	}
	admin(http.MethodPut, "/_devserver/quota", `{"per_minute": 1, "burst": 1}`)
	tg.get(t, "/api/v3/files")
	r := tg.get(t, "/api/v3/files")
	expectError(t, "a request beyond the quota", r, 429, c)
	if r.header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	admin(http.MethodPut, "/_devserver/quota", `{}`)
	admin(http.MethodPost, "/_devserver/outage", `{"duration": "1h", "mode": "503"}`)
	r = tg.get(t, "/api/v3/files")
	expect(t, "a request during maintenance (ServiceMaintenance503)", r, 503, c.maintenance)
	expectError(t, "a request during maintenance (error shape)", r, 503, c)
	admin(http.MethodDelete, "/_devserver/outage", "")
}
