package scan

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

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

func TestCheckRoot(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, CheckRoot(dir))
	f := filepath.Join(dir, "f")
	require.NoError(t, os.WriteFile(f, nil, 0o644))
	require.ErrorIs(t, CheckRoot(f), ErrNotDir)
	require.ErrorContains(t, CheckRoot(filepath.Join(dir, "nope")), "does not exist")
}

func TestGlobs(t *testing.T) {
	cases := []struct {
		pattern string
		yes     []string
		no      []string
	}{
		{"*.pdf", []string{"a.pdf", "x/y/a.pdf"}, []string{"a.pdfx", "pdf/a.txt"}},
		{"~$*", []string{"~$draft.docx", "a/~$x"}, []string{"draft.docx"}},
		{"archive/**", []string{"archive/a.pdf", "archive/2020/b.pdf"}, []string{"archive.pdf", "x/archive/a.pdf"}},
		{"**/drafts/*.docx", []string{"drafts/a.docx", "x/y/drafts/a.docx"}, []string{"drafts/sub/a.docx", "x/drafts.docx"}},
		{"reports/**/*.pdf", []string{"reports/a.pdf", "reports/2024/q1/a.pdf"}, []string{"reports/a.txt", "other/reports/a.pdf"}},
		{"./docs/*.md", []string{"docs/a.md"}, []string{"docs/x/a.md", "a.md"}},
	}
	for _, tc := range cases {
		g, err := ParseGlob(tc.pattern)
		require.NoError(t, err, tc.pattern)
		for _, p := range tc.yes {
			assert.True(t, g.Match(p), "%s should match %s", tc.pattern, p)
		}
		for _, p := range tc.no {
			assert.False(t, g.Match(p), "%s should not match %s", tc.pattern, p)
		}
	}
	_, err := ParseGlob("a/[")
	assert.Error(t, err)
	gs, err := ParseGlobs([]string{"*.tmp,*.bak", "cache/**"})
	require.NoError(t, err)
	assert.Len(t, gs, 3)
	assert.True(t, gs.Match("cache/x.pdf"))
	assert.True(t, gs.Match("a/b.bak"))
}

func TestCheckFileOrderAndReasons(t *testing.T) {
	exc, _ := ParseGlobs([]string{"drafts/**"})
	inc, _ := ParseGlobs([]string{"**/*.pdf", "drafts/**"})
	cutoff := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	f := Filter{ExcludeGlobs: exc, IncludeGlobs: inc, MinSize: 10, MaxSize: 1000, NewerThan: cutoff}
	recent := cutoff.Add(time.Hour)
	cases := []struct {
		rel   string
		size  int64
		mtime time.Time
		want  Reason
	}{
		{"drafts/a.pdf", 100, recent, ReasonGlobExclude}, // --exclude wins over --include
		{"notes/a.txt", 100, recent, ReasonGlobInclude},
		{"a/b.pdf", 5, recent, ReasonTooSmall},
		{"a/b.pdf", 5000, recent, ReasonTooLarge},
		{"a/b.pdf", 100, cutoff, ReasonTooOld},
		{"a/b.pdf", 100, recent, ReasonNone},
	}
	for _, tc := range cases {
		assert.Equal(t, tc.want, f.CheckFile(tc.rel, tc.size, tc.mtime), tc.rel)
	}
}

func TestParseNewerThan(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"24h":                  now.Add(-24 * time.Hour),
		"90m":                  now.Add(-90 * time.Minute),
		"7d":                   now.Add(-7 * 24 * time.Hour),
		"2026-11-01T08:00:00Z": time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC),
	} {
		got, err := ParseNewerThan(in, now)
		require.NoError(t, err, in)
		assert.True(t, want.Equal(got), "%s: %v", in, got)
	}
	d, err := ParseNewerThan("2026-11-01", now)
	require.NoError(t, err)
	assert.Equal(t, 2026, d.Year())
	for _, bad := range []string{"yesterday", "-5h", "2026-13-01", "7days"} {
		_, err := ParseNewerThan(bad, now)
		assert.Error(t, err, bad)
	}
}

func TestSymlinksFollowedWithLoopDetection(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(root, "a/b"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "a/b/doc.pdf"), []byte("x"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(outside, "shared.pdf"), []byte("y"), 0o644))
	require.NoError(t, os.Symlink(filepath.Join(root, "a"), filepath.Join(root, "a/b/up")))       // loop
	require.NoError(t, os.Symlink(outside, filepath.Join(root, "ext")))                           // a folder elsewhere
	require.NoError(t, os.Symlink(filepath.Join(root, "missing"), filepath.Join(root, "broken"))) // dangling
	require.NoError(t, os.Symlink(filepath.Join(outside, "shared.pdf"), filepath.Join(root, "link.pdf")))
	walk := func(f Filter) map[string]Reason {
		got := map[string]Reason{}
		require.NoError(t, Walk(context.Background(), root, f, func(e Entry) error {
			require.NoError(t, e.Err)
			got[e.Rel] = e.Skip
			return nil
		}))
		return got
	}
	assert.Equal(t, map[string]Reason{
		"a/b/doc.pdf": ReasonNone, "a/b/up": ReasonSymlink, "broken": ReasonSymlink, "ext": ReasonSymlink, "link.pdf": ReasonSymlink,
	}, walk(Filter{}), "not followed by default, and reported")
	assert.Equal(t, map[string]Reason{
		"a/b/doc.pdf": ReasonNone, "a/b/up": ReasonSymlinkLoop, "broken": ReasonBrokenLink,
		"ext/shared.pdf": ReasonNone, "link.pdf": ReasonNone,
	}, walk(Filter{FollowSymlinks: true}))
}

func TestSkipHidden(t *testing.T) {
	root := t.TempDir()
	for _, p := range []string{".git/config.txt", ".env.txt", "docs/.draft.md", "docs/ok.md"} {
		require.NoError(t, os.MkdirAll(filepath.Join(root, filepath.Dir(p)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(root, p), []byte("x"), 0o644))
	}
	got := map[string]Reason{}
	require.NoError(t, Walk(context.Background(), root, Filter{SkipHidden: true}, func(e Entry) error {
		got[e.Rel] = e.Skip
		return nil
	}))
	assert.Equal(t, map[string]Reason{".env.txt": ReasonHidden, ".git": ReasonHidden, "docs/.draft.md": ReasonHidden, "docs/ok.md": ReasonNone}, got,
		"a hidden folder is reported once, not walked")
}

func BenchmarkWalk(b *testing.B) {
	root := b.TempDir()
	const dirs, perDir = 20, 500
	for d := 0; d < dirs; d++ {
		sub := filepath.Join(root, "d"+strconv.Itoa(d))
		require.NoError(b, os.Mkdir(sub, 0o755))
		for i := 0; i < perDir; i++ {
			require.NoError(b, os.WriteFile(filepath.Join(sub, "doc-"+strconv.Itoa(i)+".pdf"), []byte("x"), 0o644))
		}
	}
	exc, _ := ParseNameList("tmp,log")
	f := Filter{Exclude: exc, MaxSize: 100 << 20}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n := 0
		if err := Walk(context.Background(), root, f, func(Entry) error { n++; return nil }); err != nil {
			b.Fatal(err)
		}
		if n != dirs*perDir {
			b.Fatalf("walked %d files", n)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*dirs*perDir), "ns/file")
}
