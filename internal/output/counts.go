package output

import (
	"fmt"
	"sort"
	"strings"
)

// CountsLine renders counts by status, in alphabetical order of status, as
// "embedded 6 · parsing 1 · parsing_failed 1".
func CountsLine(counts map[string]int) string { return countsLine(counts, " · ") }

// ProcessingLine is the plain line of --wait's progress (off a terminal,
// and on SIGUSR1), in ASCII as every plain line:
// "processing: 3/5 documents done: embedded 2, parsing 1, pending 2".
func ProcessingLine(done, total int, counts map[string]int) string {
	return fmt.Sprintf("processing: %d/%d documents done: %s", done, total, countsLine(counts, ", "))
}

func countsLine(counts map[string]int, sep string) string {
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", Text(k), counts[k]))
	}
	if len(parts) == 0 {
		return "no documents"
	}
	return strings.Join(parts, sep)
}
