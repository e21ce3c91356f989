package upload

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/paradigm-upload/paradigm-upload/internal/state"
)

// Deletion: after the scan, the documents this tool uploaded from this
// source (in this shard) whose file the scan did not find are deleted —
// never others — unless the scan gives reason to doubt it found everything.

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

// doomed is a document to delete.
type doomed struct {
	key   string
	docID int64
}

// deleteGone deletes the documents whose file is gone. It returns an error
// only for what ends the run (the cap exceeded, a rejected key).
func (r *runner) deleteGone(ctx context.Context) error {
	if r.o.NoExternalID {
		return nil
	}
	switch {
	case r.scanned.Load() == 0:
		r.note("nothing deleted: the scan found no file at all (an unmounted share?)")
		return nil
	case r.unreadable.Load() > 0:
		r.note(fmt.Sprintf("nothing deleted: %d folder(s) or file(s) could not be read, so what is gone is not known", r.unreadable.Load()))
		return nil
	}
	var gone []doomed
	total := 0
	switch {
	case r.recorded != nil && r.remote == nil:
		total = r.recorded.Len()
		r.recorded.EachUnseen(func(key string, e state.Entry) {
			if r.o.Shard.Has(key) {
				gone = append(gone, doomed{key, e.DocumentID})
			}
		})
		more, err := r.unconfirmedGone(ctx)
		if err != nil {
			return err
		}
		gone = append(gone, more...)
		total += len(more)
	case r.remote != nil:
		total = r.remote.count
		ids := r.remote.unseen()
		if len(ids) > 0 {
			err := name(ctx, r.o.Service, r.o.WorkspaceID, r.o.Source, ids, func(key string, id int64) {
				gone = append(gone, doomed{key, id})
			})
			if err != nil {
				return fmt.Errorf("list the documents to delete: %w", classify(err).asError(err))
			}
		}
	}
	kept := gone[:0]
	for _, d := range gone {
		if !r.isProtected(d.key) {
			kept = append(kept, d)
		}
	}
	gone = kept
	if len(gone) == 0 {
		return nil
	}
	slices.SortFunc(gone, func(a, b doomed) int { return strings.Compare(a.key, b.key) })
	if !r.o.MaxDelete.allows(len(gone), total) {
		return fmt.Errorf("%w: it would delete %d of the %d documents of this source, more than --max-delete %s allows; nothing was deleted (raise --max-delete if that is meant)",
			ErrDeleteRefused, len(gone), total, r.o.MaxDelete)
	}
	if r.o.DryRun {
		for _, d := range gone {
			r.finish(Result{Rel: d.key, Outcome: WouldDelete, DocumentID: d.docID})
		}
		return nil
	}
	const chunk = 100
	for i := 0; i < len(gone); i += chunk {
		if r.halted() {
			return nil
		}
		if err := r.deleteChunk(ctx, gone[i:min(i+chunk, len(gone))]); err != nil {
			return err
		}
	}
	return nil
}

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
			gone = append(gone, doomed{s.key, files[0].ID})
		case r.o.State != nil && !r.o.DryRun:
			if err := r.o.State.RecordAborted(state.Record{Path: s.key, ExternalID: s.extID, At: r.clock.Now().UTC()}); err != nil {
				return nil, err
			}
		}
	}
	return gone, nil
}

// deleteChunk deletes documents in one request; when the service refuses
// the whole (an id it no longer has makes a bulk delete fail entirely), one
// by one, a document already gone counting as deleted.
func (r *runner) deleteChunk(ctx context.Context, ds []doomed) error {
	ids := make([]int64, len(ds))
	for i, d := range ds {
		ids[i] = d.docID
	}
	err := r.o.Service.DeleteFiles(ctx, ids)
	if err == nil {
		for _, d := range ds {
			if err := r.deleted(d); err != nil {
				return err
			}
		}
		return nil
	}
	if v := classify(err); v.kind == verdictStop {
		return v.err
	}
	for _, d := range ds {
		err := r.deleteOne(ctx, d.docID)
		if err == nil {
			if err := r.deleted(d); err != nil {
				return err
			}
			continue
		}
		if v := classify(err); v.kind == verdictStop {
			return v.err
		}
		r.finish(Result{Rel: d.key, Outcome: Failed, DocumentID: d.docID, Reason: "could not delete: " + err.Error()})
	}
	return nil
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
	if r.o.State == nil {
		return nil
	}
	return r.o.State.RecordDeleted(d.key, r.clock.Now().UTC())
}
