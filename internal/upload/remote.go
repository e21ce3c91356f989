package upload

import (
	"bytes"
	"context"
	"encoding/hex"
	"slices"
	"sync"
	"time"

	"github.com/paradigm-upload/paradigm-upload/internal/api"
	"github.com/paradigm-upload/paradigm-upload/internal/scan"
)

// remote is what the service holds of this source, read from a listing of
// the workspace when there is no state file to trust (none, a new one, or
// --reconcile): the documents this tool uploaded from this source, by
// external id, compactly — 64 bytes a document in one sorted slice, so a
// listing of a million fits. Paths are not kept: --delete lists again to name the
// few documents it deletes.
type remote struct {
	mu     sync.Mutex
	byExt  []remoteDoc          // by external id, sorted once the listing is read
	legacy map[string]remoteDoc // documents of version 1, by key
	tags   []string             // interned tag strings; remoteDoc.tags indexes it
	tagIdx map[string]uint32
	count  int
}

type remoteDoc struct {
	ext                [16]byte
	docID, size, mtime int64
	sha                [16]byte
	tags               uint32
	hasSHA, seen       bool
}

// maxReserve is the most documents a listing's announced count makes room
// for at once (256 MiB of address space).
const maxReserve = 1 << 22

// loadRemote lists the workspace and keeps the documents of source that
// belong to the shard.
func loadRemote(ctx context.Context, svc Service, workspaceID int64, source string, shard scan.Shard) (*remote, error) {
	r := &remote{legacy: map[string]remoteDoc{}, tags: []string{""}, tagIdx: map[string]uint32{"": 0}}
	// Room for every document the listing announces, at once: growing the
	// slice as pages come would hold two copies of it at each step (the
	// peak memory of a run that lists a million documents). Room left
	// unused by documents of other sources is address space the system
	// backs only when written; a count past maxReserve is not believed.
	expect := func(n int) { r.byExt = slices.Grow(r.byExt, min(max(n, 0), maxReserve)) }
	err := api.ListFiles(ctx, svc, api.ListQuery{WorkspaceID: workspaceID, PageSize: 1000, Expect: expect}, func(files []api.File) error {
		for i := range files {
			f := &files[i]
			key, ok := ours(f.ExternalMetadata, source)
			if !ok || !shard.Has(key) {
				continue
			}
			k := knownFromFile(f)
			d := remoteDoc{docID: f.ID, size: k.size, mtime: unixNano(k.mtime), tags: r.intern(k.tags)}
			d.hasSHA = len(k.sha) >= 32 && hexPrefix(d.sha[:], k.sha)
			if id, ok := extBytes(f.ExternalMetadata.ExternalID, "pu2-"); ok {
				d.ext = id
				r.byExt = append(r.byExt, d)
			} else {
				r.legacy[key] = d
			}
			r.count++
		}
		return nil
	})
	slices.SortFunc(r.byExt, func(a, b remoteDoc) int { return bytes.Compare(a.ext[:], b.ext[:]) })
	if cap(r.byExt) > len(r.byExt)+len(r.byExt)/8 {
		// Room the workspace's other documents took in the count: let go.
		r.byExt = slices.Clone(r.byExt)
	}
	return r, err
}

func (r *remote) intern(s string) uint32 {
	if i, ok := r.tagIdx[s]; ok {
		return i
	}
	i := uint32(len(r.tags))
	r.tags = append(r.tags, s)
	r.tagIdx[s] = i
	return i
}

// find returns what the service holds for the file at key, and marks it
// seen by the scan.
func (r *remote) find(source, key string) (known, bool) {
	ext := ExternalID(source, key)
	id, _ := extBytes(ext, "pu2-")
	r.mu.Lock()
	defer r.mu.Unlock()
	i, ok := slices.BinarySearchFunc(r.byExt, id, func(d remoteDoc, id [16]byte) int { return bytes.Compare(d.ext[:], id[:]) })
	var d remoteDoc
	if ok {
		r.byExt[i].seen = true
		d = r.byExt[i]
	} else if d, ok = r.legacy[key]; ok {
		d.seen = true
		r.legacy[key] = d
		ext = "" // carries an identity of version 1: to be adopted
	}
	if !ok {
		return known{}, false
	}
	k := known{docID: d.docID, size: d.size, mtime: fromUnixNano(d.mtime), tags: r.tags[d.tags], extID: ext}
	if d.hasSHA {
		k.sha = hex.EncodeToString(d.sha[:])
	}
	return k, true
}

// unseen returns the documents whose file the scan did not find.
func (r *remote) unseen() map[int64]bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	ids := map[int64]bool{}
	for _, d := range r.byExt {
		if !d.seen {
			ids[d.docID] = true
		}
	}
	for _, d := range r.legacy {
		if !d.seen {
			ids[d.docID] = true
		}
	}
	return ids
}

// name lists the workspace again to find the keys of the documents ids,
// calling fn for each.
func name(ctx context.Context, svc Service, workspaceID int64, source string, ids map[int64]bool, fn func(key string, docID int64)) error {
	return api.ListFiles(ctx, svc, api.ListQuery{WorkspaceID: workspaceID, PageSize: 1000}, func(files []api.File) error {
		for i := range files {
			if !ids[files[i].ID] {
				continue
			}
			if key, ok := ours(files[i].ExternalMetadata, source); ok {
				fn(key, files[i].ID)
			}
		}
		return nil
	})
}

// extBytes reads an external id of the given prefix and 32 hex digits.
func extBytes(id, prefix string) ([16]byte, bool) {
	var b [16]byte
	if len(id) != len(prefix)+32 || id[:len(prefix)] != prefix {
		return b, false
	}
	return b, hexPrefix(b[:], id[len(prefix):])
}

// hexPrefix decodes the first len(dst)*2 hex digits of s.
func hexPrefix(dst []byte, s string) bool {
	if len(s) < len(dst)*2 {
		return false
	}
	_, err := hex.Decode(dst, []byte(s[:len(dst)*2]))
	return err == nil
}

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
