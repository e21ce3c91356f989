package scan

import (
	"fmt"
	"path"
	"strings"
)

// Glob is a pattern on a file's path relative to the uploaded folder, with
// forward slashes. A pattern without a slash matches the file's name at any
// depth ("*.pdf", "~$*"); a pattern with a slash matches the whole relative
// path, where "**" stands for any number of folders ("archive/**",
// "**/drafts/*.docx"). Other syntax is that of path.Match. Matching is
// case-sensitive, as file systems mostly are.
type Glob struct {
	raw      string
	segments []string
	nameOnly bool
}

// ParseGlob checks a pattern.
func ParseGlob(p string) (Glob, error) {
	p = strings.TrimPrefix(strings.TrimSpace(p), "./")
	if p == "" {
		return Glob{}, fmt.Errorf("empty pattern")
	}
	g := Glob{raw: p, nameOnly: !strings.Contains(p, "/")}
	g.segments = strings.Split(strings.Trim(p, "/"), "/")
	for _, s := range g.segments {
		if s == "**" {
			continue
		}
		if _, err := path.Match(s, ""); err != nil {
			return Glob{}, fmt.Errorf("%q is not a valid pattern: %v", p, err)
		}
	}
	return g, nil
}

func (g Glob) String() string { return g.raw }

// Match reports whether the relative path rel matches.
func (g Glob) Match(rel string) bool {
	if g.nameOnly {
		ok, _ := path.Match(g.segments[0], path.Base(rel))
		return ok
	}
	return matchSegments(g.segments, strings.Split(rel, "/"))
}

func matchSegments(pat, parts []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			rest := pat[1:]
			if len(rest) == 0 {
				return true // "dir/**" matches everything below
			}
			for i := 0; i <= len(parts); i++ {
				if matchSegments(rest, parts[i:]) {
					return true
				}
			}
			return false
		}
		if len(parts) == 0 {
			return false
		}
		if ok, _ := path.Match(pat[0], parts[0]); !ok {
			return false
		}
		pat, parts = pat[1:], parts[1:]
	}
	return len(parts) == 0
}

// Globs is a list of patterns; it matches when any pattern does.
type Globs []Glob

// ParseGlobs checks a list of patterns.
func ParseGlobs(ps []string) (Globs, error) {
	var gs Globs
	for _, p := range ps {
		for _, part := range strings.Split(p, ",") {
			if strings.TrimSpace(part) == "" {
				continue
			}
			g, err := ParseGlob(part)
			if err != nil {
				return nil, err
			}
			gs = append(gs, g)
		}
	}
	return gs, nil
}

// Match reports whether any pattern matches rel.
func (gs Globs) Match(rel string) bool {
	for _, g := range gs {
		if g.Match(rel) {
			return true
		}
	}
	return false
}
