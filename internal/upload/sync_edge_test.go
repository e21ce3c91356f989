package upload

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paradigm-upload/paradigm-upload/internal/api"
	"github.com/paradigm-upload/paradigm-upload/internal/pace"
	"github.com/paradigm-upload/paradigm-upload/internal/scan"
	"github.com/paradigm-upload/paradigm-upload/internal/state"
)

// A folder skipped whole (--skip-hidden, or a symlink no longer followed)
// hides files that still exist: --delete leaves their documents alone.
func TestAFolderNowSkippedIsNotDeleted(t *testing.T) {
	d, root, stateFile := synced(t, map[string]string{"b.txt": "b", "c.txt": "c", "d.txt": "d", ".notes/a.txt": "a"})
	sum := syncRun(t, d, root, stateFile, func(o *Options) {
		o.Delete = true
		o.Filter.SkipHidden = true
		o.MaxDelete = DeleteCap{Percent: 25}
	})
	_, err := os.Stat(filepath.Join(root, ".notes/a.txt"))
	require.NoError(t, err, "the file still exists")
	assert.Equal(t, 0, sum.Count(Deleted), "a file that exists but is now filtered out is never deleted (README)")
	assert.Len(t, d.byKey()[".notes/a.txt"], 1, "its document stays")
}

func TestAFolderNoLongerFollowedIsNotDeleted(t *testing.T) {
	root := t.TempDir()
	other := t.TempDir()
	write(t, other, "x.txt", "x")
	for _, k := range []string{"b.txt", "c.txt", "d.txt"} {
		write(t, root, k, k)
	}
	require.NoError(t, os.Symlink(other, filepath.Join(root, "linked")))
	d := newDocs()
	syncRun(t, d, root, "", func(o *Options) { o.Filter.FollowSymlinks = true })
	require.Len(t, d.byKey()["linked/x.txt"], 1)
	sum := syncRun(t, d, root, "", func(o *Options) { o.Delete = true; o.MaxDelete = DeleteCap{Percent: 25} })
	assert.Equal(t, 0, sum.Count(Deleted), "linked/x.txt still exists (now filtered out as a symlink)")
}

// lossy wraps docs: the first POST of a path is stored by the service but
// its answer is lost; optionally lookups fail and the file is edited
// meanwhile.
type lossy struct {
	*docs
	lost       map[string]bool
	findFails  bool
	editTo     string
	root       string
	onlyFirstN int
}

func (l *lossy) Upload(ctx context.Context, r api.UploadRequest) (*api.UploadResult, error) {
	if r.Replace == 0 && l.lost != nil && !l.lost[r.Filename] && (l.onlyFirstN == 0 || len(l.lost) < l.onlyFirstN) {
		l.lost[r.Filename] = true
		if _, err := l.docs.Upload(ctx, r); err != nil {
			return nil, err
		}
		if l.editTo != "" {
			if err := os.WriteFile(r.Path, []byte(l.editTo), 0o644); err != nil {
				return nil, err
			}
		}
		return nil, &api.TransportError{Op: "upload", Err: context.DeadlineExceeded, Sent: true}
	}
	return l.docs.Upload(ctx, r)
}

func (l *lossy) Lookup(ctx context.Context, ws int64, id string) ([]api.File, error) {
	if l.findFails {
		_ = l.call("FIND", nil)
		return nil, &api.Error{StatusCode: 400, Kind: "bad_request"}
	}
	return l.docs.Lookup(ctx, ws, id)
}

// An answer lost, then asking the service about it fails: the file is not
// sent again in this run (that could store it twice); it ends interrupted,
// its "started" record kept. The file is edited meanwhile: the next run
// asks, finds the document of the first content, and replaces it.
func TestALostAnswerThatCannotBeAskedAboutIsNotSentAgain(t *testing.T) {
	root := t.TempDir()
	write(t, root, "a.txt", "version A")
	stateFile := filepath.Join(t.TempDir(), "state")
	d := newDocs()
	l := &lossy{docs: d, lost: map[string]bool{}, findFails: true, editTo: "version B, longer", root: root}
	sum, err := syncRunErr(t, d, root, stateFile, func(o *Options) { o.Service = l })
	require.NoError(t, err)
	assert.Equal(t, 1, sum.Count(Interrupted), "%+v", sum.Listed)
	assert.Equal(t, 1, d.count("POST"), "not sent again")
	require.Len(t, sum.Listed, 1)
	assert.Contains(t, sum.Listed[0].Reason, "could not then be asked")
	snap, err := state.Read(stateFile, nil)
	require.NoError(t, err)
	_, ok := snap.Done("a.txt")
	assert.False(t, ok, "not recorded as done")
	// The rerun asks, and settles by content.
	l.lost, l.findFails = nil, false
	sum = syncRun(t, d, root, stateFile, func(o *Options) { o.Service = l })
	assert.Equal(t, 1, sum.Count(Replaced), "the document of the first content is replaced")
	assert.Equal(t, 1, d.count("POST"))
	mirrors(t, d, map[string]string{"a.txt": "version B, longer"})
	sum = syncRun(t, d, root, stateFile, func(o *Options) { o.Service = l })
	assert.Equal(t, 1, sum.Count(AlreadyDone))
}

// An upload whose answer was lost and never confirmed (the service has the
// document; the state only "started"), then the file is removed: --delete
// asks the service and deletes it, once.
func TestAnUnconfirmedUploadOfARemovedFileIsDeleted(t *testing.T) {
	d, root, stateFile := synced(t, map[string]string{"keep1.txt": "k1", "keep2.txt": "k2", "keep3.txt": "k3", "gone.txt": "g"})
	// Simulate kill -9 after the service stored gone.txt but before its
	// "done" record reached the disk: rewrite the state with gone.txt only
	// "started".
	st, err := state.Open(stateFile, state.Header{BaseURL: "http://x", WorkspaceID: 42}, state.Options{NoSync: true})
	require.NoError(t, err)
	require.NoError(t, st.RecordDeleted("gone.txt", time.Now()))
	require.NoError(t, st.RecordStarted(state.Record{Path: "gone.txt", Size: 1, ExternalID: ExternalID("", "gone.txt")}))
	require.NoError(t, st.Close())
	require.NoError(t, os.Remove(filepath.Join(root, "gone.txt")))
	for night, want := range []int{1, 0, 0} {
		sum := syncRun(t, d, root, stateFile, func(o *Options) { o.Delete = true })
		assert.Equal(t, want, sum.Count(Deleted), "night %d", night+1)
		assert.Equal(t, 3, sum.Count(AlreadyDone), "night %d", night+1)
	}
	mirrors(t, d, map[string]string{"keep1.txt": "k1", "keep2.txt": "k2", "keep3.txt": "k3"})
}

// tagless answers 207 (uploaded, tags not applied) to the first POST.
type tagless struct {
	*docs
	done bool
}

func (s *tagless) Upload(ctx context.Context, r api.UploadRequest) (*api.UploadResult, error) {
	if s.done || r.Replace != 0 {
		return s.docs.Upload(ctx, r)
	}
	s.done = true
	r.Tags = nil
	res, err := s.docs.Upload(ctx, r)
	if err == nil {
		res.StatusCode = 207
	}
	return res, err
}

// A 207 (document stored, tags not applied) is recorded as without its
// tags, in the state file, and the document's own tags show it to a run
// without one: the next run applies them.
func TestTagsRefusedWithA207AreAppliedLater(t *testing.T) {
	root := t.TempDir()
	write(t, root, "a.txt", "a")
	stateFile := filepath.Join(t.TempDir(), "state")
	d := newDocs()
	s := &tagless{docs: d}
	tags := func(o *Options) { o.Service = s; o.Tags = []int64{7} }
	sum := syncRun(t, d, root, stateFile, tags)
	require.Equal(t, 1, sum.Count(Uploaded))
	require.Empty(t, d.byKey()["a.txt"][0].tags, "stored without its tags")
	sum = syncRun(t, d, root, stateFile, tags)
	assert.Equal(t, 1, sum.Count(Updated), "the next night applies them")
	assert.Equal(t, []int64{7}, d.byKey()["a.txt"][0].tags)
	sum = syncRun(t, d, root, stateFile, tags)
	assert.Equal(t, 1, sum.Count(AlreadyDone), "then nothing more")

	// Without a state file, the document's own tags tell what holds.
	s.done = false
	other := t.TempDir()
	write(t, other, "b.txt", "b")
	syncRun(t, d, other, "", tags)
	require.Empty(t, d.byKey()["b.txt"][0].tags)
	sum = syncRun(t, d, other, "", tags)
	assert.Equal(t, 1, sum.Count(Updated), "applied by a run without a state file")
	assert.Equal(t, []int64{7}, d.byKey()["b.txt"][0].tags)
}

// --reconcile lists the service, and the listing wins over the state file:
// a document deleted on the service is sent again.
func TestReconcileTrustsTheListingOverTheStateFile(t *testing.T) {
	root := t.TempDir()
	write(t, root, "a.txt", "a")
	write(t, root, "b.txt", "b")
	stateFile := filepath.Join(t.TempDir(), "state")
	d := newDocs()
	syncRun(t, d, root, stateFile)
	require.NoError(t, d.DeleteFile(context.Background(), d.byKey()["a.txt"][0].id)) // someone deletes it in the UI
	sum := syncRun(t, d, root, stateFile, func(o *Options) { o.Reconcile = true })
	assert.Equal(t, 1, sum.Count(Uploaded), "the deleted document is sent again")
	assert.Equal(t, 1, sum.Count(AlreadyDone))
	mirrors(t, d, map[string]string{"a.txt": "a", "b.txt": "b"})
}

// A request that ends the run (budget spent, key rejected) still gives its
// file an outcome: every file is counted once in the summary.
func TestAFileWhoseRequestStopsTheRunHasAnOutcome(t *testing.T) {
	for _, stopErr := range []error{
		&pace.BudgetError{What: "unavailable", For: 5 * time.Minute, Flag: "--outage-budget"},
		&api.Error{StatusCode: 401, Kind: "unauthorized"},
	} {
		root := t.TempDir()
		for _, k := range []string{"a.txt", "b.txt", "c.txt"} {
			write(t, root, k, k)
		}
		d := newDocs()
		d.fault = func(op string, r *api.UploadRequest) error {
			if op == "POST" && r.Filename == "b.txt" {
				return stopErr
			}
			return nil
		}
		sum, err := syncRunErr(t, d, root, "", func(o *Options) { o.BatchSize = 1 })
		total := 0
		for o := Outcome(0); o < numOutcomes; o++ {
			total += sum.Count(o)
		}
		require.Error(t, err)
		assert.Equal(t, 3, total, "%T: every file ends as exactly one outcome", stopErr)
		assert.Equal(t, 1, sum.Count(Uploaded), "%T", stopErr)
		assert.Equal(t, 2, sum.Count(NotAttempted), "%T: b.txt and what came after it", stopErr)
	}
}

// With --shard, an unreadable folder whose own key belongs to another shard
// still stops --delete: this shard's files may be in it.
func TestAnUnreadableFolderOfAnotherShardStopsDelete(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("needs a non-root user (chmod 000 must deny reading)")
	}
	mine := scan.Shard{K: 1, N: 2}
	var dir string
	for i := 0; dir == ""; i++ {
		if c := fmt.Sprintf("projects%d", i); !mine.Has(c) {
			dir = c
		}
	}
	var inside []string
	for i := 0; len(inside) < 2; i++ {
		if k := fmt.Sprintf("%s/f%d.txt", dir, i); mine.Has(k) {
			inside = append(inside, k)
		}
	}
	root := t.TempDir()
	for i := 0; i < 12; i++ {
		write(t, root, fmt.Sprintf("top%02d.txt", i), "x")
	}
	for _, k := range inside {
		write(t, root, k, k)
	}
	stateFile := filepath.Join(t.TempDir(), "state")
	d := newDocs()
	syncRun(t, d, root, stateFile, func(o *Options) { o.Shard = mine })
	require.NoError(t, os.Chmod(filepath.Join(root, dir), 0))
	defer os.Chmod(filepath.Join(root, dir), 0o755)
	sum := syncRun(t, d, root, stateFile, func(o *Options) {
		o.Shard, o.Delete, o.MaxDelete = mine, true, DeleteCap{Percent: 25}
	})
	assert.Equal(t, 0, sum.Count(Deleted), "part of the tree could not be read: nothing is deleted")
}

// synced writes files into a new folder and uploads them with a new state
// file.
func synced(t *testing.T, files map[string]string) (*docs, string, string) {
	t.Helper()
	root := t.TempDir()
	for k, v := range files {
		write(t, root, k, v)
	}
	stateFile := filepath.Join(t.TempDir(), "state")
	d := newDocs()
	syncRun(t, d, root, stateFile)
	require.Len(t, d.byKey(), len(files))
	return d, root, stateFile
}

// An instance that silently drops the external metadata of uploads: the
// run stops at the first answer that lacks it, before a second upload goes,
// and says what --no-external-id then means.
func TestAnInstanceThatDropsExternalMetadataStopsBeforeTheSecondUpload(t *testing.T) {
	root := t.TempDir()
	for i := 0; i < 20; i++ {
		write(t, root, fmt.Sprintf("f%02d.txt", i), fmt.Sprintf("file %d", i))
	}
	d := newDocs()
	d.dropMeta = true
	// Each upload takes a while, so that a pool would have several in
	// flight.
	d.fault = func(op string, _ *api.UploadRequest) error {
		if op == "POST" {
			time.Sleep(20 * time.Millisecond)
		}
		return nil
	}
	sum, err := syncRunErr(t, d, root, "", func(o *Options) { o.BatchSize = 8 })
	require.ErrorIs(t, err, ErrNoExternalMetadata)
	assert.Contains(t, err.Error(), "--no-external-id")
	assert.Equal(t, 1, d.count("POST"), "one upload, then the stop")
	assert.Equal(t, 1, sum.Count(Uploaded))
	assert.Equal(t, 19, sum.Count(NotAttempted))
	assert.Equal(t, StopFatal, sum.Stopped)

	// Where the instance keeps it, the first answer opens the way for all.
	d = newDocs()
	sum = syncRun(t, d, t.TempDir(), "", func(o *Options) { o.Root = root; o.BatchSize = 8 })
	assert.Equal(t, 20, sum.Count(Uploaded))
	assert.Equal(t, 20, d.count("POST"))
}

// A file removed between the scan and its upload is a note, not a
// failure: it ends vanished, counts toward no --max-fails, and the run goes
// on.
func TestAFileGoneBeforeItsUploadVanishes(t *testing.T) {
	root := t.TempDir()
	for _, n := range []string{"a.txt", "b.txt", "c.txt"} {
		write(t, root, n, "content of "+n)
	}
	d := newDocs()
	d.fault = func(op string, r *api.UploadRequest) error {
		if op == "POST" && filepath.Base(r.Path) == "b.txt" {
			_ = os.Remove(r.Path) // gone since the scan
		}
		return nil
	}
	sum, err := syncRunErr(t, d, root, "", func(o *Options) { o.MaxFails = 1; o.BatchSize = 1 })
	require.NoError(t, err)
	assert.Equal(t, 1, sum.Count(Vanished))
	assert.Equal(t, 2, sum.Count(Uploaded))
	assert.Zero(t, sum.Failures())
	assert.Equal(t, StopNone, sum.Stopped, "--max-fails 1 did not stop the run")
}

// (issue 22, item 2) The absence of --tags is not an instruction: the
// tags of documents are left as they are — through an unchanged night and
// a replacement alike; --tags none takes back those this tool applied (a
// tag a person added stays).
func TestWithoutTagsTheDocumentsTagsAreLeftAlone(t *testing.T) {
	root := t.TempDir()
	write(t, root, "a.txt", "a")
	write(t, root, "b.txt", "b")
	stateFile := filepath.Join(t.TempDir(), "state")
	d := newDocs()
	syncRun(t, d, root, stateFile, func(o *Options) { o.Tags = []int64{1} })
	x := d.byKey()["a.txt"][0]
	d.mu.Lock()
	x.tags = append(x.tags, 9) // added by a person
	d.mu.Unlock()
	for _, withState := range []string{stateFile, ""} {
		sum := syncRun(t, d, root, withState) // no --tags
		assert.Equal(t, 2, sum.Count(AlreadyDone), "state %q", withState)
		assert.Zero(t, d.count("UPDATE"), "nothing updated")
	}
	write(t, root, "b.txt", "b, edited")
	sum := syncRun(t, d, root, stateFile)
	assert.Equal(t, 1, sum.Count(Replaced))
	assert.Equal(t, []int64{1}, d.byKey()["b.txt"][0].tags, "a replacement keeps the tags")
	assert.Equal(t, []int64{1, 9}, d.byKey()["a.txt"][0].tags)

	sum = syncRun(t, d, root, stateFile, func(o *Options) { o.Tags = []int64{} }) // --tags none
	assert.Equal(t, 2, sum.Count(Updated))
	assert.Equal(t, []int64{9}, d.byKey()["a.txt"][0].tags, "the person's tag stays")
	assert.Empty(t, d.byKey()["b.txt"][0].tags)
}

// (issue 19, item 4) An instance of the older schema refuses a PATCH that
// carries a file: the edit still lands — a new document takes over the
// identity and the tags (a person's included), the old one is deleted —
// once, said once, with no duplicate; the next night sends nothing.
func TestAnInstanceThatCannotReplaceInPlaceGetsTheEditAnyway(t *testing.T) {
	root := t.TempDir()
	write(t, root, "a.txt", "a, first")
	write(t, root, "b.txt", "b, first")
	write(t, root, "c.txt", "c")
	stateFile := filepath.Join(t.TempDir(), "state")
	d := newDocs()
	syncRun(t, d, root, stateFile, func(o *Options) { o.Tags = []int64{1} })
	oldA := d.byKey()["a.txt"][0]
	d.mu.Lock()
	oldA.tags = append(oldA.tags, 9) // added by a person
	d.oldSchema = true
	d.mu.Unlock()
	write(t, root, "a.txt", "a, second version")
	write(t, root, "b.txt", "b, second version")
	sum := syncRun(t, d, root, stateFile, func(o *Options) { o.Tags = []int64{1} })
	assert.Equal(t, 2, sum.Count(Replaced), "%+v", sum.Listed)
	assert.Equal(t, 1, sum.Count(AlreadyDone))
	mirrors(t, d, map[string]string{"a.txt": "a, second version", "b.txt": "b, second version", "c.txt": "c"})
	newA := d.byKey()["a.txt"][0]
	assert.NotEqual(t, oldA.id, newA.id, "a new document")
	assert.Equal(t, []int64{1, 9}, newA.tags, "the tags carried over")
	notes := 0
	for _, n := range sum.Notes {
		if strings.Contains(n, "refuses to replace a document's content in place") {
			notes++
		}
	}
	assert.Equal(t, 1, notes, "said once")
	sum = syncRun(t, d, root, stateFile, func(o *Options) { o.Tags = []int64{1} })
	assert.Equal(t, 3, sum.Count(AlreadyDone))
}

// A request withdrawn by the first interruption while it waited to be sent
// again ends not attempted — unless a try whose answer was lost was sent
// again before (a PATCH of its metadata, harmless to repeat): it may have
// been carried out, and the file ends interrupted, for the next run to see.
func TestAWithdrawnRequestThatMayHaveBeenDoneIsInterrupted(t *testing.T) {
	root := t.TempDir()
	write(t, root, "a.txt", "a")
	stateFile := filepath.Join(t.TempDir(), "state")
	d := newDocs()
	require.Equal(t, 1, syncRun(t, d, root, stateFile).Count(Uploaded))

	stop := make(chan struct{})
	updates := 0
	d.fault = func(op string, _ *api.UploadRequest) error {
		if op != "UPDATE" {
			return nil
		}
		if updates++; updates == 1 {
			return &api.Error{StatusCode: 500, Kind: "internal_error"} // its answer lost
		}
		close(stop)
		return &api.Error{StatusCode: 429, Kind: "throttled", RetryAfter: time.Minute}
	}
	sum := syncRun(t, d, root, stateFile, func(o *Options) { o.Tags = []int64{7}; o.Stop = stop })
	assert.Equal(t, 2, updates, "not sent a third time")
	assert.Equal(t, 1, sum.Count(Interrupted))
	assert.Zero(t, sum.Count(Failed)+sum.Count(NotAttempted)+sum.Count(Updated))
}
