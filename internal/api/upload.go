package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// UploadRequest describes one upload.
type UploadRequest struct {
	// Path is the file on disk; it is opened by Upload, so every attempt
	// reads it afresh.
	Path string
	// Filename is the name sent to the service (the file's base name).
	Filename string
	// Size is the file's size when it was scanned. The body is framed for
	// exactly this many bytes; a file that changes size meanwhile fails with
	// ErrFileChanged instead of sending a truncated document.
	Size        int64
	WorkspaceID int64
	Tags        []int64
	Parser      string
	External    *ExternalMetadata
	// Sent, when set, is called with the number of file bytes as they go out.
	Sent func(n int64)
}

// UploadResult is the service's answer to a successful upload.
type UploadResult struct {
	File File
	// StatusCode is 201 (queued), 200 (already present, matched by external
	// id) or 207 (uploaded, but tags were not applied).
	StatusCode int
}

// ErrFileChanged reports that a file's size changed while it was uploaded.
var ErrFileChanged = errors.New("file changed size while it was being uploaded")

// Upload sends one file as a streamed multipart request with a known
// Content-Length. The file is never held in memory.
func (c *Client) Upload(ctx context.Context, r UploadRequest) (*UploadResult, error) {
	f, err := os.Open(r.Path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	body, err := newMultipartBody(r, f)
	if err != nil {
		return nil, err
	}
	req, err := c.newRequest(ctx, http.MethodPost, c.endpoint("/api/v3/files", nil), body)
	if err != nil {
		return nil, err
	}
	req.ContentLength = body.Len()
	req.Header.Set("Content-Type", body.contentType)
	var res UploadResult
	code, err := c.do(req, "upload", &res.File, http.StatusCreated, http.StatusOK, http.StatusMultiStatus)
	if body.err != nil {
		// The body failed to read (the file changed or became unreadable):
		// that, not the transport's view of it, is the cause.
		return nil, body.err
	}
	if err != nil {
		return nil, err
	}
	res.StatusCode = code
	return &res, nil
}

// multipartBody streams: framing computed up front, then the file, then the
// closing boundary.
type multipartBody struct {
	pre, post   []byte
	f           *os.File
	size        int64
	sent        func(int64)
	contentType string

	off int64 // bytes of the whole body already read
	err error // why reading the file failed, if it did
}

func newMultipartBody(r UploadRequest, f *os.File) (*multipartBody, error) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	field := func(name, value string) {
		// WriteField only fails when the writer fails; a bytes.Buffer does not.
		_ = w.WriteField(name, value)
	}
	field("workspace_id", strconv.FormatInt(r.WorkspaceID, 10))
	for _, t := range r.Tags {
		field("tags", strconv.FormatInt(t, 10))
	}
	if r.Parser != "" {
		field("parser", r.Parser)
	}
	if r.External != nil {
		b, err := json.Marshal(r.External)
		if err != nil {
			return nil, fmt.Errorf("encode external metadata: %w", err)
		}
		field("external_metadata", string(b))
	}
	name := r.Filename
	if name == "" {
		name = filepath.Base(r.Path)
	}
	h := make(textproto.MIMEHeader)
	h.Set("Content-Disposition", mime.FormatMediaType("form-data", map[string]string{"name": "file", "filename": name}))
	ct := mime.TypeByExtension(strings.ToLower(filepath.Ext(name)))
	if ct == "" {
		ct = "application/octet-stream"
	}
	h.Set("Content-Type", ct)
	if _, err := w.CreatePart(h); err != nil {
		return nil, err
	}
	pre := bytes.Clone(buf.Bytes())
	buf.Reset()
	if err := w.Close(); err != nil {
		return nil, err
	}
	return &multipartBody{
		pre: pre, post: bytes.Clone(buf.Bytes()), f: f, size: r.Size, sent: r.Sent,
		contentType: w.FormDataContentType(),
	}, nil
}

// Len is the exact length of the body.
func (b *multipartBody) Len() int64 { return int64(len(b.pre)) + b.size + int64(len(b.post)) }

func (b *multipartBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	pre := int64(len(b.pre))
	switch {
	case b.off < pre:
		n := copy(p, b.pre[b.off:])
		b.off += int64(n)
		return n, nil
	case b.off < pre+b.size:
		left := pre + b.size - b.off
		if int64(len(p)) > left {
			p = p[:left]
		}
		n, err := b.f.Read(p)
		b.off += int64(n)
		if n > 0 && b.sent != nil {
			b.sent(int64(n))
		}
		if err == io.EOF {
			if b.off < pre+b.size {
				b.err = ErrFileChanged
				return n, b.err
			}
			err = nil
		}
		if err != nil {
			b.err = fmt.Errorf("read %s: %w", filepath.Base(b.f.Name()), err)
			return n, b.err
		}
		if b.off == pre+b.size {
			// The file must end exactly here; one that grew would otherwise
			// be sent truncated.
			var one [1]byte
			if m, _ := b.f.Read(one[:]); m > 0 {
				b.err = ErrFileChanged
				return n, b.err
			}
		}
		return n, nil
	default:
		i := b.off - pre - b.size
		if i >= int64(len(b.post)) {
			return 0, io.EOF
		}
		n := copy(p, b.post[i:])
		b.off += int64(n)
		return n, nil
	}
}
