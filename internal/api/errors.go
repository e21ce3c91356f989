package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// FieldError is one entry of a 422 answer's per-field errors.
type FieldError struct {
	Error  string `json:"error"`
	Detail string `json:"detail"`
}

// Error is a non-success answer of the service. It is built from the
// documented {id, code, error, detail, doc_url} body when there is one, and
// from the status line and a snippet of the body otherwise (a proxy's HTML).
type Error struct {
	StatusCode int
	// Kind is the service's stable "error" identifier (e.g. "validation_error").
	Kind    string
	Code    string
	Detail  string
	ID      string
	DocURL  string
	Fields  map[string][]FieldError
	Snippet string // a cleaned-up prefix of a body that was not the documented JSON
	// RetryAfter is the delay the service asked for, zero when none was given.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "HTTP %d", e.StatusCode)
	if t := http.StatusText(e.StatusCode); t != "" {
		b.WriteString(" " + t)
	}
	msg := e.Detail
	if msg == "" {
		msg = e.Kind
	}
	if msg != "" {
		b.WriteString(": " + msg)
	}
	if len(e.Fields) > 0 {
		names := make([]string, 0, len(e.Fields))
		for n := range e.Fields {
			names = append(names, n)
		}
		sort.Strings(names)
		parts := make([]string, 0, len(names))
		for _, n := range names {
			for _, fe := range e.Fields[n] {
				d := fe.Detail
				if d == "" {
					d = fe.Error
				}
				parts = append(parts, n+": "+d)
			}
		}
		b.WriteString(" (" + strings.Join(parts, "; ") + ")")
	}
	if msg == "" && e.Snippet != "" {
		b.WriteString(": " + e.Snippet)
	}
	return b.String()
}

// IsAuth reports whether the key was rejected (401 or 403): the run must stop.
func (e *Error) IsAuth() bool {
	return e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden
}

// identifiers returns the stable machine-readable identifiers of the answer:
// the top-level "error" and every per-field "error", lower-cased.
func (e *Error) identifiers() []string {
	ids := []string{strings.ToLower(e.Kind)}
	for _, fes := range e.Fields {
		for _, fe := range fes {
			ids = append(ids, strings.ToLower(fe.Error))
		}
	}
	return ids
}

// IsTooLarge reports whether the service refused the file for its size.
func (e *Error) IsTooLarge() bool {
	if e.StatusCode == http.StatusRequestEntityTooLarge {
		return true
	}
	if e.StatusCode != http.StatusBadRequest && e.StatusCode != http.StatusUnprocessableEntity {
		return false
	}
	for _, id := range e.identifiers() {
		if strings.Contains(id, "too_large") || strings.Contains(id, "file_size") || strings.Contains(id, "max_size") {
			return true
		}
	}
	return false
}

// IsUnsupportedType reports whether the service refused the file's type.
func (e *Error) IsUnsupportedType() bool {
	if e.StatusCode != http.StatusBadRequest && e.StatusCode != http.StatusUnprocessableEntity &&
		e.StatusCode != http.StatusUnsupportedMediaType {
		return false
	}
	if e.StatusCode == http.StatusUnsupportedMediaType {
		return true
	}
	for _, id := range e.identifiers() {
		if strings.Contains(id, "unsupported") || strings.Contains(id, "extension") || strings.Contains(id, "file_type") {
			return true
		}
	}
	return false
}

// IsNotFound reports a 404: the document (or route) does not exist.
func (e *Error) IsNotFound() bool { return e.StatusCode == http.StatusNotFound }

// IsTransient reports whether the same request may succeed later.
func (e *Error) IsTransient() bool {
	switch e.StatusCode {
	case http.StatusRequestTimeout, http.StatusTooEarly, http.StatusTooManyRequests,
		http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable,
		http.StatusGatewayTimeout:
		return true
	}
	return false
}

// RedirectError is an answer 3xx: the tool never follows one (an upload
// would turn into a GET, and the key would go where the server says). It
// means the base URL is not where the service answers.
type RedirectError struct {
	Op         string
	StatusCode int
	Location   string
}

func (e *RedirectError) Error() string {
	if e.Location == "" {
		return fmt.Sprintf("%s: the server answered HTTP %d (a redirect) without saying where; check --base-url", e.Op, e.StatusCode)
	}
	return fmt.Sprintf("%s: the server redirects to %s (HTTP %d); use that as --base-url", e.Op, e.Location, e.StatusCode)
}

// AnswerError is a success status whose body cannot be read as the answer
// it should be (not JSON, or without the document's id): what the service
// did is unknown, and must be asked, never assumed.
type AnswerError struct {
	Op         string
	StatusCode int
	Msg        string
}

func (e *AnswerError) Error() string {
	return fmt.Sprintf("%s: HTTP %d, but %s", e.Op, e.StatusCode, e.Msg)
}

// LostError is an upload sent whole whose answer never came, or came but
// cannot say what happened (a body that is not the answer, a 500, a
// gateway's 502 or 504): the service may have stored it. Size, ModTime and
// SHA256 describe the content sent, so that a document found afterwards
// can be recognised as this upload.
type LostError struct {
	Op      string
	Err     error
	Size    int64
	ModTime time.Time
	SHA256  string
}

func (e *LostError) Error() string { return e.Err.Error() }
func (e *LostError) Unwrap() error { return e.Err }

// outcomeUnknown reports a failure after which a request sent whole may
// have been carried out.
func outcomeUnknown(err error) bool {
	var te *TransportError
	var ae *AnswerError
	if errors.As(err, &te) {
		return te.Sent
	}
	if errors.As(err, &ae) {
		return true
	}
	if e, ok := AsError(err); ok {
		switch e.StatusCode {
		case http.StatusInternalServerError, http.StatusBadGateway, http.StatusGatewayTimeout:
			return true
		}
	}
	return false
}

// AsError returns the *Error in err's chain, if any.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// errorBody is the documented error shape. "code" is a number on some
// endpoints and a string on others, so it is kept raw.
type errorBody struct {
	ID     json.RawMessage         `json:"id"`
	Code   json.RawMessage         `json:"code"`
	Error  string                  `json:"error"`
	Detail json.RawMessage         `json:"detail"`
	DocURL string                  `json:"doc_url"`
	Fields map[string][]FieldError `json:"fields"`
}

// maxErrorBody bounds how much of an error answer is read.
const maxErrorBody = 64 << 10

// newError builds an *Error from a non-success answer whose body is b.
func newError(resp *http.Response, b []byte, now time.Time) *Error {
	e := &Error{StatusCode: resp.StatusCode}
	e.RetryAfter = ParseRetryAfter(resp.Header.Get("Retry-After"), now)
	var body errorBody
	if json.Unmarshal(b, &body) == nil && (body.Error != "" || len(body.Detail) > 0 || len(body.Fields) > 0) {
		e.Kind = body.Error
		e.Code = rawText(body.Code)
		e.ID = rawText(body.ID)
		e.Detail = oneLine(rawText(body.Detail))
		e.DocURL = body.DocURL
		e.Fields = body.Fields
		return e
	}
	if isHTML(resp.Header.Get("Content-Type"), b) {
		e.Snippet = htmlSummary(b)
		return e
	}
	e.Snippet = snippet(b)
	return e
}

// isHTML reports whether an answer is a web page (a proxy's or a web
// server's, not the API's).
func isHTML(contentType string, b []byte) bool {
	if strings.Contains(strings.ToLower(contentType), "text/html") {
		return true
	}
	head := strings.ToLower(strings.TrimSpace(string(b[:min(len(b), 512)])))
	return strings.HasPrefix(head, "<!doctype html") || strings.HasPrefix(head, "<html")
}

// htmlSummary says what a web page is in a few words: its title, or its
// first heading — never its whole text, which would bury the message.
func htmlSummary(b []byte) string {
	for _, tag := range []string{"title", "h1"} {
		if t := element(string(b), tag); t != "" {
			return fmt.Sprintf("an HTML page (%q)", truncate(t, 100))
		}
	}
	return "an HTML page"
}

// element returns the text of the first <tag> element of page, markup
// dropped, entities decoded, on one line; empty when there is none.
func element(page, tag string) string {
	lower := strings.ToLower(page)
	start := strings.Index(lower, "<"+tag)
	if start < 0 {
		return ""
	}
	open := strings.IndexByte(lower[start:], '>')
	if open < 0 {
		return ""
	}
	from := start + open + 1
	end := strings.Index(lower[from:], "</"+tag)
	if end < 0 {
		return ""
	}
	return oneLine(html.UnescapeString(stripTags(page[from : from+end])))
}

// stripTags drops the markup of s.
func stripTags(s string) string {
	var out strings.Builder
	inTag := false
	for _, r := range s {
		switch {
		case r == '<':
			inTag = true
		case r == '>':
			inTag = false
			out.WriteRune(' ')
		case !inTag:
			out.WriteRune(r)
		}
	}
	return out.String()
}

// rawText renders a raw JSON value as text: a string without its quotes,
// anything else as it was written.
func rawText(r json.RawMessage) string {
	if len(r) == 0 || string(r) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(r, &s) == nil {
		return s
	}
	return string(r)
}

// snippet turns an arbitrary body (HTML, text) into a short single line.
func snippet(b []byte) string {
	// Drop markup, should there be some.
	return truncate(oneLine(stripTags(string(b))), 160)
}

// truncate cuts s to at most n bytes, at a character's start, marking the
// cut with an ellipsis.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8Start(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

// oneLine collapses whitespace and control characters so that a message from
// the server can never break the tool's one-line errors or a terminal.
func oneLine(s string) string {
	var b strings.Builder
	space := false
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	return b.String()
}

// MaxRetryAfter caps how long a Retry-After answer can make the tool wait.
const MaxRetryAfter = 5 * time.Minute

// ParseRetryAfter reads a Retry-After header in either of its forms, delay in
// seconds or HTTP date, relative to now. It returns 0 for an absent or
// unreadable value, and never more than MaxRetryAfter.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		if secs > MaxRetryAfter.Seconds() {
			return MaxRetryAfter
		}
		d = time.Duration(secs * float64(time.Second))
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	if d < 0 {
		return 0
	}
	return min(d, MaxRetryAfter)
}
