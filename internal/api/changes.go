package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"strconv"
)

// FileUpdate is a change of a document's metadata (PATCH without a file).
type FileUpdate struct {
	// Title, when not nil, sets the document's title.
	Title *string
	// Tags, when not nil, replace every tag of the document (an empty list
	// clears them).
	Tags *[]int64
	// External, when set, is merged into the document's external
	// metadata.
	External *ExternalMetadata
}

// UpdateFile changes a document's metadata in place.
func (c *Client) UpdateFile(ctx context.Context, id int64, u FileUpdate) (*File, error) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	if u.Title != nil {
		_ = w.WriteField("title", *u.Title)
	}
	if u.Tags != nil {
		if len(*u.Tags) == 0 {
			_ = w.WriteField("tags", "0") // a lone 0 clears: an empty list vanishes from a form
		}
		for _, t := range *u.Tags {
			_ = w.WriteField("tags", strconv.FormatInt(t, 10))
		}
	}
	if u.External != nil {
		b, err := u.External.appendJSON(nil)
		if err != nil {
			return nil, fmt.Errorf("encode external metadata: %w", err)
		}
		_ = w.WriteField("external_metadata", string(b))
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	req, err := c.newRequest(ctx, http.MethodPatch, c.endpoint("/api/v3/files/"+strconv.FormatInt(id, 10), nil), bytes.NewReader(buf.Bytes()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", w.FormDataContentType())
	var f File
	op := fmt.Sprintf("update file %d", id)
	code, err := c.do(req, op, &f, http.StatusOK, http.StatusMultiStatus)
	if err != nil {
		return nil, err
	}
	if f.ID <= 0 {
		return nil, &AnswerError{Op: op, StatusCode: code, Msg: "the answer names no document (no id)"}
	}
	return &f, nil
}

// DeleteFile deletes one document. A document the service does not have
// (404) is an *Error with IsNotFound.
func (c *Client) DeleteFile(ctx context.Context, id int64) error {
	req, err := c.newRequest(ctx, http.MethodDelete, c.endpoint("/api/v3/files/"+strconv.FormatInt(id, 10), nil), nil)
	if err != nil {
		return err
	}
	_, err = c.do(req, fmt.Sprintf("delete file %d", id), nil, http.StatusNoContent, http.StatusOK, http.StatusAccepted)
	return err
}

// DeleteFiles deletes documents in one request, all or nothing: one id the
// service does not know and nothing is deleted (404).
func (c *Client) DeleteFiles(ctx context.Context, ids []int64) error {
	b, err := json.Marshal(struct {
		IDs []int64 `json:"ids"`
	}{ids})
	if err != nil {
		return err
	}
	req, err := c.newRequest(ctx, http.MethodPost, c.endpoint("/api/v3/files/bulk-delete", nil), bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	_, err = c.do(req, fmt.Sprintf("delete %d files", len(ids)), nil, http.StatusNoContent, http.StatusOK, http.StatusAccepted)
	return err
}
