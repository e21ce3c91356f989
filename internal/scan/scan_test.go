package scan

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNameListMatches(t *testing.T) {
	l, err := ParseNameList(" PDF, .docx,tar.gz, .DS_Store,Thumbs.db,,")
	require.NoError(t, err)
	for _, name := range []string{"a.pdf", "A.PDF", "b.Docx", "x.tar.gz", ".DS_Store", ".ds_store", "thumbs.DB"} {
		assert.True(t, l.Matches(name), name)
	}
	for _, name := range []string{"a.pdfx", "a.gz", "DS_Store.txt", "mythumbs.db.txt", "docx.txt"} {
		assert.False(t, l.Matches(name), name)
	}
	_, err = ParseNameList("pdf,a/b")
	require.Error(t, err)
	empty, err := ParseNameList("")
	require.NoError(t, err)
	assert.True(t, empty.Empty())
	assert.False(t, empty.Matches("a.pdf"))
}

func TestFilterCheck(t *testing.T) {
	inc, _ := ParseNameList("pdf,exe")
	exc, _ := ParseNameList("pdf")
	none := NameList{}
	cases := []struct {
		f    Filter
		name string
		size int64
		want Reason
	}{
		{Filter{}, "a.pdf", 10, ReasonNone},
		{Filter{}, "a.exe", 10, ReasonUnsupported},
		{Filter{}, "noext", 10, ReasonUnsupported},
		{Filter{Include: inc}, "a.exe", 10, ReasonNone}, // an explicit include overrides the supported list
		{Filter{Include: inc}, "a.txt", 10, ReasonNotIncluded},
		{Filter{Include: inc, Exclude: exc}, "a.pdf", 10, ReasonExcluded}, // exclude applies after include
		{Filter{Exclude: exc}, "a.PDF", 10, ReasonExcluded},
		{Filter{Include: none, MaxSize: 100}, "a.txt", 101, ReasonTooLarge},
		{Filter{MaxSize: 100}, "a.txt", 100, ReasonNone},
	}
	for _, tc := range cases {
		assert.Equal(t, tc.want, tc.f.Check(tc.name, tc.size), "%s %d", tc.name, tc.size)
	}
}

func TestParseSize(t *testing.T) {
	good := map[string]int64{
		"100MB": 100_000_000, "25mb": 25_000_000, "2GiB": 2 << 30, "1048576": 1048576, "1.5 GB": 1_500_000_000,
		"10KiB": 10240, "7B": 7, "0": 0, "3k": 3000, "1TiB": 1 << 40,
	}
	for in, want := range good {
		got, err := ParseSize(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, bad := range []string{"", "MB", "ten", "5XB", "-1", "1e3", "99999999999TB", "1.2.3MB"} {
		_, err := ParseSize(bad)
		assert.Error(t, err, bad)
	}
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"100MB", "2GiB", "1048576", "1.5 GB", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSize(s)
		if err == nil && n < 0 {
			t.Fatalf("ParseSize(%q) = %d", s, n)
		}
	})
}

func TestWalkStreamsInOrderWithReasons(t *testing.T) {
	root := t.TempDir()
	files := map[string]string{
		"a.pdf": "pdf", "sub/b.txt": "text", "sub/deep/c.md": "# c", "sub/x.exe": "bin", "big.txt": "0123456789",
	}
	for p, c := range files {
		require.NoError(t, os.MkdirAll(filepath.Join(root, filepath.Dir(p)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(root, p), []byte(c), 0o644))
	}
	require.NoError(t, os.Symlink(filepath.Join(root, "a.pdf"), filepath.Join(root, "link.pdf")))
	got := map[string]Reason{}
	var order []string
	err := Walk(context.Background(), root, Filter{MaxSize: 5}, func(e Entry) error {
		require.NoError(t, e.Err)
		got[e.Rel] = e.Skip
		order = append(order, e.Rel)
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, map[string]Reason{
		"a.pdf": ReasonNone, "big.txt": ReasonTooLarge, "link.pdf": ReasonSymlink,
		"sub/b.txt": ReasonNone, "sub/deep/c.md": ReasonNone, "sub/x.exe": ReasonUnsupported,
	}, got)
	assert.Equal(t, []string{"a.pdf", "big.txt", "link.pdf", "sub/b.txt", "sub/deep/c.md", "sub/x.exe"}, order)
}

func TestWalkReportsUnreadableFolder(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads every folder")
	}
	root := t.TempDir()
	locked := filepath.Join(root, "locked")
	require.NoError(t, os.Mkdir(locked, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(locked, "a.txt"), []byte("x"), 0o644))
	require.NoError(t, os.Chmod(locked, 0))
	t.Cleanup(func() { _ = os.Chmod(locked, 0o755) })
	var errs []string
	require.NoError(t, Walk(context.Background(), root, Filter{}, func(e Entry) error {
		if e.Err != nil {
			errs = append(errs, e.Rel)
		}
		return nil
	}))
	assert.Equal(t, []string{"locked"}, errs)
}

func TestCheckRoot(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, CheckRoot(dir))
	f := filepath.Join(dir, "f")
	require.NoError(t, os.WriteFile(f, nil, 0o644))
	require.ErrorIs(t, CheckRoot(f), ErrNotDir)
	require.ErrorContains(t, CheckRoot(filepath.Join(dir, "nope")), "does not exist")
}
