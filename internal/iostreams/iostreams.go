// Package iostreams owns a command's standard streams, as gh's
// pkg/iostreams does: standard input, output and error; whether stderr is
// a terminal that can show a live display, and its width; and the writers
// that keep each write whole when several goroutines write, and replace
// the API key, once known, on its way out — the last line of defence
// behind the rule that nothing prints it. cmd builds the streams (System,
// or buffers in tests) and internal/run writes to them.
package iostreams

import (
	"bytes"
	"io"
	"os"
	"sync"

	"golang.org/x/term"
)

// IOStreams are a command's standard streams, injectable for tests.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
	// ErrIsTTY says that stderr can show the live progress line.
	ErrIsTTY bool
	// Width returns the width in columns of the terminal stderr is on (0:
	// unknown); asked before every frame of a live display. Nil: unknown.
	Width func() int
	// NoRedaction leaves secrets in what is written, for the tests that
	// prove a secret is never written in the first place.
	NoRedaction bool

	secrets *secrets
}

// System returns the process's streams: stderr's terminal, if it is one,
// told apart, and its width asked anew each time.
func System() *IOStreams {
	fd := int(os.Stderr.Fd())
	return &IOStreams{
		In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr,
		ErrIsTTY: liveConsole(os.Stderr),
		Width: func() int {
			w, _, err := term.GetSize(fd)
			if err != nil {
				return 0
			}
			return w
		},
	}
}

// Guard wraps Out and ErrOut, once: progress, per-file lines, HTTP lines
// and messages reach them from several goroutines, and one lock per stream
// keeps each write whole; a secret, once added, is replaced on its way out
// (unless NoRedaction). Call it before the streams are shared.
func (s *IOStreams) Guard() {
	if _, done := s.ErrOut.(*guarded); done {
		return
	}
	if !s.NoRedaction {
		s.secrets = &secrets{}
	}
	s.Out = &guarded{w: s.Out, secrets: s.secrets}
	s.ErrOut = &guarded{w: s.ErrOut, secrets: s.secrets}
}

// AddSecret has v replaced by [REDACTED] in everything the guarded streams
// write from now on. A v shorter than 8 bytes is left: too short to
// replace without mangling text.
func (s *IOStreams) AddSecret(v string) { s.secrets.add(v) }

// guarded serialises writes to w, and replaces any secret on its way out.
type guarded struct {
	mu      sync.Mutex
	w       io.Writer
	secrets *secrets
}

func (g *guarded) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, err := g.w.Write(g.secrets.redact(p)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// secrets holds what must never be written.
type secrets struct {
	mu   sync.RWMutex
	list [][]byte
}

func (s *secrets) add(v string) {
	if s == nil || len(v) < 8 {
		return
	}
	s.mu.Lock()
	s.list = append(s.list, []byte(v))
	s.mu.Unlock()
}

func (s *secrets) redact(p []byte) []byte {
	if s == nil {
		return p
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, sec := range s.list {
		if bytes.Contains(p, sec) {
			p = bytes.ReplaceAll(p, sec, []byte("[REDACTED]"))
		}
	}
	return p
}
