package upload

// Issue 20: a moved or renamed file keeps its document. Issue 19 item 3:
// documents uploaded before the tool are adopted, not doubled.

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paradigm-upload/paradigm-upload/internal/api"
	"github.com/paradigm-upload/paradigm-upload/internal/scan"
)

func rename(t *testing.T, root, from, to string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(root, to)), 0o755))
	require.NoError(t, os.Rename(filepath.Join(root, from), filepath.Join(root, to)))
}

func copyFile(t *testing.T, root, from, to string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, from))
	require.NoError(t, err)
	write(t, root, to, string(b))
}

// A folder renamed, a file renamed, a file moved across folders, a copy
// made, two identical files of which one moves: the moves keep their ids,
// nothing is uploaded or deleted for them, the copy is uploaded; the night
// after sends nothing. With a state file, and without (the listing says).
func TestMovesKeepTheirDocuments(t *testing.T) {
	for _, withState := range []bool{true, false} {
		t.Run(fmt.Sprintf("state=%v", withState), func(t *testing.T) {
			root := t.TempDir()
			for i := 0; i < 40; i++ {
				write(t, root, fmt.Sprintf("folder/f%02d.txt", i), fmt.Sprintf("file %d of the folder", i))
			}
			write(t, root, "a.txt", "a's content")
			write(t, root, "x/b.txt", "b's content")
			write(t, root, "c.txt", "c's content")
			write(t, root, "twin1/same.txt", "identical")
			write(t, root, "twin2/same.txt", "identical")
			write(t, root, "p/x.txt", "another pair")
			write(t, root, "q/y.txt", "another pair")
			stateFile := ""
			if withState {
				stateFile = filepath.Join(t.TempDir(), "state")
			}
			d := newDocs()
			syncRun(t, d, root, stateFile)
			ids := map[string]int64{}
			for k, x := range d.byKey() {
				ids[k] = x[0].id
			}
			rename(t, root, "folder", "renamed")
			rename(t, root, "a.txt", "a-renamed.txt")
			rename(t, root, "x/b.txt", "y/b.txt")
			copyFile(t, root, "c.txt", "c-copy.txt")
			rename(t, root, "twin1/same.txt", "twin3/same.txt")
			// Two documents of one content, both moved: each to the file
			// of its name, whatever the order of the paths.
			rename(t, root, "p/x.txt", "z/x.txt")
			rename(t, root, "q/y.txt", "a/y.txt")
			history := len(d.history)
			sum := syncRun(t, d, root, stateFile, func(o *Options) { o.Delete = true })
			assert.Equal(t, 45, sum.Count(Moved), "%+v %v", sum.Listed, sum.Notes)
			assert.Equal(t, 1, sum.Count(Uploaded), "the copy")
			assert.Equal(t, 0, sum.Count(Deleted))
			got := d.byKey()
			assert.Equal(t, ids["folder/f07.txt"], got["renamed/f07.txt"][0].id)
			assert.Equal(t, ids["a.txt"], got["a-renamed.txt"][0].id)
			assert.Equal(t, ids["x/b.txt"], got["y/b.txt"][0].id)
			assert.Equal(t, ids["twin1/same.txt"], got["twin3/same.txt"][0].id, "the same name first")
			assert.Equal(t, ids["twin2/same.txt"], got["twin2/same.txt"][0].id, "the twin that stayed keeps its own")
			assert.Equal(t, ids["p/x.txt"], got["z/x.txt"][0].id, "paired by name")
			assert.Equal(t, ids["q/y.txt"], got["a/y.txt"][0].id, "paired by name")
			assert.Equal(t, ids["c.txt"], got["c.txt"][0].id)
			assert.NotEqual(t, ids["c.txt"], got["c-copy.txt"][0].id, "a copy is a new document")
			assert.Equal(t, "a-renamed", titleOf(d, ids["a.txt"]), "the default title follows")
			for _, h := range d.history[history:] {
				assert.NotContains(t, h, "DELETE")
				assert.NotContains(t, h, "PATCH ", "nothing sent again")
			}
			assert.Equal(t, 1, countPrefix(d.history[history:], "POST"), "only the copy is uploaded")
			mirrors(t, d, treeOf(t, root))

			sum = syncRun(t, d, root, stateFile, func(o *Options) { o.Delete = true })
			assert.Equal(t, 48, sum.Count(AlreadyDone), "the night after sends nothing")
		})
	}
}

func titleOf(d *docs, id int64) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.byID[id].file().Title
}

func countPrefix(hs []string, p string) int {
	n := 0
	for _, h := range hs {
		if len(h) >= len(p) && h[:len(p)] == p {
			n++
		}
	}
	return n
}

// treeOf reads every file of root by key.
func treeOf(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	require.NoError(t, filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		out[filepath.ToSlash(rel)] = string(b)
		return nil
	}))
	return out
}

// A move in a dry run is said, not done.
func TestADryRunSaysWhatWouldMove(t *testing.T) {
	root := t.TempDir()
	write(t, root, "old/a.txt", "a")
	stateFile := filepath.Join(t.TempDir(), "state")
	d := newDocs()
	syncRun(t, d, root, stateFile)
	rename(t, root, "old/a.txt", "new/a.txt")
	history := len(d.history)
	sum := syncRun(t, d, root, "", func(o *Options) { o.DryRun, o.Delete = true, true })
	require.Equal(t, 1, sum.Count(WouldMove), "%+v", sum)
	assert.Equal(t, 0, sum.Count(WouldDelete))
	assert.Len(t, d.history, history)
}

// A tree half uploaded the way batch_upload_v3.py does — no external
// metadata, a stored filename renamed on a collision, the title keeping the
// name — then the tool: every such document adopted (no duplicate), the
// rest uploaded; names that two files share are settled by content, and
// what content cannot settle is uploaded and said.
func TestDocumentsUploadedBeforeTheToolAreAdopted(t *testing.T) {
	root := t.TempDir()
	files := map[string]string{}
	for i := 0; i < 10; i++ {
		files[fmt.Sprintf("docs/f%02d.txt", i)] = fmt.Sprintf("document %d", i)
	}
	files["a/report.txt"] = "report A"   // two files of one name and size,
	files["b/report.txt"] = "report B"   // both uploaded before: by content
	files["c/same.txt"] = "same content" // two files of one content,
	files["d/same.txt"] = "same content" // one document: ambiguous
	for k, c := range files {
		write(t, root, k, c)
	}
	d := newDocs()
	d.mu.Lock()
	for i := 0; i < 5; i++ { // half of the tree, by the Python script
		d.add(42, fmt.Sprintf("f%02d.txt", i), files[fmt.Sprintf("docs/f%02d.txt", i)], nil)
	}
	d.add(42, "report.txt", "report A", nil)
	d.add(42, "report_20261202_8ca6.txt", "report B", nil).title = "report" // renamed on a collision
	d.add(42, "same.txt", "same content", nil)
	d.add(42, "unrelated.pdf", "someone's", nil)
	d.mu.Unlock()

	dry := syncRun(t, d, root, "", func(o *Options) { o.DryRun = true })
	assert.Equal(t, 7, dry.Count(WouldAdopt), "said in a dry run (which reads the content it needs to compare)")

	sum := syncRun(t, d, root, "")
	assert.Equal(t, 7, sum.Count(Adopted), "%+v %v", sum.Listed, sum.Notes)
	assert.Equal(t, 7, sum.Count(Uploaded), "5 never uploaded, and the two same.txt")
	assert.Contains(t, fmt.Sprint(sum.Notes), "c/same.txt: not adopted")
	got := d.byKey()
	for k := range files {
		if k != "c/same.txt" && k != "d/same.txt" {
			require.Len(t, got[k], 1, k)
		}
	}
	assert.Equal(t, "report B", string(got["b/report.txt"][0].content), "paired by content")
	assert.Equal(t, "report A", string(got["a/report.txt"][0].content))
	assert.Equal(t, 2*8, d.count("DOWNLOAD"), "the content of the 8 documents of a file's name and size, read once a run (the dry run too)")
	// The night after: nothing sent.
	sum = syncRun(t, d, root, "")
	assert.Equal(t, len(files), sum.Count(AlreadyDone))
}

// A move that fails (the service refuses the PATCH) leaves its document
// alone: --delete never takes it in the same run.
func TestAFailedMoveDeletesNothing(t *testing.T) {
	for _, withState := range []bool{true, false} {
		root := t.TempDir()
		write(t, root, "old/a.txt", "a")
		write(t, root, "b.txt", "b")
		stateFile := ""
		if withState {
			stateFile = filepath.Join(t.TempDir(), "state")
		}
		d := newDocs()
		syncRun(t, d, root, stateFile)
		rename(t, root, "old/a.txt", "new/a.txt")
		d.fault = func(op string, _ *api.UploadRequest) error {
			if op == "UPDATE" {
				return &api.Error{StatusCode: 400, Kind: "bad_request", Detail: "no"}
			}
			return nil
		}
		sum := syncRun(t, d, root, stateFile, func(o *Options) { o.Delete = true })
		assert.Equal(t, 1, sum.Count(Failed), "state=%v", withState)
		assert.Equal(t, 0, sum.Count(Deleted), "state=%v", withState)
		assert.Len(t, d.byKey()["old/a.txt"], 1, "state=%v: the document kept", withState)
	}
}

// In a shard, a name and size are not unique proof (another shard may hold
// a file of the same name and size): the content decides.
func TestAShardAdoptsOnlyByContent(t *testing.T) {
	root := t.TempDir()
	write(t, root, "x/a.txt", "shard's own")
	d := newDocs()
	d.mu.Lock()
	other := d.add(42, "a.txt", "someone's a", nil) // same name and size, other content
	d.mu.Unlock()
	shard := scan.Shard{K: 1, N: 1}
	for k := 1; k <= 2; k++ {
		if s := (scan.Shard{K: k, N: 2}); s.Has("x/a.txt") {
			shard = s
		}
	}
	sum := syncRun(t, d, root, "", func(o *Options) { o.Shard = shard })
	assert.Equal(t, 0, sum.Count(Adopted))
	assert.Equal(t, 1, sum.Count(Uploaded))
	assert.Positive(t, d.count("DOWNLOAD"), "the content was compared")
	d.mu.Lock()
	assert.Nil(t, d.byID[other.id].ext, "the other document untouched")
	d.mu.Unlock()
}

// Many moves with a state file are confirmed by a listing of the workspace,
// which names their documents (title and tags): no request for each one
// (10,000 moves asked 10,000 GETs before, twice the requests of the night).
// A few are asked by id, once each.
func TestMovesAreConfirmedOnceByTheCheaperWay(t *testing.T) {
	for _, c := range []struct {
		files, maxGets, maxLists int
	}{{250, 0, 6}, {30, 30, 5}} {
		t.Run(fmt.Sprint(c.files), func(t *testing.T) {
			root := t.TempDir()
			for i := 0; i < c.files; i++ {
				write(t, root, fmt.Sprintf("old/f%03d.txt", i), fmt.Sprintf("file %d", i))
			}
			stateFile := filepath.Join(t.TempDir(), "state")
			d := newDocs()
			syncRun(t, d, root, stateFile)
			syncRun(t, d, root, stateFile) // a checkpoint the next night verifies
			rename(t, root, "old", "new")
			gets, lists := d.count("GET"), d.count("LIST")
			sum := syncRun(t, d, root, stateFile, func(o *Options) { o.Delete = true })
			assert.Equal(t, c.files, sum.Count(Moved), "%v", sum.Notes)
			assert.LessOrEqual(t, d.count("GET")-gets, c.maxGets, "requests for each document")
			assert.LessOrEqual(t, d.count("LIST")-lists, c.maxLists, "listing pages (the checkpoint's, the new uploads', and the confirmation's)")
			assert.Equal(t, "f007", titleOf(d, d.byKey()["new/f007.txt"][0].id), "the default title follows")
		})
	}
}

// Documents are asked about by id while that costs no more requests than a
// listing of the workspace in pages of 1,000.
func TestDocumentsAreAskedByIDWhileCheaperThanAListing(t *testing.T) {
	small, large := &runner{}, &runner{pic: picture{count: 1_000_000}}
	assert.True(t, small.byID(200))
	assert.False(t, small.byID(201), "a listing of a small workspace is cheaper")
	assert.True(t, large.byID(1001), "1,001 requests against 1,001 pages")
	assert.False(t, large.byID(1002))
}

// Files removed and others added of the same size but other contents are
// not moves: no document is asked about to pair them. With a state file,
// which knows the removed documents' contents, nothing at all is asked
// (the deletions are proven by the checkpoint); without, the listing gave
// the contents, and only the deletions are confirmed, by id (a night of
// 1,000 removals and 1,000 new files of 100 bytes made 1,000 GETs, or a
// second listing of the workspace, for no move).
func TestSameSizeIsNotAskedAbout(t *testing.T) {
	for _, c := range []struct {
		withState bool
		gets      int
	}{{true, 0}, {false, 40}} {
		t.Run(fmt.Sprintf("state=%v", c.withState), func(t *testing.T) {
			root := t.TempDir()
			for i := 0; i < 40; i++ {
				write(t, root, fmt.Sprintf("old/f%03d.txt", i), fmt.Sprintf("old file %03d", i))
			}
			stateFile := ""
			if c.withState {
				stateFile = filepath.Join(t.TempDir(), "state")
			}
			d := newDocs()
			syncRun(t, d, root, stateFile)
			syncRun(t, d, root, stateFile)
			require.NoError(t, os.RemoveAll(filepath.Join(root, "old")))
			for i := 0; i < 40; i++ {
				write(t, root, fmt.Sprintf("new/f%03d.txt", i), fmt.Sprintf("new file %03d", i)) // the same size
			}
			gets := d.count("GET")
			sum := syncRun(t, d, root, stateFile, func(o *Options) { o.Delete = true })
			assert.Zero(t, sum.Count(Moved))
			assert.Equal(t, 40, sum.Count(Uploaded))
			assert.Equal(t, 40, sum.Count(Deleted))
			assert.Equal(t, c.gets, d.count("GET")-gets, "documents asked about")
		})
	}
}
