package devserver

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// The answer shapes below follow the service's OpenAPI schema (generated
// into lightonai/lighton-typescript-sdk src/types/api.ts); internal/contract
// checks them against the required fields, types and enums transcribed
// there.

type fieldErr struct {
	Error  string `json:"error"`
	Detail string `json:"detail"`
}

// errorBody is APIV3ErrorResponse, and APIV3ValidationErrorResponse when
// Fields is set.
type errorBody struct {
	ID     string                `json:"id"`
	Code   int                   `json:"code"`
	Error  string                `json:"error"`
	Detail string                `json:"detail"`
	DocURL string                `json:"doc_url"`
	Fields map[string][]fieldErr `json:"fields,omitempty"`
}

func newErrorBody(status int, kind, detail string) errorBody {
	var id [16]byte
	_, _ = rand.Read(id[:])
	return errorBody{
		ID: hex.EncodeToString(id[:]), Code: status, Error: kind, Detail: detail,
		DocURL: "https://docs.lighton.ai/api-reference/errors#" + kind,
	}
}

// writeError answers in the documented {id, code, error, detail, doc_url}
// shape, with per-field errors for a 422.
func writeError(w http.ResponseWriter, status int, kind, detail string, fields map[string][]fieldErr) {
	b := newErrorBody(status, kind, detail)
	b.Fields = fields
	writeJSON(w, status, b)
}

// maintenanceBody is ServiceMaintenance503 (detail, error, mode, and the
// optional endpoint_category_names, reason, started_at), which the schema
// gives as the body of every 503, with the fields of the documented error
// shape besides.
type maintenanceBody struct {
	errorBody
	Mode                  string   `json:"mode"`
	EndpointCategoryNames []string `json:"endpoint_category_names"`
	Reason                string   `json:"reason"`
	StartedAt             string   `json:"started_at"`
}

// writeMaintenance answers 503 as the service's maintenance middleware
// does. No Retry-After: neither the schema nor the SDKs (which read it only
// on a 429) show the service sending one with a 503.
func writeMaintenance(w http.ResponseWriter, startedAt time.Time, reason string) {
	writeJSON(w, http.StatusServiceUnavailable, maintenanceBody{
		errorBody: newErrorBody(http.StatusServiceUnavailable, "service_maintenance", "System is under maintenance."),
		Mode:      "full_shutdown", EndpointCategoryNames: []string{}, Reason: reason,
		StartedAt: startedAt.UTC().Format(time.RFC3339),
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// extMeta is external_metadata as stored and as answered
// (ExternalMetadataResponse: all three fields required; doc_type a string).
type extMeta struct {
	ExternalID         string          `json:"external_id"`
	DocType            string          `json:"doc_type"`
	AdditionalMetadata json.RawMessage `json:"additional_metadata"`
}

// extOut renders external_metadata: null when the document has none.
type extOut struct{ m *extMeta }

func (e extOut) MarshalJSON() ([]byte, error) {
	if e.m == nil {
		return []byte("null"), nil
	}
	return json.Marshal(e.m)
}

// null renders as JSON null (a required field the stand-in has no value
// for, such as the TLSH signature).
type null struct{}

func (null) MarshalJSON() ([]byte, error) { return []byte("null"), nil }

type tagJSON struct {
	ID           int64  `json:"id"`
	Name         string `json:"name"`
	AutoAssigned bool   `json:"auto_assigned"`
}

type userJSON struct {
	ID        int64  `json:"id"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
	Username  string `json:"username"`
}

type summaryJSON struct {
	Language string `json:"language"`
	Summary  string `json:"summary"`
}

// contentTypeJSON is DocumentFacetCompactSchema. The stand-in classifies
// nothing, so content_types is always empty.
type contentTypeJSON struct {
	Path  string `json:"path"`
	Label string `json:"label"`
}

// thumbnailJSON is ThumbnailResponse. The stand-in makes no thumbnails.
type thumbnailJSON struct {
	Status string  `json:"status"` // MISSING, PROCESSING or READY
	URL    *string `json:"url"`
}

type workspaceRef struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
	Type string `json:"workspace_type"`
}

// fileJSON is the service's file object: FileRetrieveResponseSerializerV3
// for a retrieve or a PATCH, FileListResponseSerializerV3 for a list item,
// and, with Message, FileCreateResponseSerializerV3 for an upload. Pointer
// fields are those ?exclude= can remove, or that a list item carries only
// with ?include_details=true.
type fileJSON struct {
	ID                int64              `json:"id"`
	Filename          string             `json:"filename"`
	Workspace         *workspaceRef      `json:"workspace,omitempty"`
	Summaries         *[]summaryJSON     `json:"summaries,omitempty"`
	Title             string             `json:"title"`
	Extension         string             `json:"extension"`
	Status            string             `json:"status"`
	StatusVision      string             `json:"status_vision"`
	CreatedAt         string             `json:"created_at"`
	UpdatedAt         string             `json:"updated_at"`
	TotalPages        int                `json:"total_pages"`
	Size              int64              `json:"size"`
	Tags              *[]tagJSON         `json:"tags,omitempty"`
	CreatedBy         *userJSON          `json:"created_by,omitempty"`
	UploadSessionUUID string             `json:"upload_session_uuid"`
	Signature         *null              `json:"signature,omitempty"`
	ExternalMetadata  *extOut            `json:"external_metadata,omitempty"`
	ContentTypes      *[]contentTypeJSON `json:"content_types,omitempty"`
	Thumbnail         thumbnailJSON      `json:"thumbnail"`
	PendingReprocess  *string            `json:"pending_reprocess"`
	Parser            string             `json:"parser,omitempty"`
	StatusDetail      string             `json:"status_detail,omitempty"`
	Message           string             `json:"message,omitempty"`
}

// render says which form of the file object to build.
type render struct {
	list    bool            // a list item: summaries, signature and parser only with details
	details bool            // ?include_details=true
	exclude map[string]bool // ?exclude=
}

func devUser() *userJSON {
	return &userJSON{ID: 1, FirstName: "Dev", LastName: "Server", Username: "devserver"}
}

func rfc3339(ns int64) string { return time.Unix(0, ns).UTC().Format(time.RFC3339Nano) }

// fileObject renders a document as the service's file object at now.
// s.mu must be held; the result shares nothing that a later change mutates
// (tags and external metadata are replaced, never changed in place), so it
// may be encoded after the lock is released.
func (s *Server) fileObject(d *document, now int64, how render) *fileJSON {
	v, pending := d.live(now)
	st := s.status(v, now)
	f := &fileJSON{
		ID: d.id, Filename: v.filename, Title: d.title, Extension: v.ext, Status: st.name, StatusVision: "-",
		CreatedAt: rfc3339(d.created), UpdatedAt: rfc3339(max(d.changed, st.since)),
		TotalPages: st.pages(v), Size: v.size, UploadSessionUUID: d.session,
		Thumbnail: thumbnailJSON{Status: "MISSING"}, StatusDetail: st.detail,
	}
	if pending {
		update := "update"
		f.PendingReprocess = &update
	}
	if !how.exclude["workspace"] {
		ws := s.workspace(d.ws)
		f.Workspace = &workspaceRef{ID: ws.ID, Name: ws.Name, Type: ws.Type}
	}
	if !how.exclude["summaries"] && (!how.list || how.details) {
		f.Summaries = &[]summaryJSON{}
	}
	if !how.exclude["tags"] {
		tags := make([]tagJSON, len(d.tags))
		for i, t := range d.tags {
			tags[i] = tagJSON{ID: t, Name: tagName(t)}
		}
		f.Tags = &tags
	}
	if !how.exclude["created_by"] {
		f.CreatedBy = devUser()
	}
	if !how.exclude["external_metadata"] {
		f.ExternalMetadata = &extOut{d.ext}
	}
	if !how.exclude["content_types"] {
		f.ContentTypes = &[]contentTypeJSON{}
	}
	if !how.list || how.details {
		f.Signature = &null{}
		f.Parser = d.parser
	}
	return f
}

func tagName(id int64) string { return "tag-" + strconv.FormatInt(id, 10) }
