package api

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Client talks to one Paradigm instance with one API key.
type Client struct {
	base *url.URL
	key  string
	http *http.Client
	// UserAgent is sent with every request.
	UserAgent string
	// Now stamps Retry-After dates; time.Now when nil.
	Now func() time.Time
}

// NewClient returns a client for the instance at baseURL (scheme and host,
// optionally a path prefix). hc is the HTTP client to use (see
// NewTransport); redirects are never followed, whatever hc says: an answer
// 3xx is returned as a *RedirectError, so neither a request nor the key
// ever goes anywhere but baseURL.
func NewClient(baseURL, key string, hc *http.Client) (*Client, error) {
	u, err := ParseBaseURL(baseURL)
	if err != nil {
		return nil, err
	}
	if err := CheckKey(key); err != nil {
		return nil, err
	}
	own := http.Client{Transport: NewTransport(TransportOptions{})}
	if hc != nil {
		own = *hc
	}
	own.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Client{base: u, key: key, http: &own, UserAgent: "paradigm-upload"}, nil
}

// CheckKey refuses a key that cannot be sent as it is: empty, or holding a
// space, a line break or another control character (a key file with two
// lines, a pasted key with a stray character).
func CheckKey(key string) error {
	if key == "" {
		return errors.New("the API key is empty")
	}
	for _, r := range key {
		if r <= ' ' || r == 0x7f || r > '~' {
			return errors.New("the API key holds a space, a line break or another character that is not printable ASCII; check how it was set")
		}
	}
	return nil
}

// ParseBaseURL checks that s is an absolute http(s) URL with a host and
// returns it without a trailing slash.
func ParseBaseURL(s string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("%q is not a URL", s)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%q is not an http:// or https:// URL", s)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%q has no host", s)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%q must not have a query or fragment", s)
	}
	if u.User != nil {
		return nil, errors.New("the base URL must not carry credentials; use --api-key")
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// BaseURL returns the instance's URL as given, normalized.
func (c *Client) BaseURL() string { return c.base.String() }

// ConnectTimeout bounds establishing a connection (TCP, then TLS).
const ConnectTimeout = 10 * time.Second

// TransportOptions tunes the HTTP transport for a pool of concurrent uploads.
type TransportOptions struct {
	// MaxConns is the number of connections kept open to the service; it
	// should be at least the number of concurrent uploads.
	MaxConns int
}

// NewTransport returns a transport sized for concurrent uploads: keep-alive
// connections for every worker (Go's default keeps only 2 idle per host),
// bounded connect and response-header timeouts, and no total timeout, which
// would kill a slow upload of a large file.
func NewTransport(o TransportOptions) *http.Transport {
	if o.MaxConns <= 0 {
		o.MaxConns = 10
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = watchConns((&net.Dialer{Timeout: ConnectTimeout, KeepAlive: 30 * time.Second}).DialContext)
	t.MaxIdleConns = o.MaxConns * 2
	t.MaxIdleConnsPerHost = o.MaxConns + 2
	t.TLSHandshakeTimeout = ConnectTimeout
	// A backstop: WithStallTimeout (--timeout) ends a silent exchange long
	// before this.
	t.ResponseHeaderTimeout = 10 * time.Minute
	t.ExpectContinueTimeout = time.Second
	// Go's default buffers (4 KiB each): a connection's are held while
	// it is open, one per worker; larger ones bought nothing for a large
	// file (the body goes past the buffer straight to the socket once the
	// headers are flushed) and cost a million-file run ~15 MiB live.
	return t
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Client) endpoint(path string, q url.Values) string {
	u := *c.base
	u.Path = c.base.Path + path
	if q != nil {
		u.RawQuery = q.Encode()
	}
	return u.String()
}

func (c *Client) newRequest(ctx context.Context, method, target string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.UserAgent)
	return req, nil
}

// TransportError is a request that got no HTTP answer: the connection failed,
// was dropped, or timed out. Whether the service acted on it is unknown when
// Sent is true.
type TransportError struct {
	Op  string
	Err error
	// Sent reports that the request may have reached the service.
	Sent bool
}

func (e *TransportError) Error() string {
	return e.Op + ": " + redactURLError(e.Err)
}
func (e *TransportError) Unwrap() error { return e.Err }

// IsCertificateError reports whether err is a failed verification of the
// server's TLS certificate: retrying cannot help, the configuration must
// change (--ca-cert).
func IsCertificateError(err error) bool {
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	var ci x509.CertificateInvalidError
	return errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &he) || errors.As(err, &ci)
}

// redactURLError renders a transport error without the request URL's
// details, which add noise and never help.
func redactURLError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

// do sends req and decodes a JSON answer into out when the status is one of
// ok. Any other status becomes an *Error.
func (c *Client) do(req *http.Request, op string, out any, ok ...int) (int, error) {
	code, _, err := c.doDated(req, op, out, ok...)
	return code, err
}

// doDated is do, which also returns the answer's Date header, read as a
// time (zero when absent or unreadable): the service's clock.
func (c *Client) doDated(req *http.Request, op string, out any, ok ...int) (code int, date time.Time, err error) {
	resp, err := c.http.Do(req) //nolint:bodyclose // finish drains and closes it
	if resp != nil {
		date, _ = http.ParseTime(resp.Header.Get("Date"))
	}
	code, err = c.finish(req, resp, err, op, out, ok...)
	return code, date, err
}

// finish reads the answer (or the failure) of req.
func (c *Client) finish(req *http.Request, resp *http.Response, err error, op string, out any, ok ...int) (int, error) {
	if err != nil {
		if ctxErr := req.Context().Err(); ctxErr != nil {
			return 0, fmt.Errorf("%s: %w", op, ctxErr)
		}
		// A GET has no effect; a connection that could not be made took
		// nothing anywhere.
		return 0, &TransportError{Op: op, Err: err, Sent: req.Method != http.MethodGet && !IsDialError(err)}
	}
	defer func() {
		// Drain a little so the connection can be reused.
		_, _ = io.CopyN(io.Discard, resp.Body, 64<<10)
		resp.Body.Close()
	}()
	if resp.StatusCode >= 300 && resp.StatusCode < 400 && resp.StatusCode != http.StatusNotModified {
		return resp.StatusCode, &RedirectError{Op: op, StatusCode: resp.StatusCode, Location: c.redactString(resp.Header.Get("Location"))}
	}
	for _, code := range ok {
		if resp.StatusCode == code {
			if out == nil {
				return resp.StatusCode, nil
			}
			if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(out); err != nil {
				if errors.Is(err, io.ErrUnexpectedEOF) || isNetErr(err) || isCut(err) {
					return resp.StatusCode, &TransportError{Op: op, Err: err, Sent: true}
				}
				return resp.StatusCode, &AnswerError{Op: op, StatusCode: resp.StatusCode, Msg: "the body is not the expected JSON: " + err.Error()}
			}
			return resp.StatusCode, nil
		}
	}
	b, rerr := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	if rerr != nil && (len(b) == 0 && resp.StatusCode >= 500 || isCut(rerr)) {
		// No answer to act on: the body did not come, or came too slowly.
		return resp.StatusCode, &TransportError{Op: op, Err: rerr, Sent: true}
	}
	return resp.StatusCode, fmt.Errorf("%s: %w", op, c.redact(newError(resp, b, c.now())))
}

// redact removes the key from an error the service wrote, should it quote
// it back: the text then reaches outputs, logs and the report.
func (c *Client) redact(e *Error) *Error {
	e.Detail = c.redactString(e.Detail)
	e.Snippet = c.redactString(e.Snippet)
	e.Kind = c.redactString(e.Kind)
	for name, fes := range e.Fields {
		for i := range fes {
			fes[i].Error, fes[i].Detail = c.redactString(fes[i].Error), c.redactString(fes[i].Detail)
		}
		e.Fields[name] = fes
	}
	return e
}

func (c *Client) redactString(s string) string {
	if c.key == "" || !strings.Contains(s, c.key) {
		return s
	}
	return strings.ReplaceAll(s, c.key, "[REDACTED]")
}

// IsDialError reports a connection that could not be made: refused, no
// route, name not resolved, connect timeout. Nothing was sent.
func IsDialError(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns) || errors.Is(err, syscall.ECONNREFUSED)
}

// isCut reports a request the stall watchdog abandoned: silent, or an
// answer that did not arrive within its deadline.
func isCut(err error) bool {
	var se *StallError
	var sa *SlowAnswerError
	return errors.As(err, &se) || errors.As(err, &sa)
}

func isNetErr(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.EOF)
}

// Workspace is a workspace the key can use.
type Workspace struct {
	ID            int64  `json:"id"`
	Name          string `json:"name"`
	WorkspaceType string `json:"workspace_type"`
}

// ExternalMetadata links a document to its source outside Paradigm.
type ExternalMetadata struct {
	ExternalID         string         `json:"external_id"`
	DocType            string         `json:"doc_type,omitempty"`
	AdditionalMetadata map[string]any `json:"additional_metadata,omitempty"`
}

// File is the service's file object, limited to what this tool reads.
type File struct {
	ID                int64             `json:"id"`
	Filename          string            `json:"filename"`
	Title             string            `json:"title"`
	Extension         string            `json:"extension"`
	Status            string            `json:"status"`
	StatusDetail      string            `json:"status_detail,omitempty"`
	UploadSessionUUID string            `json:"upload_session_uuid"`
	Size              *int64            `json:"size"`
	Workspace         *Workspace        `json:"workspace"`
	ExternalMetadata  *ExternalMetadata `json:"external_metadata"`
	CreatedAt         time.Time         `json:"created_at"`
	UpdatedAt         time.Time         `json:"updated_at"`
	Message           string            `json:"message,omitempty"`
	Tags              []Tag             `json:"tags,omitempty"`
	// PendingReprocess is set (e.g. "update") between a replacement of
	// the content and the start of its processing: Status is then the
	// previous content's.
	PendingReprocess string `json:"-"`
}

// Tag is a tag as a file object carries it.
type Tag struct {
	ID   int64  `json:"id"`
	Name string `json:"name,omitempty"`
}

// UnmarshalJSON reads a file object; pending_reprocess may be null.
func (f *File) UnmarshalJSON(b []byte) error {
	type plain File
	var v struct {
		plain
		PendingReprocess *string `json:"pending_reprocess"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*f = File(v.plain)
	if v.PendingReprocess != nil {
		f.PendingReprocess = *v.PendingReprocess
	}
	return nil
}

// Page is one page of a list answer.
type Page[T any] struct {
	Count    int     `json:"count"`
	Next     *string `json:"next"`
	Previous *string `json:"previous"`
	Results  []T     `json:"results"`
}

// GetFile returns one file by id.
func (c *Client) GetFile(ctx context.Context, id int64) (*File, error) {
	req, err := c.newRequest(ctx, http.MethodGet, c.endpoint("/api/v3/files/"+strconv.FormatInt(id, 10), nil), nil)
	if err != nil {
		return nil, err
	}
	var f File
	if _, err := c.do(req, fmt.Sprintf("get file %d", id), &f, http.StatusOK); err != nil {
		return nil, err
	}
	return &f, nil
}

// Workspaces lists the workspaces the key can use. The answer may be a plain
// array or a paginated object; both are read.
func (c *Client) Workspaces(ctx context.Context) ([]Workspace, error) {
	target := c.endpoint("/api/v3/workspaces", nil)
	var all []Workspace
	for pages := 0; target != "" && pages < 10000; pages++ {
		req, err := c.newRequest(ctx, http.MethodGet, target, nil)
		if err != nil {
			return nil, err
		}
		var raw json.RawMessage
		if _, err := c.do(req, "list workspaces", &raw, http.StatusOK); err != nil {
			return nil, err
		}
		var list []Workspace
		if json.Unmarshal(raw, &list) == nil {
			return append(all, list...), nil
		}
		var p Page[Workspace]
		if err := json.Unmarshal(raw, &p); err != nil {
			return nil, fmt.Errorf("list workspaces: unexpected answer: %v", err)
		}
		all = append(all, p.Results...)
		if target, err = c.followNext(p.Next); err != nil {
			return nil, err
		}
	}
	return all, nil
}
