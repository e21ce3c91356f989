package devserver

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fixture holds five documents with distinct traits, seen at a time when
// d5 is parsing, d4 has failed and the others are embedded:
//
//	d1 alpha.pdf   ws 42  ext e1 (contract)  tag 1  10 B     t0
//	d2 beta.docx   ws 42  ext e2 (Invoice)   tag 2  10 kB    t0+1m   title "Beta Report"
//	d3 gamma.txt   ws 1                             100 B    t0+2m
//	d4 broken.pdf  ws 42                            5 kB     t0+1h   (fails; a new session)
//	d5 delta.md    ws 42                            20 B     t0+1h1m
type fixture struct {
	c                  *client
	s                  *Server
	clk                *clock
	d1, d2, d3, d4, d5 int
	lateSession        string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	c, s, clk := setup(t, Config{Pace: time.Minute, SessionIdle: 30 * time.Minute, FailPattern: "broken*"})
	f := &fixture{c: c, s: s, clk: clk}
	f.d1 = c.upload(doc{ws: 42, name: "alpha.pdf", content: strings.Repeat("a", 10), extID: "e1", docType: "contract", tags: []int{1}})
	clk.add(time.Minute)
	f.d2 = c.upload(doc{ws: 42, name: "beta.docx", content: strings.Repeat("b", 10000), extID: "e2", docType: "Invoice", title: "Beta Report", tags: []int{2}})
	clk.add(time.Minute)
	f.d3 = c.upload(doc{ws: 1, name: "gamma.txt", content: strings.Repeat("c", 100)})
	clk.add(58 * time.Minute)
	f.d4 = c.upload(doc{ws: 42, name: "broken.pdf", content: strings.Repeat("d", 5000)})
	clk.add(time.Minute)
	f.d5 = c.upload(doc{ws: 42, name: "delta.md", content: strings.Repeat("e", 20)})
	clk.add(90 * time.Second)
	a := c.get(fmt.Sprintf("/api/v3/files/%d", f.d5))
	require.Equal(t, "parsing", a.body["status"])
	f.lateSession = a.body["upload_session_uuid"].(string)
	require.Equal(t, "parsing_failed", c.get(fmt.Sprintf("/api/v3/files/%d", f.d4)).body["status"])
	require.Equal(t, "embedded", c.get(fmt.Sprintf("/api/v3/files/%d", f.d1)).body["status"])
	return f
}

func (f *fixture) all() []int { return []int{f.d5, f.d4, f.d3, f.d2, f.d1} }

// Every documented filter of GET /api/v3/files changes the result the way
// it documents. Each case lists what the filter keeps, newest first.
func TestEveryFileFilterChangesTheResult(t *testing.T) {
	f := newFixture(t)
	all := f.c.ids("")
	require.Equal(t, f.all(), all, "unfiltered, newest first")
	at := func(d time.Duration) string { return t0.Add(d).Format(time.RFC3339) }
	cases := []struct {
		query string
		want  []int
	}{
		{"workspace_id=1", []int{f.d3}},
		{"workspace_id=42", []int{f.d5, f.d4, f.d2, f.d1}},
		{"workspace_id=1,42", all},
		{"workspace_id=7", []int{}},
		{"status=parsing", []int{f.d5}},
		{"status=parsing_failed,parsing", []int{f.d5, f.d4}},
		{"status=embedded", []int{f.d3, f.d2, f.d1}},
		{"status_vision=pending", []int{}},
		{"status_vision=-", all},
		{"extension=pdf", []int{f.d4, f.d1}},
		{"extension=PDF,md", []int{f.d5, f.d4, f.d1}},
		{"tag_id=1", []int{f.d1}},
		{"tag_id=1,2", []int{f.d2, f.d1}},
		{"owner_id=2", []int{}},
		{"owner_id=1,2", all},
		{"title=beta", []int{f.d2}},
		{"title=ALPH", []int{f.d1}},
		{"filename=GAMMA", []int{f.d3}},
		{"filename=.pdf", []int{f.d4, f.d1}},
		{"external_metadata__external_id=e2", []int{f.d2}},
		{"external_metadata__external_id=e", []int{}}, // exact, not partial
		{"external_metadata__doc_type=VOIC", []int{f.d2}},
		{"external_metadata__doc_type=c", []int{f.d2, f.d1}},
		{"upload_session_uuid=" + f.lateSession, []int{f.d5, f.d4}},
		{"upload_session_uuid=" + strings.ToUpper(strings.ReplaceAll(f.lateSession, "-", "")), []int{f.d5, f.d4}},
		{"created_at_after=" + at(30*time.Second), []int{f.d5, f.d4, f.d3, f.d2}},
		{"created_at_before=" + at(time.Minute), []int{f.d2, f.d1}}, // inclusive
		{"created_at_after=2026-03-01&created_at_before=2026-03-01T10:01:00", []int{f.d2, f.d1}},
		{"created_at_before=2026-03-01", []int{}}, // a date alone is its 00:00:00
		{"updated_at_after=" + at(time.Hour), []int{f.d5, f.d4}},
		{"updated_at_before=" + at(10*time.Minute), []int{f.d3, f.d2, f.d1}},
		{"total_pages_min=2", []int{f.d2}},
		{"total_pages_max=0", []int{f.d5, f.d4}},
		{"total_pages_min=1&total_pages_max=1", []int{f.d3, f.d1}},
		{"content_type=legal", []int{}}, // nothing is classified here
		{"attribute=jurisdiction", []int{}},
		{"max_documents=2", []int{f.d5, f.d4}},
		{"ordering=created_at", []int{f.d1, f.d2, f.d3, f.d4, f.d5}},
		{"ordering=-created_at", all},
		{"ordering=filename", []int{f.d1, f.d2, f.d4, f.d5, f.d3}},
		{"ordering=-filename", []int{f.d3, f.d5, f.d4, f.d2, f.d1}},
		{"ordering=title", []int{f.d2, f.d1, f.d4, f.d5, f.d3}}, // "Beta Report" < "alpha" (byte order)
		{"ordering=-size", []int{f.d2, f.d4, f.d3, f.d5, f.d1}},
		{"ordering=size", []int{f.d1, f.d5, f.d3, f.d4, f.d2}},
		{"ordering=-total_pages", []int{f.d2, f.d3, f.d1, f.d5, f.d4}}, // ties (d3, d1; d5, d4) in this fixture's draw
		{"ordering=total_pages,-size", []int{f.d4, f.d5, f.d3, f.d1, f.d2}},
		{"page_size=2", []int{f.d5, f.d4}},
		{"page_size=2&page=3", []int{f.d1}},
		{"max_documents=3&page_size=2&page=2", []int{f.d3}},
		{"title=", all},           // an empty value applies no filter
		{"no_such_filter=1", all}, // ignored, as the service ignores it
		{"search_details=true", all},
	}
	for _, tc := range cases {
		assert.Equal(t, tc.want, f.c.ids(tc.query), tc.query)
	}
}

func TestListCountNextAndMaxDocuments(t *testing.T) {
	f := newFixture(t)
	a := f.c.get("/api/v3/files?max_documents=3&page_size=2")
	assert.Equal(t, 3, num(a.body["count"]), "max_documents caps the whole result")
	assert.Contains(t, a.body["next"], "page=2")
	a = f.c.get("/api/v3/files?max_documents=3&page_size=2&page=2")
	assert.Nil(t, a.body["next"])
	assert.Contains(t, a.body["previous"], "page=1")
	assert.Contains(t, a.body["previous"], "max_documents=3", "links keep the filters")
	a = f.c.get("/api/v3/files?page=3&page_size=2&workspace_id=42")
	assert.Equal(t, http.StatusNotFound, a.code, "past the last page")
	assertErrorShape(t, a.body, "invalid_page")
}

// Filters the stand-in cannot honour, and values that are not valid, are
// refused with 400 in the documented error shape; other parameters are
// ignored and named in a header.
func TestListRefusals(t *testing.T) {
	f := newFixture(t)
	for _, q := range []string{
		"search=contracts", "group_id=1", "status=done", "status_vision=x", "workspace_id=a",
		"tag_id=1,x", "owner_id=me", "created_at_after=yesterday", "updated_at_before=2026-13-01",
		"total_pages_min=many", "max_documents=0", "max_documents=501", "ordering=updated_at",
		"ordering=-name", "include_details=maybe", "exclude=title", "upload_session_uuid=123",
		"page_size=0", "page_size=x", "search_details=x", "search_details_chunks_limit=11",
	} {
		a := f.c.get("/api/v3/files?" + q)
		assert.Equal(t, http.StatusBadRequest, a.code, q)
		if assert.NotNil(t, a.body, q) {
			assert.Contains(t, []any{"invalid_filter", "unsupported_filter"}, a.body["error"], q)
			assertErrorShape(t, a.body, a.body["error"].(string))
		}
	}
	a := f.c.get("/api/v3/files?page=0")
	assert.Equal(t, http.StatusNotFound, a.code)
	a = f.c.get("/api/v3/files?workspaces=1&b=2")
	assert.Equal(t, http.StatusOK, a.code)
	assert.Equal(t, "b,workspaces", a.header.Get("X-Devserver-Ignored-Query"))
	assert.Empty(t, f.c.get("/api/v3/files?workspace_id=42").header.Get("X-Devserver-Ignored-Query"))
}

func TestListDetailsAndExclude(t *testing.T) {
	f := newFixture(t)
	item := f.c.get("/api/v3/files?page_size=1").body["results"].([]any)[0].(map[string]any)
	assertListItem(t, item)
	for _, k := range []string{"signature", "summaries"} {
		assert.NotContains(t, item, k, "a list item carries %s only with include_details", k)
	}
	item = f.c.get("/api/v3/files?page_size=1&include_details=true").body["results"].([]any)[0].(map[string]any)
	assert.Contains(t, item, "signature")
	assert.Contains(t, item, "summaries")
	item = f.c.get("/api/v3/files?page_size=1&exclude=tags,workspace,created_by,external_metadata,content_types,summaries").body["results"].([]any)[0].(map[string]any)
	for _, k := range []string{"tags", "workspace", "created_by", "external_metadata", "content_types"} {
		assert.NotContains(t, item, k)
	}
	assert.Contains(t, item, "filename")
}

// The pages served from the indexes (workspace or upload session, and
// ordering) are those the general filter path computes: the same query with
// a filter that keeps everything (owner_id=1) must list the same documents,
// deletions and replacements included. A lookup by external id finds the
// one live document that has it.
func TestIndexedPagesAgreeWithTheGeneralPath(t *testing.T) {
	c, _, clk := setup(t, Config{Pace: time.Second, MaxTagID: 10, SessionIdle: 5 * time.Second})
	rng := rand.New(rand.NewPCG(1, 2))
	var live []int
	extOf, sessionOf := map[int]string{}, map[int]string{}
	n := 0
	upload := func() {
		n++
		ws := []int{1, 42}[rng.IntN(2)]
		id := c.upload(doc{ws: ws, name: fmt.Sprintf("f%02d-%c.txt", rng.IntN(30), 'a'+rune(rng.IntN(26))),
			content: strings.Repeat("x", rng.IntN(9000)), title: fmt.Sprintf("T%03d", rng.IntN(50)), extID: fmt.Sprintf("x%d", n)})
		live = append(live, id)
		extOf[id] = fmt.Sprintf("x%d", n)
		sessionOf[id] = c.get(filePath(id)).body["upload_session_uuid"].(string)
	}
	remove := func(k int) {
		require.Equal(t, http.StatusNoContent, c.do(http.MethodDelete, filePath(live[k]), nil, "").code)
		live = slices.Delete(live, k, k+1)
	}
	replace := func() {
		a := c.multipart(http.MethodPatch, filePath(live[rng.IntN(len(live))]), nil,
			&part{fmt.Sprintf("r%02d.pdf", rng.IntN(99)), []byte(strings.Repeat("y", rng.IntN(9000)))}, true)
		require.Equal(t, http.StatusOK, a.code, "%s", a.raw)
	}
	for i := 0; i < 60; i++ {
		upload()
		clk.add(time.Duration(rng.IntN(4000)) * time.Millisecond)
		if rng.IntN(5) == 0 {
			remove(rng.IntN(len(live)))
		}
		if rng.IntN(6) == 0 {
			replace()
		}
	}
	// The two sessions with the most live documents (the first seen among
	// equals): the changes below delete from them. Their uuids are random,
	// their documents are not.
	var sessions []string
	count := map[string]int{}
	for _, id := range live {
		if count[sessionOf[id]] == 0 {
			sessions = append(sessions, sessionOf[id])
		}
		count[sessionOf[id]]++
	}
	require.Greater(t, len(sessions), 3)
	slices.SortStableFunc(sessions, func(a, b string) int { return count[b] - count[a] })
	chosen := sessions[:2]
	require.GreaterOrEqual(t, count[chosen[1]], 3)
	scopes := []string{"", "workspace_id=42&", "workspace_id=1&", "workspace_id=1,42&"}
	for _, s := range chosen {
		scopes = append(scopes, "upload_session_uuid="+s+"&", "workspace_id=42&upload_session_uuid="+s+"&")
	}
	compare := func(round int) {
		for _, scope := range scopes {
			for _, order := range []string{"", "ordering=created_at&", "ordering=-created_at&", "ordering=filename&", "ordering=-filename&",
				"ordering=title&", "ordering=-title&", "ordering=size&", "ordering=-size&", "ordering=total_pages&", "ordering=-total_pages&"} {
				for _, page := range []string{"page_size=7&page=2", "max_documents=9&page_size=4&page=2"} {
					q := scope + order + page
					assert.Equal(t, listing(c, q+"&owner_id=1"), listing(c, q), "round %d: %s", round, q)
				}
			}
		}
	}
	for round := 0; round < 4; round++ {
		// Changes that reorder lists: the caches must see them.
		for k, id := range live {
			if sessionOf[id] == chosen[round%2] {
				remove(k)
				break
			}
		}
		a := c.urlencoded(http.MethodPatch, filePath(live[rng.IntN(len(live))]), [][2]string{{"title", fmt.Sprintf("A%02d", round)}})
		require.Equal(t, http.StatusOK, a.code)
		replace()
		upload()
		compare(round)
		// Time alone changes them too: queued files go live, page counts appear.
		clk.add(700 * time.Millisecond)
		compare(round)
	}
	for _, id := range live {
		assert.Equal(t, []int{id}, c.ids("external_metadata__external_id="+extOf[id]))
		assert.Equal(t, []int{id}, c.ids("ordering=title&workspace_id=1,42&external_metadata__external_id="+extOf[id]))
	}
	assert.Empty(t, c.ids("external_metadata__external_id=x-none"))
}

// listing returns the status, count and ids of a list answer.
func listing(c *client, query string) string {
	a := c.get("/api/v3/files?" + query)
	if a.code != http.StatusOK {
		return fmt.Sprint(a.code)
	}
	ids := []int{}
	for _, r := range a.body["results"].([]any) {
		ids = append(ids, num(r.(map[string]any)["id"]))
	}
	return fmt.Sprintf("%d %d %v", a.code, num(a.body["count"]), ids)
}

// index.window against a plain slice, through random pushes and drops.
func TestIndexWindowMatchesAPlainList(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	x := &index{}
	var docs []*document
	for step := 0; step < 3000; step++ {
		if rng.IntN(3) > 0 || len(docs) == 0 {
			d := &document{id: int64(len(docs) + 1)}
			x.push(d)
			docs = append(docs, d)
		} else if d := docs[rng.IntN(len(docs))]; !d.deleted {
			d.deleted = true
			x.drop(int(d.id - 1))
		}
		if step%50 != 0 {
			continue
		}
		var live []*document
		for _, d := range docs {
			if !d.deleted {
				live = append(live, d)
			}
		}
		require.Equal(t, len(live), x.live)
		for _, from := range []int{0, 1, rng.IntN(len(live) + 1), len(live) - 1} {
			n := rng.IntN(20) + 1
			if from < 0 {
				continue
			}
			asc := live[min(from, len(live)):min(from+n, len(live))]
			assert.Equal(t, idsOf(asc), idsOf(x.window(from, n, false)), "asc from %d", from)
			rev := slices.Clone(live)
			slices.Reverse(rev)
			assert.Equal(t, idsOf(rev[min(from, len(rev)):min(from+n, len(rev))]), idsOf(x.window(from, n, true)), "desc from %d", from)
		}
	}
}

func idsOf(docs []*document) []int64 {
	out := []int64{}
	for _, d := range docs {
		out = append(out, d.id)
	}
	return out
}
