package state

import (
	"encoding/hex"
	"slices"
	"time"
)

// table holds the entries of one kind (uploaded, or started) compactly, so
// that a state of a million files stays small: times and ids as integers,
// the usual external id ("pu1-" and 32 hex digits) as 16 bytes, the upload
// session as an index, and the uncommon fields (an external id of another
// form, a content hash) in a side map that is empty unless they are used.
type table struct {
	m        map[string]compact
	rare     map[string]rare
	sessions *sessions
}

type compact struct {
	size, mtime, uploadedAt, docID int64
	ext                            [16]byte
	session                        uint32 // index into sessions; 0 is none
	hasExt, hasRare                bool
}

type rare struct {
	extOther, sha string
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

func newTable(s *sessions) *table {
	return &table{m: map[string]compact{}, rare: map[string]rare{}, sessions: s}
}

const extPrefix = "pu1-"

// parseExt reads the usual external id form into 16 bytes.
func parseExt(id string) ([16]byte, bool) {
	var b [16]byte
	if len(id) != len(extPrefix)+32 || id[:len(extPrefix)] != extPrefix {
		return b, false
	}
	hexPart := id[len(extPrefix):]
	if _, err := hex.Decode(b[:], []byte(hexPart)); err != nil || hex.EncodeToString(b[:]) != hexPart {
		return b, false // not lower-case hex: keep it as written
	}
	return b, true
}

func (t *table) put(path string, e Entry) {
	c := compact{size: e.Size, mtime: unixNano(e.ModTime), uploadedAt: unixNano(e.UploadedAt), docID: e.DocumentID,
		session: t.sessions.id(e.UploadSessionUUID)}
	r := rare{sha: e.SHA256}
	if b, ok := parseExt(e.ExternalID); ok {
		c.ext, c.hasExt = b, true
	} else {
		r.extOther = e.ExternalID
	}
	if r != (rare{}) {
		c.hasRare = true
		t.rare[path] = r
	} else if len(t.rare) > 0 {
		delete(t.rare, path)
	}
	t.m[path] = c
}

func (t *table) get(path string) (Entry, bool) {
	c, ok := t.m[path]
	if !ok {
		return Entry{}, false
	}
	return t.entry(path, c), true
}

func (t *table) entry(path string, c compact) Entry {
	e := Entry{Size: c.size, ModTime: fromUnixNano(c.mtime), UploadedAt: fromUnixNano(c.uploadedAt), DocumentID: c.docID,
		UploadSessionUUID: t.sessions.list[c.session]}
	if c.hasExt {
		e.ExternalID = extPrefix + hex.EncodeToString(c.ext[:])
	}
	if c.hasRare {
		r := t.rare[path]
		e.SHA256 = r.sha
		if !c.hasExt {
			e.ExternalID = r.extOther
		}
	}
	return e
}

// sameExternalID compares without building strings.
func (t *table) sameExternalID(path, id string) bool {
	c, ok := t.m[path]
	if !ok {
		return false
	}
	if c.hasExt {
		b, ok := parseExt(id)
		return ok && b == c.ext
	}
	return t.rare[path].extOther == id
}

func (t *table) del(path string) {
	delete(t.m, path)
	if len(t.rare) > 0 {
		delete(t.rare, path)
	}
}

func (t *table) len() int { return len(t.m) }

func (t *table) each(fn func(path string, e Entry)) {
	for p, c := range t.m {
		fn(p, t.entry(p, c))
	}
}

func (t *table) sortedKeys() []string {
	keys := make([]string, 0, len(t.m))
	for k := range t.m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
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
