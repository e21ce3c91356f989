package devserver

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// walk follows the next links of a list from its first page and returns
// the ids of every item, in the order listed, repeats included.
func (c *client) walk(query string) []int {
	c.t.Helper()
	var out []int
	target := "/api/v3/files?" + query
	for pages := 0; target != ""; pages++ {
		require.Less(c.t, pages, 100, "the list does not end")
		a := c.get(target)
		require.Equal(c.t, http.StatusOK, a.code, "%s: %s", target, a.raw)
		for _, r := range a.body["results"].([]any) {
			out = append(out, num(r.(map[string]any)["id"]))
		}
		target = ""
		if next, ok := a.body["next"].(string); ok {
			u, err := url.Parse(next)
			require.NoError(c.t, err)
			target = u.RequestURI()
		}
	}
	return out
}

// shifts compares a walk with the documents it should have listed once
// each: how many were listed more than once, and how many never.
func shifts(walked, want []int) (repeated, missed int) {
	seen := map[int]int{}
	for _, id := range walked {
		seen[id]++
	}
	for _, id := range want {
		switch {
		case seen[id] == 0:
			missed++
		case seen[id] > 1:
			repeated++
		}
	}
	return repeated, missed
}

// --list-churn: another uploader adds and deletes documents while a list is
// walked, so page-number pagination shifts: under every ordering some of
// the documents that exist throughout are listed twice or not at all —
// both, where new documents can land before the list's position; only
// missed under created_at, where they land after it. The first page alone
// is untouched.
func TestListChurnShiftsThePages(t *testing.T) {
	cases := []struct {
		ordering       string
		repeat, missed bool // must happen
	}{
		{"created_at", false, true},
		{"-created_at", true, true},
		{"filename", true, true},
		{"-filename", true, true},
		{"title", true, true},
		{"size", true, true},
		{"-size", true, true},
	}
	for _, tc := range cases {
		t.Run(tc.ordering, func(t *testing.T) {
			c, s, clk := setup(t, Config{ListChurn: 3})
			require.Equal(t, int64(3*2), s.Stats().ChurnCreated, "its first documents, in both workspaces")
			var ours []int
			for i := 0; i < 40; i++ {
				clk.add(time.Second)
				// Names spread as the other uploader's (hex) are.
				ours = append(ours, c.upload(doc{ws: 42, name: fmt.Sprintf("%c%02d.txt", "0123456789abcdef"[i*7%16], i),
					content: strings.Repeat("x", 1+i*97%3000), extID: fmt.Sprintf("e%d", i)}))
			}
			clk.add(time.Second)
			first := c.get("/api/v3/files?workspace_id=42&page_size=100&ordering=" + tc.ordering)
			require.Equal(t, 43, num(first.body["count"]), "one page: nothing moved")
			assert.Equal(t, int64(6), s.Stats().ChurnCreated)

			walked := c.walk("workspace_id=42&page_size=5&ordering=" + url.QueryEscape(tc.ordering))
			repeated, missed := shifts(walked, ours)
			t.Logf("%s: %d listed, %d of ours twice, %d of ours never", tc.ordering, len(walked), repeated, missed)
			if tc.repeat {
				assert.Positive(t, repeated, "a document listed twice")
			}
			if tc.missed {
				assert.Positive(t, missed, "a document never listed")
			}
			st := s.Stats()
			assert.Positive(t, st.ChurnCreated-6, "it uploaded while the list was read")
			assert.Positive(t, st.ChurnDeleted, "and deleted")
			assert.Zero(t, st.Uploads-40, "its documents are not counted as uploads")
			assert.Zero(t, st.Deletes, "nor its deletions as deletions")
			assert.Equal(t, int64(40), s.Stats().Documents-int64(len(s.churned[42])+len(s.churned[1])))
		})
	}
}

// The other uploader's documents: half without external metadata, half
// with an external id of its own; in the listed workspace only (every
// workspace when the list names none); in an upload session of their own.
func TestListChurnDocuments(t *testing.T) {
	c, s, _ := setup(t, Config{ListChurn: 2, MaxPageSize: 1})
	own := c.upload(doc{ws: 42, name: "mine.txt", extID: "mine"})
	session := c.get(filePath(own)).body["upload_session_uuid"]
	require.Equal(t, http.StatusOK, c.get("/api/v3/files?workspace_id=42&page=2").code)
	st := s.Stats()
	assert.Equal(t, int64(2*2+2), st.ChurnCreated, "two more, in workspace 42 only")
	withMeta, inWS := 0, map[int]int{}
	for _, d := range c.documents() {
		inWS[d.WorkspaceID]++
		if d.ID == own {
			continue
		}
		assert.NotEqual(t, session, d.Session, "not in the client's upload session")
		if d.ExternalMetadata != nil {
			withMeta++
			assert.True(t, strings.HasPrefix(d.ExternalMetadata.ExternalID, "devserver-churn-"), "%v", d.ExternalMetadata)
			assert.Equal(t, "another-integration", d.ExternalMetadata.AdditionalMetadata["uploaded_by"])
		}
	}
	assert.Equal(t, 3, withMeta, "half of the six")
	assert.Equal(t, map[int]int{1: 2, 42: 5}, inWS, "workspace 1 untouched")
	// A page 2 of a list of every workspace: its oldest two deleted in each.
	require.Equal(t, http.StatusOK, c.get("/api/v3/files?page=2").code)
	assert.Equal(t, int64(2*2), s.Stats().ChurnDeleted)
	inWS = map[int]int{}
	for _, d := range c.documents() {
		inWS[d.WorkspaceID]++
	}
	assert.Equal(t, map[int]int{42: 3}, inWS)
}

// all lists every document of a query on one page.
func (c *client) all(query string) []map[string]any {
	c.t.Helper()
	a := c.get("/api/v3/files?page_size=1000&" + query)
	require.Equal(c.t, http.StatusOK, a.code, "%s", a.raw)
	var out []map[string]any
	for _, r := range a.body["results"].([]any) {
		out = append(out, r.(map[string]any))
	}
	return out
}

// --max-page-size lowers a larger page_size silently.
func TestMaxPageSize(t *testing.T) {
	c, _, _ := setup(t, Config{MaxPageSize: 3})
	for i := 0; i < 7; i++ {
		c.upload(doc{ws: 42, name: fmt.Sprintf("f%d.txt", i)})
	}
	a := c.get("/api/v3/files?workspace_id=42&page_size=1000")
	assert.Len(t, a.body["results"], 3)
	assert.Equal(t, 7, num(a.body["count"]))
	assert.Contains(t, a.body["next"], "page=2")
	assert.Len(t, c.walk("workspace_id=42&page_size=1000"), 7)
	assert.Len(t, c.ids("workspace_id=42"), 3, "the default page too")
}

// --ignore-workspace-filter: the list holds every workspace's documents,
// each saying which workspace it is in.
func TestIgnoreWorkspaceFilter(t *testing.T) {
	for _, ignore := range []bool{false, true} {
		c, _, _ := setup(t, Config{IgnoreWorkspaceFilter: ignore})
		mine := c.upload(doc{ws: 42, name: "mine.txt"})
		other := c.upload(doc{ws: 1, name: "other.txt"})
		got := c.ids("workspace_id=42")
		if !ignore {
			assert.Equal(t, []int{mine}, got)
			continue
		}
		assert.Equal(t, []int{other, mine}, got)
		for _, d := range c.all("workspace_id=42") {
			ws := num(d["workspace"].(map[string]any)["id"])
			assert.Equal(t, map[int]int{mine: 42, other: 1}[num(d["id"])], ws, "an item says its own workspace")
		}
	}
}

// --next-loop: the next link of pages after the first goes back to page 1
// or to the page itself, even on the last page; with a count, that many
// times, then the links are true again.
func TestNextLoop(t *testing.T) {
	next := func(c *client, page int) string {
		a := c.get(fmt.Sprintf("/api/v3/files?workspace_id=42&page_size=2&page=%d", page))
		require.Equal(t, http.StatusOK, a.code)
		s, _ := a.body["next"].(string)
		return s
	}
	pageOf := func(link string) string {
		u, err := url.Parse(link)
		require.NoError(t, err)
		return u.Query().Get("page")
	}
	fill := func(c *client) {
		for i := 0; i < 5; i++ {
			c.upload(doc{ws: 42, name: fmt.Sprintf("f%d.txt", i)})
		}
	}

	c, s, _ := setup(t, Config{NextLoop: NextLoop{Mode: "back"}})
	fill(c)
	assert.Equal(t, "2", pageOf(next(c, 1)), "page 1 is true")
	assert.Equal(t, "1", pageOf(next(c, 2)))
	assert.Equal(t, "1", pageOf(next(c, 3)), "the last page too")
	assert.Equal(t, int64(2), s.Stats().LoopedNext)

	c, _, _ = setup(t, Config{NextLoop: NextLoop{Mode: "self"}})
	fill(c)
	assert.Equal(t, "2", pageOf(next(c, 2)))
	assert.Equal(t, "3", pageOf(next(c, 3)))

	c, s, _ = setup(t, Config{NextLoop: NextLoop{Mode: "back", Times: 1}})
	fill(c)
	assert.Equal(t, "1", pageOf(next(c, 2)))
	assert.Equal(t, "3", pageOf(next(c, 2)), "once only")
	assert.Empty(t, next(c, 3), "the last page has none again")
	assert.Equal(t, int64(1), s.Stats().LoopedNext)

	for _, bad := range []string{"forward", "back:0", "self:x", "back:-1"} {
		_, err := ParseNextLoop(bad)
		assert.Error(t, err, bad)
	}
	l, err := ParseNextLoop("self:3")
	require.NoError(t, err)
	assert.Equal(t, NextLoop{"self", 3}, l)
}

// --drop-external-metadata: an upload's external_metadata is neither kept
// nor answered, so a second upload with the same external id is a second
// document.
func TestDropExternalMetadata(t *testing.T) {
	srv, s := start(t, Config{DropExternalMetadata: true})
	f := upl{fields: [][2]string{{"workspace_id", "42"}, {"external_metadata", `{"external_id":"same"}`}}, filename: "a.txt", content: []byte("x")}
	code, first, _ := post(t, srv.URL, key, f)
	require.Equal(t, http.StatusCreated, code)
	assert.Nil(t, first["external_metadata"], "answered without it")
	assert.Contains(t, first, "external_metadata")
	code, second, _ := post(t, srv.URL, key, f)
	require.Equal(t, http.StatusCreated, code, "not recognised: a new document")
	assert.NotEqual(t, first["id"], second["id"])
	assert.Equal(t, int64(2), s.Stats().Documents)
	_, list := get(t, srv.URL+"/api/v3/files?external_metadata__external_id=same")
	assert.Zero(t, num(list["count"]))
}

// --old-patch-schema: a PATCH that sends a file is refused with 400 in the
// service's error shape, naming the field; nothing changes. Metadata
// PATCHes still work. Without the mode, the file replaces the content.
func TestOldPatchSchemaRefusesAFile(t *testing.T) {
	c, s, _ := setup(t, Config{OldPatchSchema: true})
	id := c.upload(doc{ws: 42, name: "a.txt", content: "v1", extID: "a"})
	a := c.multipart(http.MethodPatch, filePath(id), [][2]string{{"title", "new"}}, &part{"a.txt", []byte("v2")}, false)
	assert.Equal(t, http.StatusBadRequest, a.code, "%s", a.raw)
	assertErrorShape(t, a.body, "immutable_field")
	assert.Contains(t, a.body["detail"], "file")
	got := c.get(filePath(id)).body
	assert.Equal(t, "a", got["title"], "applied in full or not at all")
	assert.Equal(t, int64(0), s.Stats().Replaces)

	a = c.multipart(http.MethodPatch, filePath(id), [][2]string{{"title", "new"}, {"external_metadata", `{"doc_type":"x"}`}}, nil, false)
	assert.Equal(t, http.StatusOK, a.code, "%s", a.raw)
	assert.Equal(t, "new", a.body["title"])

	c, _, _ = setup(t, Config{})
	id = c.upload(doc{ws: 42, name: "a.txt", content: "v1", extID: "a"})
	a = c.multipart(http.MethodPatch, filePath(id), nil, &part{"a.txt", []byte("v2")}, false)
	assert.Equal(t, http.StatusOK, a.code, "%s", a.raw)
}

// seeded is a document as GET /_devserver/documents lists it.
type seeded struct {
	ID               int     `json:"id"`
	WorkspaceID      int     `json:"workspace_id"`
	Filename         string  `json:"filename"`
	Title            string  `json:"title"`
	ExternalID       *string `json:"external_id"`
	ExternalMetadata *struct {
		ExternalID         string         `json:"external_id"`
		AdditionalMetadata map[string]any `json:"additional_metadata"`
	} `json:"external_metadata"`
	SHA256    string `json:"sha256"`
	Size      int    `json:"size"`
	Tags      []int  `json:"tags"`
	CreatedAt string `json:"created_at"`
	UpdatedAt string `json:"updated_at"`
	Session   string `json:"upload_session_uuid"`
}

func (c *client) seed(body map[string]any) (int, seeded) {
	c.t.Helper()
	a := c.sendJSON(http.MethodPost, "/_devserver/documents", body)
	var d seeded
	if a.code == http.StatusCreated {
		d = decodeAs[seeded](c.t, a.raw)
	}
	return a.code, d
}

func (c *client) documents() []seeded {
	c.t.Helper()
	a := c.get("/_devserver/documents")
	require.Equal(c.t, http.StatusOK, a.code)
	return decodeAs[struct {
		Documents []seeded `json:"documents"`
	}](c.t, a.raw).Documents
}

// POST /_devserver/documents makes a document as another client would:
// without external metadata (title from the file name, stored file name
// made unique), in another workspace, or carrying an external id a document
// already has. GET /_devserver/documents shows each with its workspace,
// title, file name, tags and external metadata.
func TestSeedDocuments(t *testing.T) {
	c, s, _ := setup(t, Config{})
	mine := c.upload(doc{ws: 42, name: "report.txt", content: "mine", extID: "e1", meta: `{"path":"a/report.txt"}`})

	code, script := c.seed(map[string]any{"workspace_id": 42, "filename": "report.txt", "content": "by the script", "tags": []int{4}})
	require.Equal(t, http.StatusCreated, code)
	assert.Equal(t, "report", script.Title, "the title defaults to the name without extension")
	assert.Regexp(t, `^report_\d{8}_[0-9a-f]{4}\.txt$`, script.Filename, "the stored name made unique")
	assert.Nil(t, script.ExternalMetadata)
	assert.Equal(t, sha("by the script"), script.SHA256)

	code, other := c.seed(map[string]any{"workspace_id": 1, "filename": "x.pdf", "title": "Elsewhere", "content": "x"})
	require.Equal(t, http.StatusCreated, code)
	assert.Equal(t, 1, other.WorkspaceID)

	code, dup := c.seed(map[string]any{"workspace_id": 42, "filename": "copy.txt", "content": "someone else's",
		"external_metadata": map[string]any{"external_id": "e1", "additional_metadata": map[string]any{"path": "a/report.txt"}}})
	require.Equal(t, http.StatusCreated, code)
	require.NotNil(t, dup.ExternalID)
	assert.Equal(t, "e1", *dup.ExternalID)

	byID := map[int]seeded{}
	for _, d := range c.documents() {
		byID[d.ID] = d
	}
	require.Len(t, byID, 4)
	assert.Equal(t, []int{4}, byID[script.ID].Tags)
	assert.Equal(t, "a/report.txt", byID[dup.ID].ExternalMetadata.AdditionalMetadata["path"])
	assert.Equal(t, 42, byID[mine].WorkspaceID)
	assert.NotEmpty(t, byID[mine].CreatedAt)

	// Both documents with e1 are found by it; an upload with e1 gets the
	// oldest; deleting that one leaves the other found.
	assert.Equal(t, []int{dup.ID, mine}, c.ids("external_metadata__external_id=e1"))
	code, ans, _ := post(t, c.url, key, upl{fields: [][2]string{{"workspace_id", "42"}, {"external_metadata", `{"external_id":"e1"}`}}, filename: "report.txt", content: []byte("mine")})
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, mine, num(ans["id"]))
	require.Equal(t, http.StatusNoContent, c.do(http.MethodDelete, filePath(mine), nil, "").code)
	assert.Equal(t, []int{dup.ID}, c.ids("external_metadata__external_id=e1"))
	// A PATCH may not give a third document that id while one holds it;
	// a document that keeps it may be changed.
	a := c.urlencoded(http.MethodPatch, filePath(script.ID), [][2]string{{"external_metadata", `{"external_id":"e1"}`}})
	assert.Equal(t, http.StatusBadRequest, a.code)
	code, third := c.seed(map[string]any{"workspace_id": 42, "filename": "again.txt",
		"external_metadata": map[string]any{"external_id": "e1"}})
	require.Equal(t, http.StatusCreated, code)
	a = c.multipart(http.MethodPatch, filePath(dup.ID), [][2]string{{"external_metadata", `{"external_id":"e1","doc_type":"t"}`}},
		&part{"copy.txt", []byte("v2")}, false)
	assert.Equal(t, http.StatusOK, a.code, "%s", a.raw)
	assert.Equal(t, []int{third.ID, dup.ID}, c.ids("external_metadata__external_id=e1"))

	st := s.Stats()
	assert.Equal(t, int64(4), st.Seeded)
	assert.Equal(t, int64(1), st.Uploads, "seeded documents are not uploads")

	for _, bad := range []map[string]any{
		{"workspace_id": 7, "filename": "a.txt"},
		{"workspace_id": 42, "filename": ""},
		{"workspace_id": 42, "filename": "dir/a.txt"},
		{"workspace_id": 42, "filename": "a.exe"},
		{"workspace_id": 42, "filename": "a.txt", "external_metadata": map[string]any{"doc_type": "x"}},
		{"workspace_id": 42, "filename": "a.txt", "tags": []int{0}},
		{"workspace_id": 42, "filename": "a.txt", "size": 3},
	} {
		code, _ := c.seed(bad)
		assert.Equal(t, http.StatusBadRequest, code, "%v", bad)
	}
}

// POST /_devserver/restore puts every document back as at the snapshot,
// and the id counter with them: later uploads reuse the ids of documents
// made since (an instance restored from a backup).
func TestSnapshotAndRestoreReuseIDs(t *testing.T) {
	c, s, _ := setup(t, Config{ListChurn: 1})
	a := c.sendJSON(http.MethodPost, "/_devserver/restore", map[string]any{})
	assert.Equal(t, http.StatusConflict, a.code, "nothing to restore yet")

	kept := c.upload(doc{ws: 42, name: "kept.txt", content: "kept v1", extID: "k", tags: []int{1}})
	gone := c.upload(doc{ws: 42, name: "deleted-since.txt", extID: "d"})
	before := c.upload(doc{ws: 42, name: "deleted-before.txt", extID: "z"})
	require.Equal(t, http.StatusNoContent, c.do(http.MethodDelete, filePath(before), nil, "").code)
	a = c.sendJSON(http.MethodPost, "/_devserver/snapshot", nil)
	require.Equal(t, http.StatusOK, a.code)
	assert.Equal(t, 4, num(a.body["documents"]), "two and the churn's two")
	nextID := num(a.body["next_id"])

	since := c.upload(doc{ws: 42, name: "made-since.txt", extID: "m"})
	require.Equal(t, nextID, since)
	require.Equal(t, http.StatusOK, c.multipart(http.MethodPatch, filePath(kept), [][2]string{{"title", "changed"}, {"tags", "0"}},
		&part{"kept.txt", []byte("kept v2")}, false).code)
	require.Equal(t, http.StatusNoContent, c.do(http.MethodDelete, filePath(gone), nil, "").code)

	a = c.sendJSON(http.MethodPost, "/_devserver/restore", nil)
	require.Equal(t, http.StatusOK, a.code, "%s", a.raw)
	assert.Equal(t, nextID, num(a.body["next_id"]))
	assert.Equal(t, 4, num(a.body["documents"]))
	assert.Equal(t, int64(4), s.Stats().Documents)
	got := c.get(filePath(kept)).body
	assert.Equal(t, "kept", got["title"])
	assert.Len(t, got["tags"], 1)
	assert.Equal(t, http.StatusOK, c.get(filePath(gone)).code, "deleted since: back")
	assert.Equal(t, http.StatusNotFound, c.get(filePath(since)).code, "made since: gone")
	assert.Empty(t, c.ids("external_metadata__external_id=m"))
	assert.Equal(t, []int{gone}, c.ids("external_metadata__external_id=d"))
	assert.Empty(t, c.ids("external_metadata__external_id=z"), "deleted before the snapshot: still deleted")
	assert.Equal(t, http.StatusNotFound, c.get(filePath(before)).code)

	// Someone else's upload now takes the id the lost document had.
	other := c.upload(doc{ws: 42, name: "someone-else.txt", content: "theirs", extID: "x"})
	assert.Equal(t, since, other, "the id is reused")
	assert.Equal(t, "someone-else.txt", c.get(filePath(other)).body["filename"])
	for _, d := range c.documents() {
		if d.ID == kept {
			assert.Equal(t, sha("kept v1"), d.SHA256)
		}
	}
	// The restored state is whole: its names are taken, its external ids
	// known, its tags counted.
	code, again, _ := post(t, c.url, key, upl{fields: [][2]string{{"workspace_id", "42"}, {"external_metadata", `{"external_id":"k"}`}}, filename: "kept.txt", content: []byte("x")})
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, kept, num(again["id"]))
	code, z, _ := post(t, c.url, key, upl{fields: [][2]string{{"workspace_id", "42"}, {"external_metadata", `{"external_id":"z"}`}}, filename: "z.txt", content: []byte("z")})
	assert.Equal(t, http.StatusCreated, code, "the external id of a document deleted before the snapshot is free")
	assert.NotEqual(t, before, num(z["id"]))
	assert.Regexp(t, `^deleted-since_`, c.get(filePath(c.upload(doc{ws: 42, name: "deleted-since.txt"}))).body["filename"])
	assert.Equal(t, int64(1), s.Stats().Restores)
	tagged := 0
	s.locked(func() { tagged = s.tagDocs[1] })
	assert.Equal(t, 1, tagged, "the tag of the restored document is counted")
	assert.Len(t, s.churned[42], 1, "the churn's documents are its own again")
}

// created_at and updated_at as API-NOTES says: the created_at filters and
// ordering find documents by creation; a metadata PATCH and a content
// replacement move updated_at, which the updated_at filters then find.
func TestCreatedAndUpdatedAt(t *testing.T) {
	c, _, clk := setup(t, Config{Pace: time.Second})
	at := func(d time.Duration) string { return url.QueryEscape(t0.Add(d).Format(time.RFC3339Nano)) }
	d1 := c.upload(doc{ws: 42, name: "one.txt", extID: "1"})
	clk.add(time.Minute)
	d2 := c.upload(doc{ws: 42, name: "two.txt", extID: "2"})
	clk.add(time.Minute)
	d3 := c.upload(doc{ws: 42, name: "three.txt", extID: "3"})
	clk.add(time.Hour) // everything processed long ago

	assert.Equal(t, []int{d1, d2, d3}, c.walk("workspace_id=42&ordering=created_at&page_size=2"), "oldest first, across pages")
	assert.Equal(t, []int{d3, d2, d1}, c.walk("workspace_id=42&page_size=1"), "newest first by default")
	assert.Equal(t, []int{d3, d2}, c.ids("workspace_id=42&created_at_after="+at(time.Minute)), "inclusive")
	assert.Equal(t, []int{d1}, c.ids("workspace_id=42&created_at_before="+at(30*time.Second)))
	assert.Empty(t, c.ids("workspace_id=42&updated_at_after="+at(time.Hour)))

	before, other := c.get(filePath(d1)).body["updated_at"], c.get(filePath(d2)).body["updated_at"]
	require.Equal(t, http.StatusOK, c.urlencoded(http.MethodPatch, filePath(d1), [][2]string{{"external_metadata", `{"additional_metadata":{"k":"v"}}`}}).code)
	after := c.get(filePath(d1)).body["updated_at"]
	assert.NotEqual(t, before, after, "a metadata PATCH moves updated_at")
	assert.Equal(t, t0.Add(2*time.Minute+time.Hour).Format(time.RFC3339Nano), after)
	assert.Equal(t, []int{d1}, c.ids("workspace_id=42&updated_at_after="+at(time.Hour)))
	assert.Equal(t, other, c.get(filePath(d2)).body["updated_at"])

	clk.add(time.Minute)
	require.Equal(t, http.StatusOK, c.multipart(http.MethodPatch, filePath(d3), nil, &part{"three.txt", []byte("v2")}, false).code)
	assert.Equal(t, t0.Add(3*time.Minute+time.Hour).Format(time.RFC3339Nano), c.get(filePath(d3)).body["updated_at"],
		"a replacement moves updated_at")
	assert.Equal(t, []int{d3}, c.ids("workspace_id=42&updated_at_after="+at(time.Hour+150*time.Second)))
	assert.Equal(t, []int{d3, d1}, c.ids("workspace_id=42&updated_at_after="+at(time.Hour)))
	assert.Equal(t, []int{d2}, c.ids("workspace_id=42&updated_at_before="+at(time.Hour)))
	// Its processing moves it again, stage by stage.
	clk.add(2 * time.Second)
	assert.Equal(t, t0.Add(3*time.Minute+time.Hour+2*time.Second).Format(time.RFC3339Nano), c.get(filePath(d3)).body["updated_at"])

	docs := c.documents()
	i := slices.IndexFunc(docs, func(d seeded) bool { return d.ID == d3 })
	require.GreaterOrEqual(t, i, 0)
	assert.Equal(t, c.get(filePath(d3)).body["updated_at"], docs[i].UpdatedAt, "/_devserver/documents shows the API's times")
	assert.Equal(t, c.get(filePath(d3)).body["created_at"], docs[i].CreatedAt)
}

func decodeAs[T any](t *testing.T, raw []byte) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal(raw, &v), "%s", raw)
	return v
}

// Documents equal by the ordering's keys have no order of their own: the
// same while the workspace does not change, another once it has (a page
// walk across a change may list one of them twice and another never).
// created_at, all but unique, breaks its ties by id.
func TestTiesHaveNoOrderAcrossChanges(t *testing.T) {
	c, _, _ := setup(t, Config{})
	var same []int
	for i := 0; i < 30; i++ {
		same = append(same, c.upload(doc{ws: 42, name: fmt.Sprintf("f%02d.txt", i), title: "same", content: "equal size"}))
	}
	only := func(ids []int) []int { // the documents that tie, in the order listed
		return slices.DeleteFunc(ids, func(id int) bool { return !slices.Contains(same, id) })
	}
	for _, ordering := range []string{"title", "-title", "size", "total_pages"} {
		q := "workspace_id=42&page_size=100&ordering=" + ordering
		first := only(c.ids(q))
		assert.ElementsMatch(t, same, first)
		assert.Equal(t, first, only(c.ids(q)), "%s: the same while nothing changes", ordering)
		c.upload(doc{ws: 1, name: ordering + "-elsewhere.txt"})
		assert.Equal(t, first, only(c.ids(q)), "%s: a change in another workspace changes nothing here", ordering)
		c.upload(doc{ws: 42, name: ordering + ".txt", title: "~" + ordering, content: "a longer content than the others " + ordering})
		then := only(c.ids(q))
		assert.ElementsMatch(t, same, then)
		assert.NotEqual(t, first, then, "%s: the ties reordered", ordering)
	}
	ids := c.ids("workspace_id=42&page_size=100&ordering=created_at")
	assert.True(t, slices.IsSorted(ids), "created_at: ties by id")
}
