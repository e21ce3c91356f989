package upload

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"strconv"
	"time"

	"golang.org/x/text/unicode/norm"
)

// Identity: how a file is named to the state file and to the service.

// ExternalID is the identifier sent as external_metadata.external_id: stable
// for a given file (its path in the tree, size and modification time), so a
// repeated upload of the same file is recognised by the service, and a
// changed file gets a new one.
func ExternalID(rel string, size int64, mtime time.Time) string {
	h := sha256.New()
	h.Write([]byte(rel))
	h.Write([]byte{0})
	h.Write([]byte(strconv.FormatInt(size, 10)))
	h.Write([]byte{0})
	h.Write([]byte(strconv.FormatInt(mtime.UnixNano(), 10)))
	return "pu1-" + hex.EncodeToString(h.Sum(nil)[:16])
}

// ContentExternalID is the external id under --checksum: stable for a given
// path and content, whatever the file's modification time.
func ContentExternalID(rel, sha string) string {
	h := sha256.New()
	h.Write([]byte(rel))
	h.Write([]byte{0})
	h.Write([]byte(sha))
	return "pu1-" + hex.EncodeToString(h.Sum(nil)[:16])
}

// fileSHA256 hashes a file's content.
func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// normRel puts a relative path in one Unicode normal form, so that the same
// tree copied between macOS (NFD) and Linux (NFC) is recognised.
func normRel(rel string) string {
	if norm.NFC.IsNormalString(rel) {
		return rel
	}
	return norm.NFC.String(rel)
}
