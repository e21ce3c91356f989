//go:build unix

// Issue 18 (--delete and replace never touch a document that is not provably ours and provably gone): TestShiftingListingDeletesNothing and TestTwoSourcesShareAWorkspaceFiveNights (item 1, the shifting listing; the two sources five times), TestNextLinkBackToPageOne and TestNextLinkToItself (item 1, looping next), TestAnItemOfAnotherWorkspace (item 1), TestReusedIDsAfterARestore (item 2), TestADuplicateIdentity (item 3), TestDroppedExternalMetadata (item 4), TestLookupFailsAfterALostAnswer (item 5), TestAStrayDSStoreMountDeletesNothing and TestMaxDeleteIsAShareOfWhatExistedBefore (item 6).

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// idsByPath keeps the document id of each path.
func idsByPath(docs map[string]fullDoc) map[string]int64 {
	out := map[string]int64{}
	for p, x := range docs {
		out[p] = x.ID
	}
	return out
}

// sameIDs asserts that every path of want still has its document.
func sameIDs(t *testing.T, want map[string]int64, got map[string]fullDoc, what string) {
	t.Helper()
	var changed []string
	for p, id := range want {
		if x, ok := got[p]; ok && x.ID != id {
			changed = append(changed, fmt.Sprintf("%s: %d → %d", p, id, x.ID))
		}
	}
	assert.Empty(t, changed, "%s: documents deleted and made again (new ids)", what)
}

// A fresh CI runner (no state file) syncs with --delete while another
// uploader adds and deletes documents as the listing is read: the pages
// shift, some documents are listed twice, some never. Nothing of ours may be
// deleted: the tree has not changed.
func TestShiftingListingDeletesNothing(t *testing.T) {
	d := startDevserver(t, "--list-churn", "5", "--max-page-size", "20")
	root := t.TempDir()
	writeDirs(t, root, 4, 30)
	code, _, _ := runArgs(t, d, time.Minute, "--files-dir", root, "--no-progress", "--state-file", filepath.Join(t.TempDir(), "s"))
	require.Equal(t, 0, code)
	before := idsByPath(mirrors(t, d, root, 42, ""))

	rep := filepath.Join(t.TempDir(), "report.json")
	var out string
	delta := statsDelta(t, d, func() {
		code, out, _ = runArgs(t, d, time.Minute, "--files-dir", root, "--no-progress", "--delete", "--report", rep)
	})
	assert.Equal(t, 0, code)
	assert.Zero(t, delta["deletes"], "documents deleted although every file exists")
	assert.Zero(t, delta["uploads"]+delta["replaces"])
	assert.Positive(t, delta["churn_created"], "the listing was shifted")
	sameIDs(t, before, mirrors(t, d, root, 42, ""), "after the sync")
	r := readReport(t, rep)
	assert.Zero(t, r.Totals.Outcomes["deleted"])
	oneOutcomeEach(t, r, "the report")
	assert.NotContains(t, out, "Deleted:      1")
}

// Two --source trees share a workspace (the README's own setup). While
// source B syncs, source A syncs with --delete and no state file (a fresh CI
// runner), and another uploader works: five nights, each with edits,
// additions and removals on both sides. Every night both sources are
// mirrored exactly, and no live document of either is lost (its id kept).
func TestTwoSourcesShareAWorkspaceFiveNights(t *testing.T) {
	d := startDevserver(t, "--list-churn", "5", "--max-page-size", "50")
	a, b := t.TempDir(), t.TempDir()
	for i := 0; i < 3; i++ {
		writeTree(t, a, fmt.Sprintf("a%d", i), "file", 100)
	}
	writeTree(t, b, "b", "file", 150)
	stateB := filepath.Join(t.TempDir(), "b.state")
	argsA := []string{"--files-dir", a, "--source", "A", "--delete", "--no-progress", "--batch-size", "4"}
	argsB := []string{"--files-dir", b, "--source", "B", "--delete", "--no-progress", "--batch-size", "2", "--state-file", stateB}
	code, _, _ := runArgs(t, d, time.Minute, argsA...)
	require.Equal(t, 0, code)
	code, _, _ = runArgs(t, d, time.Minute, argsB...)
	require.Equal(t, 0, code)
	idsA := idsByPath(mirrors(t, d, a, 42, "A"))
	idsB := idsByPath(mirrors(t, d, b, 42, "B"))

	lost := 0
	for night := 1; night <= 5; night++ {
		// A: 10 added, 5 removed, 5 edited; B: 30 added, 10 removed.
		for i := 0; i < 10; i++ {
			writeFile(t, a, fmt.Sprintf("n%d/new-%02d.txt", night, i), fmt.Sprintf("A night %d new %d", night, i))
		}
		for i := 0; i < 5; i++ {
			victim := fmt.Sprintf("a%d/file-%03d.txt", i%3, night*10+i)
			require.NoError(t, os.Remove(filepath.Join(a, victim)))
			delete(idsA, victim)
			writeFile(t, a, fmt.Sprintf("a%d/file-%03d.txt", i%3, night*10+50+i), fmt.Sprintf("A night %d edit %d", night, i))
		}
		for i := 0; i < 30; i++ {
			writeFile(t, b, fmt.Sprintf("n%d/new-%02d.txt", night, i), fmt.Sprintf("B night %d new %d", night, i))
		}
		for i := 0; i < 10; i++ {
			victim := fmt.Sprintf("b/file-%03d.txt", night*20+i)
			require.NoError(t, os.Remove(filepath.Join(b, victim)))
			delete(idsB, victim)
		}

		// B starts first and runs on while A syncs.
		rB := startUpload(t, d, argsB...)
		codeA, outA, _ := runArgs(t, d, time.Minute, argsA...)
		codeB := waitUpTo(t, rB, time.Minute)
		t.Logf("night %d, B: exit %d\n%s%s", night, codeB, rB.out.String(), rB.errOut.String())
		assert.Equal(t, 0, codeA, "night %d, A", night)
		assert.Equal(t, 0, codeB, "night %d, B", night)

		gotA, gotB := mirrors(t, d, a, 42, "A"), mirrors(t, d, b, 42, "B")
		for p, id := range idsA {
			if x, ok := gotA[p]; !ok || x.ID != id {
				lost++
			}
		}
		for p, id := range idsB {
			if x, ok := gotB[p]; !ok || x.ID != id {
				lost++
			}
		}
		sameIDs(t, idsA, gotA, fmt.Sprintf("night %d, A", night))
		sameIDs(t, idsB, gotB, fmt.Sprintf("night %d, B", night))
		if m := regexp.MustCompile(`(?m)^Deleted: +(\d+)`).FindStringSubmatch(outA); m != nil {
			t.Logf("night %d: A deleted %s (5 files removed)", night, m[1])
		}
		idsA, idsB = idsByPath(gotA), idsByPath(gotB)
	}
	assert.Zero(t, lost, "live documents lost over five nights")
}

// listedTwice uploads a tree of 40 files, then syncs it from a fresh runner
// (no state file) with --delete against a devserver whose next links loop.
func listedTwice(t *testing.T, loop string) (d *devserver, root string, before map[string]int64, code int, out string, delta map[string]int64) {
	t.Helper()
	d = startDevserver(t, "--next-loop", loop, "--max-page-size", "10")
	root = t.TempDir()
	writeTree(t, root, "d", "doc", 40)
	c, _, _ := runArgs(t, d, time.Minute, "--files-dir", root, "--no-progress", "--state-file", filepath.Join(t.TempDir(), "s"))
	require.Equal(t, 0, c)
	before = idsByPath(mirrors(t, d, root, 42, ""))
	delta = statsDelta(t, d, func() {
		var errOut string
		code, out, errOut = runArgs(t, d, 15*time.Second, "--files-dir", root, "--no-progress", "--delete")
		out += errOut
	})
	return d, root, before, code, out, delta
}

// A next link that goes back to page 1, three times: the listing repeats
// itself. It is unreadable: the run ends without deleting, exit 1, one line
// that says why.
func TestNextLinkBackToPageOne(t *testing.T) {
	d, root, before, code, out, delta := listedTwice(t, "back:3")
	assert.Equal(t, 1, code)
	assert.Zero(t, delta["deletes"], "deleted documents whose file exists")
	assert.Regexp(t, `(?i)next`, out, "one line names the looping next link")
	assert.Positive(t, delta["looped_next"])
	sameIDs(t, before, mirrors(t, d, root, 42, ""), "after the sync")
}

// A next link to the page itself, for ever: the run stops the listing as
// unreadable at once (it does not go on for an hour), deletes nothing,
// exit 1.
func TestNextLinkToItself(t *testing.T) {
	d, root, before, code, out, delta := listedTwice(t, "self")
	assert.Equal(t, 1, code, "ends, as unreadable")
	assert.Zero(t, delta["deletes"])
	assert.Less(t, delta["requests"], int64(50), "stops at the first repeat, not after thousands of pages")
	assert.Regexp(t, `(?i)next`, out)
	sameIDs(t, before, mirrors(t, d, root, 42, ""), "after the sync")
}

// A server that ignores the workspace_id filter lists the documents of
// workspace 7 while the tool syncs workspace 42: they are not ours to
// judge, and none is deleted.
func TestAnItemOfAnotherWorkspace(t *testing.T) {
	d := startDevserver(t, "--workspace", "7:Other", "--workspace", "42:Main", "--ignore-workspace-filter")
	x, y := t.TempDir(), t.TempDir()
	writeTree(t, x, "x", "other", 2)
	writeTree(t, y, "y", "mine", 20)
	code, _, _ := runArgs(t, d, time.Minute, "--files-dir", x, "--workspace-id", "7", "--no-progress",
		"--state-file", filepath.Join(t.TempDir(), "x.state"))
	require.Equal(t, 0, code)
	code, _, _ = runArgs(t, d, time.Minute, "--files-dir", y, "--no-progress", "--state-file", filepath.Join(t.TempDir(), "y.state"))
	require.Equal(t, 0, code)
	inSeven := idsByPath(mirrors(t, d, x, 7, ""))
	mine := idsByPath(mirrors(t, d, y, 42, ""))

	var out, errOut string
	delta := statsDelta(t, d, func() {
		code, out, errOut = runArgs(t, d, time.Minute, "--files-dir", y, "--no-progress", "--delete")
	})
	assert.Zero(t, delta["deletes"], "documents of workspace 7 deleted by a sync of workspace 42")
	assert.Zero(t, delta["uploads"]+delta["replaces"]+delta["patches"])
	sameIDs(t, inSeven, mirrors(t, d, x, 7, ""), "workspace 7")
	sameIDs(t, mine, mirrors(t, d, y, 42, ""), "workspace 42")
	assert.Contains(t, []int{0, 1}, code)
	assert.Regexp(t, `(?i)(another|other|wrong|foreign) workspace|workspace 7`, out+errOut,
		"one line says the listing held another workspace's documents")
}

// An instance restored from a backup: the documents the state file names
// are gone, and a colleague's uploads took their ids. A night with 3
// removals and 1 edit must delete and overwrite none of the colleague's
// documents, and must not call "already done" a file the instance no
// longer has.
func TestReusedIDsAfterARestore(t *testing.T) {
	d := startDevserver(t)
	admin(t, d, "/_devserver/snapshot")
	root := t.TempDir()
	files := writeTree(t, root, "d", "doc", 20)
	state := filepath.Join(t.TempDir(), "state.json")
	args := []string{"--files-dir", root, "--no-progress", "--state-file", state, "--delete"}
	code, _, _ := runArgs(t, d, time.Minute, args...)
	require.Equal(t, 0, code)
	ours := mirrors(t, d, root, 42, "")

	admin(t, d, "/_devserver/restore")
	colleague := map[int64]fullDoc{}
	for i := 0; i < 20; i++ {
		x := seedDoc(t, d, map[string]any{"workspace_id": 42, "filename": fmt.Sprintf("colleague-%02d.txt", i),
			"content": fmt.Sprintf("a colleague's document %d", i)})
		colleague[x.ID] = x
	}
	reused := 0
	for _, x := range ours {
		if _, ok := colleague[x.ID]; ok {
			reused++
		}
	}
	require.Equal(t, 20, reused, "the colleague's documents took our ids")

	for _, rel := range files[:3] {
		require.NoError(t, os.Remove(filepath.Join(root, rel)))
	}
	writeFile(t, root, files[3], "edited after the restore")
	rep := filepath.Join(t.TempDir(), "report.json")
	delta := statsDelta(t, d, func() {
		code, _, _ = runArgs(t, d, time.Minute, append(args, "--report", rep)...)
	})
	now := docsByID(d.allDocs(t))
	var deleted, overwritten []int64
	for id, x := range colleague {
		got, ok := now[id]
		switch {
		case !ok:
			deleted = append(deleted, id)
		case got.SHA256 != x.SHA256 || got.Versions != 1 || got.ExternalMetadata != nil:
			overwritten = append(overwritten, id)
		}
	}
	assert.Empty(t, deleted, "a colleague's documents deleted")
	assert.Empty(t, overwritten, "a colleague's documents overwritten or re-keyed")
	assert.Zero(t, delta["deletes"]+delta["replaces"]+delta["patches"])
	mirrors(t, d, root, 42, "")
	r := readReport(t, rep)
	assert.Zero(t, r.Totals.Outcomes["already_done"], "files absent from the instance reported already done")
	assert.Equal(t, 17, r.Totals.Outcomes["uploaded"], "the files the instance lost, uploaded again")
	assert.Equal(t, 0, code)
}

// Someone else made a second document carrying one of our external ids
// (and our metadata): with the state file, the edit goes to the document
// the state names; without it, neither document is guessed at, deleted or
// overwritten, the file has one outcome, and the summary names the clash.
func TestADuplicateIdentity(t *testing.T) {
	d := startDevserver(t)
	root := t.TempDir()
	writeTree(t, root, "d", "doc", 9)
	writeFile(t, root, "a.txt", "a, version 1")
	state := filepath.Join(t.TempDir(), "state.json")
	code, _, _ := runArgs(t, d, time.Minute, "--files-dir", root, "--no-progress", "--state-file", state)
	require.Equal(t, 0, code)
	own := mirrors(t, d, root, 42, "")["a.txt"]
	foreign := seedDoc(t, d, map[string]any{"workspace_id": 42, "filename": "copy-of-a.txt", "content": "someone else's copy",
		"external_metadata": map[string]any{"external_id": own.ExternalMetadata.ExternalID,
			"additional_metadata": own.ExternalMetadata.AdditionalMetadata}})

	check := func(night string, rep string) reportFile {
		t.Helper()
		now := docsByID(d.allDocs(t))
		got, ok := now[foreign.ID]
		if assert.True(t, ok, "%s: the foreign document deleted", night) {
			assert.Equal(t, foreign.SHA256, got.SHA256, "%s: the foreign document overwritten", night)
			assert.Equal(t, 1, got.Versions, "%s: the foreign document overwritten", night)
		}
		_, ok = now[own.ID]
		assert.True(t, ok, "%s: our own document deleted", night)
		r := readReport(t, rep)
		assert.Len(t, r.outcomesOf()["a.txt"], 1, "%s: a.txt has one outcome", night)
		assert.Zero(t, r.Totals.Outcomes["deleted"], night)
		return r
	}

	// With the state file: the edit replaces our document, the one it names.
	writeFile(t, root, "a.txt", "a, version 2")
	rep := filepath.Join(t.TempDir(), "night2.json")
	delta := statsDelta(t, d, func() {
		code, _, _ = runArgs(t, d, time.Minute, "--files-dir", root, "--no-progress", "--state-file", state, "--delete", "--report", rep)
	})
	assert.Equal(t, 0, code)
	check("with the state file", rep)
	assert.Equal(t, sha([]byte("a, version 2")), docsByID(d.allDocs(t))[own.ID].SHA256, "the edit lands on our document")
	assert.Zero(t, delta["deletes"])

	// A fresh runner: the listing shows both documents with one identity.
	rep = filepath.Join(t.TempDir(), "night3.json")
	var out, errOut string
	delta = statsDelta(t, d, func() {
		code, out, errOut = runArgs(t, d, time.Minute, "--files-dir", root, "--no-progress", "--delete", "--report", rep)
	})
	check("without the state file", rep)
	assert.Zero(t, delta["deletes"]+delta["replaces"])
	assert.Equal(t, sha([]byte("a, version 2")), docsByID(d.allDocs(t))[own.ID].SHA256)
	assert.Regexp(t, `(?i)duplicate|two documents|2 documents|same (external )?id|one identity`, out+errOut,
		"the summary names the two documents with one identity")
	assert.Contains(t, []int{0, 1}, code)
}

// An instance that silently drops external_metadata: the first upload's
// answer shows none. The run stops before a second upload, exit 2, with one
// line that says so and what --no-external-id then means; a run without a
// state file does not upload the tree again.
func TestDroppedExternalMetadata(t *testing.T) {
	d := startDevserver(t, "--drop-external-metadata")
	root := t.TempDir()
	writeTree(t, root, "d", "doc", 10)
	for night := 1; night <= 2; night++ {
		var code int
		var out, errOut string
		delta := statsDelta(t, d, func() {
			code, out, errOut = runArgs(t, d, time.Minute, "--files-dir", root, "--no-progress")
		})
		assert.Equal(t, 2, code, "night %d", night)
		assert.LessOrEqual(t, delta["uploads"], int64(1), "night %d: stopped before a second upload", night)
		assert.Regexp(t, `(?i)external.metadata`, out+errOut, "night %d", night)
		assert.Contains(t, out+errOut, "--no-external-id", "night %d: says what --no-external-id means", night)
	}
	assert.LessOrEqual(t, d.stats(t)["documents"], int64(2))
}

// An upload's answer is lost (the connection drops after the document is
// stored), and asking the service about it fails (500, or 400): the file is
// not sent again in this run. The next run asks again, and finds it.
func TestLookupFailsAfterALostAnswer(t *testing.T) {
	for _, status := range []int{500, 400} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			d := startDevserver(t)
			p := newFaultProxy(t, d, faults{DropFirstUploadAnswer: true, FailLookups: status})
			root := t.TempDir()
			writeFile(t, root, "only.txt", "the only file")
			state := filepath.Join(t.TempDir(), "state.json")
			rep := filepath.Join(t.TempDir(), "report.json")
			code, _, _ := runArgs(t, p.devserver, time.Minute, "--files-dir", root, "--no-progress", "--state-file", state,
				"--report", rep, "--retries", "2")
			st := d.stats(t)
			assert.Equal(t, int64(1), p.droppedAnswers.Load())
			assert.Equal(t, int64(1), p.uploads.Load(), "sent again blindly after the lookup failed")
			assert.Equal(t, int64(1), st["uploads"])
			assert.Zero(t, st["idempotent_hits"], "sent again blindly")
			assert.GreaterOrEqual(t, code, 0)
			assert.NotEqual(t, 2, code)
			r := readReport(t, rep)
			assert.Equal(t, []string{"interrupted"}, r.outcomesOf()["only.txt"], "unknown, for the next run to ask")

			p.off.Store(true) // the service answers again
			delta := statsDelta(t, d, func() {
				code, _, _ = runArgs(t, p.devserver, time.Minute, "--files-dir", root, "--no-progress", "--state-file", state)
			})
			assert.Equal(t, 0, code)
			assert.Equal(t, int64(1), d.stats(t)["documents"])
			assert.Zero(t, delta["uploads"]+delta["idempotent_hits"], "the next run asks before sending")
		})
	}
}

// A mount point that lost its share but holds a .DS_Store (or only files the
// filters skip) is an empty tree: --delete, even with --max-delete all,
// deletes nothing.
func TestAStrayDSStoreMountDeletesNothing(t *testing.T) {
	cases := []struct {
		name  string
		files []string
		args  []string
		codes []int
	}{
		{"a .DS_Store, --allow-empty", []string{".DS_Store"}, []string{"--allow-empty"}, []int{0}},
		{"a .DS_Store", []string{".DS_Store"}, nil, []int{0, 2}},
		{"files the filters skip", []string{"Thumbs.db", "notes.tmp", "setup.exe"}, []string{"--exclude-extensions", "tmp"}, []int{0, 2}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := startDevserver(t)
			root := t.TempDir()
			writeTree(t, root, "d", "doc", 30)
			state := filepath.Join(t.TempDir(), "state.json")
			code, _, _ := runArgs(t, d, time.Minute, "--files-dir", root, "--no-progress", "--state-file", state, "--delete")
			require.Equal(t, 0, code)
			before := idsByPath(mirrors(t, d, root, 42, ""))

			mount := t.TempDir()
			for _, f := range tc.files {
				writeFile(t, mount, f, "junk")
			}
			var out string
			delta := statsDelta(t, d, func() {
				code, out, _ = runArgs(t, d, time.Minute, append([]string{"--files-dir", mount, "--no-progress", "--state-file", state,
					"--delete", "--max-delete", "all"}, tc.args...)...)
			})
			assert.Contains(t, tc.codes, code)
			assert.Zero(t, delta["deletes"], "the source's documents deleted for an unmounted share")
			assert.NotContains(t, out, "Deleted:      30")
			sameIDs(t, before, mirrors(t, d, root, 42, ""), tc.name)
		})
	}
}

// --max-delete is a share of the documents of the source that existed
// before the run: replacing 30 of 100 files by 30 others is 30% of them,
// over the default 25%, however many this run uploads. Refused: exit 2,
// nothing deleted.
func TestMaxDeleteIsAShareOfWhatExistedBefore(t *testing.T) {
	d := startDevserver(t)
	root := t.TempDir()
	files := writeDirs(t, root, 4, 25)
	state := filepath.Join(t.TempDir(), "state.json")
	args := []string{"--files-dir", root, "--no-progress", "--state-file", state, "--delete"}
	code, _, _ := runArgs(t, d, time.Minute, args...)
	require.Equal(t, 0, code)
	before := idsByPath(mirrors(t, d, root, 42, ""))
	for i, rel := range files[:30] {
		require.NoError(t, os.Remove(filepath.Join(root, rel)))
		writeFile(t, root, fmt.Sprintf("reorganised/new-%02d.txt", i), fmt.Sprintf("a new file %d", i))
	}
	var out, errOut string
	delta := statsDelta(t, d, func() {
		code, out, errOut = runArgs(t, d, time.Minute, args...)
	})
	assert.Equal(t, 2, code, "refused by --max-delete")
	assert.Zero(t, delta["deletes"], "30% of the source deleted under a 25% --max-delete")
	assert.Contains(t, out+errOut, "--max-delete")
	now := sourceDocs(t, d, 42, "")
	kept := 0
	for p, id := range before {
		if x, ok := now[p]; ok && x.ID == id {
			kept++
		}
	}
	assert.Equal(t, 100, kept, "every document that existed before the run")
}
