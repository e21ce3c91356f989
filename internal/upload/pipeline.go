// Package upload runs an upload of a directory tree: the scan feeds a bounded
// queue, a pool of workers uploads what passes the filters and the state
// file, each file ends as exactly one outcome (see the table in outcome.go),
// and the run stops early on --max-fails, a rejected key, or an
// interruption. It owns the pipeline (this file), one file's attempt
// (attempt.go) and the files' identity (identity.go). It talks to the service
// through the Service interface, waits through internal/pace, remembers
// through internal/state, and reports through the Progress interface; it
// prints nothing.
package upload

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/paradigm-upload/paradigm-upload/internal/api"
	"github.com/paradigm-upload/paradigm-upload/internal/clock"
	"github.com/paradigm-upload/paradigm-upload/internal/pace"
	"github.com/paradigm-upload/paradigm-upload/internal/scan"
	"github.com/paradigm-upload/paradigm-upload/internal/state"
)

// Progress receives the run's events. Implementations must be safe for
// concurrent use.
type Progress interface {
	// Found is called as the scan finds candidate files.
	Found(files int, bytes int64)
	// Sent is called as bytes of file content are sent.
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
	Tags        []int64
	Parser      string
	// BatchSize is the number of concurrent uploads.
	BatchSize int
	// MaxFails stops the run (no new upload starts) after this many failures.
	MaxFails int
	// NoExternalID stops sending external_metadata (for instances that
	// reject it); lost answers can then not be reconciled.
	NoExternalID bool
	// Checksum compares files with the state file by content (sha256)
	// rather than by size and modification time, and derives external ids
	// from the content.
	Checksum bool

	Service Service
	// Pacer paces every request and its retries; nil: the default retry
	// policy, no rate limit.
	Pacer *pace.Pacer
	State *state.Store // nil: no state file
	// DryRun sends nothing and writes nothing: candidates end as
	// WouldUpload. Recorded, when set, is consulted instead of State.
	DryRun   bool
	Recorded Recorded
	Progress Progress // nil: Nop
	// Stop, when closed, ends the run gently: no new upload starts, those in
	// flight finish. Cancelling the context passed to Run abandons them.
	Stop  <-chan struct{}
	Clock clock.Clock // nil: the system clock
}

// Recorded is what the state file says was uploaded.
type Recorded interface {
	Done(path string) (state.Entry, bool)
}

// ErrAuth wraps the service's refusal of the API key.
var ErrAuth = errors.New("the API key was rejected")

// ErrSetup wraps an answer that shows the configuration is wrong (the base
// URL redirects elsewhere): retrying cannot help.
var ErrSetup = errors.New("the service cannot be used as configured")

// ErrTLS wraps a failed verification of the server's certificate.
var ErrTLS = errors.New("the server's TLS certificate could not be verified")

type runner struct {
	o        Options
	prog     Progress
	clock    clock.Clock
	pacer    *pace.Pacer
	recorded Recorded // nil: no state file

	fails atomic.Int64
	// dispatch is done once no new upload may start; stopDispatch ends it.
	dispatch     context.Context
	stopDispatch context.CancelFunc
	mu           sync.Mutex
	sum          Summary
	fatal        error // the first error that ended the run as a whole
}

// Run uploads the tree. It returns the summary, and an error only for what
// ends the run as a whole (a rejected key, a state file that cannot be
// written, a folder that cannot be scanned); per-file failures are in the
// summary. When the run stops early — interrupted, --max-fails, or such an
// error — uploads in flight finish, and the files it did not start end as
// NotAttempted: the summary is whole either way.
func Run(ctx context.Context, o Options) (*Summary, error) {
	o.BatchSize = max(o.BatchSize, 1)
	o.MaxFails = max(o.MaxFails, 1)
	r := &runner{o: o, prog: o.Progress, clock: o.Clock, pacer: o.Pacer}
	if r.prog == nil {
		r.prog = Nop{}
	}
	if r.clock == nil {
		r.clock = clock.Real{}
	}
	if r.pacer == nil {
		r.pacer = pace.New(r.clock, pace.Options{Policy: pace.DefaultPolicy()})
	}
	switch {
	case o.Recorded != nil:
		r.recorded = o.Recorded
	case o.State != nil:
		r.recorded = o.State
	}
	r.sum.DryRun = o.DryRun
	start := r.clock.Now()

	// stopDispatch ends the dispatch of new uploads without touching
	// uploads in flight; the scan goes on, to account for every file.
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

	var g errgroup.Group
	g.SetLimit(o.BatchSize)
	// The scan runs ahead of the uploads through a bounded queue, so memory
	// stays flat however large the tree is.
	queue := make(chan scan.Entry, 1024)
	scanCtx, stopScan := context.WithCancel(ctx)
	defer stopScan()
	var scanErr error
	if counter, ok := r.prog.(Counter); ok && !o.DryRun {
		go r.count(scanCtx, counter, start)
	}
	go func() {
		defer close(queue)
		scanErr = scan.Walk(scanCtx, o.Root, o.Filter, func(e scan.Entry) error {
			return r.triage(scanCtx, e, queue)
		})
	}()

	for e := range queue {
		if r.maxFailsReached() {
			r.setStopped(StopMaxFails)
		}
		if r.halted() {
			r.finish(Result{Rel: e.Rel, Size: e.Size, Outcome: NotAttempted})
			continue
		}
		g.Go(func() error {
			if err := r.attempt(ctx, e); err != nil {
				r.stop(err)
			}
			return nil
		})
	}
	_ = g.Wait()
	if r.maxFailsReached() {
		r.setStopped(StopMaxFails)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sum.Duration = r.clock.Now().Sub(start)
	err := r.fatal
	if err == nil && scanErr != nil && !errors.Is(scanErr, context.Canceled) {
		err = fmt.Errorf("scan %s: %w", o.Root, scanErr)
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
func (r *runner) halted() bool { return r.dispatch.Err() != nil || r.maxFailsReached() }

func (r *runner) setStopped(s StopReason) {
	r.mu.Lock()
	if r.sum.Stopped == StopNone {
		r.sum.Stopped = s
	}
	r.mu.Unlock()
}

// triage runs in the scanner: it settles every file that needs no upload
// and queues the others.
func (r *runner) triage(ctx context.Context, e scan.Entry, queue chan<- scan.Entry) error {
	e.Rel = normRel(e.Rel)
	if !r.o.Shard.Has(e.Rel) {
		return nil
	}
	switch {
	case e.Err != nil:
		r.prog.Found(1, 0)
		r.finish(Result{Rel: e.Rel, Outcome: Failed, Reason: "cannot be read: " + unwrapPathError(e.Err)})
		return nil
	case e.Skip != scan.ReasonNone:
		r.prog.Found(1, 0)
		r.finish(Result{Rel: e.Rel, Size: e.Size, Outcome: Skipped, Reason: string(e.Skip)})
		return nil
	}
	changed := false
	if r.recorded != nil {
		d, ok := r.recorded.Done(e.Rel)
		if ok && r.unchanged(&e, d) {
			r.prog.Found(1, 0)
			r.finish(Result{Rel: e.Rel, Size: e.Size, Outcome: AlreadyDone, Reason: "recorded in the state file",
				DocumentID: d.DocumentID, UploadSessionUUID: d.UploadSessionUUID})
			return nil
		}
		changed = ok
	}
	if r.o.DryRun {
		r.prog.Found(1, 0)
		res := Result{Rel: e.Rel, Size: e.Size, Outcome: WouldUpload}
		if changed {
			res.Reason = "changed since its recorded upload"
		}
		r.finish(res)
		return nil
	}
	r.prog.Found(1, e.Size)
	select {
	case queue <- e:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// count walks the tree ahead of the uploads and reports how much work the
// run has. It holds nothing per file, so it runs to the end of the tree
// while the bounded queue holds the uploads back.
func (r *runner) count(ctx context.Context, counter Counter, start time.Time) {
	var c Count
	err := scan.Walk(ctx, r.o.Root, r.o.Filter, func(e scan.Entry) error {
		rel := normRel(e.Rel)
		if !r.o.Shard.Has(rel) {
			return nil
		}
		c.Files++
		if e.Err == nil && e.Skip == scan.ReasonNone {
			// What this run records as it goes is work it does, not work
			// an earlier run did.
			d, ok := r.recordedDone(rel)
			if !ok || !d.UploadedAt.Before(start) || d.Size != e.Size || !d.ModTime.Equal(e.ModTime) {
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

// recordedDone returns what the state file records for rel, if any.
func (r *runner) recordedDone(rel string) (state.Entry, bool) {
	if r.recorded == nil {
		return state.Entry{}, false
	}
	return r.recorded.Done(rel)
}

// unchanged reports whether the file is the one recorded: same size and
// modification time, or, under --checksum, same content. A hash computed
// here is kept in e for the upload.
func (r *runner) unchanged(e *scan.Entry, d state.Entry) bool {
	if d.Size != e.Size {
		return false
	}
	if !r.o.Checksum || d.SHA256 == "" {
		return d.ModTime.Equal(e.ModTime)
	}
	sum, err := fileSHA256(e.Path)
	if err != nil {
		return false // the upload will report why the file cannot be read
	}
	e.SHA256 = sum
	return sum == d.SHA256
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

// lookup asks the service for the document with this external id.
func (r *runner) lookup(ctx context.Context, extID string) (*api.File, error) {
	if err := r.pacer.Wait(ctx); err != nil {
		return nil, err
	}
	f, err := r.o.Service.FindByExternalID(ctx, r.o.WorkspaceID, extID)
	if ae, ok := api.AsError(err); ok && ae.IsAuth() {
		return nil, fmt.Errorf("%w (%s)", ErrAuth, ae.Error())
	}
	return f, err
}
