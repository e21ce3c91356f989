package upload

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"path"
	"time"

	"github.com/paradigm-upload/paradigm-upload/internal/api"
	"github.com/paradigm-upload/paradigm-upload/internal/pace"
	"github.com/paradigm-upload/paradigm-upload/internal/state"
)

// One file's attempt: decide from its content when that is needed, journal
// the start, send with retries, classify the answer, journal the end.

// attempt is one file on its way to the service.
type attempt struct {
	r     *runner
	j     job
	res   Result
	extID string
	start time.Time
	sha   string // the local content's hash, once computed
	// unknown is set once a request may have reached the service without
	// an answer: the outcome is then not known to be a refusal.
	unknown bool
	// tagsRefused is set when the service stored the file without its tags
	// (207): they are recorded as not applied, so the next run applies them.
	tagsRefused bool
	// confirming is set while a file an earlier run left unconfirmed is
	// checked against the document the service has for it.
	confirming bool
	// sends counts the sends of this attempt: a new document, then perhaps
	// the replacement of one the service had, or a new one for one it no
	// longer has — a service that keeps contradicting itself is not
	// followed for ever.
	sends int
	// finished is set once the file has its outcome.
	finished bool
}

// attempt handles one file. It returns an error only for what must stop
// the whole run.
func (r *runner) attempt(ctx context.Context, j job) error {
	if r.halted() || ctx.Err() != nil {
		// The run stopped while this file waited for a worker.
		r.finish(Result{Rel: j.e.Key, Size: j.e.Size, Outcome: NotAttempted})
		return nil
	}
	a := &attempt{r: r, j: j, start: r.clock.Now(), res: Result{Rel: j.e.Key, Size: j.e.Size, DocumentID: j.known.docID}}
	if !r.o.NoExternalID {
		a.extID = ExternalID(r.o.Source, j.e.Key)
	}
	err := a.run(ctx)
	if err != nil && !a.finished {
		// The run stopped during the attempt (its start could not be
		// journalled, the key was refused): the file still ends once.
		res := Result{Rel: j.e.Key, Size: j.e.Size, Outcome: NotAttempted}
		if a.unknown {
			// A request may have reached the service: the journal's
			// "started" record makes the next run ask.
			res.Outcome, res.Reason = Interrupted, "the run stopped before the service answered"
		}
		r.finish(res)
	}
	return err
}

// run takes the file to its outcome.
func (a *attempt) run(ctx context.Context) error {
	r, j := a.r, a.j
	switch j.kind {
	case jobAsk:
		return a.ask(ctx)
	case jobCheck:
		return a.check(ctx, j.known)
	case jobUpdate:
		if r.o.DryRun {
			return a.end(WouldUpdate, "", 0)
		}
		return a.update(ctx, j.known, j.known.sha)
	case jobReplace:
		return a.send(ctx, j.known.docID, j.known)
	}
	return a.send(ctx, 0, known{})
}

// localSHA hashes the file, once.
func (a *attempt) localSHA() (string, error) {
	if a.sha == "" {
		sum, err := fileSHA256(a.j.e.Path)
		if err != nil {
			return "", err
		}
		a.sha = sum
	}
	return a.sha, nil
}

// check compares the file with the document by content: the same content
// is recorded (new time) or has its metadata updated; other content
// replaces the document's.
func (a *attempt) check(ctx context.Context, k known) error {
	sum, err := a.localSHA()
	if err != nil {
		return a.unreadable(err)
	}
	r := a.r
	switch {
	case k.sha == "" || !state.SameContent(sum, k.sha):
		if r.o.DryRun {
			return a.end(WouldReplace, "", 0)
		}
		return a.send(ctx, k.docID, k)
	case k.tags != r.tags || k.extID != a.extID:
		if r.o.DryRun {
			return a.end(WouldUpdate, "", 0)
		}
		return a.update(ctx, k, sum)
	}
	o := Unchanged
	if a.confirming {
		o = Present // the earlier run's upload, whose answer was lost
	}
	if r.o.DryRun {
		return a.end(o, "", 0)
	}
	// Same content: nothing to send; the new time is recorded.
	a.res.UploadSessionUUID = k.session
	return a.record(o, k.docID, k.session, a.j.e.Size, a.j.e.ModTime, sum, 0)
}

// ask settles a file an earlier run left unconfirmed: the service says
// whether it has a document for it, and which content.
func (a *attempt) ask(ctx context.Context) error {
	if a.r.o.DryRun || a.extID == "" {
		if a.j.known.docID != 0 {
			return a.check(ctx, a.j.known)
		}
		return a.send(ctx, 0, known{})
	}
	f, err := a.r.lookup(ctx, a.extID)
	switch {
	case errors.Is(err, ErrAuth) || errors.Is(err, pace.ErrBudget):
		return a.stopped(err, 0)
	case err != nil:
		// The service could not say: the upload (or its replacement)
		// asks again if its answer is lost.
		return a.send(ctx, a.j.known.docID, a.j.known)
	case f == nil:
		return a.send(ctx, 0, known{})
	}
	a.res.Reason = "confirmed with the service after an interrupted run"
	a.confirming = true
	return a.check(ctx, knownFromFile(f))
}

// update brings a document's metadata up to date without sending the file:
// the tags this tool applies, and the identity and version it carries.
func (a *attempt) update(ctx context.Context, k known, sum string) error {
	r := a.r
	u := api.FileUpdate{External: externalMetadata(r.o.Source, a.j.e.Key, a.j.e.Size, a.j.e.ModTime, r.tags)}
	u.External.AdditionalMetadata[metaSHA256] = sum
	if k.tags != r.tags {
		var f *api.File
		switch over, err := a.call(ctx, func() (err error) { f, err = r.o.Service.GetFile(ctx, k.docID); return err }); {
		case errors.Is(over, errGone):
			return a.send(ctx, 0, known{})
		case over != nil:
			return err
		}
		tags := retag(f.Tags, k.tags, r.tags)
		u.Tags = &tags
	}
	if err := a.journalStart(sum); err != nil {
		return err
	}
	var f *api.File
	switch over, err := a.call(ctx, func() (err error) { f, err = r.o.Service.UpdateFile(ctx, k.docID, u); return err }); {
	case errors.Is(over, errGone):
		return a.send(ctx, 0, known{})
	case over != nil:
		return err
	}
	return a.record(Updated, f.ID, f.UploadSessionUUID, a.j.e.Size, a.j.e.ModTime, sum, 1)
}

// errGone and errOver say why call stopped: the service does not have the
// document (404), or the attempt ended (its result is call's second value).
var (
	errGone = errors.New("the document is gone")
	errOver = errors.New("the attempt is over")
)

// call runs a request about an existing document until it succeeds,
// retrying transient failures. It returns nil, nil on success; errGone when
// the service no longer has the document; errOver and the attempt's result
// when it failed for good.
func (a *attempt) call(ctx context.Context, fn func() error) (over, result error) {
	for n := 1; ; n++ {
		err := fn()
		if err == nil {
			return nil, nil
		}
		if ae, ok := api.AsError(err); ok && ae.IsNotFound() {
			return errGone, nil
		}
		if ctx.Err() != nil {
			return errOver, a.end(Interrupted, "", n)
		}
		if res, stop := a.retry(ctx, err, n); stop {
			return errOver, res
		}
	}
}

// send uploads the file, as a new document (docID 0) or as new content of
// docID, retrying transient failures.
func (a *attempt) send(ctx context.Context, docID int64, k known) error {
	r := a.r
	if a.sends++; a.sends > 3 {
		return a.end(Failed, "the service contradicts itself about this document (it has it, then has it not)", 0)
	}
	if r.o.DryRun {
		if docID != 0 {
			return a.end(WouldReplace, "", 0)
		}
		return a.end(WouldUpload, "", 0)
	}
	req := api.UploadRequest{
		Path: a.j.e.Path, Filename: path.Base(a.j.e.Rel), WorkspaceID: r.o.WorkspaceID,
		Tags: r.o.Tags, Parser: r.o.Parser, Sent: r.prog.Sent, Replace: docID,
	}
	if a.extID != "" {
		// The version travels with the file: its size and time as found
		// when it is opened, its hash as it streams.
		req.External = externalMetadata(r.o.Source, a.j.e.Key, a.j.e.Size, a.j.e.ModTime, r.tags)
		req.HashKey, req.SizeKey, req.MTimeKey = metaSHA256, metaSize, metaMTime
	}
	if docID != 0 && k.tags != r.tags {
		var f *api.File
		switch over, err := a.call(ctx, func() (err error) { f, err = r.o.Service.GetFile(ctx, docID); return err }); {
		case errors.Is(over, errGone):
			docID, req.Replace = 0, 0
		case over != nil:
			return err
		default:
			req.Tags, req.SetTags = retag(f.Tags, k.tags, r.tags), true
		}
	}
	if err := a.journalStart(""); err != nil {
		return err
	}
	changed := 0
	for n := 1; ; n++ {
		if n > 1 && a.unknown && a.extID != "" && docID == 0 {
			// Ask before sending again: the lost answer may have been a
			// success.
			if f, err := r.lookup(ctx, a.extID); err == nil && f != nil {
				return a.confirm(ctx, f, n-1)
			} else if errors.Is(err, ErrAuth) || errors.Is(err, pace.ErrBudget) {
				return a.stopped(err, n-1)
			}
		}
		if ctx.Err() != nil {
			return a.end(Interrupted, "", n-1)
		}
		out, err := r.o.Service.Upload(ctx, req)
		if err == nil {
			return a.sent(ctx, out, docID, n)
		}
		if ctx.Err() != nil {
			return a.end(Interrupted, "", n)
		}
		if ae, ok := api.AsError(err); ok && ae.IsNotFound() && docID != 0 {
			// The document was deleted meanwhile: a new one.
			return a.send(ctx, 0, known{})
		}
		if errors.Is(err, api.ErrFileChanged) {
			// Written to while it was read: the request was cut before
			// its end, nothing stored. The next attempt reads it afresh.
			changed++
			if changed > r.pacer.Policy().Retries {
				return a.end(Failed, "the file kept changing while it was being uploaded", n)
			}
			a.sha = ""
			continue
		}
		if v, stop := a.retry(ctx, err, n); stop {
			return v
		}
	}
}

// sent settles a successful upload or replacement.
func (a *attempt) sent(ctx context.Context, out *api.UploadResult, docID int64, n int) error {
	a.j.e.Size, a.j.e.ModTime, a.sha = out.Size, out.ModTime, out.SHA256
	if out.StatusCode == http.StatusMultiStatus {
		a.res.Warning = "uploaded, but the tags were not applied"
		a.tagsRefused = true
	}
	switch {
	case docID != 0:
		return a.record(Replaced, out.File.ID, out.File.UploadSessionUUID, out.Size, out.ModTime, out.SHA256, n)
	case out.StatusCode == http.StatusOK && a.extID != "":
		// The service had a document of this identity: it answered with it
		// and dropped the bytes sent — whether that document is this run's
		// own upload (an answer lost before) or an older one, its content
		// decides: the same, nothing to do; another, it is replaced.
		k := knownFromFile(&out.File)
		switch {
		case k.sha == "" || !state.SameContent(k.sha, out.SHA256):
			return a.send(ctx, out.File.ID, k)
		case k.tags != a.r.tags:
			return a.update(ctx, k, out.SHA256)
		case a.unknown:
			return a.record(Uploaded, out.File.ID, out.File.UploadSessionUUID, out.Size, out.ModTime, out.SHA256, n)
		}
		return a.record(Present, out.File.ID, out.File.UploadSessionUUID, out.Size, out.ModTime, out.SHA256, n)
	case out.StatusCode == http.StatusOK && !a.unknown:
		return a.record(Present, out.File.ID, out.File.UploadSessionUUID, out.Size, out.ModTime, out.SHA256, n)
	}
	// (After an attempt of this run whose answer was lost, a 200 is this
	// run's own upload.)
	return a.record(Uploaded, out.File.ID, out.File.UploadSessionUUID, out.Size, out.ModTime, out.SHA256, n)
}

// confirm settles an upload whose answer was lost but that the service has:
// if it holds this content, it is this upload; otherwise it is replaced.
func (a *attempt) confirm(ctx context.Context, f *api.File, n int) error {
	k := knownFromFile(f)
	sum, err := a.localSHA()
	if err != nil {
		return a.unreadable(err)
	}
	if k.sha != "" && !state.SameContent(sum, k.sha) {
		return a.send(ctx, f.ID, k)
	}
	return a.record(Uploaded, f.ID, f.UploadSessionUUID, a.j.e.Size, a.j.e.ModTime, sum, n)
}

// retry classifies a failure: it returns stop=true with the attempt's
// result when it is over, and otherwise waits before the next try.
func (a *attempt) retry(ctx context.Context, err error, n int) (error, bool) {
	r := a.r
	v := classify(err)
	switch v.kind {
	case verdictStop:
		return a.stopped(v.err, n), true
	case verdictSkip:
		return a.end(Skipped, v.reason, n), true
	case verdictFail:
		return a.end(Failed, v.reason, n), true
	}
	a.unknown = a.unknown || v.unknown
	if r.pacer.Outage() {
		// The service is down as a whole: this failure is the outage's,
		// not the file's. The pacer holds the next request until the
		// service answers again (or the outage budget ends the run).
		return nil, false
	}
	retries := n
	if retries > r.pacer.Policy().Retries {
		return a.end(Failed, fmt.Sprintf("%s (after %d attempt%s)", err.Error(), n, plural(n)), n), true
	}
	if err := r.pacer.Backoff(ctx, retries, v.retryAfter); err != nil {
		return a.end(Interrupted, "", n), true
	}
	return nil, false
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
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
	unknown    bool   // the request may have reached the service
	retryAfter time.Duration
}

// asError returns what ends the run for a verdict that stops it, err
// otherwise.
func (v verdict) asError(err error) error {
	if v.kind == verdictStop {
		return v.err
	}
	return err
}

// classify reads a failed request's error.
func classify(err error) verdict {
	var ae *api.Error
	var te *api.TransportError
	var re *api.RedirectError
	var ans *api.AnswerError
	switch {
	case errors.Is(err, pace.ErrBudget):
		return verdict{kind: verdictStop, err: err}
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
		return verdict{retryAfter: ae.RetryAfter}
	case isPlainHTTP(err):
		return verdict{kind: verdictStop, err: fmt.Errorf("%w: the server answers in plain http, not https; use an http:// --base-url (and --allow-http beyond this machine)", ErrSetup)}
	case api.IsCertificateError(err):
		return verdict{kind: verdictStop, err: fmt.Errorf("%w (%s): if the instance uses a private certificate authority, pass --ca-cert", ErrTLS, err.Error())}
	case errors.As(err, &te):
		return verdict{unknown: te.Sent}
	case errors.Is(err, api.ErrNotRegular):
		return verdict{kind: verdictSkip, reason: api.ErrNotRegular.Error()}
	default:
		// Opening or reading the file failed: not worth retrying.
		return verdict{kind: verdictFail, reason: unwrapPathError(err)}
	}
}

// isPlainHTTP reports a TLS handshake answered by a plain http server.
func isPlainHTTP(err error) bool {
	var rh tls.RecordHeaderError
	return errors.As(err, &rh)
}

// stopped ends a file whose request stopped the run (a rejected key, a
// spent budget, a redirect): not attempted as far as this run goes, or
// interrupted when a request of it may have reached the service; the error
// is the run's.
func (a *attempt) stopped(err error, attempts int) error {
	if a.unknown {
		// A request of it may have reached the service: the next run
		// asks before sending it again.
		_ = a.end(Interrupted, "the run stopped: "+err.Error(), attempts)
		return err
	}
	_ = a.end(NotAttempted, "the run stopped: "+err.Error(), attempts)
	return err
}

// unreadable ends a file that could not be read to be compared.
func (a *attempt) unreadable(err error) error {
	if errors.Is(err, api.ErrNotRegular) {
		return a.end(Skipped, api.ErrNotRegular.Error(), 0)
	}
	return a.end(Failed, "cannot be read: "+unwrapPathError(err), 0)
}

// journalStart records, before a request that may change the document,
// that the outcome is not yet known: a run that dies before the answer
// leaves the next one asking the service.
func (a *attempt) journalStart(sum string) error {
	st := a.r.o.State
	if st == nil {
		return nil
	}
	return st.RecordStarted(state.Record{Path: a.j.e.Key, Size: a.j.e.Size, ModTime: a.j.e.ModTime,
		ExternalID: a.extID, SHA256: sum, At: a.r.clock.Now().UTC()})
}

// record finishes a file whose document the service holds as the file is.
func (a *attempt) record(o Outcome, docID int64, session string, size int64, mtime time.Time, sum string, attempts int) error {
	r := a.r
	a.res.Outcome, a.res.Attempts, a.res.Size = o, attempts, size
	a.res.Duration = r.clock.Now().Sub(a.start)
	a.res.DocumentID, a.res.UploadSessionUUID = docID, session
	a.finished = true
	var err error
	if r.o.State != nil {
		tags := r.tags
		if a.tagsRefused {
			tags = ""
		}
		err = r.o.State.RecordDone(state.Record{Path: a.j.e.Key, Size: size, ModTime: mtime, ExternalID: a.extID,
			SHA256: sum, DocumentID: docID, UploadSessionUUID: session, Tags: tags, At: r.clock.Now().UTC()})
	}
	r.finish(a.res)
	return err
}

// end finishes a file that was not uploaded. A refusal by the service is
// journalled as such, so the next run does not ask about it; an
// interruption or an unknown outcome is not, so the next run does.
func (a *attempt) end(o Outcome, reason string, attempts int) error {
	r := a.r
	if o == Interrupted {
		reason = "interrupted before the service answered"
	}
	a.res.Outcome, a.res.Reason, a.res.Attempts = o, reason, attempts
	a.res.Duration = r.clock.Now().Sub(a.start)
	a.finished = true
	r.finish(a.res)
	if o == Interrupted || a.unknown || r.o.State == nil || attempts == 0 {
		return nil
	}
	return r.o.State.RecordAborted(state.Record{Path: a.j.e.Key, Size: a.j.e.Size, ModTime: a.j.e.ModTime,
		ExternalID: a.extID, At: r.clock.Now().UTC()})
}
