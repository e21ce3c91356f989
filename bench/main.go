//go:build unix

// Command bench measures paradigm-upload against the targets of the "Scale
// and speed" issue, of the quota and outage issue (#11), of the sync issue
// (#13), of the verified state file (#19) and of moves (#20), each side by
// side with a baseline measured in the same run, on loopback: it builds the
// tool and the baseline, starts devservers, generates the corpora in a
// temporary folder, and prints a table.
//
// Cases: littles-law, small-files, large-file, many-files, quota,
// quota-shards, quota-steady, random-refusals, quota-change, outage,
// sync-scale, sync-nights, sync-moves. -only CASE runs the case of that
// name, or, when no case has that name, every case whose name contains it;
// a comma-separated list runs several.
//
//	go run ./bench [-quick] [-only CASE[,CASE...]]
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"
)

const key = "bench-key"

var (
	quick = flag.Bool("quick", false, "smaller corpora (a smoke run, not the targets)")
	only  = flag.String("only", "", "run only these cases (comma-separated: exact names, or parts of names)")
	keep  = flag.Bool("keep", false, "keep the temporary folder")
	runs  = flag.Int("runs", 5, "alternating runs of each side of a comparison; the median is kept")
	tool  = flag.String("tool", "", "measure this paradigm-upload binary (an earlier build) instead of the tree's; the devservers stay the tree's")
)

// devBin is the tree's build, which serves the devservers.
var devBin string

type row struct {
	name, measured, baseline, ratio, target string
	met                                     bool
	info                                    bool // a figure without a target: met shows "-"
}

var rows []row

func main() {
	flag.Parse()
	cleanUpOnSignal()
	work, err := os.MkdirTemp("", "paradigm-bench-")
	check(err)
	if !*keep {
		atCleanup(func() { os.RemoveAll(work) })
	}
	defer cleanUp()
	bin := filepath.Join(work, "paradigm-upload")
	baseline := filepath.Join(work, "baseline")
	run("go", "build", "-trimpath", "-o", bin, ".")
	run("go", "build", "-trimpath", "-o", baseline, "./bench/baseline")
	devBin = bin
	if *tool != "" {
		bin = *tool
		fmt.Printf("measuring %s (-tool)\n", bin)
	}
	fmt.Printf("work folder %s; %d CPUs; comparisons alternate %d runs a side and keep medians\n", work, numCPU(), *runs)

	for _, c := range benchCases {
		if want(c.name) {
			c.run(work, bin, baseline)
		}
	}
	printTable()
	printCaptured()
}

// benchCase is a case of the bench: a name for -only, and what it runs.
type benchCase struct {
	name string
	run  func(work, bin, baseline string)
}

// benchCases are the cases, in the order they run.
var benchCases = []benchCase{
	{"littles-law", littlesLaw},
	{"small-files", smallFiles},
	{"large-file", func(work, bin, _ string) { largeFile(work, bin) }},
	{"many-files", func(work, bin, _ string) { manyFiles(work, bin) }},
	{"quota", quota},
	{"quota-shards", quotaShards},
	{"quota-steady", func(work, bin, _ string) { quotaSteady(work, bin) }},
	{"random-refusals", func(work, bin, _ string) { randomRefusals(work, bin) }},
	{"quota-change", quotaChange},
	{"outage", func(work, bin, _ string) { outage(work, bin) }},
	{"sync-scale", func(work, bin, _ string) { syncScale(work, bin) }},
	{"sync-nights", func(work, bin, _ string) { syncNights(work, bin) }},
	{"sync-moves", func(work, bin, _ string) { syncMoves(work, bin) }},
}

// want says whether -only selects the case: -only is a comma-separated
// list, each item the exact name of a case or else part of case names.
func want(name string) bool {
	if *only == "" {
		return true
	}
	for _, o := range strings.Split(*only, ",") {
		exact := slices.ContainsFunc(benchCases, func(c benchCase) bool { return c.name == o })
		if name == o || !exact && strings.Contains(name, o) {
			return true
		}
	}
	return false
}

// littlesLaw: 2,000 files of 4 KiB, 50 concurrent uploads, a server holding
// each request 50 ms: at best 50 / 0.05 s = 1,000 files/s. The minimal Go
// loop (50 workers, nothing but the uploads) runs beside it: what the
// machine itself allows. A first upload to an unknown workspace waits two
// of the server's round trips more than the loop: the listing (beside the
// preflight), which finds what is there already, and the first upload,
// which shows that the instance keeps the external metadata before the
// others go.
func littlesLaw(work, bin, baseline string) {
	n := pick(2000, 400)
	dir := filepath.Join(work, "littles-law")
	makeFiles(dir, n, 4096, 20)
	tool, loop := alternate(func() result {
		url, stop := devserver(bin, "--latency", "50ms")
		defer stop()
		return measure(bin, "--files-dir", dir, "--workspace-id", "42", "--batch-size", "50", "--base-url", url, "--no-progress")
	}, func() result {
		url, stop := devserver(bin, "--latency", "50ms")
		defer stop()
		return measure(baseline, "-dir", dir, "-url", url, "-key", key, "-concurrency", "50")
	})
	rate := float64(n) / tool.wall.Seconds()
	loopRate := float64(n) / loop.wall.Seconds()
	ratio := rate / 1000
	rows = append(rows, row{
		name: fmt.Sprintf("%d × 4 KiB, batch 50, server holds 50 ms", n), measured: fmt.Sprintf("%.0f files/s", rate),
		baseline: fmt.Sprintf("1000 files/s (Little's law); minimal Go loop %.0f files/s (%.3f)", loopRate, loopRate/1000),
		ratio:    fmt.Sprintf("%.3f (loop's %.3f)", ratio, rate/loopRate), target: "≥ 0.95", met: ratio >= 0.95,
	})
}

// smallFiles: 5,000 files of 4 KiB to a fast server, against xargs + curl
// and against a minimal Go loop.
func smallFiles(work, bin, baseline string) {
	n := pick(5000, 1000)
	dir := filepath.Join(work, "small-files")
	makeFiles(dir, n, 4096, 50)
	tool, loop := alternate(func() result {
		url, stop := devserver(bin)
		defer stop()
		return measure(bin, "--files-dir", dir, "--workspace-id", "42", "--batch-size", "50", "--base-url", url, "--no-progress")
	}, func() result {
		url, stop := devserver(bin)
		defer stop()
		return measure(baseline, "-dir", dir, "-url", url, "-key", key, "-concurrency", "50")
	})

	url, stop := devserver(bin)
	script := fmt.Sprintf(`find %q -type f -print0 | xargs -0 -P 50 -I{} curl -sS -o /dev/null -H 'Authorization: Bearer %s' -F workspace_id=42 -F 'file=@{}' %s/api/v3/files`, dir, key, url)
	curl := measure("sh", "-c", script)
	stop()

	toolRate := float64(n) / tool.wall.Seconds()
	r1 := curl.wall.Seconds() / tool.wall.Seconds()
	r2 := loop.wall.Seconds() / tool.wall.Seconds()
	rows = append(rows,
		row{name: fmt.Sprintf("%d × 4 KiB, batch 50, fast server, vs xargs -P 50 curl", n),
			measured: fmt.Sprintf("%.0f files/s (%s)", toolRate, tool.wall.Round(time.Millisecond)),
			baseline: fmt.Sprintf("%.0f files/s (%s)", float64(n)/curl.wall.Seconds(), curl.wall.Round(time.Millisecond)),
			ratio:    fmt.Sprintf("%.1f×", r1), target: "≥ 30×", met: r1 >= 30},
		row{name: fmt.Sprintf("%d × 4 KiB, batch 50, fast server, vs minimal Go loop", n),
			measured: fmt.Sprintf("%.0f files/s", toolRate),
			baseline: fmt.Sprintf("%.0f files/s (%s)", float64(n)/loop.wall.Seconds(), loop.wall.Round(time.Millisecond)),
			ratio:    fmt.Sprintf("%.2f×", r2), target: "≥ 0.85×", met: r2 >= 0.85},
	)
}

// largeFile: one 1 GiB file: peak RSS, and wall time against curl -F.
func largeFile(work, bin string) {
	size := int64(pick(1<<30, 128<<20))
	dir := filepath.Join(work, "large-file")
	check(os.MkdirAll(dir, 0o755))
	path := filepath.Join(dir, "big.pdf")
	writeSized(path, size)
	sendTool := func() result {
		url, stop := devserver(bin, "--max-size", "4GiB")
		defer stop()
		return measure(bin, "--files-dir", dir, "--workspace-id", "42", "--base-url", url, "--no-progress", "--max-file-size", "4GiB")
	}
	if _, err := exec.LookPath("curl"); err != nil {
		tool := repeat(sendTool)
		rows = append(rows,
			row{name: fmt.Sprintf("one %s file: peak RSS", human(size)), measured: human(tool.rss),
				baseline: "-", ratio: "-", target: "≤ 64 MiB", met: tool.rss <= 64<<20},
			row{name: fmt.Sprintf("one %s file: wall time vs curl -F", human(size)), measured: tool.wall.Round(time.Millisecond).String(),
				baseline: "skipped: no curl on PATH", ratio: "-", target: "≤ 1.2×", met: true, info: true},
		)
		return
	}
	// The tool hashes what it sends (sha256, sent after the file); curl -F
	// only sends. Alternated, medians of -runs each.
	var walls []float64
	tool, curl := alternate(func() result {
		r := sendTool()
		walls = append(walls, r.wall.Seconds())
		return r
	}, func() result {
		url, stop := devserver(bin, "--max-size", "4GiB")
		defer stop()
		r := measure("curl", "-sS", "-o", "/dev/null", "-H", "Authorization: Bearer "+key, "-F", "workspace_id=42",
			"-F", "file=@"+path, url+"/api/v3/files")
		walls[len(walls)-1] /= r.wall.Seconds()
		return r
	})
	slices.Sort(walls)
	ratio := tool.wall.Seconds() / curl.wall.Seconds()
	rows = append(rows,
		row{name: fmt.Sprintf("one %s file: peak RSS", human(size)), measured: human(tool.rss),
			baseline: "curl: " + human(curl.rss), ratio: "-", target: "≤ 64 MiB", met: tool.rss <= 64<<20},
		row{name: fmt.Sprintf("one %s file, with its sha256: wall time vs curl -F", human(size)),
			measured: tool.wall.Round(time.Millisecond).String(), baseline: curl.wall.Round(time.Millisecond).String(),
			ratio: fmt.Sprintf("%.2f× (pairs %.2f–%.2f)", ratio, walls[0], walls[len(walls)-1]), target: "≤ 1.2×", met: ratio <= 1.2},
	)
}

// manyFiles: 200,000 files: the dry run against find, peak RSS in every
// mode, an upload with and without a state file, and a resume with nothing
// left to send.
func manyFiles(work, bin string) {
	n := pick(200000, 20000)
	dir := filepath.Join(work, "many-files")
	makeFiles(dir, n, 100, 500)
	common := func(url string) []string {
		return []string{"--files-dir", dir, "--workspace-id", "42", "--batch-size", "50", "--base-url", url, "--no-progress"}
	}
	// A dry run without a state file lists the workspace (#13): an empty
	// devserver answers it.
	empty, stopEmpty := devserver(bin)
	find, dry := alternate(func() result {
		return measure("sh", "-c", fmt.Sprintf("find %q -type f -printf '%%s %%p\\n' >/dev/null", dir))
	}, func() result {
		return measure(bin, append(common(empty), "--dry-run")...)
	})
	stopEmpty()
	state := filepath.Join(work, "many.state")
	// The last upload with a state file keeps its devserver for the
	// resume: the state file is verified against the service, which must
	// hold what the state records (an empty one would have it all sent
	// again).
	var stateURL string
	stopState := func() {}
	plain, withState := alternate(func() result {
		url, stop := devserver(bin)
		defer stop()
		return measure(bin, common(url)...)
	}, func() result {
		stopState()
		url, stop := devserver(bin)
		stateURL, stopState = url, stop
		os.Remove(state)
		os.Remove(state + ".lock")
		return measure(bin, append(common(url), "--state-file", state)...)
	})
	before := getStats(stateURL).Requests
	resume := repeat(func() result { return measure(bin, append(common(stateURL), "--state-file", state)...) })
	fmt.Printf("many-files  resume with nothing left: %d requests to the service over %d runs\n", getStats(stateURL).Requests-before, *runs)
	stopState()

	r1 := dry.wall.Seconds() / find.wall.Seconds()
	r2 := (float64(n) / withState.wall.Seconds()) / (float64(n) / plain.wall.Seconds())
	r3 := resume.wall.Seconds() / dry.wall.Seconds()
	peak := max(dry.rss, plain.rss, withState.rss, resume.rss)
	rows = append(rows,
		row{name: fmt.Sprintf("%d files: --dry-run vs find -printf", n), measured: dry.wall.Round(time.Millisecond).String(),
			baseline: find.wall.Round(time.Millisecond).String(), ratio: fmt.Sprintf("%.2f×", r1), target: "≤ 2×", met: r1 <= 2},
		row{name: fmt.Sprintf("%d files: peak RSS (dry run / upload / with state / resume)", n),
			measured: fmt.Sprintf("%s / %s / %s / %s", human(dry.rss), human(plain.rss), human(withState.rss), human(resume.rss)),
			baseline: "-", ratio: "-", target: "≤ 150 MiB", met: peak <= 150<<20},
		row{name: fmt.Sprintf("%d files: upload with --state-file vs without", n),
			measured: fmt.Sprintf("%.0f files/s, CPU %.1f s", float64(n)/withState.wall.Seconds(), withState.cpu.Seconds()),
			baseline: fmt.Sprintf("%.0f files/s, CPU %.1f s", float64(n)/plain.wall.Seconds(), plain.cpu.Seconds()),
			ratio:    fmt.Sprintf("%.2f× (CPU %.2f×)", r2, plain.cpu.Seconds()/withState.cpu.Seconds()), target: "≥ 0.8×", met: r2 >= 0.8},
		row{name: fmt.Sprintf("%d files: resume with nothing left vs dry run", n), measured: resume.wall.Round(time.Millisecond).String(),
			baseline: dry.wall.Round(time.Millisecond).String(), ratio: fmt.Sprintf("%.2f×", r3), target: "≤ 2×", met: r3 <= 2},
	)
}

// repeat measures f -runs times and keeps the median wall time (and the
// largest peak memory).
func repeat(f func() result) result {
	var all []result
	for i := 0; i < *runs; i++ {
		all = append(all, f())
	}
	return median(all)
}

// alternate measures a and b in turn, -runs times each, so that the
// machine's drift affects both alike, and keeps each side's median.
func alternate(a, b func() result) (result, result) {
	var as, bs []result
	for i := 0; i < *runs; i++ {
		as = append(as, a())
		bs = append(bs, b())
	}
	return median(as), median(bs)
}

// alternateN is alternate for any number of sides.
func alternateN(fs ...func() result) []result {
	all := make([][]result, len(fs))
	for i := 0; i < *runs; i++ {
		for j, f := range fs {
			all[j] = append(all[j], f())
		}
	}
	out := make([]result, len(fs))
	for j := range all {
		out[j] = median(all[j])
	}
	return out
}

func median(rs []result) result {
	walls := make([]time.Duration, len(rs))
	cpus := make([]time.Duration, len(rs))
	var peak int64
	for i, r := range rs {
		walls[i], cpus[i] = r.wall, r.cpu
		peak = max(peak, r.rss)
	}
	slices.Sort(walls)
	slices.Sort(cpus)
	return result{wall: walls[len(walls)/2], cpu: cpus[len(cpus)/2], rss: peak}
}

type result struct {
	wall time.Duration
	cpu  time.Duration // the process's user and system time
	rss  int64
}

// measure runs a command to completion and returns its wall time and peak
// resident memory.
// A command that fails stops the bench.
func measure(name string, args ...string) result {
	o := runDiscard(name, args...)
	if o.exit != 0 {
		check(fmt.Errorf("%s %s: exit %d\n%s", name, strings.Join(args, " "), o.exit, o.stderr))
	}
	return result{wall: o.wall, cpu: o.cpu, rss: o.rss}
}

// devserver starts a discarding devserver on a free loopback port.
func devserver(bin string, args ...string) (string, func()) {
	if devBin != "" {
		bin = devBin
	}
	dir, err := os.MkdirTemp("", "devserver-")
	check(err)
	addr := filepath.Join(dir, "addr")
	c := exec.Command(bin, append([]string{"devserver", "--addr", "127.0.0.1:0", "--addr-file", addr, "--api-key", key, "--discard"}, args...)...)
	check(c.Start())
	stop := atCleanup(func() {
		_ = c.Process.Signal(os.Interrupt)
		_ = c.Wait()
		os.RemoveAll(dir)
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(addr)
		if err == nil && bytes.HasSuffix(b, []byte("\n")) {
			return strings.TrimSpace(string(b)), stop
		}
		if time.Now().After(deadline) {
			check(errors.New("devserver did not start"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// makeFiles writes n files of size bytes, perDir to a folder.
func makeFiles(dir string, n, size, perDir int) {
	buf := bytes.Repeat([]byte("paradigm "), size/9+1)[:size]
	for i := 0; i < n; i++ {
		sub := filepath.Join(dir, fmt.Sprintf("d%04d", i/perDir))
		if i%perDir == 0 {
			check(os.MkdirAll(sub, 0o755))
		}
		copy(buf, fmt.Sprintf("%08d", i)) // distinct content
		check(os.WriteFile(filepath.Join(sub, fmt.Sprintf("doc-%07d.txt", i)), buf, 0o644))
	}
}

func writeSized(path string, size int64) {
	f, err := os.Create(path)
	check(err)
	chunk := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	for left := size; left > 0; left -= int64(len(chunk)) {
		_, err := f.Write(chunk[:min(int64(len(chunk)), left)])
		check(err)
	}
	check(f.Close())
}

func printTable() {
	header := row{name: "case", measured: "paradigm-upload", baseline: "baseline", ratio: "ratio", target: "target"}
	cells := func(r row) []string {
		met := "yes"
		switch {
		case r == header:
			met = "met"
		case r.info && r.met:
			met = "-"
		case !r.met:
			met = "NO"
		}
		return []string{r.name, r.measured, r.baseline, r.ratio, r.target, met}
	}
	width := make([]int, 6)
	for _, r := range append([]row{header}, rows...) {
		for i, c := range cells(r) {
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	line := func(cs []string) {
		var b strings.Builder
		for i, c := range cs {
			fmt.Fprintf(&b, "| %s%s ", c, strings.Repeat(" ", width[i]-utf8.RuneCountInString(c)))
		}
		fmt.Println(b.String() + "|")
	}
	fmt.Println()
	line(cells(header))
	var rule strings.Builder
	for _, w := range width {
		rule.WriteString("|" + strings.Repeat("-", w+2))
	}
	fmt.Println(rule.String() + "|")
	for _, r := range rows {
		line(cells(r))
	}
	if *quick {
		fmt.Println("\n-quick: smaller corpora; the targets are stated for the full sizes.")
	}
}

// printCaptured prints the plain progress output of the tool captured by
// the quota and outage cases.
func printCaptured() {
	for _, c := range captured {
		fmt.Printf("\n%s:\n", c.title)
		for _, l := range c.lines {
			fmt.Println("  " + l)
		}
	}
}

func pick(full, small int) int {
	if *quick {
		return small
	}
	return full
}

func human(b int64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(b)/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
	default:
		return fmt.Sprintf("%.0f KiB", float64(b)/(1<<10))
	}
}

func numCPU() int {
	out, err := exec.CommandContext(context.Background(), "nproc").Output()
	if err != nil {
		return 0
	}
	var n int
	_, _ = fmt.Sscan(string(out), &n)
	return n
}

func run(name string, args ...string) {
	c := exec.Command(name, args...)
	c.Stdout, c.Stderr = os.Stderr, os.Stderr
	check(c.Run())
}

// check stops the bench on an error, with the rows measured so far.
func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		if len(rows) > 0 {
			printTable()
		}
		cleanUp()
		os.Exit(1)
	}
}

// peakRSS returns a finished process's peak resident memory in bytes:
// getrusage reports it in bytes on macOS and in KiB on Linux and the BSDs.
func peakRSS(ps *os.ProcessState) int64 {
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok {
		return 0
	}
	if runtime.GOOS == "darwin" || runtime.GOOS == "ios" {
		return int64(ru.Maxrss)
	}
	return int64(ru.Maxrss) * 1024
}
