// Package output owns everything paradigm-upload writes for people — the
// summary, per-file and dry-run lines, the progress displays, status and
// workspace tables, HTTP lines — and the JSON log records beside them. Every
// name or server text goes through Text: control characters, escape
// sequences and invalid UTF-8 are escaped, never sent raw to a terminal.
// JSON outputs keep names exact.
package output

import (
	"strconv"
	"unicode"
	"unicode/utf8"
)

// Text renders s for a terminal or a log line: as it is when every
// character is printable, otherwise quoted with Go escapes, so that a file
// name can neither move the cursor nor fake another line of output.
func Text(s string) string {
	if plain(s) {
		return s
	}
	return strconv.QuoteToGraphic(s)
}

// appendText appends Text(s) to b.
func appendText(b []byte, s string) []byte {
	if plain(s) {
		return append(b, s...)
	}
	return strconv.AppendQuoteToGraphic(b, s)
}

// plain reports whether s is valid UTF-8 made of graphic characters only
// (letters, marks, numbers, punctuation, symbols and spaces): no control or
// format character, no line or paragraph separator.
func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return false
			}
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || !unicode.IsGraphic(r) {
			return false
		}
		i += size - 1
	}
	return true
}
