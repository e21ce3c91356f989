// Package cmd is the command line of paradigm-upload: flags, configuration
// precedence (flag > environment > config file > default), the key and TLS
// settings, signals, and the one place errors become an exit code and a
// line on stderr. Each command turns its flags into options and calls one
// function of internal/run, which does the work.
package cmd

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/paradigm-upload/paradigm-upload/internal/run"
)

// Exit codes (see internal/run).
const (
	ExitOK          = run.ExitOK
	ExitFailures    = run.ExitFailures
	ExitUsage       = run.ExitUsage
	ExitProcessing  = run.ExitProcessing
	ExitInterrupted = run.ExitInterrupted
)

const exitCodesHelp = `Exit codes:
  0    every file was uploaded, skipped or already done
  1    one or more uploads failed
  2    usage, configuration or authentication error (nothing was started, or
       the key was rejected)
  3    uploads succeeded but processing failed for some documents (--wait)
  130  interrupted (Ctrl-C or SIGTERM); rerun with the same --state-file to resume`

// IOStreams are the command's standard streams, injectable for tests.
type IOStreams struct {
	In       io.Reader
	Out      io.Writer
	ErrOut   io.Writer
	ErrIsTTY bool
	// Getenv reads the environment; os.Getenv when nil.
	Getenv func(string) string

	// noBackstop turns off the redaction of the key on the output streams,
	// for the tests that prove the key is never written in the first place.
	noBackstop bool
	secrets    *secretSet
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

// run returns the streams as internal/run takes them.
func (s IOStreams) run() run.Streams {
	return run.Streams{Out: s.Out, ErrOut: s.ErrOut, ErrIsTTY: s.ErrIsTTY}
}

// Signals delivers interruptions to a run: the first closes Stop (no new
// upload starts), the second — or a grace period after the first — cancels
// the context (uploads in flight are abandoned).
type Signals struct {
	Stop  <-chan struct{}
	Ctx   context.Context
	Grace time.Duration
}

// Main runs the command with the process's arguments, streams and signals,
// and returns the exit code.
func Main() int {
	streams := IOStreams{
		In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr,
		ErrIsTTY: term.IsTerminal(int(os.Stderr.Fd())),
		Getenv:   os.Getenv,
	}
	streams.lock()
	sig, cleanup := notifySignals(streams.ErrOut, 30*time.Second)
	// Go's own packages (net/http's transport among them) log through the
	// standard logger; its lines go through the same redacting stream.
	log.SetFlags(0)
	log.SetOutput(streams.ErrOut)
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

// notifySignals turns SIGINT/SIGTERM into a two-stage shutdown: the first
// signal closes Stop; the second, or the grace period after the first,
// cancels Ctx.
func notifySignals(errOut io.Writer, grace time.Duration) (Signals, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	stop := make(chan struct{})
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case <-ch:
		case <-done:
			return
		}
		close(stop)
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-ch:
			fmt.Fprintln(errOut, "Second interrupt: abandoning the uploads in flight.")
		case <-t.C:
			fmt.Fprintf(errOut, "Still running %s after the interrupt: abandoning the uploads in flight.\n", grace)
		case <-done:
		}
		cancel()
	}()
	return Signals{Stop: stop, Ctx: ctx, Grace: grace}, func() {
		signal.Stop(ch)
		close(done)
		cancel()
	}
}

// Run runs the command with args and returns the exit code. Errors are
// printed once, on one line, to streams.ErrOut.
func Run(sig Signals, args []string, streams IOStreams) (code int) {
	if streams.Getenv == nil {
		streams.Getenv = os.Getenv
	}
	if sig.Ctx == nil {
		sig.Ctx = context.Background()
	}
	streams.lock()
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(streams.ErrOut, "paradigm-upload: internal error: %s (please report it)\n", oneLine(fmt.Sprint(r)))
			code = ExitFailures
		}
	}()
	root := newRootCmd(sig, streams)
	root.SetArgs(args)
	err := root.ExecuteContext(sig.Ctx)
	code = run.Code(err)
	if err != nil && !run.Silent(err) {
		fmt.Fprintf(streams.ErrOut, "paradigm-upload: %s\n", oneLine(err.Error()))
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
