package devserver

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"
)

// BenchmarkListPage lists pages of 1,000 documents of one workspace out of
// a million in the server (the lead's benchmark: a million documents listed
// with page_size 1000, filtered by workspace_id), through ServeHTTP, JSON
// encoding included, and the same for an upload session (what a client
// polling processing reads) and a lookup by external id. It reports the
// heap held per document. The status-filter case, which must look at every
// document of the workspace, is there for comparison.
//
//	go test -run '^$' -bench BenchmarkListPage -benchtime 200x ./internal/devserver/
func BenchmarkListPage(b *testing.B) {
	const total = 1_000_000
	clk := &clock{t: t0}
	s, err := New(Config{APIKey: key, Discard: true, Now: clk.now})
	if err != nil {
		b.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := 0; i < total; i++ {
		ws := int64(42)
		if i%10 == 0 {
			ws = 1
		}
		name := fmt.Sprintf("folder/doc-%07d.txt", i)
		_, _, err := s.create(newDoc{
			file: incoming{sent: name, size: 4096}, ws: ws, name: name, ext: "txt",
			meta: &extMeta{ExternalID: fmt.Sprintf("pu1-%016x", i), AdditionalMetadata: []byte(`{}`)},
		})
		if err != nil {
			b.Fatal(err)
		}
		if i%1000 == 0 {
			clk.add(time.Millisecond)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perDoc := float64(after.HeapAlloc-before.HeapAlloc) / total
	clk.add(time.Hour) // every document embedded
	pages := s.byWS[42].live / 1000
	session := s.sessions[42].uuid // all of workspace 42's documents

	for _, bc := range []struct{ name, query string }{
		{"workspace", "workspace_id=42&page_size=1000"},
		{"workspace-oldest-first", "workspace_id=42&page_size=1000&ordering=created_at"},
		{"workspace-by-filename", "workspace_id=42&page_size=1000&ordering=filename"},
		{"every-workspace", "page_size=1000"},
		{"upload-session", "upload_session_uuid=" + session + "&page_size=1000"},
		{"external-id", "workspace_id=42&page_size=1000&external_metadata__external_id=pu1-0000000000000007"},
		{"status-filter", "workspace_id=42&page_size=1000&status=embedded"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportMetric(perDoc, "heap-B/doc")
			for i := 0; i < b.N; i++ {
				page := 1 + (i*7919)%pages // spread over the whole list
				if strings.Contains(bc.query, "external_id") {
					page = 1
				}
				req := httptest.NewRequest(http.MethodGet, fmt.Sprintf("/api/v3/files?%s&page=%d", bc.query, page), nil)
				req.Header.Set("Authorization", "Bearer "+key)
				w := httptest.NewRecorder()
				s.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("%d: %s", w.Code, w.Body.String())
				}
				_, _ = io.Copy(io.Discard, w.Body)
			}
		})
	}
}
