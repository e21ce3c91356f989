package state

import (
	"bytes"
	"encoding/hex"
	"slices"
	"time"
)

// table holds the entries of one kind (uploaded, or started) compactly, so
// that a state of a million files stays near a hundred bytes an entry:
//
//   - what a run loads is kept sorted by path in one slice, the paths back to
//     back in one byte arena (no string, no map slot per entry); a lookup is
//     a binary search;
//   - what a run adds lives in a map beside it, as do all the entries of a
//     table that is never loaded in bulk (the started uploads);
//   - an entry is times and ids as integers, the time of the record in
//     seconds, the content hash as its first 16 bytes, the upload session
//     and the tags as indexes into shared lists, the external id as one bit
//     when it is the one the path implies (Options.ExternalID), and the
//     uncommon fields (an external id or a hash of another form) in a side
//     map that is empty unless they are used.
type table struct {
	m      map[string]compact // entries not in the sorted part
	keys   []byte             // the paths of the sorted part, back to back
	sorted []slot             // by path
	dead   int                // slots of sorted deleted since
	load   *loader            // while a bulk load runs, nil otherwise

	rare     map[string]rare
	sessions *sessions
	tags     *sessions
	// expected returns the external id a path implies; nil: none.
	expected func(path string) string
	mergeMin int // see merge
	hint     int // the slot find found last
}

// maxSlotKey is the longest path a slot holds; longer ones (no file system
// makes them) stay in the map.
const maxSlotKey = 1<<16 - 1

// slot is an entry of the sorted part.
type slot struct {
	off uint32 // of its path in keys
	n   uint16 // length of its path
	c   compact
}

type compact struct {
	size, mtime, docID int64
	sha                [16]byte
	session, tags      uint32 // indexes into sessions and tags; 0 is none
	at                 uint32 // seconds since atEpoch; 0 is none
	flags              uint8
}

// The flags of a compact entry.
const (
	hasSHA     uint8 = 1 << iota // sha holds the hash's first 16 bytes
	hasRare                      // rare holds more
	extImplied                   // the external id is the one the path implies
	seen                         // this run's scan found the path
	fresh                        // this run recorded it
	deleted                      // (a slot) deleted since the load
)

// atEpoch is the origin of compact.at.
var atEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).Unix()

type rare struct {
	extOther, sha string
}

// loader gathers the records of a bulk load in file order, to be sorted
// once at its end: the last record of a path wins. A deletion is a slot
// with the deleted flag.
type loader struct {
	keys []byte
	recs []slot
}

// beginLoad makes put and del gather records until endLoad.
func (t *table) beginLoad() { t.load = &loader{} }

// expect tells a bulk load that what it has gathered so far came from the
// fraction read of the file: it makes room at once for the whole file's
// records, which spares the copies (and the garbage) of growing by halves.
func (t *table) expect(read float64) {
	l := t.load
	if l == nil || read <= 0 || read >= 1 || len(l.recs) == 0 {
		return
	}
	grow := func(n, have int) int { return int(float64(n)/read*1.05) - have }
	if n := grow(len(l.recs), len(l.recs)); n > 0 {
		l.recs = slices.Grow(l.recs, n)
	}
	if n := grow(len(l.keys), len(l.keys)); n > 0 {
		l.keys = slices.Grow(l.keys, n)
	}
}

// endLoad sorts what was gathered into the sorted part, in place: the
// gathered slots become the sorted part, and their paths its arena unless
// superseded records left much of it unused.
func (t *table) endLoad() {
	l := t.load
	t.load = nil
	if l == nil {
		return
	}
	key := func(r slot) []byte { return l.keys[r.off : r.off+uint32(r.n)] }
	// A stable sort by path keeps the records of a path in file order.
	slices.SortStableFunc(l.recs, func(a, b slot) int { return bytes.Compare(key(a), key(b)) })
	n, size := 0, 0
	for i, r := range l.recs {
		// (Slots before n are written, those after i still to read.)
		if i+1 < len(l.recs) && bytes.Equal(key(r), key(l.recs[i+1])) {
			continue // superseded by a later record of the path
		}
		if r.c.flags&deleted != 0 {
			if len(t.rare) > 0 {
				delete(t.rare, string(key(r)))
			}
			continue
		}
		l.recs[n] = r
		n++
		size += int(r.n)
	}
	sorted, keys := l.recs[:n], l.keys
	if size < len(keys)*3/4 {
		keys = make([]byte, 0, size)
		for i := range sorted {
			k := key(sorted[i])
			sorted[i].off = uint32(len(keys))
			keys = append(keys, k...)
		}
	} else if cap(keys) > len(keys)+len(keys)/8 {
		keys = slices.Clone(keys)
	}
	if cap(sorted) > n+n/8 {
		sorted = slices.Clone(sorted)
	}
	t.keys, t.sorted, t.dead, t.hint = keys, sorted, 0, 0
}

// find returns the index of path's slot in the sorted part, if it has one.
// A run looks paths up in the order of its walk, which is mostly the
// sorted order: the slot last found, and the one after it, are tried
// before a binary search.
func (t *table) find(path string) (int, bool) {
	for _, i := range [2]int{t.hint, t.hint + 1} {
		if i < len(t.sorted) && compareKey(t.keyAt(i), path) == 0 {
			t.hint = i
			return i, t.sorted[i].c.flags&deleted == 0
		}
	}
	i, ok := slices.BinarySearchFunc(t.sorted, path, func(s slot, p string) int {
		return compareKey(t.keys[s.off:s.off+uint32(s.n)], p)
	})
	if ok {
		t.hint = i
	}
	return i, ok && t.sorted[i].c.flags&deleted == 0
}

func (t *table) keyAt(i int) []byte {
	s := t.sorted[i]
	return t.keys[s.off : s.off+uint32(s.n)]
}

func (t *table) slotKey(s slot) string { return string(t.keys[s.off : s.off+uint32(s.n)]) }

// compareKey compares a path held as bytes with one held as a string,
// without making either into the other.
func compareKey(b []byte, s string) int {
	n := min(len(b), len(s))
	for i := 0; i < n; i++ {
		if b[i] != s[i] {
			if b[i] < s[i] {
				return -1
			}
			return 1
		}
	}
	return len(b) - len(s)
}

// sessions interns upload session ids: a run has a handful for millions of
// files.
type sessions struct {
	list []string
	idx  map[string]uint32
}

func newSessions() *sessions { return &sessions{list: []string{""}, idx: map[string]uint32{"": 0}} }

func (s *sessions) id(v string) uint32 {
	if i, ok := s.idx[v]; ok {
		return i
	}
	i := uint32(len(s.list))
	s.list = append(s.list, v)
	s.idx[v] = i
	return i
}

func newTable(s, tags *sessions, expected func(string) string) *table {
	return &table{m: map[string]compact{}, rare: map[string]rare{}, sessions: s, tags: tags, expected: expected, mergeMin: mergeMin}
}

// parseHex decodes exactly len(dst)*2 lower-case hex digits of s (or the
// whole of s when it is longer: a sha256 keeps its first 16 bytes).
func parseHex(dst []byte, s string) bool {
	if len(s) < len(dst)*2 {
		return false
	}
	for i := range dst {
		hi, ok1 := hexDigit(s[2*i])
		lo, ok2 := hexDigit(s[2*i+1])
		if !ok1 || !ok2 {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	for i := len(dst) * 2; i < len(s); i++ {
		if _, ok := hexDigit(s[i]); !ok {
			return false
		}
	}
	return true
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// SameContent compares two content hashes as the state keeps them: a
// sha256 in hex, or its first 32 hex digits.
func SameContent(a, b string) bool {
	n := min(len(a), len(b))
	return n >= 32 && a[:n] == b[:n]
}

func (t *table) put(path string, e Entry) {
	c := compact{size: e.Size, mtime: unixNano(e.ModTime), docID: e.DocumentID,
		session: t.sessions.id(e.UploadSessionUUID), tags: t.tags.id(e.Tags)}
	if at := e.UploadedAt.Unix() - atEpoch; !e.UploadedAt.IsZero() && at > 0 && at < 1<<32 {
		c.at = uint32(at)
	}
	var r rare
	switch {
	case e.ExternalID == "":
	case t.expected != nil && e.ExternalID == t.expected(path):
		c.flags |= extImplied
	default:
		r.extOther = e.ExternalID
	}
	if e.SHA256 != "" {
		if len(e.SHA256) <= 64 && parseHex(c.sha[:], e.SHA256) {
			c.flags |= hasSHA
		} else {
			r.sha = e.SHA256
		}
	}
	if r != (rare{}) {
		c.flags |= hasRare
		t.rare[path] = r
	} else if len(t.rare) > 0 {
		delete(t.rare, path)
	}
	if l := t.load; l != nil && len(path) <= maxSlotKey {
		l.recs = append(l.recs, slot{off: uint32(len(l.keys)), n: uint16(len(path)), c: c})
		l.keys = append(l.keys, path...)
		return
	}
	if i, ok := t.find(path); ok {
		c.flags |= t.sorted[i].c.flags & seen
		t.sorted[i].c = c
		return
	}
	if old, ok := t.m[path]; ok {
		c.flags |= old.flags & seen
	}
	t.m[path] = c
	if len(t.m) >= max(t.mergeMin, (len(t.sorted)-t.dead)/4) {
		t.merge()
	}
}

// mergeMin is the number of entries the map holds before they are merged
// into the sorted part (table.mergeMin); past it, a quarter of the sorted
// part's.
const mergeMin = 1 << 16

// merge moves the map's entries into the sorted part (which drops its
// deleted slots): a run that records a million uploads keeps them near a
// hundred bytes each, where a map holds them at about 160. The merges
// grow the sorted part by a quarter at a time, so their copying costs a
// few times its size over a whole run.
func (t *table) merge() {
	paths := make([]string, 0, len(t.m))
	size := 0
	for p := range t.m {
		if len(p) <= maxSlotKey {
			paths = append(paths, p)
			size += len(p)
		}
	}
	if len(paths) == 0 {
		return
	}
	slices.Sort(paths)
	for _, s := range t.sorted {
		if s.c.flags&deleted == 0 {
			size += int(s.n)
		}
	}
	keys := make([]byte, 0, size)
	sorted := make([]slot, 0, len(t.sorted)-t.dead+len(paths))
	add := func(k []byte, c compact) {
		sorted = append(sorted, slot{off: uint32(len(keys)), n: uint16(len(k)), c: c})
		keys = append(keys, k...)
	}
	addPath := func(p string, c compact) {
		sorted = append(sorted, slot{off: uint32(len(keys)), n: uint16(len(p)), c: c})
		keys = append(keys, p...)
	}
	i := 0
	for _, p := range paths {
		for ; i < len(t.sorted); i++ {
			s := t.sorted[i]
			k := t.keys[s.off : s.off+uint32(s.n)]
			if compareKey(k, p) > 0 {
				break
			}
			if s.c.flags&deleted == 0 { // (a path is never in both)
				add(k, s.c)
			}
		}
		addPath(p, t.m[p])
	}
	for ; i < len(t.sorted); i++ {
		if s := t.sorted[i]; s.c.flags&deleted == 0 {
			add(t.keys[s.off:s.off+uint32(s.n)], s.c)
		}
	}
	rest := map[string]compact{} // a map never shrinks: a new one
	for p, c := range t.m {
		if len(p) > maxSlotKey {
			rest[p] = c
		}
	}
	t.m, t.keys, t.sorted, t.dead, t.hint = rest, keys, sorted, 0, 0
}

// lookup returns path's compact entry.
func (t *table) lookup(path string) (compact, bool) {
	if c, ok := t.m[path]; ok {
		return c, true
	}
	if i, ok := t.find(path); ok {
		return t.sorted[i].c, true
	}
	return compact{}, false
}

func (t *table) get(path string) (Entry, bool) {
	c, ok := t.lookup(path)
	if !ok {
		return Entry{}, false
	}
	return t.entry(path, c), true
}

func (t *table) entry(path string, c compact) Entry {
	e := Entry{Size: c.size, ModTime: fromUnixNano(c.mtime), DocumentID: c.docID,
		UploadSessionUUID: t.sessions.list[c.session], Tags: t.tags.list[c.tags], Fresh: c.flags&fresh != 0}
	if c.at != 0 {
		e.UploadedAt = time.Unix(atEpoch+int64(c.at), 0).UTC()
	}
	if c.flags&extImplied != 0 {
		e.ExternalID = t.expected(path)
	}
	if c.flags&hasSHA != 0 {
		e.SHA256 = hex.EncodeToString(c.sha[:])
	}
	if c.flags&hasRare != 0 {
		r := t.rare[path]
		if c.flags&hasSHA == 0 {
			e.SHA256 = r.sha
		}
		if c.flags&extImplied == 0 {
			e.ExternalID = r.extOther
		}
	}
	return e
}

// sameExternalID reports whether path's entry carries the external id id.
func (t *table) sameExternalID(path, id string) bool {
	c, ok := t.lookup(path)
	if !ok {
		return false
	}
	if c.flags&extImplied != 0 {
		return id == t.expected(path)
	}
	return t.rare[path].extOther == id
}

func (t *table) del(path string) {
	if l := t.load; l != nil && len(path) <= maxSlotKey {
		l.recs = append(l.recs, slot{off: uint32(len(l.keys)), n: uint16(len(path)), c: compact{flags: deleted}})
		l.keys = append(l.keys, path...)
		return
	}
	delete(t.m, path)
	if i, ok := t.find(path); ok {
		t.sorted[i].c.flags |= deleted
		t.dead++
	}
	if len(t.rare) > 0 {
		delete(t.rare, path)
	}
}

func (t *table) len() int { return len(t.m) + len(t.sorted) - t.dead }

// mark sets flags on path's entry; it reports whether the table has it.
func (t *table) mark(path string, f uint8) bool {
	if c, ok := t.m[path]; ok {
		if c.flags&f != f {
			c.flags |= f
			t.m[path] = c
		}
		return true
	}
	if i, ok := t.find(path); ok {
		t.sorted[i].c.flags |= f
		return true
	}
	return false
}

// each calls fn for every entry, the sorted part in order, then the rest.
func (t *table) each(fn func(path string, c compact)) {
	for _, s := range t.sorted {
		if s.c.flags&deleted == 0 {
			fn(t.slotKey(s), s.c)
		}
	}
	for p, c := range t.m {
		fn(p, c)
	}
}

func (t *table) eachEntry(fn func(path string, e Entry)) {
	t.each(func(p string, c compact) { fn(p, t.entry(p, c)) })
}

func (t *table) eachUnseen(fn func(path string, e Entry)) {
	t.each(func(p string, c compact) {
		if c.flags&seen == 0 {
			fn(p, t.entry(p, c))
		}
	})
}

// eachSorted calls fn for every entry in the order of their paths, with
// no list of them made: the map is merged into the sorted part first (a
// path too long for a slot, which no file system makes, comes last).
func (t *table) eachSorted(fn func(path string, c compact)) {
	if len(t.m) > 0 {
		t.merge()
	}
	for _, s := range t.sorted {
		if s.c.flags&deleted == 0 {
			fn(t.slotKey(s), s.c)
		}
	}
	long := make([]string, 0, len(t.m))
	for p := range t.m {
		long = append(long, p)
	}
	slices.Sort(long)
	for _, p := range long {
		fn(p, t.m[p])
	}
}

// unixNano keeps the zero time distinct from the epoch.
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromUnixNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}
