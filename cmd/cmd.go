// Package cmd is the command line of paradigm-upload: flags, configuration
// precedence (flag > environment > config file > default), the key and TLS
// settings, and the one place errors become an exit code and a line on
// stderr. Each command turns its flags into options and calls one function
// of internal/run, which does the work; Main listens to the signals
// (internal/signals) and hands them to the commands.
package cmd

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/term"

	"github.com/paradigm-upload/paradigm-upload/internal/output"
	"github.com/paradigm-upload/paradigm-upload/internal/run"
	"github.com/paradigm-upload/paradigm-upload/internal/signals"
)

// Exit codes (see internal/run).
const (
	ExitOK          = run.ExitOK
	ExitFailures    = run.ExitFailures
	ExitUsage       = run.ExitUsage
	ExitProcessing  = run.ExitProcessing
	ExitInterrupted = run.ExitInterrupted
)

// exitCodesHelp is the exit codes' part of --help; the README's table
// says the same (TestREADMESaysWhatHelpSays).
const exitCodesHelp = `Exit codes:
  0    every file was uploaded, skipped or already done
  1    one or more uploads failed, or a document was stored without the tags
       asked for (the service answered 207)
  2    usage, configuration or authentication error: found before the first
       upload, or during the run a rejected key, or a state file or report
       that could not be written
  3    processing failed for some documents (--wait, status), or had not
       finished when --wait-timeout ran out (--wait)
  130  interrupted (Ctrl-C or SIGTERM); run the same command again to resume`

// IOStreams are the command's standard streams, injectable for tests.
type IOStreams struct {
	In       io.Reader
	Out      io.Writer
	ErrOut   io.Writer
	ErrIsTTY bool
	// Getenv reads the environment; os.Getenv when nil.
	Getenv func(string) string
	// Environ lists the environment, for the PARADIGM_* variables that
	// match no setting; os.Environ when nil.
	Environ func() []string

	// Width returns the width of the terminal stderr is on; nil: 80.
	Width func() int

	// noBackstop turns off the redaction of the key on the output streams,
	// for the tests that prove the key is never written in the first place.
	noBackstop bool
	secrets    *secretSet
	// format is the invocation's --log-format, once known.
	format *logFormat
}

// lock wraps the output streams, once: progress, per-file lines, HTTP lines
// and messages reach them from several goroutines, and one lock per stream
// keeps each write whole; the key, once known, is replaced on its way out.
func (s *IOStreams) lock() {
	if _, done := s.ErrOut.(*lockedWriter); done {
		return
	}
	if !s.noBackstop {
		s.secrets = &secretSet{}
	}
	s.Out = &lockedWriter{w: s.Out, secrets: s.secrets}
	s.ErrOut = &lockedWriter{w: s.ErrOut, secrets: s.secrets}
}

// logFormat says whether stderr takes JSON records: known from the command
// line and the environment before the flags are parsed (so that a flag
// error is JSON too), and from the config file once they are. It is read
// from other goroutines (Go's log lines, the last line of a forced exit).
type logFormat struct{ json atomic.Bool }

// goLog writes the standard logger's lines as notices of the invocation.
type goLog struct{ s *IOStreams }

func (g goLog) Write(p []byte) (int, error) {
	g.s.notices().Warn(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// run returns the streams as internal/run takes them.
func (s IOStreams) run() run.Streams {
	return run.Streams{Out: s.Out, ErrOut: s.ErrOut, ErrIsTTY: s.ErrIsTTY, Width: s.Width}
}

// notices returns the printer of errors and warnings, text or JSON.
func (s IOStreams) notices() output.Notices {
	if s.format != nil && s.format.json.Load() {
		return output.Notices{W: s.ErrOut, Log: output.NewJSONLog(s.ErrOut, false)}
	}
	return output.Notices{W: s.ErrOut}
}

// wantsJSON reports whether the command line or the environment asks for
// JSON logs.
func wantsJSON(args []string, getenv func(string) string) bool {
	format := getenv(envName("log-format"))
	for i, a := range args {
		if a == "--" {
			break
		}
		if v, ok := strings.CutPrefix(a, "--log-format="); ok {
			format = v
		} else if a == "--log-format" && i+1 < len(args) {
			format = args[i+1]
		}
	}
	return format == "json"
}

// gcPercent is the collector's GOGC unless the environment sets one.
const gcPercent = 50

// Main runs the command with the process's arguments, streams and signals,
// and returns the exit code.
func Main() int {
	if os.Getenv("GOGC") == "" {
		// A large run's heap is its state and listing tables: arenas with
		// no pointers, cheap to collect. The garbage around them (decoded
		// records, requests) is short-lived; collecting it when the heap
		// has grown by half rather than doubled keeps peak memory near
		// what the run holds (a million-file state: about a third less).
		debug.SetGCPercent(gcPercent)
	}
	fd := int(os.Stderr.Fd())
	streams := IOStreams{
		In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr,
		ErrIsTTY: liveConsole(os.Stderr),
		Getenv:   os.Getenv,
		Environ:  os.Environ,
		Width: func() int {
			w, _, err := term.GetSize(fd)
			if err != nil {
				return 0
			}
			return w
		},
	}
	streams.format = &logFormat{}
	streams.lock()
	sig, cleanup := signals.Notify(func(msg string) {
		// Deferred functions do not run: nothing is left half-done that
		// a rerun cannot mend (the state journal is crash-safe).
		streams.notices().Notice(msg)
		os.Exit(ExitInterrupted)
	})
	// Go's own packages (net/http's transport among them) log through the
	// standard logger: its lines go through the same redacting stream, as
	// JSON records in that format.
	log.SetFlags(0)
	log.SetOutput(goLog{&streams})
	defer cleanup()
	if p := os.Getenv("PARADIGM_UPLOAD_CPUPROFILE"); p != "" {
		// A developer's aid for `make bench` investigations.
		if f, err := os.Create(p); err == nil {
			_ = pprof.StartCPUProfile(f)
			defer func() { pprof.StopCPUProfile(); f.Close() }()
		}
	}
	return Run(sig, os.Args[1:], streams)
}

// Run runs the command with args and returns the exit code. Errors are
// printed once, on one line, to streams.ErrOut.
func Run(sig signals.Signals, args []string, streams IOStreams) (code int) {
	if streams.Getenv == nil {
		streams.Getenv = os.Getenv
	}
	if streams.Environ == nil {
		streams.Environ = os.Environ
	}
	if sig.Ctx == nil {
		sig.Ctx = context.Background()
	}
	streams.lock()
	if streams.format == nil {
		streams.format = &logFormat{}
	}
	streams.format.json.Store(wantsJSON(args, streams.Getenv))
	defer func() {
		if r := recover(); r != nil {
			code = ExitFailures
			streams.notices().Error(fmt.Sprintf("internal error: %s (please report it)", oneLine(fmt.Sprint(r))), code)
		}
	}()
	root := newRootCmd(sig, streams)
	root.SetArgs(args)
	err := root.ExecuteContext(sig.Ctx)
	code = run.Code(err)
	if err != nil && !run.Silent(err) {
		streams.notices().Error(err.Error(), code)
	}
	return code
}

// lockedWriter serialises writes to w, and replaces any registered secret
// (the API key) on its way out.
type lockedWriter struct {
	mu      sync.Mutex
	w       io.Writer
	secrets *secretSet
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := l.w.Write(l.secrets.redact(p)); err != nil {
		return 0, err
	}
	return len(p), nil
}

func usageErrorf(format string, a ...any) error { return run.Exitf(ExitUsage, format, a...) }

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
