package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// ContentHash downloads a document's file (GET /api/v3/files/{id}/download)
// and returns the hex sha256 of its content, streaming: nothing is kept.
// A document the service does not have, or whose file it does not serve,
// is an *Error.
func (c *Client) ContentHash(ctx context.Context, id int64) (string, error) {
	op := fmt.Sprintf("download file %d", id)
	req, err := c.newRequest(ctx, http.MethodGet, c.endpoint("/api/v3/files/"+strconv.FormatInt(id, 10)+"/download", nil), nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Accept", "*/*")
	resp, err := c.http.Do(req)
	if err != nil {
		if ctxErr := req.Context().Err(); ctxErr != nil {
			return "", fmt.Errorf("%s: %w", op, ctxErr)
		}
		return "", &TransportError{Op: op, Err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, err := c.finish(req, resp, nil, op, nil, http.StatusOK)
		return "", err
	}
	h := sha256.New()
	if _, err := io.Copy(h, resp.Body); err != nil {
		return "", &TransportError{Op: op, Err: err}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
