package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The arrived helper counts only the current content of the documents that
// still exist: it replays creates, replaces and deletes.
func TestArrivedReplaysTheManifest(t *testing.T) {
	tree := t.TempDir()
	for name, content := range map[string]string{"a.txt": "new a", "b.txt": "b"} {
		require.NoError(t, os.WriteFile(filepath.Join(tree, name), []byte(content), 0o644))
	}
	// setup writes a data dir whose manifest has these lines; each file
	// stored is {path: content}.
	setup := func(files map[string]string, lines ...string) string {
		dir := t.TempDir()
		for p, content := range files {
			require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755))
			require.NoError(t, os.WriteFile(filepath.Join(dir, p), []byte(content), 0o644))
		}
		require.NoError(t, os.WriteFile(filepath.Join(dir, "manifest.jsonl"), []byte(strings.Join(lines, "\n")+"\n"), 0o644))
		return dir
	}
	line := func(op string, id int, path, content string) string {
		sum := sha256.Sum256([]byte(content))
		return fmt.Sprintf(`{"op":%q,"id":%d,"path":%q,"sha256":%q}`, op, id, path, hex.EncodeToString(sum[:]))
	}
	files := map[string]string{"files/1/v1/a.txt": "old a", "files/1/v2/a.txt": "new a", "files/2/v1/b.txt": "b", "files/3/v1/c.txt": "c"}

	dir := setup(files,
		line("create", 1, "files/1/v1/a.txt", "old a"), line("create", 2, "files/2/v1/b.txt", "b"),
		line("create", 3, "files/3/v1/c.txt", "c"), `{"op":"update","id":2}`,
		line("replace", 1, "files/1/v2/a.txt", "new a"), `{"op":"delete","id":3}`)
	n, err := checkArrived(dir, tree, nil)
	require.NoError(t, err)
	assert.Equal(t, 2, n)

	_, err = checkArrived(setup(files, line("create", 1, "files/1/v1/a.txt", "old a"), line("create", 2, "files/2/v1/b.txt", "b")), tree, nil)
	assert.ErrorContains(t, err, "a.txt is in 0 documents", "the old content does not count")
	_, err = checkArrived(setup(files, line("create", 1, "files/1/v2/a.txt", "new a"), line("create", 2, "files/2/v1/b.txt", "b"),
		line("create", 3, "files/3/v1/c.txt", "c")), tree, nil)
	assert.ErrorContains(t, err, "not in the tree", "a document that was not deleted")
	_, err = checkArrived(setup(files, line("create", 1, "files/1/v2/a.txt", "new a"), line("create", 2, "files/2/v1/b.txt", "b"),
		line("create", 4, "files/2/v1/b.txt", "b")), tree, nil)
	assert.ErrorContains(t, err, "b.txt is in 2 documents")
	_, err = checkArrived(setup(files, line("create", 1, "files/1/v1/a.txt", "new a"), line("create", 2, "files/2/v1/b.txt", "b")), tree, nil)
	assert.ErrorContains(t, err, "does not match its hash")
	_, err = checkArrived(setup(files, line("create", 2, "files/2/v1/b.txt", "b")), tree, []string{"a.txt"})
	assert.NoError(t, err, "an exception")
}
