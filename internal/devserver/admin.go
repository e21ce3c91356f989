package devserver

import (
	"encoding/hex"
	"net/http"
	"strconv"
)

// The /_devserver/ endpoints: not part of the service, not behind the key.
// Tests and benchmarks read the stand-in through them.

// handleStats serves GET /_devserver/stats: the counters (Stats).
func (s *Server) handleStats(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.Stats())
}

// documentJSON is a current document as GET /_devserver/documents lists
// it: what end-to-end tests compare with a folder.
type documentJSON struct {
	ID               int64   `json:"id"`
	WorkspaceID      int64   `json:"workspace_id"`
	Filename         string  `json:"filename"`
	Title            string  `json:"title"`
	ExternalID       *string `json:"external_id"`
	ExternalMetadata extOut  `json:"external_metadata"`
	SHA256           string  `json:"sha256"` // of the latest file received, processed or not
	Size             int64   `json:"size"`
	Tags             []int64 `json:"tags"`
	Versions         int32   `json:"versions"`
	PendingReprocess bool    `json:"pending_reprocess"`
}

// handleDocuments serves GET /_devserver/documents[?workspace_id=N]: every
// document that exists now (deleted ones are left out), by id, as
// {"count": N, "documents": [...]}.
func (s *Server) handleDocuments(w http.ResponseWriter, r *http.Request) {
	ws := int64(0)
	if v := r.URL.Query().Get("workspace_id"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			writeError(w, http.StatusBadRequest, "invalid_filter", "workspace_id must be an integer.", nil)
			return
		}
		ws = n
	}
	now := s.cfg.Now().UnixNano()
	var out []documentJSON
	s.locked(func() { out = s.snapshot(ws, now) })
	writeJSON(w, http.StatusOK, struct {
		Count     int            `json:"count"`
		Documents []documentJSON `json:"documents"`
	}{len(out), out})
}

// snapshot lists the live documents (of workspace ws unless 0). s.mu must
// be held.
func (s *Server) snapshot(ws, now int64) []documentJSON {
	out := make([]documentJSON, 0, s.all.live)
	for _, d := range s.all.docs {
		if d.deleted || ws != 0 && d.ws != ws {
			continue
		}
		v := d.latest()
		j := documentJSON{
			ID: d.id, WorkspaceID: d.ws, Filename: v.filename, Title: d.title, ExternalMetadata: extOut{d.ext},
			SHA256: hex.EncodeToString(v.sha[:]), Size: v.size, Tags: append([]int64{}, d.tags...),
			Versions: d.versions,
		}
		if d.ext != nil {
			id := d.ext.ExternalID
			j.ExternalID = &id
		}
		_, j.PendingReprocess = d.live(now)
		out = append(out, j)
	}
	return out
}
