package scan

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestShardsPartitionATree(t *testing.T) {
	var paths []string
	for i := 0; i < 10000; i++ {
		paths = append(paths, fmt.Sprintf("dir%d/sub%d/file-%d.pdf", i%17, i%5, i))
	}
	for _, n := range []int{1, 2, 3, 7, 50} {
		owners := map[string]int{}
		sizes := make([]int, n)
		for k := 1; k <= n; k++ {
			s := Shard{K: k, N: n}
			for _, p := range paths {
				if s.Has(p) {
					owners[p]++
					sizes[k-1]++
				}
			}
		}
		for _, p := range paths {
			require.Equal(t, 1, owners[p], "N=%d: %s in %d shards", n, p, owners[p])
		}
		for k, size := range sizes {
			// FNV spreads paths evenly enough: no shard gets more than twice its share.
			assert.Less(t, size, 2*len(paths)/n+10, "N=%d shard %d", n, k+1)
		}
	}
	// Stable across machines, runs and versions: these assignments are part
	// of the contract (changing them would re-split running migrations).
	for path, k := range map[string]int{"a/b.pdf": 5, "contracts/2024/msa.docx": 7, "notes.txt": 5, "caf\u00e9.md": 2} {
		assert.True(t, Shard{K: k, N: 7}.Has(path), "%s belongs to shard %d/7", path, k)
	}
}

func TestParseShard(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == "JOB_COMPLETION_INDEX" {
				return v
			}
			return ""
		}
	}
	for in, want := range map[string]Shard{"": All, "1/1": {1, 1}, "2/3": {2, 3}, " 3/3 ": {3, 3}} {
		got, err := ParseShard(in, env(""))
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	got, err := ParseShard("auto/4", env("0"))
	require.NoError(t, err)
	assert.Equal(t, Shard{1, 4}, got, "Kubernetes' index counts from 0")
	got, err = ParseShard("auto/4", env("3"))
	require.NoError(t, err)
	assert.Equal(t, Shard{4, 4}, got)
	for _, bad := range []string{"0/3", "4/3", "2", "a/b", "1/0", "-1/2"} {
		_, err := ParseShard(bad, env(""))
		assert.Error(t, err, bad)
	}
	_, err = ParseShard("auto/4", env(""))
	assert.ErrorContains(t, err, "JOB_COMPLETION_INDEX")
	_, err = ParseShard("auto/4", env("4"))
	assert.Error(t, err)
}
