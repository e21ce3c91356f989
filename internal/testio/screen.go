package testio

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Screen interprets what a program writes to a terminal as the terminal
// would, closely enough to test a live display: printable characters with
// automatic wrap at the right margin (deferred, as xterm does: a character
// in the last column wraps only when another follows), carriage return,
// line feed (which also returns, as a tty's ONLCR makes it), backspace, and
// the CSI sequences for erasing (K, J) and moving the cursor (A, B, C, D,
// G). Its scrollback is unbounded: every row ever written stays readable.
//
// A wrap is recorded in Wraps: a display that fits its terminal never
// causes one. Sequences the model does not know are recorded in Unknown.
//
// Resize narrows or widens the terminal. Narrowing reflows rows that no
// longer fit onto several rows, as tmux, VTE and most modern terminals do
// (a terminal that truncates instead is the easier case). Each Write is
// taken as one write of the program, and a resize happens between two: a
// program learns of it only when it next asks for the size, so what it
// computed before may arrive after. The new width takes effect before the
// first write whose first line fits it (and before the writes without any
// character that came just before it: the worst moment for the program);
// at most MaxStale writes before that are drawn at the old width, as a
// terminal would have had it read them before resizing. A narrowing that no
// write ever fits is recorded in Ignored.
type Screen struct {
	W        int
	MaxStale int
	Wraps    []string
	Unknown  []string
	Ignored  []int

	rows        [][]rune
	row, col    int
	pendingWrap bool
	resizeTo    int // requested width, 0: none
	stale       int
	held        []byte // writes without characters since the resize
	esc         []byte // an escape sequence cut by the end of a write
}

// NewScreen returns an empty screen w columns wide.
func NewScreen(w int) *Screen { return &Screen{W: w, MaxStale: 3, rows: [][]rune{nil}} }

// Write interprets one write of the program.
func (s *Screen) Write(p []byte) (int, error) {
	if s.resizeTo == 0 {
		s.interpret(p)
		return len(p), nil
	}
	if printable(p) == 0 {
		s.held = append(s.held, p...)
		return len(p), nil
	}
	b := append(s.held, p...)
	s.held = nil
	if s.firstLineFits(b, s.resizeTo) || s.stale >= s.MaxStale {
		s.reflow(s.resizeTo)
	} else {
		s.stale++
	}
	s.interpret(b)
	return len(p), nil
}

// Flush ends a pending resize: if no write fitted it, it was ignored.
func (s *Screen) Flush() {
	if s.resizeTo != 0 {
		s.Ignored = append(s.Ignored, s.resizeTo)
		held := s.held
		s.resizeTo, s.held = 0, nil
		s.interpret(held)
	}
}

// Resize changes the width (see Screen).
func (s *Screen) Resize(w int) {
	s.Flush()
	if w >= s.W {
		s.W = w
		return
	}
	s.resizeTo, s.stale = w, 0
}

// Pending reports whether a narrowing waits for a write that fits it.
func (s *Screen) Pending() bool { return s.resizeTo != 0 }

// firstLineFits reports whether the first line of b that holds characters
// stays within w columns, from where it starts.
func (s *Screen) firstLineFits(b []byte, w int) bool {
	start := s.col
	for len(b) > 0 {
		i := strings.IndexAny(string(b), "\r\n")
		line := b
		if i >= 0 {
			line = b[:i]
		}
		if n := printable(line); n > 0 {
			return start+n <= w
		}
		if i < 0 {
			return true
		}
		start, b = 0, b[i+1:]
	}
	return true
}

// interpret applies b to the screen.
func (s *Screen) interpret(b []byte) {
	if len(s.esc) > 0 {
		b = append(s.esc, b...)
		s.esc = nil
	}
	for i := 0; i < len(b); {
		c := b[i]
		switch {
		case c == 0x1b:
			n := escapeLen(b[i:])
			if i+n == len(b) && !complete(b[i:]) {
				s.esc = append([]byte(nil), b[i:]...)
				return
			}
			s.escape(b[i : i+n])
			i += n
			continue
		case c == '\r':
			s.col, s.pendingWrap = 0, false
		case c == '\n':
			s.row++
			s.col, s.pendingWrap = 0, false
			s.grow()
		case c == '\b':
			s.col, s.pendingWrap = max(s.col-1, 0), false
		case c < 0x20 || c == 0x7f:
		default:
			r, size := utf8.DecodeRune(b[i:])
			s.put(r)
			i += size
			continue
		}
		i++
	}
}

// complete reports whether b holds a whole escape sequence.
func complete(b []byte) bool {
	if len(b) < 2 {
		return false
	}
	if b[1] != '[' {
		return true
	}
	last := b[len(b)-1]
	return len(b) > 2 && last >= 0x40 && last <= 0x7e
}

// printable counts the characters of b that would be drawn.
func printable(b []byte) int {
	n := 0
	for i := 0; i < len(b); {
		if b[i] == 0x1b {
			i += escapeLen(b[i:])
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r >= 0x20 && r != 0x7f {
			n++
		}
		i += size
	}
	return n
}

func (s *Screen) grow() {
	for len(s.rows) <= s.row {
		s.rows = append(s.rows, nil)
	}
}

func (s *Screen) put(r rune) {
	if s.pendingWrap {
		s.Wraps = append(s.Wraps, string(s.rows[s.row]))
		s.row++
		s.col, s.pendingWrap = 0, false
		s.grow()
	}
	line := s.rows[s.row]
	for len(line) <= s.col {
		line = append(line, ' ')
	}
	line[s.col] = r
	s.rows[s.row] = line
	if s.col == s.W-1 {
		s.pendingWrap = true
	} else {
		s.col++
	}
}

// escapeLen is the length of the escape sequence at the start of b.
func escapeLen(b []byte) int {
	if len(b) < 2 {
		return len(b)
	}
	if b[1] != '[' {
		return 2
	}
	for i := 2; i < len(b); i++ {
		if b[i] >= 0x40 && b[i] <= 0x7e {
			return i + 1
		}
	}
	return len(b)
}

// escape interprets one escape sequence.
func (s *Screen) escape(b []byte) {
	n := len(b)
	seq := string(b)
	if n < 3 || b[1] != '[' {
		s.Unknown = append(s.Unknown, seq)
		return
	}
	param, final := seq[2:n-1], seq[n-1]
	arg := 0
	if param != "" {
		v, err := strconv.Atoi(param)
		if err != nil {
			s.Unknown = append(s.Unknown, seq)
			return
		}
		arg = v
	}
	move := max(arg, 1)
	s.pendingWrap = false
	switch final {
	case 'K':
		line := s.rows[s.row]
		switch arg {
		case 0:
			if s.col < len(line) {
				s.rows[s.row] = line[:s.col]
			}
		case 1:
			for i := 0; i <= s.col && i < len(line); i++ {
				line[i] = ' '
			}
		case 2:
			s.rows[s.row] = nil
		}
	case 'J':
		switch arg {
		case 0:
			if s.col < len(s.rows[s.row]) {
				s.rows[s.row] = s.rows[s.row][:s.col]
			}
			s.rows = s.rows[:s.row+1]
		case 2:
			for i := range s.rows {
				s.rows[i] = nil
			}
		default:
			s.Unknown = append(s.Unknown, seq)
		}
	case 'A':
		s.row = max(s.row-move, 0)
	case 'B':
		s.row += move
		s.grow()
	case 'C':
		s.col = min(s.col+move, s.W-1)
	case 'D':
		s.col = max(s.col-move, 0)
	case 'G':
		s.col = min(max(arg, 1), s.W) - 1
	default:
		s.Unknown = append(s.Unknown, seq)
	}
}

// reflow narrows the screen to w columns, splitting every row that no
// longer fits.
func (s *Screen) reflow(w int) {
	var rows [][]rune
	row, col := s.row, s.col
	for i, line := range s.rows {
		start := len(rows)
		for len(line) > w {
			rows = append(rows, line[:w:w])
			line = line[w:]
		}
		rows = append(rows, line)
		if i == s.row {
			row, col = start+min(s.col/w, len(rows)-1-start), s.col%w
		}
	}
	s.rows, s.row, s.col, s.W = rows, row, col, w
	s.resizeTo, s.stale = 0, 0
}

// Lines returns the screen's rows, trailing blanks trimmed, without the
// empty rows at the bottom.
func (s *Screen) Lines() []string {
	out := make([]string, len(s.rows))
	for i, r := range s.rows {
		out[i] = strings.TrimRight(string(r), " ")
	}
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return out
}
