package upload

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
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

func (l *lossy) FindByExternalID(ctx context.Context, ws int64, id string) (*api.File, error) {
	if l.findFails {
		l.call("FIND", nil)
		return nil, &api.Error{StatusCode: 502, Kind: "bad_gateway"}
	}
	return l.docs.FindByExternalID(ctx, ws, id)
}

// An answer lost, the lookup fails, the file is edited before it is sent
// again: the service answers 200 with the document of the first content,
// and the run replaces it rather than record the second as done.
func TestALostAnswerThenAnEditIsSettledByContent(t *testing.T) {
	root := t.TempDir()
	write(t, root, "a.txt", "version A")
	stateFile := filepath.Join(t.TempDir(), "state")
	d := newDocs()
	l := &lossy{docs: d, lost: map[string]bool{}, findFails: true, editTo: "version B, longer", root: root}
	sum, err := syncRunErr(t, d, root, stateFile, func(o *Options) { o.Service = l })
	require.NoError(t, err)
	assert.Equal(t, 1, sum.Count(Replaced), "the document of the first content is replaced")
	snap, err := state.Read(stateFile, nil)
	require.NoError(t, err)
	e, ok := snap.Done("a.txt")
	require.True(t, ok)
	got := d.byKey()["a.txt"]
	require.Len(t, got, 1)
	assert.True(t, state.SameContent(got[0].sha, e.SHA256), "the state records what the service holds")
	// The rerun trusts the state: nothing is sent.
	l.lost, l.findFails = nil, false
	sum = syncRun(t, d, root, stateFile, func(o *Options) { o.Service = l })
	assert.Equal(t, 1, sum.Count(AlreadyDone))
	mirrors(t, d, map[string]string{"a.txt": "version B, longer"})
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
