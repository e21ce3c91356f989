//go:build unix

// Issue 19 (the service is the truth: every night converges): TestLostStateThenANightOfChanges (acceptance a; items 1, 2), TestTwoMachinesOneFolder (acceptance b; item 2), TestSomeoneElseChangesTheWorkspace (acceptance c; item 2), TestAdoptWhatIsAlreadyThere (acceptance d; item 3), TestOldPatchSchemaEditsStillLand (acceptance e; item 4).

package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// night runs one nightly sync and returns its exit code, output and the
// devserver's counters moved.
func night(t *testing.T, d *devserver, args ...string) (int, string, map[string]int64) {
	t.Helper()
	var code int
	var out, errOut string
	delta := statsDelta(t, d, func() {
		code, out, errOut = runArgs(t, d, time.Minute, args...)
	})
	return code, out + errOut, delta
}

// A night without a usable state file lists the workspace and settles every
// file from it (here it also acts on a few); the state file it leaves knows
// every file. The next night,
// with 20 removals and 5 edits, costs exactly those: 5 replacements, 20
// deletions, nothing sent for the other files.
func TestLostStateThenANightOfChanges(t *testing.T) {
	d := startDevserver(t)
	root := t.TempDir()
	files := writeDirs(t, root, 4, 25)
	state := filepath.Join(t.TempDir(), "state.json")
	args := []string{"--files-dir", root, "--no-progress", "--state-file", state, "--delete"}
	code, _, delta := night(t, d, args...)
	require.Equal(t, 0, code)
	require.Equal(t, int64(100), delta["uploads"])
	ids := idsByPath(mirrors(t, d, root, 42, ""))

	// A lost state file, on a night when 10 files were only touched and 2
	// edited: the run acts on those 12, and settles the 88 others from the
	// listing.
	require.NoError(t, os.Remove(state))
	for _, rel := range files[80:90] {
		touchFile(t, root, rel, time.Hour)
	}
	for _, rel := range files[90:92] {
		writeFile(t, root, rel, "edited on the night the state was lost: "+rel)
	}
	code, _, delta = night(t, d, args...)
	assert.Equal(t, 0, code)
	assert.Equal(t, int64(2), delta["replaces"])
	assert.Zero(t, delta["uploads"]+delta["deletes"]+delta["idempotent_hits"], "the night without a state file: %v", delta)

	for _, rel := range files[:20] {
		require.NoError(t, os.Remove(filepath.Join(root, rel)))
		delete(ids, rel)
	}
	for _, rel := range files[20:25] {
		writeFile(t, root, rel, "edited: "+rel)
	}
	rep := filepath.Join(t.TempDir(), "report.json")
	code, out, delta := night(t, d, append(args, "--report", rep)...)
	assert.Equal(t, 0, code)
	assert.Equal(t, int64(5), delta["replaces"], "the 5 edits, replaced")
	assert.Equal(t, int64(20), delta["deletes"], "the 20 removals, deleted")
	assert.Zero(t, delta["uploads"], "files the state file should know, uploaded again")
	assert.Zero(t, delta["idempotent_hits"], "files the state file should know, sent again (the service recognised them)")
	assert.LessOrEqual(t, delta["requests"], int64(5+1+10),
		"5 replacements, one bulk delete and a small constant: no request per unchanged file\n%s", out)
	sameIDs(t, ids, mirrors(t, d, root, 42, ""), "after the night of changes")
	r := readReport(t, rep)
	assert.Equal(t, 5, r.Totals.Outcomes["replaced"])
	assert.Equal(t, 20, r.Totals.Outcomes["deleted"])
	assert.Zero(t, r.Totals.Outcomes["uploaded"]+r.Totals.Outcomes["already_on_service"])
}

// Two copies of one folder, two state files, one --source, alternating
// nights (a failover pair): each night brings edits, touches, deletions,
// additions, and once a file restored from a backup with its old
// modification time. Every night the workspace mirrors the folder exactly,
// and each change is paid once, by the night it happens.
func TestTwoMachinesOneFolder(t *testing.T) {
	d := startDevserver(t)
	truth := t.TempDir() // the folder as it is, which each machine's copy follows
	copies := map[string]string{"X": t.TempDir(), "Y": t.TempDir()}
	states := map[string]string{"X": filepath.Join(t.TempDir(), "x.state"), "Y": filepath.Join(t.TempDir(), "y.state")}
	writeTree(t, truth, "d", "f", 40)
	f := func(i int) string { return fmt.Sprintf("d/f-%03d.txt", i) }
	edit := func(i int, what string) {
		writeFile(t, truth, f(i), "edited "+what)
		touchFile(t, truth, f(i), time.Duration(i)*time.Hour)
	}
	remove := func(i int) { require.NoError(t, os.Remove(filepath.Join(truth, f(i)))) }
	add := func(name string) { writeFile(t, truth, "added/"+name+".txt", "added "+name) }
	// The backup of f-001, before it is edited.
	backup, err := os.ReadFile(filepath.Join(truth, f(1)))
	require.NoError(t, err)
	backupInfo, err := os.Stat(filepath.Join(truth, f(1)))
	require.NoError(t, err)

	type expect struct{ uploads, replaces, deletes int64 }
	nights := []struct {
		machine string
		change  func()
		want    expect
	}{
		{"X", func() {}, expect{40, 0, 0}},
		{"Y", func() { edit(1, "once"); edit(2, "once"); add("a1"); add("a2") }, expect{2, 2, 0}},
		{"X", func() {
			p := filepath.Join(truth, f(1)) // restored from the backup, with its old time
			require.NoError(t, os.WriteFile(p, backup, 0o644))
			require.NoError(t, os.Chtimes(p, backupInfo.ModTime(), backupInfo.ModTime()))
			remove(10)
			remove(11)
			touchFile(t, truth, f(20), 2*time.Hour)
		}, expect{0, 1, 2}},
		{"Y", func() { edit(3, "once"); add("a3"); remove(12) }, expect{1, 1, 1}},
		{"X", func() { touchFile(t, truth, f(21), 3*time.Hour); edit(4, "once") }, expect{0, 1, 0}},
		{"Y", func() { add("a4"); remove(13) }, expect{1, 0, 1}},
	}
	for i, n := range nights {
		n.change()
		syncTree(t, truth, copies[n.machine])
		code, out, delta := night(t, d, "--files-dir", copies[n.machine], "--source", "shared", "--state-file", states[n.machine],
			"--delete", "--no-progress")
		what := fmt.Sprintf("night %d (machine %s)", i+1, n.machine)
		assert.Equal(t, 0, code, what)
		got := expect{delta["uploads"], delta["replaces"], delta["deletes"]}
		assert.Equal(t, n.want, got, "%s: uploads, replacements, deletions\n%s", what, out)
		assert.Zero(t, delta["idempotent_hits"], "%s: files sent again that the service had", what)
		t.Logf("%s: %v", what, got)
		mirrors(t, d, truth, 42, "shared")
	}
}

// Between two nights a person deletes 5 documents and edits the metadata
// of 5 others through the API (3 lose the tag this tool applies, 2 their
// recorded version). The next night, with its state file, restores them.
func TestSomeoneElseChangesTheWorkspace(t *testing.T) {
	d := startDevserver(t)
	root := t.TempDir()
	files := writeTree(t, root, "d", "doc", 30)
	state := filepath.Join(t.TempDir(), "state.json")
	args := []string{"--files-dir", root, "--no-progress", "--state-file", state, "--delete", "--tags", "3"}
	code, _, _ := night(t, d, args...)
	require.Equal(t, 0, code)
	docs := mirrors(t, d, root, 42, "")

	for _, rel := range files[:5] {
		api(t, d, http.MethodDelete, fmt.Sprintf("/api/v3/files/%d", docs[rel].ID), "", nil)
	}
	for _, rel := range files[5:8] {
		patchForm(t, d, docs[rel].ID, url.Values{"tags": {"0"}})
	}
	for _, rel := range files[8:10] {
		patchForm(t, d, docs[rel].ID, url.Values{"external_metadata": {`{"additional_metadata":{"sha256":null,"mtime":"2000-01-01T00:00:00Z","size":"1"}}`}})
	}

	code, out, delta := night(t, d, args...)
	assert.Equal(t, 0, code)
	assert.Equal(t, int64(5), delta["uploads"], "the 5 documents a person deleted, uploaded again\n%s", out)
	now := mirrors(t, d, root, 42, "")
	sums := treeSums(t, root)
	for _, rel := range files[5:8] {
		assert.Contains(t, now[rel].Tags, int64(3), "%s: the tag this tool applies, restored", rel)
	}
	for _, rel := range files[8:10] {
		assert.Equal(t, sums[rel], now[rel].meta("sha256"), "%s: the version the document holds, written again", rel)
		assert.Equal(t, docs[rel].meta("mtime"), now[rel].meta("mtime"), "%s", rel)
	}
	for _, rel := range files[5:] {
		assert.Equal(t, docs[rel].ID, now[rel].ID, "%s: kept its document", rel)
	}
}

// Half a tree uploaded the way batch_upload_v3.py does it (or the web
// interface): documents without external metadata, titled by the file
// name, some stored under a renamed file name. The tool adopts each in
// place — same id, our identity written to it — and uploads only the rest:
// no duplicate. A name it cannot decide (two documents that could be the
// one file) is not guessed: the file is uploaded, and the summary says why.
// The dry run says what would be adopted; the next night sends nothing.
func TestAdoptWhatIsAlreadyThere(t *testing.T) {
	d := startDevserver(t)
	root := t.TempDir()
	var adoptable []string
	for _, dir := range []string{"alpha", "beta", "gamma"} {
		adoptable = append(adoptable, writeTree(t, root, dir, dir, 10)[:5]...)
	}
	writeFile(t, root, "a/notes.txt", "short notes")
	writeFile(t, root, "b/notes.txt", "the longer notes of folder b")
	adoptable = append(adoptable, "a/notes.txt", "b/notes.txt")
	writeFile(t, root, "dup.txt", "uploaded twice by the script")
	sums := treeSums(t, root)

	seeded := map[string]int64{}
	for _, rel := range adoptable {
		b, err := os.ReadFile(filepath.Join(root, rel))
		require.NoError(t, err)
		x := seedDoc(t, d, map[string]any{"workspace_id": 42, "filename": filepath.Base(rel), "content": string(b)})
		seeded[rel] = x.ID
	}
	for i := 0; i < 2; i++ {
		seedDoc(t, d, map[string]any{"workspace_id": 42, "filename": "dup.txt", "content": "uploaded twice by the script"})
	}
	renamed := 0
	for _, x := range d.allDocs(t) {
		if strings.Contains(x.Filename, "_") {
			renamed++
		}
	}
	require.Equal(t, 2, renamed, "the service renamed the second notes.txt and the second dup.txt")

	code, out, delta := night(t, d, "--files-dir", root, "--no-progress", "--dry-run", "--delete")
	assert.Equal(t, 0, code)
	assert.Zero(t, delta["uploads"]+delta["patches"]+delta["deletes"])
	assert.Regexp(t, `(?i)adopt`, out, "the dry run says what would be adopted")

	rep := filepath.Join(t.TempDir(), "report.json")
	state := filepath.Join(t.TempDir(), "state.json")
	args := []string{"--files-dir", root, "--no-progress", "--delete", "--state-file", state}
	code, out, delta = night(t, d, append(args, "--report", rep)...)
	assert.Equal(t, 0, code)
	assert.Equal(t, int64(len(sums)-len(adoptable)), delta["uploads"], "only the files without a document (and the ambiguous one) uploaded")
	assert.Zero(t, delta["deletes"])
	ours := mirrors(t, d, root, 42, "")
	var notAdopted []string
	for _, rel := range adoptable {
		if ours[rel].ID != seeded[rel] {
			notAdopted = append(notAdopted, fmt.Sprintf("%s: %d → %d", rel, seeded[rel], ours[rel].ID))
		}
	}
	assert.Empty(t, notAdopted, "documents already there not adopted in place (a new document instead)")
	total := len(d.allDocs(t)) // a count: a failure would print every document
	assert.Equal(t, len(sums)+2, total, "no duplicate: one document per file, and the two the script made of dup.txt")
	r := readReport(t, rep)
	assert.Equal(t, len(adoptable), r.Totals.Outcomes["adopted"])
	oneOutcomeEach(t, r, "the report")
	assert.Regexp(t, `(?i)ambiguous|more than one|two documents|2 documents`, out, "the summary says why dup.txt was uploaded")

	code, _, delta = night(t, d, args...)
	assert.Equal(t, 0, code)
	assert.Zero(t, delta["uploads"]+delta["patches"]+delta["replaces"]+delta["deletes"], "the next night sends nothing")
}

// An instance whose PATCH refuses a file with 400 (the older schema): the
// edits still land — by upload-then-delete with the identity carried over —
// and no document is doubled.
func TestOldPatchSchemaEditsStillLand(t *testing.T) {
	d := startDevserver(t, "--old-patch-schema")
	root := t.TempDir()
	files := writeTree(t, root, "d", "doc", 10)
	state := filepath.Join(t.TempDir(), "state.json")
	args := []string{"--files-dir", root, "--no-progress", "--state-file", state, "--delete"}
	code, _, _ := night(t, d, args...)
	require.Equal(t, 0, code)
	for _, rel := range files[:3] {
		writeFile(t, root, rel, "edited "+rel)
	}
	code, out, _ := night(t, d, args...)
	assert.Equal(t, 0, code, "the edits land\n%s", out)
	mirrors(t, d, root, 42, "")
	total := len(d.allDocs(t)) // a count: a failure would print every document
	assert.Equal(t, 10, total, "no document doubled")
	code, _, delta := night(t, d, args...)
	assert.Equal(t, 0, code)
	assert.Zero(t, delta["uploads"]+delta["patches"]+delta["deletes"], "the night after sends nothing")
}
