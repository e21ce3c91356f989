package devserver

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// BenchmarkListPage lists pages of 1,000 documents of one workspace out of
// a million in the server (the lead's benchmark: a million documents listed
// with page_size 1000, filtered by workspace_id), through ServeHTTP, JSON
// encoding included, and the same for an upload session (what a client
// polling processing reads) and a lookup by external id. It reports the
// heap held per document. The filtered cases (status, updated_at_after)
// look at every document of the workspace for the first page of a list,
// and read the next pages from what that found while nothing changes; the
// same with a change before each page is their baseline, every page then
// a first one.
//
//	go test -run '^$' -bench BenchmarkListPage -benchtime 200x ./internal/devserver/
func BenchmarkListPage(b *testing.B) {
	const total = 1_000_000
	clk := &clock{t: t0}
	s, err := New(Config{APIKey: key, Discard: true, Now: clk.now})
	if err != nil {
		b.Fatal(err)
	}
	var before, grown runtime.MemStats
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
	runtime.ReadMemStats(&grown)
	perDoc := float64(grown.HeapAlloc-before.HeapAlloc) / total
	clk.add(time.Hour) // every document embedded
	pages := s.byWS[42].live / 1000
	session := s.sessions[42].uuid // all of workspace 42's documents

	after := t0.Add(-time.Hour).UTC().Format(time.RFC3339Nano)
	for _, bc := range []struct {
		name, query string
		change      bool // a document changes before each page
	}{
		{"workspace", "workspace_id=42&page_size=1000", false},
		{"workspace-oldest-first", "workspace_id=42&page_size=1000&ordering=created_at", false},
		{"workspace-by-filename", "workspace_id=42&page_size=1000&ordering=filename", false},
		{"every-workspace", "page_size=1000", false},
		{"upload-session", "upload_session_uuid=" + session + "&page_size=1000", false},
		{"external-id", "workspace_id=42&page_size=1000&external_metadata__external_id=pu1-0000000000000007", false},
		{"status-filter", "workspace_id=42&page_size=1000&status=embedded", false},
		{"status-filter-changing", "workspace_id=42&page_size=1000&status=embedded", true},
		{"updated-after", "workspace_id=42&page_size=1000&ordering=created_at&updated_at_after=" + after, false},
		{"updated-after-changing", "workspace_id=42&page_size=1000&ordering=created_at&updated_at_after=" + after, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportMetric(perDoc, "heap-B/doc")
			for i := 0; i < b.N; i++ {
				page := 1 + (i*7919)%pages // spread over the whole list
				if strings.Contains(bc.query, "external_id") {
					page = 1
				}
				if bc.change {
					s.locked(func() { s.touched(s.byWS[42].docs[i%pages], clk.now().UnixNano()) })
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

// The pages of a filtered list are read from what its first page found
// while nothing changes; a change — an upload, a document's next
// processing stage — is seen by the next page.
func TestAFilteredListSeesEveryChange(t *testing.T) {
	clk := &clock{t: t0}
	s, err := New(Config{APIKey: key, Discard: true, Now: clk.now, Pace: time.Second})
	require.NoError(t, err)
	add := func(i int) {
		name := fmt.Sprintf("doc-%03d.txt", i)
		_, _, err := s.create(newDoc{file: incoming{sent: name, size: 10}, ws: 42, name: name, ext: "txt",
			meta: &extMeta{ExternalID: fmt.Sprintf("x-%d", i), AdditionalMetadata: []byte(`{}`)}})
		require.NoError(t, err)
	}
	list := func(query string, page int) (count int, names []string) {
		req := httptest.NewRequest(http.MethodGet, fmt.Sprintf("/api/v3/files?workspace_id=42&page_size=10&ordering=created_at&%s&page=%d", query, page), nil)
		req.Header.Set("Authorization", "Bearer "+key)
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		var p struct {
			Count   int `json:"count"`
			Results []struct {
				Filename string `json:"filename"`
			} `json:"results"`
		}
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &p))
		for _, r := range p.Results {
			names = append(names, r.Filename)
		}
		return p.Count, names
	}
	for i := 0; i < 25; i++ {
		add(i)
	}
	clk.add(time.Minute) // every document embedded
	after := "updated_at_after=" + t0.Add(-time.Hour).UTC().Format(time.RFC3339Nano)
	n, first := list(after, 1)
	assert.Equal(t, 25, n)
	assert.Equal(t, "doc-000.txt", first[0])
	_, second := list(after, 2)
	assert.Equal(t, "doc-010.txt", second[0], "the next page, from the first's matches")

	add(25) // an upload between two pages
	n, third := list(after, 3)
	assert.Equal(t, 26, n, "the upload is counted")
	assert.Equal(t, []string{"doc-020.txt", "doc-021.txt", "doc-022.txt", "doc-023.txt", "doc-024.txt", "doc-025.txt"}, third)

	// A status filter: the new document is pending, then embedded by
	// itself, with no change of the workspace between the two pages.
	n, _ = list("status=embedded", 1)
	assert.Equal(t, 25, n)
	clk.add(time.Minute)
	n, _ = list("status=embedded", 2)
	assert.Equal(t, 26, n, "a document that reached the stage by itself")
}
