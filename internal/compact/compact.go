// Package compact owns the compact forms shared by the tables that hold an
// entry per file or document, a million of them in a large run: the state
// file's (internal/state) and the workspace listing's (internal/upload).
// Strings shared by many entries are interned into 4-byte indexes, hex
// digests decoded into bytes, times kept as integers.
package compact

import "time"

// Strings interns strings: an entry keeps a uint32 index (4 bytes) in
// place of a string (a 16-byte header and its bytes); each distinct string
// is held once, with a map slot (about 50 bytes besides its own). Index 0
// is "". A run has a handful of upload sessions and tag sets for a million
// entries: 4 MB of indexes where strings of 36 bytes would take 52 MB.
// Not safe for concurrent use.
type Strings struct {
	list []string
	idx  map[string]uint32
}

// NewStrings returns a table that holds "" at index 0.
func NewStrings() *Strings {
	return &Strings{list: []string{""}, idx: map[string]uint32{"": 0}}
}

// ID returns the index of v, adding v when it is new.
func (s *Strings) ID(v string) uint32 {
	if i, ok := s.idx[v]; ok {
		return i
	}
	i := uint32(len(s.list))
	s.list = append(s.list, v)
	s.idx[v] = i
	return i
}

// At returns the string of index i.
func (s *Strings) At(i uint32) string { return s.list[i] }

// Len returns how many strings the table holds, "" included.
func (s *Strings) Len() int { return len(s.list) }

// ParseHex decodes the first len(dst)*2 digits of s into dst, and reports
// whether s is that long at least and lower-case hex throughout: only then
// does hex of dst, with what follows, give s back.
func ParseHex(dst []byte, s string) bool {
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

// UnixNano is t in nanoseconds since the epoch, the zero time 0 (kept
// distinct from the epoch itself, which no file carries).
func UnixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// Time is the time of UnixNano's n, in UTC; 0 is the zero time.
func Time(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}
