package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
)

// GetWorkspace returns the workspace with this id as the key sees it
// (GET /api/v3/workspaces/{id}). A workspace that does not exist, or that
// the key may not use, is a 404 *Error: the service does not tell them
// apart. A success whose body is not a workspace object (an HTML page from
// a web front end or a login proxy) is an *UnexpectedAnswer.
func (c *Client) GetWorkspace(ctx context.Context, id int64) (*Workspace, error) {
	op := fmt.Sprintf("get workspace %d", id)
	req, err := c.newRequest(ctx, http.MethodGet, c.endpoint("/api/v3/workspaces/"+strconv.FormatInt(id, 10), nil), nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, fmt.Errorf("%s: %w", op, ctxErr)
		}
		return nil, &TransportError{Op: op, Err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	if err != nil {
		return nil, &TransportError{Op: op, Err: err}
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %w", op, newError(resp, b, c.now()))
	}
	var ws Workspace
	if json.Unmarshal(b, &ws) != nil || ws.ID == 0 {
		ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
		return nil, &UnexpectedAnswer{Op: op, StatusCode: resp.StatusCode, ContentType: ct, Snippet: snippet(b)}
	}
	return &ws, nil
}

// UnexpectedAnswer is a success status whose body is not what the API
// documents for the request.
type UnexpectedAnswer struct {
	Op          string
	StatusCode  int
	ContentType string
	Snippet     string // a cleaned-up prefix of the body
}

func (e *UnexpectedAnswer) Error() string {
	what := "an answer that is not the API's JSON"
	if e.ContentType != "" {
		what += " (" + e.ContentType + ")"
	}
	s := fmt.Sprintf("%s: HTTP %d with %s", e.Op, e.StatusCode, what)
	if e.Snippet != "" {
		s += ": " + e.Snippet
	}
	return s
}

// Documented reports whether the answer carried the error body every
// /api/v3 endpoint documents ({"error", "detail", ...}): it came from the
// API, not from a proxy or a web server in front of it.
func (e *Error) Documented() bool { return e.Kind != "" || e.Detail != "" || len(e.Fields) > 0 }
