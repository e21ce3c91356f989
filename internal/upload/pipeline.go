// Package upload mirrors a directory tree into a workspace. It first
// learns what the service holds — its state file verified against the
// service (verify.go), or a listing of the workspace read as a set
// (remote.go) — then the scan feeds a bounded queue, each file is compared
// with what is known of its document, and a pool of workers uploads new
// files, replaces edited ones in place, updates stale metadata, moves the
// documents of renamed files and adopts documents uploaded before the tool
// (resolve.go); --delete removes, on the service's proof, the documents of
// files that are gone (delete.go); each file ends as exactly one outcome
// (the table in outcome.go). It owns the pipeline (this file), one file's
// attempt (attempt.go) and the files' identity (identity.go). It talks to
// the service through the Service interface (each request sent once: the
// run's decorator, internal/retry, retries), remembers through
// internal/state, and reports through the Progress interface; it prints
// nothing.
package upload

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/paradigm-upload/paradigm-upload/internal/api"
	"github.com/paradigm-upload/paradigm-upload/internal/clock"
	"github.com/paradigm-upload/paradigm-upload/internal/pace"
	"github.com/paradigm-upload/paradigm-upload/internal/retry"
	"github.com/paradigm-upload/paradigm-upload/internal/scan"
	"github.com/paradigm-upload/paradigm-upload/internal/state"
)

// Progress receives the run's events. Implementations must be safe for
// concurrent use.
type Progress interface {
	// Found is called as the scan finds candidate files.
	Found(files int, bytes int64)
	// Sent is called as bytes of file content are sent (negative when an
	// upload starts again from its beginning).
	Sent(bytes int64)
	// Done is called once per file the run considered.
	Done(r Result)
}

// Count is how much a run has to do, as the counting walk that runs ahead
// of the uploads sees it.
type Count struct {
	// Files is every file the run will consider (skipped ones included).
	Files int
	// Work and WorkBytes are the files to send and their size: neither
	// skipped nor recorded as done with the same size and time.
	Work      int
	WorkBytes int64
	// Complete is set on the last report, once the walk has ended.
	Complete bool
}

// Counter is implemented by a Progress that wants to know the size of the
// run before the uploads reach the end of the tree (for a total and an
// ETA): a second walk then runs ahead of the uploads, counting, and calls
// Counted with running totals.
type Counter interface {
	Counted(c Count)
}

// Nop is a Progress that shows nothing.
type Nop struct{}

// Found does nothing.
func (Nop) Found(int, int64) {}

// Sent does nothing.
func (Nop) Sent(int64) {}

// Done does nothing.
func (Nop) Done(Result) {}

// Options configure a run.
type Options struct {
	Root   string
	Filter scan.Filter
	// Shard limits the run to the files of one shard; the zero value and
	// scan.All mean every file. Files of other shards are not considered.
	Shard       scan.Shard
	WorkspaceID int64
	// Source names the tree within the workspace (--source): the files'
	// identities are their paths within it.
	Source string
	// Tags are the tags this tool applies to every document. nil (no
	// --tags) leaves the tags of documents as they are; an empty list
	// (--tags none) takes back those this tool applied.
	Tags   []int64
	Parser string
	// BatchSize is the number of concurrent uploads.
	BatchSize int
	// MaxFails stops the run (no new upload starts) after this many failures.
	MaxFails int
	// NoExternalID stops sending external_metadata (for instances that
	// reject it): files are then only uploaded, never replaced, deleted or
	// reconciled with the service.
	NoExternalID bool
	// Checksum compares every file with what is known of it by content
	// (sha256), not by size and modification time.
	Checksum bool
	// Reconcile lists the service's documents of the source even with a
	// state file that has records (without one, or with an empty one, the
	// run always does).
	Reconcile bool
	// Delete deletes the documents this tool uploaded from the source whose
	// file is gone; MaxDelete caps them (see DeleteCap).
	Delete    bool
	MaxDelete DeleteCap

	// Service is the service; a run gives internal/retry's decorator of
	// the API client: each request is sent here once.
	Service Service
	// State is the state file (nil: none): a *state.Store, whose records
	// the run writes, or for a dry run a *state.Snapshot, read without lock
	// (what the run learns it keeps in memory).
	State State
	// DryRun sends nothing and writes nothing (but the reads it needs):
	// what would be done ends as Would* outcomes.
	DryRun   bool
	Progress Progress // nil: Nop
	// Stop, when closed, ends the run gently: no new upload starts, those in
	// flight finish. Cancelling the context passed to Run abandons them.
	Stop  <-chan struct{}
	Clock clock.Clock // nil: the system clock
	// Ready, when set, is called once the run knows what the service
	// holds, before anything is sent or recorded: an error ends the run
	// (the caller's preflight failed); a store, when it returns one, is
	// the state file to record in from then on (one created only once the
	// setup is known to be right).
	Ready func(ctx context.Context) (*state.Store, error)
}

// State is what a run reads of the state file, and notes in it of what
// the service holds: *state.Store implements it, and so does
// *state.Snapshot (a dry run: in memory only).
type State interface {
	Done(path string) (state.Entry, bool)
	// Started returns an upload an earlier run started and never saw
	// confirmed.
	Started(path string) (state.Entry, bool)
	Len() int
	Each(fn func(path string, e state.Entry))
	MarkSeen(path string) bool
	EachUnseen(fn func(path string, e state.Entry))
	// EachUnseenStarted lists the uploads an earlier run started, never saw
	// confirmed, and whose file the scan did not find.
	EachUnseenStarted(fn func(path string, e state.Entry))
	// Checkpoint is what the last run that ended saw of the workspace.
	Checkpoint() (state.Checkpoint, bool)
	// RecordKnown records what the service holds for a path; Forget that
	// it holds nothing of this source's for it.
	RecordKnown(r state.Record, found bool) error
	Forget(path string) error
}

// Journal is what a run writes to the state file: *state.Store, never a
// dry run's snapshot.
type Journal interface {
	RecordStarted(r state.Record) error
	RecordDone(r state.Record) error
	RecordAborted(r state.Record) error
	RecordDeleted(path string, at time.Time) error
	RecordCheckpoint(c state.Checkpoint) error
}

// ErrAuth wraps the service's refusal of the API key.
var ErrAuth = errors.New("the API key was rejected")

// ErrSetup wraps an answer that shows the configuration is wrong (the base
// URL redirects elsewhere): retrying cannot help.
var ErrSetup = errors.New("the service cannot be used as configured")

// ErrUnavailable wraps a failure of the service to answer what the run
// needs before it can start (the listing): the run ends, and a rerun
// resumes.
var ErrUnavailable = errors.New("the service did not answer")

// ErrTLS wraps a failed verification of the server's certificate.
var ErrTLS = errors.New("the server's TLS certificate could not be verified")

type runner struct {
	o        Options
	prog     Progress
	clock    clock.Clock
	recorded State   // nil: no state file
	journal  Journal // nil: no state file, or a dry run
	remote   *remote // nil: no listing
	tags     string  // the tags to apply, as recorded
	keepTags bool    // no --tags: the documents' tags are left as they are

	// pic is what the run knows of the workspace as a whole (verify.go);
	// before is how many documents the source had before this run (what
	// --max-delete is a share of).
	pic    picture
	before int
	// stale holds the keys whose document's metadata someone edited
	// (under mu).
	stale map[string]bool

	fails atomic.Int64
	// dispatch is done once no new upload may start; stopDispatch ends it.
	dispatch     context.Context
	stopDispatch context.CancelFunc
	mu           sync.Mutex
	sum          Summary
	fatal        error // the first error that ended the run as a whole
	scanned      atomic.Int64
	unreadable   atomic.Int64
	// res holds the files that wait for the end of the walk: moves and
	// adoptions (resolve.go).
	res resolver
	// relist is set when the next run must list the workspace (no
	// checkpoint): what this one left undone only a listing finds again.
	relist atomic.Bool
	// removed counts the documents the run deleted other than by --delete
	// (a replacement by a new document deletes the old one).
	removed atomic.Int64
	// tombs are documents of this source left with a tombstone by a
	// replacement a run did not finish (see tombstone), by key, learnt
	// from the changes (under mu).
	tombs map[string]int64
	// noReplace is set once the instance refused to replace content in
	// place (an older API).
	noReplace atomic.Bool
	// metadata holds new uploads back until one shows that the instance
	// keeps external metadata.
	metadata  gate
	protected []string // keys of folders the walk did not enter (under mu)
}

// gate lets one caller through at a time until one of them opens it for
// good.
type gate struct {
	mu     sync.Mutex
	open   bool
	shut   bool // closed for good: no one goes
	flying bool
	wake   chan struct{}
}

// errShut is what enter returns once the gate is shut.
var errShut = errors.New("the way is shut")

// enter returns when the caller may go: at once when the gate is open;
// else as the one caller in flight (canary: it must leave), once no other
// is. It returns ctx's error when ctx ends first.
func (g *gate) enter(ctx context.Context) (canary bool, err error) {
	for {
		g.mu.Lock()
		switch {
		case g.shut:
			g.mu.Unlock()
			return false, errShut
		case g.open:
			g.mu.Unlock()
			return false, nil
		case !g.flying:
			g.flying = true
			g.mu.Unlock()
			return true, nil
		}
		if g.wake == nil {
			g.wake = make(chan struct{})
		}
		wake := g.wake
		g.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
}

// leave ends the canary's passage: open opens the gate for good, shut
// closes it for good; otherwise the next caller waiting goes.
func (g *gate) leave(open, shut bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.flying = false
	g.open = g.open || open
	g.shut = g.shut || shut
	if g.wake != nil {
		close(g.wake)
		g.wake = nil
	}
}

// protect keeps the documents of the files under key from --delete.
func (r *runner) protect(key string) {
	r.mu.Lock()
	r.protected = append(r.protected, key)
	r.mu.Unlock()
}

// isProtected reports whether key is, or is under, a folder the walk did
// not enter.
func (r *runner) isProtected(key string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.protected {
		if key == p || strings.HasPrefix(key, p+"/") {
			return true
		}
	}
	return false
}

// Run mirrors the tree. It returns the summary, and an error only for what
// ends the run as a whole (a rejected key, a state file that cannot be
// written, a folder that cannot be scanned, --max-delete exceeded);
// per-file failures are in the summary. When the run stops early —
// interrupted, --max-fails, or such an error — uploads in flight finish,
// and the files it did not start end as NotAttempted: the summary is whole
// either way.
func Run(ctx context.Context, o Options) (*Summary, error) {
	o.BatchSize = max(o.BatchSize, 1)
	o.MaxFails = max(o.MaxFails, 1)
	r := &runner{o: o, prog: o.Progress, clock: o.Clock, tags: tagsString(o.Tags), keepTags: o.Tags == nil}
	if r.prog == nil {
		r.prog = Nop{}
	}
	if r.clock == nil {
		r.clock = clock.Real{}
	}
	r.recorded = o.State
	if j, ok := o.State.(Journal); ok && !o.DryRun {
		r.journal = j
	}
	r.sum.DryRun = o.DryRun
	start := r.clock.Now()

	// stopDispatch ends the dispatch of new uploads without touching
	// uploads in flight; the scan goes on, to account for every file. A
	// first interruption (Stop) ends it, and with it the listing and the
	// deletions, which wait on nothing of the service's.
	dispatchCtx, stopDispatch := context.WithCancel(ctx)
	defer stopDispatch()
	r.dispatch, r.stopDispatch = dispatchCtx, stopDispatch
	go func() {
		select {
		case <-o.Stop:
			r.setStopped(StopInterrupted)
			stopDispatch()
		case <-dispatchCtx.Done():
		}
	}()

	surveyErr := r.survey(dispatchCtx)
	if o.Ready != nil {
		st, err := o.Ready(dispatchCtx)
		if err != nil {
			return r.result(start, ctx, err)
		}
		if st != nil && r.recorded == nil {
			r.o.State, r.recorded = st, st
			if !o.DryRun {
				r.journal = st
			}
		}
	}
	if err := surveyErr; err != nil {
		if dispatchCtx.Err() != nil {
			// Interrupted while asking: nothing was sent.
			r.setStopped(StopInterrupted)
			return r.result(start, ctx, nil)
		}
		var le *api.ListingError
		switch v := classify(err); {
		case errors.As(err, &le):
			err = fmt.Errorf("%w: %w; nothing was uploaded or deleted", ErrUntrustedListing, err)
		case v.kind == verdictStop:
			err = v.err
		default:
			err = fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		return r.result(start, ctx, fmt.Errorf("list the workspace's documents: %w", err))
	}
	if err := r.forgetCheckpoint(); err != nil {
		return r.result(start, ctx, err)
	}

	// The instance keeps the external metadata of uploads when documents
	// of this source carry it, or an earlier run recorded uploads: then no
	// upload waits for the first to show it.
	r.metadata.open = o.NoExternalID || o.DryRun || r.recorded != nil && r.recorded.Len() > 0 || r.remote != nil && r.remote.count > 0

	var g errgroup.Group
	pool := newPool(o.BatchSize)
	// The scan runs ahead of the uploads through a bounded queue, so memory
	// stays flat however large the tree is.
	queue := make(chan job, 1024)
	scanCtx, stopScan := context.WithCancel(ctx)
	defer stopScan()
	var scanErr error
	if counter, ok := r.prog.(Counter); ok && !o.DryRun {
		counted := make(chan struct{})
		go func() {
			defer close(counted)
			r.count(scanCtx, counter)
		}()
		// The counting walk reads the state: it ends before Run returns
		// (and its caller closes the state).
		defer func() { stopScan(); <-counted }()
	}
	go func() {
		defer close(queue)
		scanErr = scan.Walk(scanCtx, o.Root, o.Filter, func(e scan.Entry) error {
			return r.triage(scanCtx, e, queue)
		})
		if scanErr == nil {
			// The whole tree seen: the files that waited are settled.
			scanErr = r.resolve(scanCtx, queue)
		}
	}()

	for j := range queue {
		if r.maxFailsReached() {
			r.setStopped(StopMaxFails)
		}
		if r.halted() {
			r.finish(Result{Rel: j.e.Key, Size: j.e.Size, Outcome: NotAttempted})
			continue
		}
		slot := pool.take()
		g.Go(func() error {
			defer slot.leave()
			// The first interruption withdraws the requests that wait
			// to be sent (a pause of the pacing, a Retry-After, a
			// backoff): what is on the wire finishes.
			actx := pace.WithStop(retry.WithSlot(ctx, slot), r.dispatch, r.o.Stop)
			if err := r.attempt(actx, j); err != nil {
				r.stop(err)
			}
			return nil
		})
	}
	_ = g.Wait()
	select {
	case <-o.Stop:
		// (The goroutine that notes it may not have run yet: the
		// dispatch saw the signal itself.)
		r.setStopped(StopInterrupted)
	default:
	}
	if r.maxFailsReached() {
		r.setStopped(StopMaxFails)
	}
	if scanErr == nil && !r.halted() {
		r.clearTombs(dispatchCtx)
	}
	deleted := 0
	if scanErr == nil && o.Delete && !r.halted() {
		var err error
		if deleted, err = r.deleteGone(dispatchCtx); err != nil {
			r.stop(err)
		}
	}
	if scanErr == nil && !r.halted() && dispatchCtx.Err() == nil {
		// The run saw the whole tree: the state now holds the service's
		// picture of it, which the next run can verify cheaply.
		if err := r.settleState(); err != nil {
			r.stop(err)
		} else if err := r.checkpoint(dispatchCtx, deleted); err != nil {
			r.stop(err)
		}
	}
	var err error
	if scanErr != nil && !errors.Is(scanErr, context.Canceled) {
		err = fmt.Errorf("scan %s: %w", o.Root, scanErr)
	}
	return r.result(start, ctx, err)
}

// survey learns, before the scan, what the service holds: it verifies the
// state file against its checkpoint (verify.go), or, when there is none to
// trust, lists the workspace. It first notes how many of the workspace's
// documents were created before the run's moment, so that anything deleted
// from now on, while the run looks, is seen by the next run (or by --delete).
func (r *runner) survey(ctx context.Context) error {
	if r.o.NoExternalID {
		return nil
	}
	// The run's moment: a little before now, by the service's clock when
	// this machine's is ahead of it. What was created before it is
	// counted first (beside the listing's first page, when the run lists).
	r.pic.at = r.clock.Now().Add(-5 * margin)
	counted := make(chan error, 1)
	go func() {
		count, newest, date, err := r.countBefore(ctx, r.pic.at)
		if err == nil && !date.IsZero() && r.pic.at.After(date.Add(-margin)) {
			r.pic.at = date.Add(-margin)
			count, newest, _, err = r.countBefore(ctx, r.pic.at)
		}
		r.pic.count, r.pic.newest = count, newest
		counted <- err
	}()
	trusted := r.recorded != nil && r.recorded.Len() > 0 && !r.o.Reconcile
	if trusted {
		if err := <-counted; err != nil {
			return err
		}
		counted = nil
		ok, err := r.verify(ctx)
		if err != nil {
			return err
		}
		if ok {
			r.pic.verified = true
			r.before = r.recorded.Len()
			return nil
		}
	}
	// The count before the second page: a document deleted while the
	// pages are read is then missing from it, and the next run lists.
	counting := func() error {
		if counted == nil {
			return nil
		}
		err := <-counted
		counted = nil
		return err
	}
	rm, err := loadRemote(ctx, r.o.Service, r.o.WorkspaceID, r.o.Source, r.o.Shard, r.res.addUnowned, counting)
	if cerr := counting(); err == nil {
		err = cerr // (else the listing's error says it)
	}
	if err != nil {
		return err
	}
	r.remote, r.before = rm, rm.count
	if rm.repeats > 0 {
		r.note(fmt.Sprintf("the listing of the workspace showed %d document(s) twice (its pages shifted while they were read); each was counted once", rm.repeats))
	}
	if rm.foreign > 0 {
		r.note(fmt.Sprintf("the listing of the workspace showed %d document(s) of another workspace (or not saying theirs): they were left out", rm.foreign))
	}
	return nil
}

// settleState brings the state file in line with the listing the run
// read, once the scan is over: a recorded file whose document the service
// does not hold, and that this run did not record anew (its file gone, or
// its upload failed), is forgotten.
func (r *runner) settleState() error {
	if r.remote == nil || r.recorded == nil {
		return nil
	}
	var ghosts []string
	r.recorded.Each(func(path string, e state.Entry) {
		// (What this run recorded, it did: the listing predates it.)
		if !e.Fresh && r.o.Shard.Has(path) && !r.remote.has(ExternalID(r.o.Source, path)) {
			ghosts = append(ghosts, path)
		}
	})
	for _, p := range ghosts {
		if err := r.recorded.Forget(p); err != nil {
			return err
		}
	}
	return nil
}

// result ends the run: the summary, and the error that ended it, if any.
func (r *runner) result(start time.Time, ctx context.Context, err error) (*Summary, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sum.Duration = r.clock.Now().Sub(start)
	if r.fatal != nil {
		err = r.fatal
	}
	if ctx.Err() != nil {
		r.sum.Stopped = StopInterrupted
	}
	sum := r.sum
	return &sum, err
}

// stop ends the run for an error that concerns it as a whole: no new upload
// starts; those in flight finish and are accounted for.
func (r *runner) stop(err error) {
	r.mu.Lock()
	if r.fatal == nil {
		r.fatal = err
	}
	if r.sum.Stopped == StopNone {
		r.sum.Stopped = StopFatal
	}
	r.mu.Unlock()
	r.stopDispatch()
}

func (r *runner) maxFailsReached() bool { return int(r.fails.Load()) >= r.o.MaxFails }

// halted reports whether no new upload may start.
func (r *runner) halted() bool { return r.interrupted(r.dispatch) != nil || r.maxFailsReached() }

func (r *runner) setStopped(s StopReason) {
	r.mu.Lock()
	if r.sum.Stopped == StopNone {
		r.sum.Stopped = s
	}
	r.mu.Unlock()
}

// jobKind is what a file needs.
type jobKind uint8

const (
	jobUpload  jobKind = iota // no document yet: upload
	jobReplace                // content changed (its size did): replace in place
	jobCheck                  // maybe changed: hash, then replace, update or record
	jobUpdate                 // same content, stale metadata: update it
	jobAsk                    // an earlier run left it unconfirmed: ask the service
	jobPick                   // several documents carry its identity: find its own
	jobMove                   // a document of this source whose file is gone holds its content
	jobAdopt                  // a document without identity has its name (and size, or content)
)

// job is a file on its way to a worker, with what is known of its document.
type job struct {
	e     scan.Entry
	kind  jobKind
	known known
	from  doomed      // jobMove: the document it takes over
	adopt *unownedDoc // jobAdopt: the document it takes over
}

// triage runs in the scanner: it settles every file that needs nothing
// from the service and queues the others.
func (r *runner) triage(ctx context.Context, e scan.Entry, queue chan<- job) error {
	if e.Err != nil {
		// A folder (or file) that cannot be read: whatever shard its key
		// falls in, files of this shard may be under it, unseen. Every
		// shard reports it, and deletes nothing.
		r.unreadable.Add(1)
		r.prog.Found(1, 0)
		r.finish(Result{Rel: e.Key, Outcome: Failed, Reason: "cannot be read: " + unwrapPathError(e.Err)})
		return nil
	}
	if e.Unvisited {
		// A folder the walk did not enter: its files exist, unseen; none of
		// them is deleted.
		r.protect(e.Key)
	}
	if !r.o.Shard.Has(e.Key) {
		return nil
	}
	k, found := r.known(e.Key)
	if e.Skip != scan.ReasonNone {
		r.prog.Found(1, 0)
		r.finish(Result{Rel: e.Key, Size: e.Size, Outcome: Skipped, Reason: string(e.Skip)})
		return nil
	}
	// A file the run would upload: the tree is not empty (--delete).
	r.scanned.Add(1)
	j := job{e: e, known: k}
	sameFile := found && k.size == e.Size && k.mtime.Equal(e.ModTime) && k.sha != "" && !r.o.Checksum
	// A document whose metadata lacks part of what this tool writes (someone
	// edited it) has it written again.
	stale := found && (r.remote != nil && !k.complete || r.isStale(e.Key))
	switch {
	case r.o.NoExternalID:
		if found && k.size == e.Size && k.mtime.Equal(e.ModTime) {
			return r.settle(e, Result{Rel: e.Key, Size: e.Size, Outcome: AlreadyDone, Reason: "recorded in the state file",
				DocumentID: k.docID, UploadSessionUUID: k.session})
		}
		j.kind = jobUpload
	case r.startedEarlier(e.Key):
		j.kind = jobAsk
	case !found:
		j.kind = jobUpload
		if r.deferNew(e) {
			// A move or an adoption, maybe: it waits for the end of the
			// walk (resolve.go).
			r.prog.Found(1, e.Size)
			return nil
		}
	case len(k.others) > 0:
		// Several documents carry its identity: which is its own is
		// decided by the state file or the content, never guessed.
		j.kind = jobPick
	case sameFile && k.tags == r.wantTags(k) && k.extID == ExternalID(r.o.Source, e.Key) && !stale:
		reason := "recorded in the state file"
		if r.remote != nil {
			reason = "the service has this version"
			// The state learns what the listing showed, so that the next
			// run need not list.
			if err := r.remember(e, k); err != nil {
				return err
			}
		}
		return r.settle(e, Result{Rel: e.Key, Size: e.Size, Outcome: AlreadyDone, Reason: reason,
			DocumentID: k.docID, UploadSessionUUID: k.session})
	case sameFile:
		j.kind = jobUpdate
	case k.size != e.Size && k.sha != "":
		j.kind = jobReplace
	default:
		j.kind = jobCheck
	}
	if r.o.DryRun && (j.kind == jobUpload || j.kind == jobReplace || j.kind == jobUpdate) {
		// Nothing to read to know what would happen.
		return r.settle(e, r.wouldResult(j))
	}
	r.prog.Found(1, e.Size)
	select {
	case queue <- j:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// wantTags returns the tags this tool applies to the document k knows of,
// as recorded: those of --tags; without --tags, those it applied before
// (nothing to change).
func (r *runner) wantTags(k known) string {
	if r.keepTags {
		return k.tags
	}
	return r.tags
}

// remember records in the state file what the service holds for a file
// the scan found, as a listing showed it.
func (r *runner) remember(e scan.Entry, k known) error {
	if r.journal == nil {
		return nil
	}
	// (No time: the document was not changed by this run; the next run
	// does not expect it among the service's changes.)
	return r.recorded.RecordKnown(state.Record{Path: e.Key, Size: k.size, ModTime: k.mtime, ExternalID: k.extID,
		SHA256: k.sha, DocumentID: k.docID, UploadSessionUUID: k.session, Tags: k.tags}, true)
}

// settle finishes a file the scan could decide alone.
func (r *runner) settle(e scan.Entry, res Result) error {
	r.prog.Found(1, 0)
	r.finish(res)
	return nil
}

// wouldResult is the outcome of a job in a dry run.
func (r *runner) wouldResult(j job) Result {
	res := Result{Rel: j.e.Key, Size: j.e.Size, DocumentID: j.known.docID}
	switch j.kind {
	case jobReplace:
		res.Outcome = WouldReplace
	case jobUpdate:
		res.Outcome = WouldUpdate
	default:
		res.Outcome = WouldUpload
	}
	return res
}

// known returns what is known of the document of the file at key, from the
// state file or else the listing, and notes that the scan found the file.
func (r *runner) known(key string) (known, bool) {
	var d state.Entry
	var inState bool
	if r.recorded != nil {
		r.recorded.MarkSeen(key)
		d, inState = r.recorded.Done(key)
	}
	if r.remote == nil {
		return knownFromState(d), inState
	}
	// A listing is read when there is no state to trust or --reconcile
	// asks for it: what the service holds wins over what the state file
	// remembers (a document deleted or changed since is sent again).
	k, ok := r.remote.find(r.o.Source, key)
	if ok && inState && d.DocumentID == k.docID {
		k.session = d.UploadSessionUUID
	}
	return k, ok
}

// startedEarlier reports an upload an earlier run started but never saw
// confirmed.
func (r *runner) startedEarlier(key string) bool {
	if r.recorded == nil {
		return false
	}
	_, ok := r.recorded.Started(key)
	return ok
}

// count walks the tree ahead of the uploads and reports how much work the
// run has. It holds nothing per file, so it runs to the end of the tree
// while the bounded queue holds the uploads back.
func (r *runner) count(ctx context.Context, counter Counter) {
	var c Count
	err := scan.Walk(ctx, r.o.Root, r.o.Filter, func(e scan.Entry) error {
		if !r.o.Shard.Has(e.Key) {
			return nil
		}
		c.Files++
		if e.Err == nil && e.Skip == scan.ReasonNone {
			// What this run records as it goes is work it does, not work
			// an earlier run did.
			d, ok := r.recordedDone(e.Key)
			if !ok || d.Fresh || d.Size != e.Size || !d.ModTime.Equal(e.ModTime) {
				c.Work++
				c.WorkBytes += e.Size
			}
		}
		if c.Files%1024 == 0 {
			counter.Counted(c)
		}
		return nil
	})
	c.Complete = err == nil
	counter.Counted(c)
}

// recordedDone returns what the state file records for key, if any.
func (r *runner) recordedDone(key string) (state.Entry, bool) {
	if r.recorded == nil {
		return state.Entry{}, false
	}
	return r.recorded.Done(key)
}

func unwrapPathError(err error) string {
	var pe interface{ Unwrap() error }
	if errors.As(err, &pe) {
		if inner := pe.Unwrap(); inner != nil {
			return inner.Error()
		}
	}
	return err.Error()
}

// finish records a file's outcome in the summary and reports it.
func (r *runner) finish(res Result) {
	r.mu.Lock()
	r.sum.Add(res)
	r.mu.Unlock()
	if outcomes[res.Outcome].Failure {
		r.fails.Add(1)
	}
	r.prog.Done(res)
}

// lookup asks the service for the documents with this external id.
func (r *runner) lookup(ctx context.Context, extID string) ([]api.File, error) {
	files, err := r.o.Service.Lookup(ctx, r.o.WorkspaceID, extID)
	if ae, ok := api.AsError(err); ok && ae.IsAuth() {
		return nil, fmt.Errorf("%w (%s)", ErrAuth, ae.Error())
	}
	return files, err
}

// interrupted returns the context's error once a first interruption came
// (Stop closed) or ctx is done: a listing checks it at each page, so that
// it ends at once, not when the goroutine that cancels the dispatch runs.
func (r *runner) interrupted(ctx context.Context) error {
	select {
	case <-r.o.Stop:
		return context.Canceled
	default:
		return ctx.Err()
	}
}

// note adds a line to the summary's notes: something the run decided not
// to do, or did differently, and why.
func (r *runner) note(s string) {
	r.mu.Lock()
	r.sum.Notes = append(r.sum.Notes, s)
	r.mu.Unlock()
}
