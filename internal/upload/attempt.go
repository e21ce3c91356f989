package upload

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/paradigm-upload/paradigm-upload/internal/api"
	"github.com/paradigm-upload/paradigm-upload/internal/pace"
	"github.com/paradigm-upload/paradigm-upload/internal/retry"
	"github.com/paradigm-upload/paradigm-upload/internal/state"
)

// One file's attempt: decide from its content when that is needed, journal
// the start, send (the service's decorator retries what failed on the
// way), classify the answer, journal the end.

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
	// attempts counts the requests that sent the file.
	attempts int
	// keptMetadata is set once the service answered an upload of it with
	// the identity sent.
	keptMetadata bool
	// applied is the tags this tool applies to the document, as
	// recorded (see runner.wantTags).
	applied string
	// replacing is the document a new upload replaces, where content
	// cannot be replaced in place (replaceByUpload); carryTags the tags
	// it takes over.
	replacing int64
	carryTags *[]int64
}

// attempt handles one file. It returns an error only for what must stop
// the whole run.
func (r *runner) attempt(ctx context.Context, j job) error {
	if r.halted() || ctx.Err() != nil {
		// The run stopped while this file waited for a worker.
		r.finish(Result{Rel: j.e.Key, Size: j.e.Size, Outcome: NotAttempted})
		return nil
	}
	a := &attempt{r: r, j: j, start: r.clock.Now(), res: Result{Rel: j.e.Key, Size: j.e.Size, DocumentID: j.known.docID},
		applied: r.tags}
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
	case jobPick:
		k, err := a.pickKnown(append([]known{j.known}, j.known.others...))
		if err != nil {
			return a.end(Failed, err.Error(), 0)
		}
		return a.check(ctx, k)
	case jobMove:
		return a.move(ctx, j.from)
	case jobAdopt:
		return a.adopt(ctx, j.adopt)
	}
	return a.send(ctx, 0, known{})
}

// move takes over, for the file, the document of this source whose file is
// gone and that holds its content (resolve.go): one PATCH of its identity,
// path and version, and of its title when that was the old file's name.
// It keeps its id, tags and classifications; nothing is sent again.
func (a *attempt) move(ctx context.Context, d doomed) error {
	r := a.r
	a.res.From, a.res.DocumentID = d.key, d.docID
	if r.o.DryRun {
		return a.end(WouldMove, "", 0)
	}
	sum, err := a.localSHA()
	if err != nil {
		return a.unreadable(err)
	}
	title, tags := d.title, d.tags
	if !d.listed {
		f, err := r.o.Service.GetFile(ctx, d.docID)
		switch {
		case isNotFound(err):
			return a.send(ctx, 0, known{})
		case err != nil:
			return a.failed(ctx, err, "")
		case !api.InWorkspace(f, r.o.WorkspaceID) || f.ExternalMetadata == nil || f.ExternalMetadata.ExternalID != d.ext:
			r.note(fmt.Sprintf("%s: its document %d changed identity meanwhile: not moved, the file is uploaded", a.j.e.Key, d.docID))
			return a.send(ctx, 0, known{})
		}
		title, tags = f.Title, f.Tags
	}
	a.applied = r.wantTags(known{tags: d.applied})
	u := api.FileUpdate{External: externalMetadata(r.o.Source, a.j.e.Key, a.j.e.Size, a.j.e.ModTime, a.applied)}
	u.External.AdditionalMetadata[metaSHA256] = sum
	if title == stem(d.key) {
		// The default title, the old file's name: it follows.
		t := stem(a.j.e.Key)
		u.Title = &t
	}
	if d.applied != a.applied {
		t := retag(tags, d.applied, a.applied)
		u.Tags = &t
	}
	if err := a.journalStart(sum); err != nil {
		return err
	}
	f, err := r.o.Service.UpdateFile(ctx, d.docID, u)
	a.attempts++ // (a refusal is journalled as such: the next run moves it again)
	switch {
	case isNotFound(err):
		return a.send(ctx, 0, known{})
	case err != nil:
		return a.failed(ctx, err, "")
	}
	if r.journal != nil {
		if err := r.recorded.Forget(d.key); err != nil {
			return err
		}
	}
	return a.record(Moved, f.ID, f.UploadSessionUUID, a.j.e.Size, a.j.e.ModTime, sum, 1)
}

// stem is a key's file name without its extension: the title the service
// gives a document by default.
func stem(key string) string {
	base := path.Base(key)
	return strings.TrimSuffix(base, path.Ext(base))
}

// adopt takes over, for the file, a document uploaded without identity
// (by batch_upload_v3.py, the web interface) of its name and size, or
// content: one PATCH writes its identity and version (and the tags of
// --tags); nothing is sent again. The document is asked for first: only
// one still without identity, in this workspace, is taken.
func (a *attempt) adopt(ctx context.Context, u *unownedDoc) error {
	r := a.r
	a.res.DocumentID = u.id
	if r.o.DryRun {
		return a.end(WouldAdopt, "", 0)
	}
	f, err := r.o.Service.GetFile(ctx, u.id)
	switch {
	case isNotFound(err):
		return a.send(ctx, 0, known{})
	case err != nil:
		return a.failed(ctx, err, "")
	case !api.InWorkspace(f, r.o.WorkspaceID) || f.ExternalMetadata != nil && f.ExternalMetadata.ExternalID != "":
		r.note(fmt.Sprintf("%s: document %d took an identity meanwhile: not adopted, the file is uploaded", a.j.e.Key, u.id))
		return a.send(ctx, 0, known{})
	}
	sum, err := a.localSHA()
	if err != nil {
		return a.unreadable(err)
	}
	a.applied = r.tags
	fu := api.FileUpdate{External: externalMetadata(r.o.Source, a.j.e.Key, a.j.e.Size, a.j.e.ModTime, a.applied)}
	fu.External.AdditionalMetadata[metaSHA256] = sum
	if a.applied != "" {
		t := retag(f.Tags, "", a.applied)
		fu.Tags = &t
	}
	if err := a.journalStart(sum); err != nil {
		return err
	}
	if u.sha != "" && !state.SameContent(u.sha, sum) {
		// The service holds other content (the file edited since, at the
		// same length): the version says so, and the file replaces it.
		fu.External.AdditionalMetadata[metaSHA256] = u.sha
	}
	g, err := r.o.Service.UpdateFile(ctx, u.id, fu)
	a.attempts++ // (a refusal is journalled as such)
	switch {
	case isNotFound(err):
		return a.send(ctx, 0, known{})
	case err != nil:
		// Only a listing finds the document again: the next run lists.
		r.relist.Store(true)
		return a.failed(ctx, err, "")
	}
	if u.sha != "" && !state.SameContent(u.sha, sum) {
		a.res.Reason = "adopted (uploaded before this tool), its content replaced: the file differs"
		return a.send(ctx, g.ID, knownFromFile(g))
	}
	return a.record(Adopted, g.ID, g.UploadSessionUUID, a.j.e.Size, a.j.e.ModTime, sum, 1)
}

// pickKnown chooses, among documents that carry the file's identity, its
// own: the one the state file records, else the only one with the file's
// content. Otherwise it never guesses (an error names them); the others are
// named in a note, and left alone.
func (a *attempt) pickKnown(cands []known) (known, error) {
	files := make([]api.File, len(cands))
	for i, c := range cands {
		files[i] = api.File{ID: c.docID, ExternalMetadata: &api.ExternalMetadata{AdditionalMetadata: map[string]any{metaSHA256: c.sha}}}
	}
	docID := int64(0)
	if e, ok := a.r.recordedDone(a.j.e.Key); ok {
		docID = e.DocumentID
	}
	f, err := a.pick(files, docID)
	if err != nil {
		return known{}, err
	}
	for _, c := range cands {
		if c.docID == f.ID {
			c.others = nil
			return c, nil
		}
	}
	return known{}, errors.New("no document chosen")
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
	a.applied = r.wantTags(k)
	switch {
	case k.sha == "" || !state.SameContent(sum, k.sha):
		if r.o.DryRun {
			return a.end(WouldReplace, "", 0)
		}
		return a.send(ctx, k.docID, k)
	case k.tags != r.wantTags(k) || k.extID != a.extID:
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
// whether it has a document for it, and which content. A dry run asks too
// (a read), and says what the real run would do.
func (a *attempt) ask(ctx context.Context) error {
	if a.extID == "" {
		if a.j.known.docID != 0 {
			return a.check(ctx, a.j.known)
		}
		return a.send(ctx, 0, known{})
	}
	files, err := a.r.lookup(ctx, a.extID)
	if errors.Is(err, ErrAuth) {
		return a.stopped(err, 0)
	}
	if err != nil {
		// The service could not say whether the earlier upload reached
		// it: sending it again could store it twice. The next run asks.
		a.unknown = true
		return a.failed(ctx, err, "the service could not be asked about an earlier run's upload of it (%v); the next run asks again")
	}
	f, err := a.pick(files, a.j.known.docID)
	switch {
	case err != nil:
		return a.end(Failed, err.Error(), 0)
	case f == nil:
		return a.send(ctx, 0, known{})
	}
	a.res.Reason = "confirmed with the service after an interrupted run"
	a.confirming = true
	return a.check(ctx, knownFromFile(f))
}

// pick chooses, among the documents that carry the file's identity, the
// one that is its document: the only one; or, when someone else gave its
// identity to another document, the one the state file records (docID),
// else the only one with the file's content. Otherwise it never guesses:
// an error names them all, and none is touched.
func (a *attempt) pick(files []api.File, docID int64) (*api.File, error) {
	switch len(files) {
	case 0:
		return nil, nil
	case 1:
		return &files[0], nil
	}
	if docID != 0 {
		for i := range files {
			if files[i].ID == docID {
				a.r.note(fmt.Sprintf("%s: %s; the one the state file records (%d) was kept", a.j.e.Key, duplicates(files), docID))
				return &files[i], nil
			}
		}
	}
	if sum, err := a.localSHA(); err == nil {
		var same []int
		for i := range files {
			if k := knownFromFile(&files[i]); k.sha != "" && state.SameContent(sum, k.sha) {
				same = append(same, i)
			}
		}
		if len(same) == 1 {
			f := &files[same[0]]
			a.r.note(fmt.Sprintf("%s: %s; the one with the file's content (%d) was kept", a.j.e.Key, duplicates(files), f.ID))
			return f, nil
		}
	}
	return nil, errors.New(duplicates(files) + "; none was touched (remove the wrong one on the service)")
}

// duplicates says which documents carry one identity.
func duplicates(files []api.File) string {
	ids := make([]string, len(files))
	for i, f := range files {
		ids[i] = strconv.FormatInt(f.ID, 10)
	}
	return fmt.Sprintf("%d documents carry this file's identity (ids %s)", len(files), strings.Join(ids, ", "))
}

// update brings a document's metadata up to date without sending the file:
// the tags this tool applies, and the identity and version it carries.
func (a *attempt) update(ctx context.Context, k known, sum string) error {
	r := a.r
	a.applied = r.wantTags(k)
	u := api.FileUpdate{External: externalMetadata(r.o.Source, a.j.e.Key, a.j.e.Size, a.j.e.ModTime, a.applied)}
	u.External.AdditionalMetadata[metaSHA256] = sum
	if k.tags != a.applied {
		f, err := r.o.Service.GetFile(ctx, k.docID)
		switch {
		case isNotFound(err):
			return a.send(ctx, 0, known{})
		case err != nil:
			return a.failed(ctx, err, "")
		}
		tags := retag(f.Tags, k.tags, a.applied)
		u.Tags = &tags
	}
	if err := a.journalStart(sum); err != nil {
		return err
	}
	f, err := r.o.Service.UpdateFile(ctx, k.docID, u)
	a.attempts++
	switch {
	case isNotFound(err):
		return a.send(ctx, 0, known{})
	case err != nil:
		return a.failed(ctx, err, "")
	}
	return a.record(Updated, f.ID, f.UploadSessionUUID, a.j.e.Size, a.j.e.ModTime, sum, 1)
}

func isNotFound(err error) bool {
	ae, ok := api.AsError(err)
	return ok && ae.IsNotFound()
}

// send uploads the file, as a new document (docID 0) or as new content of
// docID. Retrying what failed on the way is the service's decorator's
// (internal/retry); what reaches here is an answer, or the end.
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
	if docID != 0 && r.noReplace.Load() {
		return a.replaceByUpload(ctx, docID, k)
	}
	req := api.UploadRequest{
		Path: a.j.e.Path, Filename: path.Base(a.j.e.Rel), WorkspaceID: r.o.WorkspaceID,
		Tags: r.o.Tags, Parser: r.o.Parser, Sent: r.prog.Sent, Replace: docID,
	}
	if a.carryTags != nil && docID == 0 {
		req.Tags = *a.carryTags
	}
	if a.extID != "" {
		// The version travels with the file: its size and time as found
		// when it is opened, its hash as it streams.
		switch {
		case docID != 0:
			a.applied = r.wantTags(k)
		case a.replacing == 0:
			a.applied = r.tags
		}
		req.External = externalMetadata(r.o.Source, a.j.e.Key, a.j.e.Size, a.j.e.ModTime, a.applied)
		req.HashKey, req.SizeKey, req.MTimeKey = metaSHA256, metaSize, metaMTime
	}
	if docID != 0 && k.tags != a.applied {
		f, err := r.o.Service.GetFile(ctx, docID)
		switch {
		case isNotFound(err):
			docID, req.Replace = 0, 0
		case err != nil:
			return a.failed(ctx, err, "")
		default:
			req.Tags, req.SetTags = retag(f.Tags, k.tags, a.applied), true
		}
	}
	if docID == 0 && a.extID != "" {
		// Until one upload has shown that the instance keeps the external
		// metadata, one goes alone: one document too many, not a pool's
		// worth, when it does not.
		canary, err := r.metadata.enter(ctx)
		if err != nil || r.halted() {
			if canary {
				r.metadata.leave(false, false)
			}
			return a.end(NotAttempted, "", 0)
		}
		if canary {
			defer func() { r.metadata.leave(a.keptMetadata, a.res.Warning == warnNoMetadata) }()
			// It keeps its place in the pool whatever it waits for: the
			// uploads waiting for it hold every other one, and it would not
			// find one back.
			ctx = retry.WithSlot(ctx, nil)
		}
	}
	if err := a.journalStart(""); err != nil {
		return err
	}
	out, err := r.o.Service.Upload(ctx, req)
	if err == nil {
		if docID == 0 && a.extID != "" && carriesIdentity(&out.File, a.extID) {
			a.keptMetadata = true
		}
		return a.sent(ctx, out, docID)
	}
	a.attempts += retry.Attempts(err)
	if isNotFound(err) && docID != 0 {
		// The document was deleted meanwhile: a new one.
		return a.send(ctx, 0, known{})
	}
	if docID != 0 && refusesFile(err) {
		// An instance of the older schema, where file is immutable: the
		// new content goes as a new document.
		if r.noReplace.CompareAndSwap(false, true) {
			r.note("this instance refuses to replace a document's content in place (an older API: PATCH with a file is refused): edited files are uploaded as new documents, which take over the identity, tags and title of the old ones, and the old ones are deleted (their ids change)")
		}
		return a.replaceByUpload(ctx, docID, k)
	}
	return a.failed(ctx, err, "")
}

// tombstone is the identity an old document gives up its own for, while a
// new one replaces it (replaceByUpload): still this tool's, recognisably.
func tombstone(extID string) string { return extID + ":replaced" }

// refusesFile reports the refusal, by an instance of the older schema, of
// a PATCH that carries a file (immutable there: "if provided, will return
// 400").
func refusesFile(err error) bool {
	ae, ok := api.AsError(err)
	if !ok || ae.StatusCode != http.StatusBadRequest || ae.IsTooLarge() || ae.IsUnsupportedType() {
		return false
	}
	if _, ok := ae.Fields["file"]; ok {
		return true
	}
	s := strings.ToLower(ae.Kind + " " + ae.Detail)
	return strings.Contains(s, "file") && (strings.Contains(s, "immutable") || strings.Contains(s, "not allowed") ||
		strings.Contains(s, "cannot be") || strings.Contains(s, "read-only") || strings.Contains(s, "read only"))
}

// replaceByUpload replaces the document oldID, whose content cannot be
// replaced in place, by a new one: the old document gives up its identity
// (a PATCH of its external id, allowed everywhere), the file is uploaded as
// a new document with the identity and the old one's tags, and the old one
// is deleted. If the upload fails, the old document gets its identity
// back: nothing is lost, and the next run tries again.
func (a *attempt) replaceByUpload(ctx context.Context, oldID int64, k known) error {
	r := a.r
	old, err := r.o.Service.GetFile(ctx, oldID)
	switch {
	case isNotFound(err):
		return a.send(ctx, 0, known{})
	case err != nil:
		return a.failed(ctx, err, "")
	}
	tomb := tombstone(a.extID)
	if old.ExternalMetadata == nil || !api.InWorkspace(old, r.o.WorkspaceID) ||
		old.ExternalMetadata.ExternalID != a.extID && old.ExternalMetadata.ExternalID != tomb {
		return a.end(Failed, fmt.Sprintf("document %d no longer carries this file's identity; left alone", oldID), 0)
	}
	// (It may carry its tombstone already: an earlier run that gave it up
	// was stopped before it was replaced; this one finishes it.)
	if _, err := r.o.Service.UpdateFile(ctx, oldID, api.FileUpdate{External: &api.ExternalMetadata{ExternalID: tomb}}); err != nil {
		if isNotFound(err) {
			return a.send(ctx, 0, known{})
		}
		return a.failed(ctx, err, "")
	}
	a.applied = r.wantTags(k)
	tags := retag(old.Tags, k.tags, a.applied)
	a.carryTags, a.replacing = &tags, oldID
	err = a.send(ctx, 0, known{})
	if a.unknown {
		// The new document may have been stored: the old one keeps its
		// tombstone (a document of this tool, found and deleted by the
		// next run once a document carries the identity).
		return err
	}
	// What follows mends what was begun: a stop of the run does not
	// withdraw it.
	ctx = pace.WithoutStop(ctx)
	if !a.finished || a.res.Outcome != Replaced {
		// Not uploaded: the old document takes its identity back.
		if _, rerr := r.o.Service.UpdateFile(ctx, oldID, api.FileUpdate{External: &api.ExternalMetadata{ExternalID: a.extID}}); rerr != nil {
			r.note(fmt.Sprintf("%s: its old document %d could not take its identity back (%v): the next run uploads the file again", a.j.e.Key, oldID, rerr))
		}
		return err
	}
	if derr := r.o.Service.DeleteFile(ctx, oldID); derr != nil && !isNotFound(derr) {
		r.note(fmt.Sprintf("%s: replaced by document %d, but its old document %d could not be deleted (%v)", a.j.e.Key, a.res.DocumentID, oldID, derr))
	} else if derr == nil {
		r.removed.Add(1) // (the checkpoint counts it)
	}
	return err
}

// sent settles a successful upload or replacement.
func (a *attempt) sent(ctx context.Context, out *api.UploadResult, docID int64) error {
	a.attempts += max(out.Attempts, 1)
	n := a.attempts
	a.j.e.Size, a.j.e.ModTime, a.sha = out.Size, out.ModTime, out.SHA256
	if out.StatusCode == http.StatusMultiStatus {
		a.res.Warning = "uploaded, but the tags were not applied"
		a.tagsRefused = true
	}
	if out.Recovered {
		// The answer was lost; the service, asked, has this document for
		// the upload (for a replacement: with the content sent).
		a.unknown = true
		if out.SHA256 == "" {
			sum, err := a.localSHA()
			if err != nil {
				return a.unreadable(err)
			}
			out.SHA256, a.sha = sum, sum
		}
	}
	if docID == 0 && a.extID != "" && !carriesIdentity(&out.File, a.extID) {
		// The instance stored the file but not its identity: every later
		// run would upload it again. Stop before the next upload.
		a.res.Warning = warnNoMetadata
		err := fmt.Errorf("%w: the upload of %s was answered without the external_metadata sent (external id %s): the instance does not keep external metadata, so the tool cannot recognise its documents (no sync, no --delete, no protection against duplicates). Pass --no-external-id to upload anyway: each file is then only uploaded, and a run without the state file uploads every file again",
			ErrNoExternalMetadata, a.j.e.Key, a.extID)
		// The run stops before any upload waiting for this one's answer
		// goes.
		a.r.stop(err)
		if rerr := a.record(Uploaded, out.File.ID, out.File.UploadSessionUUID, out.Size, out.ModTime, out.SHA256, n); rerr != nil {
			return rerr
		}
		return err
	}
	switch {
	case docID != 0:
		return a.record(Replaced, out.File.ID, out.File.UploadSessionUUID, out.Size, out.ModTime, out.SHA256, n)
	case out.Recovered:
		// The document the service holds for the lost upload: this
		// upload, unless it says it holds other content (an older
		// document of this identity), which is then replaced.
		if k := knownFromFile(&out.File); k.sha != "" && !state.SameContent(k.sha, out.SHA256) {
			return a.send(ctx, out.File.ID, k)
		}
		return a.record(Uploaded, out.File.ID, out.File.UploadSessionUUID, out.Size, out.ModTime, out.SHA256, n)
	case out.StatusCode == http.StatusOK && a.extID != "":
		// The service had a document of this identity: it answered with it
		// and dropped the bytes sent — whether that document is this run's
		// own upload (an answer lost before) or an older one, its content
		// decides: the same, nothing to do; another, it is replaced.
		k := knownFromFile(&out.File)
		switch {
		case k.sha == "" || !state.SameContent(k.sha, out.SHA256):
			return a.send(ctx, out.File.ID, k)
		case k.tags != a.r.wantTags(k):
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

// carriesIdentity reports whether a document answered for an upload
// carries the external id sent with it.
func carriesIdentity(f *api.File, extID string) bool {
	return f.ExternalMetadata != nil && f.ExternalMetadata.ExternalID == extID
}

const warnNoMetadata = "stored without its external metadata"

// ErrNoExternalMetadata wraps the stop of a run on an instance that does
// not keep the external metadata sent with an upload.
var ErrNoExternalMetadata = errors.New("the instance does not keep external metadata")

// failed ends a file whose request failed for good (the retrier has
// already tried it as often as it may). format, when set, words the reason
// of an unknown outcome, with the error as its %v.
func (a *attempt) failed(ctx context.Context, err error, format string) error {
	if ctx.Err() != nil {
		return a.end(Interrupted, "", a.attempts)
	}
	if we, ok := errors.AsType[*retry.WithdrawnError](err); ok {
		// The run stopped while the request waited to be sent (again):
		// nothing was done, unless a try sent again may have been, or a
		// lost answer was still being asked about.
		if a.unknown || we.MaybeDone || maybeStored(err) {
			a.unknown = true
			return a.end(Interrupted, "the run stopped before the service answered", a.attempts)
		}
		return a.end(NotAttempted, "", a.attempts)
	}
	v := classify(err)
	if v.unknown || maybeStored(err) {
		a.unknown = true
	}
	switch v.kind {
	case verdictStop:
		return a.stopped(v.err, a.attempts)
	case verdictSkip:
		return a.end(Skipped, v.reason, a.attempts)
	case verdictVanished:
		return a.end(Vanished, v.reason, a.attempts)
	case verdictUnknown:
		if format != "" {
			return a.end(Interrupted, fmt.Sprintf(format, err), a.attempts)
		}
		return a.end(Interrupted, v.reason, a.attempts)
	}
	return a.end(Failed, v.reason, a.attempts)
}

type verdictKind uint8

const (
	verdictFail verdictKind = iota
	verdictSkip
	verdictStop
	// verdictVanished: the file is gone since the scan.
	verdictVanished
	// verdictUnknown: the service may have carried the request out; the
	// next run asks.
	verdictUnknown
)

// verdict is what a failed request means for its file.
type verdict struct {
	kind    verdictKind
	reason  string // skip, fail, unknown
	err     error  // stop
	unknown bool   // the request may have reached the service
}

// asError returns what ends the run for a verdict that stops it, err
// otherwise.
func (v verdict) asError(err error) error {
	if v.kind == verdictStop {
		return v.err
	}
	return err
}

// classify reads the error a request ended with, once the retrier gave up
// on it (or never retried it).
func classify(err error) verdict {
	var ae *api.Error
	var re *api.RedirectError
	var le *api.ListingError
	var unconfirmed *retry.UnconfirmedError
	var ambiguous *retry.AmbiguousError
	var lost *api.LostError
	if ae, ok := api.AsError(err); ok && ae.IsAuth() {
		return verdict{kind: verdictStop, err: fmt.Errorf("%w (%s): check --api-key or PARADIGM_API_KEY", ErrAuth, ae.Error())}
	}
	switch {
	case errors.Is(err, pace.ErrBudget):
		return verdict{kind: verdictStop, err: err}
	case errors.As(err, &re):
		return verdict{kind: verdictStop, err: fmt.Errorf("%w: %s", ErrSetup, re.Error())}
	case errors.As(err, &le):
		return verdict{kind: verdictStop, err: err}
	case errors.As(err, &ambiguous):
		return verdict{kind: verdictFail, reason: ambiguous.Error(), unknown: true}
	case errors.As(err, &unconfirmed):
		return verdict{kind: verdictUnknown, unknown: true,
			reason: "its answer was lost and the service could not then be asked whether it stored it; not sent again (the next run asks)"}
	case errors.As(err, &lost):
		// Not asked about (no identity to ask by), or asked and sent again
		// as often as allowed: sending it again could store it twice.
		return verdict{kind: verdictFail, unknown: true,
			reason: "the service may have stored it, but its answer was lost (" + lost.Err.Error() + "); not sent again, so as not to store it twice"}
	case errors.As(err, &ae):
		switch {
		case ae.IsTooLarge():
			return verdict{kind: verdictSkip, reason: "refused by the service as too large"}
		case ae.IsUnsupportedType():
			return verdict{kind: verdictSkip, reason: "refused by the service as an unsupported type"}
		}
		reason := ae.Error()
		if n := retry.Attempts(err); n > 1 {
			reason += fmt.Sprintf(" (after %d attempts)", n)
		}
		return verdict{kind: verdictFail, reason: reason}
	case isPlainHTTP(err):
		return verdict{kind: verdictStop, err: fmt.Errorf("%w: the server answers in plain http, not https; use an http:// --base-url (and --allow-http beyond this machine)", ErrSetup)}
	case api.IsCertificateError(err):
		return verdict{kind: verdictStop, err: fmt.Errorf("%w (%s): if the instance uses a private certificate authority, pass --ca-cert", ErrTLS, err.Error())}
	case api.IsDialError(err) && !errors.As(err, new(*retry.Error)):
		// Nothing ever answered there in this run: the setup is wrong.
		return verdict{kind: verdictStop, err: fmt.Errorf("%w: %s", ErrSetup, err.Error())}
	case errors.Is(err, api.ErrFileChanged):
		return verdict{kind: verdictFail, reason: "the file kept changing while it was being uploaded"}
	case errors.Is(err, api.ErrNotRegular):
		return verdict{kind: verdictSkip, reason: api.ErrNotRegular.Error()}
	case errors.Is(err, api.ErrMisread):
		return verdict{kind: verdictSkip, reason: api.ErrMisread.Error()}
	case errors.Is(err, fs.ErrNotExist) && !isTransport(err):
		return verdict{kind: verdictVanished, reason: "gone since the scan"}
	case isTransport(err):
		return verdict{kind: verdictFail, reason: err.Error()}
	}
	// Opening or reading the file failed: not worth retrying.
	return verdict{kind: verdictFail, reason: unwrapPathError(err)}
}

// maybeStored reports an upload that the service may have carried out.
func maybeStored(err error) bool {
	return errors.As(err, new(*api.LostError)) || errors.As(err, new(*retry.UnconfirmedError)) ||
		errors.As(err, new(*retry.AmbiguousError))
}

func isTransport(err error) bool {
	var te *api.TransportError
	return errors.As(err, &te)
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
	switch {
	case errors.Is(err, api.ErrNotRegular):
		return a.end(Skipped, api.ErrNotRegular.Error(), 0)
	case errors.Is(err, fs.ErrNotExist):
		return a.end(Vanished, "gone since the scan", 0)
	}
	return a.end(Failed, "cannot be read: "+unwrapPathError(err), 0)
}

// journalStart records, before a request that may change the document,
// that the outcome is not yet known: a run that dies before the answer
// leaves the next one asking the service.
func (a *attempt) journalStart(sum string) error {
	st := a.r.journal
	if st == nil {
		return nil
	}
	return st.RecordStarted(state.Record{Path: a.j.e.Key, Size: a.j.e.Size, ModTime: a.j.e.ModTime,
		ExternalID: a.extID, SHA256: sum, At: a.r.clock.Now().UTC()})
}

// record finishes a file whose document the service holds as the file is.
func (a *attempt) record(o Outcome, docID int64, session string, size int64, mtime time.Time, sum string, attempts int) error {
	r := a.r
	if a.replacing != 0 && (o == Uploaded || o == Present) {
		o = Replaced
		a.res.Reason = fmt.Sprintf("by a new document, %d (the old one, %d, is deleted): this instance cannot replace content in place", docID, a.replacing)
	}
	a.res.Outcome, a.res.Attempts, a.res.Size = o, attempts, size
	a.res.Duration = r.clock.Now().Sub(a.start)
	a.res.DocumentID, a.res.UploadSessionUUID = docID, session
	a.finished = true
	var err error
	if r.journal != nil {
		tags := a.applied
		if a.tagsRefused {
			tags = ""
		}
		err = r.journal.RecordDone(state.Record{Path: a.j.e.Key, Size: size, ModTime: mtime, ExternalID: a.extID,
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
	if o == Interrupted && reason == "" {
		reason = "interrupted before the service answered"
	}
	a.res.Outcome, a.res.Reason, a.res.Attempts = o, reason, attempts
	a.res.Duration = r.clock.Now().Sub(a.start)
	a.finished = true
	r.finish(a.res)
	if o == Interrupted || a.unknown || r.journal == nil || attempts == 0 {
		return nil
	}
	return r.journal.RecordAborted(state.Record{Path: a.j.e.Key, Size: a.j.e.Size, ModTime: a.j.e.ModTime,
		ExternalID: a.extID, At: r.clock.Now().UTC()})
}
