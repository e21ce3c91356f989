//go:build unix

package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// syncScale: the sync of issue 13 on a tree of 1,000,000 tiny files: the
// dry run against find, a first upload with a state file, the nightly run
// after 1% of the files changed, and a run whose state file was lost, which
// lists the whole workspace and reconciles; peak RSS of every mode.
func syncScale(work, bin string) {
	n := pick(1_000_000, 100_000)
	const size, perDir, every = 100, 250, 100 // every 100th file changes: 1%
	name := fmt.Sprintf("%d files", n)
	dir, ok := scaleTree(work, "sync-scale", name+": sync at scale", n, size, perDir)
	if !ok {
		return
	}
	defer removeTree(dir)

	args := func(url string, more ...string) []string {
		return append([]string{"--files-dir", dir, "--workspace-id", "42", "--batch-size", "50", "--base-url", url, "--no-progress"}, more...)
	}
	state := filepath.Join(work, "sync.state")
	var problems []string
	step := func(label string, o outcome) outcome {
		if o.exit != 0 {
			problems = append(problems, fmt.Sprintf("%s: exit %d", label, o.exit))
			fmt.Printf("sync-scale  %s: exit %d\n%s\n", label, o.exit, tail(o.stderr, 10))
		}
		return o
	}
	summary := func(label string, o outcome) {
		fmt.Printf("sync-scale  %s: summary on stdout:\n", label)
		for _, l := range progressLines(o.stdout) {
			fmt.Println("    " + l)
		}
	}

	srv, stopSrv := devserver(bin)
	defer stopSrv()

	// A first upload of the whole tree, with a state file.
	s0 := getStats(srv)
	up := step("first upload", runAny(bin, args(srv, "--state-file", state)...))
	s1 := getStats(srv)
	fmt.Printf("sync-scale  first upload: wall %s, %.0f files/s, peak RSS %s, requests %d, documents %d, exit %d\n",
		up.wall.Round(time.Millisecond), float64(s1.Documents)/up.wall.Seconds(), human(up.rss), s1.Requests-s0.Requests, s1.Documents, up.exit)
	summary("first upload", up)

	// The dry runs, with the state file and with none against a service
	// that holds nothing, alternated with find.
	empty, stopEmpty := devserver(bin)
	e0 := getStats(empty)
	res := alternateN(func() result {
		return measure("sh", "-c", fmt.Sprintf("find %q -type f -printf '%%s %%p\\n' >/dev/null", dir))
	}, func() result {
		return measureQuiet(&problems, "dry run with state", bin, args(srv, "--state-file", state, "--dry-run")...)
	}, func() result {
		return measureQuiet(&problems, "dry run without state", bin, args(empty, "--dry-run")...)
	})
	e1 := getStats(empty)
	stopEmpty()
	find, dryState, dryNone := res[0], res[1], res[2]
	s2 := getStats(srv)
	fmt.Printf("sync-scale  dry runs (median of %d): find %s, with state %s (requests to the service %d over all runs), without state %s (requests %d over all runs)\n",
		*runs, find.wall.Round(time.Millisecond), dryState.wall.Round(time.Millisecond), s2.Requests-s1.Requests,
		dryNone.wall.Round(time.Millisecond), e1.Requests-e0.Requests)

	// 1% of the files rewritten with new content, and the nightly run.
	changed := changeFiles(dir, n, size, perDir, every)
	night := step("nightly run", runAny(bin, args(srv, "--state-file", state)...))
	s3 := getStats(srv)
	nightReq := s3.Requests - s2.Requests
	fmt.Printf("sync-scale  nightly run, %d files changed: wall %s, peak RSS %s, requests %d, uploads %d, patches %d (replaces %d), deletes %d, exit %d\n",
		changed, night.wall.Round(time.Millisecond), human(night.rss), nightReq, s3.Uploads-s2.Uploads, s3.Patches-s2.Patches,
		s3.Replaces-s2.Replaces, s3.Deletes-s2.Deletes, night.exit)
	summary("nightly run", night)

	// The state file lost: the same command lists the workspace and
	// reconciles; nothing is sent.
	os.Remove(state)
	os.Remove(state + ".lock")
	recon := step("run without its state file", runAny(bin, args(srv, "--state-file", state)...))
	s4 := getStats(srv)
	reconReq := s4.Requests - s3.Requests
	sent := (s4.Uploads - s3.Uploads) + (s4.Patches - s3.Patches) + (s4.Deletes - s3.Deletes)
	fmt.Printf("sync-scale  state file deleted: wall %s, peak RSS %s, requests %d, uploads %d, patches %d, deletes %d, documents %d, exit %d\n",
		recon.wall.Round(time.Millisecond), human(recon.rss), reconReq, s4.Uploads-s3.Uploads, s4.Patches-s3.Patches,
		s4.Deletes-s3.Deletes, s4.Documents, recon.exit)
	summary("run without its state file", recon)
	if len(problems) > 0 {
		fmt.Printf("sync-scale  runs that did not exit 0: %s\n", strings.Join(problems, "; "))
	}

	r1 := dryState.wall.Seconds() / find.wall.Seconds()
	r2 := dryNone.wall.Seconds() / find.wall.Seconds()
	peak := max(dryState.rss, dryNone.rss, up.rss, night.rss, recon.rss)
	rows = append(rows,
		row{name: name + ": --dry-run with a state file vs find -printf", measured: dryState.wall.Round(time.Millisecond).String(),
			baseline: find.wall.Round(time.Millisecond).String(), ratio: fmt.Sprintf("%.2f×", r1), target: "≤ 2×", met: r1 <= 2},
		row{name: name + ": --dry-run, no state, empty service, vs find", measured: dryNone.wall.Round(time.Millisecond).String(),
			baseline: find.wall.Round(time.Millisecond).String(), ratio: fmt.Sprintf("%.2f×", r2), target: "≤ 2×", met: r2 <= 2},
		row{name: name + ": first upload with --state-file, batch 50",
			measured: fmt.Sprintf("%.0f files/s (%s, exit %d)", float64(s1.Documents-s0.Documents)/up.wall.Seconds(), up.wall.Round(time.Second), up.exit),
			baseline: "-", ratio: "-", target: "(a rate)", met: up.exit == 0 && s1.Documents == int64(n), info: true},
		row{name: fmt.Sprintf("%s, %d changed (1%%): nightly run with the state file", name, changed),
			measured: fmt.Sprintf("%d requests (%d replaced, %d new) in %s, exit %d", nightReq, s3.Replaces-s2.Replaces, s3.Uploads-s2.Uploads, night.wall.Round(time.Millisecond), night.exit),
			baseline: fmt.Sprintf("%d files changed", changed), ratio: fmt.Sprintf("%.3f", float64(nightReq)/float64(changed)),
			target: "only the changes (≤ 1.1×)",
			met:    night.exit == 0 && s3.Replaces-s2.Replaces == int64(changed) && s3.Uploads == s2.Uploads && float64(nightReq) <= 1.1*float64(changed)},
		row{name: name + ": state file deleted, run lists and reconciles",
			measured: fmt.Sprintf("%s, %d requests, %d sent, exit %d", recon.wall.Round(time.Millisecond), reconReq, sent, recon.exit),
			baseline: fmt.Sprintf("%d documents listed", s3.Documents), ratio: "-", target: "0 sent, exit 0",
			met: sent == 0 && recon.exit == 0},
		row{name: name + ": peak RSS (dry state / dry none / upload / nightly / lost state)",
			measured: fmt.Sprintf("%s / %s / %s / %s / %s", human(dryState.rss), human(dryNone.rss), human(up.rss), human(night.rss), human(recon.rss)),
			baseline: "-", ratio: "-", target: "≤ 200 MiB", met: peak <= 200<<20},
	)
}

// scaleTree generates the tree of n tiny files of a case at scale, in the
// folder named label, when the disk has room for it (roomFor); the caller
// removes it (removeTree).
func scaleTree(work, label, name string, n, size, perDir int) (string, bool) {
	if !roomFor(work, label, name, n) {
		return "", false
	}
	dir := filepath.Join(work, label)
	t0 := time.Now()
	makeFiles(dir, n, size, perDir)
	fmt.Printf("%s  generated %d files of %d B in %d folders in %s\n", label, n, size, (n+perDir-1)/perDir, time.Since(t0).Round(time.Second))
	return dir, true
}

// roomFor says whether the file system of the work folder has room for a
// tree of n tiny files (a block of 4 KiB and an inode each, and a margin);
// when it has not, it says so, adds a row named name, and the case is
// skipped.
func roomFor(work, label, name string, n int) bool {
	needBytes, needInodes := uint64(n)*4096*5/4, uint64(n)*11/10
	if free, inodes, ok := freeSpace(work); ok && (free < needBytes || inodes < needInodes) {
		fmt.Printf("%s  skipped: the tree needs about %s and %d inodes; %s and %d are free\n",
			label, human(int64(needBytes)), needInodes, human(int64(free)), inodes)
		rows = append(rows, row{name: name, measured: "skipped: not enough disk", baseline: "-", ratio: "-", target: "-"})
		return false
	}
	return true
}

// removeTree removes a case's tree when it is done (unless -keep), so that
// the next case has the disk.
func removeTree(dir string) {
	if !*keep {
		check(os.RemoveAll(dir))
	}
}

// measureQuiet measures a run of the tool whose stdout goes nowhere; a run
// that does not exit 0 is noted, not fatal.
func measureQuiet(problems *[]string, label, name string, args ...string) result {
	o := runDiscard(name, args...)
	if o.exit != 0 {
		*problems = append(*problems, fmt.Sprintf("%s: exit %d", label, o.exit))
		fmt.Printf("sync-scale  %s: exit %d\n%s\n", label, o.exit, tail(o.stderr, 10))
	}
	return result{wall: o.wall, cpu: o.cpu, rss: o.rss}
}

// changeFiles rewrites every every-th file of a makeFiles tree with new
// content of the same size, and returns how many.
func changeFiles(dir string, n, size, perDir, every int) int {
	buf := bytes.Repeat([]byte("changed! "), size/9+1)[:size]
	changed := 0
	for i := 0; i < n; i += every {
		copy(buf, fmt.Sprintf("c%07d", i))
		path := filepath.Join(dir, fmt.Sprintf("d%04d", i/perDir), fmt.Sprintf("doc-%07d.txt", i))
		check(os.WriteFile(path, buf, 0o644))
		changed++
	}
	return changed
}
