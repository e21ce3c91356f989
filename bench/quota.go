//go:build unix

package main

import (
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"time"
)

// The quota and outage cases (issue 11). Each run gets a fresh devserver
// with the quota; they are bound by the quota, not by the machine, so each
// side runs once.

const (
	quotaPerMinute = 600
	quotaBurst     = 60
)

func quotaServer(bin string) (string, func()) {
	return devserver(bin, "--quota", fmt.Sprintf("%d/min", quotaPerMinute), "--quota-burst", strconv.Itoa(quotaBurst))
}

// quotaRun is one run against a quota: what the tool did and what the
// devserver saw.
type quotaRun struct {
	label string
	out   outcome
	st    devStats
	rep   runReport
	hasRe bool
	files int
}

// docsPerMinute is the documents stored per minute over the run's wall time.
func (r quotaRun) docsPerMinute() float64 { return float64(r.st.Documents) / r.out.wall.Minutes() }

func (r quotaRun) refusedShare() float64 {
	if r.st.Requests == 0 {
		return 0
	}
	return float64(r.st.QuotaRefused) / float64(r.st.Requests)
}

// failed is the number of failed files from the report, or, without a
// report (the baseline), from the documents missing on the server.
func (r quotaRun) failed() int {
	if r.hasRe {
		return r.rep.failed()
	}
	return r.files - int(r.st.Documents)
}

func (r quotaRun) String() string {
	s := fmt.Sprintf("%-26s wall %s, stored %d/%d, %.0f docs/min (%.2f of quota), requests %d, refused %d (%.1f%%), failed %d, exit %d",
		r.label, r.out.wall.Round(100*time.Millisecond), r.st.Documents, r.files, r.docsPerMinute(), r.docsPerMinute()/quotaPerMinute,
		r.st.Requests, r.st.QuotaRefused, 100*r.refusedShare(), r.failed(), r.out.exit)
	if r.rep.Stopped != "" {
		s += ", stopped: " + r.rep.Stopped
	}
	if p := r.rep.pacing(); p != "" {
		s += "; " + p
	}
	return s
}

// brief is a run in a few words, for a baseline cell.
func (r quotaRun) brief() string {
	s := fmt.Sprintf("%d/%d stored in %s, %d failed, exit %d", r.st.Documents, r.files, r.out.wall.Round(time.Second), r.failed(), r.out.exit)
	return s
}

// toolQuotaRun runs a paradigm-upload binary against a fresh quota devserver.
func toolQuotaRun(work, label, bin, tool, dir string, files, batch int) quotaRun {
	url, stop := quotaServer(bin)
	defer stop()
	rep := filepath.Join(work, "report.json")
	out := runAny(tool, "--files-dir", dir, "--workspace-id", "42", "--batch-size", strconv.Itoa(batch), "--base-url", url,
		"--progress-interval", "5s", "--report", rep)
	r := quotaRun{label: label, out: out, st: getStats(url), files: files}
	r.rep, r.hasRe = readReport(rep)
	fmt.Println("quota  " + r.String())
	return r
}

// sdkQuotaRun runs the baseline paced at the quota, the SDK's way.
func sdkQuotaRun(bin, baseline, dir string, files int) quotaRun {
	url, stop := quotaServer(bin)
	defer stop()
	out := runAny(baseline, "-dir", dir, "-url", url, "-key", key, "-concurrency", "10", "-rate", strconv.Itoa(quotaPerMinute))
	r := quotaRun{label: "SDK-paced 600/min, 10 conc", out: out, st: getStats(url), files: files}
	fmt.Println("quota  " + r.String())
	return r
}

// quota: 1,000 small files against a quota of 600 a minute, the tool at
// batch 10 and 50, against a client paced at the quota and the tool as it
// was before issue 11.
func quota(work, bin, baseline string) {
	n := pick(1000, 300)
	dir := filepath.Join(work, "quota")
	makeFiles(dir, n, 4096, 100)
	before := beforeBinary(work)
	sdk := sdkQuotaRun(bin, baseline, dir, n)
	for _, batch := range []int{10, 50} {
		tool := toolQuotaRun(work, fmt.Sprintf("paradigm-upload batch %d", batch), bin, bin, dir, n, batch)
		capture(fmt.Sprintf("quota 600/min, %d files, --batch-size %d: stderr (plain progress, --progress-interval 5s)", n, batch), tool.out.stderr)
		old := toolQuotaRun(work, fmt.Sprintf("e0141c5 batch %d", batch), bin, before, dir, n, batch)
		name := fmt.Sprintf("quota 600/min burst 60, %d × 4 KiB, batch %d", n, batch)
		ratio := tool.docsPerMinute() / quotaPerMinute
		rows = append(rows,
			row{name: name + ": sustained rate", measured: fmt.Sprintf("%.0f docs/min (%.2f of quota)", tool.docsPerMinute(), ratio),
				baseline: fmt.Sprintf("SDK-paced %.0f/min (%.2f); e0141c5 %.0f/min (%.2f)%s", sdk.docsPerMinute(), sdk.docsPerMinute()/quotaPerMinute,
					old.docsPerMinute(), old.docsPerMinute()/quotaPerMinute, earlyNote(old)),
				ratio: fmt.Sprintf("%.3f", ratio), target: "≥ 0.95", met: ratio >= 0.95},
			row{name: name + ": requests refused (429)", measured: fmt.Sprintf("%.1f%% (%d of %d)", 100*tool.refusedShare(), tool.st.QuotaRefused, tool.st.Requests),
				baseline: fmt.Sprintf("SDK-paced %.1f%%; e0141c5 %.1f%% (%d of %d)", 100*sdk.refusedShare(), 100*old.refusedShare(), old.st.QuotaRefused, old.st.Requests),
				ratio:    "-", target: "< 5%", met: tool.refusedShare() < 0.05},
			row{name: name + ": failed files, exit code", measured: tool.brief(),
				baseline: "e0141c5: " + old.brief() + stoppedNote(old), ratio: "-", target: "0 failed, exit 0",
				met: tool.failed() == 0 && tool.out.exit == 0 && tool.st.Documents == int64(n)},
		)
	}
}

func earlyNote(r quotaRun) string {
	if r.st.Documents >= int64(r.files) {
		return ""
	}
	return fmt.Sprintf(" until it stopped at %d/%d", r.st.Documents, r.files)
}

func stoppedNote(r quotaRun) string {
	if r.rep.Stopped == "" {
		return ""
	}
	return " (stopped: " + r.rep.Stopped + ")"
}

// phase is one quota of the quota-change case, from a time of the run.
type phase struct {
	perMinute, burst float64
	from             time.Duration
}

// phaseFigures are what a run did in one phase.
type phaseFigures struct {
	docsPerMin, acceptedPerMin, refused float64
	settled                             time.Duration // -1: never within 10% for the rest of the phase
	reached                             time.Duration // the first 10 s window within 10%; -1: none
	followed                            float64       // docs a minute from +followAfter to the phase's end
}

// followAfter is the time the issue gives the rate to follow a change of
// the quota: the rate from then to the phase's end is judged.
const followAfter = 30 * time.Second

const settleWindow = 10 * time.Second

// figures computes a phase's figures from the samples between from and to.
func figures(samples []sample, from, to time.Duration, quota float64) phaseFigures {
	at := func(t time.Duration) sample { // the last sample at or before t
		s := samples[0]
		for _, x := range samples {
			if x.at > t {
				break
			}
			s = x
		}
		return s
	}
	a, b := at(from), at(to)
	mins := (b.at - a.at).Minutes()
	var f phaseFigures
	if mins > 0 {
		f.docsPerMin = float64(b.st.Documents-a.st.Documents) / mins
		f.acceptedPerMin = float64((b.st.Requests-b.st.QuotaRefused)-(a.st.Requests-a.st.QuotaRefused)) / mins
	}
	if req := b.st.Requests - a.st.Requests; req > 0 {
		f.refused = float64(b.st.QuotaRefused-a.st.QuotaRefused) / float64(req)
	}
	if c := at(from + followAfter); to > c.at {
		f.followed = float64(b.st.Documents-c.st.Documents) / (b.at - c.at).Minutes()
	}
	// Windows of settleWindow starting at every sample of the phase: the
	// settling time is the start of the first window from which every
	// window of the phase stays within 10% of the quota (the probing of
	// the pacer, and the service's burst it spends, can each take a window
	// past 10%); reached is the start of the first window within 10%.
	within := func(s sample) bool {
		e := at(s.at + settleWindow)
		rate := float64(e.st.Documents-s.st.Documents) / (e.at - s.at).Minutes()
		return math.Abs(rate-quota) <= 0.1*quota
	}
	f.settled, f.reached = -1, -1
	for i := len(samples) - 1; i >= 0; i-- {
		s := samples[i]
		if s.at < from || s.at+settleWindow > to {
			continue
		}
		if !within(s) {
			break
		}
		f.settled = s.at - from
	}
	for _, s := range samples {
		if s.at >= from && s.at+settleWindow <= to && within(s) {
			f.reached = s.at - from
			break
		}
	}
	return f
}

// follows: from followAfter on, the phase's rate is within 10% of quota.
func (f phaseFigures) follows(quota float64) bool {
	return f.reached >= 0 && f.reached <= followAfter && math.Abs(f.followed-quota) <= 0.1*quota
}

func (f phaseFigures) String() string {
	settled := "never"
	if f.settled >= 0 {
		settled = "+" + f.settled.Round(100*time.Millisecond).String()
	}
	reached := "never"
	if f.reached >= 0 {
		reached = "+" + f.reached.Round(100*time.Millisecond).String()
	}
	return fmt.Sprintf("%.0f docs/min (%.0f accepted req/min), %.1f%% refused; a 10 s window within 10%% from %s; %.0f/min from +%s to the end; every window within 10%% from %s",
		f.docsPerMin, f.acceptedPerMin, 100*f.refused, reached, f.followed, followAfter, settled)
}

// changingRun runs a command against a quota devserver whose quota follows
// phases, sampling its counters every second.
func changingRun(bin string, phases []phase, name string, args func(url string) []string) (outcome, []sample, []time.Duration, devStats) {
	url, stop := quotaServer(bin)
	defer stop()
	start := time.Now()
	p := launch(name, args(url)...)
	smp := sampleEvery(url, start, time.Second)
	changed := make([]time.Duration, len(phases))
	done := make(chan outcome)
	go func() { done <- p.wait() }()
	var out outcome
	i := 1
	timer := time.NewTimer(time.Until(start.Add(phases[i].from)))
wait:
	for {
		select {
		case out = <-done:
			timer.Stop()
			break wait
		case <-timer.C:
			setQuota(url, phases[i].perMinute, phases[i].burst)
			changed[i] = time.Since(start)
			if i++; i < len(phases) {
				timer.Reset(time.Until(start.Add(phases[i].from)))
			}
		}
	}
	samples := smp.finish()
	return out, samples, changed, getStats(url)
}

// quotaChange: the quota goes 600 → 300 → 600 a minute at fixed times;
// per phase, the rate, how soon it comes within 10% of the new quota and the
// rate from 30 s after the change (the "follows within 30 s"),
// for the tool and for a client paced at 600 a minute.
func quotaChange(work, bin, baseline string) {
	p := time.Duration(pick(60, 40)) * time.Second
	phases := []phase{{600, 60, 0}, {300, 30, p}, {600, 60, 2 * p}}
	var need float64 = quotaBurst
	for _, ph := range phases {
		need += ph.perMinute * p.Minutes()
	}
	n := int(need*1.15/100) * 100
	dir := filepath.Join(work, "quota-change")
	makeFiles(dir, n, 4096, 100)

	type side struct {
		label   string
		out     outcome
		samples []sample
		changed []time.Duration
		st      devStats
		rep     runReport
		hasRep  bool
	}
	rep := filepath.Join(work, "report.json")
	var tool, sdk side
	tool.label = "paradigm-upload batch 10"
	tool.out, tool.samples, tool.changed, tool.st = changingRun(bin, phases, bin, func(url string) []string {
		return []string{"--files-dir", dir, "--workspace-id", "42", "--batch-size", "10", "--base-url", url, "--progress-interval", "5s", "--report", rep}
	})
	tool.rep, tool.hasRep = readReport(rep)
	capture(fmt.Sprintf("quota 600 → 300 → 600/min (%s phases), %d files, --batch-size 10: stderr", p, n), tool.out.stderr)
	sdk.label = "SDK-paced 600/min"
	sdk.out, sdk.samples, sdk.changed, sdk.st = changingRun(bin, phases, baseline, func(url string) []string {
		return []string{"-dir", dir, "-url", url, "-key", key, "-concurrency", "10", "-rate", strconv.Itoa(quotaPerMinute)}
	})

	for _, s := range []side{tool, sdk} {
		failed := n - int(s.st.Documents)
		if s.hasRep {
			failed = s.rep.failed()
		}
		fmt.Printf("quota-change  %-24s wall %s, stored %d/%d, requests %d, refused %d, failed %d, exit %d; quota changed at %v\n",
			s.label, s.out.wall.Round(100*time.Millisecond), s.st.Documents, n, s.st.Requests, s.st.QuotaRefused, failed, s.out.exit, s.changed[1:])
		if p := s.rep.pacing(); p != "" {
			fmt.Printf("quota-change  %-24s %s\n", s.label, p)
		}
		fmt.Printf("quota-change  %-24s docs stored per second:", s.label)
		for i := 1; i < len(s.samples); i++ {
			fmt.Printf(" %d", s.samples[i].st.Documents-s.samples[i-1].st.Documents)
		}
		fmt.Println()
	}

	end := func(s side, i int) time.Duration {
		last := s.samples[len(s.samples)-1].at
		if i+1 < len(phases) {
			return min(s.changed[i+1], last)
		}
		return min(s.changed[i]+p, last)
	}
	for i, ph := range phases {
		t := figures(tool.samples, tool.changed[i], end(tool, i), ph.perMinute)
		b := figures(sdk.samples, sdk.changed[i], end(sdk, i), ph.perMinute)
		what := "from the start"
		if i > 0 {
			what = fmt.Sprintf("after %g → %g", phases[i-1].perMinute, ph.perMinute)
		}
		rows = append(rows, row{
			name:     fmt.Sprintf("quota 600→300→600/min, %s phases: phase %d, %g/min (%s)", p, i+1, ph.perMinute, what),
			measured: t.String(), baseline: "SDK-paced: " + b.String(),
			ratio: fmt.Sprintf("%.2f", t.followed/ph.perMinute), target: "±10% by +30s, and from then on",
			met: t.follows(ph.perMinute),
		})
	}
	failed := n - int(tool.st.Documents)
	if tool.hasRep {
		failed = tool.rep.failed()
	}
	rows = append(rows, row{
		name:     fmt.Sprintf("quota 600→300→600/min, %d files: failed files, exit code", n),
		measured: fmt.Sprintf("%d/%d stored in %s, %d failed, exit %d", tool.st.Documents, n, tool.out.wall.Round(time.Second), failed, tool.out.exit),
		baseline: fmt.Sprintf("SDK-paced: %d/%d stored in %s, exit %d", sdk.st.Documents, n, sdk.out.wall.Round(time.Second), sdk.out.exit),
		ratio:    "-", target: "0 failed, exit 0", met: failed == 0 && tool.out.exit == 0 && tool.st.Documents == int64(n),
	})
}

// outageRun is a run through a maintenance window of the devserver.
type outageRun struct {
	label           string
	out             outcome
	st              devStats
	rep             runReport
	files           int
	opened, closed  time.Duration // since the run started
	duringPerMinute float64       // requests a minute while the window was open and the run alive
	resumed         time.Duration // after the window closed; -1: never
	afterPerMinute  float64       // documents a minute from the window's end to the run's end
}

// outageRunOf runs a paradigm-upload binary against a quota devserver and,
// once a quarter of the files are stored, opens a 503 window of d.
func outageRunOf(work, label, bin, tool, dir string, files int, d time.Duration) outageRun {
	url, stop := quotaServer(bin)
	defer stop()
	rep := filepath.Join(work, "report.json")
	start := time.Now()
	p := launch(tool, "--files-dir", dir, "--workspace-id", "42", "--batch-size", "10", "--base-url", url,
		"--progress-interval", "5s", "--report", rep)
	smp := sampleEvery(url, start, 250*time.Millisecond)
	done := make(chan outcome)
	go func() { done <- p.wait() }()
	r := outageRun{label: label, files: files, resumed: -1, opened: -1}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
wait:
	for {
		select {
		case r.out = <-done:
			break wait
		case <-tick.C:
			if r.opened < 0 && getStats(url).Documents >= int64(files/4) {
				startOutage(url, d, "503")
				r.opened = time.Since(start)
				r.closed = r.opened + d
			}
		}
	}
	samples := smp.finish()
	r.st = getStats(url)
	r.rep, _ = readReport(rep)
	// Every API request in the window is answered the maintenance 503;
	// per minute of the window the run lived through.
	if r.opened >= 0 {
		if in := min(r.closed, r.out.wall) - r.opened; in > 0 {
			r.duringPerMinute = float64(r.st.Outage503) / in.Minutes()
		}
		var atClose int64 = -1
		for _, s := range samples {
			if s.at <= r.closed {
				atClose = s.st.Documents
				continue
			}
			if atClose >= 0 && s.st.Documents > atClose {
				r.resumed = s.at - r.closed
				break
			}
		}
		if after := r.out.wall - r.closed; after > 0 && atClose >= 0 {
			r.afterPerMinute = float64(r.st.Documents-atClose) / after.Minutes()
		}
	}
	fmt.Printf("outage  %-22s wall %s, stored %d/%d, outage from +%s to +%s, requests in it %d (%.1f/min), resumed %s after it, then %.0f docs/min, requests %d, refused %d, failed %d, exit %d%s\n",
		r.label, r.out.wall.Round(100*time.Millisecond), r.st.Documents, files, r.opened.Round(100*time.Millisecond), r.closed.Round(100*time.Millisecond),
		r.st.Outage503, r.duringPerMinute, r.resumedString(), r.afterPerMinute, r.st.Requests, r.st.QuotaRefused, r.rep.failed(), r.out.exit, stoppedSuffix(r.rep))
	if p := r.rep.pacing(); p != "" {
		fmt.Printf("outage  %-22s %s\n", r.label, p)
	}
	return r
}

func stoppedSuffix(r runReport) string {
	if r.Stopped == "" {
		return ""
	}
	return ", stopped: " + r.Stopped
}

func (r outageRun) resumedString() string {
	if r.resumed < 0 {
		return "never"
	}
	return "+" + r.resumed.Round(100*time.Millisecond).String()
}

// outage: a 60 s maintenance window (503) in the middle of a run against
// the quota, for the tool and for the tool before issue 11.
func outage(work, bin string) {
	n := pick(800, 300)
	d := time.Duration(pick(60, 30)) * time.Second
	dir := filepath.Join(work, "outage")
	makeFiles(dir, n, 4096, 100)
	before := beforeBinary(work)
	tool := outageRunOf(work, "paradigm-upload batch 10", bin, bin, dir, n, d)
	capture(fmt.Sprintf("outage of %s (503) from +%s, quota 600/min, %d files, --batch-size 10: stderr", d, tool.opened.Round(time.Second), n), tool.out.stderr)
	old := outageRunOf(work, "e0141c5 batch 10", bin, before, dir, n, d)
	name := fmt.Sprintf("outage %s (503) at a quarter of %d files, quota 600/min, batch 10", d, n)
	rows = append(rows,
		row{name: name + ": failed files, exit code",
			measured: fmt.Sprintf("%d/%d stored in %s, %d failed, exit %d", tool.st.Documents, n, tool.out.wall.Round(time.Second), tool.rep.failed(), tool.out.exit),
			baseline: fmt.Sprintf("e0141c5: %d/%d stored in %s, %d failed, exit %d%s", old.st.Documents, n, old.out.wall.Round(time.Second), old.rep.failed(), old.out.exit, stoppedSuffix(old.rep)),
			ratio:    "-", target: "0 failed, exit 0", met: tool.rep.failed() == 0 && tool.out.exit == 0 && tool.st.Documents == int64(n)},
		row{name: name + ": requests during the outage",
			measured: fmt.Sprintf("%.1f/min (%d in %s)", tool.duringPerMinute, tool.st.Outage503, d),
			baseline: fmt.Sprintf("e0141c5: %.1f/min (%d)", old.duringPerMinute, old.st.Outage503),
			ratio:    "-", target: "a handful (≤ 10/min)", met: tool.duringPerMinute <= 10},
		row{name: name + ": uploads resumed after its end", measured: tool.resumedString(), baseline: "e0141c5: " + old.resumedString(),
			ratio: "-", target: "a few s (≤ 5s)", met: tool.resumed >= 0 && tool.resumed <= 5*time.Second},
		row{name: name + ": rate from its end to the end of the run", measured: fmt.Sprintf("%.0f docs/min (%.2f of quota)", tool.afterPerMinute, tool.afterPerMinute/quotaPerMinute),
			baseline: afterString(old), ratio: fmt.Sprintf("%.2f", tool.afterPerMinute/quotaPerMinute), target: "(no target)", met: true, info: true},
	)
}

func afterString(r outageRun) string {
	if r.out.wall <= r.closed {
		return fmt.Sprintf("e0141c5: ended at +%s, during the outage", r.out.wall.Round(time.Second))
	}
	return fmt.Sprintf("e0141c5: %.0f docs/min", r.afterPerMinute)
}
