package devserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// t0 is when the settable clock of setup starts.
var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

// setup starts a server on loopback with a settable clock (unless cfg has
// its own) and returns a client for it.
func setup(t *testing.T, cfg Config) (*client, *Server, *clock) {
	t.Helper()
	clk := &clock{t: t0}
	if cfg.Now == nil {
		cfg.Now = clk.now
	}
	srv, s := start(t, cfg)
	return &client{t: t, url: srv.URL, key: key}, s, clk
}

// client speaks to a test server with the key.
type client struct {
	t   *testing.T
	url string
	key string
}

// answer is a decoded answer.
type answer struct {
	code   int
	body   map[string]any
	header http.Header
	raw    []byte
}

func (c *client) do(method, path string, body io.Reader, contentType string) answer {
	c.t.Helper()
	req, err := http.NewRequest(method, c.url+path, body)
	require.NoError(c.t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(c.t, err)
	a := answer{code: resp.StatusCode, header: resp.Header, raw: raw}
	if len(bytes.TrimSpace(raw)) > 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		require.NoError(c.t, json.Unmarshal(raw, &a.body), "%s", raw)
	}
	return a
}

func (c *client) get(path string) answer {
	c.t.Helper()
	return c.do(http.MethodGet, path, nil, "")
}

func (c *client) sendJSON(method, path string, v any) answer {
	c.t.Helper()
	b, err := json.Marshal(v)
	require.NoError(c.t, err)
	return c.do(method, path, bytes.NewReader(b), "application/json")
}

func (c *client) urlencoded(method, path string, fields [][2]string) answer {
	c.t.Helper()
	v := url.Values{}
	for _, kv := range fields {
		v.Add(kv[0], kv[1])
	}
	return c.do(method, path, strings.NewReader(v.Encode()), "application/x-www-form-urlencoded")
}

// part is a file part of a multipart body.
type part struct {
	name    string
	content []byte
}

// multipart sends fields, with the file part first when fileFirst, else
// last.
func (c *client) multipart(method, path string, fields [][2]string, file *part, fileFirst bool) answer {
	c.t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	writeFile := func() {
		if file != nil {
			fw, err := w.CreateFormFile("file", file.name)
			require.NoError(c.t, err)
			_, _ = fw.Write(file.content)
		}
	}
	if fileFirst {
		writeFile()
	}
	for _, kv := range fields {
		require.NoError(c.t, w.WriteField(kv[0], kv[1]))
	}
	if !fileFirst {
		writeFile()
	}
	require.NoError(c.t, w.Close())
	return c.do(method, path, &buf, w.FormDataContentType())
}

// doc describes an upload for c.upload.
type doc struct {
	ws      int
	name    string
	content string
	extID   string
	docType string
	title   string
	tags    []int
	meta    string // additional_metadata, JSON
}

// upload creates a document and returns its id.
func (c *client) upload(d doc) int {
	c.t.Helper()
	fields := [][2]string{{"workspace_id", fmt.Sprint(d.ws)}}
	if d.extID != "" {
		m := map[string]any{"external_id": d.extID}
		if d.docType != "" {
			m["doc_type"] = d.docType
		}
		if d.meta != "" {
			m["additional_metadata"] = json.RawMessage(d.meta)
		}
		b, _ := json.Marshal(m)
		fields = append(fields, [2]string{"external_metadata", string(b)})
	}
	if d.title != "" {
		fields = append(fields, [2]string{"title", d.title})
	}
	for _, t := range d.tags {
		fields = append(fields, [2]string{"tags", fmt.Sprint(t)})
	}
	content := d.content
	if content == "" {
		content = "content of " + d.name
	}
	a := c.multipart(http.MethodPost, "/api/v3/files", fields, &part{d.name, []byte(content)}, false)
	require.Equal(c.t, http.StatusCreated, a.code, "%s", a.raw)
	return num(a.body["id"])
}

// ids lists files with the query and returns the ids of the page, in order.
func (c *client) ids(query string) []int {
	c.t.Helper()
	a := c.get("/api/v3/files?" + query)
	require.Equal(c.t, http.StatusOK, a.code, "%s: %s", query, a.raw)
	out := []int{}
	for _, r := range a.body["results"].([]any) {
		out = append(out, num(r.(map[string]any)["id"]))
	}
	return out
}
