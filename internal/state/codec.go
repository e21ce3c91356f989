package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"time"
	"unicode/utf8"
)

// The journal is read and written millions of times on large trees, so its
// records are encoded and decoded by hand for the flat shape this package
// writes. Anything else that is valid JSON (escapes in a string, a field a
// later version added) goes through encoding/json, with the same result.

// appendRecord appends r as one JSON line, as json.Marshal would.
func appendRecord(dst []byte, r Record) []byte {
	dst = append(dst, `{"op":`...)
	dst = appendString(dst, string(r.Op))
	dst = append(dst, `,"path":`...)
	dst = appendString(dst, r.Path)
	dst = append(dst, `,"size":`...)
	dst = strconv.AppendInt(dst, r.Size, 10)
	dst = append(dst, `,"mtime":"`...)
	dst = r.ModTime.AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, '"')
	if r.ExternalID != "" {
		dst = append(dst, `,"external_id":`...)
		dst = appendString(dst, r.ExternalID)
	}
	if r.SHA256 != "" {
		dst = append(dst, `,"sha256":`...)
		dst = appendString(dst, r.SHA256)
	}
	if r.DocumentID != 0 {
		dst = append(dst, `,"document_id":`...)
		dst = strconv.AppendInt(dst, r.DocumentID, 10)
	}
	if r.UploadSessionUUID != "" {
		dst = append(dst, `,"upload_session_uuid":`...)
		dst = appendString(dst, r.UploadSessionUUID)
	}
	if r.Tags != "" {
		dst = append(dst, `,"tags":`...)
		dst = appendString(dst, r.Tags)
	}
	dst = append(dst, `,"at":"`...)
	dst = r.At.AppendFormat(dst, time.RFC3339Nano)
	return append(dst, `"}`...)
}

// appendString appends s as a JSON string; strings that need escaping are
// left to encoding/json.
func appendString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			if c >= utf8.RuneSelf && utf8.ValidString(s) && !needsEscape(s) {
				break
			}
			b, _ := json.Marshal(s)
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// needsEscape reports characters encoding/json escapes in valid UTF-8.
func needsEscape(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == '"' || r == '\\' || r == '<' || r == '>' || r == '&' || r == '\u2028' || r == '\u2029' {
			return true
		}
	}
	return false
}

var errSlow = errors.New("not the fast shape")

// decodeRecord reads one record.
func decodeRecord(b []byte, r *Record) error {
	if err := decodeFast(b, r); err == nil {
		return nil
	}
	*r = Record{}
	return json.Unmarshal(b, r)
}

// decodeFast reads the flat shape appendRecord writes, and nothing else.
func decodeFast(b []byte, r *Record) error {
	b = bytes.TrimSpace(b)
	if len(b) < 2 || b[0] != '{' || b[len(b)-1] != '}' {
		return errSlow
	}
	b = b[1 : len(b)-1]
	for len(b) > 0 {
		key, rest, ok := readString(b)
		if !ok || len(rest) == 0 || rest[0] != ':' {
			return errSlow
		}
		rest = rest[1:]
		var err error
		switch string(key) {
		case "op":
			var v []byte
			if v, rest, ok = readString(rest); !ok {
				return errSlow
			}
			r.Op = Op(v)
		case "path", "external_id", "sha256", "upload_session_uuid", "tags":
			var v []byte
			if v, rest, ok = readString(rest); !ok {
				return errSlow
			}
			switch string(key) {
			case "path":
				r.Path = string(v)
			case "external_id":
				r.ExternalID = string(v)
			case "sha256":
				r.SHA256 = string(v)
			case "tags":
				r.Tags = string(v)
			default:
				r.UploadSessionUUID = string(v)
			}
		case "size", "document_id":
			i := 0
			if i < len(rest) && rest[i] == '-' {
				i++
			}
			digits := i
			for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
				i++
			}
			if i == digits || rest[digits] == '0' && i-digits > 1 {
				return errSlow // no digits, or a leading zero JSON forbids
			}
			n, perr := strconv.ParseInt(string(rest[:i]), 10, 64)
			if perr != nil {
				return errSlow
			}
			if string(key) == "size" {
				r.Size = n
			} else {
				r.DocumentID = n
			}
			rest = rest[i:]
		case "mtime", "at":
			var v []byte
			if v, rest, ok = readString(rest); !ok {
				return errSlow
			}
			t, ok := parseUTC(v)
			if !ok {
				if t, err = time.Parse(time.RFC3339Nano, string(v)); err != nil {
					return errSlow
				}
			}
			if string(key) == "mtime" {
				r.ModTime = t
			} else {
				r.At = t
			}
		default:
			return errSlow
		}
		if len(rest) > 0 {
			if rest[0] != ',' || len(rest) == 1 {
				return errSlow // a trailing comma is not JSON
			}
			rest = rest[1:]
		}
		b = rest
	}
	return nil
}

// readString reads a JSON string without escapes at the start of b, in
// one pass over its bytes (valid UTF-8 checked only when one is not ASCII).
func readString(b []byte) (s, rest []byte, ok bool) {
	if len(b) < 2 || b[0] != '"' {
		return nil, b, false
	}
	ascii := true
	for i := 1; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			s = b[1:i]
			if !ascii && !utf8.Valid(s) {
				return nil, b, false
			}
			return s, b[i+1:], true
		case c < 0x20 || c == '\\':
			return nil, b, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, b, false
}

// parseUTC reads the times appendRecord writes of UTC times,
// 2006-01-02T15:04:05[.999999999]Z, without time.Parse's generality; it
// reports false for anything else (which time.Parse then reads).
func parseUTC(v []byte) (time.Time, bool) {
	if len(v) < 20 || v[4] != '-' || v[7] != '-' || v[10] != 'T' || v[13] != ':' || v[16] != ':' || v[len(v)-1] != 'Z' {
		return time.Time{}, false
	}
	num := func(b []byte) (int, bool) {
		n := 0
		for _, c := range b {
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	year, ok1 := num(v[0:4])
	month, ok2 := num(v[5:7])
	day, ok3 := num(v[8:10])
	hour, ok4 := num(v[11:13])
	minute, ok5 := num(v[14:16])
	sec, ok6 := num(v[17:19])
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 || month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	if day > time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day() {
		return time.Time{}, false
	}
	nsec := 0
	switch frac := v[19 : len(v)-1]; {
	case len(frac) == 0:
	case len(frac) >= 2 && len(frac) <= 10 && frac[0] == '.':
		n, ok := num(frac[1:])
		if !ok {
			return time.Time{}, false
		}
		for i := len(frac) - 1; i < 9; i++ {
			n *= 10
		}
		nsec = n
	default:
		return time.Time{}, false
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC), true
}
