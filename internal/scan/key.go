package scan

import (
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Keys: each file's identity path, stable across machines and runs.
//
// A file's key is its path relative to the root with each component:
//   - as it is, when it is printable ASCII without '%' (the usual case);
//   - in Unicode NFC, when it is valid UTF-8 without '%' — so the same tree
//     copied between macOS (NFD names) and Linux is the same set of keys;
//   - otherwise percent-escaped: '%' and every byte of invalid UTF-8 as
//     %XX, so that a name that is not valid UTF-8 has a stable key of valid
//     text, and no two names share one.
//
// Two names of one folder whose forms above coincide (the NFC and NFD
// spellings of "café.pdf" side by side on Linux) are different files: the
// one already in that form keeps it (else the first in byte order), the
// others have every non-ASCII byte escaped too. A key therefore contains a
// '%' exactly when some component was escaped, and decodes to one name.

// componentKeys returns the key of each of the names of one folder.
func componentKeys(names []string) []string {
	keys := make([]string, len(names))
	plainFolder := true
	for i, n := range names {
		if !plainASCII(n) {
			plainFolder = false
		}
		keys[i] = n
	}
	if plainFolder {
		return keys // distinct names, each its own key
	}
	first := map[string]int{} // key → index of the name that holds it
	var clash []int
	for i, n := range names {
		keys[i] = nameKey(n)
		if j, taken := first[keys[i]]; taken {
			// Keep the key for the name already in that form.
			if names[i] == keys[i] {
				first[keys[i]] = i
				clash = append(clash, j)
			} else {
				clash = append(clash, i)
			}
			continue
		}
		first[keys[i]] = i
	}
	for _, i := range clash {
		keys[i] = escapeAll(names[i])
	}
	return keys
}

// plainASCII reports a name of printable ASCII without '%'.
func plainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '%' {
			return false
		}
	}
	return true
}

// nameKey is a name's key when it shares it with no other.
func nameKey(name string) string {
	if utf8.ValidString(name) && !strings.Contains(name, "%") {
		return norm.NFC.String(name)
	}
	if utf8.ValidString(name) {
		return strings.ReplaceAll(norm.NFC.String(name), "%", "%25")
	}
	var b strings.Builder
	for i := 0; i < len(name); {
		r, size := utf8.DecodeRuneInString(name[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			escapeByte(&b, name[i])
		case r == '%':
			b.WriteString("%25")
		default:
			b.WriteString(name[i : i+size])
		}
		i += size
	}
	return b.String()
}

// escapeAll escapes '%' and every byte that is not printable ASCII.
func escapeAll(name string) string {
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 0x20 || c >= 0x7f || c == '%' {
			escapeByte(&b, c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

func escapeByte(b *strings.Builder, c byte) {
	const hex = "0123456789ABCDEF"
	b.WriteByte('%')
	b.WriteByte(hex[c>>4])
	b.WriteByte(hex[c&0xF])
}

// joinKey appends a component's key to its folder's.
func joinKey(parent, comp string) string {
	if parent == "" {
		return comp
	}
	return parent + "/" + comp
}
