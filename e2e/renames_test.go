//go:build unix

// Issue 20 (a moved or renamed file keeps its document): TestMovesKeepTheirDocuments covers its e2e acceptance — a folder of 40 files renamed, a file renamed, a file moved across folders, a copy made, two identical files where one moves — with and without a state file, the dry run's "would move", and the night after.

package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMovesKeepTheirDocuments(t *testing.T) {
	for _, withState := range []bool{true, false} {
		name := map[bool]string{true: "with a state file", false: "without a state file"}[withState]
		t.Run(name, func(t *testing.T) {
			d := startDevserver(t)
			root := t.TempDir()
			writeTree(t, root, "old", "doc", 40)
			writeFile(t, root, "r1.txt", "a file to rename")
			writeFile(t, root, "sub1/m.txt", "a file to move across folders")
			writeFile(t, root, "cpsrc.txt", "a file to copy")
			writeFile(t, root, "x1/same.txt", "two identical files")
			writeFile(t, root, "x2/same.txt", "two identical files")
			state := filepath.Join(t.TempDir(), "state.json")
			code, _, _ := runArgs(t, d, time.Minute, "--files-dir", root, "--no-progress", "--state-file", state, "--delete")
			require.Equal(t, 0, code)
			before := idsByPath(mirrors(t, d, root, 42, ""))

			// The night's reorganisation.
			require.NoError(t, os.Rename(filepath.Join(root, "old"), filepath.Join(root, "new")))
			require.NoError(t, os.Rename(filepath.Join(root, "r1.txt"), filepath.Join(root, "r1-renamed.txt")))
			require.NoError(t, os.MkdirAll(filepath.Join(root, "sub2"), 0o755))
			require.NoError(t, os.Rename(filepath.Join(root, "sub1/m.txt"), filepath.Join(root, "sub2/m.txt")))
			b, err := os.ReadFile(filepath.Join(root, "cpsrc.txt"))
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(filepath.Join(root, "cpdst.txt"), b, 0o644))
			require.NoError(t, os.MkdirAll(filepath.Join(root, "x3"), 0o755))
			require.NoError(t, os.Rename(filepath.Join(root, "x2/same.txt"), filepath.Join(root, "x3/same.txt")))
			moves := map[string]string{ // new path → old path
				"r1-renamed.txt": "r1.txt", "sub2/m.txt": "sub1/m.txt", "x3/same.txt": "x2/same.txt",
			}
			for p := range before {
				if rest, ok := strings.CutPrefix(p, "old/"); ok {
					moves["new/"+rest] = p
				}
			}
			require.Len(t, moves, 43)

			args := []string{"--files-dir", root, "--no-progress", "--delete"}
			if withState {
				args = append(args, "--state-file", state)
			}
			code, out, delta := night(t, d, append(args, "--dry-run")...)
			assert.Equal(t, 0, code)
			assert.Zero(t, delta["uploads"]+delta["patches"]+delta["deletes"], "a dry run sends nothing")
			assert.Regexp(t, `(?m)^.*would move.*\br1\.txt\b.*\br1-renamed\.txt\b`, out, "the dry run prints would move OLD → NEW")

			rep := filepath.Join(t.TempDir(), "report.json")
			code, out, delta = night(t, d, append(args, "--report", rep)...)
			assert.Equal(t, 0, code)
			assert.Equal(t, int64(1), delta["uploads"], "only the copy is uploaded\n%s", out)
			assert.Zero(t, delta["deletes"], "a move is not a delete")
			assert.Zero(t, delta["replaces"], "nothing sent again, nothing re-processed")
			now := mirrors(t, d, root, 42, "")
			var lost []string
			for to, from := range moves {
				if now[to].ID != before[from] {
					lost = append(lost, from+" → "+to)
				}
				assert.Equal(t, 1, now[to].Versions, "%s: re-processed", to)
			}
			assert.Empty(t, lost, "moves that did not keep their document")
			assert.Equal(t, before["x1/same.txt"], now["x1/same.txt"].ID, "the twin that stayed keeps its own document")
			assert.Equal(t, before["cpsrc.txt"], now["cpsrc.txt"].ID, "a copy is not a move")
			assert.NotEqual(t, before["cpsrc.txt"], now["cpdst.txt"].ID)
			assert.Equal(t, "r1-renamed", now["r1-renamed.txt"].Title, "the default title follows the name")

			r := readReport(t, rep)
			assert.Equal(t, 43, r.Totals.Outcomes["moved"])
			oneOutcomeEach(t, r, "the report")
			from := map[string]string{}
			for _, f := range r.Files {
				if f.Outcome == "moved" {
					from[f.Path] = f.From
				}
			}
			assert.Equal(t, moves, from, "each move's old path, in the report")

			code, _, delta = night(t, d, args...)
			assert.Equal(t, 0, code)
			assert.Zero(t, delta["uploads"]+delta["patches"]+delta["replaces"]+delta["deletes"], "the night after sends nothing")
		})
	}
}
