// Package upload runs an upload of a directory tree: the scan feeds a bounded
// queue, a pool of workers uploads what passes the filters and the state
// file, each file ends as exactly one outcome, and the run stops early on
// --max-fails, a rejected key, or an interruption. It talks to the service
// through internal/api and remembers through internal/state; display is
// behind the Progress interface.
package upload

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/text/unicode/norm"
	"golang.org/x/time/rate"

	"github.com/paradigm-upload/paradigm-upload/internal/api"
	"github.com/paradigm-upload/paradigm-upload/internal/retry"
	"github.com/paradigm-upload/paradigm-upload/internal/scan"
	"github.com/paradigm-upload/paradigm-upload/internal/state"
)

// Outcome is how a file ended.
type Outcome string

// The outcomes of a file. Every file the run considers ends as exactly one.
const (
	Uploaded    Outcome = "uploaded"
	Skipped     Outcome = "skipped"
	Failed      Outcome = "failed"
	AlreadyDone Outcome = "already_done"
	// WouldUpload is the outcome of a candidate in a dry run.
	WouldUpload Outcome = "would_upload"
)

// Result is the outcome of one file.
type Result struct {
	Rel     string
	Size    int64
	Outcome Outcome
	// Reason says why a file was skipped or failed.
	Reason string
	// Changed is set on an upload of a file that was recorded as uploaded
	// but changed since.
	Changed bool
	// Warning is set on an upload that succeeded with a reservation (207).
	Warning           string
	DocumentID        int64
	UploadSessionUUID string
	Attempts          int
	Duration          time.Duration
}

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
	Retry    retry.Policy
	// RateLimit caps requests per second across the pool; 0 means no cap.
	RateLimit float64

	Client *api.Client
	State  *state.Store // nil: no state file
	// DryRun sends nothing and writes nothing: candidates end as
	// WouldUpload. Recorded, when set, is consulted instead of State.
	DryRun   bool
	Recorded Recorded
	Progress Progress // nil: Nop
	// Stop, when closed, ends the run gently: no new upload starts, those in
	// flight finish. Cancelling the context passed to Run abandons them.
	Stop  <-chan struct{}
	Clock retry.Clock // nil: the system clock
}

// Recorded is what the state file says was uploaded.
type Recorded interface {
	Done(path string) (state.Entry, bool)
}

// ErrAuth wraps the service's refusal of the API key.
var ErrAuth = errors.New("the API key was rejected")

// ErrTLS wraps a failed verification of the server's certificate.
var ErrTLS = errors.New("the server's TLS certificate could not be verified")

// StopReason says why a run ended before it had considered every file.
type StopReason string

// Why a run stopped early.
const (
	StopNone        StopReason = ""
	StopMaxFails    StopReason = "max-fails"
	StopInterrupted StopReason = "interrupted"
)

// Summary is what a run did.
type Summary struct {
	Found       int // files the scan found
	Uploaded    int // uploads the service confirmed (Changed included)
	Changed     int // of Uploaded, files re-uploaded because they changed
	Skipped     int
	Failed      int
	AlreadyDone int
	WouldUpload int // dry run: files that would be uploaded
	// WouldBytes is what a dry run would upload.
	WouldBytes int64
	// SkippedBy counts skipped files by reason.
	SkippedBy map[string]int
	// Failures lists every failed file, in the order they failed.
	Failures []Result
	// Warnings lists uploads that succeeded with a reservation.
	Warnings []Result
	// Bytes is the content uploaded.
	Bytes    int64
	Duration time.Duration
	// Sessions are the upload sessions the service put this run's files in.
	Sessions []string
	Stopped  StopReason
	DryRun   bool
}

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

type runner struct {
	o        Options
	prog     Progress
	clock    retry.Clock
	gate     *retry.Gate
	limiter  *rate.Limiter
	recorded Recorded // nil: no state file

	fails atomic.Int64
	// dispatch is done once no new upload may start.
	dispatch context.Context
	mu       sync.Mutex
	sum      Summary
	seen     map[string]struct{}
}

// Run uploads the tree. It returns the summary, and an error only for what
// ends the run as a whole (a rejected key, a state file that cannot be
// written, a folder that cannot be scanned); per-file failures are in the
// summary.
func Run(ctx context.Context, o Options) (*Summary, error) {
	if o.BatchSize < 1 {
		o.BatchSize = 1
	}
	if o.MaxFails < 1 {
		o.MaxFails = 1
	}
	r := &runner{o: o, prog: o.Progress, clock: o.Clock, seen: map[string]struct{}{}}
	if r.prog == nil {
		r.prog = Nop{}
	}
	if r.clock == nil {
		r.clock = retry.Real{}
	}
	r.gate = &retry.Gate{Clock: r.clock}
	switch {
	case o.Recorded != nil:
		r.recorded = o.Recorded
	case o.State != nil:
		r.recorded = o.State
	}
	if o.RateLimit > 0 {
		r.limiter = rate.NewLimiter(rate.Limit(o.RateLimit), max(1, int(o.RateLimit)))
	}
	r.sum.SkippedBy = map[string]int{}
	r.sum.DryRun = o.DryRun
	start := r.clock.Now()

	// stopDispatch ends the scan and the dispatch of new uploads without
	// touching uploads in flight.
	dispatchCtx, stopDispatch := context.WithCancel(ctx)
	defer stopDispatch()
	r.dispatch = dispatchCtx
	go func() {
		select {
		case <-o.Stop:
			r.setStopped(StopInterrupted)
			stopDispatch()
		case <-dispatchCtx.Done():
		}
	}()

	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(o.BatchSize)
	// The scan runs ahead of the uploads through a bounded queue, so memory
	// stays flat however large the tree is.
	queue := make(chan scan.Entry, 1024)
	scanCtx, stopScan := context.WithCancel(dispatchCtx)
	defer stopScan()
	var scanErr error
	go func() {
		defer close(queue)
		scanErr = scan.Walk(scanCtx, o.Root, o.Filter, func(e scan.Entry) error {
			return r.triage(scanCtx, e, queue)
		})
	}()

dispatch:
	for e := range queue {
		select {
		case <-dispatchCtx.Done():
			break dispatch
		case <-gctx.Done():
			break dispatch
		default:
		}
		if int(r.fails.Load()) >= o.MaxFails {
			r.setStopped(StopMaxFails)
			break
		}
		g.Go(func() error { return r.uploadOne(gctx, e) })
	}
	stopScan()
	for range queue { // let the scanner see the cancellation and finish
	}
	err := g.Wait()
	if int(r.fails.Load()) >= o.MaxFails {
		r.setStopped(StopMaxFails)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sum.Duration = r.clock.Now().Sub(start)
	if err == nil && scanErr != nil && !errors.Is(scanErr, context.Canceled) {
		err = fmt.Errorf("scan %s: %w", o.Root, scanErr)
	}
	if err == nil && ctx.Err() != nil {
		r.sum.Stopped = StopInterrupted
	}
	sum := r.sum
	return &sum, err
}

// halted reports whether no new upload may start.
func (r *runner) halted() bool {
	return r.dispatch.Err() != nil || int(r.fails.Load()) >= r.o.MaxFails
}

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
		res := Result{Rel: e.Rel, Size: e.Size, Outcome: WouldUpload, Changed: changed}
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
	switch res.Outcome {
	case Uploaded:
		r.sum.Uploaded++
		r.sum.Bytes += res.Size
		if res.Changed {
			r.sum.Changed++
		}
		if res.Warning != "" {
			r.sum.Warnings = append(r.sum.Warnings, res)
		}
		if s := res.UploadSessionUUID; s != "" {
			if _, ok := r.seen[s]; !ok {
				r.seen[s] = struct{}{}
				r.sum.Sessions = append(r.sum.Sessions, s)
			}
		}
	case Skipped:
		r.sum.Skipped++
		r.sum.SkippedBy[res.Reason]++
	case Failed:
		r.sum.Failed++
		r.sum.Failures = append(r.sum.Failures, res)
	case AlreadyDone:
		r.sum.AlreadyDone++
	case WouldUpload:
		r.sum.WouldUpload++
		r.sum.WouldBytes += res.Size
	}
	r.sum.Found++
	r.mu.Unlock()
	if res.Outcome == Failed {
		r.fails.Add(1)
	}
	r.prog.Done(res)
}

// uploadOne uploads one file with retries. It returns an error only for what
// must stop the whole run.
func (r *runner) uploadOne(ctx context.Context, e scan.Entry) error {
	if r.halted() || ctx.Err() != nil {
		// The run stopped while this file waited for a worker: it is left
		// for the next run, not counted.
		return nil
	}
	start := r.clock.Now()
	res := Result{Rel: e.Rel, Size: e.Size}
	if r.o.Checksum && e.SHA256 == "" {
		sum, err := fileSHA256(e.Path)
		if err != nil {
			return r.fail(res, start, 0, state.Record{}, "cannot be read: "+unwrapPathError(err))
		}
		e.SHA256 = sum
	}
	extID := ""
	switch {
	case r.o.NoExternalID:
	case r.o.Checksum:
		extID = ContentExternalID(e.Rel, e.SHA256)
	default:
		extID = ExternalID(e.Rel, e.Size, e.ModTime)
	}
	rec := state.Record{Path: e.Rel, Size: e.Size, ModTime: e.ModTime, ExternalID: extID, SHA256: e.SHA256}
	if r.o.State != nil {
		_, res.Changed = r.o.State.Done(e.Rel)
	}
	finish := func(f *api.File, status int, attempts int) error {
		res.Attempts = attempts
		res.Duration = r.clock.Now().Sub(start)
		res.Outcome = Uploaded
		res.DocumentID = f.ID
		res.UploadSessionUUID = f.UploadSessionUUID
		if status == 207 {
			res.Warning = "uploaded, but the tags were not applied"
		}
		if r.o.State != nil {
			rec.DocumentID, rec.UploadSessionUUID, rec.At = f.ID, f.UploadSessionUUID, r.clock.Now().UTC()
			if err := r.o.State.RecordDone(rec); err != nil {
				r.finish(res)
				return err
			}
		}
		r.finish(res)
		return nil
	}

	// An upload started by an earlier run that never learned its outcome:
	// ask the service before sending it again.
	if r.o.State != nil && extID != "" {
		if st, ok := r.o.State.Started(e.Rel); ok && st.ExternalID == extID {
			if f, err := r.lookup(ctx, extID); err != nil {
				if errors.Is(err, ErrAuth) {
					return err
				}
			} else if f != nil {
				res.Reason = "confirmed by the service after an interrupted run"
				return finish(f, 200, 0)
			}
		}
	}
	if r.o.State != nil {
		rec.At = r.clock.Now().UTC()
		if err := r.o.State.RecordStarted(rec); err != nil {
			return err
		}
	}

	req := api.UploadRequest{
		Path: e.Path, Filename: path.Base(e.Rel), Size: e.Size, WorkspaceID: r.o.WorkspaceID,
		Tags: r.o.Tags, Parser: r.o.Parser, Sent: r.prog.Sent,
	}
	if extID != "" {
		req.External = &api.ExternalMetadata{
			ExternalID:         extID,
			AdditionalMetadata: map[string]any{"path": e.Rel, "uploaded_by": "paradigm-upload"},
		}
	}
	unknown := false // a request may have reached the service without an answer
	for attempt := 1; ; attempt++ {
		if attempt > 1 && unknown && extID != "" {
			if f, err := r.lookup(ctx, extID); err == nil && f != nil {
				return finish(f, 200, attempt-1)
			} else if errors.Is(err, ErrAuth) {
				return err
			}
		}
		if err := r.wait(ctx); err != nil {
			return r.abandon(res, start, attempt-1)
		}
		out, err := r.o.Client.Upload(ctx, req)
		if err == nil {
			return finish(&out.File, out.StatusCode, attempt)
		}
		if ctx.Err() != nil {
			return r.abandon(res, start, attempt)
		}
		retryAfter := time.Duration(0)
		var ae *api.Error
		var te *api.TransportError
		switch {
		case errors.As(err, &ae):
			switch {
			case ae.IsAuth():
				return fmt.Errorf("%w (%s): check --api-key or PARADIGM_API_KEY", ErrAuth, ae.Error())
			case ae.IsTooLarge():
				return r.skip(res, start, attempt, rec, "refused by the service as too large")
			case ae.IsUnsupportedType():
				return r.skip(res, start, attempt, rec, "refused by the service as an unsupported type")
			case !ae.IsTransient():
				return r.fail(res, start, attempt, rec, ae.Error())
			}
			retryAfter = ae.RetryAfter
			if ae.StatusCode == 429 {
				// Slow the whole pool, not just this worker.
				d := r.o.Retry.Delay(attempt, retryAfter)
				r.gate.PauseUntil(r.clock.Now().Add(d))
			}
		case api.IsCertificateError(err):
			return fmt.Errorf("%w (%s): if the instance uses a private certificate authority, pass --ca-cert", ErrTLS, err.Error())
		case errors.As(err, &te):
			unknown = unknown || te.Sent
		case errors.Is(err, api.ErrFileChanged):
			return r.fail(res, start, attempt, rec, "the file changed while it was being uploaded")
		default:
			// Opening or reading the file failed: not worth retrying.
			return r.fail(res, start, attempt, rec, unwrapPathError(err))
		}
		if attempt > r.o.Retry.Retries {
			return r.fail(res, start, attempt, rec, fmt.Sprintf("%s (after %d attempts)", err.Error(), attempt))
		}
		if err := r.clock.Sleep(ctx, r.o.Retry.Delay(attempt, retryAfter)); err != nil {
			return r.abandon(res, start, attempt)
		}
	}
}

// wait holds a request back for the pool's pause and the rate limit.
func (r *runner) wait(ctx context.Context) error {
	if err := r.gate.Wait(ctx); err != nil {
		return err
	}
	if r.limiter != nil {
		return r.limiter.Wait(ctx)
	}
	return nil
}

// lookup asks the service for the document with this external id.
func (r *runner) lookup(ctx context.Context, extID string) (*api.File, error) {
	var found *api.File
	err := r.o.Client.ListFiles(ctx, api.ListQuery{WorkspaceID: r.o.WorkspaceID, ExternalID: extID, PageSize: 10},
		func(files []api.File) error {
			for i := range files {
				if em := files[i].ExternalMetadata; em != nil && em.ExternalID == extID {
					found = &files[i]
					return errStopList
				}
			}
			return nil
		})
	if errors.Is(err, errStopList) {
		err = nil
	}
	if ae, ok := api.AsError(err); ok && ae.IsAuth() {
		return nil, fmt.Errorf("%w (%s)", ErrAuth, ae.Error())
	}
	return found, err
}

var errStopList = errors.New("found")

func (r *runner) skip(res Result, start time.Time, attempts int, rec state.Record, reason string) error {
	res.Outcome, res.Reason, res.Attempts = Skipped, reason, attempts
	res.Duration = r.clock.Now().Sub(start)
	r.finish(res)
	return r.aborted(rec)
}

func (r *runner) fail(res Result, start time.Time, attempts int, rec state.Record, reason string) error {
	res.Outcome, res.Reason, res.Attempts = Failed, reason, attempts
	res.Duration = r.clock.Now().Sub(start)
	r.finish(res)
	return r.aborted(rec)
}

// aborted records that a started upload created nothing, when that is
// known: the service answered with a refusal.
func (r *runner) aborted(rec state.Record) error {
	if r.o.State == nil || rec.Path == "" {
		return nil
	}
	rec.At = r.clock.Now().UTC()
	return r.o.State.RecordAborted(rec)
}

// abandon ends an upload cut short by cancellation. Its outcome is unknown;
// the "started" record (when there is a state file) lets the next run
// reconcile it. It is not counted as a failure.
func (r *runner) abandon(res Result, start time.Time, attempts int) error {
	res.Outcome, res.Reason, res.Attempts = Failed, "interrupted before the service answered", attempts
	res.Duration = r.clock.Now().Sub(start)
	r.mu.Lock()
	r.sum.Failed++
	r.sum.Failures = append(r.sum.Failures, res)
	r.sum.Found++
	r.mu.Unlock()
	r.prog.Done(res)
	return nil
}

// SortedSkipReasons returns the skip reasons by decreasing count.
func (s *Summary) SortedSkipReasons() []string {
	keys := make([]string, 0, len(s.SkippedBy))
	for k := range s.SkippedBy {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if s.SkippedBy[a] != s.SkippedBy[b] {
			return s.SkippedBy[b] - s.SkippedBy[a]
		}
		if a < b {
			return -1
		}
		return 1
	})
	return keys
}
