package api

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tagPages serves GET /api/v3/tags: tags 1 to n, newest (highest id) first,
// size a page, as the service paginates them; it counts the requests.
func tagPages(t *testing.T, n, size int, requests *atomic.Int32) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		assert.Equal(t, "/api/v3/tags", r.URL.Path)
		assert.Equal(t, "Bearer "+testKey, r.Header.Get("Authorization"))
		page, _ := strconv.Atoi(r.URL.Query().Get("page"))
		page = max(page, 1)
		next := "null"
		if page*size < n {
			// An absolute link naming another host, as behind a proxy.
			next = fmt.Sprintf(`"http://internal:8000/api/v3/tags?page=%d&page_size=%d"`, page+1, size)
		}
		var results []byte
		for i := (page - 1) * size; i < min(page*size, n); i++ {
			if len(results) > 0 {
				results = append(results, ',')
			}
			results = fmt.Appendf(results, `{"id":%d,"name":"tag-%d","auto_assign":true,"document_count":0}`, n-i, n-i)
		}
		fmt.Fprintf(w, `{"count":%d,"next":%s,"previous":null,"results":[%s]}`, n, next, results)
	}
}

func TestMissingTagsNamesTheIdsTheServiceDoesNotList(t *testing.T) {
	var requests atomic.Int32
	c := newTestClient(t, tagPages(t, 250, 100, &requests))
	missing, err := c.MissingTags(context.Background(), []int64{3, 99999, 250, 0, 3})
	require.NoError(t, err)
	assert.Equal(t, []int64{99999, 0}, missing, "in the order asked, each once")
	assert.Equal(t, int32(3), requests.Load(), "every page read, to be sure")
}

func TestMissingTagsStopsOnceEveryTagIsFound(t *testing.T) {
	var requests atomic.Int32
	c := newTestClient(t, tagPages(t, 1000, 100, &requests))
	missing, err := c.MissingTags(context.Background(), []int64{950, 999})
	require.NoError(t, err)
	assert.Empty(t, missing)
	assert.Equal(t, int32(1), requests.Load(), "both are on the first page")

	requests.Store(0)
	missing, err = c.MissingTags(context.Background(), nil)
	require.NoError(t, err)
	assert.Empty(t, missing)
	assert.Zero(t, requests.Load(), "no tag asked for, no request")
}

func TestMissingTagsReportsAnAnswerThatIsNotAList(t *testing.T) {
	c := newTestClient(t, func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"error":"not_found","detail":"Not found."}`))
	})
	_, err := c.MissingTags(context.Background(), []int64{1})
	ae, ok := AsError(err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, http.StatusNotFound, ae.StatusCode)
	assert.Contains(t, err.Error(), "list tags")
}
