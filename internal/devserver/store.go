package devserver

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// version is one received file of a document.
type version struct {
	filename string // as stored (renamed on a collision)
	sent     string // as the client named it
	ext      string
	size     int64
	sha      [32]byte
	start    int64 // UnixNano when its processing starts
	n        int32 // 1 for the first upload, then one more per replacement
	fail     bool  // matches Config.FailPattern: processing ends in parsing_failed
}

// document is one document. Times are UnixNano, to keep it small: a
// benchmark holds a million of them.
type document struct {
	id, ws   int64
	created  int64
	changed  int64 // last change of its metadata, tags or file
	title    string
	session  string
	parser   string
	ext      *extMeta // replaced, never changed in place
	tags     []int64  // replaced, never changed in place
	cur      version  // the file being served
	next     *version // a replacement whose processing has not started (pending_reprocess)
	versions int32
	churn    bool  // made by --list-churn's other uploader
	wsPos    int32 // position in its workspace's index
	sessPos  int32 // position in its upload session's index
	deleted  bool
}

// live returns the version the service describes at now, and whether a
// replacement is queued behind it (pending_reprocess). It never changes the
// document, so readers need no more than the lock.
func (d *document) live(now int64) (*version, bool) {
	if d.next != nil {
		if now >= d.next.start {
			return d.next, false
		}
		return &d.cur, true
	}
	return &d.cur, false
}

// latest is the newest version received, started or not.
func (d *document) latest() *version {
	if d.next != nil {
		return d.next
	}
	return &d.cur
}

// settle makes a replacement whose processing has started the current
// version. s.mu must be held; called before changing a document.
func (d *document) settle(now int64) {
	if d.next != nil && now >= d.next.start {
		d.cur = *d.next
		d.next = nil
	}
}

// procStatus is a version's processing status at some instant.
type procStatus struct {
	name   string
	since  int64 // when it entered that status
	detail string
}

func (st procStatus) pages(v *version) int {
	if st.name == "embedding" || st.name == "embedded" {
		return 1 + int(v.size/3000)
	}
	return 0
}

// status derives a version's processing status from its age, so processing
// needs no background goroutine and is exact under test: Pace in each of
// pending, parsing and embedding, then embedded (or parsing_failed).
func (s *Server) status(v *version, now int64) procStatus {
	p := int64(s.cfg.Pace)
	age := now - v.start
	switch {
	case age < p:
		return procStatus{name: "pending", since: v.start}
	case age < 2*p:
		return procStatus{name: "parsing", since: v.start + p}
	case v.fail:
		return procStatus{name: "parsing_failed", since: v.start + 2*p,
			detail: "Failed to parse " + v.ext + ": the document is corrupted or encrypted (simulated by the devserver)"}
	case age < 3*p:
		return procStatus{name: "embedding", since: v.start + 2*p}
	default:
		return procStatus{name: "embedded", since: v.start + 3*p}
	}
}

// index holds documents in creation order (which is created_at order, ids
// ascending) with a Fenwick tree over which of them still exist, so the
// k-th existing document is found in O(log n) and a page of a list filtered
// only by workspace or upload session costs O(log n + page), deleted
// documents or not. There is one for every document, one per workspace and
// one per upload session.
type index struct {
	docs    []*document
	fen     []int32 // 1-based Fenwick tree of live flags; fen[0] unused
	live    int
	bytes   int64  // size of the latest version of each live document
	updated int64  // last change, UnixNano (a workspace's updated_at)
	gen     uint64 // bumped by every change that may reorder a list
}

func (x *index) push(d *document) int {
	if len(x.fen) == 0 {
		x.fen = append(x.fen, 0)
	}
	x.docs = append(x.docs, d)
	i := len(x.docs)
	x.fen = append(x.fen, 1+x.prefix(i-1)-x.prefix(i-(i&-i)))
	x.live++
	x.gen++
	return i - 1
}

func (x *index) prefix(i int) int32 {
	var sum int32
	for ; i > 0; i -= i & -i {
		sum += x.fen[i]
	}
	return sum
}

func (x *index) drop(pos int) {
	for i := pos + 1; i < len(x.fen); i += i & -i {
		x.fen[i]--
	}
	x.live--
	x.gen++
}

// nth returns the position of the n-th live document (1 ≤ n ≤ live).
func (x *index) nth(n int) int {
	pos, step := 0, 1
	for step*2 < len(x.fen) {
		step *= 2
	}
	for ; step > 0; step /= 2 {
		if next := pos + step; next < len(x.fen) && int(x.fen[next]) < n {
			pos = next
			n -= int(x.fen[next])
		}
	}
	return pos
}

// window returns up to n live documents starting at rank from (0-based),
// newest first when desc.
func (x *index) window(from, n int, desc bool) []*document {
	if from >= x.live || n <= 0 {
		return nil
	}
	out := make([]*document, 0, min(n, x.live-from))
	if desc {
		for pos := x.nth(x.live - from); pos >= 0 && len(out) < n; pos-- {
			if d := x.docs[pos]; !d.deleted {
				out = append(out, d)
			}
		}
		return out
	}
	for pos := x.nth(from + 1); pos < len(x.docs) && len(out) < n; pos++ {
		if d := x.docs[pos]; !d.deleted {
			out = append(out, d)
		}
	}
	return out
}

type extKey struct {
	ws int64
	id string
}

type nameKey struct {
	ws   int64
	name string // lower case
}

// incoming is a received file, hashed and, with a data dir, in a temporary
// file.
type incoming struct {
	sent string // the part's file name
	size int64
	sha  [32]byte
	tmp  string
}

// newDoc is a validated upload.
type newDoc struct {
	file   incoming
	ws     int64
	name   string // the name to store it under (the filename field, else the part's)
	ext    string
	title  string
	parser string
	tags   []int64
	meta   *extMeta
	// session is the upload session to put it in; "" for the workspace's
	// open one (what an upload does).
	session string
	churn   bool
}

// create records the document, or returns the existing one with the same
// external id in the workspace (created is then false). The check and the
// insert are one step, so concurrent repeats cannot both create.
func (s *Server) create(nd newDoc) (*document, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if nd.meta != nil {
		if d := s.extFirst(nd.ws, nd.meta.ExternalID); d != nil {
			s.stats.idempotent.Add(1)
			return d, false, nil
		}
	}
	d, err := s.insert(nd)
	if err != nil {
		return nil, false, err
	}
	s.stats.uploads.Add(1)
	s.stats.bytes.Add(d.cur.size)
	return d, true, nil
}

// insert stores a new document as the service would, whatever external id
// it carries (a document made by another way than the upload endpoint may
// share one), and counts nothing. s.mu must be held.
func (s *Server) insert(nd newDoc) (*document, error) {
	now := s.cfg.Now().UnixNano()
	if now < s.lastCreated {
		now = s.lastCreated // creation order stays time order, whatever the clock does
	}
	s.lastCreated = now
	stored := s.claimName(nd.ws, nd.name, now)
	title := nd.title
	if title == "" {
		title = strings.TrimSuffix(nd.name, path.Ext(nd.name))
	}
	session := nd.session
	if session == "" {
		session = s.sessionFor(nd.ws, now)
	}
	d := &document{
		id: int64(len(s.all.docs) + 1), ws: nd.ws, created: now, changed: now, title: title,
		session: session, parser: nd.parser, ext: nd.meta, tags: nd.tags, versions: 1, churn: nd.churn,
		cur: version{filename: stored, sent: nd.name, ext: nd.ext, size: nd.file.size, sha: nd.file.sha,
			start: now, n: 1, fail: s.fails(nd.name)},
	}
	if s.manifest != nil {
		p, err := s.keep(d, &d.cur, nd.file.tmp)
		if err != nil {
			delete(s.names, nameKey{nd.ws, strings.ToLower(stored)})
			return nil, err
		}
		line := s.describe(d, "create")
		line["sent_filename"], line["workspace_id"], line["upload_session_uuid"] = d.cur.sent, d.ws, d.session
		line["path"] = p
		if err := s.log(line); err != nil {
			return nil, err
		}
	}
	s.index(d)
	return d, nil
}

// index adds a live document to the indexes. s.mu must be held.
func (s *Server) index(d *document) {
	s.all.push(d)
	wx := s.byWS[d.ws]
	d.wsPos = int32(wx.push(d))
	wx.bytes += d.latest().size
	wx.updated = max(wx.updated, d.changed)
	sx := s.bySession[d.session]
	if sx == nil {
		sx = &index{}
		s.bySession[d.session] = sx
	}
	d.sessPos = int32(sx.push(d))
	s.extAdd(d)
	for _, t := range d.tags {
		s.tagDocs[t]++
	}
	if d.churn {
		s.churned[d.ws] = append(s.churned[d.ws], d)
	}
}

// extFirst returns the oldest live document of the workspace with that
// external id, or nil. s.mu must be held.
func (s *Server) extFirst(ws int64, id string) *document {
	if ds := s.byExt[extKey{ws, id}]; len(ds) > 0 {
		return ds[0]
	}
	return nil
}

// extAdd indexes d by its external id, if any. Documents are kept in id
// order, so the oldest comes first. s.mu must be held.
func (s *Server) extAdd(d *document) {
	if d.ext == nil {
		return
	}
	k := extKey{d.ws, d.ext.ExternalID}
	ds := s.byExt[k]
	i := len(ds)
	for i > 0 && ds[i-1].id > d.id {
		i--
	}
	s.byExt[k] = append(ds[:i], append([]*document{d}, ds[i:]...)...)
}

// extDel removes d from the external id index. s.mu must be held.
func (s *Server) extDel(d *document) {
	if d.ext == nil {
		return
	}
	k := extKey{d.ws, d.ext.ExternalID}
	ds := s.byExt[k]
	for i, x := range ds {
		if x == d {
			ds = append(ds[:i:i], ds[i+1:]...)
			break
		}
	}
	if len(ds) == 0 {
		delete(s.byExt, k)
		return
	}
	s.byExt[k] = ds
}

func (s *Server) fails(name string) bool {
	if s.cfg.FailPattern == "" {
		return false
	}
	ok, _ := path.Match(s.cfg.FailPattern, name)
	return ok
}

// claimName reserves a stored file name in the workspace: the name itself,
// or, when another document holds it, the name with a date and a random
// suffix, as the service renames (report.pdf → report_20260728_c9be.pdf).
// s.mu must be held.
func (s *Server) claimName(ws int64, name string, now int64) string {
	stored := name
	if _, taken := s.names[nameKey{ws, strings.ToLower(stored)}]; taken {
		s.stats.dupNames.Add(1)
		stem, ext := strings.TrimSuffix(name, path.Ext(name)), path.Ext(name)
		for {
			var suffix [2]byte
			_, _ = rand.Read(suffix[:])
			stored = fmt.Sprintf("%s_%s_%s%s", stem, time.Unix(0, now).UTC().Format("20060102"), hex.EncodeToString(suffix[:]), ext)
			if _, taken := s.names[nameKey{ws, strings.ToLower(stored)}]; !taken {
				break
			}
		}
	}
	s.names[nameKey{ws, strings.ToLower(stored)}] = struct{}{}
	return stored
}

// sessionFor returns the workspace's open upload session, opening a new one
// after SessionIdle without uploads. s.mu must be held.
func (s *Server) sessionFor(ws int64, now int64) string {
	ss := s.sessions[ws]
	if ss == nil || now-ss.last > int64(s.cfg.SessionIdle) {
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

// remove deletes a document: it leaves lists and GETs, and its file name
// and external id are free again. It counts nothing (the callers count what
// the API deleted). s.mu must be held.
func (s *Server) remove(d *document, now int64) error {
	d.settle(now)
	if s.manifest != nil {
		if err := s.log(map[string]any{"op": "delete", "id": d.id}); err != nil {
			return err
		}
	}
	d.deleted = true
	s.all.drop(int(d.id - 1))
	wx := s.byWS[d.ws]
	wx.drop(int(d.wsPos))
	wx.bytes -= d.latest().size
	wx.updated = now
	s.bySession[d.session].drop(int(d.sessPos))
	delete(s.names, nameKey{d.ws, strings.ToLower(d.latest().filename)})
	s.extDel(d)
	for _, t := range d.tags {
		s.tagDocs[t]--
	}
	if d.churn {
		s.dropChurned(d)
	}
	return nil
}

// lookup returns the live document with that id, or nil. s.mu must be held.
func (s *Server) lookup(rawID string) *document {
	id, err := strconv.ParseInt(rawID, 10, 64)
	if err != nil || id < 1 || id > int64(len(s.all.docs)) {
		return nil
	}
	if d := s.all.docs[id-1]; !d.deleted {
		return d
	}
	return nil
}

// touched records a change of d at now for the lists' caches and the
// workspace's updated_at. s.mu must be held.
func (s *Server) touched(d *document, now int64) {
	d.changed = max(d.changed, now)
	s.all.gen++
	s.bySession[d.session].gen++
	wx := s.byWS[d.ws]
	wx.gen++
	wx.updated = now
}

// keep moves a received file to files/<id>/v<n>/<name> and returns that
// path, relative to the data dir. s.mu must be held.
func (s *Server) keep(d *document, v *version, tmp string) (string, error) {
	rel := filepath.Join("files", strconv.FormatInt(d.id, 10), "v"+strconv.Itoa(int(v.n)), safeBase(v.filename))
	if err := os.MkdirAll(filepath.Join(s.cfg.DataDir, filepath.Dir(rel)), 0o755); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, filepath.Join(s.cfg.DataDir, rel)); err != nil {
		return "", err
	}
	return rel, nil
}

// safeBase is a file name that stays inside its folder.
func safeBase(name string) string {
	b := filepath.Base(filepath.FromSlash(name))
	if b == "." || b == ".." || b == string(filepath.Separator) || b == "" {
		return "file"
	}
	return b
}

// describe is a manifest line with what the document is now.
func (s *Server) describe(d *document, op string) map[string]any {
	v := d.latest()
	line := map[string]any{
		"op": op, "id": d.id, "version": v.n, "filename": v.filename, "size": v.size,
		"sha256": hex.EncodeToString(v.sha[:]), "title": d.title, "tags": d.tags, "parser": d.parser,
		"external_id": "", "external_metadata": extOut{d.ext},
	}
	if d.ext != nil {
		line["external_id"] = d.ext.ExternalID
	}
	return line
}

// log appends a line to the manifest. s.mu must be held.
func (s *Server) log(line map[string]any) error {
	b, err := json.Marshal(line)
	if err != nil {
		return err
	}
	_, err = s.manifest.Write(append(b, '\n'))
	return err
}
