//go:build unix

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// movesBefore is the tool before issue 20 (the commit before "sync: a
// moved or renamed file keeps its document"): a move is a delete and an
// upload.
const movesBefore = "ff42165"

// syncMoves: the rename of issue 20. A tree holds a folder of 10,000 files
// of 16 KiB (and a quarter as many other files); the folder is renamed, and
// the nightly command runs (--state-file, --delete --max-delete all): the
// tool as it is — each file moved, one PATCH re-keying its document — beside
// the tool of commit ff42165, for which each is a delete and an upload; and,
// for information, the tool without a state file (the listing carries the
// content hash). Each run starts from a fresh devserver and a first upload
// by the same binary; the same command is run again right after the night:
// it sends nothing (its requests are not a night's: runs seconds apart list
// again what changed in the minutes before, see nightGap). Requests and bytes are the devserver's counters; the wall
// time is the median of -runs runs a side, the sides alternating.
func syncMoves(work, bin string) {
	n := pick(10_000, 2_000)
	const size, perDir = 16 << 10, 250
	root := filepath.Join(work, "sync-moves")
	from, to := filepath.Join(root, "projects", "2025"), filepath.Join(root, "archive", "projects-2025")
	writeTagged(from, "moved", n, size, perDir)
	writeTagged(filepath.Join(root, "other"), "other", n/4, size, perDir)
	check(os.MkdirAll(filepath.Dir(to), 0o755))
	defer removeTree(root)
	name := fmt.Sprintf("folder of %s × 16 KiB renamed (tree of %s)", thousands(int64(n)), thousands(int64(n+n/4)))

	state := filepath.Join(work, "moves.state")
	type side struct {
		label, tool string
		state       bool
		all         []movesRun
	}
	sides := []*side{{label: "paradigm-upload", tool: bin, state: true}}
	before, err := builtAt(work, movesBefore)
	if err != nil {
		fmt.Printf("sync-moves  the tool of commit %s could not be built (%v): no baseline\n", movesBefore, err)
	} else {
		sides = append(sides, &side{label: movesBefore, tool: before, state: true})
	}
	sides = append(sides, &side{label: "paradigm-upload, no state file", tool: bin})
	for i := 0; i < *runs; i++ {
		for _, s := range sides {
			st := ""
			if s.state {
				st = state
			}
			s.all = append(s.all, moveOnce(bin, s.tool, s.label, root, from, to, st, n))
		}
	}

	sum := func(s *side) movesSummary { return summarize(s.all) }
	tool := sum(sides[0])
	noState := sum(sides[len(sides)-1])
	var old movesSummary
	hasOld := len(sides) == 3
	if hasOld {
		old = sum(sides[1])
	}
	baseCell := func(f func(movesSummary) string) string {
		if !hasOld {
			return "tool of " + movesBefore + " unavailable (no git history?)"
		}
		return movesBefore + " (delete + upload): " + f(old)
	}
	ratio := func(a, b float64) string {
		if !hasOld || b == 0 {
			return "-"
		}
		return fmt.Sprintf("%.3f×", a/b)
	}
	reqCell := func(m movesSummary) string {
		return fmt.Sprintf("%s requests%s: %s uploads, %s patches, %s deletes in %d bulk", thousands(m.night.Requests), m.varied,
			thousands(m.night.Uploads), thousands(m.night.Patches), thousands(m.night.Deletes), m.night.BulkDeletes)
	}
	bytesCell := func(m movesSummary) string { return human(m.night.Bytes) }
	timeCell := func(m movesSummary) string {
		return fmt.Sprintf("%s (median of %d)%s", m.wall.Round(time.Millisecond), len(m.runs), exitNote(m.exit))
	}
	idsCell := func(m movesSummary) string {
		return fmt.Sprintf("%s of %s kept (%s re-keyed to the new path, %d with a new version); %s documents after, %s before",
			thousands(int64(m.ids.kept)), thousands(int64(m.ids.folder)), thousands(int64(m.ids.rekeyed)), m.ids.newVersion,
			thousands(int64(m.ids.after)), thousands(int64(m.ids.before)))
	}
	afterCell := func(m movesSummary) string {
		return fmt.Sprintf("%d requests, %d sent", m.next.Requests, m.next.Uploads+m.next.Patches+m.next.Deletes)
	}
	idsOK := func(m movesSummary) bool {
		return m.ids.kept == n && m.ids.rekeyed == n && m.ids.newVersion == 0 && m.ids.after == m.ids.before
	}
	moved := func(m movesSummary) bool {
		return m.exit == 0 && m.night.Uploads == 0 && m.night.Deletes == 0 && m.night.Bytes == 0 && m.counts["moved"] == n
	}
	rows = append(rows,
		row{name: name + ": requests of the night", measured: reqCell(tool), baseline: baseCell(reqCell),
			ratio: ratio(float64(tool.night.Requests), float64(old.night.Requests)), target: "one PATCH a file, 0 uploads, 0 deletes (+ the pages of a listing that confirms them, + 20)",
			met: moved(tool) && tool.night.Requests <= int64(n)+int64(tool.ids.before+999)/1000+20},
		row{name: name + ": bytes of files received", measured: bytesCell(tool), baseline: baseCell(bytesCell),
			ratio: ratio(float64(tool.night.Bytes), float64(old.night.Bytes)), target: "0", met: tool.night.Bytes == 0},
		row{name: name + ": wall time", measured: timeCell(tool), baseline: baseCell(timeCell),
			ratio: ratio(tool.wall.Seconds(), old.wall.Seconds()), target: "(secondary: noisy)", met: tool.exit == 0, info: true},
		row{name: name + ": the folder's document ids", measured: idsCell(tool), baseline: baseCell(idsCell),
			ratio: "-", target: "all kept, re-keyed, not re-processed", met: idsOK(tool)},
		row{name: name + ": the same command again, seconds later", measured: afterCell(tool), baseline: baseCell(afterCell),
			ratio: "-", target: "0 sent", met: tool.next.Uploads+tool.next.Patches+tool.next.Deletes == 0},
		row{name: name + ": without a state file (listings)", measured: reqCell(noState) + "; " + timeCell(noState) + "; ids " + idsCell(noState),
			baseline: "-", ratio: "-", target: "one PATCH a file, ids kept", met: moved(noState) && idsOK(noState)},
	)
}

// movesRun is one run of the rename: the night, the ids, the night after.
type movesRun struct {
	night, next devStats
	wall        time.Duration
	exit        int
	counts      map[string]int
	ids         idFigures
}

// idFigures compares the documents before and after the night.
type idFigures struct {
	folder     int // documents of the renamed folder before
	kept       int // of them, the ids still there after
	rekeyed    int // of them, now named by the new path
	newVersion int // of the kept ones, with a new version (sent again, processed again)
	before     int
	after      int
}

// moveOnce runs one rename on a fresh devserver: a first upload of the
// tree with tool, the folder renamed, the night, the night after; the
// folder is renamed back.
func moveOnce(bin, tool, label, root, from, to, state string, n int) movesRun {
	url, stop := devserver(bin)
	defer stop()
	args := []string{"--files-dir", root, "--workspace-id", "42", "--batch-size", "50", "--base-url", url, "--no-progress",
		"--delete", "--max-delete", "all"}
	if state != "" {
		os.Remove(state)
		os.Remove(state + ".lock")
		args = append(args, "--state-file", state)
	}
	first := runAny(tool, args...)
	if first.exit != 0 {
		check(fmt.Errorf("sync-moves %s: the first upload: exit %d\n%s", label, first.exit, tail(first.stderr, 10)))
	}
	docs0 := devDocuments(url)
	s0 := getStats(url)
	check(os.Rename(from, to))
	defer func() { check(os.Rename(to, from)) }()
	night := runAny(tool, args...)
	s1 := getStats(url)
	docs1 := devDocuments(url)
	next := runAny(tool, args...)
	s2 := getStats(url)
	r := movesRun{night: s1.minus(s0), next: s2.minus(s1), wall: night.wall, exit: night.exit, counts: summaryCounts(night.stdout)}
	if next.exit != 0 {
		r.exit = next.exit
	}

	oldPrefix := filepath.ToSlash(strings.TrimPrefix(from, root+string(filepath.Separator))) + "/"
	newPrefix := filepath.ToSlash(strings.TrimPrefix(to, root+string(filepath.Separator))) + "/"
	after := map[int64]devDocument{}
	for _, d := range docs1 {
		after[d.ID] = d
	}
	r.ids.before, r.ids.after = len(docs0), len(docs1)
	for _, d := range docs0 {
		if !strings.HasPrefix(d.path(), oldPrefix) {
			continue
		}
		r.ids.folder++
		a, ok := after[d.ID]
		if !ok {
			continue
		}
		r.ids.kept++
		if a.path() == newPrefix+strings.TrimPrefix(d.path(), oldPrefix) {
			r.ids.rekeyed++
		}
		if a.Versions != d.Versions || a.SHA256 != d.SHA256 {
			r.ids.newVersion++
		}
	}
	fmt.Printf("sync-moves  %-31s night: wall %s, requests %d, uploads %d, patches %d (replaces %d), deletes %d in %d bulk, bytes %s, exit %d; summary: %s; ids: %d of %d kept, %d re-keyed, %d new versions; the night after: %d requests, %d sent\n",
		label, night.wall.Round(time.Millisecond), r.night.Requests, r.night.Uploads, r.night.Patches, r.night.Replaces, r.night.Deletes,
		r.night.BulkDeletes, human(r.night.Bytes), night.exit, countsString(r.counts), r.ids.kept, r.ids.folder, r.ids.rekeyed, r.ids.newVersion,
		r.next.Requests, r.next.Uploads+r.next.Patches+r.next.Deletes)
	printNotes(night)
	if r.ids.folder != n {
		fmt.Printf("sync-moves  %s: %d documents of the folder after the first upload, not %d\n", label, r.ids.folder, n)
	}
	return r
}

// movesSummary is the runs of a side: the first run's counters (the
// others' are compared with them) and the median wall time.
type movesSummary struct {
	movesRun
	runs   []movesRun
	varied string // ", varied: …" when the runs' requests differ
}

func summarize(all []movesRun) movesSummary {
	m := movesSummary{movesRun: all[0], runs: all}
	var reqs []int64
	walls := make([]time.Duration, 0, len(all))
	for _, r := range all {
		if !slices.Contains(reqs, r.night.Requests) {
			reqs = append(reqs, r.night.Requests)
		}
		walls = append(walls, r.wall)
		m.exit = max(m.exit, r.exit)
	}
	if len(reqs) > 1 {
		slices.Sort(reqs)
		m.varied = fmt.Sprintf(" (varied from run to run: %d to %d)", reqs[0], reqs[len(reqs)-1])
	}
	slices.Sort(walls)
	m.wall = walls[len(walls)/2]
	return m
}

// devDocument is a document as GET /_devserver/documents lists it.
type devDocument struct {
	ID               int64  `json:"id"`
	SHA256           string `json:"sha256"`
	Versions         int    `json:"versions"`
	ExternalMetadata *struct {
		AdditionalMetadata json.RawMessage `json:"additional_metadata"`
	} `json:"external_metadata"`
}

// path is the document's path in the tree, from its additional metadata
// (an object, or a string holding one).
func (d devDocument) path() string {
	if d.ExternalMetadata == nil {
		return ""
	}
	raw := d.ExternalMetadata.AdditionalMetadata
	var s string
	if json.Unmarshal(raw, &s) == nil {
		raw = []byte(s)
	}
	var m struct {
		Path string `json:"path"`
	}
	_ = json.Unmarshal(raw, &m)
	return m.Path
}

func devDocuments(url string) []devDocument {
	var out struct {
		Documents []devDocument `json:"documents"`
	}
	check(adminCall(http.MethodGet, url+"/_devserver/documents", nil, &out))
	return out.Documents
}

// writeTagged writes n files of size bytes, perDir to a folder, each of a
// content of its own that no other tag's file shares.
func writeTagged(dir, tag string, n, size, perDir int) {
	buf := bytes.Repeat([]byte("paradigm "), size/9+1)[:size]
	for i := 0; i < n; i++ {
		sub := filepath.Join(dir, fmt.Sprintf("d%04d", i/perDir))
		if i%perDir == 0 {
			check(os.MkdirAll(sub, 0o755))
		}
		copy(buf, fmt.Sprintf("%s-%08d", tag, i))
		check(os.WriteFile(filepath.Join(sub, fmt.Sprintf("doc-%07d.txt", i)), buf, 0o644))
	}
}
