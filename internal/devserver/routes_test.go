package devserver

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every route under /api/ asks for the key first, unknown routes included;
// with a good key an unknown route is a 404 and a known route with another
// method a 405, both in the documented shape.
func TestKeyFirstOnEveryAPIRoute(t *testing.T) {
	c, s, _ := setup(t, Config{Quota: Quota{PerMinute: 60, Burst: 1}, Outages: []Outage{{Start: 0, Duration: time.Hour, Mode: OutageUnavailable}}})
	routes := [][2]string{
		{"GET", "/api/v3/files"}, {"POST", "/api/v3/files"}, {"GET", "/api/v3/files/1"}, {"PATCH", "/api/v3/files/1"},
		{"DELETE", "/api/v3/files/1"}, {"POST", "/api/v3/files/bulk-delete"}, {"GET", "/api/v3/files/1/download"},
		{"POST", "/api/v3/files/1/tags"}, {"DELETE", "/api/v3/files/1/tags/2"}, {"GET", "/api/v3/tags"},
		{"GET", "/api/v3/workspaces"}, {"GET", "/api/v3/workspaces/42"}, {"GET", "/api/v3/nothing/here"},
		{"PUT", "/api/v3/files"}, {"GET", "/api/v2/upload-session"},
	}
	for _, bad := range []string{"", "wrong", key + "x"} {
		c.key = bad
		for _, r := range routes {
			a := c.do(r[0], r[1], nil, "")
			assert.Equal(t, http.StatusUnauthorized, a.code, "%s %s with key %q", r[0], r[1], bad)
			assertErrorShape(t, a.body, "authentication_failed")
		}
	}
	st := s.Stats()
	assert.Equal(t, int64(3*len(routes)), st.Unauthorized)
	assert.Zero(t, st.QuotaRefused, "a bad key never reaches the quota")
	assert.Zero(t, st.Outage503, "nor the outage")

	c2, _, _ := setup(t, Config{})
	a := c2.get("/api/v3/nothing/here")
	assert.Equal(t, http.StatusNotFound, a.code)
	assertErrorShape(t, a.body, "not_found")
	a = c2.do(http.MethodPut, "/api/v3/files", nil, "")
	assert.Equal(t, http.StatusMethodNotAllowed, a.code)
	assertErrorShape(t, a.body, "method_not_allowed")
	assert.Equal(t, "GET, POST", a.header.Get("Allow"))
	c2.key = "wrong"
	assert.Equal(t, http.StatusNotFound, c2.get("/somewhere").code, "outside /api/ no key is asked")
}

// A random --error-rate 503 has the maintenance shape too: it is the only
// 503 body the schema knows.
func TestRandom503HasTheMaintenanceShape(t *testing.T) {
	c, _, _ := setup(t, Config{ErrorRate: 1})
	a := c.get("/api/v3/files")
	require.Equal(t, http.StatusServiceUnavailable, a.code)
	assertMaintenance(t, a)
}

func assertMaintenance(t *testing.T, a answer) {
	t.Helper()
	assertErrorShape(t, a.body, "service_maintenance")
	assert.Contains(t, []any{"full_shutdown", "warning_banner"}, a.body["mode"])
	assert.Equal(t, "System is under maintenance.", a.body["detail"])
	assert.Empty(t, a.header.Get("Retry-After"))
	_, err := time.Parse(time.RFC3339, a.body["started_at"].(string))
	assert.NoError(t, err)
}

func TestWorkspaces(t *testing.T) {
	ws := []Workspace{{1, "Me", "personal"}, {42, "Legal", "shared"}, {7, "Archive", "shared"}, {9, "Public data", "public"}}
	c, _, clk := setup(t, Config{Workspaces: ws})
	clk.add(time.Minute)
	c.upload(doc{ws: 42, name: "a.pdf", content: "12345"})
	c.upload(doc{ws: 42, name: "b.pdf", content: "123"})

	a := c.get("/api/v3/workspaces/42")
	require.Equal(t, http.StatusOK, a.code)
	assert.Equal(t, "Legal", a.body["name"])
	assert.Equal(t, 2, num(a.body["files_count"]))
	assert.Equal(t, 8, num(a.body["used_storage"]))
	assert.Equal(t, "manual", a.body["document_upload_method"])
	assert.Equal(t, "owner", a.body["user_role"])
	assert.Contains(t, a.body, "sync")
	assert.NotContains(t, string(a.raw), key, "the key is never shown")
	assert.Equal(t, t0.Add(time.Minute).Format(time.RFC3339Nano), a.body["updated_at"])
	for _, p := range []string{"/api/v3/workspaces/5", "/api/v3/workspaces/x"} {
		a = c.get(p)
		assert.Equal(t, http.StatusNotFound, a.code)
		assertErrorShape(t, a.body, "not_found")
	}

	names := func(q string) []string {
		a := c.get("/api/v3/workspaces?" + q)
		require.Equal(t, http.StatusOK, a.code, "%s: %s", q, a.raw)
		out := []string{}
		for _, r := range a.body["results"].([]any) {
			out = append(out, r.(map[string]any)["name"].(string))
		}
		return out
	}
	assert.Equal(t, []string{"Archive", "Legal", "Me", "Public data"}, names(""), "by name")
	assert.Equal(t, []string{"Public data", "Me", "Legal", "Archive"}, names("ordering=-name"))
	assert.Equal(t, []string{"Legal", "Public data", "Archive", "Me"}, names("ordering=-updated_at"), "ties: newest (highest id) first")
	assert.Equal(t, []string{"Archive", "Legal"}, names("workspace_type=shared"))
	assert.Equal(t, []string{"Me"}, names("workspace_type=personal"))
	assert.Equal(t, []string{"Archive"}, names("name=CHIV"))
	assert.Equal(t, []string{}, names("document_upload_method=synced"))
	assert.Equal(t, []string{}, names("datasource_type=sharepoint"))
	assert.Equal(t, []string{}, names("user_role=viewer"))
	assert.Len(t, names("user_role=owner"), 4)
	assert.Equal(t, []string{"Archive", "Legal"}, names("page_size=2"))
	assert.Equal(t, []string{"Me", "Public data"}, names("page_size=2&page=2"))
	a = c.get("/api/v3/workspaces?page_size=2")
	assert.Equal(t, 4, num(a.body["count"]))
	assert.Contains(t, a.body["next"], "page=2")
	assert.Nil(t, a.body["results"].([]any)[0].(map[string]any)["taxonomy"], "no documents: null")
	assert.NotNil(t, a.body["results"].([]any)[1].(map[string]any)["taxonomy"])
	for _, q := range []string{"workspace_type=custom", "ordering=id", "group_id=1", "group_name=x", "user_role=admin", "page_size=0"} {
		assert.Equal(t, http.StatusBadRequest, c.get("/api/v3/workspaces?"+q).code, q)
	}
	assert.Equal(t, http.StatusNotFound, c.get("/api/v3/workspaces?page=3&page_size=2").code)
}

func TestTagList(t *testing.T) {
	c, _, _ := setup(t, Config{MaxTagID: 30})
	c.upload(doc{ws: 42, name: "a.pdf", tags: []int{3, 30}})
	a := c.get("/api/v3/tags?page_size=2")
	require.Equal(t, http.StatusOK, a.code)
	assert.Equal(t, 30, num(a.body["count"]))
	res := a.body["results"].([]any)
	assert.Equal(t, 30, num(res[0].(map[string]any)["id"]), "newest first")
	assert.Equal(t, 1, num(res[0].(map[string]any)["document_count"]))
	assert.Contains(t, a.body["next"], "page=2")
	a = c.get("/api/v3/tags?page=15&page_size=2")
	assert.Equal(t, 1, num(a.body["results"].([]any)[1].(map[string]any)["id"]))
	a = c.get("/api/v3/tags?name=TAG-3")
	assert.Equal(t, 2, num(a.body["count"]), "tag-3 and tag-30")
	assert.Equal(t, 0, num(c.get("/api/v3/tags?auto_assign=false").body["count"]))
	assert.Equal(t, 30, num(c.get("/api/v3/tags?auto_assign=true").body["count"]))
	assert.Equal(t, http.StatusBadRequest, c.get("/api/v3/tags?auto_assign=x").code)
	assert.Equal(t, http.StatusNotFound, c.get("/api/v3/tags?page=16&page_size=2").code)
}

// The key never appears in any answer, header or log line of the server.
func TestKeyNeverEchoed(t *testing.T) {
	c, _, _ := setup(t, Config{Quota: Quota{PerMinute: 1, Burst: 1}})
	var all strings.Builder
	for _, p := range []string{"/api/v3/workspaces", "/api/v3/workspaces/42", "/api/v3/files", "/api/v3/tags", "/_devserver/stats",
		"/_devserver/quota", "/_devserver/outage", "/_devserver/documents", "/api/v3/x"} {
		a := c.get(p)
		all.Write(a.raw)
		fmt.Fprint(&all, a.header)
	}
	assert.NotContains(t, all.String(), key)
}
