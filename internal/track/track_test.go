package track

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paradigm-upload/paradigm-upload/internal/api"
	"github.com/paradigm-upload/paradigm-upload/internal/clock/clocktest"
)

// A session of 1,200 documents that stay pending for a while, then all
// reach a final status; two of them fail.
func TestWaitPollsBySessionPageAndBacksOff(t *testing.T) {
	const n = 1200
	clk := clocktest.New(time.Unix(0, 0))
	var lists, gets atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v3/files" {
			gets.Add(1)
			w.WriteHeader(404)
			return
		}
		lists.Add(1)
		page := 1
		fmt.Sscan(r.URL.Query().Get("page"), &page)
		size := 500
		fmt.Sscan(r.URL.Query().Get("page_size"), &size)
		status := "pending"
		if clk.Now().After(time.Unix(20, 0)) {
			status = "embedded"
		}
		from, to := (page-1)*size, min(page*size, n)
		fmt.Fprintf(w, `{"count":%d,"results":[`, n)
		for id := from + 1; id <= to; id++ {
			st := status
			if status == "embedded" && id%600 == 0 {
				st = "parsing_failed"
			}
			if id > from+1 {
				fmt.Fprint(w, ",")
			}
			fmt.Fprintf(w, `{"id":%d,"status":%q,"upload_session_uuid":"s"}`, id, st)
		}
		next := "null"
		if to < n {
			next = fmt.Sprintf(`"http://x/api/v3/files?page=%d&page_size=%d&upload_session_uuid=s"`, page+1, size)
		}
		fmt.Fprintf(w, `],"next":%s}`, next)
	}))
	defer srv.Close()
	c, err := api.NewClient(srv.URL, "k", srv.Client())
	require.NoError(t, err)
	req := Request{WorkspaceID: 42, Sessions: []string{"s"}, Paths: map[int64]string{}}
	for id := int64(1); id <= n; id++ {
		req.Paths[id] = fmt.Sprintf("doc-%d.pdf", id)
	}
	docs, err := Wait(context.Background(), c, req, WaitOptions{Clock: clk, MinInterval: time.Second, MaxInterval: 8 * time.Second})
	require.NoError(t, err)
	assert.Equal(t, map[string]int{"embedded": 1198, "parsing_failed": 2}, Counts(docs))
	assert.Zero(t, gets.Load(), "no request per document")
	polls := int(lists.Load()) / 3 // 1,200 documents are 3 pages of 500
	assert.Equal(t, 0, int(lists.Load())%3)
	assert.LessOrEqual(t, polls, 7, "backing off while nothing changes")
	assert.Equal(t, []time.Duration{1, 2, 4, 8, 8}, scale(clk.Slept()[:min(5, len(clk.Slept()))]))
}

func scale(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d / time.Second
	}
	return out
}

func TestWaitTimesOut(t *testing.T) {
	clk := clocktest.New(time.Unix(0, 0))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"count":1,"next":null,"results":[{"id":1,"status":"parsing","upload_session_uuid":"s"}]}`)
	}))
	defer srv.Close()
	c, err := api.NewClient(srv.URL, "k", srv.Client())
	require.NoError(t, err)
	docs, err := Wait(context.Background(), c, Request{Sessions: []string{"s"}, Paths: map[int64]string{1: "a.pdf"}},
		WaitOptions{Clock: clk, Timeout: 30 * time.Second})
	require.ErrorIs(t, err, ErrTimeout)
	require.Len(t, docs, 1)
	assert.Equal(t, "parsing", docs[0].Status)
	assert.Equal(t, time.Unix(30, 0), clk.Now(), "the wait stops at the deadline, not after")
}

func TestCollectFallsBackToGetForDocumentsOutsideTheSessions(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/v3/files":
			fmt.Fprint(w, `{"count":1,"next":null,"results":[{"id":1,"status":"embedded"}]}`)
		case "/api/v3/files/2":
			fmt.Fprint(w, `{"id":2,"status":"embedding_failed","status_detail":"boom"}`)
		default:
			w.WriteHeader(404)
			fmt.Fprint(w, `{"error":"not_found","detail":"File not found."}`)
		}
	}))
	defer srv.Close()
	c, err := api.NewClient(srv.URL, "k", srv.Client())
	require.NoError(t, err)
	docs, err := Collect(context.Background(), c, Request{Sessions: []string{"s"}, Paths: map[int64]string{1: "a", 2: "b", 3: "c"}})
	require.NoError(t, err)
	assert.Equal(t, []Doc{
		{Path: "a", DocumentID: 1, Status: "embedded"},
		{Path: "b", DocumentID: 2, Status: "embedding_failed", StatusDetail: "boom"},
		{Path: "c", DocumentID: 3, Status: "missing", StatusDetail: "the service has no document with this id"},
	}, docs)
	assert.True(t, IsFailed("fail") && IsFailed("failed") && IsFinal("parsed") && !IsFinal("updating"))
}
