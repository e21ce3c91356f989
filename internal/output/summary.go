package output

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/paradigm-upload/paradigm-upload/internal/scan"
	"github.com/paradigm-upload/paradigm-upload/internal/track"
	"github.com/paradigm-upload/paradigm-upload/internal/upload"
)

// SummaryOptions say what the summary may assume about the run.
type SummaryOptions struct {
	// StateFile is set when the run had a state file.
	StateFile bool
	// Report is the --report file, if any: a capped list points to it.
	Report string
}

// seeReport says where a capped list's other files are.
func (o SummaryOptions) seeReport() string {
	if o.Report == "" {
		return "(see --report)"
	}
	return "(all in " + Text(o.Report) + ")"
}

// shown reports whether the summary shows outcome o of s.
func shown(s *upload.Summary, o upload.Outcome) bool {
	if s.Count(o) > 0 {
		return true
	}
	spec := o.Spec()
	if !spec.Always {
		return false
	}
	if s.DryRun {
		return !spec.Sends
	}
	return !spec.DryRun
}

// WriteSummary prints what the run did, for a person: a line per outcome
// (from the outcome table), skips by reason, every failure with its reason,
// the upload sessions, and why the run stopped early.
func WriteSummary(w io.Writer, s *upload.Summary, o SummaryOptions) {
	var b []byte
	for _, oc := range upload.Outcomes() {
		if !shown(s, oc) {
			continue
		}
		spec, n := oc.Spec(), s.Count(oc)
		b = fmt.Appendf(b, "%-13s %d", spec.Label+":", n)
		if spec.Sends || spec.DryRun {
			b = fmt.Appendf(b, " file%s, %s", plural(n), scan.FormatSize(s.Bytes(oc)))
		}
		if spec.Note != "" && n > 0 {
			b = fmt.Appendf(b, " (%s)", spec.Note)
		}
		b = append(b, '\n')
		switch spec.Detail {
		case upload.DetailByReason:
			reasons := s.Reasons[oc]
			for _, reason := range sortedByCount(reasons) {
				b = fmt.Appendf(b, "  %6d  %s\n", reasons[reason], Text(reason))
			}
		case upload.DetailEachFile:
			var list []upload.Result
			for _, r := range s.Listed {
				if r.Outcome == oc {
					list = append(list, r)
				}
			}
			b = appendList(b, list, func(r upload.Result) string { return r.Reason }, o)
		}
	}
	if len(s.Warnings) > 0 {
		b = fmt.Appendf(b, "%-13s %d\n", "Warnings:", len(s.Warnings))
		b = appendList(b, s.Warnings, func(r upload.Result) string { return r.Warning }, o)
	}
	switch len(s.Sessions) {
	case 0:
	case 1:
		b = fmt.Appendf(b, "Upload session: %s\n", Text(s.Sessions[0]))
	default:
		quoted := make([]string, len(s.Sessions))
		for i, v := range s.Sessions {
			quoted[i] = Text(v)
		}
		b = fmt.Appendf(b, "Upload sessions: %s\n", strings.Join(quoted, ", "))
	}
	if p := s.Pacing; p.Throttled > 0 || p.Unavailable > 0 {
		b = fmt.Appendf(b, "Pacing:       %s\n", PacingText(p))
	}
	for _, n := range s.Notes {
		b = fmt.Appendf(b, "Note:         %s\n", Text(n))
	}
	if s.DryRun {
		b = append(b, "Dry run: nothing was sent.\n"...)
	} else {
		files, _ := s.Sent()
		rate := 0.0
		if secs := s.Duration.Seconds(); secs > 0 {
			rate = float64(files) / secs
		}
		b = fmt.Appendf(b, "Time:         %s (%.1f files/s sent)\n", formatDuration(s.Duration), rate)
	}
	if line := StopLine(s, o); line != "" {
		b = append(b, strings.ToUpper(line[:1])...)
		b = append(b, line[1:]...)
		b = append(b, ".\n"...)
	}
	_, _ = w.Write(b)
}

// StopLine says why the run stopped early, how much it left, and how to
// resume; empty when it did not stop early.
func StopLine(s *upload.Summary, o SummaryOptions) string { return stopLine(s, o, "") }

// stopLine is StopLine; errText, when set, is the error that stopped the
// run, said in the line rather than below it.
func stopLine(s *upload.Summary, o SummaryOptions, errText string) string {
	resume := "rerun to resume (files the service already has are recognised, not sent twice)"
	if o.StateFile {
		resume = "rerun with the same --state-file to resume"
	}
	var head string
	switch s.Stopped {
	case upload.StopMaxFails:
		n := s.Failures()
		head = fmt.Sprintf("stopped early: --max-fails reached (%d failure%s); ", n, plural(n))
	case upload.StopInterrupted:
		head = "interrupted: "
	case upload.StopFatal:
		head = "stopped early by the error below; "
		if errText != "" {
			head = "stopped early: " + errText + "; "
		}
	default:
		return ""
	}
	if n := s.Count(upload.NotAttempted); n > 0 {
		head += fmt.Sprintf("%d file%s not attempted; ", n, plural(n))
	}
	return head + resume
}

// OneLineOptions say what the one-line summary of --quiet adds to the
// counts: what went wrong.
type OneLineOptions struct {
	SummaryOptions
	// Err is what ended the run as a whole, if anything did.
	Err error
	// Docs are the documents --wait followed; TimedOut when it gave up.
	Docs     []track.Doc
	TimedOut bool
}

// WriteOneLine prints the summary in one line, for --quiet: the counts,
// then what went wrong — the first failure, the warnings, processing that
// failed, why the run stopped early and how to resume, the error that
// ended it.
func WriteOneLine(w io.Writer, s *upload.Summary, o OneLineOptions) {
	var parts []string
	for _, oc := range upload.Outcomes() {
		if shown(s, oc) {
			parts = append(parts, fmt.Sprintf("%s %d", oc.Spec().Verb, s.Count(oc)))
		}
	}
	_, bytes := s.Sent()
	line := fmt.Sprintf("paradigm-upload: %s (%s in %s)", strings.Join(parts, ", "), scan.FormatSize(bytes),
		formatDuration(s.Duration))
	var failed []upload.Result
	for _, r := range s.Listed {
		if r.Outcome.Spec().Failure {
			failed = append(failed, r)
		}
	}
	if len(failed) > 0 {
		line += "; failed: " + Text(failed[0].Rel) + ": " + Text(failed[0].Reason) + andMore(len(failed)-1)
	}
	line += warningsPart(s.Warnings)
	if bad := track.Failed(o.Docs); len(bad) > 0 {
		line += fmt.Sprintf("; processing failed for %d document%s: %s%s", len(bad), plural(len(bad)), docLine(bad[0]),
			andMore(len(bad)-1))
	}
	if o.TimedOut {
		n := len(o.Docs) - len(track.Final(o.Docs))
		line += fmt.Sprintf("; %d document%s still in progress after --wait-timeout", n, plural(n))
	}
	errText := ""
	if o.Err != nil {
		errText = Text(OneLine(o.Err.Error()))
	}
	if stop := stopLine(s, o.SummaryOptions, errText); stop != "" {
		line += "; " + stop
	}
	if errText != "" && s.Stopped != upload.StopFatal { // (else the stop said it)
		line += "; " + errText
	}
	fmt.Fprintln(w, line)
}

// andMore is " (and 3 more)", or nothing when n is 0.
func andMore(n int) string {
	if n <= 0 {
		return ""
	}
	return fmt.Sprintf(" (and %d more)", n)
}

// warningsPart says, for the one-line summary, how many uploads succeeded
// with a reservation and which: "; 2 warnings: uploaded, but the tags were
// not applied".
func warningsPart(ws []upload.Result) string {
	if len(ws) == 0 {
		return ""
	}
	by := map[string]int{}
	for _, r := range ws {
		by[r.Warning]++
	}
	texts := sortedByCount(by)
	parts := make([]string, len(texts))
	for i, w := range texts {
		parts[i] = Text(w)
		if len(texts) > 1 {
			parts[i] += fmt.Sprintf(" (%d)", by[w])
		}
	}
	return fmt.Sprintf("; %d warning%s: %s", len(ws), plural(len(ws)), strings.Join(parts, ", "))
}

// maxListed is how many lines a list of the summary takes at most (the
// report has every file).
const maxListed = 20

// appendList appends a list of files with what note says of each: each
// file with its note when they fit in maxListed lines; otherwise grouped
// by note — the largest groups first, each headed by its note and count —
// until maxListed lines are written, then how many files are not named.
func appendList(b []byte, rs []upload.Result, note func(upload.Result) string, o SummaryOptions) []byte {
	if len(rs) <= maxListed {
		for _, r := range rs {
			b = append(b, "  "...)
			b = appendText(b, r.Rel)
			b = append(b, ": "...)
			b = appendText(b, note(r))
			b = append(b, '\n')
		}
		return b
	}
	named := 0
	for _, g := range capGroups(rs, note) {
		b = append(b, "  "...)
		b = appendText(b, g.note)
		b = fmt.Appendf(b, ": %d file%s\n", g.all, plural(g.all))
		for _, r := range g.shown {
			b = append(b, "    "...)
			b = appendText(b, r.Rel)
			b = append(b, '\n')
			named++
		}
	}
	return fmt.Appendf(b, "  … and %d more %s\n", len(rs)-named, o.seeReport())
}

// group is items of a capped list that share a note: all of them are
// counted, the first shown.
type group[T any] struct {
	note  string
	all   int
	shown []T
}

// capGroups groups items by note, the largest groups first (then in the
// order their first item came), and cuts them to fit in maxListed lines,
// a line for each group's note and one for each item shown.
func capGroups[T any](items []T, note func(T) string) []group[T] {
	var groups []*group[T]
	byNote := map[string]*group[T]{}
	members := map[string][]T{}
	for _, it := range items {
		n := note(it)
		if byNote[n] == nil {
			byNote[n] = &group[T]{note: n}
			groups = append(groups, byNote[n])
		}
		members[n] = append(members[n], it)
		byNote[n].all++
	}
	slices.SortStableFunc(groups, func(a, b *group[T]) int { return b.all - a.all })
	var out []group[T]
	lines := 0
	for _, g := range groups {
		if lines >= maxListed-1 {
			break
		}
		lines++
		g.shown = members[g.note][:min(g.all, maxListed-lines)]
		lines += len(g.shown)
		out = append(out, *g)
	}
	return out
}

// sortedByCount returns the keys by decreasing count, then by name.
func sortedByCount(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if m[a] != m[b] {
			return m[b] - m[a]
		}
		return strings.Compare(a, b)
	})
	return keys
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// PacingText says what a run met of the service's quota and outages.
func PacingText(p upload.Pacing) string {
	var parts []string
	if p.Throttled > 0 {
		part := fmt.Sprintf("%d request%s refused for the quota (sent again)", p.Throttled, plural(int(p.Throttled)))
		if p.Rate > 0 {
			part += fmt.Sprintf(", learned rate %s", RateText(p.Rate))
		}
		parts = append(parts, part)
	}
	if p.Unavailable > 0 {
		parts = append(parts, fmt.Sprintf("%d answer%s of an unavailable service", p.Unavailable, plural(int(p.Unavailable))))
	}
	parts = append(parts, fmt.Sprintf("%s waited", formatDuration(p.Waited)))
	return strings.Join(parts, "; ")
}

// formatDuration renders every duration of the summary the one way: 13ms
// and 3.5s, then as the live line's ETA (3m05s, 2h04m, 3d04h).
func formatDuration(d time.Duration) string {
	switch r := d.Round(100 * time.Millisecond); {
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case r < time.Minute:
		return fmt.Sprintf("%.1fs", r.Seconds())
	}
	return formatETA(d)
}

// RateText renders a request rate for people: a minute's worth, and a
// second's when that is at least one.
func RateText(perSec float64) string {
	if perSec >= 1 {
		return fmt.Sprintf("%.0f/min (%.1f/s)", perSec*60, perSec)
	}
	return fmt.Sprintf("%.1f/min", perSec*60)
}
