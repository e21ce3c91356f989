package devserver

import (
	"net/http"
	"sort"
	"strconv"
	"strings"
)

// workspaceCommon holds the fields the schema requires of both workspace
// objects (StandardWorkspaceV3ListResponse, StandardWorkspaceV3DetailsResponse).
type workspaceCommon struct {
	ID                   int64           `json:"id"`
	Name                 string          `json:"name"`
	Description          string          `json:"description"`
	WorkspaceType        string          `json:"workspace_type"`
	DocumentUploadMethod string          `json:"document_upload_method"` // manual: the stand-in syncs nothing
	FilesCount           int             `json:"files_count"`
	CreatedAt            string          `json:"created_at"`
	UpdatedAt            string          `json:"updated_at"`
	UserRole             string          `json:"user_role"` // the key's user owns every workspace
	ScopedAPIKeys        []scopedKeyJSON `json:"scoped_api_keys"`
	Sync                 *struct{}       `json:"sync"` // null: not a synced workspace
}

// scopedKeyJSON is WorkspaceScopedAPIKey. The one key of the stand-in is a
// global key; nothing of its value is shown (prefix included).
type scopedKeyJSON struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Prefix    string `json:"prefix"`
	Role      string `json:"role"`
	ScopeType string `json:"scope_type"`
	CreatedAt string `json:"created_at"`
	CreatedBy string `json:"created_by"`
}

type taxonomyJSON struct {
	ClassifiedFilesRate float64    `json:"classified_files_rate"`
	RootContentTypes    []struct{} `json:"root_content_types"`
}

type workspaceListItem struct {
	workspaceCommon
	// Taxonomy is null only when the workspace has no documents; the
	// stand-in classifies none, so the rate is 0.
	Taxonomy *taxonomyJSON `json:"taxonomy"`
}

type workspaceDetails struct {
	workspaceCommon
	UsedStorage float64       `json:"used_storage"`
	Summaries   []summaryJSON `json:"summaries"`
}

// workspaceObject renders a workspace. s.mu must be held.
func (s *Server) workspaceObject(w *Workspace) workspaceCommon {
	x := s.byWS[w.ID]
	start := rfc3339(s.start.UnixNano())
	return workspaceCommon{
		ID: w.ID, Name: w.Name, Description: "", WorkspaceType: w.Type, DocumentUploadMethod: "manual",
		FilesCount: x.live, CreatedAt: start, UpdatedAt: rfc3339(x.updated), UserRole: "owner",
		ScopedAPIKeys: []scopedKeyJSON{{
			ID: "devserver", Name: "devserver key", Prefix: "", Role: "owner", ScopeType: "global",
			CreatedAt: start, CreatedBy: devUser().Username,
		}},
	}
}

// handleWorkspace serves GET /api/v3/workspaces/{id}: 404 for a workspace
// that does not exist or is not the key's (the service does not tell them
// apart).
func (s *Server) handleWorkspace(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	ws := s.workspace(id)
	if err != nil || ws == nil {
		writeError(w, http.StatusNotFound, "not_found", "Workspace not found.", nil)
		return
	}
	var obj workspaceDetails
	s.locked(func() {
		obj = workspaceDetails{workspaceCommon: s.workspaceObject(ws), UsedStorage: float64(s.byWS[id].bytes), Summaries: []summaryJSON{}}
	})
	writeJSON(w, http.StatusOK, obj)
}

// handleWorkspaces serves GET /api/v3/workspaces, paginated (20 a page by
// default), ordered by name (newest first among equal names) unless
// ordering says otherwise. The filters of the schema's
// api_v3_workspaces_list are honoured (workspace_type, document_upload_method,
// datasource_type, name, user_role, ordering), except group_id and
// group_name, refused with 400: the stand-in has no groups. Other
// parameters are ignored, as on the files list.
func (s *Server) handleWorkspaces(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	page, size, qe := pageParams(q, 20, 1000)
	var ignored []string
	keep := func(Workspace) bool { return true }
	order := []orderKey{{"name", false}}
	for k := range q {
		v := last(q[k])
		if qe != nil || k == "page" || k == "page_size" || v == "" {
			continue
		}
		prev := keep
		switch k {
		case "workspace_type":
			qe = choice(k, v, "personal", "public", "shared")
			keep = func(w Workspace) bool { return prev(w) && w.Type == v }
		case "document_upload_method":
			qe = choice(k, v, "manual", "synced")
			keep = func(w Workspace) bool { return prev(w) && v == "manual" }
		case "datasource_type":
			qe = choice(k, v, "googledrive", "servicenow", "sharepoint", "smb", "webscrapper")
			keep = func(Workspace) bool { return false } // no workspace is synced
		case "user_role":
			qe = choice(k, v, "editor", "owner", "viewer")
			keep = func(w Workspace) bool { return prev(w) && v == "owner" }
		case "name":
			keep = func(w Workspace) bool {
				return prev(w) && strings.Contains(strings.ToLower(w.Name), strings.ToLower(v))
			}
		case "ordering":
			if qe = choice(k, v, "name", "-name", "created_at", "-created_at", "updated_at", "-updated_at"); qe == nil {
				order = []orderKey{{strings.TrimPrefix(v, "-"), strings.HasPrefix(v, "-")}}
			}
		case "group_id", "group_name":
			qe = unsupported(k, "it has no user groups")
		default:
			ignored = append(ignored, k)
		}
	}
	if qe != nil {
		writeError(w, qe.status, qe.kind, qe.detail, nil)
		return
	}
	if len(ignored) > 0 {
		sort.Strings(ignored)
		w.Header().Set("X-Devserver-Ignored-Query", strings.Join(ignored, ","))
	}
	var all []workspaceListItem
	s.locked(func() {
		for i := range s.cfg.Workspaces {
			ws := &s.cfg.Workspaces[i]
			if !keep(*ws) {
				continue
			}
			item := workspaceListItem{workspaceCommon: s.workspaceObject(ws)}
			if item.FilesCount > 0 {
				item.Taxonomy = &taxonomyJSON{RootContentTypes: []struct{}{}}
			}
			all = append(all, item)
		}
	})
	k := order[0]
	sort.SliceStable(all, func(i, j int) bool {
		a, b := all[i], all[j]
		c := 0
		switch k.field {
		case "name":
			c = strings.Compare(a.Name, b.Name)
		case "created_at":
			c = strings.Compare(a.CreatedAt, b.CreatedAt)
		case "updated_at":
			c = strings.Compare(a.UpdatedAt, b.UpdatedAt)
		}
		if c != 0 {
			return c < 0 != k.desc
		}
		return a.ID > b.ID // newest first among equals
	})
	next, prev, ok := links(r, page, size, len(all))
	if !ok {
		writeError(w, http.StatusNotFound, "invalid_page", "Invalid page.", nil)
		return
	}
	from := min((page-1)*size, len(all))
	to := min(from+size, len(all))
	writeJSON(w, http.StatusOK, pageJSON[workspaceListItem]{
		Count: len(all), Next: next, Previous: prev, Results: append([]workspaceListItem{}, all[from:to]...),
	})
}

// choice refuses a value outside the choices of an enumerated filter (as
// django-filter's ChoiceFilter does, with 400).
func choice(name, v string, choices ...string) *queryError {
	for _, c := range choices {
		if v == c {
			return nil
		}
	}
	return badFilter("%s: %q is not one of %s.", name, v, strings.Join(choices, ", "))
}

// tagObject is TagListResponseSerializerV3.
type tagObject struct {
	ID            int64  `json:"id"`
	Name          string `json:"name"`
	Description   string `json:"description"`
	AutoAssign    bool   `json:"auto_assign"`
	DocumentCount int    `json:"document_count"`
	CreatedAt     string `json:"created_at"`
	UpdatedAt     string `json:"updated_at"`
}

// handleTags serves GET /api/v3/tags: tags 1 to MaxTagID, named tag-<id>,
// newest first (they were all made at start, so by id, descending),
// paginated (50 a page by default), with the schema's filters auto_assign
// (every tag of the stand-in may be auto-assigned) and name (partial,
// case-insensitive). Other parameters are ignored.
func (s *Server) handleTags(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	page, size, qe := pageParams(q, 50, 1000)
	name, autoAssign := "", (*bool)(nil)
	var ignored []string
	for k := range q {
		v := last(q[k])
		if qe != nil || k == "page" || k == "page_size" || v == "" {
			continue
		}
		switch k {
		case "name":
			name = strings.ToLower(v)
		case "auto_assign":
			b, err := parseBool(v)
			if err != nil {
				qe = badFilter("auto_assign: %v.", err)
			}
			autoAssign = &b
		default:
			ignored = append(ignored, k)
		}
	}
	if qe != nil {
		writeError(w, qe.status, qe.kind, qe.detail, nil)
		return
	}
	if len(ignored) > 0 {
		sort.Strings(ignored)
		w.Header().Set("X-Devserver-Ignored-Query", strings.Join(ignored, ","))
	}
	// Tags matching the filters, newest first, as a function of their rank.
	var ids []int64
	total := int(s.cfg.MaxTagID)
	at := func(i int) int64 { return s.cfg.MaxTagID - int64(i) }
	if name != "" || autoAssign != nil && !*autoAssign {
		for id := s.cfg.MaxTagID; id >= 1; id-- {
			if (autoAssign == nil || *autoAssign) && strings.Contains(tagName(id), name) {
				ids = append(ids, id)
			}
		}
		total = len(ids)
		at = func(i int) int64 { return ids[i] }
	}
	next, prev, ok := links(r, page, size, total)
	if !ok {
		writeError(w, http.StatusNotFound, "invalid_page", "Invalid page.", nil)
		return
	}
	start := rfc3339(s.start.UnixNano())
	results := []tagObject{}
	s.locked(func() {
		for i := (page - 1) * size; i < min(page*size, total); i++ {
			id := at(i)
			results = append(results, tagObject{
				ID: id, Name: tagName(id), Description: "", AutoAssign: true, DocumentCount: s.tagDocs[id],
				CreatedAt: start, UpdatedAt: start,
			})
		}
	})
	writeJSON(w, http.StatusOK, pageJSON[tagObject]{Count: total, Next: next, Previous: prev, Results: results})
}
