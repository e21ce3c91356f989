// Package cmd is the command line of paradigm-upload: flags, configuration
// precedence, exit codes and display. The work is done under internal/.
package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/paradigm-upload/paradigm-upload/internal/state"
	"github.com/paradigm-upload/paradigm-upload/internal/upload"
)

// Exit codes.
const (
	ExitOK          = 0
	ExitFailures    = 1
	ExitUsage       = 2
	ExitProcessing  = 3
	ExitInterrupted = 130
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

	secrets *secretSet
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
	sig, cleanup := notifySignals(streams.ErrOut, 30*time.Second)
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
	// Progress, per-file lines, HTTP lines and messages reach the same
	// streams from several goroutines: one lock per stream keeps each
	// write whole.
	if redactOutput {
		streams.secrets = &secretSet{}
	}
	streams.Out = &lockedWriter{w: streams.Out, secrets: streams.secrets}
	streams.ErrOut = &lockedWriter{w: streams.ErrOut, secrets: streams.secrets}
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(streams.ErrOut, "paradigm-upload: internal error: %s (please report it)\n", oneLine(fmt.Sprint(r)))
			code = ExitFailures
		}
	}()
	root := newRootCmd(sig, streams)
	root.SetArgs(args)
	err := root.ExecuteContext(sig.Ctx)
	code = exitCode(err)
	if err != nil && !errors.Is(err, errSilent) {
		fmt.Fprintf(streams.ErrOut, "paradigm-upload: %s\n", oneLine(err.Error()))
	}
	return code
}

// redactOutput turns on the last line of defence; tests that prove the key
// is never written in the first place turn it off.
var redactOutput = true

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

// exitError carries an exit code chosen where the error arose.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// errSilent ends a run whose outcome was already reported (the summary).
var errSilent = errors.New("already reported")

func withCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: code, err: err}
}

func usageErrorf(format string, a ...any) error {
	return &exitError{code: ExitUsage, err: fmt.Errorf(format, a...)}
}

// exitCode is the one place that maps errors to exit codes.
func exitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	var corrupt *state.CorruptError
	var mismatch *state.MismatchError
	switch {
	case errors.Is(err, upload.ErrAuth), errors.Is(err, state.ErrLocked),
		errors.As(err, &corrupt), errors.As(err, &mismatch):
		return ExitUsage
	case errors.Is(err, context.Canceled):
		return ExitInterrupted
	}
	// Errors from cobra itself (an unknown command or argument) land here:
	// they are usage errors.
	return ExitUsage
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
