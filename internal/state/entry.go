package state

import (
	"encoding/hex"
	"slices"
	"time"
)

// table holds the entries of one kind (uploaded, or started) compactly, so
// that a state of a million files stays small: times and ids as integers,
// the usual external id (a "puN-" prefix and 32 hex digits) as 16 bytes and
// its version, the content hash as its first 16 bytes, the upload session
// and the tags as indexes into shared lists, and the uncommon fields (an
// external id or a hash of another form) in a side map that is empty unless
// they are used.
type table struct {
	m        map[string]compact
	rare     map[string]rare
	sessions *sessions
	tags     *sessions
}

type compact struct {
	size, mtime, uploadedAt, docID int64
	ext, sha                       [16]byte
	session, tags                  uint32 // indexes into sessions and tags; 0 is none
	extKind                        byte   // 0: none; else the digit of "puN-"
	hasSHA, hasRare, seen          bool
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

func newTable(s, tags *sessions) *table {
	return &table{m: map[string]compact{}, rare: map[string]rare{}, sessions: s, tags: tags}
}

// parseExt reads the usual external id form ("pu1-" or "pu2-" and 32
// lower-case hex digits) into 16 bytes and the version digit.
func parseExt(id string) ([16]byte, byte, bool) {
	var b [16]byte
	if len(id) != 4+32 || id[:2] != "pu" || id[3] != '-' || id[2] < '1' || id[2] > '9' {
		return b, 0, false
	}
	if !parseHex(b[:], id[4:]) {
		return b, 0, false
	}
	return b, id[2], true
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
	c := compact{size: e.Size, mtime: unixNano(e.ModTime), uploadedAt: unixNano(e.UploadedAt), docID: e.DocumentID,
		session: t.sessions.id(e.UploadSessionUUID), tags: t.tags.id(e.Tags)}
	if old, ok := t.m[path]; ok {
		c.seen = old.seen
	}
	var r rare
	if b, kind, ok := parseExt(e.ExternalID); ok {
		c.ext, c.extKind = b, kind
	} else {
		r.extOther = e.ExternalID
	}
	if e.SHA256 != "" {
		if len(e.SHA256) <= 64 && parseHex(c.sha[:], e.SHA256) {
			c.hasSHA = true
		} else {
			r.sha = e.SHA256
		}
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
		UploadSessionUUID: t.sessions.list[c.session], Tags: t.tags.list[c.tags]}
	if c.extKind != 0 {
		e.ExternalID = "pu" + string(c.extKind) + "-" + hex.EncodeToString(c.ext[:])
	}
	if c.hasSHA {
		e.SHA256 = hex.EncodeToString(c.sha[:])
	}
	if c.hasRare {
		r := t.rare[path]
		if !c.hasSHA {
			e.SHA256 = r.sha
		}
		if c.extKind == 0 {
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
	if c.extKind != 0 {
		b, kind, ok := parseExt(id)
		return ok && b == c.ext && kind == c.extKind
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

// markSeen marks path as seen by this run's scan; it reports whether the
// table has it.
func (t *table) markSeen(path string) bool {
	c, ok := t.m[path]
	if ok && !c.seen {
		c.seen = true
		t.m[path] = c
	}
	return ok
}

func (t *table) eachUnseen(fn func(path string, e Entry)) {
	for p, c := range t.m {
		if !c.seen {
			fn(p, t.entry(p, c))
		}
	}
}

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
