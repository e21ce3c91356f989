package api

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pager serves pages of 2 files out of count, each page's next link made by
// next (page number → the next link's page number; 0: none).
func pager(t *testing.T, count int, next func(page int) int) *Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		page, _ := strconv.Atoi(r.URL.Query().Get("page"))
		page = max(page, 1)
		link := "null"
		if n := next(page); n > 0 {
			// A distinct link each time, so that only the page number
			// can tell it goes back.
			link = fmt.Sprintf(`"http://internal/api/v3/files?page=%d&from=%d"`, n, page)
		}
		fmt.Fprintf(w, `{"count": %d, "next": %s, "results": [{"id": %d}, {"id": %d}]}`, count, link, 2*page-1, 2*page)
	}))
	t.Cleanup(srv.Close)
	c, err := NewClient(srv.URL, testKey, nil)
	require.NoError(t, err)
	return c
}

// A listing's next links must go forward: one that goes back, repeats, or
// never ends makes the listing untrustworthy (a *ListingError), and is not
// followed.
func TestEachPageRefusesNextLinksThatDoNotGoForward(t *testing.T) {
	for name, tc := range map[string]struct {
		next func(int) int
		want string
	}{
		"back to page 1":  {func(p int) int { return map[int]int{1: 2, 2: 3, 3: 1}[p] }, "the next link of page 3 goes back to page 1"},
		"to itself":       {func(p int) int { return max(p, 2) }, "the next link of page 2 goes back to page 2"},
		"never ending":    {func(p int) int { return p + 1 }, "its next links go on past 14 pages, though its first page counted 2 documents"},
		"back, once more": {func(p int) int { return map[int]int{1: 3, 3: 2}[p] }, "the next link of page 3 goes back to page 2"},
	} {
		t.Run(name, func(t *testing.T) {
			c := pager(t, 2, tc.next)
			pages := 0
			err := EachPage(context.Background(), c, ListQuery{PageSize: 2}, func(*FilePage) error { pages++; return nil })
			var le *ListingError
			require.ErrorAs(t, err, &le)
			assert.Contains(t, err.Error(), tc.want)
			assert.LessOrEqual(t, pages, 14, "not followed")
		})
	}
	c := pager(t, 6, func(p int) int { return map[int]int{1: 2, 2: 3}[p] })
	var ids []int64
	require.NoError(t, ListFiles(context.Background(), c, ListQuery{PageSize: 2}, func(fs []File) error {
		for _, f := range fs {
			ids = append(ids, f.ID)
		}
		return nil
	}))
	assert.Equal(t, []int64{1, 2, 3, 4, 5, 6}, ids, "a listing that goes forward is read whole")
}
