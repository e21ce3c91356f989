package devserver

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/paradigm-upload/paradigm-upload/internal/formats"
)

// The /_devserver/ endpoints: not part of the service, not behind the key,
// the quota or the outages. Tests and benchmarks read and steer the
// stand-in through them.

// handleStats serves GET /_devserver/stats: the counters (Stats).
func (s *Server) handleStats(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.Stats())
}

// handleQuota serves GET and PUT /_devserver/quota with
// {"per_minute": N, "burst": B}: PUT replaces the quota (per_minute 0 or
// absent: none; burst 0 or absent: the default) and refills every bucket;
// both answer the quota in force.
func (s *Server) handleQuota(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPut {
		var q Quota
		dec := json.NewDecoder(io.LimitReader(r.Body, 1<<16))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&q); err != nil {
			writeError(w, http.StatusBadRequest, "malformed_request", `Send a JSON object {"per_minute": N, "burst": B}: `+err.Error(), nil)
			return
		}
		if err := q.check(); err != nil {
			writeError(w, http.StatusBadRequest, "malformed_request", err.Error(), nil)
			return
		}
		s.quota.set(q)
	}
	writeJSON(w, http.StatusOK, s.quota.get())
}

type windowJSON struct {
	Start string     `json:"start"`
	End   string     `json:"end"`
	Mode  OutageMode `json:"mode"`
}

type outagesJSON struct {
	Now     string       `json:"now"`
	Active  *windowJSON  `json:"active"`
	Windows []windowJSON `json:"windows"`
}

// handleOutage serves /_devserver/outage. POST {"duration": "60s",
// "mode": "503"} opens a maintenance window now (mode 503 by default;
// reset; refuse, which needs Serve to close the listener, and otherwise
// drops each request's connection). DELETE closes the open windows now and
// cancels those to come. All three answer {now, active, windows}.
func (s *Server) handleOutage(w http.ResponseWriter, r *http.Request) {
	now := s.cfg.Now()
	switch r.Method {
	case http.MethodPost:
		var body struct {
			Duration string `json:"duration"`
			Mode     string `json:"mode"`
		}
		dec := json.NewDecoder(io.LimitReader(r.Body, 1<<16))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil {
			writeError(w, http.StatusBadRequest, "malformed_request", `Send a JSON object {"duration": "60s", "mode": "503"}: `+err.Error(), nil)
			return
		}
		d, err := time.ParseDuration(body.Duration)
		if err != nil || d <= 0 {
			writeError(w, http.StatusBadRequest, "malformed_request", "duration must be a positive duration such as 60s.", nil)
			return
		}
		mode := OutageUnavailable
		if body.Mode != "" {
			if mode, err = ParseOutageMode(body.Mode); err != nil {
				writeError(w, http.StatusBadRequest, "malformed_request", err.Error(), nil)
				return
			}
		}
		s.outages.add(window{now, now.Add(d), mode})
	case http.MethodDelete:
		s.outages.end(now)
	}
	out := outagesJSON{Now: now.UTC().Format(time.RFC3339Nano), Windows: []windowJSON{}}
	for _, win := range s.outages.list() {
		j := windowJSON{win.from.UTC().Format(time.RFC3339Nano), win.to.UTC().Format(time.RFC3339Nano), win.mode}
		out.Windows = append(out.Windows, j)
		if !now.Before(win.from) && now.Before(win.to) && out.Active == nil {
			out.Active = &j
		}
	}
	writeJSON(w, http.StatusOK, out)
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
	CreatedAt        string  `json:"created_at"`
	UpdatedAt        string  `json:"updated_at"` // as the API shows it now
	Session          string  `json:"upload_session_uuid"`
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
		out = append(out, s.describeDoc(d, now))
	}
	return out
}

// describeDoc is d as GET /_devserver/documents lists it. s.mu must be
// held.
func (s *Server) describeDoc(d *document, now int64) documentJSON {
	v := d.latest()
	j := documentJSON{
		ID: d.id, WorkspaceID: d.ws, Filename: v.filename, Title: d.title, ExternalMetadata: extOut{d.ext},
		SHA256: hex.EncodeToString(v.sha[:]), Size: v.size, Tags: append([]int64{}, d.tags...),
		Versions: d.versions, Session: d.session,
	}
	if d.ext != nil {
		id := d.ext.ExternalID
		j.ExternalID = &id
	}
	_, j.PendingReprocess = d.live(now)
	obj := s.fileObject(d, now, render{exclude: map[string]bool{"workspace": true, "tags": true, "created_by": true,
		"external_metadata": true, "content_types": true, "summaries": true}})
	j.CreatedAt, j.UpdatedAt = obj.CreatedAt, obj.UpdatedAt
	return j
}

// seedJSON is the body of POST /_devserver/documents.
type seedJSON struct {
	WorkspaceID      int64           `json:"workspace_id"`
	Filename         string          `json:"filename"`
	Title            string          `json:"title"`
	Content          string          `json:"content"`
	ExternalMetadata json.RawMessage `json:"external_metadata"`
	Tags             []int64         `json:"tags"`
}

// handleSeed serves POST /_devserver/documents: a document made directly,
// as another client would have made it — batch_upload_v3.py or the web
// interface (no external metadata), another workspace, or a second
// document carrying an external id that one already has (which the upload
// endpoint never makes). The stored file name is made unique as an upload
// would; the title defaults to the file name without its extension. 201
// with the document as GET /_devserver/documents lists it.
func (s *Server) handleSeed(w http.ResponseWriter, r *http.Request) {
	var b seedJSON
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		writeError(w, http.StatusBadRequest, "malformed_request", `Send a JSON object {"workspace_id", "filename", "title", "content", "external_metadata", "tags"}: `+err.Error(), nil)
		return
	}
	bad := func(format string, a ...any) {
		writeError(w, http.StatusBadRequest, "malformed_request", fmt.Sprintf(format, a...), nil)
	}
	ext := strings.TrimPrefix(strings.ToLower(path.Ext(b.Filename)), ".")
	switch {
	case s.workspace(b.WorkspaceID) == nil:
		bad("workspace_id: workspace %d does not exist on this devserver.", b.WorkspaceID)
		return
	case b.Filename == "" || strings.ContainsAny(b.Filename, "/\\"):
		bad("filename: a file name (without folders) is required.")
		return
	case !formats.Supported(ext):
		bad("filename: files of type %q are not supported by the service.", ext)
		return
	case len([]rune(b.Title)) > 255:
		bad("title: no more than 255 characters.")
		return
	}
	var meta *extMeta
	if raw := strings.TrimSpace(string(b.ExternalMetadata)); raw != "" && raw != "null" {
		p, fe := parseMeta(raw)
		switch {
		case fe != nil:
			bad("external_metadata: %s", fe.Detail)
			return
		case p.externalID == nil:
			bad("external_metadata: external_id is required in external_metadata.")
			return
		}
		meta = p.apply(nil)
	}
	for _, t := range b.Tags {
		if t <= 0 || t > s.cfg.MaxTagID {
			bad("tags: tag %d does not exist.", t)
			return
		}
	}
	in, err := s.stage([]byte(b.Content))
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal_error", err.Error(), nil)
		return
	}
	var out documentJSON
	s.locked(func() {
		var d *document
		d, err = s.insert(newDoc{file: in, ws: b.WorkspaceID, name: b.Filename, ext: ext, title: b.Title,
			tags: dedupe(b.Tags), meta: meta, session: s.seedUUID})
		if err == nil {
			out = s.describeDoc(d, s.cfg.Now().UnixNano())
		}
	})
	if err != nil {
		if in.tmp != "" {
			_ = os.Remove(in.tmp)
		}
		writeError(w, http.StatusInternalServerError, "internal_error", err.Error(), nil)
		return
	}
	s.stats.seeded.Add(1)
	writeJSON(w, http.StatusCreated, out)
}

// snapshotJSON answers POST /_devserver/snapshot and /restore.
type snapshotJSON struct {
	Documents int   `json:"documents"` // that exist
	NextID    int64 `json:"next_id"`   // the id the next upload takes
}

// handleSnapshot serves POST /_devserver/snapshot: it saves every document
// (replacing an earlier snapshot), for POST /_devserver/restore.
func (s *Server) handleSnapshot(w http.ResponseWriter, _ *http.Request) {
	var out snapshotJSON
	s.locked(func() {
		s.saved = s.takeSnapshot()
		out = snapshotJSON{s.all.live, int64(len(s.all.docs)) + 1}
	})
	writeJSON(w, http.StatusOK, out)
}

// handleRestore serves POST /_devserver/restore: every document, and the id
// counter, back as at the snapshot — an instance restored from a backup:
// documents made since are gone, those deleted since are back, and later
// uploads reuse the ids of those made since. 409 without a snapshot.
func (s *Server) handleRestore(w http.ResponseWriter, _ *http.Request) {
	var out snapshotJSON
	var err error
	found := false
	s.locked(func() {
		if s.saved == nil {
			return
		}
		found = true
		if err = s.restore(s.saved); err == nil {
			out = snapshotJSON{s.all.live, int64(len(s.all.docs)) + 1}
		}
	})
	switch {
	case !found:
		writeError(w, http.StatusConflict, "no_snapshot", "Nothing to restore: POST /_devserver/snapshot first.", nil)
	case err != nil:
		writeError(w, http.StatusInternalServerError, "internal_error", err.Error(), nil)
	default:
		s.stats.restores.Add(1)
		writeJSON(w, http.StatusOK, out)
	}
}
