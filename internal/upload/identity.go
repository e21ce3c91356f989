package upload

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/paradigm-upload/paradigm-upload/internal/api"
	"github.com/paradigm-upload/paradigm-upload/internal/state"
)

// Identity: how a file is named to the service and to the state file, and
// how the version the service holds is written down beside it.
//
// A file is its key (its path in the tree, in one stable form: see
// scan/key.go) within a source (--source, so that two trees can share a
// workspace). The external id is derived from those two alone: editing,
// touching or restoring the file never changes it, so the service holds
// one document per file. The version the document holds — size,
// modification time, content hash, the tags this tool applied — travels in
// additional_metadata, so the service alone can tell what it has (the state
// file is a cache of it).

// uploadedBy marks the documents this tool uploaded; --delete touches no
// other.
const uploadedBy = "paradigm-upload"

// The keys of additional_metadata.
const (
	metaPath       = "path"
	metaSource     = "source"
	metaSize       = "size"
	metaMTime      = "mtime"
	metaSHA256     = "sha256"
	metaTags       = "tags"
	metaUploadedBy = "uploaded_by"
)

// ExternalID is the external id of the file at key in source.
// It is computed for every file of every run (and of every state file
// loaded), so it is built in one allocation where the path is short.
func ExternalID(source, key string) string {
	var buf [256]byte
	in := append(append(append(append(buf[:0], "pu2\x00"...), source...), 0), key...)
	sum := sha256.Sum256(in)
	var out [4 + 32]byte
	copy(out[:], "pu2-")
	hex.Encode(out[4:], sum[:16])
	return string(out[:])
}

// externalMetadata is what is sent for a file: its identity and the
// version (the hash is filled in as the file streams: api's HashKey).
func externalMetadata(source, key string, size int64, mtime time.Time, tags string) *api.ExternalMetadata {
	m := map[string]any{
		metaPath: key, metaSize: strconv.FormatInt(size, 10), metaMTime: mtime.UTC().Format(time.RFC3339Nano),
		metaUploadedBy: uploadedBy, metaTags: tags,
	}
	if source != "" {
		m[metaSource] = source
	}
	return &api.ExternalMetadata{ExternalID: ExternalID(source, key), AdditionalMetadata: m}
}

// known is what is known of the document of a file: from the state file,
// or from the service's listing.
type known struct {
	docID   int64
	size    int64
	mtime   time.Time
	sha     string // hex, possibly its first 32 digits; "" unknown
	tags    string // the tags this tool applied, "1,2"
	extID   string // the external id the document carries
	session string
	// complete is set when the document's metadata holds every key of
	// the version this tool writes (read from the service).
	complete bool
	// others are the other documents that carry the same identity
	// (someone gave it to a second one): never guessed between.
	others []known
}

func knownFromState(e state.Entry) known {
	return known{docID: e.DocumentID, size: e.Size, mtime: e.ModTime, sha: e.SHA256, tags: e.Tags,
		extID: e.ExternalID, session: e.UploadSessionUUID}
}

// knownFromFile reads what a document says of itself.
func knownFromFile(f *api.File) known {
	k := known{docID: f.ID, session: f.UploadSessionUUID}
	if f.ExternalMetadata == nil {
		return k
	}
	k.extID = f.ExternalMetadata.ExternalID
	am := f.ExternalMetadata.AdditionalMetadata
	k.sha, _ = am[metaSHA256].(string)
	k.tags, _ = am[metaTags].(string)
	if f.Tags != nil && !carries(f.Tags, k.tags) {
		// The metadata says what was asked for; the document's tags say
		// what holds (a 207 stored the file without them, someone removed
		// one): what is missing is applied again.
		k.tags = ""
	}
	sizeText, hasSize := am[metaSize].(string)
	if hasSize {
		k.size, _ = strconv.ParseInt(sizeText, 10, 64)
	}
	mtimeText, hasMTime := am[metaMTime].(string)
	if hasMTime {
		k.mtime, _ = time.Parse(time.RFC3339Nano, mtimeText)
	}
	_, hasTags := am[metaTags].(string)
	by, _ := am[metaUploadedBy].(string)
	_, hasPath := am[metaPath].(string)
	k.complete = hasSize && hasMTime && hasTags && hasPath && by == uploadedBy && len(k.sha) >= 32
	return k
}

// ours reports whether a document was uploaded by this tool from source,
// and returns the key it was uploaded from.
func ours(em *api.ExternalMetadata, source string) (key string, ok bool) {
	if em == nil {
		return "", false
	}
	am := em.AdditionalMetadata
	if by, _ := am[metaUploadedBy].(string); by != uploadedBy {
		return "", false
	}
	src, _ := am[metaSource].(string)
	key, _ = am[metaPath].(string)
	return key, src == source && key != ""
}

// tagsString writes tag ids as the state and the metadata keep them.
func tagsString(tags []int64) string {
	s := slices.Clone(tags)
	slices.Sort(s)
	s = slices.Compact(s)
	parts := make([]string, len(s))
	for i, t := range s {
		parts[i] = strconv.FormatInt(t, 10)
	}
	return strings.Join(parts, ",")
}

// parseTags reads what tagsString wrote.
func parseTags(s string) []int64 {
	var out []int64
	for _, p := range strings.Split(s, ",") {
		if n, err := strconv.ParseInt(p, 10, 64); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// retag returns the tags a document should have: those it has, less those
// this tool applied before, plus those it applies now — tags a person added
// stay.
func retag(current []api.Tag, before, now string) []int64 {
	drop := map[int64]bool{}
	for _, t := range parseTags(before) {
		drop[t] = true
	}
	var out []int64
	for _, t := range current {
		if !drop[t.ID] {
			out = append(out, t.ID)
		}
	}
	out = append(out, parseTags(now)...)
	slices.Sort(out)
	return slices.Compact(out)
}

// carries reports whether the tags of a document include every id of tags
// ("1,2").
func carries(have []api.Tag, tags string) bool {
	for _, id := range parseTags(tags) {
		if !slices.ContainsFunc(have, func(t api.Tag) bool { return t.ID == id }) {
			return false
		}
	}
	return true
}

// fileSHA256 hashes a file's content; opening never blocks.
func fileSHA256(path string) (string, error) {
	f, _, err := api.OpenRegular(path)
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
