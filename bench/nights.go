//go:build unix

package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// syncNights: the nights of issue 19 at scale. A tree of 1,000,000 tiny
// files is uploaded once to each of two devservers; then, every night, the
// tree changes (1% of it: 0.8% edited, 0.1% new, 0.1% removed) and the
// nightly command (--state-file, --delete) runs against each: on one as it
// is (the state file verified against the service's checkpoint, then a
// listing of what changed since the last run), on the other with
// --reconcile (a full listing every night: the baseline). The nights: one
// with the changes, one with none, then the state files are lost and two
// more nights with changes: the first lists the workspace, the second must
// again cost only the changes. Requests are the devserver's counter (the
// primary figure: deterministic); the wall time of one run a side, the
// order of the sides alternating from night to night.
func syncNights(work, bin string) {
	n := pick(1_000_000, 100_000)
	const size, perDir = 100, 250
	name := fmt.Sprintf("%s docs", thousands(int64(n)))
	dir, ok := scaleTree(work, "sync-nights", name+": nights", n, size, perDir)
	if !ok {
		return
	}
	defer removeTree(dir)

	tool := &nightSide{label: "verified state", state: filepath.Join(work, "nights-tool.state")}
	full := &nightSide{label: "--reconcile", state: filepath.Join(work, "nights-full.state"), extra: []string{"--reconcile"}}
	var stop func()
	tool.url, stop = devserver(bin)
	defer stop()
	full.url, stop = devserver(bin)
	defer stop()

	// The nights run one after the other: each changes the tree first.
	plan := []struct {
		title string
		k     int // the night's changes (changeNight); 0: none; -1: the first upload
		lose  bool
	}{
		{"first upload (no state file)", -1, false},
		{"night 1: nothing changed (the first after the upload)", 0, false},
		{"night 2: 1% changed, with the state file", 2, false},
		{"night 3: 1% changed, the state file lost", 3, true},
		{"night 4: 1% changed, the night after", 4, false},
	}
	var prev nightChange
	for i, p := range plan {
		var ch nightChange
		switch {
		case p.k > 0:
			ch = changeNight(dir, n, size, perDir, p.k)
		case p.k < 0:
			ch = nightChange{added: n}
		}
		if p.lose {
			for _, s := range []*nightSide{tool, full} {
				os.Remove(s.state)
				os.Remove(s.state + ".lock")
			}
		}
		first, second := tool, full
		if i%2 == 1 {
			first, second = full, tool
		}
		a := first.run(bin, dir, p.title, ch)
		b := second.run(bin, dir, p.title, ch)
		t, f := a, b
		if first != tool {
			t, f = b, a
		}
		rows = append(rows, nightRow(name, p.title, p.k, p.lose, ch, prev, t, f, n))
		prev = ch
	}
	for _, s := range []*nightSide{tool, full} {
		if len(s.problems) > 0 {
			fmt.Printf("sync-nights  %s: %s\n", s.label, strings.Join(s.problems, "; "))
		}
	}
}

// nightSide is one lineage of nights: a devserver and a state file.
type nightSide struct {
	label, url, state string
	extra             []string
	problems          []string
	lastEnd           time.Time
}

// nightGap (-night-gap) is the least time between the end of a side's run
// and the start of its next. Nights are a day apart; the tool's moment is
// five minutes before its start, and it lists what changed since the
// previous run's moment less another minute (internal/upload/verify.go,
// for the service's clock): runs closer than six minutes list again what
// the runs before them changed within those minutes (after a first upload:
// everything). The bench waits that long, and a little more, so that its
// nights cost what a day apart costs; the waiting is not in the times.
var nightGap = flag.Duration("night-gap", 6*time.Minute+15*time.Second, "sync-nights: the least time between two runs of a side (nights are a day apart; under 6m the runs list again what the runs before changed)")

// nightRun is what one night's run did.
type nightRun struct {
	out    outcome
	st     devStats // the devserver's counters during the run (documents: after it)
	counts map[string]int
	exact  bool // the outcomes and what the service received are the night's changes
}

func (s *nightSide) run(bin, dir, title string, ch nightChange) nightRun {
	args := append([]string{"--files-dir", dir, "--workspace-id", "42", "--batch-size", "50", "--base-url", s.url, "--no-progress",
		"--state-file", s.state, "--delete"}, s.extra...)
	if wait := time.Until(s.lastEnd.Add(*nightGap)); wait > 0 {
		time.Sleep(wait)
	}
	before := getStats(s.url)
	o := runAny(bin, args...)
	after := getStats(s.url)
	s.lastEnd = time.Now()
	r := nightRun{out: o, st: after.minus(before), counts: summaryCounts(o.stdout)}
	r.st.Documents = after.Documents
	c, st := r.counts, r.st
	r.exact = o.exit == 0 && c["uploaded"] == ch.added && c["replaced"] == ch.edited && c["deleted"] == ch.removed &&
		c["moved"]+c["adopted"]+c["updated"]+c["already there"]+c["failed"] == 0 &&
		st.Uploads == int64(ch.added) && st.Replaces == int64(ch.edited) && st.Patches == int64(ch.edited) &&
		st.Deletes == int64(ch.removed) && st.Idempotent == 0
	fmt.Printf("sync-nights  %-13s %-44s wall %s, peak RSS %s, requests %d (the changes need %d), uploads %d, patches %d (replaces %d), deletes %d in %d bulk, documents %d, exit %d; summary: %s\n",
		s.label, title, o.wall.Round(time.Millisecond), human(o.rss), st.Requests, ch.minRequests(), st.Uploads, st.Patches, st.Replaces,
		st.Deletes, st.BulkDeletes, st.Documents, o.exit, countsString(c))
	printNotes(o)
	if !r.exact {
		s.problems = append(s.problems, fmt.Sprintf("%s: not exactly the night's changes (%d edited, %d new, %d removed)", title, ch.edited, ch.added, ch.removed))
	}
	return r
}

// printNotes prints what a run said beside its counts: the notes and
// warnings of its summary, and its stderr.
func printNotes(o outcome) {
	for _, l := range progressLines(o.stdout) {
		if strings.HasPrefix(l, "Note") || strings.HasPrefix(l, "Warning") {
			fmt.Println("      " + l)
		}
	}
	for _, l := range progressLines(o.stderr) {
		fmt.Println("      stderr: " + l)
	}
}

// nightRow is a night's row: the tool beside the full listing.
func nightRow(name, title string, k int, lost bool, ch, prev nightChange, t, f nightRun, n int) row {
	minReq := ch.minRequests()
	cell := func(r nightRun) string {
		return fmt.Sprintf("%s requests (%+d over the changes), %s%s", thousands(r.st.Requests), r.st.Requests-minReq, r.out.wall.Round(100*time.Millisecond), exitNote(r.out.exit))
	}
	what := ""
	switch {
	case k < 0:
		what = fmt.Sprintf(" (%s new)", thousands(int64(ch.added)))
	case k > 0:
		what = fmt.Sprintf(" (%s edited, %s new, %s removed: the changes need %s requests)", thousands(int64(ch.edited)),
			thousands(int64(ch.added)), thousands(int64(ch.removed)), thousands(minReq))
	}
	// The target: the changes plus a constant — 20 requests, and a page of
	// 1,000 for every 1,000 documents the previous run changed (the listing
	// of the changes since it began) and two for every 1,000 this one
	// changes (the proofs of moves and deletions list the run's own
	// changes); the night after a lost state file lists the workspace once.
	pages := func(docs int) int64 { return int64(docs+999) / 1000 }
	slack := 20 + pages(prev.touched()) + 2*pages(ch.touched())
	target := fmt.Sprintf("changes + ≤ %d", slack)
	switch {
	case k < 0:
		slack = 20
		target = fmt.Sprintf("uploads + ≤ %d", slack)
	case lost:
		slack += pages(n)
		target = fmt.Sprintf("changes + one listing (≤ %d)", slack)
	}
	return row{
		name: fmt.Sprintf("%s, %s%s", name, title, what), measured: cell(t), baseline: "full listing every night: " + cell(f),
		ratio:  fmt.Sprintf("%.2f× requests, %.2f× time", float64(t.st.Requests)/float64(max(f.st.Requests, 1)), t.out.wall.Seconds()/f.out.wall.Seconds()),
		target: target + ", exact", met: t.exact && f.exact && t.st.Requests <= minReq+slack,
	}
}

func exitNote(code int) string {
	if code == 0 {
		return ""
	}
	return fmt.Sprintf(", exit %d", code)
}

// nightChange is what a night changed in the tree.
type nightChange struct{ edited, added, removed int }

// minRequests is what the changes cost at the least: a PATCH per edited
// file, an upload per new file, a bulk delete per 100 removed.
func (c nightChange) minRequests() int64 {
	return int64(c.edited + c.added + (c.removed+99)/100)
}

func (c nightChange) touched() int { return c.edited + c.added + c.removed }

// changeNight changes 1% of a makeFiles tree for night k (1 ≤ k < 100):
// the files i ≡ k (mod 125) get new content of the same size (0.8%), the
// files i ≡ 600+k (mod 1000) are removed (0.1%), and n/1000 new files of
// the same size go to a new folder (0.1%); the new files are of the size of
// the removed ones' documents, so that the tool must compare their content
// (they are not moves). Each night changes files of its own.
func changeNight(dir string, n, size, perDir, k int) nightChange {
	var c nightChange
	buf := bytes.Repeat([]byte("edited! "), size/8+1)[:size]
	path := func(i int) string {
		return filepath.Join(dir, fmt.Sprintf("d%04d", i/perDir), fmt.Sprintf("doc-%07d.txt", i))
	}
	for i := k; i < n; i += 125 {
		copy(buf, fmt.Sprintf("e%02d-%07d", k, i))
		check(os.WriteFile(path(i), buf, 0o644))
		c.edited++
	}
	for i := 600 + k; i < n; i += 1000 {
		check(os.Remove(path(i)))
		c.removed++
	}
	buf = bytes.Repeat([]byte("new one "), size/8+1)[:size]
	for j := 0; j < n/1000; j++ {
		sub := filepath.Join(dir, fmt.Sprintf("new-%02d", k), fmt.Sprintf("n%04d", j/perDir))
		if j%perDir == 0 {
			check(os.MkdirAll(sub, 0o755))
		}
		copy(buf, fmt.Sprintf("n%02d-%07d", k, j))
		check(os.WriteFile(filepath.Join(sub, fmt.Sprintf("doc-new-%07d.txt", j)), buf, 0o644))
		c.added++
	}
	return c
}

// minus is the counters' growth from b to a.
func (a devStats) minus(b devStats) devStats {
	return devStats{
		Requests: a.Requests - b.Requests, Uploads: a.Uploads - b.Uploads, Documents: a.Documents - b.Documents,
		Throttled: a.Throttled - b.Throttled, QuotaRefused: a.QuotaRefused - b.QuotaRefused, Outage503: a.Outage503 - b.Outage503,
		OutageResets: a.OutageResets - b.OutageResets, Patches: a.Patches - b.Patches, Replaces: a.Replaces - b.Replaces,
		Deletes: a.Deletes - b.Deletes, BulkDeletes: a.BulkDeletes - b.BulkDeletes, Idempotent: a.Idempotent - b.Idempotent,
		Bytes: a.Bytes - b.Bytes,
	}
}

// summaryLine is a line of the tool's summary: "Uploaded:     1,000 files, 97.7 KiB".
var summaryLine = regexp.MustCompile(`^([A-Z][a-z]+(?: [a-z]+)*):\s+([0-9][0-9,]*)\b`)

// summaryCounts reads the outcomes' counts from the summary a run prints on
// stdout, by label in lower case ("uploaded", "already done").
func summaryCounts(stdout string) map[string]int {
	out := map[string]int{}
	for _, l := range strings.Split(stdout, "\n") {
		if m := summaryLine.FindStringSubmatch(l); m != nil {
			v, err := strconv.Atoi(strings.ReplaceAll(m[2], ",", ""))
			if err == nil {
				out[strings.ToLower(m[1])] = v
			}
		}
	}
	return out
}

func countsString(c map[string]int) string {
	var parts []string
	for _, k := range []string{"uploaded", "replaced", "updated", "moved", "adopted", "deleted", "unchanged", "already there", "already done", "skipped", "failed"} {
		if v, ok := c[k]; ok && (v != 0 || k == "failed") {
			parts = append(parts, fmt.Sprintf("%s %d", k, v))
		}
	}
	return strings.Join(parts, ", ")
}

// thousands writes n with commas: 1,000,000.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
