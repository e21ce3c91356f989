//go:build unix

// Issue 21 (one way to ride every transient fault): TestResetOneConnectionInTen (items 1 and 2: resets, preflight included), TestListingWithEveryOtherPage502 and TestWaitPollsWith502 (item 1), TestUnavailableForTheWholePreflight (item 2), TestRefusalsThatDoNotFollowTheRate (item 3), TestATricklingAnswerIsCut (item 4), TestSignalsDuringASlowListing (item 5), TestAFileThatVanishesIsNotAFailure (item 6; the /proc file is in resilience_linux_test.go).

package e2e

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A proxy that resets the preflight's first request, or one connection in
// ten drawn from a seed (the preflight's, the listing's, lookups, uploads,
// the bulk delete): every run ends with exit 0, every file once.
func TestResetOneConnectionInTen(t *testing.T) {
	cases := []struct {
		name string
		f    faults
	}{
		{"the preflight's first request", faults{ResetFirst: true}},
		{"the first request of each kind", faults{ResetFirstOfEach: true}},
		{"seed 1", faults{ResetOneIn: 10, Seed: 1}},
		{"seed 2", faults{ResetOneIn: 10, Seed: 2}},
		{"seed 3", faults{ResetOneIn: 10, Seed: 3}},
		{"seed 4, and the first", faults{ResetOneIn: 10, Seed: 4, ResetFirst: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := startDevserver(t, "--max-page-size", "10")
			root := t.TempDir()
			writeTree(t, root, "d", "doc", 40)
			// Half of it there already, so that the run lists pages, looks
			// up and deletes as well as uploads.
			half := t.TempDir()
			writeTree(t, half, "d", "doc", 20)
			writeTree(t, half, "gone", "doc", 3)
			code, _, _ := runArgs(t, d, time.Minute, "--files-dir", half, "--no-progress", "--state-file", filepath.Join(t.TempDir(), "s"))
			require.Equal(t, 0, code)

			p := newFaultProxy(t, d, tc.f)
			rep := filepath.Join(t.TempDir(), "report.json")
			code, _, _ = runArgs(t, p.devserver, 2*time.Minute, "--files-dir", root, "--no-progress", "--delete", "--report", rep)
			t.Logf("%s: %d requests, %d reset", tc.name, p.requests.Load(), p.resets.Load())
			assert.Equal(t, 0, code, "a network that hiccups is not a setup mistake, nor a failure")
			assert.Positive(t, p.resets.Load())
			mirrors(t, d, root, 42, "")
			if _, err := os.Stat(rep); err == nil {
				assert.Zero(t, readReport(t, rep).Totals.Outcomes["failed"])
			}
		})
	}
}

// A proxy that answers 502 to every other page of the workspace listing:
// each page is asked again; the sync completes, deletions included.
func TestListingWithEveryOtherPage502(t *testing.T) {
	d := startDevserver(t, "--max-page-size", "10")
	root := t.TempDir()
	files := writeTree(t, root, "d", "doc", 40)
	code, _, _ := runArgs(t, d, time.Minute, "--files-dir", root, "--no-progress", "--state-file", filepath.Join(t.TempDir(), "s"))
	require.Equal(t, 0, code)
	for _, rel := range files[:3] {
		require.NoError(t, os.Remove(filepath.Join(root, rel)))
	}
	p := newFaultProxy(t, d, faults{ListingBadGateway: true})
	var out string
	delta := statsDelta(t, d, func() {
		code, out, _ = runArgs(t, p.devserver, time.Minute, "--files-dir", root, "--no-progress", "--delete")
	})
	assert.Equal(t, 0, code, "a 502 is retried\n%s", out)
	assert.Positive(t, p.listing502.Load())
	assert.Equal(t, int64(3), delta["deletes"])
	mirrors(t, d, root, 42, "")
}

// --wait polls through a proxy that answers 502 to every other poll: they
// are asked again, and the run reports every document embedded.
func TestWaitPollsWith502(t *testing.T) {
	d := startDevserver(t, "--pace", "100ms")
	p := newFaultProxy(t, d, faults{PollBadGateway: true})
	root := t.TempDir()
	writeTree(t, root, "d", "doc", 10)
	rep := filepath.Join(t.TempDir(), "report.json")
	code, out, _ := runArgs(t, p.devserver, time.Minute, "--files-dir", root, "--no-progress", "--wait", "--wait-timeout", "40s",
		"--report", rep, "--state-file", filepath.Join(t.TempDir(), "s"))
	assert.Equal(t, 0, code, "%s", out)
	assert.Positive(t, p.poll502.Load())
	r := readReport(t, rep)
	embedded := 0
	for _, f := range r.Files {
		if f.Processing == "embedded" {
			embedded++
		}
	}
	assert.Equal(t, 10, embedded)
	mirrors(t, d, root, 42, "")
}

// A service in maintenance (503) for the whole preflight: not a mistake of
// setup (exit 2) but an outage: exit 1, and one line says the rerun will
// work.
func TestUnavailableForTheWholePreflight(t *testing.T) {
	d := startDevserver(t, "--outage", "0s+10m")
	root := t.TempDir()
	writeTree(t, root, "d", "doc", 5)
	start := time.Now()
	code, out, errOut := runArgs(t, d, 45*time.Second, "--files-dir", root, "--no-progress", "--outage-budget", "3s")
	t.Logf("ended after %s", time.Since(start).Round(time.Millisecond))
	assert.Equal(t, 1, code, "an unavailable service is exit 1")
	assert.Regexp(t, `(?i)unavailable|maintenance`, out+errOut)
	assert.Regexp(t, `(?i)rerun|run .*again`, out+errOut, "says the rerun will work")
	assert.Zero(t, d.stats(t)["uploads"])
}

// A load shedder that answers 429 (Retry-After: 1) to every fourth request
// whatever the pace: slowing down does not make refusals rarer, so the run
// must not slow the pool to one request a second (100 small files took
// 140 s), and a refused upload waits its Retry-After outside the pool of 10
// (holding its place, 1,000 files could not take less than 1,000 / 28 a
// second = 36 s). The run takes about 10 s on a quiet machine: 9 s telling
// the shedder from a quota at about a request a second, the files, then the
// last refusals' Retry-Afters; the bound is 27 s. The bench (make bench)
// measures the rate against the run without refusals.
func TestRefusalsThatDoNotFollowTheRate(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, "d", "doc", 1000)

	base := startDevserver(t)
	start := time.Now()
	code, _, _ := runArgs(t, base, time.Minute, "--files-dir", root, "--no-progress", "--state-file", filepath.Join(t.TempDir(), "s"))
	require.Equal(t, 0, code)
	free := time.Since(start)

	d := startDevserver(t)
	p := newFaultProxy(t, d, faults{RefuseEveryFourth: true})
	start = time.Now()
	code, _, _ = runArgs(t, p.devserver, 90*time.Second, "--files-dir", root, "--no-progress", "--state-file", filepath.Join(t.TempDir(), "s"))
	took := time.Since(start)
	t.Logf("1,000 files: %s without refusals, %s with every fourth request refused (%d refusals)", free.Round(time.Millisecond),
		took.Round(time.Millisecond), p.refused429.Load())
	assert.Equal(t, 0, code)
	assert.Less(t, took, 27*time.Second, "the pool slowed down, or was held, for refusals that do not depend on its rate")
	assert.Equal(t, int64(1000), d.stats(t)["documents"])
}

// An answer that trickles (one byte every 3 s, never a silence as long as
// --timeout) is cut after a deadline and asked again: the run ends. Once an
// upload's answer (the document is stored: the retry must ask first, and
// not store it twice), once a page of the listing. (With --timeout 4s, the
// deadline of such small answers is taken to be a small multiple of it:
// the runs are given 25 s and 35 s.)
func TestATricklingAnswerIsCut(t *testing.T) {
	cases := []struct {
		kind  string
		limit time.Duration
	}{{"upload", 25 * time.Second}, {"listing", 35 * time.Second}}
	for _, tc := range cases {
		t.Run(tc.kind, func(t *testing.T) {
			d := startDevserver(t)
			root := t.TempDir()
			writeTree(t, root, "d", "doc", 20)
			if tc.kind == "listing" {
				code, _, _ := runArgs(t, d, time.Minute, "--files-dir", root, "--no-progress", "--state-file", filepath.Join(t.TempDir(), "s"))
				require.Equal(t, 0, code)
				writeFile(t, root, "new.txt", "a new file")
			}
			p := newFaultProxy(t, d, faults{TrickleFirst: tc.kind, TrickleEvery: 3 * time.Second})
			start := time.Now()
			code, _, _ := runArgs(t, p.devserver, tc.limit, "--files-dir", root, "--no-progress", "--timeout", "4s")
			t.Logf("ended after %s", time.Since(start).Round(time.Millisecond))
			assert.Equal(t, int64(1), p.trickled.Load())
			assert.Equal(t, 0, code)
			mirrors(t, d, root, 42, "")
			assert.Zero(t, d.stats(t)["idempotent_hits"], "the cut upload was asked about, not sent again")
		})
	}
}

// SIGINT or SIGTERM while a page of the listing is slow in coming: the run
// ends within about two seconds, exit 130.
func TestSignalsDuringASlowListing(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			d := startDevserver(t)
			p := newFaultProxy(t, d, faults{HoldListings: true})
			root := t.TempDir()
			writeTree(t, root, "d", "doc", 10)
			r := startUpload(t, p.devserver, "--files-dir", root, "--no-progress", "--delete")
			waitFor(t, "a listing held by the server", func() bool { return p.held.Load() >= 1 })
			require.NoError(t, r.cmd.Process.Signal(sig))
			start := time.Now()
			code := waitUpTo(t, r, 10*time.Second)
			took := time.Since(start)
			t.Logf("%s: exit %d after %s\n%s%s", sig, code, took.Round(time.Millisecond), r.out.String(), r.errOut.String())
			assert.Equal(t, 130, code)
			assert.Less(t, took, 2500*time.Millisecond, "prompt")
		})
	}
}

// A file that vanishes between the scan and its upload is a note, not a
// failure: outcome vanished, no --max-fails count (the default 1 would stop
// the run), exit 0.
func TestAFileThatVanishesIsNotAFailure(t *testing.T) {
	d := startDevserver(t, "--latency", "300ms")
	root := t.TempDir()
	for _, name := range []string{"a", "b", "c", "d", "e", "f"} {
		writeFile(t, root, name+".txt", "file "+name)
	}
	rep := filepath.Join(t.TempDir(), "report.json")
	r := startUpload(t, d, "--files-dir", root, "--batch-size", "1", "--no-progress", "--report", rep)
	// One upload at a time, each held 300 ms: once the first has landed,
	// the scan has long found d.txt, which waits behind two uploads, and
	// two files wait behind it.
	waitFor(t, "the first upload", func() bool { return d.stats(t)["uploads"] >= 1 })
	require.NoError(t, os.Remove(filepath.Join(root, "d.txt")))
	code := waitUpTo(t, r, 30*time.Second)
	t.Logf("exit %d\n%s%s", code, r.out.String(), r.errOut.String())
	assert.Equal(t, 0, code, "not a failure")
	rp := readReport(t, rep)
	assert.Equal(t, []string{"vanished"}, rp.outcomesOf()["d.txt"])
	assert.Equal(t, 1, rp.Totals.Outcomes["vanished"])
	assert.Zero(t, rp.Totals.Outcomes["failed"])
	assert.Equal(t, int64(5), d.stats(t)["uploads"], "the run went on (the default --max-fails 1 did not stop it)")
}
