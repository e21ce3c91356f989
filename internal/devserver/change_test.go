package devserver

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func filePath(id int) string { return fmt.Sprintf("/api/v3/files/%d", id) }

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// A replaced file keeps the document's id, title and tags; until its
// processing starts (one Pace), the answer and every read show the previous
// file and status with pending_reprocess "update"; then the new file, whose
// status follows its own age.
func TestPatchFileReplacesInPlace(t *testing.T) {
	dir := t.TempDir()
	c, s, clk := setup(t, Config{Pace: time.Second, DataDir: dir})
	id := c.upload(doc{ws: 42, name: "report.pdf", content: "v1", extID: "r", title: "Quarterly", tags: []int{3}})
	clk.add(10 * time.Second)
	require.Equal(t, "embedded", c.get(filePath(id)).body["status"])

	a := c.multipart(http.MethodPatch, filePath(id), nil, &part{"report-v2.docx", []byte("version two")}, true)
	require.Equal(t, http.StatusOK, a.code, "%s", a.raw)
	assertFileObject(t, a.body)
	assert.Equal(t, "update", a.body["pending_reprocess"])
	assert.Equal(t, "embedded", a.body["status"], "the previous run's status")
	assert.Equal(t, "report.pdf", a.body["filename"], "the previous file, until processing starts")
	assert.Equal(t, 2, num(a.body["size"]))
	for _, b := range []map[string]any{a.body, c.get(filePath(id)).body} {
		assert.Equal(t, id, num(b["id"]))
		assert.Equal(t, "Quarterly", b["title"])
		assert.Len(t, b["tags"], 1)
		assert.Equal(t, "update", b["pending_reprocess"])
	}
	listed := c.get("/api/v3/files?workspace_id=42").body["results"].([]any)[0].(map[string]any)
	assert.Equal(t, "update", listed["pending_reprocess"])

	clk.add(time.Second) // processing of the new file starts
	b := c.get(filePath(id)).body
	assert.Nil(t, b["pending_reprocess"])
	assert.Equal(t, "report-v2.docx", b["filename"])
	assert.Equal(t, "docx", b["extension"])
	assert.Equal(t, "pending", b["status"])
	assert.Equal(t, len("version two"), num(b["size"]))
	clk.add(3 * time.Second)
	assert.Equal(t, "embedded", c.get(filePath(id)).body["status"])

	// Both versions are kept; the manifest says what happened.
	v1, err := os.ReadFile(filepath.Join(dir, "files", fmt.Sprint(id), "v1", "report.pdf"))
	require.NoError(t, err)
	assert.Equal(t, "v1", string(v1))
	v2, err := os.ReadFile(filepath.Join(dir, "files", fmt.Sprint(id), "v2", "report-v2.docx"))
	require.NoError(t, err)
	assert.Equal(t, "version two", string(v2))
	lines := manifest(t, dir)
	require.Len(t, lines, 2)
	assert.Equal(t, "create", lines[0]["op"])
	assert.Equal(t, "replace", lines[1]["op"])
	assert.Equal(t, sha("version two"), lines[1]["sha256"])
	assert.Equal(t, filepath.Join("files", fmt.Sprint(id), "v2", "report-v2.docx"), lines[1]["path"])
	assert.Equal(t, 2, num(lines[1]["version"]))

	docs := c.get("/_devserver/documents").body
	require.Equal(t, 1, num(docs["count"]))
	d := docs["documents"].([]any)[0].(map[string]any)
	assert.Equal(t, sha("version two"), d["sha256"])
	assert.Equal(t, 2, num(d["versions"]))
	st := s.Stats()
	assert.Equal(t, int64(1), st.Replaces)
	assert.Equal(t, int64(1), st.Patches)
	assert.Equal(t, int64(len("v1")+len("version two")), st.Bytes)
}

// A second file sent while the first replacement waits replaces the queued
// one and starts the wait again.
func TestPatchFileWhileOneIsQueued(t *testing.T) {
	c, _, clk := setup(t, Config{Pace: time.Second})
	id := c.upload(doc{ws: 42, name: "a.pdf", content: "1"})
	clk.add(5 * time.Second)
	require.Equal(t, http.StatusOK, c.multipart(http.MethodPatch, filePath(id), nil, &part{"b.pdf", []byte("22")}, true).code)
	clk.add(800 * time.Millisecond)
	require.Equal(t, http.StatusOK, c.multipart(http.MethodPatch, filePath(id), nil, &part{"c.pdf", []byte("333")}, true).code)
	clk.add(800 * time.Millisecond)
	b := c.get(filePath(id)).body
	assert.Equal(t, "update", b["pending_reprocess"], "the wait restarted")
	assert.Equal(t, "a.pdf", b["filename"])
	clk.add(300 * time.Millisecond)
	b = c.get(filePath(id)).body
	assert.Nil(t, b["pending_reprocess"])
	assert.Equal(t, "c.pdf", b["filename"])
	assert.Equal(t, 3, num(b["size"]))
}

func TestPatchMetadata(t *testing.T) {
	dir := t.TempDir()
	c, s, _ := setup(t, Config{DataDir: dir, MaxTagID: 50})
	id := c.upload(doc{ws: 42, name: "a.pdf", extID: "x-1", docType: "page", tags: []int{1, 2},
		meta: `{"url":"https://x/1","version":3,"nested":{"a":1,"b":2}}`})

	// Title, urlencoded.
	a := c.urlencoded(http.MethodPatch, filePath(id), [][2]string{{"title", "New title"}})
	require.Equal(t, http.StatusOK, a.code, "%s", a.raw)
	assert.Equal(t, "New title", a.body["title"])
	assert.Nil(t, a.body["pending_reprocess"])

	// Tags replace every tag; repeated fields, multipart.
	a = c.multipart(http.MethodPatch, filePath(id), [][2]string{{"tags", "7"}, {"tags", "9"}}, nil, false)
	require.Equal(t, http.StatusOK, a.code, "%s", a.raw)
	assert.Equal(t, []int{7, 9}, tagIDs(a.body))
	// A lone 0 clears them.
	a = c.urlencoded(http.MethodPatch, filePath(id), [][2]string{{"tags", "0"}})
	require.Equal(t, http.StatusOK, a.code, "%s", a.raw)
	assert.Empty(t, tagIDs(a.body))

	// external_metadata: given keys replace, additional_metadata merges key
	// by key, a null removes its key; external_id may be left out.
	a = c.urlencoded(http.MethodPatch, filePath(id), [][2]string{{"external_metadata",
		`{"doc_type":"incident","additional_metadata":{"version":4,"url":null,"nested":{"c":3},"new":true}}`}})
	require.Equal(t, http.StatusOK, a.code, "%s", a.raw)
	em := a.body["external_metadata"].(map[string]any)
	assert.Equal(t, "x-1", em["external_id"])
	assert.Equal(t, "incident", em["doc_type"])
	assert.Equal(t, map[string]any{"version": float64(4), "nested": map[string]any{"c": float64(3)}, "new": true},
		em["additional_metadata"], "merged one level deep")
	// A blank doc_type clears it.
	a = c.urlencoded(http.MethodPatch, filePath(id), [][2]string{{"external_metadata", `{"doc_type":""}`}})
	require.Equal(t, http.StatusOK, a.code)
	assert.Empty(t, a.body["external_metadata"].(map[string]any)["doc_type"])

	// Several at once, and what a GET then shows.
	a = c.urlencoded(http.MethodPatch, filePath(id), [][2]string{{"title", "T"}, {"tags", "4"}, {"external_metadata", `{"external_id":"x-2"}`}})
	require.Equal(t, http.StatusOK, a.code)
	g := c.get(filePath(id)).body
	assert.Equal(t, "T", g["title"])
	assert.Equal(t, []int{4}, tagIDs(g))
	assert.Equal(t, "x-2", g["external_metadata"].(map[string]any)["external_id"])
	assert.Equal(t, []int{id}, c.ids("external_metadata__external_id=x-2"))
	assert.Empty(t, c.ids("external_metadata__external_id=x-1"), "the old external id is free")

	lines := manifest(t, dir)
	assert.Equal(t, []any{"create", "update", "update", "update", "update", "update", "update"}, ops(lines))
	assert.Equal(t, int64(6), s.Stats().Patches)
	assert.Zero(t, s.Stats().Replaces)
}

// A PATCH is refused whole: nothing changes.
func TestPatchRefusals(t *testing.T) {
	c, _, _ := setup(t, Config{MaxTagID: 50, MaxSize: 10})
	id := c.upload(doc{ws: 42, name: "a.pdf", content: "x", extID: "e", tags: []int{1}})
	other := c.upload(doc{ws: 42, name: "b.pdf", content: "y", extID: "taken"})
	plain := c.upload(doc{ws: 42, name: "c.pdf", content: "z"})
	before := c.get(filePath(id)).body

	a := c.sendJSON(http.MethodPatch, filePath(id), map[string]any{"title": "x"})
	assert.Equal(t, http.StatusUnsupportedMediaType, a.code)
	assertErrorShape(t, a.body, "unsupported_media_type")

	a = c.urlencoded(http.MethodPatch, "/api/v3/files/999", [][2]string{{"title", "x"}})
	assert.Equal(t, http.StatusNotFound, a.code)
	assertErrorShape(t, a.body, "not_found")
	a = c.sendJSON(http.MethodPatch, "/api/v3/files/999", map[string]any{"title": "x"})
	assert.Equal(t, http.StatusNotFound, a.code, "an unknown id is a 404 whatever the body")

	for _, tc := range []struct {
		fields [][2]string
		code   int
		field  string
	}{
		{[][2]string{{"external_metadata", `{"doc_type":null}`}, {"title", "changed"}}, 422, "external_metadata"},
		{[][2]string{{"external_metadata", `{"external_id":null}`}}, 422, "external_metadata"},
		{[][2]string{{"external_metadata", `not json`}}, 422, "external_metadata"},
		{[][2]string{{"external_metadata", `{"additional_metadata":null}`}}, 422, "external_metadata"},
		{[][2]string{{"tags", "0"}, {"tags", "2"}, {"title", "changed"}}, 422, "tags"},
		{[][2]string{{"tags", "51"}, {"title", "changed"}}, 422, "tags"},
		{[][2]string{{"tags", "x"}}, 422, "tags"},
		{[][2]string{{"title", strings.Repeat("t", 256)}}, 422, "title"},
		{[][2]string{}, 422, "non_field_errors"},
		{[][2]string{{"filename", "z.pdf"}, {"title", "changed"}}, 400, ""},
		{[][2]string{{"workspace_id", "1"}}, 400, ""},
		{[][2]string{{"external_metadata", `{"external_id":"taken"}`}, {"title", "changed"}}, 400, ""},
	} {
		a := c.urlencoded(http.MethodPatch, filePath(id), tc.fields)
		assert.Equal(t, tc.code, a.code, "%v: %s", tc.fields, a.raw)
		if tc.field != "" {
			assertErrorShape(t, a.body, "validation_error")
			assert.Contains(t, a.body["fields"], tc.field, "%v", tc.fields)
		}
	}
	a = c.multipart(http.MethodPatch, filePath(id), [][2]string{{"title", "changed"}}, &part{"tool.exe", []byte("MZ")}, false)
	assert.Equal(t, http.StatusUnprocessableEntity, a.code)
	assert.Contains(t, a.body["fields"], "file")
	a = c.multipart(http.MethodPatch, filePath(id), [][2]string{{"title", "changed"}}, &part{"big.pdf", []byte(strings.Repeat("x", 11))}, false)
	assert.Equal(t, http.StatusRequestEntityTooLarge, a.code)
	assert.Equal(t, before, c.get(filePath(id)).body, "nothing changed")

	// A document without external metadata needs an external_id first.
	a = c.urlencoded(http.MethodPatch, filePath(plain), [][2]string{{"external_metadata", `{"doc_type":"x"}`}})
	assert.Equal(t, http.StatusUnprocessableEntity, a.code)
	a = c.urlencoded(http.MethodPatch, filePath(plain), [][2]string{{"external_metadata", `{"external_id":"new"}`}})
	assert.Equal(t, http.StatusOK, a.code)
	assert.Equal(t, map[string]any{"external_id": "new", "doc_type": "", "additional_metadata": map[string]any{}},
		a.body["external_metadata"])
	_ = other
}

// A deleted document leaves lists and GETs, and its external id and file
// name are free again: the same upload makes a new document.
func TestDeleteFreesTheExternalID(t *testing.T) {
	dir := t.TempDir()
	c, s, _ := setup(t, Config{DataDir: dir})
	id := c.upload(doc{ws: 42, name: "a.pdf", extID: "same"})
	keep := c.upload(doc{ws: 42, name: "b.pdf"})
	a := c.do(http.MethodDelete, filePath(id), nil, "")
	assert.Equal(t, http.StatusNoContent, a.code)
	assert.Empty(t, a.raw, "204 has no body")
	assert.Equal(t, http.StatusNotFound, c.get(filePath(id)).code)
	assert.Equal(t, http.StatusNotFound, c.do(http.MethodDelete, filePath(id), nil, "").code, "gone already")
	assert.Equal(t, []int{keep}, c.ids(""))
	assert.Equal(t, 1, num(c.get("/api/v3/files").body["count"]))

	again := c.multipart(http.MethodPost, "/api/v3/files", [][2]string{{"workspace_id", "42"}, {"external_metadata", `{"external_id":"same"}`}},
		&part{"a.pdf", []byte("x")}, false)
	require.Equal(t, http.StatusCreated, again.code, "a new document, not the deleted one")
	assert.NotEqual(t, float64(id), again.body["id"])
	assert.Equal(t, "a.pdf", again.body["filename"], "the name is free too")
	assert.Equal(t, int64(2), s.Stats().Documents)
	assert.Equal(t, int64(1), s.Stats().Deletes)
	assert.Equal(t, []any{"create", "create", "delete", "create"}, ops(manifest(t, dir)))
	assert.Equal(t, 2, num(c.get("/_devserver/documents").body["count"]))
}

func TestBulkDeleteIsAllOrNothing(t *testing.T) {
	c, s, _ := setup(t, Config{})
	a1 := c.upload(doc{ws: 42, name: "a.pdf"})
	a2 := c.upload(doc{ws: 42, name: "b.pdf"})
	a3 := c.upload(doc{ws: 1, name: "c.pdf"})

	a := c.sendJSON(http.MethodPost, "/api/v3/files/bulk-delete", map[string]any{"ids": []int{a1, 998, a2, 999}})
	assert.Equal(t, http.StatusNotFound, a.code)
	assertErrorShape(t, a.body, "not_found")
	assert.Contains(t, a.body["detail"], "998, 999")
	assert.NotContains(t, a.body["detail"], fmt.Sprint(a1)+",")
	assert.Len(t, c.ids(""), 3, "nothing deleted")

	for _, body := range []string{`{"ids":[]}`, `{}`, `{"ids":"1"}`, `{"ids":[1.5]}`, `{"ids":["a"]}`} {
		a := c.do(http.MethodPost, "/api/v3/files/bulk-delete", strings.NewReader(body), "application/json")
		assert.Equal(t, http.StatusUnprocessableEntity, a.code, body)
		assert.Contains(t, a.body["fields"], "ids", body)
	}
	assert.Equal(t, http.StatusBadRequest, c.do(http.MethodPost, "/api/v3/files/bulk-delete", strings.NewReader("{"), "application/json").code)
	assert.Equal(t, http.StatusUnsupportedMediaType, c.urlencoded(http.MethodPost, "/api/v3/files/bulk-delete", [][2]string{{"ids", "1"}}).code)
	assert.Len(t, c.ids(""), 3, "nothing deleted")

	a = c.sendJSON(http.MethodPost, "/api/v3/files/bulk-delete", map[string]any{"ids": []int{a1, a3, a1}})
	assert.Equal(t, http.StatusNoContent, a.code)
	assert.Empty(t, a.raw)
	assert.Equal(t, []int{a2}, c.ids(""))
	assert.Equal(t, http.StatusNotFound, c.get(filePath(a3)).code)
	st := s.Stats()
	assert.Equal(t, int64(1), st.BulkDeletes)
	assert.Equal(t, int64(2), st.Deletes)
	assert.Equal(t, int64(1), st.Documents)
}

func TestFileTags(t *testing.T) {
	c, _, _ := setup(t, Config{MaxTagID: 20})
	id := c.upload(doc{ws: 42, name: "a.pdf", tags: []int{3}})

	a := c.sendJSON(http.MethodPost, filePath(id)+"/tags", map[string]any{"tags": []int{5, 3, 7}})
	require.Equal(t, http.StatusOK, a.code, "%s", a.raw)
	assertFileObject(t, a.body)
	assert.Equal(t, []int{3, 5, 7}, tagIDs(a.body), "added, duplicates ignored")
	a = c.urlencoded(http.MethodPost, filePath(id)+"/tags", [][2]string{{"tags", "9"}})
	require.Equal(t, http.StatusOK, a.code, "%s", a.raw)
	assert.Equal(t, []int{3, 5, 7, 9}, tagIDs(a.body), "a form works too")

	a = c.sendJSON(http.MethodPost, filePath(id)+"/tags", map[string]any{"tags": []int{2, 21}})
	assert.Equal(t, http.StatusBadRequest, a.code)
	assertErrorShape(t, a.body, "invalid_tags")
	assert.Equal(t, http.StatusUnprocessableEntity, c.sendJSON(http.MethodPost, filePath(id)+"/tags", map[string]any{"tags": "x"}).code)
	assert.Equal(t, http.StatusUnprocessableEntity, c.sendJSON(http.MethodPost, filePath(id)+"/tags", map[string]any{}).code)
	assert.Equal(t, http.StatusNotFound, c.sendJSON(http.MethodPost, "/api/v3/files/99/tags", map[string]any{"tags": []int{1}}).code)
	assert.Equal(t, []int{3, 5, 7, 9}, tagIDs(c.get(filePath(id)).body), "refusals changed nothing")

	a = c.do(http.MethodDelete, filePath(id)+"/tags/5", nil, "")
	assert.Equal(t, http.StatusNoContent, a.code)
	assert.Equal(t, http.StatusNoContent, c.do(http.MethodDelete, filePath(id)+"/tags/5", nil, "").code, "idempotent")
	assert.Equal(t, http.StatusNotFound, c.do(http.MethodDelete, filePath(id)+"/tags/21", nil, "").code, "no such tag")
	assert.Equal(t, http.StatusNotFound, c.do(http.MethodDelete, "/api/v3/files/99/tags/1", nil, "").code)
	assert.Equal(t, []int{3, 7, 9}, tagIDs(c.get(filePath(id)).body))
	assert.Equal(t, []int{id}, c.ids("tag_id=7"))
	assert.Empty(t, c.ids("tag_id=5"))

	tags := c.get("/api/v3/tags?name=tag-7").body["results"].([]any)
	require.Len(t, tags, 1)
	assert.Equal(t, 1, num(tags[0].(map[string]any)["document_count"]))
}

// The multipart fields may come in any order; with the external metadata
// after the file, the upload is the same, and the fault draws (keyed by
// the external id) are the same.
func TestUploadFieldsInAnyOrder(t *testing.T) {
	fields := [][2]string{{"workspace_id", "42"}, {"title", "T"}, {"tags", "2"},
		{"external_metadata", `{"external_id":"late","additional_metadata":{"sha256":"abc"}}`}}
	c, _, _ := setup(t, Config{})
	a := c.multipart(http.MethodPost, "/api/v3/files", fields, &part{"a.pdf", []byte("x")}, true)
	require.Equal(t, http.StatusCreated, a.code, "%s", a.raw)
	assert.Equal(t, "T", a.body["title"])
	assert.Equal(t, "late", a.body["external_metadata"].(map[string]any)["external_id"])
	assert.Equal(t, []int{2}, tagIDs(a.body))

	// An existing external id: 200 with the existing document, its stored
	// metadata included; the new bytes are dropped.
	b := c.multipart(http.MethodPost, "/api/v3/files", [][2]string{{"workspace_id", "42"},
		{"external_metadata", `{"external_id":"late","additional_metadata":{"sha256":"other"}}`}}, &part{"b.pdf", []byte("yy")}, true)
	require.Equal(t, http.StatusOK, b.code)
	assert.Equal(t, a.body["id"], b.body["id"])
	assert.Equal(t, map[string]any{"sha256": "abc"}, b.body["external_metadata"].(map[string]any)["additional_metadata"])
	assert.Equal(t, 1, num(b.body["size"]))

	// The draws are keyed by the external id: the same ids give the same
	// faults whether the metadata comes before or after the file, and
	// whatever the files are called.
	draws := func(fileFirst bool, prefix string) []int {
		c, _, _ := setup(t, Config{ThrottleRate: 0.3, ErrorRate: 0.2, ResetRate: 0.3, Seed: 5})
		var codes []int
		for i := 0; i < 20; i++ {
			f := [][2]string{{"workspace_id", "42"}, {"external_metadata", fmt.Sprintf(`{"external_id":"k%d"}`, i)}}
			for attempt := 0; attempt < 2; attempt++ {
				codes = append(codes, postCode(t, c, f, fmt.Sprintf("%s%d-%d.pdf", prefix, i, attempt), fileFirst))
			}
		}
		return codes
	}
	before, after := draws(false, "a"), draws(true, "b")
	assert.Equal(t, before, after, "the draws depend on the external id alone")
	assert.Contains(t, before, 429)
	assert.Contains(t, before, -1, "a dropped connection")
}

// postCode uploads and returns the status, or -1 when the connection was
// dropped.
func postCode(t *testing.T, c *client, fields [][2]string, name string, fileFirst bool) int {
	t.Helper()
	var buf bytes.Buffer
	w := newMultipart(t, &buf, fields, name, fileFirst)
	req, err := http.NewRequest(http.MethodPost, c.url+"/api/v3/files", &buf)
	require.NoError(t, err)
	req.Header.Set("Content-Type", w)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
	if err != nil {
		return -1
	}
	resp.Body.Close()
	return resp.StatusCode
}

func newMultipart(t *testing.T, buf *bytes.Buffer, fields [][2]string, name string, fileFirst bool) string {
	t.Helper()
	mw := multipart.NewWriter(buf)
	file := func() {
		fw, err := mw.CreateFormFile("file", name)
		require.NoError(t, err)
		_, _ = fw.Write([]byte("content"))
	}
	if fileFirst {
		file()
	}
	for _, kv := range fields {
		require.NoError(t, mw.WriteField(kv[0], kv[1]))
	}
	if !fileFirst {
		file()
	}
	require.NoError(t, mw.Close())
	return mw.FormDataContentType()
}

func TestDownloadServesTheVersionInForce(t *testing.T) {
	dir := t.TempDir()
	c, _, clk := setup(t, Config{DataDir: dir, Pace: time.Second})
	id := c.upload(doc{ws: 42, name: "a.txt", content: "first"})
	a := c.get(filePath(id) + "/download")
	require.Equal(t, http.StatusOK, a.code)
	assert.Equal(t, "first", string(a.raw))
	require.Equal(t, http.StatusOK, c.multipart(http.MethodPatch, filePath(id), nil, &part{"a.txt", []byte("second")}, true).code)
	assert.Equal(t, "first", string(c.get(filePath(id)+"/download?purpose=rendered_pdf").raw), "the previous content until processing starts")
	clk.add(time.Second)
	assert.Equal(t, "second", string(c.get(filePath(id)+"/download").raw))
	assert.Equal(t, http.StatusUnprocessableEntity, c.get(filePath(id)+"/download?purpose=x").code)
	assert.Equal(t, http.StatusNotFound, c.get("/api/v3/files/9/download").code)

	c2, _, _ := setup(t, Config{})
	id = c2.upload(doc{ws: 42, name: "a.txt"})
	a = c2.get(filePath(id) + "/download")
	assert.Equal(t, http.StatusNotFound, a.code, "nothing kept without a data dir")
	assertErrorShape(t, a.body, "not_found")
}

func tagIDs(obj map[string]any) []int {
	out := []int{}
	for _, t := range obj["tags"].([]any) {
		out = append(out, num(t.(map[string]any)["id"]))
	}
	return out
}

func manifest(t *testing.T, dir string) []map[string]any {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "manifest.jsonl"))
	require.NoError(t, err)
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m))
		out = append(out, m)
	}
	return out
}

func ops(lines []map[string]any) []any {
	out := []any{}
	for _, l := range lines {
		out = append(out, l["op"])
	}
	return out
}
