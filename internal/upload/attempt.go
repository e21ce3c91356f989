package upload

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path"
	"time"

	"github.com/paradigm-upload/paradigm-upload/internal/api"
	"github.com/paradigm-upload/paradigm-upload/internal/scan"
	"github.com/paradigm-upload/paradigm-upload/internal/state"
)

// One file's attempt: reconcile what an earlier run left unconfirmed, journal
// the start, send with retries, classify the answer, journal the end.

// attempt is one file on its way to the service.
type attempt struct {
	r     *runner
	e     scan.Entry
	res   Result
	rec   state.Record // the journal's record of this upload
	extID string
	start time.Time
	// unknown is set once a request may have reached the service without
	// an answer: the outcome is then not known to be a refusal.
	unknown bool
}

// attempt uploads one file with retries. It returns an error only for what
// must stop the whole run.
func (r *runner) attempt(ctx context.Context, e scan.Entry) error {
	if r.halted() || ctx.Err() != nil {
		// The run stopped while this file waited for a worker.
		r.finish(Result{Rel: e.Rel, Size: e.Size, Outcome: NotAttempted})
		return nil
	}
	a := &attempt{r: r, e: e, start: r.clock.Now(), res: Result{Rel: e.Rel, Size: e.Size}}
	if r.o.Checksum && a.e.SHA256 == "" {
		sum, err := fileSHA256(e.Path)
		if err != nil {
			return a.end(Failed, "cannot be read: "+unwrapPathError(err), 0)
		}
		a.e.SHA256 = sum
	}
	switch {
	case r.o.NoExternalID:
	case r.o.Checksum:
		a.extID = ContentExternalID(e.Rel, a.e.SHA256)
	default:
		a.extID = ExternalID(e.Rel, e.Size, e.ModTime)
	}
	a.rec = state.Record{Path: e.Rel, Size: e.Size, ModTime: e.ModTime, ExternalID: a.extID, SHA256: a.e.SHA256}
	changed := false
	if r.o.State != nil {
		_, changed = r.o.State.Done(e.Rel)
	}
	outcome := Uploaded
	if changed {
		outcome = Changed
	}
	if done, err := a.confirmEarlier(ctx, outcome); done || err != nil {
		return err
	}
	if r.o.State != nil {
		rec := a.rec
		rec.At = r.clock.Now().UTC()
		if err := r.o.State.RecordStarted(rec); err != nil {
			return err
		}
	}
	return a.send(ctx, outcome)
}

// confirmEarlier asks the service about an upload that an earlier run
// started but never saw answered, before sending it again. It reports
// whether the service had it (and the file is then finished).
func (a *attempt) confirmEarlier(ctx context.Context, outcome Outcome) (bool, error) {
	st := a.r.o.State
	if st == nil || a.extID == "" {
		return false, nil
	}
	if started, ok := st.Started(a.e.Rel); !ok || started.ExternalID != a.extID {
		return false, nil
	}
	f, err := a.r.lookup(ctx, a.extID)
	switch {
	case errors.Is(err, ErrAuth):
		return true, err
	case err != nil || f == nil:
		return false, nil
	}
	a.res.Reason = "confirmed by the service after an interrupted run"
	return true, a.uploaded(f, http.StatusOK, 0, outcome)
}

// send uploads the file, retrying transient failures.
func (a *attempt) send(ctx context.Context, outcome Outcome) error {
	r := a.r
	req := api.UploadRequest{
		Path: a.e.Path, Filename: path.Base(a.e.Rel), Size: a.e.Size, WorkspaceID: r.o.WorkspaceID,
		Tags: r.o.Tags, Parser: r.o.Parser, Sent: r.prog.Sent,
	}
	if a.extID != "" {
		req.External = &api.ExternalMetadata{
			ExternalID:         a.extID,
			AdditionalMetadata: map[string]any{"path": a.e.Rel, "uploaded_by": "paradigm-upload"},
		}
	}
	retries := 0
	for n := 1; ; n++ {
		if n > 1 && a.unknown && a.extID != "" {
			// Ask before sending again: the lost answer may have been a success.
			if f, err := r.lookup(ctx, a.extID); err == nil && f != nil {
				return a.uploaded(f, http.StatusOK, n-1, outcome)
			} else if errors.Is(err, ErrAuth) {
				return err
			}
		}
		if err := r.pacer.Wait(ctx); err != nil {
			return a.end(Interrupted, "", n-1)
		}
		out, err := r.o.Service.Upload(ctx, req)
		if err == nil {
			if out.StatusCode == http.StatusOK && !a.unknown {
				// The service knew the external id: it answered with the
				// document it had, and stored nothing new. (After an
				// attempt of this run whose answer was lost, that document
				// is this run's upload.)
				return a.uploaded(&out.File, out.StatusCode, n, Present)
			}
			return a.uploaded(&out.File, out.StatusCode, n, outcome)
		}
		if ctx.Err() != nil {
			return a.end(Interrupted, "", n)
		}
		v := classify(err)
		switch v.kind {
		case verdictStop:
			return v.err
		case verdictSkip:
			return a.end(Skipped, v.reason, n)
		case verdictFail:
			return a.end(Failed, v.reason, n)
		}
		a.unknown = a.unknown || v.unknown
		if v.throttled {
			// Slow the whole pool, not just this worker: the next Wait holds
			// every request until the service's Retry-After has passed.
			r.pacer.Throttled(n, v.retryAfter)
		}
		retries++
		if retries > r.pacer.Policy().Retries {
			return a.end(Failed, fmt.Sprintf("%s (after %d attempts)", err.Error(), n), n)
		}
		if !v.throttled {
			if err := r.pacer.Backoff(ctx, retries, v.retryAfter); err != nil {
				return a.end(Interrupted, "", n)
			}
		}
	}
}

type verdictKind uint8

const (
	verdictRetry verdictKind = iota
	verdictSkip
	verdictFail
	verdictStop
)

// verdict is what to do after a failed request.
type verdict struct {
	kind       verdictKind
	reason     string // skip or fail
	err        error  // stop
	throttled  bool   // the service said it is overloaded (429)
	unknown    bool   // the request may have reached the service
	retryAfter time.Duration
}

// classify reads a failed upload's error.
func classify(err error) verdict {
	var ae *api.Error
	var te *api.TransportError
	var re *api.RedirectError
	var ans *api.AnswerError
	switch {
	case errors.As(err, &re):
		return verdict{kind: verdictStop, err: fmt.Errorf("%w: %s", ErrSetup, re.Error())}
	case errors.As(err, &ans):
		// A success status with an answer that names no document: the
		// service may have stored it; ask before sending again.
		return verdict{unknown: true}
	case errors.As(err, &ae):
		switch {
		case ae.IsAuth():
			return verdict{kind: verdictStop, err: fmt.Errorf("%w (%s): check --api-key or PARADIGM_API_KEY", ErrAuth, ae.Error())}
		case ae.IsTooLarge():
			return verdict{kind: verdictSkip, reason: "refused by the service as too large"}
		case ae.IsUnsupportedType():
			return verdict{kind: verdictSkip, reason: "refused by the service as an unsupported type"}
		case !ae.IsTransient():
			return verdict{kind: verdictFail, reason: ae.Error()}
		}
		return verdict{throttled: ae.StatusCode == http.StatusTooManyRequests, retryAfter: ae.RetryAfter}
	case api.IsCertificateError(err):
		return verdict{kind: verdictStop, err: fmt.Errorf("%w (%s): if the instance uses a private certificate authority, pass --ca-cert", ErrTLS, err.Error())}
	case errors.As(err, &te):
		return verdict{unknown: te.Sent}
	case errors.Is(err, api.ErrFileChanged):
		return verdict{kind: verdictFail, reason: "the file changed while it was being uploaded"}
	default:
		// Opening or reading the file failed: not worth retrying.
		return verdict{kind: verdictFail, reason: unwrapPathError(err)}
	}
}

// uploaded finishes a file the service confirmed.
func (a *attempt) uploaded(f *api.File, status, attempts int, outcome Outcome) error {
	r := a.r
	a.res.Outcome, a.res.Attempts = outcome, attempts
	a.res.Duration = r.clock.Now().Sub(a.start)
	a.res.DocumentID, a.res.UploadSessionUUID = f.ID, f.UploadSessionUUID
	if status == http.StatusMultiStatus {
		a.res.Warning = "uploaded, but the tags were not applied"
	}
	var err error
	if r.o.State != nil {
		rec := a.rec
		rec.DocumentID, rec.UploadSessionUUID, rec.At = f.ID, f.UploadSessionUUID, r.clock.Now().UTC()
		err = r.o.State.RecordDone(rec)
	}
	r.finish(a.res)
	return err
}

// end finishes a file that was not uploaded. A refusal by the service is
// journalled as such, so the next run does not ask about it; an
// interruption is not, so the next run does.
func (a *attempt) end(o Outcome, reason string, attempts int) error {
	r := a.r
	if o == Interrupted {
		reason = "interrupted before the service answered"
	}
	a.res.Outcome, a.res.Reason, a.res.Attempts = o, reason, attempts
	a.res.Duration = r.clock.Now().Sub(a.start)
	r.finish(a.res)
	if o == Interrupted || a.unknown || r.o.State == nil || attempts == 0 {
		return nil
	}
	rec := a.rec
	rec.At = r.clock.Now().UTC()
	return r.o.State.RecordAborted(rec)
}
