package state

import (
	"encoding/hex"
	"time"
)

// compact is how an Entry is held in memory: times as integers and the
// usual external id ("pu1-" and 32 hex digits) as 16 bytes, so that a
// state of a million files stays small. Entry is the public view.
type compact struct {
	size, mtime, uploadedAt, docID int64
	ext                            [16]byte
	extOther                       string // an external id of another form
	sha                            string
	session                        string // interned
}

const extPrefix = "pu1-"

func pack(e Entry, intern func(string) string) compact {
	c := compact{
		size: e.Size, mtime: unixNano(e.ModTime), uploadedAt: unixNano(e.UploadedAt), docID: e.DocumentID,
		sha: e.SHA256, session: intern(e.UploadSessionUUID),
	}
	id := e.ExternalID
	if len(id) == len(extPrefix)+32 && id[:len(extPrefix)] == extPrefix {
		if _, err := hex.Decode(c.ext[:], []byte(id[len(extPrefix):])); err == nil && hex.EncodeToString(c.ext[:]) == id[len(extPrefix):] {
			return c
		}
		c.ext = [16]byte{}
	}
	c.extOther = id
	return c
}

func (c compact) unpack() Entry {
	return Entry{
		Size: c.size, ModTime: fromUnixNano(c.mtime), UploadedAt: fromUnixNano(c.uploadedAt), DocumentID: c.docID,
		ExternalID: c.externalID(), SHA256: c.sha, UploadSessionUUID: c.session,
	}
}

func (c compact) externalID() string {
	if c.extOther != "" || c.ext == [16]byte{} {
		return c.extOther
	}
	return extPrefix + hex.EncodeToString(c.ext[:])
}

// sameExternalID compares without building strings.
func (c compact) sameExternalID(id string) bool {
	if c.extOther != "" || c.ext == [16]byte{} {
		return c.extOther == id
	}
	if len(id) != len(extPrefix)+32 || id[:len(extPrefix)] != extPrefix {
		return false
	}
	var b [16]byte
	_, err := hex.Decode(b[:], []byte(id[len(extPrefix):]))
	return err == nil && b == c.ext
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
