package devserver

import (
	"encoding/hex"
	"fmt"
	"maps"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// queryError is a list query the server refuses.
type queryError struct {
	status       int
	kind, detail string
}

func badFilter(format string, a ...any) *queryError {
	return &queryError{http.StatusBadRequest, "invalid_filter", fmt.Sprintf(format, a...)}
}

func unsupported(name, why string) *queryError {
	return &queryError{http.StatusBadRequest, "unsupported_filter",
		fmt.Sprintf("The devserver does not support the %s filter: %s.", name, why)}
}

// last is the value a Django QueryDict gives for a repeated parameter.
func last(v []string) string { return strings.TrimSpace(v[len(v)-1]) }

// pageParams reads page and page_size as Django REST Framework's
// page-number pagination does (an invalid page is a 404, "Invalid page."),
// except that a page_size that is not a positive integer is refused with
// 400 where DRF would quietly use the default. page_size is capped at
// maxSize, silently, as DRF's max_page_size does.
func pageParams(q url.Values, defaultSize, maxSize int) (page, size int, qe *queryError) {
	page, size = 1, defaultSize
	if v := q["page"]; len(v) > 0 && last(v) != "" {
		n, err := strconv.Atoi(last(v))
		if err != nil || n < 1 {
			return 0, 0, &queryError{http.StatusNotFound, "invalid_page", "Invalid page."}
		}
		page = n
	}
	if v := q["page_size"]; len(v) > 0 && last(v) != "" {
		n, err := strconv.Atoi(last(v))
		if err != nil || n < 1 {
			return 0, 0, badFilter("page_size must be a positive integer (got %q).", last(v))
		}
		size = min(n, maxSize)
	}
	return page, size, nil
}

// pageJSON is the service's page-number pagination envelope.
type pageJSON[T any] struct {
	Count    int     `json:"count"`
	Next     *string `json:"next"`
	Previous *string `json:"previous"`
	Results  []T     `json:"results"`
}

// links returns the next and previous links of a page, or ok false when
// the page is past the end (DRF answers 404 "Invalid page.").
func links(r *http.Request, page, size, total int) (next, prev *string, ok bool) {
	from := (page - 1) * size
	if from >= total && page != 1 {
		return nil, nil, false
	}
	if from+size < total {
		next = pageLink(r, page+1)
	}
	if page > 1 {
		prev = pageLink(r, page-1)
	}
	return next, prev, true
}

// pageLink is the absolute link to page p of the list r asked for, with
// the same filters.
func pageLink(r *http.Request, p int) *string {
	u := *r.URL
	u.Scheme, u.Host = "http", r.Host
	qq := u.Query()
	qq.Set("page", strconv.Itoa(p))
	u.RawQuery = qq.Encode()
	s := u.String()
	return &s
}

// isDocumentStatus and isVisionStatus hold the schema's DocumentStatusEnum
// and StatusVisionEnum, the values the status and status_vision filters
// accept.
func isDocumentStatus(s string) bool {
	switch s {
	case "pending", "pending_conversion", "converting", "parsing", "parsing_failed", "embedding",
		"embedding_failed", "embedded", "parsed", "fail", "updating":
		return true
	}
	return false
}

func isVisionStatus(s string) bool {
	switch s {
	case "pending", "processing", "embedded", "fail", "-":
		return true
	}
	return false
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "true", "1", "yes", "on":
		return true, nil
	case "false", "0", "no", "off":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean (true or false)", v)
}

func intSet(name, v string) (map[int64]bool, *queryError) {
	set := map[int64]bool{}
	for _, p := range strings.Split(v, ",") {
		n, err := strconv.ParseInt(strings.TrimSpace(p), 10, 64)
		if err != nil {
			return nil, badFilter("%s must be comma-separated integers (got %q).", name, v)
		}
		set[n] = true
	}
	return set, nil
}

// parseInstant reads a date-time filter: RFC 3339, or a date and time
// without a zone (taken as UTC), or a date alone (its 00:00:00), as the
// service documents ("date-only strings treated as 00:00:00").
func parseInstant(name, v string) (int64, *queryError) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, v, time.UTC); err == nil {
			return t.UnixNano(), nil
		}
	}
	return 0, badFilter("%s must be a date or a date-time, e.g. 2024-01-01 or 2024-01-01T23:59:59Z (got %q).", name, v)
}

// isUUID accepts what Django's UUID field does: 32 hex digits, with or
// without hyphens.
func isUUID(v string) bool {
	h := strings.ReplaceAll(v, "-", "")
	if len(h) != 32 {
		return false
	}
	_, err := hex.DecodeString(h)
	return err == nil
}

type orderKey struct {
	field string
	desc  bool
}

// parseOrdering reads an ordering parameter: comma-separated fields among
// allowed, each with an optional "-" for descending order. An unknown field
// is refused with 400 (Django REST Framework would drop it quietly).
func parseOrdering(v string, allowed ...string) ([]orderKey, *queryError) {
	var keys []orderKey
	for _, p := range strings.Split(v, ",") {
		p = strings.TrimSpace(p)
		k := orderKey{field: strings.TrimPrefix(p, "-"), desc: strings.HasPrefix(p, "-")}
		ok := false
		for _, a := range allowed {
			ok = ok || k.field == a
		}
		if !ok {
			return nil, badFilter("ordering: %q is not one of %s (with an optional '-').", p, strings.Join(allowed, ", "))
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// fileQuery is a parsed GET /api/v3/files.
type fileQuery struct {
	page, pageSize int
	ws             []int64
	statuses       map[string]bool
	visions        map[string]bool
	exts           map[string]bool
	tags, owners   map[int64]bool
	title          string // lower case
	filename       string // lower case
	docType        string // lower case
	extID          *string
	session        string
	createdAfter   *int64
	createdBefore  *int64
	updatedAfter   *int64
	updatedBefore  *int64
	pagesMin       *int64
	pagesMax       *int64
	classified     bool // a content_type or attribute filter
	maxDocs        int
	order          []orderKey
	// filter is the query without its page, ignore-workspace aside: what
	// the documents that match depend on (filterCache).
	filter string
	how    render
}

// simple reports whether only the workspace (one at most) and the
// ordering narrow the list: such a page is served from the indexes without
// looking at every document.
func (q *fileQuery) simple() bool {
	return len(q.ws) <= 1 && q.statuses == nil && q.visions == nil && q.exts == nil && q.tags == nil &&
		q.owners == nil && q.title == "" && q.filename == "" && q.docType == "" && q.extID == nil &&
		q.session == "" && q.createdAfter == nil && q.createdBefore == nil && q.updatedAfter == nil &&
		q.updatedBefore == nil && q.pagesMin == nil && q.pagesMax == nil && !q.classified
}

// parseFileQuery reads the filters of GET /api/v3/files: every query
// parameter of the operation api_v3_files_list in the service's OpenAPI
// schema (lightonai/lighton-typescript-sdk src/types/api.ts), plus exclude
// (shared/reference/003_53c8562e6637c647.txt). Each is honoured, or
// refused with 400 when the stand-in cannot honour it (search, group_id).
// An empty value applies no filter, as with django-filter.
//
// Decision on other parameters: they are ignored, as the service ignores
// them (Django REST Framework and django-filter read only the parameters
// they declare; the SDKs forward any filter name unchecked, and nothing in
// the schema or the SDKs shows an unknown parameter refused). The answer
// names them in an X-Devserver-Ignored-Query header, so a misspelt filter
// can be found.
func parseFileQuery(q url.Values, maxPageSize int) (fq fileQuery, ignored []string, qe *queryError) {
	fq.order = []orderKey{{"created_at", true}}
	fq.page, fq.pageSize, qe = pageParams(q, min(50, maxPageSize), maxPageSize)
	if qe != nil {
		return fq, nil, qe
	}
	rest := maps.Clone(q)
	delete(rest, "page")
	delete(rest, "page_size")
	fq.filter = rest.Encode()
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := last(q[k])
		if k == "page" || k == "page_size" || v == "" {
			continue
		}
		switch k {
		case "workspace_id":
			set, qe := intSet(k, v)
			if qe != nil {
				return fq, nil, qe
			}
			for id := range set {
				fq.ws = append(fq.ws, id)
			}
			sort.Slice(fq.ws, func(i, j int) bool { return fq.ws[i] < fq.ws[j] })
		case "status", "status_vision":
			set := map[string]bool{}
			for _, p := range strings.Split(v, ",") {
				p = strings.TrimSpace(p)
				if k == "status" && !isDocumentStatus(p) || k == "status_vision" && !isVisionStatus(p) {
					return fq, nil, badFilter("%s: %q is not a valid choice.", k, p)
				}
				set[p] = true
			}
			if k == "status" {
				fq.statuses = set
			} else {
				fq.visions = set
			}
		case "extension":
			fq.exts = map[string]bool{}
			for _, p := range strings.Split(v, ",") {
				fq.exts[strings.TrimPrefix(strings.ToLower(strings.TrimSpace(p)), ".")] = true
			}
		case "tag_id", "owner_id":
			set, qe := intSet(k, v)
			if qe != nil {
				return fq, nil, qe
			}
			if k == "tag_id" {
				fq.tags = set
			} else {
				fq.owners = set
			}
		case "title":
			fq.title = strings.ToLower(v)
		case "filename":
			fq.filename = strings.ToLower(v)
		case "external_metadata__doc_type":
			fq.docType = strings.ToLower(v)
		case "external_metadata__external_id":
			id := q[k][len(q[k])-1] // exact: not trimmed
			fq.extID = &id
		case "upload_session_uuid":
			if !isUUID(v) {
				return fq, nil, badFilter("upload_session_uuid: %q is not a valid UUID.", v)
			}
			h := strings.ToLower(strings.ReplaceAll(v, "-", ""))
			fq.session = h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
		case "created_at_after", "created_at_before", "updated_at_after", "updated_at_before":
			t, qe := parseInstant(k, v)
			if qe != nil {
				return fq, nil, qe
			}
			switch k {
			case "created_at_after":
				fq.createdAfter = &t
			case "created_at_before":
				fq.createdBefore = &t
			case "updated_at_after":
				fq.updatedAfter = &t
			default:
				fq.updatedBefore = &t
			}
		case "total_pages_min", "total_pages_max":
			n, err := strconv.ParseInt(v, 10, 32)
			if err != nil {
				return fq, nil, badFilter("%s must be an integer (got %q).", k, v)
			}
			if k == "total_pages_min" {
				fq.pagesMin = &n
			} else {
				fq.pagesMax = &n
			}
		case "content_type", "attribute":
			// Honoured: the stand-in classifies no document, so none matches.
			fq.classified = true
		case "max_documents":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 500 {
				return fq, nil, badFilter("max_documents must be an integer from 1 to 500 (got %q).", v)
			}
			fq.maxDocs = n
		case "ordering":
			order, qe := parseOrdering(v, "created_at", "filename", "title", "total_pages", "size")
			if qe != nil {
				return fq, nil, qe
			}
			fq.order = order
		case "include_details":
			b, err := parseBool(v)
			if err != nil {
				return fq, nil, badFilter("include_details: %v.", err)
			}
			fq.how.details = b
		case "exclude":
			fq.how.exclude = map[string]bool{}
			for _, p := range strings.Split(v, ",") {
				p = strings.TrimSpace(p)
				switch p {
				case "summaries", "tags", "content_types", "content_types.attributes", "workspace", "created_by", "external_metadata":
					fq.how.exclude[p] = true
				default:
					return fq, nil, badFilter("exclude: %q cannot be excluded (summaries, tags, content_types, content_types.attributes, workspace, created_by, external_metadata).", p)
				}
			}
		case "search":
			return fq, nil, unsupported("search", "it has no semantic index")
		case "search_details":
			// Documented to act only with search, which is refused above.
			if _, err := parseBool(v); err != nil {
				return fq, nil, badFilter("search_details: %v.", err)
			}
		case "search_details_chunks_limit":
			if n, err := strconv.Atoi(v); err != nil || n < 1 || n > 10 {
				return fq, nil, badFilter("search_details_chunks_limit must be an integer from 1 to 10 (got %q).", v)
			}
		case "group_id":
			return fq, nil, unsupported("group_id", "it has no user groups")
		default:
			ignored = append(ignored, k)
		}
	}
	fq.how.list = true
	return fq, ignored, nil
}

// handleList serves GET /api/v3/files, with the adversarial modes of
// adversary.go: another uploader at work before each page after the first,
// a workspace filter ignored, next links that loop.
func (s *Server) handleList(w http.ResponseWriter, r *http.Request) {
	q, ignored, qe := parseFileQuery(r.URL.Query(), s.cfg.MaxPageSize)
	if qe != nil {
		writeError(w, qe.status, qe.kind, qe.detail, nil)
		return
	}
	if len(ignored) > 0 {
		w.Header().Set("X-Devserver-Ignored-Query", strings.Join(ignored, ","))
	}
	if q.page > 1 {
		if err := s.churn(q.ws); err != nil {
			writeError(w, http.StatusInternalServerError, "internal_error", err.Error(), nil)
			return
		}
	}
	if s.cfg.IgnoreWorkspaceFilter {
		q.ws = nil
	}
	now := s.cfg.Now().UnixNano()
	var results []*fileJSON
	var total int
	s.locked(func() {
		var docs []*document
		docs, total = s.selectFiles(&q, now)
		results = make([]*fileJSON, len(docs))
		for i, d := range docs {
			results[i] = s.fileObject(d, now, q.how)
		}
	})
	next, prev, ok := links(r, q.page, q.pageSize, total)
	if !ok {
		writeError(w, http.StatusNotFound, "invalid_page", "Invalid page.", nil)
		return
	}
	next = s.bendNext(func(p int) *string { return pageLink(r, p) }, q.page, next)
	writeJSON(w, http.StatusOK, pageJSON[*fileJSON]{Count: total, Next: next, Previous: prev, Results: results})
}

// selectFiles returns the page q asks for and the number of documents that
// match. s.mu must be held.
func (s *Server) selectFiles(q *fileQuery, now int64) ([]*document, int) {
	scope, rest, ok := s.scopeOf(q)
	if !ok {
		return nil, 0
	}
	from := (q.page - 1) * q.pageSize
	if rest.simple() && len(rest.ws) == 0 {
		total := scope.live
		if q.maxDocs > 0 {
			total = min(total, q.maxDocs)
		}
		n := min(q.pageSize, total-from)
		if n <= 0 {
			return nil, total
		}
		if len(q.order) == 1 && q.order[0].field == "created_at" {
			return scope.window(from, n, q.order[0].desc), total
		}
		if len(q.order) == 1 {
			return s.sorted(scope, q.order[0], now)[from : from+n], total
		}
	}
	var wanted map[int64]bool
	if len(rest.ws) > 0 {
		wanted = map[int64]bool{}
		for _, id := range rest.ws {
			wanted[id] = true
		}
	}
	var match []*document
	until := int64(math.MaxInt64) // when a document's match may change by itself
	keep := func(d *document) {
		if d.deleted {
			return
		}
		until = min(until, s.nextChange(d, now))
		if (wanted == nil || wanted[d.ws]) && s.matches(d, &rest, now) {
			match = append(match, d)
		}
	}
	if c := s.filtered; q.extID == nil && c != nil && c.scope == scope && c.gen == scope.gen && c.filter == q.filter &&
		c.ignoreWS == s.cfg.IgnoreWorkspaceFilter && now < c.until {
		// The next page of the same filtered list: the matches of the
		// first, while nothing changed (a page of a million documents
		// filtered by updated_at_after looked at every one of them).
		match = c.match
	} else if q.extID != nil {
		// Few documents have that external id (one per workspace, unless
		// one was made by another way than the upload endpoint).
		for _, w := range s.cfg.Workspaces {
			for _, d := range s.byExt[extKey{w.ID, *q.extID}] {
				if scope == s.all || scope == s.byWS[d.ws] || scope == s.bySession[d.session] {
					keep(d)
				}
			}
		}
		s.sortDocs(match, q.order, now, scope.gen)
	} else {
		for i := len(scope.docs) - 1; i >= 0; i-- { // newest first
			keep(scope.docs[i])
		}
		if len(q.order) != 1 || q.order[0] != (orderKey{"created_at", true}) {
			s.sortDocs(match, q.order, now, scope.gen)
		}
		s.filtered = &filterCache{scope: scope, gen: scope.gen, filter: q.filter, ignoreWS: s.cfg.IgnoreWorkspaceFilter,
			until: until, match: match}
	}
	if q.maxDocs > 0 && len(match) > q.maxDocs {
		match = match[:q.maxDocs]
	}
	n := min(q.pageSize, len(match)-from)
	if n <= 0 {
		return nil, len(match)
	}
	return match[from : from+n], len(match)
}

// scopeOf returns the smallest index sure to hold every match of q (an
// upload session's, a workspace's, or every document's) and what is left
// of q to apply within it; false when nothing can match.
func (s *Server) scopeOf(q *fileQuery) (*index, fileQuery, bool) {
	rest := *q
	scope := s.all
	if len(q.ws) == 1 {
		if scope = s.byWS[q.ws[0]]; scope == nil {
			return nil, rest, false
		}
		rest.ws = nil
	}
	if q.session != "" {
		x := s.bySession[q.session]
		if x == nil {
			return nil, rest, false
		}
		if len(q.ws) > 0 && !containsID(q.ws, x.docs[0].ws) { // a session is in one workspace
			return nil, rest, false
		}
		scope, rest.ws, rest.session = x, nil, ""
	}
	return scope, rest, true
}

// matches applies every filter but the workspace's to d, reading what a
// GET would show at now. s.mu must be held.
func (s *Server) matches(d *document, q *fileQuery, now int64) bool {
	if q.classified {
		return false
	}
	v, _ := d.live(now)
	if q.exts != nil && !q.exts[v.ext] {
		return false
	}
	if q.title != "" && !strings.Contains(strings.ToLower(d.title), q.title) {
		return false
	}
	if q.filename != "" && !strings.Contains(strings.ToLower(v.filename), q.filename) {
		return false
	}
	if q.session != "" && d.session != q.session {
		return false
	}
	if q.extID != nil && (d.ext == nil || d.ext.ExternalID != *q.extID) {
		return false
	}
	if q.docType != "" && (d.ext == nil || !strings.Contains(strings.ToLower(d.ext.DocType), q.docType)) {
		return false
	}
	if q.owners != nil && !q.owners[devUser().ID] {
		return false
	}
	if q.tags != nil {
		tagged := false
		for _, t := range d.tags {
			tagged = tagged || q.tags[t]
		}
		if !tagged {
			return false
		}
	}
	if q.visions != nil && !q.visions["-"] {
		return false
	}
	if q.createdAfter != nil && d.created < *q.createdAfter || q.createdBefore != nil && d.created > *q.createdBefore {
		return false
	}
	st := s.status(v, now)
	if q.statuses != nil && !q.statuses[st.name] {
		return false
	}
	updated := max(d.changed, st.since)
	if q.updatedAfter != nil && updated < *q.updatedAfter || q.updatedBefore != nil && updated > *q.updatedBefore {
		return false
	}
	pages := int64(st.pages(v))
	return (q.pagesMin == nil || pages >= *q.pagesMin) && (q.pagesMax == nil || pages <= *q.pagesMax)
}

// sortDocs orders docs by keys. Documents equal by every key (the same
// title, size or page count) come in an order drawn from salt, the scope's
// generation: the same while the scope does not change, another once it
// has — as a database's ORDER BY without a unique last key gives no order
// to its ties, and a plan may change between two pages. (created_at
// breaks its ties by id: its values are all but unique.) s.mu must be
// held.
func (s *Server) sortDocs(docs []*document, keys []orderKey, now int64, salt uint64) {
	type item struct {
		d     *document
		v     *version
		pages int
	}
	items := make([]item, len(docs))
	for i, d := range docs {
		v, _ := d.live(now)
		items[i] = item{d, v, s.status(v, now).pages(v)}
	}
	sort.Slice(items, func(i, j int) bool {
		a, b := items[i], items[j]
		for _, k := range keys {
			c := 0
			switch k.field {
			case "created_at":
				c = cmp3(a.d.created, b.d.created)
				if c == 0 {
					c = cmp3(a.d.id, b.d.id)
				}
			case "filename":
				c = strings.Compare(a.v.filename, b.v.filename)
			case "title":
				c = strings.Compare(a.d.title, b.d.title)
			case "size":
				c = cmp3(a.v.size, b.v.size)
			case "total_pages":
				c = cmp3(a.pages, b.pages)
			}
			if c != 0 {
				return c < 0 != k.desc
			}
		}
		if ta, tb := tieRank(a.d.id, salt), tieRank(b.d.id, salt); ta != tb {
			return ta < tb
		}
		return a.d.id > b.d.id
	})
	for i := range items {
		docs[i] = items[i].d
	}
}

// tieRank places a document among those it ties with: a mix (splitmix64)
// of its id and the salt.
func tieRank(id int64, salt uint64) uint64 {
	z := uint64(id) ^ salt*0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

func cmp3[T int | int64](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

type cacheKey struct {
	scope *index
	key   orderKey
}

// filterCache is the documents of a scope that matched a filtered list
// (and in its order), valid while the scope does not change (gen) and
// until the first moment a document's status changes by itself, which may
// change what matches (its updated_at, its status, its pages).
type filterCache struct {
	scope    *index
	gen      uint64
	filter   string
	ignoreWS bool
	until    int64
	match    []*document
}

// nextChange is the first moment after now at which d changes by itself:
// a queued version goes live, or the live one moves to its next
// processing stage; MaxInt64 when none is to come.
func (s *Server) nextChange(d *document, now int64) int64 {
	next := int64(math.MaxInt64)
	if d.next != nil && d.next.start > now {
		next = d.next.start
	}
	v, _ := d.live(now)
	p := int64(s.cfg.Pace)
	last := v.start + 3*p
	if v.fail {
		last = v.start + 2*p
	}
	for t := v.start + p; t <= last; t += p {
		if t > now {
			return min(next, t)
		}
	}
	return next
}

// sortCache is a scope's live documents in one order, valid while the
// scope does not change (gen) and until the first moment one of the sort
// values changes by itself (a queued file going live, a page count
// appearing when embedding starts).
type sortCache struct {
	gen   uint64
	until int64
	docs  []*document
}

// sorted returns every live document of the scope in the order of k,
// built once per change of the scope. s.mu must be held.
func (s *Server) sorted(x *index, k orderKey, now int64) []*document {
	key := cacheKey{x, k}
	if c := s.caches[key]; c != nil && c.gen == x.gen && now < c.until {
		return c.docs
	}
	docs := make([]*document, 0, x.live)
	for i := len(x.docs) - 1; i >= 0; i-- {
		if d := x.docs[i]; !d.deleted {
			docs = append(docs, d)
		}
	}
	s.sortDocs(docs, []orderKey{k}, now, x.gen)
	until := int64(math.MaxInt64)
	p := int64(s.cfg.Pace)
	for _, d := range docs {
		switch {
		case k.field == "title":
		case d.next != nil && d.next.start > now:
			until = min(until, d.next.start)
		case k.field == "total_pages":
			v, _ := d.live(now)
			if !v.fail && now < v.start+2*p {
				until = min(until, v.start+2*p)
			}
		}
	}
	s.caches[key] = &sortCache{gen: x.gen, until: until, docs: docs}
	return docs
}
