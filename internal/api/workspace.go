package api

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
)

// GetWorkspace returns the workspace with this id as the key sees it
// (GET /api/v3/workspaces/{id}). A workspace that does not exist, or that
// the key may not use, is a 404 *Error: the service does not tell them
// apart. A success whose body is not a workspace object (an HTML page from
// a web front end or a login proxy) is an *AnswerError.
func (c *Client) GetWorkspace(ctx context.Context, id int64) (*Workspace, error) {
	op := fmt.Sprintf("get workspace %d", id)
	req, err := c.newRequest(ctx, http.MethodGet, c.endpoint("/api/v3/workspaces/"+strconv.FormatInt(id, 10), nil), nil)
	if err != nil {
		return nil, err
	}
	var ws Workspace
	code, err := c.do(req, op, &ws, http.StatusOK)
	if err != nil {
		return nil, err
	}
	if ws.ID == 0 {
		return nil, &AnswerError{Op: op, StatusCode: code, Msg: "the answer is not a workspace"}
	}
	return &ws, nil
}

// Documented reports whether the answer carried the error body every
// /api/v3 endpoint documents ({"error", "detail", ...}): it came from the
// API, not from a proxy or a web server in front of it.
func (e *Error) Documented() bool { return e.Kind != "" || e.Detail != "" || len(e.Fields) > 0 }
