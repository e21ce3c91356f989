package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
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
	// Only what the tool uses is decoded from the answer: on a pool of
	// small uploads, decoding the whole file object is a visible cost.
	var ans struct {
		ID                int64  `json:"id"`
		Filename          string `json:"filename"`
		Status            string `json:"status"`
		UploadSessionUUID string `json:"upload_session_uuid"`
		Message           string `json:"message"`
	}
	code, err := c.do(req, "upload", &ans, http.StatusCreated, http.StatusOK, http.StatusMultiStatus)
	if body.err != nil {
		// The body failed to read (the file changed or became unreadable):
		// that, not the transport's view of it, is the cause.
		return nil, body.err
	}
	if err != nil {
		return nil, err
	}
	if ans.ID <= 0 {
		return nil, &AnswerError{Op: "upload", StatusCode: code, Msg: "the answer names no document (no id)"}
	}
	return &UploadResult{StatusCode: code, File: File{
		ID: ans.ID, Filename: ans.Filename, Status: ans.Status, UploadSessionUUID: ans.UploadSessionUUID, Message: ans.Message,
	}}, nil
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
	var rnd [24]byte
	_, _ = rand.Read(rnd[:])
	boundary := hex.EncodeToString(rnd[:])
	// The framing is written by hand: the fields are plain ASCII, and the
	// file name is quoted as multipart.Writer and browsers do (raw UTF-8,
	// quotes and backslashes escaped), with line breaks percent-encoded.
	pre := make([]byte, 0, 512)
	field := func(name, value string) {
		pre = append(pre, "--"...)
		pre = append(pre, boundary...)
		pre = append(pre, "\r\nContent-Disposition: form-data; name=\""...)
		pre = append(pre, name...)
		pre = append(pre, "\"\r\n\r\n"...)
		pre = append(pre, value...)
		pre = append(pre, "\r\n"...)
	}
	field("workspace_id", strconv.FormatInt(r.WorkspaceID, 10))
	for _, t := range r.Tags {
		field("tags", strconv.FormatInt(t, 10))
	}
	if r.Parser != "" {
		field("parser", r.Parser)
	}
	if r.External != nil {
		b, err := r.External.appendJSON(nil)
		if err != nil {
			return nil, fmt.Errorf("encode external metadata: %w", err)
		}
		field("external_metadata", string(b))
	}
	name := r.Filename
	if name == "" {
		name = filepath.Base(r.Path)
	}
	ct := mime.TypeByExtension(strings.ToLower(filepath.Ext(name)))
	if ct == "" {
		ct = "application/octet-stream"
	}
	pre = append(pre, "--"...)
	pre = append(pre, boundary...)
	pre = append(pre, "\r\nContent-Disposition: form-data; name=\"file\"; filename=\""...)
	pre = append(pre, quoteName.Replace(name)...)
	pre = append(pre, '"')
	pre = append(pre, "\r\nContent-Type: "...)
	pre = append(pre, ct...)
	pre = append(pre, "\r\n\r\n"...)
	return &multipartBody{
		pre: pre, post: []byte("\r\n--" + boundary + "--\r\n"), f: f, size: r.Size, sent: r.Sent,
		contentType: "multipart/form-data; boundary=" + boundary,
	}, nil
}

// appendJSON encodes the metadata. The usual case — string values only — is
// written directly, without reflection; anything else goes through
// encoding/json.
func (m *ExternalMetadata) appendJSON(dst []byte) ([]byte, error) {
	keys := make([]string, 0, len(m.AdditionalMetadata))
	for k, v := range m.AdditionalMetadata {
		if _, ok := v.(string); !ok {
			b, err := json.Marshal(m)
			return append(dst, b...), err
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	dst = append(dst, `{"external_id":`...)
	dst = appendJSONString(dst, m.ExternalID)
	if m.DocType != "" {
		dst = append(dst, `,"doc_type":`...)
		dst = appendJSONString(dst, m.DocType)
	}
	if len(keys) > 0 {
		dst = append(dst, `,"additional_metadata":{`...)
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, k)
			dst = append(dst, ':')
			dst = appendJSONString(dst, m.AdditionalMetadata[k].(string))
		}
		dst = append(dst, '}')
	}
	return append(dst, '}'), nil
}

// appendJSONString appends s as a JSON string, as encoding/json would:
// control characters escaped, invalid UTF-8 replaced by U+FFFD.
func appendJSONString(dst []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c < 0x20:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, `\ufffd`...)
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}

var quoteName = strings.NewReplacer("\\", "\\\\", `"`, "\\\"", "\r", "%0D", "\n", "%0A")

// Len is the exact length of the body.
func (b *multipartBody) Len() int64 { return int64(len(b.pre)) + b.size + int64(len(b.post)) }

// Read fills p across the body's parts, so that a small upload leaves in
// one write: net/http sends the headers of a streamed body on their own,
// then copies the body chunk by chunk.
func (b *multipartBody) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m, err := b.readPart(p[n:])
		n += m
		if err != nil {
			if err == io.EOF && n > 0 {
				return n, nil
			}
			return n, err
		}
		if m == 0 {
			break
		}
	}
	return n, nil
}

// readPart reads from the part the body is in.
func (b *multipartBody) readPart(p []byte) (int, error) {
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
		// Ask for one byte more than is left when p has room: a regular
		// file returns fewer bytes than asked only at its end, so one read
		// both finishes the file and proves it did not grow.
		want := p
		if int64(len(p)) > left {
			want = p[:left+1]
		}
		n, err := b.f.Read(want)
		if int64(n) > left {
			b.err = ErrFileChanged
			return 0, b.err
		}
		b.off += int64(n)
		if n > 0 && b.sent != nil {
			b.sent(int64(n))
		}
		switch {
		case err == io.EOF && b.off < pre+b.size:
			b.err = ErrFileChanged
			return n, b.err
		case err != nil && err != io.EOF:
			b.err = fmt.Errorf("read %s: %w", filepath.Base(b.f.Name()), err)
			return n, b.err
		}
		if b.off == pre+b.size && int64(len(want)) <= left {
			// The buffer had no room for the proof: read it separately.
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
