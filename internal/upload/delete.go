package upload

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/paradigm-upload/paradigm-upload/internal/api"
	"github.com/paradigm-upload/paradigm-upload/internal/state"
)

// Deletion: after the scan, the documents this tool uploaded from this
// source (in this shard) whose file the scan did not find are deleted —
// never others — unless the scan gives reason to doubt it found everything,
// and only on proof from the service, made for the purpose, that each is
// in this workspace, carries this tool's identity for this source, and
// that no file of the tree has that identity:
//
//   - with a state file verified at the start (verify.go), the proof is
//     the checkpoint's: the workspace's documents created before the run's
//     moment are still those of its start (one request), and those changed
//     during the run (a listing of the changes) still carry the identity
//     the state knows them by;
//   - otherwise — a listing at the start, or a checkpoint that no longer
//     holds — the workspace is listed again, and each document is deleted
//     only if that listing shows it, in the workspace, with its identity.
//
// A listing that cannot be trusted (a next link that loops) deletes
// nothing: the run ends with exit 1.

// DeleteCap bounds how many documents one run may delete: a count, or a
// share of the documents the tool holds for the source. The zero value
// allows none... except that Unlimited allows all.
type DeleteCap struct {
	Count   int
	Percent float64 // used when > 0
	// Unlimited lifts the cap.
	Unlimited bool
}

// ParseDeleteCap reads "100" or "10%" (or "all").
func ParseDeleteCap(s string) (DeleteCap, error) {
	s = strings.TrimSpace(s)
	if strings.EqualFold(s, "all") || s == "100%" {
		return DeleteCap{Unlimited: true}, nil
	}
	if p, ok := strings.CutSuffix(s, "%"); ok {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || v < 0 || v > 100 || math.IsNaN(v) {
			return DeleteCap{}, fmt.Errorf("%q is not a percentage between 0%% and 100%%", s)
		}
		return DeleteCap{Percent: v}, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return DeleteCap{}, fmt.Errorf("%q is neither a number of documents (e.g. 100) nor a percentage (e.g. 10%%)", s)
	}
	return DeleteCap{Count: n}, nil
}

func (c DeleteCap) String() string {
	switch {
	case c.Unlimited:
		return "all"
	case c.Percent > 0:
		return strconv.FormatFloat(c.Percent, 'f', -1, 64) + "%"
	}
	return strconv.Itoa(c.Count)
}

// allows reports whether n deletions out of total documents fit the cap.
func (c DeleteCap) allows(n, total int) bool {
	switch {
	case c.Unlimited:
		return true
	case c.Percent > 0:
		return float64(n) <= c.Percent/100*float64(total)
	}
	return n <= c.Count
}

// ErrDeleteRefused wraps a --delete that the run refused to carry out.
var ErrDeleteRefused = errors.New("--delete refused")

// doomed is a document whose file is gone: to delete, or to move.
type doomed struct {
	key   string
	docID int64
	ext   string // the external id it is known by
	// size and sha are the version it holds (sha: hex, maybe its first 32
	// digits); applied the tags this tool applied to it.
	size    int64
	sha     string
	applied string
	// listed is set when a listing showed it, with its title and tags.
	listed bool
	title  string
	tags   []api.Tag
}

// deleteGone deletes the documents whose file is gone, and returns how
// many it deleted. It returns an error only for what ends the run (the cap
// exceeded, a rejected key, a listing that cannot be trusted).
func (r *runner) deleteGone(ctx context.Context) (int, error) {
	if r.o.NoExternalID {
		return 0, nil
	}
	switch {
	case r.scanned.Load() == 0:
		r.note("nothing deleted: the scan found no file to upload (an unmounted share? only files the filters skip?)")
		return 0, nil
	case r.unreadable.Load() > 0:
		r.note(fmt.Sprintf("nothing deleted: %d folder(s) or file(s) could not be read, so what is gone is not known", r.unreadable.Load()))
		return 0, nil
	}
	var gone []doomed
	var err error
	if r.remote == nil {
		gone, err = r.goneByState(ctx)
	} else {
		gone, err = r.goneByListing(ctx)
	}
	if err != nil {
		return 0, err
	}
	kept := gone[:0]
	for _, d := range gone {
		if !r.isProtected(d.key) {
			kept = append(kept, d)
		}
	}
	gone = kept
	if len(gone) == 0 {
		return 0, nil
	}
	slices.SortFunc(gone, func(a, b doomed) int { return strings.Compare(a.key, b.key) })
	// The cap is a share of the documents of the source that existed
	// before this run: this run's own uploads do not dilute it.
	if total := r.before; !r.o.MaxDelete.allows(len(gone), total) {
		return 0, fmt.Errorf("%w: it would delete %d of the %d documents this source had before this run, more than --max-delete %s allows; nothing was deleted (raise --max-delete if that is meant)",
			ErrDeleteRefused, len(gone), total, r.o.MaxDelete)
	}
	if r.o.DryRun {
		for _, d := range gone {
			r.finish(Result{Rel: d.key, Outcome: WouldDelete, DocumentID: d.docID})
		}
		return 0, nil
	}
	const chunk = 100
	deleted := 0
	for i := 0; i < len(gone); i += chunk {
		if r.halted() {
			return deleted, nil
		}
		n, err := r.deleteChunk(ctx, gone[i:min(i+chunk, len(gone))])
		deleted += n
		if err != nil {
			return deleted, err
		}
	}
	return deleted, nil
}

// goneByState returns the documents the state file records whose file the
// scan did not find, proven still this source's (see the top of the file).
func (r *runner) goneByState(ctx context.Context) ([]doomed, error) {
	var gone []doomed
	r.recorded.EachUnseen(func(key string, e state.Entry) {
		if r.o.Shard.Has(key) {
			gone = append(gone, doomed{key: key, docID: e.DocumentID, ext: ExternalID(r.o.Source, key)})
		}
	})
	more, err := r.unconfirmedGone(ctx)
	if err != nil {
		return nil, err
	}
	gone = append(gone, more...)
	if len(gone) == 0 {
		return nil, nil
	}
	if r.pic.verified {
		held, err := r.still(ctx)
		if err != nil {
			return nil, deleteError(err)
		}
		if held {
			return r.unchanged(ctx, gone)
		}
		r.note("documents of the workspace were deleted by someone else during the run: the documents to delete were confirmed by a listing of the workspace")
	}
	return r.confirm(ctx, gone)
}

// unchanged keeps the documents of gone that were not changed during the
// run, or were changed but still carry the identity they are known by.
func (r *runner) unchanged(ctx context.Context, gone []doomed) ([]doomed, error) {
	byID := make(map[int64]int, len(gone))
	for i, d := range gone {
		byID[d.docID] = i
	}
	drop := map[int64]bool{}
	err := api.EachPage(ctx, r.o.Service, api.ListQuery{WorkspaceID: r.o.WorkspaceID, UpdatedAfter: r.pic.at.Add(-margin),
		Ordering: "created_at", PageSize: 1000}, func(p *api.FilePage) error {
		if err := r.interrupted(ctx); err != nil {
			return err
		}
		for i := range p.Results {
			f := &p.Results[i]
			j, ok := byID[f.ID]
			if !ok {
				continue
			}
			if !r.provenGone(f, gone[j]) {
				drop[f.ID] = true
			}
		}
		return nil
	})
	if err != nil {
		return nil, deleteError(err)
	}
	return r.without(gone, drop), nil
}

// confirm keeps the documents of gone that the service shows in the
// workspace, with the identity they are known by.
func (r *runner) confirm(ctx context.Context, gone []doomed) ([]doomed, error) {
	byID := make(map[int64]int, len(gone))
	for i, d := range gone {
		byID[d.docID] = i
	}
	ok := map[int64]bool{}
	err := r.eachCandidate(ctx, gone, func(f *api.File) {
		if j, in := byID[f.ID]; in && r.provenGone(f, gone[j]) {
			ok[f.ID] = true
			// Named as the service shows it now: a move needs no second look.
			gone[j].listed, gone[j].title, gone[j].tags = true, f.Title, f.Tags
		}
	})
	if err != nil {
		return nil, deleteError(err)
	}
	drop := map[int64]bool{}
	for _, d := range gone {
		if !ok[d.docID] {
			drop[d.docID] = true
		}
	}
	return r.without(gone, drop), nil
}

// without returns gone less the documents of drop, each named in a note.
func (r *runner) without(gone []doomed, drop map[int64]bool) []doomed {
	if len(drop) == 0 {
		return gone
	}
	kept := gone[:0]
	var left []string
	for _, d := range gone {
		if drop[d.docID] {
			left = append(left, fmt.Sprintf("%s (%d)", d.key, d.docID))
			continue
		}
		kept = append(kept, d)
	}
	slices.Sort(left)
	const show = 10
	more := ""
	if len(left) > show {
		more = fmt.Sprintf(" and %d more", len(left)-show)
		left = left[:show]
	}
	r.note(fmt.Sprintf("not deleted: %d document(s) the service does not show as this source's, in this workspace, under their identity: %s%s",
		len(drop), strings.Join(left, ", "), more))
	return kept
}

// provenGone reports whether f, as the service shows it, is the document d
// is known as — in the workspace, of this tool and source, with d's
// identity — which is the identity of a file the scan did not find (d is
// made only of those).
func (r *runner) provenGone(f *api.File, d doomed) bool {
	if !api.InWorkspace(f, r.o.WorkspaceID) || f.ExternalMetadata == nil {
		return false
	}
	key, ok := ours(f.ExternalMetadata, r.o.Source)
	if !ok || key != d.key {
		return false
	}
	if d.ext == "" {
		return true // a document of version 1, known by its path
	}
	ext := f.ExternalMetadata.ExternalID
	return ext == d.ext && ext == ExternalID(r.o.Source, key)
}

// goneByListing returns the documents the listing at the start showed as
// this source's whose file the scan did not find, confirmed by the service
// asked again (which also names them).
func (r *runner) goneByListing(ctx context.Context) ([]doomed, error) {
	cands, shared := r.remote.unseenDocs(), r.remote.shared()
	if shared > 0 {
		r.note(fmt.Sprintf("not deleted: %d document(s) whose file is gone carry an identity that another document carries too; remove the wrong ones on the service", shared))
	}
	if len(cands) == 0 {
		return nil, nil
	}
	gone, err := r.confirmListed(ctx, cands)
	if err != nil {
		return nil, err
	}
	if n := len(cands) - len(gone); n > 0 {
		r.note(fmt.Sprintf("not deleted: %d document(s) whose file is gone, which the service, asked again, did not show as this source's in this workspace", n))
	}
	return gone, nil
}

// confirmListed keeps the documents of cands (from the listing at the
// start, known by id and identity) that the service, asked again, shows in
// the workspace, as this source's, with that identity; it names them
// (their key, title and tags).
func (r *runner) confirmListed(ctx context.Context, cands []doomed) ([]doomed, error) {
	byID := make(map[int64]doomed, len(cands))
	for _, d := range cands {
		byID[d.docID] = d
	}
	var gone []doomed
	err := r.eachCandidate(ctx, cands, func(f *api.File) {
		d, in := byID[f.ID]
		if !in || f.ExternalMetadata == nil {
			return
		}
		key, ok := ours(f.ExternalMetadata, r.o.Source)
		if !ok {
			return
		}
		d.key = key
		if r.provenGone(f, d) {
			d.listed, d.title, d.tags = true, f.Title, f.Tags
			gone = append(gone, d)
			delete(byID, f.ID) // once, however often the listing shows it
		}
	})
	if err != nil {
		return nil, deleteError(err)
	}
	return gone, nil
}

// confirmByIDMax is the most documents to delete that are asked about one
// by one whatever the workspace's size; more are confirmed by a listing of
// the workspace when it costs fewer requests (byID).
const confirmByIDMax = 200

// byID says whether n documents are asked about one by one rather than
// read from a listing of the workspace: n requests against a page of 1,000
// per thousand documents the workspace held at the start (when known).
func (r *runner) byID(n int) bool {
	return n <= confirmByIDMax || int64(n) <= r.pic.count/1000+1
}

// eachCandidate calls fn with what the service shows now of each document
// of cands: asked by id when they are few — exact, whatever others upload
// or delete meanwhile (a listing's pages shift under them, and may skip a
// document); else read from a listing of the workspace. A document the
// service no longer has is not shown.
func (r *runner) eachCandidate(ctx context.Context, cands []doomed, fn func(f *api.File)) error {
	if r.byID(len(cands)) {
		for _, d := range cands {
			if err := r.interrupted(ctx); err != nil {
				return err
			}
			f, err := r.o.Service.GetFile(ctx, d.docID)
			switch {
			case isNotFound(err):
				continue
			case err != nil:
				return err
			}
			fn(f)
		}
		return nil
	}
	return api.EachPage(ctx, r.o.Service, api.ListQuery{WorkspaceID: r.o.WorkspaceID, Ordering: "created_at", PageSize: 1000},
		func(p *api.FilePage) error {
			if err := r.interrupted(ctx); err != nil {
				return err
			}
			for i := range p.Results {
				fn(&p.Results[i])
			}
			return nil
		})
}

// deleteError is the error that ends the run when what --delete needed of
// the service failed: nothing more is deleted.
func deleteError(err error) error {
	var le *api.ListingError
	if errors.As(err, &le) {
		return fmt.Errorf("%w: %w; nothing was deleted", ErrUntrustedListing, err)
	}
	return fmt.Errorf("list the documents to delete: %w", classify(err).asError(err))
}

// ErrUntrustedListing wraps a listing of the workspace that cannot be
// trusted: the run ends (exit 1) without deleting anything.
var ErrUntrustedListing = errors.New("the workspace could not be listed reliably")

// unconfirmedGone asks the service about the uploads an earlier run started
// but never saw confirmed, whose file is gone: one the service stored is a
// document to delete like any other; one it never stored is forgotten.
func (r *runner) unconfirmedGone(ctx context.Context) ([]doomed, error) {
	type started struct {
		key, extID string
	}
	var asks []started
	r.recorded.EachUnseenStarted(func(key string, e state.Entry) {
		if r.o.Shard.Has(key) && e.ExternalID != "" {
			asks = append(asks, started{key, e.ExternalID})
		}
	})
	var gone []doomed
	for _, s := range asks {
		if _, ok := r.recorded.Done(s.key); ok {
			continue // its document is deleted by the id the state records
		}
		files, err := r.lookup(ctx, s.extID)
		switch {
		case err != nil:
			if v := classify(err); v.kind == verdictStop || errors.Is(err, ErrAuth) {
				return nil, fmt.Errorf("ask about an unconfirmed upload: %w", v.asError(err))
			}
			r.note(fmt.Sprintf("%s: an earlier run's upload of this removed file could not be checked (%v); the next run asks again", s.key, err))
		case len(files) > 1:
			r.note(fmt.Sprintf("%s: an earlier run's upload of this removed file: %s; none was deleted", s.key, duplicates(files)))
		case len(files) == 1:
			gone = append(gone, doomed{key: s.key, docID: files[0].ID, ext: s.extID})
		case r.journal != nil:
			if err := r.journal.RecordAborted(state.Record{Path: s.key, ExternalID: s.extID, At: r.clock.Now().UTC()}); err != nil {
				return nil, err
			}
		}
	}
	return gone, nil
}

// deleteChunk deletes documents in one request; when the service refuses
// the whole (an id it no longer has makes a bulk delete fail entirely), one
// by one, a document already gone counting as deleted. It returns how many
// it deleted.
func (r *runner) deleteChunk(ctx context.Context, ds []doomed) (int, error) {
	ids := make([]int64, len(ds))
	for i, d := range ds {
		ids[i] = d.docID
	}
	err := r.o.Service.DeleteFiles(ctx, ids)
	if err == nil {
		for i, d := range ds {
			if err := r.deleted(d); err != nil {
				return i + 1, err
			}
		}
		return len(ds), nil
	}
	if v := classify(err); v.kind == verdictStop {
		return 0, v.err
	}
	n := 0
	for _, d := range ds {
		err := r.deleteOne(ctx, d.docID)
		if err == nil {
			n++
			if err := r.deleted(d); err != nil {
				return n, err
			}
			continue
		}
		if v := classify(err); v.kind == verdictStop {
			return n, v.err
		}
		r.finish(Result{Rel: d.key, Outcome: Failed, DocumentID: d.docID, Reason: "could not delete: " + err.Error()})
	}
	return n, nil
}

// deleteOne deletes one document; one the service no longer has counts as
// deleted.
func (r *runner) deleteOne(ctx context.Context, id int64) error {
	err := r.o.Service.DeleteFile(ctx, id)
	if isNotFound(err) {
		return nil
	}
	return err
}

// deleted finishes a deleted document, and forgets it in the state file.
func (r *runner) deleted(d doomed) error {
	r.finish(Result{Rel: d.key, Outcome: Deleted, DocumentID: d.docID})
	if r.journal == nil {
		return nil
	}
	return r.journal.RecordDeleted(d.key, r.clock.Now().UTC())
}
