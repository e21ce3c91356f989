package devserver

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/paradigm-upload/paradigm-upload/internal/formats"
)

// handleUpload serves POST /api/v3/files. The multipart fields may come in
// any order (a client may send external_metadata after the file, once it
// has hashed it), so the whole body is read before anything is decided:
// the injected faults are drawn then, keyed by the external id (else the
// workspace and file name), and "reset before store" drops the connection
// after reading, before storing.
func (s *Server) handleUpload(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength > s.cfg.MaxSize+1<<20 {
		s.stats.rejected.Add(1)
		writeError(w, http.StatusRequestEntityTooLarge, "file_too_large",
			fmt.Sprintf("The file exceeds the maximum document size of %d bytes.", s.cfg.MaxSize), nil)
		return
	}
	f, err := s.readMultipart(r)
	defer f.discard()
	if err != nil {
		s.stats.rejected.Add(1)
		writeError(w, http.StatusBadRequest, "malformed_request", "The multipart body could not be read: "+err.Error(), nil)
		return
	}
	if f.tooLarge {
		s.stats.rejected.Add(1)
		writeError(w, http.StatusRequestEntityTooLarge, "file_too_large",
			fmt.Sprintf("The file exceeds the maximum document size of %d bytes.", s.cfg.MaxSize), nil)
		return
	}
	var fl fault
	if s.faulty(true) {
		fl = s.decide("POST "+uploadKey(f), true)
		if s.refuse(w, fl) {
			return
		}
		if fl.resetBefore {
			// The body was read; the connection drops: nothing stored.
			s.stats.resetsBefore.Add(1)
			reset(w)
			return
		}
	}
	nd, status, kind, detail, fields := s.validateUpload(f)
	if status != 0 {
		s.stats.rejected.Add(1)
		writeError(w, status, kind, detail, fields)
		return
	}
	if s.cfg.DropExternalMetadata {
		nd.meta = nil // an instance that does not keep it: silently
	}
	s.sleepLatency(r)

	d, created, err := s.create(nd)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal_error", err.Error(), nil)
		return
	}
	if created {
		f.file.tmp = "" // moved into the data dir
	}
	if fl.resetAfter {
		// Stored, but the answer never reaches the client.
		s.stats.resetsAfter.Add(1)
		reset(w)
		return
	}
	code, msg := http.StatusCreated, "File queued for processing"
	if !created {
		code, msg = http.StatusOK, "File already uploaded (matched by external_metadata.external_id)"
	} else if len(nd.tags) < len(dedupe(mustTags(f))) {
		code, msg = http.StatusMultiStatus, "File queued for processing, but some tags could not be applied"
	}
	var obj *fileJSON
	s.locked(func() { obj = s.fileObject(d, s.cfg.Now().UnixNano(), render{}) })
	obj.Message = msg
	writeJSON(w, code, obj)
}

// uploadKey is an upload's identity for the fault draws: its external id,
// else its file name, within its workspace.
func uploadKey(f *form) string {
	var m struct {
		ExternalID string `json:"external_id"`
	}
	ws := f.get("workspace_id")
	if text := f.get("external_metadata"); text != "" && json.Unmarshal([]byte(text), &m) == nil && m.ExternalID != "" {
		return ws + "/" + m.ExternalID
	}
	sent := ""
	if f.file != nil {
		sent = f.file.sent
	}
	return ws + "/" + sent
}

func mustTags(f *form) []int64 {
	t, _ := parseTags(f.values["tags"])
	return t
}

// validateUpload checks an upload's fields; a non-zero status is the
// refusal to answer.
func (s *Server) validateUpload(f *form) (nd newDoc, status int, kind, detail string, fields map[string][]fieldErr) {
	fields = map[string][]fieldErr{}
	rawWS := f.get("workspace_id")
	wsID, err := strconv.ParseInt(strings.TrimSpace(rawWS), 10, 64)
	switch {
	case rawWS == "":
		fields["workspace_id"] = []fieldErr{{"required", "This field is required."}}
	case err != nil:
		fields["workspace_id"] = []fieldErr{{"invalid", "A valid integer is required."}}
	case s.workspace(wsID) == nil:
		fields["workspace_id"] = []fieldErr{{"does_not_exist", fmt.Sprintf("Workspace %d does not exist or you cannot use it.", wsID)}}
	}
	if f.file == nil {
		fields["file"] = []fieldErr{{"required", "No file was submitted."}}
	}
	tags, terr := parseTags(f.values["tags"])
	if terr == nil {
		for _, t := range tags {
			if t <= 0 {
				terr = fmt.Errorf("%d is not a tag id", t)
			}
		}
	}
	if terr != nil {
		fields["tags"] = []fieldErr{{"invalid", terr.Error()}}
	}
	var meta *extMeta
	if text := strings.TrimSpace(f.get("external_metadata")); text != "" && text != "null" {
		p, fe := parseMeta(text)
		switch {
		case fe != nil:
			fields["external_metadata"] = []fieldErr{*fe}
		case p.externalID == nil:
			fields["external_metadata"] = []fieldErr{{"required", "external_id is required in external_metadata."}}
		default:
			meta = p.apply(nil)
		}
	}
	if title := f.get("title"); len([]rune(title)) > 255 {
		fields["title"] = []fieldErr{{"max_length", "Ensure this field has no more than 255 characters."}}
	}
	if len(fields) > 0 {
		return nd, http.StatusUnprocessableEntity, "validation_error", "The request is invalid.", fields
	}
	name := f.file.sent
	if fn := f.get("filename"); fn != "" {
		name = fn
	}
	ext := strings.TrimPrefix(strings.ToLower(path.Ext(name)), ".")
	if !formats.Supported(ext) {
		return nd, http.StatusUnprocessableEntity, "unsupported_file_type", fmt.Sprintf("Files of type %q are not supported.", ext),
			map[string][]fieldErr{"file": {{"unsupported_file_type", "Unsupported file extension."}}}
	}
	// Tags that do not exist are not applied; the answer is then 207.
	var valid []int64
	for _, t := range dedupe(tags) {
		if t <= s.cfg.MaxTagID {
			valid = append(valid, t)
		}
	}
	return newDoc{
		file: *f.file, ws: wsID, name: name, ext: ext, title: f.get("title"), parser: f.get("parser"),
		tags: valid, meta: meta,
	}, 0, "", "", nil
}

// handleGet serves GET /api/v3/files/{id}.
func (s *Server) handleGet(w http.ResponseWriter, r *http.Request) {
	if v := r.URL.Query().Get("include_content"); v != "" {
		b, err := parseBool(v)
		if err != nil {
			writeError(w, http.StatusBadRequest, "invalid_filter", "include_content: "+err.Error(), nil)
			return
		}
		if b {
			writeError(w, http.StatusBadRequest, "unsupported_filter",
				"include_content=true is not supported by the devserver: it does not parse documents.", nil)
			return
		}
	}
	var obj *fileJSON
	s.locked(func() {
		if d := s.lookup(r.PathValue("id")); d != nil {
			obj = s.fileObject(d, s.cfg.Now().UnixNano(), render{})
		}
	})
	if obj == nil {
		writeError(w, http.StatusNotFound, "not_found", "File not found or not accessible.", nil)
		return
	}
	writeJSON(w, http.StatusOK, obj)
}

// handleDownload serves GET /api/v3/files/{id}/download: the bytes of the
// version being served (the previous one while a replacement waits), kept
// only with a data dir.
func (s *Server) handleDownload(w http.ResponseWriter, r *http.Request) {
	switch p := r.URL.Query().Get("purpose"); p {
	case "", "original", "rendered_pdf", "transcript": // the service falls back to the original
	default:
		writeError(w, http.StatusUnprocessableEntity, "validation_error", "The request is invalid.",
			map[string][]fieldErr{"purpose": {{"invalid_choice", fmt.Sprintf("%q is not one of original, rendered_pdf, transcript.", p)}}})
		return
	}
	var rel, name string
	s.locked(func() {
		if d := s.lookup(r.PathValue("id")); d != nil {
			v, _ := d.live(s.cfg.Now().UnixNano())
			rel = filepath.Join("files", strconv.FormatInt(d.id, 10), "v"+strconv.Itoa(int(v.n)), safeBase(v.filename))
			name = v.filename
		}
	})
	kept := s.manifest != nil
	if rel == "" {
		writeError(w, http.StatusNotFound, "not_found", "File not found or not accessible.", nil)
		return
	}
	if !kept {
		writeError(w, http.StatusNotFound, "not_found", "This devserver keeps no file content: start it with --data-dir.", nil)
		return
	}
	f, err := os.Open(filepath.Join(s.cfg.DataDir, rel))
	if err != nil {
		writeError(w, http.StatusNotFound, "not_found", "The stored file is missing.", nil)
		return
	}
	defer f.Close()
	ct := mime.TypeByExtension(path.Ext(name))
	if ct == "" {
		ct = "application/octet-stream"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	_, _ = io.Copy(w, f)
}

// handlePatch serves PATCH /api/v3/files/{id}: a multipart or urlencoded
// form (a JSON body is refused with 415) with any of title, tags (replacing
// every tag; a lone tags=0 clears them), external_metadata (merged, see
// metaPatch.apply) and file (the content replaced in place: same id, title
// and tags; the answer and later reads carry pending_reprocess "update"
// beside the previous file's fields and status for one Pace, then describe
// the new file, whose processing starts then). The request is applied in
// full or not at all.
func (s *Server) handlePatch(w http.ResponseWriter, r *http.Request) {
	if !s.exists(r.PathValue("id")) {
		writeError(w, http.StatusNotFound, "not_found", "File not found or not accessible.", nil)
		return
	}
	f, ok, err := s.readFormBody(r)
	defer f.discard()
	switch {
	case !ok:
		writeError(w, http.StatusUnsupportedMediaType, "unsupported_media_type",
			fmt.Sprintf("Unsupported media type %q in request: send multipart/form-data or application/x-www-form-urlencoded.", r.Header.Get("Content-Type")), nil)
		return
	case err != nil:
		writeError(w, http.StatusBadRequest, "malformed_request", "The body could not be read: "+err.Error(), nil)
		return
	case f.tooLarge:
		writeError(w, http.StatusRequestEntityTooLarge, "file_too_large",
			fmt.Sprintf("The file exceeds the maximum document size of %d bytes.", s.cfg.MaxSize), nil)
		return
	}
	var immutable []string
	if s.cfg.OldPatchSchema && f.file != nil {
		// The older schema (PatchedFileUpdateRequestSerializerV3 of the
		// Python SDK v1.1.0): file, filename, workspace_id and parser are
		// immutable, "if provided, will return 400".
		immutable = append(immutable, "file")
	}
	for _, k := range []string{"filename", "workspace_id", "parser"} {
		if f.has(k) {
			immutable = append(immutable, k)
		}
	}
	if len(immutable) > 0 {
		writeError(w, http.StatusBadRequest, "immutable_field",
			fmt.Sprintf("These fields cannot be changed: %s.", strings.Join(immutable, ", ")), nil)
		return
	}
	fields := map[string][]fieldErr{}
	title, setTitle := f.get("title"), f.has("title")
	if len([]rune(title)) > 255 {
		fields["title"] = []fieldErr{{"max_length", "Ensure this field has no more than 255 characters."}}
	}
	var tags []int64
	setTags := f.has("tags")
	if setTags {
		var fe *fieldErr
		if tags, fe = s.replacementTags(f.values["tags"]); fe != nil {
			fields["tags"] = []fieldErr{*fe}
		}
	}
	var meta metaPatch
	setMeta := f.has("external_metadata")
	if setMeta {
		var fe *fieldErr
		if meta, fe = parseMeta(f.get("external_metadata")); fe != nil {
			fields["external_metadata"] = []fieldErr{*fe}
		}
	}
	var ext string
	if f.file != nil {
		ext = strings.TrimPrefix(strings.ToLower(path.Ext(f.file.sent)), ".")
		if !formats.Supported(ext) {
			fields["file"] = []fieldErr{{"unsupported_file_type", fmt.Sprintf("Files of type %q are not supported.", ext)}}
		}
	}
	if !setTitle && !setTags && !setMeta && f.file == nil {
		fields["non_field_errors"] = []fieldErr{{"required", "Send at least one of title, tags, external_metadata, file."}}
	}
	if len(fields) > 0 {
		writeError(w, http.StatusUnprocessableEntity, "validation_error", "The request is invalid.", fields)
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.lookup(r.PathValue("id"))
	if d == nil { // deleted while the body was read
		writeError(w, http.StatusNotFound, "not_found", "File not found or not accessible.", nil)
		return
	}
	now := s.cfg.Now().UnixNano()
	d.settle(now)
	var newMeta *extMeta
	if setMeta {
		if d.ext == nil && meta.externalID == nil {
			writeError(w, http.StatusUnprocessableEntity, "validation_error", "The request is invalid.", map[string][]fieldErr{
				"external_metadata": {{"required", "external_id is required when the document has no external metadata yet."}}})
			return
		}
		newMeta = meta.apply(d.ext)
		// Refused when it would give d an external id another document
		// holds; not when d keeps its own (which another document may also
		// carry, made by another way than the upload endpoint).
		for _, other := range s.byExt[extKey{d.ws, newMeta.ExternalID}] {
			if other != d && (d.ext == nil || d.ext.ExternalID != newMeta.ExternalID) {
				writeError(w, http.StatusBadRequest, "external_id_in_use", fmt.Sprintf(
					"Document %d of this workspace already has external_id %q.", other.id, newMeta.ExternalID), nil)
				return
			}
		}
	}
	op, line := "update", map[string]any{}
	if f.file != nil {
		rel, err := s.replace(d, *f.file, ext, now)
		if err != nil {
			writeError(w, http.StatusInternalServerError, "internal_error", err.Error(), nil)
			return
		}
		f.file.tmp = ""
		op = "replace"
		line["sent_filename"], line["path"] = d.next.sent, rel
	}
	if setTitle {
		d.title = title
	}
	if setTags {
		for _, t := range d.tags {
			s.tagDocs[t]--
		}
		for _, t := range tags {
			s.tagDocs[t]++
		}
		d.tags = tags
	}
	if newMeta != nil {
		s.extDel(d)
		d.ext = newMeta
		s.extAdd(d)
	}
	s.touched(d, now)
	if s.manifest != nil {
		desc := s.describe(d, op)
		for k, v := range line {
			desc[k] = v
		}
		if err := s.log(desc); err != nil {
			writeError(w, http.StatusInternalServerError, "internal_error", err.Error(), nil)
			return
		}
	}
	s.stats.patches.Add(1)
	writeJSON(w, http.StatusOK, s.fileObject(d, now, render{}))
}

// replacementTags reads the tags of a PATCH: they replace every tag, and a
// lone 0 (an empty list vanishes from a form) clears them. Tags are checked
// before anything is applied: an unknown id refuses the whole request.
func (s *Server) replacementTags(raw []string) ([]int64, *fieldErr) {
	ids, err := parseTags(raw)
	if err != nil {
		return nil, &fieldErr{"invalid", err.Error()}
	}
	if len(ids) == 1 && ids[0] == 0 {
		return []int64{}, nil
	}
	ids = dedupe(ids)
	for _, t := range ids {
		if t <= 0 || t > s.cfg.MaxTagID {
			return nil, &fieldErr{"does_not_exist", fmt.Sprintf("Tag %d does not exist (0 clears the tags only when sent alone).", t)}
		}
	}
	return ids, nil
}

// replace queues a new file for d: its processing starts one Pace from
// now, until when the previous file is served and pending_reprocess is
// "update". A file sent while another is queued replaces the queued one.
// It returns the path kept under the data dir. s.mu must be held.
func (s *Server) replace(d *document, in incoming, ext string, now int64) (string, error) {
	old := d.latest()
	oldKey := nameKey{d.ws, strings.ToLower(old.filename)}
	delete(s.names, oldKey)
	stored := s.claimName(d.ws, in.sent, now)
	v := &version{
		filename: stored, sent: in.sent, ext: ext, size: in.size, sha: in.sha,
		start: now + int64(s.cfg.Pace), n: d.versions + 1, fail: s.fails(in.sent),
	}
	var rel string
	if s.manifest != nil {
		var err error
		if rel, err = s.keep(d, v, in.tmp); err != nil {
			delete(s.names, nameKey{d.ws, strings.ToLower(stored)})
			s.names[oldKey] = struct{}{}
			return "", err
		}
	}
	s.byWS[d.ws].bytes += v.size - old.size
	d.next = v
	d.versions++
	s.stats.replaces.Add(1)
	s.stats.bytes.Add(v.size)
	return rel, nil
}

// handleDelete serves DELETE /api/v3/files/{id}: 204 without a body.
func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request) {
	var d *document
	var err error
	s.locked(func() {
		if d = s.lookup(r.PathValue("id")); d != nil {
			if err = s.remove(d, s.cfg.Now().UnixNano()); err == nil {
				s.stats.deletes.Add(1)
			}
		}
	})
	switch {
	case d == nil:
		writeError(w, http.StatusNotFound, "not_found", "File not found or not accessible.", nil)
	case err != nil:
		writeError(w, http.StatusInternalServerError, "internal_error", err.Error(), nil)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

// handleBulkDelete serves POST /api/v3/files/bulk-delete with a JSON body
// {"ids": [...]}: all or nothing. One unknown id and nothing is deleted:
// 404 naming the unknown ids. An empty list is refused with 422 (as the
// TypeScript SDK's deleteMany notes), a body that is not JSON with 400, one
// that is not {"ids": [integers]} with 422. 204 without a body on success.
func (s *Server) handleBulkDelete(w http.ResponseWriter, r *http.Request) {
	if mediaType(r) != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, "unsupported_media_type",
			fmt.Sprintf("Unsupported media type %q in request: send application/json.", r.Header.Get("Content-Type")), nil)
		return
	}
	var body map[string]json.RawMessage
	if err := json.NewDecoder(io.LimitReader(r.Body, 10<<20)).Decode(&body); err != nil || body == nil {
		writeError(w, http.StatusBadRequest, "malformed_request", "Request body is not a valid JSON object.", nil)
		return
	}
	invalid := func(code, detail string) {
		writeError(w, http.StatusUnprocessableEntity, "validation_error", "The request is invalid.",
			map[string][]fieldErr{"ids": {{code, detail}}})
	}
	raw, ok := body["ids"]
	if !ok {
		invalid("required", "This field is required.")
		return
	}
	var ids []int64
	if err := json.Unmarshal(raw, &ids); err != nil || ids == nil {
		invalid("invalid", "Must be a list of integer ids.")
		return
	}
	if len(ids) == 0 {
		invalid("empty", "This list may not be empty.")
		return
	}
	ids = dedupe(ids)
	s.mu.Lock()
	defer s.mu.Unlock()
	var missing []string
	docs := make([]*document, 0, len(ids))
	for _, id := range ids {
		d := s.lookup(strconv.FormatInt(id, 10))
		if d == nil {
			missing = append(missing, strconv.FormatInt(id, 10))
			continue
		}
		docs = append(docs, d)
	}
	if len(missing) > 0 {
		writeError(w, http.StatusNotFound, "not_found",
			"Some of the specified documents were not found: "+strings.Join(missing, ", ")+". Nothing was deleted.", nil)
		return
	}
	now := s.cfg.Now().UnixNano()
	for _, d := range docs {
		if err := s.remove(d, now); err != nil {
			writeError(w, http.StatusInternalServerError, "internal_error", err.Error(), nil)
			return
		}
		s.stats.deletes.Add(1)
	}
	s.stats.bulkDeletes.Add(1)
	w.WriteHeader(http.StatusNoContent)
}

// handleAddTags serves POST /api/v3/files/{id}/tags with {"tags": [ids]}
// (JSON, or a form with repeated tags fields): the tags are added to those
// the document has; 400 when one does not exist; 200 with the file object.
func (s *Server) handleAddTags(w http.ResponseWriter, r *http.Request) {
	if !s.exists(r.PathValue("id")) {
		writeError(w, http.StatusNotFound, "not_found", "File not found or not accessible.", nil)
		return
	}
	invalid := func(code, detail string) {
		writeError(w, http.StatusUnprocessableEntity, "validation_error", "The request is invalid.",
			map[string][]fieldErr{"tags": {{code, detail}}})
	}
	var ids []int64
	if mediaType(r) == "application/json" {
		var body map[string]json.RawMessage
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&body); err != nil || body == nil {
			writeError(w, http.StatusBadRequest, "malformed_request", "Request body is not a valid JSON object.", nil)
			return
		}
		raw, ok := body["tags"]
		if !ok {
			invalid("required", "This field is required.")
			return
		}
		if err := json.Unmarshal(raw, &ids); err != nil || ids == nil {
			invalid("invalid", "Must be a list of integer tag ids.")
			return
		}
	} else {
		f, ok, err := s.readFormBody(r)
		f.discard()
		switch {
		case !ok:
			writeError(w, http.StatusUnsupportedMediaType, "unsupported_media_type",
				fmt.Sprintf("Unsupported media type %q in request.", r.Header.Get("Content-Type")), nil)
			return
		case err != nil:
			writeError(w, http.StatusBadRequest, "malformed_request", "The body could not be read: "+err.Error(), nil)
			return
		case !f.has("tags"):
			invalid("required", "This field is required.")
			return
		}
		if ids, err = parseTags(f.values["tags"]); err != nil {
			invalid("invalid", err.Error())
			return
		}
	}
	var unknown []string
	for _, t := range ids {
		if t <= 0 || t > s.cfg.MaxTagID {
			unknown = append(unknown, strconv.FormatInt(t, 10))
		}
	}
	if len(unknown) > 0 {
		writeError(w, http.StatusBadRequest, "invalid_tags",
			"These tags do not exist or do not belong to your company: "+strings.Join(unknown, ", ")+".", nil)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.lookup(r.PathValue("id"))
	if d == nil {
		writeError(w, http.StatusNotFound, "not_found", "File not found or not accessible.", nil)
		return
	}
	now := s.cfg.Now().UnixNano()
	tags := append([]int64(nil), d.tags...)
	for _, t := range dedupe(ids) {
		if !containsID(tags, t) {
			tags = append(tags, t)
			s.tagDocs[t]++
		}
	}
	if len(tags) != len(d.tags) {
		d.tags = tags
		s.touched(d, now)
		if s.manifest != nil {
			if err := s.log(s.describe(d, "update")); err != nil {
				writeError(w, http.StatusInternalServerError, "internal_error", err.Error(), nil)
				return
			}
		}
	}
	writeJSON(w, http.StatusOK, s.fileObject(d, now, render{}))
}

// handleRemoveTag serves DELETE /api/v3/files/{id}/tags/{tag_id}: 204,
// even when the document did not carry the tag; 404 for an unknown
// document or tag.
func (s *Server) handleRemoveTag(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.lookup(r.PathValue("id"))
	if d == nil {
		writeError(w, http.StatusNotFound, "not_found", "File not found or not accessible.", nil)
		return
	}
	t, err := strconv.ParseInt(r.PathValue("tag_id"), 10, 64)
	if err != nil || t <= 0 || t > s.cfg.MaxTagID {
		writeError(w, http.StatusNotFound, "not_found", "Tag not found.", nil)
		return
	}
	if containsID(d.tags, t) {
		tags := make([]int64, 0, len(d.tags)-1)
		for _, x := range d.tags {
			if x != t {
				tags = append(tags, x)
			}
		}
		d.tags = tags
		s.tagDocs[t]--
		now := s.cfg.Now().UnixNano()
		s.touched(d, now)
		if s.manifest != nil {
			if err := s.log(s.describe(d, "update")); err != nil {
				writeError(w, http.StatusInternalServerError, "internal_error", err.Error(), nil)
				return
			}
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// exists reports whether a live document has that id.
func (s *Server) exists(rawID string) bool {
	found := false
	s.locked(func() { found = s.lookup(rawID) != nil })
	return found
}
