package upload

import (
	"bytes"
	"cmp"
	"context"
	"encoding/hex"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/paradigm-upload/paradigm-upload/internal/api"
	"github.com/paradigm-upload/paradigm-upload/internal/compact"
	"github.com/paradigm-upload/paradigm-upload/internal/scan"
)

// remote is what the service holds of this source, read from a listing of
// the workspace when there is no state file to trust (none, a new one, one
// whose checkpoint does not hold, or --reconcile): the documents this tool
// uploaded from this source, by external id, compactly — 64 bytes a
// document in one sorted slice, so a listing of a million fits. Paths are
// not kept: --delete lists again to name, and confirm, the few documents
// it deletes.
//
// The listing is read as a set. It asks for a stable order (oldest first:
// documents created meanwhile come last), but pages that shift under
// concurrent writes may still show a document twice: repeats are counted
// and dropped. A document of another workspace (a service that ignored
// the filter), or one that does not say its workspace, is not taken. Two
// documents that carry one identity are both kept, marked, and never
// guessed between.
type remote struct {
	mu     sync.Mutex
	byExt  []remoteDoc          // by external id, then id
	legacy map[string]remoteDoc // documents of version 1, by key
	tags   *compact.Strings     // the tag sets; remoteDoc.tags indexes it
	// count is the documents of the source (and shard), each once.
	count int
	// repeats counts the entries of the listing that named a document
	// already read; foreign those not in the workspace.
	repeats, foreign int
	// date is when the listing began, by the service's clock.
	date time.Time
	// tombs are documents of this source that gave up their identity for
	// a replacement by a new document (attempt.replaceByUpload), by key.
	tombs map[string]int64
}

type remoteDoc struct {
	ext                [16]byte
	docID, size, mtime int64
	sha                [16]byte
	tags               uint32
	hasSHA, complete   bool
	seen, dup          bool
}

// maxReserve is the most documents a listing's announced count makes room
// for at once (256 MiB of address space).
const maxReserve = 1 << 22

// loadRemote lists the workspace and keeps the documents of source that
// belong to the shard.
func loadRemote(ctx context.Context, svc Service, workspaceID int64, source string, shard scan.Shard, unowned func(*api.File),
	beforeNext func() error) (*remote, error) {
	r := &remote{legacy: map[string]remoteDoc{}, tags: compact.NewStrings()}
	// Room for every document the listing announces, at once: growing the
	// slice as pages come would hold two copies of it at each step (the
	// peak memory of a run that lists a million documents). Room left
	// unused by documents of other sources is address space the system
	// backs only when written; a count past maxReserve is not believed.
	expect := func(n int) { r.byExt = slices.Grow(r.byExt, min(max(n, 0), maxReserve)) }
	first := true
	err := api.EachPage(ctx, svc, api.ListQuery{WorkspaceID: workspaceID, Ordering: "created_at", PageSize: 1000, Expect: expect},
		func(p *api.FilePage) error {
			if first {
				r.date, first = p.Date, false
			}
			for i := range p.Results {
				f := &p.Results[i]
				if !api.InWorkspace(f, workspaceID) {
					r.foreign++
					continue
				}
				if f.ExternalMetadata == nil || f.ExternalMetadata.ExternalID == "" {
					// No identity at all (batch_upload_v3.py, the web
					// interface): a file may adopt it.
					if unowned != nil {
						unowned(f)
					}
					continue
				}
				key, ok := ours(f.ExternalMetadata, source)
				if !ok || !shard.Has(key) {
					continue
				}
				if f.ExternalMetadata.ExternalID == tombstone(ExternalID(source, key)) {
					if r.tombs == nil {
						r.tombs = map[string]int64{}
					}
					r.tombs[key] = f.ID
					continue
				}
				k := knownFromFile(f)
				d := remoteDoc{docID: f.ID, size: k.size, mtime: compact.UnixNano(k.mtime), tags: r.tags.ID(k.tags), complete: k.complete}
				d.hasSHA = compact.ParseHex(d.sha[:], strings.ToLower(k.sha))
				if id, ok := extBytes(f.ExternalMetadata.ExternalID, "pu2-"); ok {
					d.ext = id
					r.byExt = append(r.byExt, d)
				} else if old, ok := r.legacy[key]; !ok || old.docID == d.docID {
					r.legacy[key] = d
				} else {
					old.dup = true // a second document of this key
					r.legacy[key] = old
				}
			}
			if p.Next != "" && beforeNext != nil {
				return beforeNext()
			}
			return nil
		})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(r.byExt, func(a, b remoteDoc) int {
		if c := bytes.Compare(a.ext[:], b.ext[:]); c != 0 {
			return c
		}
		return cmp.Compare(a.docID, b.docID)
	})
	// One entry per document; documents that share an identity marked.
	kept := r.byExt[:0]
	for _, d := range r.byExt {
		if n := len(kept); n > 0 && kept[n-1].ext == d.ext {
			if kept[n-1].docID == d.docID {
				r.repeats++
				continue
			}
			kept[n-1].dup, d.dup = true, true
		}
		kept = append(kept, d)
	}
	r.byExt = kept
	r.count = len(r.byExt) + len(r.legacy)
	if cap(r.byExt) > len(r.byExt)+len(r.byExt)/8 {
		// Room the workspace's other documents took in the count: let go.
		r.byExt = slices.Clone(r.byExt)
	}
	return r, nil
}

// known returns what d says of its document.
func (r *remote) known(d remoteDoc, ext string) known {
	k := known{docID: d.docID, size: d.size, mtime: compact.Time(d.mtime), tags: r.tags.At(d.tags), extID: ext, complete: d.complete}
	if d.hasSHA {
		k.sha = hex.EncodeToString(d.sha[:])
	}
	return k
}

// find returns what the service holds for the file at key, and marks it
// seen by the scan. When several documents carry its identity, the first
// is returned with the others in its known.others.
func (r *remote) find(source, key string) (known, bool) {
	ext := ExternalID(source, key)
	id, _ := extBytes(ext, "pu2-")
	r.mu.Lock()
	defer r.mu.Unlock()
	i, ok := slices.BinarySearchFunc(r.byExt, id, func(d remoteDoc, id [16]byte) int { return bytes.Compare(d.ext[:], id[:]) })
	if ok {
		var k known
		for j := i; j < len(r.byExt) && r.byExt[j].ext == id; j++ {
			r.byExt[j].seen = true
			if j == i {
				k = r.known(r.byExt[j], ext)
			} else {
				k.others = append(k.others, r.known(r.byExt[j], ext))
			}
		}
		return k, true
	}
	if d, ok := r.legacy[key]; ok {
		d.seen = true
		r.legacy[key] = d
		return r.known(d, ""), true // carries an identity of version 1: to be adopted
	}
	if id, ok := r.tombs[key]; ok {
		// Only the tombstone of a replacement a run did not finish: it is
		// the file's document still; the replacement is made again.
		delete(r.tombs, key)
		return known{docID: id}, true
	}
	return known{}, false
}

// has reports whether the listing holds a document of this identity.
func (r *remote) has(ext string) bool {
	id, ok := extBytes(ext, "pu2-")
	if !ok {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	_, found := slices.BinarySearchFunc(r.byExt, id, func(d remoteDoc, id [16]byte) int { return bytes.Compare(d.ext[:], id[:]) })
	return found
}

// unseenDocs returns the documents whose file the scan did not find (by
// id, identity and version; their keys are not kept), leaving out
// identities carried by several documents.
func (r *remote) unseenDocs() []doomed {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []doomed
	add := func(d remoteDoc, ext string) {
		k := r.known(d, ext)
		out = append(out, doomed{docID: d.docID, ext: ext, size: d.size, sha: k.sha, applied: k.tags})
	}
	for _, d := range r.byExt {
		if !d.seen && !d.dup {
			add(d, "pu2-"+hex.EncodeToString(d.ext[:]))
		}
	}
	for _, d := range r.legacy {
		if !d.seen && !d.dup {
			add(d, "")
		}
	}
	return out
}

// shared counts the documents whose file the scan did not find that carry
// an identity another document carries too.
func (r *remote) shared() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, d := range r.byExt {
		if !d.seen && d.dup {
			n++
		}
	}
	for _, d := range r.legacy {
		if !d.seen && d.dup {
			n++
		}
	}
	return n
}

// markSeen marks the document id seen (a move took it): it is not deleted.
func (r *remote) markSeen(id int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range r.byExt {
		if r.byExt[i].docID == id {
			r.byExt[i].seen = true
		}
	}
	for k, d := range r.legacy {
		if d.docID == id {
			d.seen = true
			r.legacy[k] = d
		}
	}
}

// sizes returns the sizes of the documents listed.
func (r *remote) sizes() []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]int64, 0, len(r.byExt)+len(r.legacy))
	for _, d := range r.byExt {
		out = append(out, d.size)
	}
	for _, d := range r.legacy {
		out = append(out, d.size)
	}
	return out
}

// extBytes reads an external id of the given prefix and 32 hex digits.
func extBytes(id, prefix string) ([16]byte, bool) {
	var b [16]byte
	if len(id) != len(prefix)+32 || id[:len(prefix)] != prefix {
		return b, false
	}
	return b, compact.ParseHex(b[:], id[len(prefix):])
}
