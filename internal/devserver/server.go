// Package devserver is a local stand-in for Paradigm's V3 Files API, as the
// documents in shared/reference describe it and its API-NOTES.md settles it.
// It owns:
//
//   - the routes it serves, each answering in the service's shapes (file,
//     workspace, tag and error objects, the maintenance 503): uploads with
//     their checks (key, workspace, size, type), idempotent re-upload by
//     external id, renaming on a filename collision and upload sessions;
//     listing files with every documented filter (honoured, or refused with
//     400) and page-number pagination; retrieval and download; PATCH (title,
//     tags, external metadata, content replaced in place) and deletion, one
//     by one or all-or-nothing in bulk; file tags and the tag list;
//     workspaces;
//   - simulated background processing: a document's status, and the
//     pending_reprocess window after a replacement, derive from its age, so
//     no goroutine runs and tests drive it with Config.Now;
//   - a per-key request quota (token bucket) answering 429 with Retry-After,
//     maintenance windows (503, dropped connections, or, through Serve, a
//     listener that refuses connections), and injected faults (latency,
//     throttling, 503s, connections dropped before and after a document is
//     stored) reproducible from a seed;
//   - a workspace shared with others and a faulty or older instance
//     (adversary.go): another uploader adding and deleting documents while
//     lists are read, a workspace filter ignored, next links that loop,
//     external metadata dropped, a PATCH that refuses a file;
//   - what arrived: counters, the current documents, and with DataDir every
//     version of every file and a manifest of what happened;
//   - its command's settings (Flags): checked into a Config, listened on
//     and served (cmd only binds them to flags);
//   - the /_devserver/ endpoints that tests and benchmarks read and steer:
//     among them documents made as another client would, and a snapshot
//     to restore (ids then reused).
//
// It serves the demo, the end-to-end tests and the benchmarks.
package devserver

import (
	"crypto/subtle"
	"fmt"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Workspace is a workspace the server knows.
type Workspace struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
	// Type is personal, shared or public (the values of the service's
	// workspace_type filter).
	Type string `json:"workspace_type"`
}

// Config configures a Server. Zero values get the defaults noted.
type Config struct {
	// APIKey is the key clients must send. It never appears in an answer or
	// a log.
	APIKey string
	// MaxSize is the largest file accepted (the instance's MAX_DOCUMENT_SIZE);
	// 25 MB when zero.
	MaxSize int64
	// Workspaces are the workspaces the key can use; 1 (personal) and 42
	// (shared) when empty.
	Workspaces []Workspace
	// MaxTagID is the largest tag id that exists (tags 1 to MaxTagID exist);
	// 1000 when zero.
	MaxTagID int64
	// Pace is the time a document spends in each processing stage
	// (pending, parsing, embedding), and the time a replaced file waits
	// before its processing starts; 500ms when zero.
	Pace time.Duration
	// FailPattern is a glob matched against the uploaded file name;
	// matching documents end in parsing_failed.
	FailPattern string
	// SessionIdle closes an upload session after this long without an
	// upload; 30 s when zero.
	SessionIdle time.Duration

	Latency      time.Duration // added to every API request
	ThrottleRate float64       // share of requests answered 429
	// ThrottleEvery answers 429 to every nth API request, whatever the
	// pace (a load shedder that counts): 0, none.
	ThrottleEvery int
	RetryAfter    time.Duration // Retry-After of a random 429; 1 s when zero
	ErrorRate     float64       // share of requests answered 503
	ResetRate     float64       // share of uploads whose connection is dropped
	Seed          uint64

	// The stand-in as a shared or faulty instance (adversary.go):
	//
	// ListChurn is another uploader at work while lists are read: N of its
	// documents in every workspace from the start, then before each list
	// page after the first, N more, or its N oldest deleted, in turn.
	ListChurn int
	// MaxPageSize lowers a larger page_size silently, as Django REST
	// Framework's max_page_size does; 1000 when zero.
	MaxPageSize int
	// IgnoreWorkspaceFilter makes GET /api/v3/files list every workspace's
	// documents whatever workspace_id says.
	IgnoreWorkspaceFilter bool
	// NextLoop bends the next link of list pages after the first.
	NextLoop NextLoop
	// DropExternalMetadata stores uploads without their external_metadata
	// and answers without it.
	DropExternalMetadata bool
	// OldPatchSchema refuses a PATCH that sends a file (400), as the older
	// OpenAPI schema lists file among the immutable fields.
	OldPatchSchema bool

	// Quota limits the API requests of each key; none when PerMinute is 0.
	Quota Quota
	// Outages are maintenance windows, counted from the server's start.
	Outages []Outage

	// DataDir keeps every version of every received file and a manifest;
	// nothing is kept on disk when empty.
	DataDir string
	// Discard keeps only counts and hashes of what arrives (benchmarks).
	Discard bool

	Now func() time.Time
}

// Stats counts what the server saw.
type Stats struct {
	Requests       int64 `json:"requests"`        // requests other than those to /_devserver/
	Uploads        int64 `json:"uploads"`         // POSTs that created a document
	Idempotent     int64 `json:"idempotent_hits"` // POSTs answered 200 with an existing document
	Documents      int64 `json:"documents"`       // documents that exist now (not deleted)
	Bytes          int64 `json:"bytes"`           // bytes of stored files, first versions and replacements
	Throttled      int64 `json:"throttled"`       // every 429: random throttling and quota refusals
	Errors503      int64 `json:"errors_503"`      // every 503: random errors and maintenance windows
	ResetsBefore   int64 `json:"resets_before_store"`
	ResetsAfter    int64 `json:"resets_after_store"`
	Unauthorized   int64 `json:"unauthorized"`
	Rejected       int64 `json:"rejected"` // 4xx answers to uploads other than 401
	DuplicateNames int64 `json:"duplicate_names"`
	QuotaRefused   int64 `json:"quota_refused"`         // 429s of the quota
	Outage503      int64 `json:"outage_503"`            // 503s of maintenance windows
	OutageResets   int64 `json:"outage_resets"`         // connections dropped by maintenance windows
	ListenerStops  int64 `json:"outage_listener_stops"` // times Serve stopped listening for a refuse window
	Patches        int64 `json:"patches"`               // PATCHes applied
	Replaces       int64 `json:"replaces"`              // PATCHes that replaced the file
	Deletes        int64 `json:"deletes"`               // documents deleted, one by one or in bulk
	BulkDeletes    int64 `json:"bulk_deletes"`          // bulk-delete calls applied
	Seeded         int64 `json:"seeded"`                // documents made by POST /_devserver/documents
	ChurnCreated   int64 `json:"churn_created"`         // documents --list-churn's other uploader made
	ChurnDeleted   int64 `json:"churn_deleted"`         // and deleted
	LoopedNext     int64 `json:"looped_next"`           // next links --next-loop bent
	Restores       int64 `json:"restores"`              // POST /_devserver/restore applied
}

// Server is the stand-in. It is an http.Handler.
type Server struct {
	cfg   Config
	start time.Time // Now() at New; outage windows count from it
	mux   *http.ServeMux

	mu          sync.Mutex
	all         *index // every document ever created, by id - 1
	byWS        map[int64]*index
	bySession   map[string]*index
	byExt       map[extKey][]*document // live documents by external id, oldest first
	names       map[nameKey]struct{}   // stored file names in use
	sessions    map[int64]*session
	seen        map[string]int // how often each request was seen, for fault draws
	counted     int            // API requests seen, for ThrottleEvery
	tagDocs     map[int64]int  // live documents carrying each tag
	lastCreated int64          // creation times never go back, so id order is time order
	caches      map[cacheKey]*sortCache
	filtered    *filterCache // the last filtered list, for its next pages
	manifest    *os.File
	churned     map[int64][]*document // live documents of --list-churn, by workspace, oldest first
	churnSeq    int64                 // documents --list-churn made
	churnEvents int64                 // list pages it acted before
	churnUUID   string                // the other uploader's upload session
	seedUUID    string                // the upload session of POST /_devserver/documents
	saved       *snapshot             // POST /_devserver/snapshot

	quota   quotaState
	outages outageState

	stats struct {
		requests, uploads, idempotent, bytes, throttled, errors503, resetsBefore, resetsAfter,
		unauthorized, rejected, dupNames, quotaRefused, outage503, outageResets, listenerStops,
		patches, replaces, deletes, bulkDeletes, seeded, churnCreated, churnDeleted, loopedNext,
		restores atomic.Int64
	}
}

type session struct {
	uuid string
	last int64
}

// New returns a server for cfg.
func New(cfg Config) (*Server, error) {
	if cfg.MaxSize == 0 {
		cfg.MaxSize = 25_000_000
	}
	if len(cfg.Workspaces) == 0 {
		cfg.Workspaces = []Workspace{{1, "Personal", "personal"}, {42, "Demo workspace", "shared"}}
	}
	cfg.Workspaces = append([]Workspace(nil), cfg.Workspaces...)
	sort.Slice(cfg.Workspaces, func(i, j int) bool { return cfg.Workspaces[i].ID < cfg.Workspaces[j].ID })
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
	if cfg.MaxPageSize == 0 {
		cfg.MaxPageSize = 1000
	}
	if cfg.ListChurn < 0 || cfg.MaxPageSize < 0 {
		return nil, fmt.Errorf("list churn and max page size must not be negative")
	}
	if err := cfg.NextLoop.check(); err != nil {
		return nil, err
	}
	if cfg.FailPattern != "" {
		if _, err := path.Match(cfg.FailPattern, "x"); err != nil {
			return nil, fmt.Errorf("fail pattern %q: %w", cfg.FailPattern, err)
		}
	}
	if err := cfg.Quota.check(); err != nil {
		return nil, err
	}
	for _, o := range cfg.Outages {
		if err := o.check(); err != nil {
			return nil, err
		}
	}
	s := &Server{
		cfg: cfg, start: cfg.Now(), all: &index{}, byWS: map[int64]*index{}, bySession: map[string]*index{},
		byExt: map[extKey][]*document{},
		names: map[nameKey]struct{}{}, sessions: map[int64]*session{}, seen: map[string]int{},
		tagDocs: map[int64]int{}, caches: map[cacheKey]*sortCache{}, churned: map[int64][]*document{},
		churnUUID: newUUID(), seedUUID: newUUID(),
	}
	for _, w := range cfg.Workspaces {
		s.byWS[w.ID] = &index{updated: s.start.UnixNano()}
	}
	s.quota.set(cfg.Quota)
	s.outages.init(s.start, cfg.Outages)
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
	if err := s.seedChurn(); err != nil {
		_ = s.Close()
		return nil, err
	}
	s.mux = s.routes()
	return s, nil
}

// routes maps each path to its handlers by method. A path served with
// another method answers 405, anything else 404, both in the documented
// error shape.
func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	handle := func(pattern string, byMethod map[string]http.HandlerFunc) {
		allow := make([]string, 0, len(byMethod))
		for m := range byMethod {
			allow = append(allow, m)
		}
		sort.Strings(allow)
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			if h, ok := byMethod[r.Method]; ok {
				h(w, r)
				return
			}
			w.Header().Set("Allow", strings.Join(allow, ", "))
			writeError(w, http.StatusMethodNotAllowed, "method_not_allowed",
				fmt.Sprintf("Method %q not allowed.", r.Method), nil)
		})
	}
	handle("/api/v3/files", map[string]http.HandlerFunc{
		http.MethodGet: s.api(s.handleList), http.MethodPost: s.handleUpload,
	})
	handle("/api/v3/files/bulk-delete", map[string]http.HandlerFunc{http.MethodPost: s.api(s.handleBulkDelete)})
	handle("/api/v3/files/{id}", map[string]http.HandlerFunc{
		http.MethodGet: s.api(s.handleGet), http.MethodPatch: s.api(s.handlePatch),
		http.MethodDelete: s.api(s.handleDelete),
	})
	handle("/api/v3/files/{id}/download", map[string]http.HandlerFunc{http.MethodGet: s.api(s.handleDownload)})
	handle("/api/v3/files/{id}/tags", map[string]http.HandlerFunc{http.MethodPost: s.api(s.handleAddTags)})
	handle("/api/v3/files/{id}/tags/{tag_id}", map[string]http.HandlerFunc{http.MethodDelete: s.api(s.handleRemoveTag)})
	handle("/api/v3/tags", map[string]http.HandlerFunc{http.MethodGet: s.api(s.handleTags)})
	handle("/api/v3/workspaces", map[string]http.HandlerFunc{http.MethodGet: s.api(s.handleWorkspaces)})
	handle("/api/v3/workspaces/{id}", map[string]http.HandlerFunc{http.MethodGet: s.api(s.handleWorkspace)})

	handle("/_devserver/stats", map[string]http.HandlerFunc{http.MethodGet: s.handleStats})
	handle("/_devserver/quota", map[string]http.HandlerFunc{http.MethodGet: s.handleQuota, http.MethodPut: s.handleQuota})
	handle("/_devserver/outage", map[string]http.HandlerFunc{
		http.MethodGet: s.handleOutage, http.MethodPost: s.handleOutage, http.MethodDelete: s.handleOutage,
	})
	handle("/_devserver/documents", map[string]http.HandlerFunc{http.MethodGet: s.handleDocuments, http.MethodPost: s.handleSeed})
	handle("/_devserver/snapshot", map[string]http.HandlerFunc{http.MethodPost: s.handleSnapshot})
	handle("/_devserver/restore", map[string]http.HandlerFunc{http.MethodPost: s.handleRestore})
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "No such endpoint on this devserver.", nil)
	})
	return mux
}

// Close releases the manifest.
func (s *Server) Close() error {
	if s.manifest != nil {
		return s.manifest.Close()
	}
	return nil
}

// ServeHTTP checks, for every request under /api/ and in this order: the
// key (401, before anything else, unknown routes included), a maintenance
// window (503 or a dropped connection), the quota (429); then the route.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/_devserver/") {
		s.mux.ServeHTTP(w, r)
		return
	}
	s.stats.requests.Add(1)
	if strings.HasPrefix(r.URL.Path, "/api/") {
		if !s.authorized(r) {
			s.stats.unauthorized.Add(1)
			writeError(w, http.StatusUnauthorized, "authentication_failed", "Invalid or missing API key.", nil)
			return
		}
		now := s.cfg.Now()
		if s.inOutage(w, now) || s.overQuota(w, now) {
			return
		}
	}
	s.mux.ServeHTTP(w, r)
}

// authorized checks the bearer key in constant time.
func (s *Server) authorized(r *http.Request) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && s.cfg.APIKey != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.cfg.APIKey)) == 1
}

// api wraps an endpoint other than the upload with the injected faults and
// latency. (The upload draws its faults once its body is read.)
func (s *Server) api(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.refuse(w, s.decide(r.Method+" "+r.URL.RequestURI(), false)) {
			return
		}
		s.sleepLatency(r)
		h(w, r)
	}
}

// locked runs f with s.mu held, and releases it even if f panics (the
// http.Server recovers a handler's panic; a lock left held would stop every
// later request).
func (s *Server) locked(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f()
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	var n int64
	s.locked(func() { n = int64(s.all.live) })
	st := &s.stats
	return Stats{
		Requests: st.requests.Load(), Uploads: st.uploads.Load(), Idempotent: st.idempotent.Load(),
		Documents: n, Bytes: st.bytes.Load(), Throttled: st.throttled.Load(), Errors503: st.errors503.Load(),
		ResetsBefore: st.resetsBefore.Load(), ResetsAfter: st.resetsAfter.Load(),
		Unauthorized: st.unauthorized.Load(), Rejected: st.rejected.Load(), DuplicateNames: st.dupNames.Load(),
		QuotaRefused: st.quotaRefused.Load(), Outage503: st.outage503.Load(), OutageResets: st.outageResets.Load(),
		ListenerStops: st.listenerStops.Load(), Patches: st.patches.Load(), Replaces: st.replaces.Load(),
		Deletes: st.deletes.Load(), BulkDeletes: st.bulkDeletes.Load(), Seeded: st.seeded.Load(),
		ChurnCreated: st.churnCreated.Load(), ChurnDeleted: st.churnDeleted.Load(), LoopedNext: st.loopedNext.Load(),
		Restores: st.restores.Load(),
	}
}

func (s *Server) workspace(id int64) *Workspace {
	for i := range s.cfg.Workspaces {
		if s.cfg.Workspaces[i].ID == id {
			return &s.cfg.Workspaces[i]
		}
	}
	return nil
}
