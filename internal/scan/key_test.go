package scan

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestComponentKeys(t *testing.T) {
	nfc, nfd := "caf\u00e9.txt", "cafe\u0301.txt"
	cases := []struct {
		names, keys []string
	}{
		{[]string{"a.pdf", "B c.txt"}, []string{"a.pdf", "B c.txt"}},
		{[]string{nfd}, []string{nfc}}, // a tree from macOS is the same tree
		{[]string{nfc, nfd}, []string{nfc, "cafe%CC%81.txt"}},
		{[]string{nfd, nfc}, []string{"cafe%CC%81.txt", nfc}}, // the one already in NFC keeps it, whatever the order
		{[]string{"bad\xff.txt"}, []string{"bad%FF.txt"}},
		{[]string{"100%.txt"}, []string{"100%25.txt"}},
		{[]string{"bad%FF.txt", "bad\xff.txt"}, []string{"bad%25FF.txt", "bad%FF.txt"}},
	}
	for _, c := range cases {
		assert.Equal(t, c.keys, componentKeys(c.names), "%q", c.names)
	}
}

// Keys are valid text, and two names never share one.
func FuzzKeysAreDistinctAndValid(f *testing.F) {
	f.Add("a", "b")
	f.Add("caf\u00e9", "cafe\u0301")
	f.Add("x%41", "x\x41")
	f.Add("\xff", "%FF")
	f.Fuzz(func(t *testing.T, a, b string) {
		if a == b || a == "" || b == "" || strings.ContainsAny(a+b, "/\x00") {
			return
		}
		keys := componentKeys([]string{a, b})
		if keys[0] == keys[1] {
			t.Fatalf("%q and %q share the key %q", a, b, keys[0])
		}
		for _, k := range keys {
			if !utf8.ValidString(k) {
				t.Fatalf("key %q is not valid UTF-8", k)
			}
		}
		// Alone in its folder, a name has the same key as beside another
		// (unless they clash).
		if solo := componentKeys([]string{a}); solo[0] != keys[0] && solo[0] != keys[1] && nameKey(a) != nameKey(b) {
			t.Fatalf("%q: key %q alone, %q beside %q", a, solo[0], keys[0], b)
		}
	})
}

func TestWalkGivesEveryFileItsKey(t *testing.T) {
	if runtime.GOOS == "darwin" {
		t.Skip("APFS does not keep two names that differ only in normalisation")
	}
	root := t.TempDir()
	for _, p := range []string{"plain/a.txt", "caf\u00e9/x.txt", "cafe\u0301/x.txt", "d/bad\xff.txt"} {
		full := filepath.Join(root, p)
		require.NoError(t, os.MkdirAll(filepath.Dir(full), 0o755))
		require.NoError(t, os.WriteFile(full, []byte(p), 0o644))
	}
	got := map[string]string{}
	require.NoError(t, Walk(t.Context(), root, Filter{Include: mustList(t, "txt")}, func(e Entry) error {
		got[e.Rel] = e.Key
		return nil
	}))
	assert.Equal(t, map[string]string{
		"plain/a.txt":      "plain/a.txt",
		"caf\u00e9/x.txt":  "caf\u00e9/x.txt",
		"cafe\u0301/x.txt": "cafe%CC%81/x.txt",
		"d/bad\xff.txt":    "d/bad%FF.txt",
	}, got)
}

func mustList(t *testing.T, s string) NameList {
	t.Helper()
	l, err := ParseNameList(s)
	require.NoError(t, err)
	return l
}
