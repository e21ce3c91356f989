package state

import (
	"bytes"
	"encoding/hex"
	"slices"
	"sort"
	"time"

	"github.com/paradigm-upload/paradigm-upload/internal/compact"
)

// table holds the entries of one kind (uploaded, or started) compactly, so
// that a state of a million files stays near a hundred bytes an entry:
//
//   - the sorted part is a row of segments, each up to segMax slots sorted
//     by path with the paths back to back in a byte arena (no string, no
//     map slot per entry); a lookup is a binary search over the segments'
//     first paths, then within one;
//   - what a run adds lives in a map beside it until it holds mergeMin
//     entries, then is merged into the segments its paths fall in: only
//     those are rewritten (a run's new paths come in the walk's order, so
//     mostly the last), and never the whole part at once, which would hold
//     it twice in memory for the time of the copy;
//   - the entries of a table never loaded in bulk (the started uploads)
//     mostly stay in the map;
//   - an entry is times and ids as integers, the time of the record in
//     seconds, the content hash as its first 16 bytes, the upload session
//     and the tags as indexes into shared lists, the external id as one bit
//     when it is the one the path implies (Options.ExternalID), and the
//     uncommon fields (an external id or a hash of another form) in a side
//     map that is empty unless they are used.
type table struct {
	m     map[string]packed // entries not in the sorted part
	segs  []segment         // the sorted part
	slots int               // slots in segs, deleted ones included
	dead  int               // slots of segs deleted since they were written
	load  *loader           // while a bulk load runs, nil otherwise

	rare     map[string]rare
	sessions *compact.Strings
	tags     *compact.Strings
	// expected returns the external id a path implies; nil: none.
	expected func(path string) string
	mergeMin int      // see merge
	segMax   int      // see segment
	hint     position // the slot find found last
}

// segment is a piece of a table's sorted part: its slots, sorted by path,
// and the arena their paths are in (the segments of a load share the
// load's). Merges write segments of segMax slots at most.
type segment struct {
	slots []slot
	keys  []byte
	dead  int // slots deleted since the segment was written
}

// segMax is the size of the segments a merge writes: about 1.5 MiB with
// their paths.
const segMax = 1 << 14

// position is a slot's place in the sorted part.
type position struct{ seg, i int }

// maxSlotKey is the longest path a slot holds; longer ones (no file system
// makes them) stay in the map.
const maxSlotKey = 1<<16 - 1

// slot is an entry of the sorted part.
type slot struct {
	off uint32 // of its path in keys
	n   uint16 // length of its path
	c   packed
}

type packed struct {
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

// atEpoch is the origin of packed.at.
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
	// Cut into segments without a copy: they share the load's slots and
	// arena (each ends at its own capacity, so none grows into the next).
	t.segs = t.segs[:0]
	for i := 0; i < len(sorted); i += t.segMax {
		j := min(i+t.segMax, len(sorted))
		t.segs = append(t.segs, segment{slots: sorted[i:j:j], keys: keys})
	}
	t.slots, t.dead, t.hint = len(sorted), 0, position{}
}

// find returns the position of path's slot in the sorted part, and
// whether it has one, not deleted. A run looks paths up in the order of its
// walk, which is mostly the sorted order: the slot last found, and the one
// after it, are tried before a binary search.
func (t *table) find(path string) (position, bool) {
	h := t.hint
	for _, p := range [2]position{h, t.next(h)} {
		if p.seg < len(t.segs) && p.i < len(t.segs[p.seg].slots) && compareKey(t.keyAt(p), path) == 0 {
			t.hint = p
			return p, t.slotAt(p).c.flags&deleted == 0
		}
	}
	// The last segment whose first path is not after path.
	seg := sort.Search(len(t.segs), func(k int) bool {
		return compareKey(t.keyAt(position{k, 0}), path) > 0
	}) - 1
	if seg < 0 {
		return position{}, false
	}
	g := &t.segs[seg]
	i, ok := slices.BinarySearchFunc(g.slots, path, func(s slot, p string) int {
		return compareKey(g.keys[s.off:s.off+uint32(s.n)], p)
	})
	if !ok {
		return position{}, false
	}
	t.hint = position{seg, i}
	return t.hint, g.slots[i].c.flags&deleted == 0
}

// next is the position after p.
func (t *table) next(p position) position {
	if p.seg < len(t.segs) && p.i+1 >= len(t.segs[p.seg].slots) {
		return position{p.seg + 1, 0}
	}
	return position{p.seg, p.i + 1}
}

func (t *table) slotAt(p position) *slot { return &t.segs[p.seg].slots[p.i] }

func (t *table) keyAt(p position) []byte {
	g := &t.segs[p.seg]
	s := g.slots[p.i]
	return g.keys[s.off : s.off+uint32(s.n)]
}

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

func newTable(s, tags *compact.Strings, expected func(string) string) *table {
	return &table{m: map[string]packed{}, rare: map[string]rare{}, sessions: s, tags: tags, expected: expected,
		mergeMin: mergeMin, segMax: segMax}
}

// SameContent compares two content hashes as the state keeps them: a
// sha256 in hex, or its first 32 hex digits.
func SameContent(a, b string) bool {
	n := min(len(a), len(b))
	return n >= 32 && a[:n] == b[:n]
}

func (t *table) put(path string, e Entry) {
	c := packed{size: e.Size, mtime: compact.UnixNano(e.ModTime), docID: e.DocumentID,
		session: t.sessions.ID(e.UploadSessionUUID), tags: t.tags.ID(e.Tags)}
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
		if len(e.SHA256) <= 64 && compact.ParseHex(c.sha[:], e.SHA256) {
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
	if p, ok := t.find(path); ok {
		s := t.slotAt(p)
		c.flags |= s.c.flags & seen
		s.c = c
		return
	}
	if old, ok := t.m[path]; ok {
		c.flags |= old.flags & seen
	}
	t.m[path] = c
	if len(t.m) >= t.mergeMin {
		t.merge()
	}
}

// mergeMin is the number of entries the map holds before they are merged
// into the sorted part (table.mergeMin).
const mergeMin = 1 << 16

// merge moves the map's entries into the sorted part: each segment that
// new paths fall in (those from its first path to the next segment's) is
// written anew with them, without its deleted slots, cut at segMax; the
// others stay as they are. A run that records a million uploads keeps them
// near a hundred bytes each, where a map holds them at about 160, and at
// no time holds the sorted part twice.
func (t *table) merge() {
	paths := make([]string, 0, len(t.m))
	for p := range t.m {
		if len(p) <= maxSlotKey {
			paths = append(paths, p)
		}
	}
	if len(paths) == 0 {
		return
	}
	slices.Sort(paths)
	out := make([]segment, 0, len(t.segs)+len(paths)/t.segMax+2)
	if len(t.segs) == 0 {
		out = t.write(out, segment{}, paths)
	}
	for k := range t.segs {
		g := t.segs[k]
		n := len(paths) // the new paths before the next segment's first
		if k+1 < len(t.segs) {
			first := t.keyAt(position{k + 1, 0})
			n = sort.Search(len(paths), func(j int) bool { return compareKey(first, paths[j]) <= 0 })
		}
		if n == 0 {
			out = append(out, g)
			continue
		}
		out = t.write(out, g, paths[:n])
		paths = paths[n:]
	}
	rest := map[string]packed{} // a map never shrinks: a new one
	for p, c := range t.m {
		if len(p) > maxSlotKey {
			rest[p] = c
		}
	}
	t.m, t.segs, t.hint = rest, out, position{}
	t.slots, t.dead = 0, 0
	for _, g := range out {
		t.slots, t.dead = t.slots+len(g.slots), t.dead+g.dead
	}
}

// write appends to out the segment g merged with the map's entries of
// paths (sorted, none in g), without g's deleted slots, cut at segMax.
func (t *table) write(out []segment, g segment, paths []string) []segment {
	size := 0
	for _, p := range paths {
		size += len(p)
	}
	for _, s := range g.slots {
		if s.c.flags&deleted == 0 {
			size += int(s.n)
		}
	}
	keys := make([]byte, 0, size)
	slots := make([]slot, 0, len(g.slots)-g.dead+len(paths))
	add := func(k []byte, c packed) {
		slots = append(slots, slot{off: uint32(len(keys)), n: uint16(len(k)), c: c})
		keys = append(keys, k...)
	}
	addPath := func(p string, c packed) {
		slots = append(slots, slot{off: uint32(len(keys)), n: uint16(len(p)), c: c})
		keys = append(keys, p...)
	}
	i := 0
	for _, p := range paths {
		for ; i < len(g.slots); i++ {
			s := g.slots[i]
			k := g.keys[s.off : s.off+uint32(s.n)]
			if compareKey(k, p) > 0 {
				break
			}
			if s.c.flags&deleted == 0 { // (a path is never in both)
				add(k, s.c)
			}
		}
		addPath(p, t.m[p])
	}
	for ; i < len(g.slots); i++ {
		if s := g.slots[i]; s.c.flags&deleted == 0 {
			add(g.keys[s.off:s.off+uint32(s.n)], s.c)
		}
	}
	for i := 0; i < len(slots); i += t.segMax {
		j := min(i+t.segMax, len(slots))
		out = append(out, segment{slots: slots[i:j:j], keys: keys})
	}
	return out
}

// lookup returns path's compact entry.
func (t *table) lookup(path string) (packed, bool) {
	if c, ok := t.m[path]; ok {
		return c, true
	}
	if p, ok := t.find(path); ok {
		return t.slotAt(p).c, true
	}
	return packed{}, false
}

func (t *table) get(path string) (Entry, bool) {
	c, ok := t.lookup(path)
	if !ok {
		return Entry{}, false
	}
	return t.entry(path, c), true
}

func (t *table) entry(path string, c packed) Entry {
	e := Entry{Size: c.size, ModTime: compact.Time(c.mtime), DocumentID: c.docID,
		UploadSessionUUID: t.sessions.At(c.session), Tags: t.tags.At(c.tags), Fresh: c.flags&fresh != 0}
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
		l.recs = append(l.recs, slot{off: uint32(len(l.keys)), n: uint16(len(path)), c: packed{flags: deleted}})
		l.keys = append(l.keys, path...)
		return
	}
	delete(t.m, path)
	if p, ok := t.find(path); ok {
		t.slotAt(p).c.flags |= deleted
		t.segs[p.seg].dead++
		t.dead++
	}
	if len(t.rare) > 0 {
		delete(t.rare, path)
	}
}

func (t *table) len() int { return len(t.m) + t.slots - t.dead }

// mark sets flags on path's entry; it reports whether the table has it.
func (t *table) mark(path string, f uint8) bool {
	if c, ok := t.m[path]; ok {
		if c.flags&f != f {
			c.flags |= f
			t.m[path] = c
		}
		return true
	}
	if p, ok := t.find(path); ok {
		t.slotAt(p).c.flags |= f
		return true
	}
	return false
}

// each calls fn for every entry, the sorted part in order, then the rest.
func (t *table) each(fn func(path string, c packed)) {
	t.eachSlot(fn)
	for p, c := range t.m {
		fn(p, c)
	}
}

// eachSlot calls fn for every entry of the sorted part, in order.
func (t *table) eachSlot(fn func(path string, c packed)) {
	for _, g := range t.segs {
		for _, s := range g.slots {
			if s.c.flags&deleted == 0 {
				fn(string(g.keys[s.off:s.off+uint32(s.n)]), s.c)
			}
		}
	}
}

func (t *table) eachEntry(fn func(path string, e Entry)) {
	t.each(func(p string, c packed) { fn(p, t.entry(p, c)) })
}

func (t *table) eachUnseen(fn func(path string, e Entry)) {
	t.each(func(p string, c packed) {
		if c.flags&seen == 0 {
			fn(p, t.entry(p, c))
		}
	})
}

// eachSorted calls fn for every entry in the order of their paths, with
// no list of them made: the map is merged into the sorted part first (a
// path too long for a slot, which no file system makes, comes last).
func (t *table) eachSorted(fn func(path string, c packed)) {
	if len(t.m) > 0 {
		t.merge()
	}
	t.eachSlot(fn)
	long := make([]string, 0, len(t.m))
	for p := range t.m {
		long = append(long, p)
	}
	slices.Sort(long)
	for _, p := range long {
		fn(p, t.m[p])
	}
}
