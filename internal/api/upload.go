package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"maps"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// UploadRequest describes one upload: a new document (POST), or new content
// for an existing one (PATCH, when Replace is set).
type UploadRequest struct {
	// Path is the file on disk; it is opened by Upload, so every attempt
	// reads it afresh. Opening never blocks: anything but a regular file
	// (a FIFO put there since the scan) is refused with ErrNotRegular.
	Path string
	// Filename is the name sent to the service (the file's base name).
	Filename    string
	WorkspaceID int64 // POST only
	Tags        []int64
	// SetTags sends Tags with a replacement (PATCH), where they replace
	// every tag (an empty list clears them). A new document always gets
	// Tags.
	SetTags bool
	Parser  string
	// External is sent after the file, so that HashKey can carry the
	// content's hash computed while the file streams.
	External *ExternalMetadata
	// HashKey, when set, is the key of External.AdditionalMetadata that
	// receives the hex sha256 of the content sent; SizeKey and MTimeKey
	// receive the file's size (in bytes) and modification time (RFC 3339)
	// as found when it is opened for sending.
	HashKey, SizeKey, MTimeKey string
	// Replace is the id of the document whose content this replaces in
	// place (PATCH /api/v3/files/{id}); 0 uploads a new document.
	Replace int64
	// Sent, when set, is called with the number of file bytes as they go
	// out (negative when an attempt is sent again from the start).
	Sent func(n int64)
}

// UploadResult is the service's answer to a successful upload.
type UploadResult struct {
	File File
	// StatusCode is 201 (queued), 200 (already present, matched by external
	// id; or replaced) or 207 (uploaded, but tags were not applied).
	StatusCode int
	// Size, ModTime and SHA256 describe the content sent: the file as it
	// was when opened (and unchanged until its last byte was read).
	Size    int64
	ModTime time.Time
	SHA256  string
	// Recovered is set when the answer was lost and File is the document
	// the service was then found to hold for this upload (a retrying
	// caller asked). Attempts is how many times it was sent.
	Recovered bool
	Attempts  int
}

// ErrFileChanged reports that a file changed while it was being sent: the
// request was cut before its end, so the service stored nothing of it.
var ErrFileChanged = errors.New("the file changed while it was being uploaded")

// ErrMisread reports a file that does not read as its size says, though
// neither its size nor its time changed: a file of /proc or /sys (size 0,
// or 4096, whatever it holds). Nothing of it is stored: what it reads
// changes with every read, and is not a document.
var ErrMisread = errors.New("reads differently from its size (a file of /proc or /sys?)")

// ErrNotRegular reports that what is at a path is no longer a regular file.
var ErrNotRegular = errors.New("not a regular file (it changed since the scan)")

// hashPlaceholder stands for the content's hash in the framing until the
// file has been read; the hash has the same length.
var hashPlaceholder = strings.Repeat("0", sha256.Size*2)

// Upload sends one file as a streamed multipart request with a known
// Content-Length. The file is never held in memory, and is hashed as it
// goes out. The request can be sent again (GetBody reopens the file).
func (c *Client) Upload(ctx context.Context, r UploadRequest) (*UploadResult, error) {
	var cur *multipartBody
	var rnd [24]byte
	_, _ = rand.Read(rnd[:])
	boundary := hex.EncodeToString(rnd[:]) // one for every sending: the header names it
	open := func() (*multipartBody, error) {
		var length int64 = -1
		if cur != nil {
			// The transport may still be writing the body it gives up
			// (an answer came before the end of it): abandon stops that.
			length = cur.Len()
			if sent := cur.abandon(); r.Sent != nil && sent > 0 {
				r.Sent(-sent)
			}
		}
		f, info, err := OpenRegular(r.Path)
		if err != nil {
			return nil, err
		}
		b, err := newMultipartBody(r, f, info, boundary)
		if err != nil {
			f.Close()
			return nil, err
		}
		if length >= 0 && b.Len() != length {
			// Sent again after it changed size: the request's length no
			// longer holds.
			_ = b.Close()
			return nil, ErrFileChanged
		}
		cur = b
		return b, nil
	}
	body, err := open()
	if err != nil {
		return nil, err
	}
	defer func() { _ = cur.Close() }()
	method, target, op := http.MethodPost, c.endpoint("/api/v3/files", nil), "upload"
	ok := []int{http.StatusCreated, http.StatusOK, http.StatusMultiStatus}
	if r.Replace != 0 {
		method, target, op = http.MethodPatch, c.endpoint("/api/v3/files/"+strconv.FormatInt(r.Replace, 10), nil), "replace"
		ok = []int{http.StatusOK, http.StatusMultiStatus}
	}
	req, err := c.newRequest(ctx, method, target, body)
	if err != nil {
		return nil, err
	}
	req.ContentLength = body.Len()
	req.Header.Set("Content-Type", body.contentType)
	req.GetBody = func() (io.ReadCloser, error) { return open() }
	// Only what the tool uses is decoded from the answer: on a pool of
	// small uploads, decoding the whole file object is a visible cost.
	var ans struct {
		ID                int64             `json:"id"`
		Filename          string            `json:"filename"`
		Status            string            `json:"status"`
		UploadSessionUUID string            `json:"upload_session_uuid"`
		Message           string            `json:"message"`
		ExternalMetadata  *ExternalMetadata `json:"external_metadata"`
		Tags              []Tag             `json:"tags"`
		PendingReprocess  *string           `json:"pending_reprocess"`
	}
	code, err := c.do(req, op, &ans, ok...)
	if err == nil && ans.ID <= 0 {
		err = &AnswerError{Op: op, StatusCode: code, Msg: "the answer names no document (no id)"}
	}
	if err != nil {
		// The progress counted the bytes of this sending: they go back.
		if sent := cur.abandon(); r.Sent != nil && sent > 0 {
			r.Sent(-sent)
		}
	}
	if errors.Is(err, ErrFileChanged) {
		return nil, ErrFileChanged
	}
	digest, readErr := cur.outcome()
	if readErr != nil {
		// The body failed to read (the file changed or became unreadable):
		// that, not the transport's view of it, is the cause.
		return nil, readErr
	}
	if err != nil {
		var te *TransportError
		switch {
		case digest == "":
			// Cut before the file's end: the service cannot have stored
			// a request it never received whole.
			if errors.As(err, &te) {
				te.Sent = false
			}
		case outcomeUnknown(err):
			return nil, &LostError{Op: op, Err: err, Size: cur.size, ModTime: cur.mtime, SHA256: digest}
		}
		return nil, err
	}
	f := File{ID: ans.ID, Filename: ans.Filename, Status: ans.Status, UploadSessionUUID: ans.UploadSessionUUID,
		Message: ans.Message, ExternalMetadata: ans.ExternalMetadata, Tags: ans.Tags}
	if ans.PendingReprocess != nil {
		f.PendingReprocess = *ans.PendingReprocess
	}
	return &UploadResult{StatusCode: code, File: f, Size: cur.size, ModTime: cur.mtime, SHA256: digest}, nil
}

// multipartBody streams: the framing computed up front, then the file
// (hashed as it goes), then the fields that follow it — the hash filled in
// — and the closing boundary.
type multipartBody struct {
	pre, post   []byte
	f           *os.File
	size        int64
	mtime       time.Time
	sent        func(int64)
	contentType string
	h           hash.Hash
	hashAt      int // where the hash goes in post; -1: nowhere

	// ahead reads and hashes a large file on a goroutine of its own,
	// beside the send; nil for a small one (read and hashed as it is
	// sent).
	ahead *readAhead

	// mu guards what follows: net/http reads the body in a goroutine of
	// its own, which may still be at it when an early answer has the
	// request sent again.
	mu       sync.Mutex
	off      int64 // bytes of the whole body already read
	sentFile int64 // bytes of the file already read
	err      error // why reading the file failed, if it did
	digest   string
	closed   bool
}

// Files of aheadMin bytes or more are read and hashed ahead of the send,
// aheadChunks chunks of aheadChunk bytes at most (512 KiB an upload).
const (
	aheadMin    = 4 << 20
	aheadChunk  = 128 << 10
	aheadChunks = 4
)

// readAhead is the goroutine that reads a large file ahead of the send and
// hashes it as it goes, so that the sha256 (about 2 GB/s on one core) no
// longer adds its time to the send's: each chunk read goes to the sender
// in full; the last carries the hash, or why the file cannot be sent as it
// was opened (finishFile's checks, made there).
type readAhead struct {
	full chan chunk  // read and hashed, in order
	free chan []byte // to read into
	stop chan struct{}
	once sync.Once
	cur  chunk // the chunk the sender copies from
	pos  int
}

type chunk struct {
	b      []byte
	last   bool   // the file's last
	err    error  // on the last: why the file cannot be sent
	digest string // on the last, without err: the file's sha256
}

// errAbandoned is what a body still being read returns once it is given up.
var errAbandoned = errors.New("request body abandoned")

func newMultipartBody(r UploadRequest, f *os.File, info os.FileInfo, boundary string) (*multipartBody, error) {
	// The framing is written by hand: the fields are plain ASCII, and the
	// file name is quoted as multipart.Writer and browsers do (raw UTF-8,
	// quotes and backslashes escaped), with line breaks percent-encoded.
	field := func(dst []byte, name, value string) []byte {
		dst = append(dst, "--"...)
		dst = append(dst, boundary...)
		dst = append(dst, "\r\nContent-Disposition: form-data; name=\""...)
		dst = append(dst, name...)
		dst = append(dst, "\"\r\n\r\n"...)
		dst = append(dst, value...)
		return append(dst, "\r\n"...)
	}
	pre := make([]byte, 0, 512)
	if r.Replace == 0 {
		pre = field(pre, "workspace_id", strconv.FormatInt(r.WorkspaceID, 10))
		if r.Parser != "" {
			pre = field(pre, "parser", r.Parser)
		}
	}
	if r.Replace == 0 || r.SetTags {
		for _, t := range r.Tags {
			pre = field(pre, "tags", strconv.FormatInt(t, 10))
		}
		if r.Replace != 0 && len(r.Tags) == 0 {
			pre = field(pre, "tags", "0") // a lone 0 clears the tags: an empty list vanishes from a form
		}
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

	post := []byte("\r\n")
	hashAt := -1
	if r.External != nil {
		ext := *r.External
		if r.HashKey != "" || r.SizeKey != "" || r.MTimeKey != "" {
			ext.AdditionalMetadata = maps.Clone(ext.AdditionalMetadata)
			if ext.AdditionalMetadata == nil {
				ext.AdditionalMetadata = map[string]any{}
			}
		}
		if r.SizeKey != "" {
			ext.AdditionalMetadata[r.SizeKey] = strconv.FormatInt(info.Size(), 10)
		}
		if r.MTimeKey != "" {
			ext.AdditionalMetadata[r.MTimeKey] = info.ModTime().UTC().Format(time.RFC3339Nano)
		}
		if r.HashKey != "" {
			ext.AdditionalMetadata[r.HashKey] = hashPlaceholder
		}
		b, err := ext.appendJSON(nil)
		if err != nil {
			return nil, fmt.Errorf("encode external metadata: %w", err)
		}
		start := len(post)
		post = field(post, "external_metadata", string(b))
		if r.HashKey != "" {
			marker := strconv.Quote(r.HashKey) + ":\"" + hashPlaceholder
			i := strings.Index(string(post[start:]), marker)
			if i < 0 {
				return nil, errors.New("encode external metadata: the hash has no place")
			}
			hashAt = start + i + len(marker) - len(hashPlaceholder)
		}
	}
	post = append(post, "--"...)
	post = append(post, boundary...)
	post = append(post, "--\r\n"...)
	b := &multipartBody{
		pre: pre, post: post, f: f, size: info.Size(), mtime: info.ModTime(), sent: r.Sent,
		contentType: "multipart/form-data; boundary=" + boundary, h: sha256.New(), hashAt: hashAt,
	}
	if b.size >= aheadMin {
		b.ahead = &readAhead{full: make(chan chunk, aheadChunks), free: make(chan []byte, aheadChunks), stop: make(chan struct{})}
		for range aheadChunks {
			b.ahead.free <- make([]byte, aheadChunk)
		}
		go b.readAhead()
	}
	return b, nil
}

// readAhead reads the file into free chunks and hands them over, hashed,
// until its end, where it makes finishFile's checks; it stops when the
// body is given up.
func (b *multipartBody) readAhead() {
	a := b.ahead
	put := func(c chunk) bool {
		select {
		case a.full <- c:
			return true
		case <-a.stop:
			return false
		}
	}
	for left := b.size; ; {
		var buf []byte
		select {
		case buf = <-a.free:
		case <-a.stop:
			return
		}
		n, err := io.ReadFull(b.f, buf[:min(int64(len(buf)), left)])
		b.h.Write(buf[:n])
		left -= int64(n)
		switch {
		case err == io.EOF || err == io.ErrUnexpectedEOF:
			put(chunk{b: buf[:n], last: true, err: b.misread()}) // shorter than its size
			return
		case err != nil:
			put(chunk{b: buf[:n], last: true, err: fmt.Errorf("read %s: %w", filepath.Base(b.f.Name()), err)})
			return
		case left > 0:
			if !put(chunk{b: buf[:n]}) {
				return
			}
			continue
		}
		// The last byte: the file must end here, and be as it was opened.
		c := chunk{b: buf[:n], last: true}
		var one [1]byte
		if m, _ := b.f.Read(one[:]); m > 0 {
			c.err = b.misread()
		} else if c.err = b.checkFile(); c.err == nil {
			c.digest = hex.EncodeToString(b.h.Sum(nil))
		}
		put(c)
		return
	}
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
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, errAbandoned
	}
	n := 0
	for n < len(p) {
		m, err := b.readPart(p[n:], n == 0)
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

// readPart reads from the part the body is in. When wait is false, it
// returns 0 rather than wait for the file to be read.
func (b *multipartBody) readPart(p []byte, wait bool) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	pre := int64(len(b.pre))
	switch {
	case b.off < pre:
		n := copy(p, b.pre[b.off:])
		b.off += int64(n)
		if b.off == pre && b.size == 0 {
			// An empty file must read empty: one byte proves it.
			var one [1]byte
			if m, _ := b.f.Read(one[:]); m > 0 {
				b.err = b.misread()
				return n, b.err
			}
			if err := b.finishFile(); err != nil {
				return n, err
			}
		}
		return n, nil
	case b.off < pre+b.size && b.ahead != nil:
		return b.readAheadPart(p, wait)
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
			b.err = b.misread()
			return 0, b.err
		}
		b.off += int64(n)
		b.h.Write(p[:n])
		b.sentFile += int64(n)
		if n > 0 && b.sent != nil {
			b.sent(int64(n))
		}
		switch {
		case err == io.EOF && b.off < pre+b.size:
			b.err = b.misread()
			return n, b.err
		case err != nil && err != io.EOF:
			b.err = fmt.Errorf("read %s: %w", filepath.Base(b.f.Name()), err)
			return n, b.err
		}
		if b.off == pre+b.size {
			if int64(len(want)) <= left {
				// The buffer had no room for the proof: read it separately.
				var one [1]byte
				if m, _ := b.f.Read(one[:]); m > 0 {
					b.err = b.misread()
					return n, b.err
				}
			}
			if err := b.finishFile(); err != nil {
				return n, err
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

// finishFile runs once the file's last byte is read, before anything after
// it is sent: a file written to while it was read (its size or time no
// longer what they were at open) fails the request, which then ends short
// of its closing boundary — the service stores nothing of a mixed content.
// Otherwise the hash takes its place in the fields that follow.
func (b *multipartBody) finishFile() error {
	if b.err = b.checkFile(); b.err != nil {
		return b.err
	}
	b.setDigest(hex.EncodeToString(b.h.Sum(nil)))
	return nil
}

// checkFile reports a file whose size or time is no longer what they were
// when it was opened.
func (b *multipartBody) checkFile() error {
	info, err := b.f.Stat()
	if err != nil {
		return fmt.Errorf("read %s: %w", filepath.Base(b.f.Name()), err)
	}
	if info.Size() != b.size || !info.ModTime().Equal(b.mtime) {
		return ErrFileChanged
	}
	return nil
}

// misread returns why the file did not read as its size said: it changed
// (ErrFileChanged), or, its size and time still those of the open, it
// never reads as its size says (ErrMisread).
func (b *multipartBody) misread() error {
	if err := b.checkFile(); err != nil {
		return err
	}
	return ErrMisread
}

// setDigest records the hash and puts it in its place in the fields that
// follow the file.
func (b *multipartBody) setDigest(d string) {
	b.digest = d
	if b.hashAt >= 0 {
		copy(b.post[b.hashAt:], b.digest)
	}
}

// readAheadPart copies into p what the read-ahead has read of the file.
// The last chunk carries the hash (set before anything after the file
// goes) or why the request must end short of its closing boundary.
func (b *multipartBody) readAheadPart(p []byte, wait bool) (int, error) {
	a := b.ahead
	if a.pos == len(a.cur.b) && !a.cur.last {
		if a.cur.b != nil {
			a.free <- a.cur.b[:cap(a.cur.b)]
			a.cur, a.pos = chunk{}, 0
		}
		select {
		case a.cur = <-a.full:
		default:
			if !wait {
				return 0, nil
			}
			select {
			case a.cur = <-a.full:
			case <-a.stop:
				return 0, errAbandoned
			}
		}
		a.pos = 0
		if a.cur.last {
			if a.cur.err != nil {
				b.err = a.cur.err
				return 0, b.err
			}
			b.setDigest(a.cur.digest)
		}
	}
	n := copy(p, a.cur.b[a.pos:])
	a.pos += n
	b.off += int64(n)
	b.sentFile += int64(n)
	if n > 0 && b.sent != nil {
		b.sent(int64(n))
	}
	return n, nil
}

// outcome returns the hex sha256 of the file sent, and why reading the file
// failed, if it did.
func (b *multipartBody) outcome() (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.digest, b.err
}

// abandon closes the body for good and returns how many bytes of the file
// it had read.
func (b *multipartBody) abandon() int64 {
	b.stopAhead() // first: a Read waiting for the read-ahead returns
	b.mu.Lock()
	defer b.mu.Unlock()
	_ = b.close()
	return b.sentFile
}

// Close closes the file. The transport closes a request's body when it is
// done with it; Upload closes it in any case.
func (b *multipartBody) Close() error {
	b.stopAhead()
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.close()
}

func (b *multipartBody) close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	b.stopAhead()
	return b.f.Close()
}

// stopAhead stops the read-ahead, if any.
func (b *multipartBody) stopAhead() {
	if b.ahead != nil {
		b.ahead.once.Do(func() { close(b.ahead.stop) })
	}
}
