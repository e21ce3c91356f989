package scan

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
)

// Shard selects the files of one of N machines sharing a tree: a file
// belongs to shard K (1..N) when the FNV-1a hash of its relative path
// (forward slashes, NFC) modulo N is K-1. The choice depends on the path
// only, so it is the same on every machine and in every run, and the N
// shards partition the tree.
type Shard struct {
	K, N int
}

// All is the shard of a run that is not split.
var All = Shard{K: 1, N: 1}

// ParseShard reads "K/N" (K counts from 1), or "auto/N", where K comes from
// a Kubernetes Indexed Job's JOB_COMPLETION_INDEX (which counts from 0).
func ParseShard(s string, getenv func(string) string) (Shard, error) {
	if strings.TrimSpace(s) == "" {
		return All, nil
	}
	ks, ns, ok := strings.Cut(strings.TrimSpace(s), "/")
	n, err := strconv.Atoi(ns)
	if !ok || err != nil || n < 1 {
		return Shard{}, fmt.Errorf("%q is not K/N (e.g. 2/3: the second of three shards)", s)
	}
	var k int
	if ks == "auto" {
		idx := getenv("JOB_COMPLETION_INDEX")
		i, err := strconv.Atoi(idx)
		if idx == "" || err != nil || i < 0 {
			return Shard{}, fmt.Errorf("%q takes K from JOB_COMPLETION_INDEX (a Kubernetes Indexed Job), which is %q", s, idx)
		}
		k = i + 1
	} else if k, err = strconv.Atoi(ks); err != nil {
		return Shard{}, fmt.Errorf("%q is not K/N (e.g. 2/3: the second of three shards)", s)
	}
	if k < 1 || k > n {
		return Shard{}, fmt.Errorf("%q: K must be between 1 and %d", s, n)
	}
	return Shard{K: k, N: n}, nil
}

// Has reports whether the file at rel belongs to this shard.
func (s Shard) Has(rel string) bool {
	if s.N <= 1 {
		return true
	}
	h := fnv.New64a()
	h.Write([]byte(rel))
	return int(h.Sum64()%uint64(s.N)) == s.K-1
}

func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.K, s.N) }
