package upload

// Issue 18: --delete and replace never touch a document that is not
// provably this source's, in this workspace, and gone from the tree.

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paradigm-upload/paradigm-upload/internal/api"
	"github.com/paradigm-upload/paradigm-upload/internal/scan"
)

// tree writes n files under root and returns their contents by key.
func manyFiles(t *testing.T, root string, n int) map[string]string {
	t.Helper()
	files := map[string]string{}
	for i := 0; i < n; i++ {
		k := fmt.Sprintf("d%d/f%03d.txt", i%5, i)
		files[k] = fmt.Sprintf("content %d", i)
		write(t, root, k, files[k])
	}
	return files
}

// churn makes every page after the first shift: another uploader adds
// documents while the pages are read, and the service lists newest first
// whatever is asked, so later pages repeat what earlier ones showed.
func churn(n int) func(d *docs, page int) {
	return func(d *docs, _ int) {
		for i := 0; i < n; i++ {
			d.add(42, "other.txt", "someone else's", &api.ExternalMetadata{ExternalID: fmt.Sprintf("other-%d", d.next)})
		}
	}
}

// (item 1) Pages that shift under the listing: a document listed twice is
// one document, seen once; nothing whose file exists is deleted.
func TestAShiftingListingDeletesNoLiveDocument(t *testing.T) {
	root := t.TempDir()
	files := manyFiles(t, root, 120)
	d := newDocs()
	syncRun(t, d, root, "")
	d.maxPage, d.ignoreOrdering, d.beforePage = 25, true, churn(10)
	sum := syncRun(t, d, root, "", func(o *Options) { o.Delete = true })
	assert.Equal(t, 0, sum.Count(Deleted), "notes: %v", sum.Notes)
	assert.Equal(t, 120, sum.Count(AlreadyDone))
	assert.Contains(t, fmt.Sprint(sum.Notes), "twice", "the repeats are said")
	d.beforePage = nil
	mirrorsOf(t, d, files)
}

// mirrorsOf is mirrors for the documents of this tool (the workspace may
// hold others').
func mirrorsOf(t *testing.T, d *docs, files map[string]string) {
	t.Helper()
	mine := map[string]string{}
	for k, x := range d.byKey() {
		if k != "" {
			mine[k] = x[0].sha
		}
	}
	assert.Len(t, mine, len(files))
	mirrorsSubset(t, d, files)
}

func mirrorsSubset(t *testing.T, d *docs, files map[string]string) {
	t.Helper()
	got := d.byKey()
	for k := range files {
		assert.Len(t, got[k], 1, "%s: one document", k)
	}
}

// (item 1) A next link that goes back, or points to itself: the listing
// cannot be trusted; the run ends before anything is uploaded or deleted.
func TestALoopingListingEndsTheRunAndDeletesNothing(t *testing.T) {
	for _, loop := range []string{"back", "self"} {
		t.Run(loop, func(t *testing.T) {
			root := t.TempDir()
			manyFiles(t, root, 60)
			d := newDocs()
			syncRun(t, d, root, "")
			require.NoError(t, os.RemoveAll(filepath.Join(root, "d1")))
			write(t, root, "new.txt", "new")
			d.maxPage, d.nextLoop = 10, loop
			before := len(d.history)
			sum, err := syncRunErr(t, d, root, "", func(o *Options) { o.Delete = true })
			require.ErrorIs(t, err, ErrUntrustedListing)
			assert.Contains(t, err.Error(), "next link")
			assert.Len(t, d.history, before, "nothing uploaded, nothing deleted")
			assert.Equal(t, 0, sum.Count(Deleted))
			assert.Less(t, d.count("LIST"), 20, "the loop is not followed")
		})
	}
}

// (item 1) A listing item of another workspace (a server that ignores the
// filter) is never taken for this one's: the same tree synced into
// workspace 7 loses nothing to a --delete in workspace 42.
func TestAListingItemOfAnotherWorkspaceIsNotOurs(t *testing.T) {
	root := t.TempDir()
	manyFiles(t, root, 20)
	d := newDocs()
	syncRun(t, d, root, "")
	// Workspace 7 holds the same tree's documents, of the same source,
	// and more files that the tree no longer has.
	byKey := d.byKey()
	d.mu.Lock()
	for k, x := range byKey {
		cp := *x[0].ext
		d.add(7, k, "in workspace 7", &cp)
	}
	gone := d.add(7, "gone.txt", "in workspace 7 only", externalMetadata("", "gone.txt", 1, d.clk.Now(), ""))
	d.mu.Unlock()
	d.ignoreWorkspace = true
	sum := syncRun(t, d, root, "", func(o *Options) { o.Delete = true })
	assert.Equal(t, 0, sum.Count(Deleted))
	assert.Equal(t, 20, sum.Count(AlreadyDone))
	d.mu.Lock()
	_, kept := d.byID[gone.id]
	n := len(d.byID)
	d.mu.Unlock()
	assert.True(t, kept, "the document of workspace 7 was not deleted")
	assert.Equal(t, 41, n)
	assert.Contains(t, fmt.Sprint(sum.Notes), "another workspace")
}

// (item 2, and issue 19) After the instance is restored from a backup and
// others' uploads reuse the ids, the ids the state file holds are never
// trusted: a night with removals and an edit touches none of the
// colleague's documents, and files absent from the instance are sent again
// rather than reported done.
func TestReusedIDsAfterARestoreAreNeverTouched(t *testing.T) {
	root := t.TempDir()
	files := manyFiles(t, root, 10)
	stateFile := filepath.Join(t.TempDir(), "state")
	d := newDocs()
	backup := d.snapshot() // an empty instance
	syncRun(t, d, root, stateFile)
	d.restore(backup)
	d.mu.Lock()
	colleague := map[int64]string{}
	for i := 0; i < 10; i++ {
		x := d.add(42, fmt.Sprintf("theirs-%d.txt", i), fmt.Sprintf("a colleague's %d", i), nil)
		colleague[x.id] = x.sha
	}
	d.mu.Unlock()
	// The night: three files removed, one edited.
	for _, k := range []string{"d0/f000.txt", "d1/f001.txt", "d2/f002.txt"} {
		require.NoError(t, os.Remove(filepath.Join(root, k)))
		delete(files, k)
	}
	files["d3/f003.txt"] = "edited"
	write(t, root, "d3/f003.txt", "edited")
	sum := syncRun(t, d, root, stateFile, func(o *Options) { o.Delete = true })
	assert.Equal(t, 0, sum.Count(Deleted))
	assert.Equal(t, 0, sum.Count(Replaced))
	assert.Equal(t, 7, sum.Count(Uploaded), "absent from the instance: sent again")
	assert.Equal(t, 0, sum.Count(AlreadyDone))
	d.mu.Lock()
	for id, sha := range colleague {
		x, ok := d.byID[id]
		if assert.True(t, ok, "document %d kept", id) {
			assert.Equal(t, sha, x.sha, "document %d not overwritten", id)
		}
	}
	d.mu.Unlock()
	mirrorsOf(t, d, files)
	// The next night trusts the repaired state: nothing sent.
	sum = syncRun(t, d, root, stateFile, func(o *Options) { o.Delete = true })
	assert.Equal(t, 7, sum.Count(AlreadyDone))
}

// (item 3) Two documents with one identity: the one with the file's
// content is kept, the other left alone and named; with neither, nothing is
// touched and the file fails with both named; a removed file's duplicated
// identity deletes nothing.
func TestADuplicatedIdentityIsNeverGuessed(t *testing.T) {
	root := t.TempDir()
	write(t, root, "a.txt", "mine")
	write(t, root, "b.txt", "b")
	write(t, root, "c.txt", "c")
	d := newDocs()
	syncRun(t, d, root, "")
	d.mu.Lock()
	var a, c *doc
	for _, x := range d.byID {
		switch x.name {
		case "a.txt":
			a = x
		case "c.txt":
			c = x
		}
	}
	// Second documents with the same identity and metadata, but their own
	// content (their hash says so).
	other := d.add(42, "a.txt", "someone else's", copyWithSHA(a.ext, "someone else's"))
	otherC := d.add(42, "c.txt", "another c", copyWithSHA(c.ext, "another c"))
	d.mu.Unlock()
	require.NoError(t, os.Remove(filepath.Join(root, "c.txt")))
	history := len(d.history)
	sum := syncRun(t, d, root, "", func(o *Options) { o.Delete = true })
	assert.Len(t, d.history, history, "nothing replaced, nothing deleted")
	assert.Equal(t, 2, sum.Count(AlreadyDone)+sum.Count(Unchanged), "a (its own document found by content) and b")
	assert.Equal(t, 0, sum.Count(Deleted))
	assert.Contains(t, fmt.Sprint(sum.Notes), fmt.Sprintf("ids %d, %d", a.id, other.id))
	assert.Contains(t, fmt.Sprint(sum.Notes), "carry an identity that another document carries too")
	d.mu.Lock()
	_, keptC := d.byID[otherC.id]
	d.mu.Unlock()
	assert.True(t, keptC)

	// Neither document has the file's content: the file fails, naming
	// both; neither is touched.
	write(t, root, "a.txt", "a third content")
	sum = syncRun(t, d, root, "", func(o *Options) { o.Delete = true })
	require.Len(t, sum.Listed, 1)
	assert.Equal(t, Failed, sum.Listed[0].Outcome)
	assert.Contains(t, sum.Listed[0].Reason, fmt.Sprintf("ids %d, %d", a.id, other.id))
	assert.Len(t, d.history, history, "still nothing replaced, nothing deleted")
	assert.Len(t, d.byKey()["a.txt"], 2)
}

// copyWithSHA copies external metadata, with the hash of content.
func copyWithSHA(em *api.ExternalMetadata, content string) *api.ExternalMetadata {
	cp := *em
	cp.AdditionalMetadata = map[string]any{}
	for k, v := range em.AdditionalMetadata {
		cp.AdditionalMetadata[k] = v
	}
	sum := sha256.Sum256([]byte(content))
	cp.AdditionalMetadata[metaSHA256] = hex.EncodeToString(sum[:])
	return &cp
}

// (item 6) A mount point that holds only files the filters skip (a stray
// .DS_Store) is an empty tree: nothing is deleted, even with
// --max-delete all.
func TestATreeOfSkippedFilesDeletesNothing(t *testing.T) {
	root := t.TempDir()
	files := manyFiles(t, root, 10)
	stateFile := filepath.Join(t.TempDir(), "state")
	d := newDocs()
	syncRun(t, d, root, stateFile)
	mount := t.TempDir()
	write(t, mount, ".DS_Store", "finder")
	for _, withState := range []string{stateFile, ""} {
		sum := syncRun(t, d, mount, withState, func(o *Options) { o.Delete = true; o.MaxDelete = DeleteCap{Unlimited: true} })
		assert.Equal(t, 0, sum.Count(Deleted))
		assert.Equal(t, 1, sum.Count(Skipped))
		assert.Contains(t, fmt.Sprint(sum.Notes), "nothing deleted: the scan found no file to upload")
	}
	mirrorsOf(t, d, files)
	// The same with an --exclude that filters every file out.
	globs, err := scan.ParseGlobs([]string{"*.txt"})
	require.NoError(t, err)
	sum := syncRun(t, d, root, stateFile, func(o *Options) {
		o.Delete, o.MaxDelete = true, DeleteCap{Unlimited: true}
		o.Filter = scan.Filter{ExcludeGlobs: globs}
	})
	assert.Equal(t, 0, sum.Count(Deleted))
	mirrorsOf(t, d, files)
}

// (item 6) --max-delete is a share of the documents the source had before
// this run: moving 30 of 100 files into a new folder does not dilute it
// with the 30 new uploads.
func TestAMoveDoesNotDiluteMaxDelete(t *testing.T) {
	root := t.TempDir()
	files := manyFiles(t, root, 100)
	stateFile := filepath.Join(t.TempDir(), "state")
	d := newDocs()
	syncRun(t, d, root, stateFile)
	moved := 0
	for k, c := range files {
		if moved == 30 {
			break
		}
		require.NoError(t, os.Remove(filepath.Join(root, filepath.FromSlash(k))))
		write(t, root, "moved/"+filepath.Base(k), c+" (moved)")
		moved++
	}
	history := len(d.history)
	_, err := syncRunErr(t, d, root, stateFile, func(o *Options) { o.Delete = true; o.MaxDelete = DeleteCap{Percent: 25} })
	require.ErrorIs(t, err, ErrDeleteRefused)
	assert.Contains(t, err.Error(), "30 of the 100 documents this source had before this run")
	for _, h := range d.history[history:] {
		assert.NotContains(t, h, "DELETE", "nothing deleted")
	}
}

// (issue 19) A person deletes documents between two nights: the state file
// still records them, but its checkpoint no longer holds, so the next night
// lists the workspace and sends their files again, rather than report them
// done.
func TestDocumentsDeletedOnTheServiceAreSentAgain(t *testing.T) {
	root := t.TempDir()
	files := manyFiles(t, root, 20)
	stateFile := filepath.Join(t.TempDir(), "state")
	d := newDocs()
	syncRun(t, d, root, stateFile)
	syncRun(t, d, root, stateFile) // a quiet night, verified by its checkpoint
	gone := 0
	for k, x := range d.byKey() {
		if gone == 5 {
			break
		}
		require.NoError(t, d.DeleteFile(t.Context(), x[0].id), k) // by a person, in the web interface
		gone++
	}
	sum := syncRun(t, d, root, stateFile, func(o *Options) { o.Delete = true })
	assert.Equal(t, 5, sum.Count(Uploaded))
	assert.Equal(t, 15, sum.Count(AlreadyDone))
	assert.Equal(t, 0, sum.Count(Deleted))
	mirrorsOf(t, d, files)
	assert.Contains(t, fmt.Sprint(sum.Notes), "deleted (or it was restored) since the last run")
}

// (issue 19) A run stopped halfway leaves no checkpoint: documents it
// uploaded that someone deletes before the next night are found missing
// by the next night's listing.
func TestARunStoppedHalfwayLeavesNoCheckpoint(t *testing.T) {
	root := t.TempDir()
	files := manyFiles(t, root, 10)
	stateFile := filepath.Join(t.TempDir(), "state")
	d := newDocs()
	syncRun(t, d, root, stateFile)
	for i := 0; i < 10; i++ {
		k := fmt.Sprintf("new/n%02d.txt", i)
		files[k] = "new " + k
		write(t, root, k, files[k])
	}
	// The run stops halfway (here: the key is refused after 3 uploads; a
	// kill would do the same).
	posts := 0
	d.fault = func(op string, _ *api.UploadRequest) error {
		if op == "POST" {
			if posts++; posts > 3 {
				return &api.Error{StatusCode: 401, Kind: "authentication_failed"}
			}
		}
		return nil
	}
	sum, err := syncRunErr(t, d, root, stateFile, func(o *Options) { o.BatchSize = 1 })
	require.ErrorIs(t, err, ErrAuth)
	require.Equal(t, 3, sum.Count(Uploaded))
	d.fault = nil
	// Someone deletes one of the documents that run uploaded.
	var victim string
	for k, x := range d.byKey() {
		if filepath.Dir(k) == "new" {
			require.NoError(t, d.DeleteFile(t.Context(), x[0].id))
			victim = k
			break
		}
	}
	require.NotEmpty(t, victim)
	sum = syncRun(t, d, root, stateFile)
	mirrorsOf(t, d, files)
	assert.Contains(t, fmt.Sprint(sum.Notes), "no checkpoint")
	assert.Equal(t, 8, sum.Count(Uploaded), "the 7 never sent, and the one deleted")
}

// (item 3) With a state file: a second document given the identity of one
// of ours after the last run shows among the changes; the state keeps its
// own, and the edit goes there, the other untouched.
func TestADuplicatedIdentityAmongTheChangesIsLeftAlone(t *testing.T) {
	root := t.TempDir()
	write(t, root, "a.txt", "mine")
	stateFile := filepath.Join(t.TempDir(), "state")
	d := newDocs()
	syncRun(t, d, root, stateFile)
	mine := d.byKey()["a.txt"][0]
	d.mu.Lock()
	other := d.add(42, "a.txt", "someone else's", copyWithSHA(mine.ext, "someone else's"))
	d.mu.Unlock()
	write(t, root, "a.txt", "mine, edited")
	sum := syncRun(t, d, root, stateFile)
	assert.Equal(t, 1, sum.Count(Replaced))
	d.mu.Lock()
	assert.Equal(t, "someone else's", string(d.byID[other.id].content), "the other document untouched")
	assert.Equal(t, "mine, edited", string(d.byID[mine.id].content), "the edit on ours")
	d.mu.Unlock()
	assert.Contains(t, fmt.Sprint(sum.Notes), "the one the state file records")
}

// A document is proven gone only as the service shows it: in this
// workspace, of this tool and source, at the file's path, with the identity
// the run knows it by.
func TestADocumentIsProvenGoneOnlyWhenEverythingMatches(t *testing.T) {
	r := &runner{o: Options{WorkspaceID: 42, Source: "s"}}
	d := doomed{key: "a/b.txt", docID: 7, ext: ExternalID("s", "a/b.txt")}
	file := func(edit func(f *api.File)) *api.File {
		f := &api.File{ID: 7, Workspace: &api.Workspace{ID: 42},
			ExternalMetadata: externalMetadata("s", "a/b.txt", 3, time.Unix(1, 0), "")}
		if edit != nil {
			edit(f)
		}
		return f
	}
	assert.True(t, r.provenGone(file(nil), d))
	for name, edit := range map[string]func(f *api.File){
		"another workspace":           func(f *api.File) { f.Workspace.ID = 7 },
		"no workspace":                func(f *api.File) { f.Workspace = nil },
		"no metadata":                 func(f *api.File) { f.ExternalMetadata = nil },
		"another source":              func(f *api.File) { f.ExternalMetadata.AdditionalMetadata[metaSource] = "t" },
		"another tool":                func(f *api.File) { delete(f.ExternalMetadata.AdditionalMetadata, metaUploadedBy) },
		"another path":                func(f *api.File) { f.ExternalMetadata.AdditionalMetadata[metaPath] = "a/c.txt" },
		"another identity":            func(f *api.File) { f.ExternalMetadata.ExternalID = "pu2-elsewhere" },
		"a tombstone of our identity": func(f *api.File) { f.ExternalMetadata.ExternalID = tombstone(d.ext) },
	} {
		assert.False(t, r.provenGone(file(edit), d), name)
	}
	other := d
	other.ext = "pu2-recorded-otherwise"
	assert.False(t, r.provenGone(file(nil), other), "the run knew it by another identity")
	v1 := d
	v1.ext = ""
	assert.True(t, r.provenGone(file(nil), v1), "a document of version 1 is known by its path")
	assert.False(t, r.provenGone(file(func(f *api.File) { f.ExternalMetadata.AdditionalMetadata[metaPath] = "a/c.txt" }), v1),
		"a document of version 1 at another path")
	assert.False(t, r.provenGone(file(func(f *api.File) { f.ExternalMetadata.ExternalID = other.ext }), other),
		"an identity that is not its path's: not this tool's making")
}
