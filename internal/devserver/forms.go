package devserver

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// form is what a multipart or urlencoded body carried, its fields in any
// order.
type form struct {
	values   map[string][]string
	file     *incoming // the "file" part, nil when none
	tooLarge bool      // the file part was larger than MaxSize (reading stopped there)
}

func (f *form) has(name string) bool { _, ok := f.values[name]; return ok }

func (f *form) get(name string) string {
	if v := f.values[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// discard removes the temporary file of a file part not kept.
func (f *form) discard() {
	if f != nil && f.file != nil && f.file.tmp != "" {
		os.Remove(f.file.tmp)
	}
}

// mediaType is the request's Content-Type without parameters, lower case.
func mediaType(r *http.Request) string {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return ""
	}
	return mt
}

// readMultipart reads a multipart body, streaming the file part to a
// temporary file (with a data dir; else nowhere) while hashing it. Fields
// may come before or after the file.
func (s *Server) readMultipart(r *http.Request) (*form, error) {
	f := &form{values: map[string][]string{}}
	mr, err := r.MultipartReader()
	if err != nil {
		return f, err
	}
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return f, nil
		}
		if err != nil {
			return f, err
		}
		name := p.FormName()
		if name == "file" {
			if f.file != nil { // a second file part is not read
				continue
			}
			f.file = &incoming{sent: p.FileName()}
			if err := s.readFile(p, f); err != nil || f.tooLarge {
				return f, err
			}
			continue
		}
		b, err := io.ReadAll(io.LimitReader(p, 1<<20))
		if err != nil {
			return f, err
		}
		f.values[name] = append(f.values[name], string(b))
	}
}

func (s *Server) readFile(p io.Reader, f *form) error {
	h := sha256.New()
	var dst io.Writer = h
	if s.manifest != nil {
		tmp, err := os.CreateTemp(filepath.Join(s.cfg.DataDir, "files"), ".incoming-*")
		if err != nil {
			return err
		}
		f.file.tmp = tmp.Name()
		defer tmp.Close()
		dst = io.MultiWriter(h, tmp)
	}
	n, err := io.Copy(dst, io.LimitReader(p, s.cfg.MaxSize+1))
	if err != nil {
		return err
	}
	f.file.size = n
	if n > s.cfg.MaxSize {
		f.tooLarge = true
		return nil
	}
	copy(f.file.sha[:], h.Sum(nil))
	return nil
}

// readFormBody reads a PATCH or tags body: multipart or urlencoded. ok is
// false for any other media type (415). An empty body without a type is an
// empty form.
func (s *Server) readFormBody(r *http.Request) (f *form, ok bool, err error) {
	switch mediaType(r) {
	case "multipart/form-data":
		f, err = s.readMultipart(r)
		return f, true, err
	case "application/x-www-form-urlencoded":
		b, err := io.ReadAll(io.LimitReader(r.Body, 10<<20))
		if err != nil {
			return &form{}, true, err
		}
		v, err := url.ParseQuery(string(b))
		return &form{values: v}, true, err
	case "":
		if r.ContentLength == 0 {
			return &form{values: map[string][]string{}}, true, nil
		}
	}
	return &form{}, false, nil
}

// parseTags reads the tags fields of a form: one id per field (what both
// SDKs send), or a JSON array as one field (also accepted by the service).
func parseTags(raw []string) ([]int64, error) {
	var out []int64
	for _, t := range raw {
		t = strings.TrimSpace(t)
		if strings.HasPrefix(t, "[") {
			var ids []int64
			if err := json.Unmarshal([]byte(t), &ids); err != nil {
				return nil, fmt.Errorf("%q is not a list of tag ids", t)
			}
			out = append(out, ids...)
			continue
		}
		id, err := strconv.ParseInt(t, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a tag id", t)
		}
		out = append(out, id)
	}
	return out, nil
}

// dedupe keeps the first of each id, in order.
func dedupe(ids []int64) []int64 {
	out := make([]int64, 0, len(ids))
	for _, id := range ids {
		if !containsID(out, id) {
			out = append(out, id)
		}
	}
	return out
}

func containsID(ids []int64, id int64) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// metaPatch is external_metadata as a request sends it: each key may be
// absent.
type metaPatch struct {
	externalID *string
	docType    *string
	additional json.RawMessage
}

// parseMeta reads an external_metadata field. Keys may be left out; a
// null external_id or doc_type is refused (422), as the service refuses a
// null doc_type; additional_metadata is any JSON but null.
func parseMeta(text string) (metaPatch, *fieldErr) {
	var p metaPatch
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(text), &raw); err != nil || raw == nil {
		return p, &fieldErr{"invalid", "Must be a JSON object (external_id, doc_type, additional_metadata)."}
	}
	str := func(key string) (*string, *fieldErr) {
		v, ok := raw[key]
		if !ok {
			return nil, nil
		}
		if bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			return nil, &fieldErr{"null", key + " may not be null; leave the key out instead."}
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return nil, &fieldErr{"invalid", key + " must be a string."}
		}
		return &s, nil
	}
	var fe *fieldErr
	if p.externalID, fe = str("external_id"); fe != nil {
		return p, fe
	}
	if p.externalID != nil && *p.externalID == "" {
		return p, &fieldErr{"blank", "external_id may not be blank."}
	}
	if p.docType, fe = str("doc_type"); fe != nil {
		return p, fe
	}
	if v, ok := raw["additional_metadata"]; ok {
		if bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			return p, &fieldErr{"null", "additional_metadata may not be null; leave the key out instead."}
		}
		p.additional = v
	}
	return p, nil
}

// apply merges p into old and returns the result (old is not changed):
// external_id and doc_type replace what is stored when given;
// additional_metadata is merged key by key into a stored object, a null
// value removing its key, as the service documents ("Fields in
// additional_metadata are merged (not replaced) with existing values") and
// the TypeScript SDK verified ("a null inside additionalMetadata ... is how
// one key is cleared"). The merge is one level deep: a nested object given
// for a key replaces that key's value. When either side is not an object,
// the new value replaces the old.
func (p metaPatch) apply(old *extMeta) *extMeta {
	m := &extMeta{AdditionalMetadata: json.RawMessage("{}")}
	if old != nil {
		*m = *old
	}
	if p.externalID != nil {
		m.ExternalID = *p.externalID
	}
	if p.docType != nil {
		m.DocType = *p.docType
	}
	if p.additional != nil {
		m.AdditionalMetadata = mergeObjects(m.AdditionalMetadata, p.additional)
	}
	return m
}

func mergeObjects(old, patch json.RawMessage) json.RawMessage {
	var into, from map[string]json.RawMessage
	if json.Unmarshal(old, &into) != nil || into == nil || json.Unmarshal(patch, &from) != nil || from == nil {
		return patch
	}
	for k, v := range from {
		if bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			delete(into, k)
		} else {
			into[k] = v
		}
	}
	b, err := json.Marshal(into)
	if err != nil {
		return patch
	}
	return b
}
