// Package devserver is a local stand-in for Paradigm's V3 Files API, as
// documented in shared/reference: uploads (multipart, bearer key, workspace
// and size and type checks, idempotent re-upload by external id, renaming on
// a filename collision, upload sessions), simulated background processing,
// listing with filters and page-number pagination, retrieval, and
// workspaces. It can inject faults (latency, throttling, 503s, dropped
// connections before and after a document is stored), reproducibly from a
// seed. It serves the demo, the end-to-end tests and the benchmarks.
package devserver

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"hash/fnv"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/paradigm-upload/paradigm-upload/internal/formats"
)

// Workspace is a workspace the server knows.
type Workspace struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
	Type string `json:"workspace_type"`
}

// Config configures a Server. Zero values get the defaults noted.
type Config struct {
	APIKey string
	// MaxSize is the largest file accepted (the instance's MAX_DOCUMENT_SIZE);
	// 25 MB when zero.
	MaxSize int64
	// Workspaces are the workspaces the key can use; 1 (personal) and 42
	// (custom) when empty.
	Workspaces []Workspace
	// MaxTagID is the largest tag id that exists; larger ones are not
	// applied (answer 207). 1000 when zero.
	MaxTagID int64
	// Pace is the time a document spends in each processing stage
	// (pending, parsing, embedding); 500ms when zero, so a document is
	// embedded within 1.5 s.
	Pace time.Duration
	// FailPattern is a glob matched against the uploaded file name;
	// matching documents end in parsing_failed.
	FailPattern string
	// SessionIdle closes an upload session after this long without an
	// upload; 30 s when zero.
	SessionIdle time.Duration

	Latency      time.Duration // added to every API request
	ThrottleRate float64       // share of requests answered 429
	RetryAfter   time.Duration // Retry-After of a 429; 1 s when zero
	ErrorRate    float64       // share of requests answered 503
	ResetRate    float64       // share of uploads whose connection is dropped
	Seed         uint64

	// DataDir keeps received files and a manifest; nothing is kept on disk
	// when empty.
	DataDir string
	// Discard keeps only counts and hashes of what arrives (benchmarks).
	Discard bool

	Now func() time.Time
}

type document struct {
	ID          int64
	Filename    string
	Sent        string // the name the client sent
	Title       string
	Ext         string
	WorkspaceID int64
	Size        int64
	SHA256      string
	Tags        []int64
	Session     string
	External    *extMeta
	ExternalID  string
	Parser      string
	Fail        bool
	Created     time.Time
}

// Stats counts what the server saw.
type Stats struct {
	Requests       int64 `json:"requests"`        // API requests (not those to /_devserver/)
	Uploads        int64 `json:"uploads"`         // POSTs that created a document
	Idempotent     int64 `json:"idempotent_hits"` // POSTs answered 200 with an existing document
	Documents      int64 `json:"documents"`
	Bytes          int64 `json:"bytes"`
	Throttled      int64 `json:"throttled"`
	Errors503      int64 `json:"errors_503"`
	ResetsBefore   int64 `json:"resets_before_store"`
	ResetsAfter    int64 `json:"resets_after_store"`
	Unauthorized   int64 `json:"unauthorized"`
	Rejected       int64 `json:"rejected"` // 4xx answers to uploads other than 401
	DuplicateNames int64 `json:"duplicate_names"`
}

// Server is the stand-in. It is an http.Handler.
type Server struct {
	cfg Config
	mux *http.ServeMux

	mu       sync.Mutex
	docs     []*document // by id - 1
	byExt    map[string]*document
	names    map[string]bool // workspace/filename in use
	sessions map[int64]*session
	seen     map[string]int // how often each request was seen, for fault draws
	manifest *os.File

	stats struct {
		requests, uploads, idempotent, bytes, throttled, errors503, resetsBefore, resetsAfter,
		unauthorized, rejected, dupNames atomic.Int64
	}
}

type session struct {
	uuid string
	last time.Time
}

// New returns a server for cfg.
func New(cfg Config) (*Server, error) {
	if cfg.MaxSize == 0 {
		cfg.MaxSize = 25_000_000
	}
	if len(cfg.Workspaces) == 0 {
		cfg.Workspaces = []Workspace{{1, "Personal", "personal"}, {42, "Demo workspace", "custom"}}
	}
	if cfg.MaxTagID == 0 {
		cfg.MaxTagID = 1000
	}
	if cfg.Pace == 0 {
		cfg.Pace = 500 * time.Millisecond
	}
	if cfg.SessionIdle == 0 {
		cfg.SessionIdle = 30 * time.Second
	}
	if cfg.RetryAfter == 0 {
		cfg.RetryAfter = time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.FailPattern != "" {
		if _, err := path.Match(cfg.FailPattern, "x"); err != nil {
			return nil, fmt.Errorf("fail pattern %q: %w", cfg.FailPattern, err)
		}
	}
	s := &Server{
		cfg: cfg, byExt: map[string]*document{}, names: map[string]bool{}, sessions: map[int64]*session{},
		seen: map[string]int{},
	}
	if cfg.DataDir != "" && !cfg.Discard {
		if err := os.MkdirAll(filepath.Join(cfg.DataDir, "files"), 0o755); err != nil {
			return nil, err
		}
		m, err := os.OpenFile(filepath.Join(cfg.DataDir, "manifest.jsonl"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, err
		}
		s.manifest = m
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v3/files", s.authOnly(s.handleUpload))
	mux.HandleFunc("GET /api/v3/files", s.api(s.handleList))
	mux.HandleFunc("GET /api/v3/files/{id}", s.api(s.handleGet))
	mux.HandleFunc("GET /api/v3/workspaces", s.api(s.handleWorkspaces))
	mux.HandleFunc("GET /_devserver/stats", s.handleStats)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "No such endpoint on this devserver.", nil)
	})
	s.mux = mux
	return s, nil
}

// Close releases the manifest.
func (s *Server) Close() error {
	if s.manifest != nil {
		return s.manifest.Close()
	}
	return nil
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.URL.Path, "/_devserver/") {
		s.stats.requests.Add(1)
	}
	s.mux.ServeHTTP(w, r)
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	n := int64(len(s.docs))
	s.mu.Unlock()
	st := &s.stats
	return Stats{
		Requests: st.requests.Load(), Uploads: st.uploads.Load(), Idempotent: st.idempotent.Load(),
		Documents: n, Bytes: st.bytes.Load(), Throttled: st.throttled.Load(), Errors503: st.errors503.Load(),
		ResetsBefore: st.resetsBefore.Load(), ResetsAfter: st.resetsAfter.Load(),
		Unauthorized: st.unauthorized.Load(), Rejected: st.rejected.Load(), DuplicateNames: st.dupNames.Load(),
	}
}

func (s *Server) handleStats(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.Stats())
}

// fault is what the server does to one request.
type fault struct {
	throttle, unavailable, resetBefore, resetAfter bool
}

// decide draws the faults of a request from the seed and the request's
// identity (key) and how many times that same request came before, so a
// run is reproducible whatever order concurrent requests arrive in.
func (s *Server) decide(key string, upload bool) fault {
	c := s.cfg
	if !s.faulty(upload) {
		return fault{}
	}
	s.mu.Lock()
	n := s.seen[key]
	s.seen[key] = n + 1
	s.mu.Unlock()
	h := fnv.New64a()
	fmt.Fprintf(h, "%d\x00%s\x00%d", c.Seed, key, n)
	rng := mrand.New(mrand.NewPCG(h.Sum64(), c.Seed))
	f := fault{throttle: rng.Float64() < c.ThrottleRate}
	f.unavailable = !f.throttle && rng.Float64() < c.ErrorRate
	if upload && !f.throttle && !f.unavailable && rng.Float64() < c.ResetRate {
		if rng.Float64() < 0.5 {
			f.resetAfter = true
		} else {
			f.resetBefore = true
		}
	}
	return f
}

// faulty reports whether any fault may be injected into such a request.
func (s *Server) faulty(upload bool) bool {
	c := s.cfg
	return c.ThrottleRate > 0 || c.ErrorRate > 0 || upload && c.ResetRate > 0
}

// refuse answers a throttled or unavailable request; it reports whether it
// did.
func (s *Server) refuse(w http.ResponseWriter, f fault) bool {
	switch {
	case f.throttle:
		s.stats.throttled.Add(1)
		w.Header().Set("Retry-After", retryAfterValue(s.cfg.RetryAfter))
		writeError(w, http.StatusTooManyRequests, "rate_limited", "Too many requests; retry later.", nil)
	case f.unavailable:
		s.stats.errors503.Add(1)
		writeError(w, http.StatusServiceUnavailable, "service_unavailable", "The service is temporarily unavailable.", nil)
	default:
		return false
	}
	return true
}

// authOnly checks the bearer key.
func (s *Server) authOnly(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+s.cfg.APIKey {
			s.stats.unauthorized.Add(1)
			writeError(w, http.StatusUnauthorized, "authentication_failed", "Invalid or missing API key.", nil)
			return
		}
		h(w, r)
	}
}

// api wraps a read endpoint with the key check and injected faults.
func (s *Server) api(h http.HandlerFunc) http.HandlerFunc {
	return s.authOnly(func(w http.ResponseWriter, r *http.Request) {
		if s.refuse(w, s.decide(r.Method+" "+r.URL.RequestURI(), false)) {
			return
		}
		h(w, r)
	})
}

func (s *Server) sleepLatency(r *http.Request) {
	if s.cfg.Latency <= 0 {
		return
	}
	t := time.NewTimer(s.cfg.Latency)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
	}
}

// retryAfterValue renders a Retry-After in whole seconds, as the service
// does; below a second (a knob for fast tests) it is a decimal.
func retryAfterValue(d time.Duration) string {
	if d < time.Second {
		return strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
	}
	return strconv.Itoa(int(d.Round(time.Second) / time.Second))
}

// reset drops the client's connection without an answer, as a crashed
// proxy or a network cut would.
func reset(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0) // send RST, not FIN
	}
	conn.Close()
}

type fieldErr struct {
	Error  string `json:"error"`
	Detail string `json:"detail"`
}

// writeError answers in the documented {id, code, error, detail, doc_url}
// shape, with per-field errors for a 422.
func writeError(w http.ResponseWriter, status int, kind, detail string, fields map[string][]fieldErr) {
	var id [16]byte
	_, _ = rand.Read(id[:])
	body := map[string]any{
		"id": hex.EncodeToString(id[:]), "code": status, "error": kind, "detail": detail,
		"doc_url": "https://docs.lighton.ai/api-reference/errors#" + kind,
	}
	if fields != nil {
		body["fields"] = fields
	}
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// upload is what the multipart body carried.
type upload struct {
	workspace, parser, title, filename, extMeta string
	tags                                        []string
	sent                                        string
	size                                        int64
	sha                                         string
	tmp                                         string
	haveFile                                    bool
	tooLarge                                    bool
}

func (s *Server) handleUpload(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength > s.cfg.MaxSize+1<<20 {
		s.stats.rejected.Add(1)
		writeError(w, http.StatusRequestEntityTooLarge, "file_too_large",
			fmt.Sprintf("The file exceeds the maximum document size of %d bytes.", s.cfg.MaxSize), nil)
		return
	}
	// Faults are drawn once the fields before the file tell which document
	// this is (its external id, else its workspace and name).
	var f fault
	up, err := s.readUpload(r, func(up *upload) bool {
		if !s.faulty(true) {
			return true
		}
		key := up.workspace + "/" + up.sent
		if id := externalIDOf(up.extMeta); id != "" {
			key = up.workspace + "/" + id
		}
		f = s.decide("POST "+key, true)
		return !f.throttle && !f.unavailable && !f.resetBefore
	})
	if up.tmp != "" {
		defer os.Remove(up.tmp)
	}
	switch {
	case s.refuse(w, f):
		return
	case f.resetBefore:
		// Part of the request was read; the connection drops: nothing stored.
		s.stats.resetsBefore.Add(1)
		reset(w)
		return
	}
	if err != nil {
		s.stats.rejected.Add(1)
		writeError(w, http.StatusBadRequest, "malformed_request", "The multipart body could not be read: "+err.Error(), nil)
		return
	}
	if up.tooLarge {
		s.stats.rejected.Add(1)
		writeError(w, http.StatusRequestEntityTooLarge, "file_too_large",
			fmt.Sprintf("The file exceeds the maximum document size of %d bytes.", s.cfg.MaxSize), nil)
		return
	}
	fields := map[string][]fieldErr{}
	wsID, err := strconv.ParseInt(strings.TrimSpace(up.workspace), 10, 64)
	switch {
	case up.workspace == "":
		fields["workspace_id"] = []fieldErr{{"required", "This field is required."}}
	case err != nil:
		fields["workspace_id"] = []fieldErr{{"invalid", "A valid integer is required."}}
	case s.workspace(wsID) == nil:
		fields["workspace_id"] = []fieldErr{{"does_not_exist", fmt.Sprintf("Workspace %d does not exist or you cannot use it.", wsID)}}
	}
	if !up.haveFile {
		fields["file"] = []fieldErr{{"required", "No file was submitted."}}
	}
	tags, terr := parseTags(up.tags)
	if terr != nil {
		fields["tags"] = []fieldErr{{"invalid", terr.Error()}}
	}
	var ext *extMeta
	extID := ""
	if up.extMeta != "" {
		ext = &extMeta{}
		if err := json.Unmarshal([]byte(up.extMeta), ext); err != nil {
			fields["external_metadata"] = []fieldErr{{"invalid", "Must be a JSON object with a string external_id."}}
		} else if ext.ExternalID == "" {
			fields["external_metadata"] = []fieldErr{{"required", "external_id is required in external_metadata."}}
		} else {
			extID = ext.ExternalID
		}
	}
	name := up.sent
	if up.filename != "" {
		name = up.filename
	}
	if len(fields) > 0 {
		s.stats.rejected.Add(1)
		writeError(w, http.StatusUnprocessableEntity, "validation_error", "The request is invalid.", fields)
		return
	}
	extn := strings.TrimPrefix(strings.ToLower(path.Ext(name)), ".")
	if !formats.Supported(extn) {
		s.stats.rejected.Add(1)
		writeError(w, http.StatusUnprocessableEntity, "unsupported_file_type",
			fmt.Sprintf("Files of type %q are not supported.", extn),
			map[string][]fieldErr{"file": {{"unsupported_file_type", "Unsupported file extension."}}})
		return
	}
	s.sleepLatency(r)

	d, created, err := s.store(up, name, extn, wsID, tags, ext, extID)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal_error", err.Error(), nil)
		return
	}
	if f.resetAfter {
		// Stored, but the answer never reaches the client.
		s.stats.resetsAfter.Add(1)
		reset(w)
		return
	}
	status, msg := http.StatusCreated, "File queued for processing"
	if !created {
		status, msg = http.StatusOK, "File already uploaded (matched by external_metadata.external_id)"
	} else {
		for _, t := range tags {
			if t > s.cfg.MaxTagID {
				status, msg = http.StatusMultiStatus, "File queued for processing, but some tags could not be applied"
				break
			}
		}
	}
	obj := s.fileObject(d, s.cfg.Now())
	obj.Message = msg
	writeJSON(w, status, obj)
}

func parseTags(raw []string) ([]int64, error) {
	var out []int64
	for _, t := range raw {
		t = strings.TrimSpace(t)
		if strings.HasPrefix(t, "[") {
			var ids []int64
			if err := json.Unmarshal([]byte(t), &ids); err != nil {
				return nil, fmt.Errorf("%q is not a list of tag ids", t)
			}
			out = append(out, ids...)
			continue
		}
		id, err := strconv.ParseInt(t, 10, 64)
		if err != nil || id <= 0 {
			return nil, fmt.Errorf("%q is not a tag id", t)
		}
		out = append(out, id)
	}
	return out, nil
}

// externalIDOf reads external_metadata.external_id, if any.
func externalIDOf(text string) string {
	var m struct {
		ExternalID string `json:"external_id"`
	}
	if text == "" || json.Unmarshal([]byte(text), &m) != nil {
		return ""
	}
	return m.ExternalID
}

// readUpload reads the multipart body, streaming the file part to a
// temporary file (or nowhere, with Discard) while hashing it. atFile is
// called when the file part begins; when it returns false, reading stops.
func (s *Server) readUpload(r *http.Request, atFile func(*upload) bool) (upload, error) {
	var up upload
	mr, err := r.MultipartReader()
	if err != nil {
		return up, err
	}
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return up, nil
		}
		if err != nil {
			return up, err
		}
		name := p.FormName()
		if name == "file" {
			up.haveFile = true
			up.sent = p.FileName()
			if !atFile(&up) {
				return up, nil
			}
			if err := s.readFile(p, &up); err != nil {
				return up, err
			}
			if up.tooLarge {
				return up, nil
			}
			continue
		}
		b, err := io.ReadAll(io.LimitReader(p, 1<<20))
		if err != nil {
			return up, err
		}
		v := string(b)
		switch name {
		case "workspace_id":
			up.workspace = v
		case "tags":
			up.tags = append(up.tags, v)
		case "parser":
			up.parser = v
		case "title":
			up.title = v
		case "filename":
			up.filename = v
		case "external_metadata":
			up.extMeta = v
		}
	}
}

func (s *Server) readFile(p io.Reader, up *upload) error {
	h := sha256.New()
	var dst io.Writer = h
	var f *os.File
	if s.manifest != nil {
		var err error
		f, err = os.CreateTemp(filepath.Join(s.cfg.DataDir, "files"), ".incoming-*")
		if err != nil {
			return err
		}
		up.tmp = f.Name()
		defer f.Close()
		dst = io.MultiWriter(h, f)
	}
	n, err := io.Copy(dst, io.LimitReader(p, s.cfg.MaxSize+1))
	if err != nil {
		return err
	}
	up.size = n
	if n > s.cfg.MaxSize {
		up.tooLarge = true
		return nil
	}
	up.sha = hexSum(h)
	return nil
}

func hexSum(h hash.Hash) string { return hex.EncodeToString(h.Sum(nil)) }

func (s *Server) workspace(id int64) *Workspace {
	for i := range s.cfg.Workspaces {
		if s.cfg.Workspaces[i].ID == id {
			return &s.cfg.Workspaces[i]
		}
	}
	return nil
}

// store records the document, or returns the existing one with the same
// external id in the workspace (created is then false). The check and the
// insert are one step, so concurrent repeats cannot both create.
func (s *Server) store(up upload, name, ext string, ws int64, tags []int64, extMeta *extMeta, extID string) (*document, bool, error) {
	now := s.cfg.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if extID != "" {
		if d, ok := s.byExt[strconv.FormatInt(ws, 10)+"/"+extID]; ok {
			s.stats.idempotent.Add(1)
			return d, false, nil
		}
	}
	stored := name
	if s.names[strconv.FormatInt(ws, 10)+"/"+strings.ToLower(stored)] {
		s.stats.dupNames.Add(1)
		var suffix [2]byte
		_, _ = rand.Read(suffix[:])
		stem := strings.TrimSuffix(name, path.Ext(name))
		stored = fmt.Sprintf("%s_%s_%s%s", stem, now.UTC().Format("20060102"), hex.EncodeToString(suffix[:]), path.Ext(name))
	}
	title := up.title
	if title == "" {
		title = strings.TrimSuffix(name, path.Ext(name))
	}
	d := &document{
		ID: int64(len(s.docs) + 1), Filename: stored, Sent: name, Title: title, Ext: ext, WorkspaceID: ws,
		Size: up.size, SHA256: up.sha, Tags: tags, External: extMeta, ExternalID: extID, Parser: up.parser,
		Created: now, Session: s.sessionFor(ws, now),
	}
	if s.cfg.FailPattern != "" {
		d.Fail, _ = path.Match(s.cfg.FailPattern, name)
	}
	if s.manifest != nil {
		dir := filepath.Join(s.cfg.DataDir, "files", strconv.FormatInt(d.ID, 10))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, false, err
		}
		if err := os.Rename(up.tmp, filepath.Join(dir, filepath.Base(stored))); err != nil {
			return nil, false, err
		}
		line, _ := json.Marshal(map[string]any{
			"id": d.ID, "filename": d.Filename, "sent_filename": d.Sent, "workspace_id": ws, "size": d.Size,
			"sha256": d.SHA256, "tags": tags, "external_id": extID, "upload_session_uuid": d.Session,
			"parser": d.Parser, "path": filepath.Join("files", strconv.FormatInt(d.ID, 10), filepath.Base(stored)),
		})
		if _, err := s.manifest.Write(append(line, '\n')); err != nil {
			return nil, false, err
		}
	}
	s.docs = append(s.docs, d)
	if extID != "" {
		s.byExt[strconv.FormatInt(ws, 10)+"/"+extID] = d
	}
	s.names[strconv.FormatInt(ws, 10)+"/"+strings.ToLower(stored)] = true
	s.stats.uploads.Add(1)
	s.stats.bytes.Add(up.size)
	return d, true, nil
}

// sessionFor returns the workspace's open upload session, opening a new one
// after SessionIdle without uploads. s.mu must be held.
func (s *Server) sessionFor(ws int64, now time.Time) string {
	ss := s.sessions[ws]
	if ss == nil || now.Sub(ss.last) > s.cfg.SessionIdle {
		ss = &session{uuid: newUUID()}
		s.sessions[ws] = ss
	}
	ss.last = now
	return ss.uuid
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// status derives a document's processing status from its age, so
// processing needs no background goroutine and is exact under test.
func (s *Server) status(d *document, now time.Time) (status, detail string) {
	age := now.Sub(d.Created)
	p := s.cfg.Pace
	switch {
	case age < p:
		return "pending", ""
	case age < 2*p:
		return "parsing", ""
	case d.Fail:
		return "parsing_failed", "Failed to parse " + d.Ext + ": the document is corrupted or encrypted (simulated by the devserver)"
	case age < 3*p:
		return "embedding", ""
	default:
		return "embedded", ""
	}
}

// extMeta is external_metadata as received and as answered.
type extMeta struct {
	ExternalID         string          `json:"external_id"`
	DocType            string          `json:"doc_type"`
	AdditionalMetadata json.RawMessage `json:"additional_metadata"`
}

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

// fileJSON is the service's file object, with every field
// FileRetrieveResponseSerializerV3 marks required always present.
type fileJSON struct {
	ID                int64      `json:"id"`
	Filename          string     `json:"filename"`
	Workspace         Workspace  `json:"workspace"`
	Summaries         []struct{} `json:"summaries"`
	Title             string     `json:"title"`
	Extension         string     `json:"extension"`
	Status            string     `json:"status"`
	StatusVision      string     `json:"status_vision"`
	CreatedAt         string     `json:"created_at"`
	UpdatedAt         string     `json:"updated_at"`
	TotalPages        int        `json:"total_pages"`
	Size              int64      `json:"size"`
	Tags              []tagJSON  `json:"tags"`
	CreatedBy         userJSON   `json:"created_by"`
	UploadSessionUUID string     `json:"upload_session_uuid"`
	Signature         *string    `json:"signature"`
	ExternalMetadata  *extMeta   `json:"external_metadata"`
	Parser            string     `json:"parser,omitempty"`
	StatusDetail      string     `json:"status_detail,omitempty"`
	Message           string     `json:"message,omitempty"`
}

var devUser = userJSON{ID: 1, FirstName: "Dev", LastName: "Server", Username: "devserver"}

// fileObject renders a document as the service's file object.
func (s *Server) fileObject(d *document, now time.Time) *fileJSON {
	st, detail := s.status(d, now)
	tags := []tagJSON{}
	for _, t := range d.Tags {
		if t <= s.cfg.MaxTagID {
			tags = append(tags, tagJSON{ID: t, Name: "tag-" + strconv.FormatInt(t, 10)})
		}
	}
	updated := d.Created
	if st != "pending" {
		updated = now
	}
	pages := 0
	if st == "embedded" || st == "embedding" {
		pages = 1 + int(d.Size/3000)
	}
	return &fileJSON{
		ID: d.ID, Filename: d.Filename, Workspace: *s.workspace(d.WorkspaceID), Summaries: []struct{}{},
		Title: d.Title, Extension: d.Ext, Status: st, StatusVision: "-",
		CreatedAt: d.Created.UTC().Format(time.RFC3339Nano), UpdatedAt: updated.UTC().Format(time.RFC3339Nano),
		TotalPages: pages, Size: d.Size, Tags: tags, CreatedBy: devUser, UploadSessionUUID: d.Session,
		ExternalMetadata: d.External, Parser: d.Parser, StatusDetail: detail,
	}
}

func (s *Server) handleGet(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	s.mu.Lock()
	var d *document
	if err == nil && id >= 1 && id <= int64(len(s.docs)) {
		d = s.docs[id-1]
	}
	s.mu.Unlock()
	if d == nil {
		writeError(w, http.StatusNotFound, "not_found", "File not found or not accessible.", nil)
		return
	}
	s.sleepLatency(r)
	writeJSON(w, http.StatusOK, s.fileObject(d, s.cfg.Now()))
}

func (s *Server) handleList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	page, pageSize := 1, 50
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeError(w, http.StatusNotFound, "invalid_page", "Invalid page.", nil)
			return
		}
		page = n
	}
	if v := q.Get("page_size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, "invalid_page_size", "page_size must be a positive integer.", nil)
			return
		}
		pageSize = min(n, 1000)
	}
	var workspaces map[int64]bool
	if v := q.Get("workspace_id"); v != "" {
		workspaces = map[int64]bool{}
		for _, p := range strings.Split(v, ",") {
			n, err := strconv.ParseInt(strings.TrimSpace(p), 10, 64)
			if err != nil {
				writeError(w, http.StatusBadRequest, "invalid_filter", "workspace_id must be comma-separated integers.", nil)
				return
			}
			workspaces[n] = true
		}
	}
	var statuses map[string]bool
	if v := q.Get("status"); v != "" {
		statuses = map[string]bool{}
		for _, p := range strings.Split(v, ",") {
			statuses[strings.TrimSpace(p)] = true
		}
	}
	session, extID := q.Get("upload_session_uuid"), q.Get("external_metadata__external_id")
	filename, title := strings.ToLower(q.Get("filename")), strings.ToLower(q.Get("title"))
	now := s.cfg.Now()

	s.mu.Lock()
	var match []*document
	for i := len(s.docs) - 1; i >= 0; i-- { // newest first, as the service orders by -created_at
		d := s.docs[i]
		switch {
		case workspaces != nil && !workspaces[d.WorkspaceID],
			session != "" && d.Session != session,
			extID != "" && d.ExternalID != extID,
			filename != "" && !strings.Contains(strings.ToLower(d.Filename), filename),
			title != "" && !strings.Contains(strings.ToLower(d.Title), title):
			continue
		}
		if statuses != nil {
			if st, _ := s.status(d, now); !statuses[st] {
				continue
			}
		}
		match = append(match, d)
	}
	s.mu.Unlock()

	count := len(match)
	from := (page - 1) * pageSize
	if from >= count && page != 1 {
		writeError(w, http.StatusNotFound, "invalid_page", "Invalid page.", nil)
		return
	}
	to := min(from+pageSize, count)
	results := make([]*fileJSON, 0, max(0, to-from))
	for _, d := range match[min(from, count):to] {
		results = append(results, s.fileObject(d, now))
	}
	link := func(p int) any {
		u := *r.URL
		u.Scheme, u.Host = "http", r.Host
		qq := u.Query()
		qq.Set("page", strconv.Itoa(p))
		u.RawQuery = qq.Encode()
		return u.String()
	}
	var next, prev any
	if to < count {
		next = link(page + 1)
	}
	if page > 1 {
		prev = link(page - 1)
	}
	s.sleepLatency(r)
	writeJSON(w, http.StatusOK, map[string]any{
		"count": count, "next": next, "previous": prev, "results": results, "page": page, "page_size": pageSize,
	})
}

func (s *Server) handleWorkspaces(w http.ResponseWriter, _ *http.Request) {
	ws := append([]Workspace(nil), s.cfg.Workspaces...)
	sort.Slice(ws, func(i, j int) bool { return ws[i].ID < ws[j].ID })
	writeJSON(w, http.StatusOK, map[string]any{"count": len(ws), "next": nil, "previous": nil, "results": ws})
}
