package devserver

import (
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"time"
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
