package api

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
)

// tagPageSize is the page size asked of GET /api/v3/tags: a company's tags
// are usually far fewer, so one request mostly answers.
const tagPageSize = 100

// MissingTags returns those of ids that the service does not list among
// the company's tags (GET /api/v3/tags), in the order given, each once. An
// upload naming such a tag is stored without it (207), and a change of
// tags naming one is refused. It reads the pages until every id is found,
// or to the last page.
func (c *Client) MissingTags(ctx context.Context, ids []int64) ([]int64, error) {
	want := map[int64]bool{}
	for _, id := range ids {
		want[id] = true
	}
	target := c.endpoint("/api/v3/tags", url.Values{"page_size": {strconv.Itoa(tagPageSize)}})
	for pages := 0; target != "" && len(want) > 0; pages++ {
		if pages > 10000 {
			return nil, errors.New("list tags: too many pages; the service keeps returning a next page")
		}
		req, err := c.newRequest(ctx, http.MethodGet, target, nil)
		if err != nil {
			return nil, err
		}
		var p Page[Tag]
		if _, err := c.do(req, "list tags", &p, http.StatusOK); err != nil {
			return nil, err
		}
		for _, t := range p.Results {
			delete(want, t.ID)
		}
		if target, err = c.followNext(p.Next); err != nil {
			return nil, err
		}
	}
	var missing []int64
	for _, id := range ids {
		if want[id] {
			missing = append(missing, id)
			delete(want, id)
		}
	}
	return missing, nil
}
