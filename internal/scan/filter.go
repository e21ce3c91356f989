package scan

import (
	"errors"
	"fmt"
	"math"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/paradigm-upload/paradigm-upload/internal/formats"
)

// SupportedExtensions are the formats Paradigm accepts. Other files are
// skipped unless the user includes them. The list, and the public source of
// each entry, belong to internal/formats.
var SupportedExtensions = formats.Extensions()

// NameList is a list of extensions or whole file names, as given to
// --include-extensions and --exclude-extensions: case-insensitive, leading
// dot optional. "pdf" matches report.PDF, "tar.gz" matches a.tar.gz, and
// ".DS_Store" or "Thumbs.db" match files of that name.
type NameList struct {
	entries map[string]struct{}
	// multi holds entries with an inner dot ("tar.gz", "thumbs.db"), which
	// need a suffix check rather than a lookup of the last extension.
	multi []string
}

// ParseNameList reads a comma-separated list. Blank entries are ignored.
func ParseNameList(s string) (NameList, error) {
	l := NameList{entries: map[string]struct{}{}}
	for _, raw := range strings.Split(s, ",") {
		e := strings.ToLower(strings.TrimSpace(raw))
		e = strings.TrimPrefix(e, ".")
		if e == "" {
			continue
		}
		if strings.ContainsAny(e, `/\`) {
			return NameList{}, fmt.Errorf("%q is not an extension or a file name (it contains a path separator)", strings.TrimSpace(raw))
		}
		if _, dup := l.entries[e]; dup {
			continue
		}
		l.entries[e] = struct{}{}
		if strings.Contains(e, ".") {
			l.multi = append(l.multi, e)
		}
	}
	return l, nil
}

// Empty reports whether the list has no entry.
func (l NameList) Empty() bool { return len(l.entries) == 0 }

// Matches reports whether the file name (a base name) is named by the list,
// by its whole name or by its extension.
func (l NameList) Matches(name string) bool {
	if len(l.entries) == 0 {
		return false
	}
	lower := strings.ToLower(name)
	if _, ok := l.entries[strings.TrimPrefix(lower, ".")]; ok {
		return true
	}
	if ext := extension(lower); ext != "" {
		if _, ok := l.entries[ext]; ok {
			return true
		}
	}
	for _, m := range l.multi {
		if strings.HasSuffix(lower, "."+m) {
			return true
		}
	}
	return false
}

// extension returns the lower-case extension without its dot; a name that is
// only a leading-dot name (".bashrc") has none.
func extension(lowerName string) string {
	ext := path.Ext(lowerName)
	if ext == "" || ext == lowerName {
		return ""
	}
	return ext[1:]
}

// Reason says why a file is not uploaded.
type Reason string

// The reasons a scanned file is skipped before any upload.
const (
	ReasonNone        Reason = ""
	ReasonNotIncluded Reason = "not in --include-extensions"
	ReasonExcluded    Reason = "in --exclude-extensions"
	ReasonUnsupported Reason = "unsupported extension"
	ReasonTooLarge    Reason = "larger than --max-file-size"
	ReasonSymlink     Reason = "symbolic link (not followed)"
	ReasonSymlinkLoop Reason = "symbolic link loop"
	ReasonBrokenLink  Reason = "broken symbolic link"
	ReasonNotRegular  Reason = "not a regular file"
	ReasonHidden      Reason = "hidden (--skip-hidden)"
	ReasonGlobExclude Reason = "matched by --exclude"
	ReasonGlobInclude Reason = "not matched by --include"
	ReasonTooSmall    Reason = "smaller than --min-size"
	ReasonTooOld      Reason = "not newer than --newer-than"
	ReasonVanished    Reason = "gone while the scan ran"
)

// Filter decides which scanned files are candidates for upload. The checks
// apply in this order, and the first that fails names the reason: hidden
// (--skip-hidden), --exclude patterns, --include patterns, extension lists
// (--include-extensions, then --exclude-extensions, then the supported
// formats), size (--min-size, --max-file-size), age (--newer-than).
type Filter struct {
	Include NameList // allow-list; empty means every supported file
	Exclude NameList // applied after Include
	MaxSize int64    // 0 means no limit

	IncludeGlobs Globs // when set, a file must match one
	ExcludeGlobs Globs // a file matching one is skipped
	MinSize      int64
	// NewerThan, when set, keeps only files modified after it.
	NewerThan time.Time
	// SkipHidden skips files and folders whose name starts with a dot.
	SkipHidden bool
	// FollowSymlinks follows symbolic links, with loop detection.
	FollowSymlinks bool
}

var supported = func() NameList {
	l, _ := ParseNameList(strings.Join(SupportedExtensions, ","))
	return l
}()

// CheckFile applies every check to a file at rel (slash-separated).
func (f Filter) CheckFile(rel string, size int64, mtime time.Time) Reason {
	if len(f.ExcludeGlobs) > 0 && f.ExcludeGlobs.Match(rel) {
		return ReasonGlobExclude
	}
	if len(f.IncludeGlobs) > 0 && !f.IncludeGlobs.Match(rel) {
		return ReasonGlobInclude
	}
	name := rel
	if i := strings.LastIndexByte(rel, '/'); i >= 0 {
		name = rel[i+1:]
	}
	if r := f.Check(name, size); r != ReasonNone {
		return r
	}
	if size < f.MinSize {
		return ReasonTooSmall
	}
	if !f.NewerThan.IsZero() && !mtime.After(f.NewerThan) {
		return ReasonTooOld
	}
	return ReasonNone
}

// Check returns why the file would be skipped by its name and size, or
// ReasonNone.
func (f Filter) Check(name string, size int64) Reason {
	if !f.Include.Empty() && !f.Include.Matches(name) {
		return ReasonNotIncluded
	}
	if f.Exclude.Matches(name) {
		return ReasonExcluded
	}
	if !f.Include.Matches(name) && !supported.Matches(name) {
		return ReasonUnsupported
	}
	if f.MaxSize > 0 && size > f.MaxSize {
		return ReasonTooLarge
	}
	return ReasonNone
}

// sizeUnit returns the multiplier of a lower-case size unit.
func sizeUnit(u string) (float64, bool) {
	switch u {
	case "", "b":
		return 1, true
	case "k", "kb":
		return 1e3, true
	case "m", "mb":
		return 1e6, true
	case "g", "gb":
		return 1e9, true
	case "t", "tb":
		return 1e12, true
	case "kib":
		return 1 << 10, true
	case "mib":
		return 1 << 20, true
	case "gib":
		return 1 << 30, true
	case "tib":
		return 1 << 40, true
	}
	return 0, false
}

// ParseSize reads a size such as "100MB", "2GiB", "1.5 GB" or "1048576".
// KB, MB, GB and TB are powers of 1000 (as in the service's "25 MB" limit);
// KiB, MiB, GiB and TiB are powers of 1024. Case does not matter.
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, errors.New("empty size")
	}
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
		i++
	}
	num, unit := t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	mult, ok := sizeUnit(unit)
	if num == "" || !ok {
		return 0, fmt.Errorf("%q is not a size (examples: 25MB, 2GiB, 1048576)", s)
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a size (examples: 25MB, 2GiB, 1048576)", s)
	}
	b := v * mult
	if b > math.MaxInt64/2 || math.IsNaN(b) {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return int64(math.Round(b)), nil
}

// ParseNewerThan reads --newer-than: a duration before now ("36h", "90m",
// or days as "7d"), or a date ("2026-11-01", RFC 3339 "2026-11-01T08:00:00Z").
func ParseNewerThan(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.ParseFloat(days, 64); err == nil && n >= 0 {
			return now.Add(-time.Duration(n * 24 * float64(time.Hour))), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is neither a duration (24h, 7d) nor a date (2026-11-01, 2026-11-01T08:00:00Z)", s)
}

// FormatSize renders n bytes for people, in the units ParseSize reads.
func FormatSize(n int64) string { return string(AppendSize(nil, n)) }

// AppendSize appends FormatSize(n) to b.
func AppendSize(b []byte, n int64) []byte {
	const unit = 1000
	if n < unit {
		b = strconv.AppendInt(b, n, 10)
		return append(b, " B"...)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	b = strconv.AppendFloat(b, float64(n)/float64(div), 'f', 1, 64)
	return append(b, ' ', "kMGTP"[exp], 'B')
}
