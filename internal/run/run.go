// Package run carries out each command of paradigm-upload: it wires the
// service client, the state file, the uploader, the processing tracker, the
// report and the output for one invocation, and decides its exit status.
// cmd/ only turns flags into options and calls one function here; nothing
// here knows of flags.
package run

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/paradigm-upload/paradigm-upload/internal/api"
	"github.com/paradigm-upload/paradigm-upload/internal/clock"
	"github.com/paradigm-upload/paradigm-upload/internal/pace"
	"github.com/paradigm-upload/paradigm-upload/internal/retry"
	"github.com/paradigm-upload/paradigm-upload/internal/track"
)

// Exit codes.
const (
	ExitOK          = 0
	ExitFailures    = 1
	ExitUsage       = 2
	ExitProcessing  = 3
	ExitInterrupted = 130
)

// ExitError ends a command with an exit code. With a nil Err, the outcome
// was already reported (the summary) and nothing more is printed.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// Exit returns an error that ends the command with code: err is printed,
// unless it is nil.
func Exit(code int, err error) error { return &ExitError{Code: code, Err: err} }

// Exitf is Exit with a formatted message.
func Exitf(code int, format string, a ...any) error {
	return &ExitError{Code: code, Err: fmt.Errorf(format, a...)}
}

// Code maps an error to the command's exit code.
func Code(err error) int {
	if err == nil {
		return ExitOK
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	if errors.Is(err, context.Canceled) {
		return ExitInterrupted
	}
	// Anything else — a rejected key, a state file that cannot be used, an
	// unknown command or flag from the command line parser — is a usage,
	// configuration or authentication error.
	return ExitUsage
}

// Silent reports whether err was already reported.
func Silent(err error) bool {
	var ee *ExitError
	return errors.As(err, &ee) && ee.Err == nil
}

// Conn is how to reach the instance: its URL, the key, and a transport
// already set up for TLS and proxies.
type Conn struct {
	BaseURL   string
	Key       string
	Transport http.RoundTripper
	UserAgent string
	// Timeout abandons a request when no byte of it moves for this long
	// (see api.WithStallTimeout); 0: never.
	Timeout time.Duration
}

// client builds the API client: every request paced by pacer (a default
// one when nil), each exchange under the stall timeout, and wrap (when
// set) around each exchange — for --verbose, which so shows every 429 too.
func (c Conn) client(pacer *pace.Pacer, wrap func(http.RoundTripper) http.RoundTripper) (*api.Client, error) {
	rt := api.WithStallTimeout(c.Transport, c.Timeout)
	if wrap != nil {
		rt = wrap(rt)
	}
	if pacer == nil {
		pacer = pace.New(clock.Real{}, pace.Options{Policy: pace.DefaultPolicy()})
	}
	rt = &pace.Transport{Pacer: pacer, Next: rt, RetryAfter: func(h http.Header) time.Duration {
		return api.ParseRetryAfter(h.Get("Retry-After"), pacer.Clock().Now())
	}}
	cl, err := api.NewClient(c.BaseURL, c.Key, &http.Client{Transport: rt})
	if err != nil {
		return nil, Exitf(ExitUsage, "--base-url: %v", err)
	}
	if c.UserAgent != "" {
		cl.UserAgent = c.UserAgent
	}
	return cl, nil
}

// retrying builds the client of a command other than an upload, and the
// retrier that every request of it goes through (the same policy as an
// upload's).
func (c Conn) retrying() (*api.Client, *retry.Retrier, error) {
	pacer := pace.New(clock.Real{}, pace.Options{Policy: pace.DefaultPolicy()})
	cl, err := c.client(pacer, nil)
	if err != nil {
		return nil, nil, err
	}
	return cl, retry.New(pacer, retry.Options{}), nil
}

// apiFailure maps an error of the service to the command's exit: a
// mistake of setup (see setupFailure), or an answer that is not the API's
// (see notParadigm; check says what to check), is exit 2, anything else 1.
func apiFailure(err error, baseURL, check string) error {
	if e := setupFailure(err, baseURL); e != nil {
		return e
	}
	if isNotAPI(err) {
		return notParadigm(baseURL, err.Error(), check)
	}
	return Exit(ExitFailures, err)
}

// checkBaseURL is what to check when the base URL of the command line
// does not answer as a Paradigm API.
const checkBaseURL = "is --base-url the address of the instance?"

// notParadigm is the one line, exit 2, for a base URL where what answers
// is not a Paradigm API (a web site, a login proxy): what answered, and
// what to check.
func notParadigm(baseURL, what, check string) error {
	return Exitf(ExitUsage, "%s does not look like a Paradigm API: %s — %s", baseURL, what, check)
}

// isNotAPI reports an answer that did not come from the API: a success
// whose body is not the answer (an HTML page), or an error that is neither
// in the API's documented format, nor transient, nor a refusal of the key.
func isNotAPI(err error) bool {
	var ae *api.AnswerError
	if errors.As(err, &ae) {
		return true
	}
	e, ok := api.AsError(err)
	return ok && !e.Documented() && !e.IsTransient() && !e.IsAuth()
}

// trackRequest gathers the documents whose processing is to be followed.
type trackRequest struct {
	req  track.Request
	seen map[string]bool
}

func newTrackRequest(workspaceID int64) *trackRequest {
	return &trackRequest{req: track.Request{WorkspaceID: workspaceID, Paths: map[int64]string{}}, seen: map[string]bool{}}
}

func (t *trackRequest) add(id int64, path, session string) {
	if id == 0 {
		return
	}
	t.req.Paths[id] = path
	if session != "" && !t.seen[session] {
		t.seen[session] = true
		t.req.Sessions = append(t.req.Sessions, session)
	}
}
