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
	"log"
	"os"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"sync/atomic"

	"github.com/paradigm-upload/paradigm-upload/internal/iostreams"
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

// Factory is what every command is built from, as gh's cmdutil.Factory:
// the invocation's streams, environment and signals. Tests build one on
// buffers and a map of variables.
type Factory struct {
	IOStreams *iostreams.IOStreams
	// Getenv reads the environment; os.Getenv when nil.
	Getenv func(string) string
	// Environ lists the environment, for the PARADIGM_* variables that
	// match no setting; os.Environ when nil.
	Environ func() []string
	// Signals are the process's interruptions and progress requests.
	Signals signals.Signals

	// format is the invocation's --log-format, once known.
	format *logFormat
}

// logFormat says whether stderr takes JSON records: known from the command
// line and the environment before the flags are parsed (so that a flag
// error is JSON too), and from the config file once they are. It is read
// from other goroutines (Go's log lines, the last line of a forced exit).
type logFormat struct{ json atomic.Bool }

// complete fills in what a test may leave out: the process's streams and
// environment, no signals.
func (f *Factory) complete() {
	if f.IOStreams == nil {
		f.IOStreams = iostreams.System()
	}
	if f.Getenv == nil {
		f.Getenv = os.Getenv
	}
	if f.Environ == nil {
		f.Environ = os.Environ
	}
	if f.Signals.Ctx == nil {
		f.Signals.Ctx = context.Background()
	}
	if f.format == nil {
		f.format = &logFormat{}
	}
}

// goLog writes the standard logger's lines as notices of the invocation.
type goLog struct{ f *Factory }

func (g goLog) Write(p []byte) (int, error) {
	g.f.notices().Warn(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// notices returns the printer of errors and warnings, text or JSON.
func (f *Factory) notices() output.Notices {
	errOut := f.IOStreams.ErrOut
	if f.format != nil && f.format.json.Load() {
		return output.Notices{W: errOut, Log: output.NewJSONLog(errOut, false)}
	}
	return output.Notices{W: errOut}
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
	f := &Factory{IOStreams: iostreams.System(), Getenv: os.Getenv, Environ: os.Environ, format: &logFormat{}}
	f.IOStreams.Guard()
	sig, cleanup := signals.Notify(func(msg string) {
		// Deferred functions do not run: nothing is left half-done that
		// a rerun cannot mend (the state journal is crash-safe).
		f.notices().Notice(msg)
		os.Exit(ExitInterrupted)
	})
	f.Signals = sig
	// Go's own packages (net/http's transport among them) log through the
	// standard logger: its lines go through the same redacting stream, as
	// JSON records in that format.
	log.SetFlags(0)
	log.SetOutput(goLog{f})
	defer cleanup()
	if p := os.Getenv("PARADIGM_UPLOAD_CPUPROFILE"); p != "" {
		// A developer's aid for `make bench` investigations.
		if prof, err := os.Create(p); err == nil {
			_ = pprof.StartCPUProfile(prof)
			defer func() { pprof.StopCPUProfile(); prof.Close() }()
		}
	}
	return Run(*f, os.Args[1:])
}

// Run runs the command with args and returns the exit code. Errors are
// printed once, on one line, to f.IOStreams.ErrOut.
func Run(f Factory, args []string) (code int) {
	f.complete()
	f.IOStreams.Guard()
	f.format.json.Store(wantsJSON(args, f.Getenv))
	defer func() {
		if r := recover(); r != nil {
			code = ExitFailures
			f.notices().Error(fmt.Sprintf("internal error: %s (please report it)", oneLine(fmt.Sprint(r))), code)
		}
	}()
	root := newRootCmd(&f, nil)
	root.SetArgs(args)
	err := root.ExecuteContext(f.Signals.Ctx)
	code = run.Code(err)
	if err != nil && !run.Silent(err) {
		f.notices().Error(err.Error(), code)
	}
	return code
}

func usageErrorf(format string, a ...any) error { return run.Exitf(ExitUsage, format, a...) }

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
