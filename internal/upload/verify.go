package upload

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/paradigm-upload/paradigm-upload/internal/api"
	"github.com/paradigm-upload/paradigm-upload/internal/state"
)

// Verifying the state file against the service, cheaply: the state file is
// a cache of what the service holds, and every run checks it before
// trusting it.
//
// A run that ends well records a checkpoint (state.Checkpoint): a moment A
// at its end, on the service's clock; the number of the workspace's
// documents created before A; the id of the newest of them; and the moment
// S the run began to look. The next run asks for the same figures (one
// request): documents created before A change count only when some are
// deleted, and their newest changes only then or after a restore from
// backup. When they hold, nothing the state knows of was deleted, and what
// was changed since S is listed (updated_at_after, a margin before S):
// documents of this source uploaded, replaced or re-tagged by another
// machine, identities edited by a person, ids reused after a restore. The
// state learns them, and is then the service's picture. When the figures
// do not hold, or there is no checkpoint, the run lists the workspace and
// takes its picture from the listing (loadRemote).
//
// The checkpoint is recorded only when the run can vouch for it: at its
// start a run records that there is none (a run killed halfway leaves
// none), and at its end it asks again how many documents were created
// before its own start; unless that is its start's figure less its own
// deletions (someone else deleted something meanwhile), it records none.
//
// Cost: four requests a night (more pages when more changed), plus a
// listing of the workspace after anyone else deleted documents of it.

// margin is how far before a checkpoint's moment the changes are listed:
// the service's clock, as read from its Date header, is to the second, and
// a document written at the moment may be committed a little later.
const margin = time.Minute

// picture is what a run knows of the workspace as a whole at its start.
type picture struct {
	// at is the run's moment (the service's time at its start, less a
	// margin); count and newest are the documents created before it, as
	// seen at the start.
	at            time.Time
	count, newest int64
	// verified is set when the state file was checked and brought up to
	// date by the checkpoint (no listing of the workspace).
	verified bool
}

// countBefore asks how many of the workspace's documents were created
// before at, and the newest of them; date is the service's time.
func (r *runner) countBefore(ctx context.Context, at time.Time) (count, newest int64, date time.Time, err error) {
	p, err := r.o.Service.ListPage(ctx, api.ListQuery{WorkspaceID: r.o.WorkspaceID, CreatedBefore: at,
		Ordering: "-created_at", PageSize: 1}, "")
	if err != nil {
		return 0, 0, time.Time{}, err
	}
	if len(p.Results) > 0 {
		newest = p.Results[0].ID
	}
	return int64(p.Count), newest, p.Date, nil
}

// verify checks the state file's checkpoint against the service and, when
// it holds, brings the state up to date with what changed since. It
// reports whether the state can be trusted; false means the workspace must
// be listed.
func (r *runner) verify(ctx context.Context) (bool, error) {
	cp, ok := r.recorded.Checkpoint()
	if !ok {
		r.note("the state file has no checkpoint of the service (the last run saw others delete documents while it ran, did not end, or was of an earlier version): the workspace was listed to check it")
		return false, nil
	}
	count, newest, _, err := r.countBefore(ctx, cp.At)
	if err != nil {
		return false, err
	}
	if count != cp.Count || newest != cp.Newest {
		r.note(fmt.Sprintf("documents of the workspace were deleted (or it was restored) since the last run (%d documents created before %s, then %d): the workspace was listed to check the state file",
			cp.Count, cp.At.UTC().Format(time.RFC3339), count))
		return false, nil
	}
	if err := r.learn(ctx, cp.Since.Add(-margin)); err != nil {
		return false, err
	}
	return true, nil
}

// learn lists the documents changed since after and brings the state up
// to date: a document of this source takes its place in the state as the
// service holds it (under the key it now has: another machine may have
// moved it); a document the state knows whose identity someone changed is
// forgotten (left alone; its file is uploaded again); and a file the state
// records as changed by the last run — so changed after after — whose
// document is not among the changes is forgotten: it was deleted, or the
// instance restored to before the change, and its file is looked at anew.
func (r *runner) learn(ctx context.Context, after time.Time) error {
	// The changed documents of this source (by id, with their key's
	// identity), and the others, by id.
	type seenDoc struct {
		id  int64
		ext [16]byte
	}
	var mine []seenDoc
	other := map[int64]*api.File{}
	err := api.EachPage(ctx, r.o.Service, api.ListQuery{WorkspaceID: r.o.WorkspaceID, UpdatedAfter: after,
		Ordering: "created_at", PageSize: 1000}, func(p *api.FilePage) error {
		for i := range p.Results {
			f := &p.Results[i]
			if !api.InWorkspace(f, r.o.WorkspaceID) {
				continue
			}
			key, ok := ours(f.ExternalMetadata, r.o.Source)
			if ok && f.ExternalMetadata.ExternalID == tombstone(ExternalID(r.o.Source, key)) {
				// A replacement a run did not finish: still this file's
				// document until a new one carries the identity.
				r.mu.Lock()
				if r.tombs == nil {
					r.tombs = map[string]int64{}
				}
				r.tombs[key] = f.ID
				r.mu.Unlock()
				continue
			}
			if !ok || f.ExternalMetadata.ExternalID != ExternalID(r.o.Source, key) {
				cp := *f
				other[f.ID] = &cp
				continue
			}
			ext, _ := extBytes(f.ExternalMetadata.ExternalID, "pu2-")
			mine = append(mine, seenDoc{f.ID, ext})
			if r.o.Shard.Has(key) {
				if err := r.learnDoc(key, f); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	slices.SortFunc(mine, func(a, b seenDoc) int { return cmp.Compare(a.id, b.id) })
	find := func(id int64) (seenDoc, bool) {
		i, ok := slices.BinarySearchFunc(mine, id, func(d seenDoc, id int64) int { return cmp.Compare(d.id, id) })
		if !ok {
			return seenDoc{}, false
		}
		return mine[i], true
	}
	type hit struct {
		path string
		f    *api.File
	}
	var hits []hit
	var moved, vanished []string
	r.recorded.Each(func(path string, e state.Entry) {
		if f := other[e.DocumentID]; f != nil {
			hits = append(hits, hit{path, f})
			return
		}
		d, changed := find(e.DocumentID)
		switch {
		case changed:
			if ext, _ := extBytes(ExternalID(r.o.Source, path), "pu2-"); ext != d.ext {
				moved = append(moved, path) // its document is another key's now
			}
		case e.UploadedAt.After(after.Add(margin)) && r.o.Shard.Has(path):
			vanished = append(vanished, path)
		}
	})
	for _, path := range moved {
		if err := r.recorded.Forget(path); err != nil {
			return err
		}
	}
	for _, path := range vanished {
		r.note(fmt.Sprintf("%s: its document, changed by the last run, is not among the service's changes (deleted, or the instance restored): the file is looked at anew", path))
		if err := r.recorded.Forget(path); err != nil {
			return err
		}
	}
	for _, h := range hits {
		if em := h.f.ExternalMetadata; em != nil && em.ExternalID == ExternalID(r.o.Source, h.path) {
			// Its identity holds; someone edited the rest of its
			// metadata: what is missing is written again.
			if err := r.learnDoc(h.path, h.f); err != nil {
				return err
			}
			continue
		}
		r.note(fmt.Sprintf("%s: its document (%d) no longer carries this tool's identity (changed on the service): it was left alone, and the file is uploaded again", h.path, h.f.ID))
		if err := r.recorded.Forget(h.path); err != nil {
			return err
		}
	}
	return nil
}

// learnDoc records in the state what the service holds for the file at
// key. What the document's metadata lacks of the version this tool writes
// (someone edited it) is taken from the state, when the state knows the
// same document, and the document is marked stale: the run writes its
// metadata again.
func (r *runner) learnDoc(key string, f *api.File) error {
	r.mu.Lock()
	tomb := r.tombs[key]
	r.mu.Unlock()
	if e, ok := r.recorded.Done(key); ok && e.DocumentID != 0 && e.DocumentID != f.ID && e.DocumentID != tomb {
		// The state knows another document of this identity, which still
		// exists (the checkpoint holds: nothing was deleted): someone gave
		// a second document the identity. The state's is kept; the other
		// is left alone.
		r.note(fmt.Sprintf("%s: 2 documents carry this file's identity (ids %d, %d); the one the state file records (%d) was kept, the other left alone",
			key, e.DocumentID, f.ID, e.DocumentID))
		return nil
	}
	k := knownFromFile(f)
	if e, ok := r.recorded.Done(key); ok && k.complete && e.DocumentID == f.ID && e.Size == k.size && e.ModTime.Equal(k.mtime) &&
		e.ExternalID == k.extID && e.Tags == k.tags && e.UploadSessionUUID == f.UploadSessionUUID &&
		e.SHA256 != "" && state.SameContent(e.SHA256, k.sha) {
		// The state holds it as the service does — the last run's own
		// upload, mostly: nothing to write (a night after a million
		// uploads rewrote a million records: 5½ minutes).
		return nil
	}
	if !k.complete {
		if e, ok := r.recorded.Done(key); ok && e.DocumentID == f.ID {
			if k.sha == "" {
				k.sha = e.SHA256
			}
			// Each key that is missing, from the state (a person removed
			// the mtime alone: the file was hashed every night, and its
			// metadata never written again).
			if !hasMeta(f, metaSize) {
				k.size = e.Size
			}
			if !hasMeta(f, metaMTime) {
				k.mtime = e.ModTime
			}
		}
		r.markStale(key)
	}
	// At is when the service last changed it, by its clock: a document
	// learnt changed is expected among the next run's changes only if it
	// changed after that run's start.
	return r.recorded.RecordKnown(state.Record{Path: key, Size: k.size, ModTime: k.mtime, ExternalID: k.extID,
		SHA256: k.sha, DocumentID: f.ID, UploadSessionUUID: f.UploadSessionUUID, Tags: k.tags,
		At: f.UpdatedAt.UTC()}, false)
}

// hasMeta reports whether f's metadata carries key as text.
func hasMeta(f *api.File, key string) bool {
	if f.ExternalMetadata == nil {
		return false
	}
	_, ok := f.ExternalMetadata.AdditionalMetadata[key].(string)
	return ok
}

// markStale notes that the document of key carries less of its metadata
// than this tool writes.
func (r *runner) markStale(key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stale == nil {
		r.stale = map[string]bool{}
	}
	r.stale[key] = true
}

// isStale reports whether the document of key must have its metadata
// written again.
func (r *runner) isStale(key string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stale[key]
}

// forgetCheckpoint records, before the run changes anything, that the
// state file has no checkpoint: a run killed halfway leaves none.
func (r *runner) forgetCheckpoint() error {
	if r.journal == nil {
		return nil
	}
	if _, ok := r.recorded.Checkpoint(); !ok {
		return nil
	}
	return r.journal.RecordCheckpoint(state.Checkpoint{Count: -1})
}

// checkpoint records, at the end of a run that saw the whole tree, what it
// saw of the workspace, so that the next run can verify its state file
// cheaply. deleted is how many documents the run deleted: the documents
// created before the run's moment must be the start's less those, or
// someone else deleted some meanwhile, and no checkpoint is recorded.
func (r *runner) checkpoint(ctx context.Context, deleted int) error {
	if r.journal == nil || r.pic.at.IsZero() || r.relist.Load() {
		return nil
	}
	count, _, date, err := r.countBefore(ctx, r.pic.at)
	if err != nil || count != r.pic.count-int64(deleted)-r.removed.Load() {
		return nil // none: the next run lists
	}
	// The moment of the checkpoint: now, by the service's clock (a second
	// later: the Date is to the second), so that it covers this run's
	// own uploads.
	at := date.Add(time.Second)
	if date.IsZero() {
		at = r.clock.Now().Add(5 * margin)
	}
	end, newest, _, err := r.countBefore(ctx, at)
	if err != nil {
		return nil
	}
	return r.journal.RecordCheckpoint(state.Checkpoint{At: at, Count: end, Newest: newest, Since: r.pic.at})
}

// still reports whether the workspace's documents created before the run's
// moment are as they were at its start: nothing the run knows of was
// deleted meanwhile.
func (r *runner) still(ctx context.Context) (bool, error) {
	count, newest, _, err := r.countBefore(ctx, r.pic.at)
	if err != nil {
		return false, err
	}
	return count == r.pic.count && newest == r.pic.newest, nil
}
