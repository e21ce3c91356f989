package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const testKey = "sk-test-123"

func newTestClient(t *testing.T, h http.HandlerFunc) *Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := NewClient(srv.URL, testKey, srv.Client())
	require.NoError(t, err)
	return c
}

func writeTemp(t *testing.T, name string, content []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, content, 0o644))
	return p
}

func TestUploadSendsDocumentedFields(t *testing.T) {
	content := []byte(strings.Repeat("contract text ", 10000))
	var got struct {
		auth, workspace, parser, ext, filename, contentType string
		tags                                                []string
		sum                                                 [32]byte
		contentLength                                       int64
		transferEncoding                                    []string
	}
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		assert.Equal(t, "/api/v3/files", r.URL.Path)
		assert.Equal(t, http.MethodPost, r.Method)
		got.auth = r.Header.Get("Authorization")
		got.contentLength = r.ContentLength
		got.transferEncoding = r.TransferEncoding
		if !assert.NoError(t, r.ParseMultipartForm(1<<20)) {
			return
		}
		got.workspace = r.FormValue("workspace_id")
		got.tags = r.MultipartForm.Value["tags"]
		got.parser = r.FormValue("parser")
		got.ext = r.FormValue("external_metadata")
		f, fh, err := r.FormFile("file")
		if !assert.NoError(t, err) {
			return
		}
		b, _ := io.ReadAll(f)
		got.sum = sha256.Sum256(b)
		got.filename = fh.Filename
		got.contentType = fh.Header.Get("Content-Type")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"id": 7, "filename": "report.pdf", "status": "pending", "upload_session_uuid": "s-1"}`))
	})
	p := writeTemp(t, "report.pdf", content)
	var sent atomic.Int64
	res, err := c.Upload(context.Background(), UploadRequest{
		Path: p, Filename: "report.pdf", WorkspaceID: 42, Tags: []int64{1, 2, 3},
		Parser: "v2.2.1", External: &ExternalMetadata{ExternalID: "pu1-abc", AdditionalMetadata: map[string]any{"path": "a/report.pdf"}},
		Sent: func(n int64) { sent.Add(n) },
	})
	require.NoError(t, err)
	assert.Equal(t, 201, res.StatusCode)
	assert.Equal(t, int64(7), res.File.ID)
	assert.Equal(t, "s-1", res.File.UploadSessionUUID)
	assert.Equal(t, "Bearer "+testKey, got.auth)
	assert.Equal(t, "42", got.workspace)
	assert.Equal(t, []string{"1", "2", "3"}, got.tags, "one tags field per id")
	assert.Equal(t, "v2.2.1", got.parser)
	assert.JSONEq(t, `{"external_id":"pu1-abc","additional_metadata":{"path":"a/report.pdf"}}`, got.ext)
	assert.Equal(t, "report.pdf", got.filename)
	assert.Equal(t, "application/pdf", got.contentType)
	assert.Equal(t, sha256.Sum256(content), got.sum, "content arrives byte for byte")
	assert.Positive(t, got.contentLength, "a Content-Length is sent, not chunked")
	assert.Empty(t, got.transferEncoding)
	assert.Equal(t, int64(len(content)), sent.Load())
}

func TestUploadOmitsOptionalFields(t *testing.T) {
	var form map[string][]string
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		if !assert.NoError(t, r.ParseMultipartForm(1<<20)) {
			return
		}
		form = r.MultipartForm.Value
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`{"id": 1}`))
	})
	p := writeTemp(t, "a.txt", []byte("x"))
	res, err := c.Upload(context.Background(), UploadRequest{Path: p, WorkspaceID: 3})
	require.NoError(t, err)
	assert.Equal(t, 200, res.StatusCode)
	assert.Equal(t, map[string][]string{"workspace_id": {"3"}}, form)
}

// A file written to while it is sent: the request is cut before its closing
// boundary (the service stores nothing of a mixed content) and the error
// says why.
func TestUploadOfAFileThatChangesWhileItIsSentIsCut(t *testing.T) {
	const size = 32 << 20
	started := make(chan struct{})
	resume := make(chan struct{})
	var complete atomic.Bool
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 64<<10)
		_, _ = io.ReadFull(r.Body, buf)
		close(started)
		<-resume
		if _, err := io.Copy(io.Discard, r.Body); err == nil {
			complete.Store(true) // the body arrived whole: it must not
		}
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"id": 1}`))
	})
	p := writeTemp(t, "a.pdf", bytes.Repeat([]byte("a"), size))
	errc := make(chan error, 1)
	go func() {
		_, err := c.Upload(context.Background(), UploadRequest{Path: p, WorkspaceID: 1})
		errc <- err
	}()
	<-started
	// Rewritten in place, at the same size, while most of it is unsent.
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteAt(bytes.Repeat([]byte("b"), size), 0)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	later := time.Now().Add(time.Minute)
	require.NoError(t, os.Chtimes(p, later, later))
	close(resume)
	require.ErrorIs(t, <-errc, ErrFileChanged)
	assert.False(t, complete.Load(), "the request was cut before its end")
}

func TestUploadReportsWhatItSent(t *testing.T) {
	content := []byte("the content")
	var ext string
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		assert.NoError(t, r.ParseMultipartForm(1<<20))
		ext = r.FormValue("external_metadata")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"id": 4}`))
	})
	p := writeTemp(t, "a.pdf", content)
	res, err := c.Upload(context.Background(), UploadRequest{Path: p, WorkspaceID: 1, HashKey: "sha256",
		External: &ExternalMetadata{ExternalID: "id-1", AdditionalMetadata: map[string]any{"path": "a.pdf"}}})
	require.NoError(t, err)
	sum := sha256.Sum256(content)
	want := hex.EncodeToString(sum[:])
	assert.Equal(t, want, res.SHA256, "hashed as it streamed")
	assert.Equal(t, int64(len(content)), res.Size)
	assert.JSONEq(t, `{"external_id":"id-1","additional_metadata":{"path":"a.pdf","sha256":"`+want+`"}}`, ext,
		"the hash travels in external_metadata, sent after the file")
}

func TestErrorBodies(t *testing.T) {
	cases := []struct {
		name        string
		status      int
		body        string
		header      map[string]string
		wantMsg     string
		auth, large bool
		unsupported bool
		transient   bool
		retryAfter  time.Duration
	}{
		{
			name: "documented 422 with fields", status: 422,
			body:    `{"id":"e1","code":422,"error":"validation_error","detail":"The request is invalid.","doc_url":"https://x","fields":{"workspace_id":[{"error":"does_not_exist","detail":"Workspace 9 does not exist."}]}}`,
			wantMsg: "HTTP 422 Unprocessable Entity: The request is invalid. (workspace_id: Workspace 9 does not exist.)",
		},
		{
			name: "unsupported type", status: 422, unsupported: true,
			body:    `{"id":"e2","code":"unsupported_file_type","error":"unsupported_file_type","detail":"Files of type \"exe\" are not supported.","doc_url":""}`,
			wantMsg: `HTTP 422 Unprocessable Entity: Files of type "exe" are not supported.`,
		},
		{
			name: "proxy HTML 413", status: 413, large: true,
			body:    "<html>\n<head><title>413 Request Entity Too Large</title></head>\n<body><center><h1>413 Request Entity Too Large</h1></center><hr><center>nginx</center></body></html>",
			wantMsg: `HTTP 413 Request Entity Too Large: an HTML page ("413 Request Entity Too Large")`,
		},
		{
			name: "a web server's page, never pasted whole", status: 404,
			header: map[string]string{"Content-Type": "text/html"},
			body: "<!DOCTYPE html>\n<html><head><title>Welcome to\n nginx!</title><style>body{width:35em}</style></head>" +
				"<body><h1>Welcome to nginx!</h1><p>If you see this page, the nginx web server is successfully installed " +
				"and working. Further configuration is required.</p></body></html>",
			wantMsg: `HTTP 404 Not Found: an HTML page ("Welcome to nginx!")`,
		},
		{
			name: "an HTML page without a title: its heading", status: 502, transient: true,
			body:    "<html><body><h1>Bad &amp; gateway</h1><p>upstream timed out</p></body></html>",
			wantMsg: `HTTP 502 Bad Gateway: an HTML page ("Bad & gateway")`,
		},
		{
			name: "an HTML page with neither", status: 503, transient: true,
			header:  map[string]string{"Content-Type": "text/html; charset=utf-8"},
			body:    "<div>down for maintenance, back soon</div>",
			wantMsg: "HTTP 503 Service Unavailable: an HTML page",
		},
		{name: "401", status: 401, auth: true, body: `{"error":"authentication_failed","detail":"Invalid key"}`, wantMsg: "HTTP 401 Unauthorized: Invalid key"},
		{name: "403 empty body", status: 403, auth: true, wantMsg: "HTTP 403 Forbidden"},
		{
			name: "429 with seconds", status: 429, transient: true, retryAfter: 3 * time.Second,
			header: map[string]string{"Retry-After": "3"}, body: `{"error":"rate_limited","detail":"slow down"}`,
			wantMsg: "HTTP 429 Too Many Requests: slow down",
		},
		{name: "503 text", status: 503, transient: true, body: "maintenance\r\n", wantMsg: "HTTP 503 Service Unavailable: maintenance"},
		{name: "400 domain", status: 400, body: `{"error":"storage_limit_reached","detail":"Workspace storage limit reached."}`, wantMsg: "HTTP 400 Bad Request: Workspace storage limit reached."},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			})
			p := writeTemp(t, "a.pdf", []byte("x"))
			_, err := c.Upload(context.Background(), UploadRequest{Path: p, WorkspaceID: 1})
			ae, ok := AsError(err)
			require.True(t, ok, "got %v", err)
			assert.Equal(t, tc.wantMsg, ae.Error())
			assert.NotContains(t, err.Error(), "\n")
			assert.NotContains(t, err.Error(), testKey)
			assert.Equal(t, tc.auth, ae.IsAuth(), "IsAuth")
			assert.Equal(t, tc.large, ae.IsTooLarge(), "IsTooLarge")
			assert.Equal(t, tc.unsupported, ae.IsUnsupportedType(), "IsUnsupportedType")
			assert.Equal(t, tc.transient, ae.IsTransient(), "IsTransient")
			assert.Equal(t, tc.retryAfter, ae.RetryAfter)
		})
	}
}

func TestTransportErrorIsTypedAndMarkedSent(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hj := w.(http.Hijacker)
		conn, _, _ := hj.Hijack()
		conn.Close()
	}))
	defer srv.Close()
	c, err := NewClient(srv.URL, testKey, srv.Client())
	require.NoError(t, err)
	p := writeTemp(t, "a.pdf", []byte("x"))
	_, err = c.Upload(context.Background(), UploadRequest{Path: p, WorkspaceID: 1})
	var te *TransportError
	require.ErrorAs(t, err, &te)
	assert.True(t, te.Sent)
	assert.NotContains(t, err.Error(), testKey)
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	cases := map[string]time.Duration{
		"":                              0,
		"0":                             0,
		"-5":                            0,
		"2":                             2 * time.Second,
		"1.5":                           1500 * time.Millisecond,
		"99999":                         MaxRetryAfter,
		"Mon, 23 Nov 2026 10:00:30 GMT": 30 * time.Second,
		"Mon, 23 Nov 2026 09:00:00 GMT": 0, // in the past
		"Tue, 24 Nov 2026 10:00:00 GMT": MaxRetryAfter,
		"soon":                          0,
	}
	for in, want := range cases {
		assert.Equal(t, want, ParseRetryAfter(in, now), "%q", in)
	}
}

func TestListFilesFollowsNextAndFilters(t *testing.T) {
	var queries []string
	var srvURL string
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		queries = append(queries, r.URL.RawQuery)
		page, _ := strconv.Atoi(r.URL.Query().Get("page"))
		if page == 0 {
			page = 1
		}
		var next any
		if page < 3 {
			// The service may name itself by another host behind a proxy.
			next = "http://internal-host:8000/api/v3/files?page=" + strconv.Itoa(page+1) + "&upload_session_uuid=s"
		}
		_ = json.NewEncoder(w).Encode(map[string]any{
			"count": 3, "next": next, "previous": nil,
			"results": []map[string]any{{"id": page, "status": "embedded"}},
		})
	})
	srvURL = c.BaseURL()
	var ids []int64
	var counts []int
	expect := func(n int) { counts = append(counts, n) }
	err := c.ListFiles(context.Background(), ListQuery{WorkspaceID: 42, UploadSessionUUID: "s", PageSize: 500, Status: []string{"pending", "parsing"}, Expect: expect},
		func(fs []File) error {
			for _, f := range fs {
				ids = append(ids, f.ID)
			}
			return nil
		})
	require.NoError(t, err)
	assert.Equal(t, []int64{1, 2, 3}, ids)
	assert.Equal(t, []int{3}, counts, "the count the first page announces, told once")
	assert.Contains(t, queries[0], "workspace_id=42")
	assert.Contains(t, queries[0], "upload_session_uuid=s")
	assert.Contains(t, queries[0], "page_size=500")
	assert.Contains(t, queries[0], "status=pending%2Cparsing")
	assert.Contains(t, queries[2], "page=3")
	assert.NotEmpty(t, srvURL)
}

func TestWorkspacesReadsArrayAndPage(t *testing.T) {
	for name, body := range map[string]string{
		"array": `[{"id":1,"name":"Me","workspace_type":"personal"},{"id":42,"name":"Legal","workspace_type":"custom"}]`,
		"page":  `{"count":2,"next":null,"previous":null,"results":[{"id":1,"name":"Me","workspace_type":"personal"},{"id":42,"name":"Legal","workspace_type":"custom"}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
				assert.Equal(t, "/api/v3/workspaces", r.URL.Path)
				_, _ = w.Write([]byte(body))
			})
			ws, err := c.Workspaces(context.Background())
			require.NoError(t, err)
			assert.Equal(t, []Workspace{{1, "Me", "personal"}, {42, "Legal", "custom"}}, ws)
		})
	}
}

func TestGetFileNotFound(t *testing.T) {
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		assert.Equal(t, "/api/v3/files/9", r.URL.Path)
		w.WriteHeader(404)
		_, _ = w.Write([]byte(`{"error":"not_found","detail":"File not found or not accessible."}`))
	})
	_, err := c.GetFile(context.Background(), 9)
	ae, ok := AsError(err)
	require.True(t, ok)
	assert.Equal(t, 404, ae.StatusCode)
}

func TestParseBaseURL(t *testing.T) {
	good := map[string]string{
		"https://paradigm.lighton.ai":        "https://paradigm.lighton.ai",
		"https://paradigm.example.com/":      "https://paradigm.example.com",
		"http://127.0.0.1:8765":              "http://127.0.0.1:8765",
		"https://corp.example.com/paradigm/": "https://corp.example.com/paradigm",
	}
	for in, want := range good {
		u, err := ParseBaseURL(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, u.String())
	}
	for _, bad := range []string{"", "paradigm.lighton.ai", "ftp://x", "https://", "https://x?y=1", "https://u:p@x"} {
		_, err := ParseBaseURL(bad)
		assert.Error(t, err, bad)
	}
}

func TestContextCancelIsNotATransportError(t *testing.T) {
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.GetFile(ctx, 1)
	require.ErrorIs(t, err, context.Canceled)
	var te *TransportError
	assert.NotErrorAs(t, err, &te)
}

func TestTransientStatuses(t *testing.T) {
	for code, want := range map[int]bool{408: true, 425: true, 429: true, 500: true, 502: true, 503: true, 504: true,
		400: false, 401: false, 403: false, 404: false, 409: false, 413: false, 422: false, 501: false} {
		assert.Equal(t, want, (&Error{StatusCode: code}).IsTransient(), "HTTP %d", code)
	}
}

func TestUploadKeepsUnusualFileNames(t *testing.T) {
	for _, name := range []string{"résumé 2024.pdf", `quote"and\back.txt`, "日本語.md", "line\nbreak.txt"} {
		var got string
		c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
			if !assert.NoError(t, r.ParseMultipartForm(1<<20)) {
				return
			}
			_, fh, err := r.FormFile("file")
			if !assert.NoError(t, err) {
				return
			}
			got = fh.Filename
			w.WriteHeader(201)
			_, _ = w.Write([]byte(`{"id":1}`))
		})
		p := writeTemp(t, "f.bin", []byte("x"))
		_, err := c.Upload(context.Background(), UploadRequest{Path: p, Filename: name, WorkspaceID: 1})
		require.NoError(t, err, name)
		want := strings.NewReplacer("\n", "%0A").Replace(name)
		assert.Equal(t, want, got)
	}
}

func BenchmarkMultipartBody(b *testing.B) {
	content := bytes.Repeat([]byte("x"), 4096)
	p := filepath.Join(b.TempDir(), "doc.pdf")
	require.NoError(b, os.WriteFile(p, content, 0o644))
	buf := make([]byte, 32<<10)
	b.ReportAllocs()
	b.SetBytes(int64(len(content)))
	for i := 0; i < b.N; i++ {
		f, info, err := OpenRegular(p)
		if err != nil {
			b.Fatal(err)
		}
		body, err := newMultipartBody(UploadRequest{Path: p, WorkspaceID: 42, Tags: []int64{1, 2},
			External: &ExternalMetadata{ExternalID: "pu1-0123456789abcdef0123456789abcdef",
				AdditionalMetadata: map[string]any{"path": "a/doc.pdf"}}, HashKey: "sha256"}, f, info, "0123456789abcdef")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{body}, buf); err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
}

func TestExternalMetadataEncodingMatchesEncodingJSON(t *testing.T) {
	for _, m := range []ExternalMetadata{
		{ExternalID: "pu1-abc"},
		{ExternalID: "x", DocType: "contract", AdditionalMetadata: map[string]any{"path": "a/\"b\"\\c\n\t\x01é日本.pdf", "z": "1", "a": ""}},
		{ExternalID: "bad\xffutf8", AdditionalMetadata: map[string]any{"path": "\xe2\x28\xa1"}},
		{ExternalID: "n", AdditionalMetadata: map[string]any{"count": 3}},
	} {
		got, err := m.appendJSON(nil)
		require.NoError(t, err)
		want, err := json.Marshal(&m)
		require.NoError(t, err)
		assert.JSONEq(t, string(want), string(got))
		var back ExternalMetadata
		require.NoError(t, json.Unmarshal(got, &back), string(got))
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "a/b.pdf", "\"\\\n", "\xff", "日本"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var got string
		if err := json.Unmarshal(appendJSONString(nil, s), &got); err != nil {
			t.Fatalf("invalid JSON for %q: %v", s, err)
		}
		want, _ := json.Marshal(s)
		var w string
		_ = json.Unmarshal(want, &w)
		if got != w {
			t.Fatalf("%q decodes to %q, encoding/json gives %q", s, got, w)
		}
	})
}

func TestTransportIsSizedForThePoolAndSpeaksHTTP2OverTLS(t *testing.T) {
	tr := NewTransport(TransportOptions{MaxConns: 50})
	assert.GreaterOrEqual(t, tr.MaxIdleConnsPerHost, 50, "Go's default of 2 idle connections per host would throttle a pool of 50")
	assert.Positive(t, tr.ResponseHeaderTimeout)
	assert.NotNil(t, tr.Proxy, "proxies come from the environment")

	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(201)
		fmt.Fprintf(w, `{"id": %d}`, r.ProtoMajor)
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	tr.TLSClientConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig // trust the test CA
	c, err := NewClient(srv.URL, testKey, &http.Client{Transport: tr})
	require.NoError(t, err)
	p := writeTemp(t, "a.pdf", []byte("x"))
	res, err := c.Upload(context.Background(), UploadRequest{Path: p, WorkspaceID: 1})
	require.NoError(t, err)
	assert.Equal(t, int64(2), res.File.ID, "the request went over HTTP/2")
}
