package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Listing files: GET /api/v3/files one page at a time (ListPage), so that a
// caller can retry a page rather than the whole listing, and EachPage, which
// walks the pages and refuses a pagination that cannot be trusted.

// ListQuery holds the filters of GET /api/v3/files that this tool uses.
type ListQuery struct {
	WorkspaceID       int64
	UploadSessionUUID string
	ExternalID        string
	Status            []string
	Filename          string
	// Ordering asks for a stable order (e.g. "created_at": documents
	// created while the pages are read then come last, instead of
	// shifting every page).
	Ordering string
	// CreatedBefore, UpdatedAfter: the documents created before, or
	// changed after, a moment (the service's clock); zero: no filter.
	CreatedBefore, UpdatedAfter time.Time
	PageSize                    int
	// Expect, when set, is told once the number of files the first page
	// says match, so that a caller keeping them can make room at once.
	// (Not a filter: it is not sent.)
	Expect func(count int)
}

func (q ListQuery) values() url.Values {
	v := url.Values{}
	if q.WorkspaceID != 0 {
		v.Set("workspace_id", strconv.FormatInt(q.WorkspaceID, 10))
	}
	if q.UploadSessionUUID != "" {
		v.Set("upload_session_uuid", q.UploadSessionUUID)
	}
	if q.ExternalID != "" {
		v.Set("external_metadata__external_id", q.ExternalID)
	}
	if len(q.Status) > 0 {
		v.Set("status", strings.Join(q.Status, ","))
	}
	if q.Filename != "" {
		v.Set("filename", q.Filename)
	}
	if q.Ordering != "" {
		v.Set("ordering", q.Ordering)
	}
	if !q.CreatedBefore.IsZero() {
		v.Set("created_at_before", q.CreatedBefore.UTC().Format(time.RFC3339Nano))
	}
	if !q.UpdatedAfter.IsZero() {
		v.Set("updated_at_after", q.UpdatedAfter.UTC().Format(time.RFC3339Nano))
	}
	if q.PageSize > 0 {
		v.Set("page_size", strconv.Itoa(q.PageSize))
	}
	return v
}

// FilePage is one page of a listing of files.
type FilePage struct {
	// Count is how many files the service says match the query.
	Count   int
	Results []File
	// Next is the link to the next page as the service gave it; "" on
	// the last page. Pass it back to ListPage as it is.
	Next string
	// Date is when the service answered, by its own clock (the answer's
	// Date header, to the second); zero when it did not say.
	Date time.Time
}

// PageLister reads one page of a listing: the first of q when next is "",
// else the page next links to. *Client implements it.
type PageLister interface {
	ListPage(ctx context.Context, q ListQuery, next string) (*FilePage, error)
}

// ListPage reads one page of the files matching q: the first when next is
// "", else the one the previous page's Next names (only its path and query
// are kept, sent to the base URL: the key never goes elsewhere).
func (c *Client) ListPage(ctx context.Context, q ListQuery, next string) (*FilePage, error) {
	target := c.endpoint("/api/v3/files", q.values())
	if next != "" {
		var err error
		if target, err = c.followNext(&next); err != nil {
			return nil, err
		}
	}
	req, err := c.newRequest(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, err
	}
	var p Page[File]
	_, date, err := c.doDated(req, "list files", &p, http.StatusOK)
	if err != nil {
		return nil, err
	}
	out := &FilePage{Count: p.Count, Results: p.Results, Date: date}
	if p.Next != nil {
		out.Next = *p.Next
	}
	return out, nil
}

// ListingError is a pagination that cannot be trusted: a next link that
// repeats, goes backwards, or never ends. What was read of it is not a
// picture of the service's documents.
type ListingError struct {
	Msg string
}

func (e *ListingError) Error() string {
	return "the service's listing of files cannot be trusted: " + e.Msg
}

// EachPage calls fn with each page of the files matching q, in order,
// following Next until the last page or until fn returns an error. A next
// link seen before, one whose page number is not past the current page's,
// or more pages than the first page's count allows (with room for
// documents added meanwhile) is a *ListingError.
func EachPage(ctx context.Context, l PageLister, q ListQuery, fn func(*FilePage) error) error {
	seen := map[string]bool{}
	next, page, limit := "", 1, 0
	for pages := 0; ; pages++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		p, err := l.ListPage(ctx, q, next)
		if err != nil {
			return err
		}
		if pages == 0 {
			if q.Expect != nil {
				q.Expect(p.Count)
			}
			// The pages' size is the first's, when there are more: the
			// service may serve fewer than asked.
			size := max(q.PageSize, 1)
			if p.Next != "" && len(p.Results) > 0 {
				size = len(p.Results)
			}
			// Room for the count to double while the pages are read.
			limit = 2*(max(p.Count, 0)/size+1) + 10
		}
		if err := fn(p); err != nil {
			return err
		}
		if p.Next == "" {
			return nil
		}
		if seen[p.Next] {
			return &ListingError{Msg: fmt.Sprintf("the next link of page %d names a page already read (%s)", page, linkPage(p.Next))}
		}
		seen[p.Next] = true
		if n, ok := pageNumber(p.Next); ok {
			if n <= page {
				return &ListingError{Msg: fmt.Sprintf("the next link of page %d goes back to page %d", page, n)}
			}
			page = n
		} else {
			page++
		}
		if pages+1 >= limit {
			return &ListingError{Msg: fmt.Sprintf("its next links go on past %d pages, though its first page counted %d documents", pages+1, p.Count)}
		}
		next = p.Next
	}
}

// pageNumber reads the page number of a next link, when it has one.
func pageNumber(link string) (int, bool) {
	u, err := url.Parse(link)
	if err != nil {
		return 0, false
	}
	n, err := strconv.Atoi(u.Query().Get("page"))
	return n, err == nil
}

func linkPage(link string) string {
	if n, ok := pageNumber(link); ok {
		return "page " + strconv.Itoa(n)
	}
	return "the same link"
}

// ErrFound may be returned by the fn of ListFiles or EachPage to stop a
// listing early; they then return nil.
var ErrFound = errors.New("found")

// ListFiles calls fn with the files of each page matching q (see
// EachPage).
func ListFiles(ctx context.Context, l PageLister, q ListQuery, fn func([]File) error) error {
	err := EachPage(ctx, l, q, func(p *FilePage) error { return fn(p.Results) })
	if errors.Is(err, ErrFound) {
		return nil
	}
	return err
}

// ListFiles calls fn with the files of each page matching q (see EachPage).
func (c *Client) ListFiles(ctx context.Context, q ListQuery, fn func([]File) error) error {
	return ListFiles(ctx, c, q, fn)
}

// Lookup returns the workspace's documents whose
// external_metadata.external_id is id (exactly; the service's filter is
// checked, not trusted): one, normally; none; or more than one when someone
// else gave a document that identity.
func Lookup(ctx context.Context, l PageLister, workspaceID int64, id string) ([]File, error) {
	var found []File
	seen := map[int64]bool{}
	err := ListFiles(ctx, l, ListQuery{WorkspaceID: workspaceID, ExternalID: id, PageSize: 10}, func(files []File) error {
		for _, f := range files {
			if em := f.ExternalMetadata; em != nil && em.ExternalID == id && !seen[f.ID] && InWorkspace(&f, workspaceID) {
				seen[f.ID] = true
				found = append(found, f)
			}
		}
		return nil
	})
	return found, err
}

// Lookup returns the workspace's documents with this external id (see the
// function Lookup).
func (c *Client) Lookup(ctx context.Context, workspaceID int64, id string) ([]File, error) {
	return Lookup(ctx, c, workspaceID, id)
}

// InWorkspace reports whether the file object says it lives in workspace
// ws. A file object without its workspace is not proof of anything.
func InWorkspace(f *File, ws int64) bool {
	return f.Workspace != nil && f.Workspace.ID == ws
}

// followNext resolves a "next" link. The service may name itself by an
// internal host behind a proxy, so only the path and query are kept and sent
// to the configured base URL, which also keeps the key from going elsewhere.
func (c *Client) followNext(next *string) (string, error) {
	if next == nil || *next == "" {
		return "", nil
	}
	u, err := url.Parse(*next)
	if err != nil {
		return "", fmt.Errorf("list files: unreadable next link %q", *next)
	}
	out := *c.base
	out.Path = u.Path
	if !strings.HasPrefix(u.Path, c.base.Path+"/") {
		out.Path = c.base.Path + u.Path
	}
	out.RawPath = ""
	out.RawQuery = u.RawQuery
	return out.String(), nil
}
