package cmd

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paradigm-upload/paradigm-upload/internal/iostreams"
)

const secretKey = "sk-very-secret-0123456789"

// arrival is one upload as the fake service received it.
type arrival struct {
	filename string
	sum      [32]byte
	tags     []string
}

// recorder is a fake Files API that records every upload.
type recorder struct {
	mu   sync.Mutex
	got  []arrival
	seen []string // every request line
	uas  []string // every User-Agent
	// listed are the documents it lists (whatever the filters), as JSON.
	listed []string
}

func (rc *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc.mu.Lock()
	rc.seen = append(rc.seen, r.Method+" "+r.URL.Path)
	rc.uas = append(rc.uas, r.UserAgent())
	rc.mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer "+secretKey {
		w.WriteHeader(401)
		_, _ = w.Write([]byte(`{"id":"x","code":401,"error":"authentication_failed","detail":"Invalid API key."}`))
		return
	}
	if serveWorkspace42(w, r) {
		return
	}
	if r.Method == http.MethodGet && r.URL.Path == "/api/v3/files" {
		// Its documents, whatever the filters: the run's own uploads.
		rc.mu.Lock()
		fmt.Fprintf(w, `{"count":%d,"next":null,"previous":null,"results":[%s]}`, len(rc.listed), strings.Join(rc.listed, ","))
		rc.mu.Unlock()
		return
	}
	if emptyList(w, r) {
		return
	}
	if err := r.ParseMultipartForm(1 << 20); err != nil {
		w.WriteHeader(400)
		return
	}
	f, fh, err := r.FormFile("file")
	if err != nil {
		w.WriteHeader(422)
		return
	}
	b, _ := io.ReadAll(f)
	rc.mu.Lock()
	rc.got = append(rc.got, arrival{filename: fh.Filename, sum: sha256.Sum256(b), tags: r.MultipartForm.Value["tags"]})
	id := len(rc.got)
	now := time.Now().UTC().Format(time.RFC3339Nano)
	rc.listed = append(rc.listed, fmt.Sprintf(`{"id":%d,"filename":%q,"workspace":{"id":42},"created_at":%q,"updated_at":%q,"external_metadata":%s,"tags":[{"id":1},{"id":2}]}`,
		id, fh.Filename, now, now, echoExternal(r)))
	rc.mu.Unlock()
	w.WriteHeader(201)
	fmt.Fprintf(w, `{"id":%d,"filename":%q,"status":"pending","upload_session_uuid":"11111111-2222-4333-8444-555555555555","external_metadata":%s}`,
		id, fh.Filename, echoExternal(r))
}

// echoExternal is the external_metadata an upload sent, as the service's
// answer carries it (null when none was sent).
func echoExternal(r *http.Request) string {
	if v := r.FormValue("external_metadata"); v != "" {
		return v
	}
	return "null"
}

// emptyList answers the reads of a fake service (a listing of its
// documents, a workspace): an empty workspace. It reports whether it
// answered.
func emptyList(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodGet {
		return false
	}
	if strings.HasPrefix(r.URL.Path, "/api/v3/workspaces/") {
		_, _ = w.Write([]byte(`{"id":42,"name":"w","workspace_type":"custom"}`))
		return true
	}
	if r.URL.Path == "/api/v3/tags" { // tags 1 to 3
		_, _ = w.Write([]byte(`{"count":3,"next":null,"previous":null,"results":[{"id":3,"name":"c"},{"id":2,"name":"b"},{"id":1,"name":"a"}]}`))
		return true
	}
	_, _ = w.Write([]byte(`{"count":0,"next":null,"previous":null,"results":[]}`))
	return true
}

// serveWorkspace42 answers the preflight's request for workspace 42, as
// the service does, and reports whether the request was that one.
func serveWorkspace42(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodGet || r.URL.Path != "/api/v3/workspaces/42" {
		return false
	}
	_, _ = w.Write([]byte(`{"id":42,"name":"Contracts","workspace_type":"custom"}`))
	return true
}

// runCmd runs the command in-process and returns exit code, stdout, stderr.
func runCmd(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	getenv := func(k string) string { return env[k] }
	environ := func() []string {
		var kv []string
		for k, v := range env {
			kv = append(kv, k+"="+v)
		}
		sort.Strings(kv)
		return kv
	}
	code := Run(Factory{IOStreams: &iostreams.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut},
		Getenv: getenv, Environ: environ}, args)
	return code, out.String(), errOut.String()
}

func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, c := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		require.NoError(t, os.MkdirAll(filepath.Dir(full), 0o755))
		require.NoError(t, os.WriteFile(full, []byte(c), 0o644))
	}
	return root
}

func TestCommandUploadsEachDocumentOnceAndResumes(t *testing.T) {
	files := map[string]string{
		"contracts/nda.pdf":       strings.Repeat("%PDF nda ", 5000),
		"contracts/2024/msa.docx": strings.Repeat("msa ", 3000),
		"notes.txt":               "plain notes",
		"readme.md":               "# readme",
		"scratch.tmp":             "temporary",
		"logs/run.log":            "log line",
		".DS_Store":               "junk",
		"tool.exe":                "MZ",
	}
	root := writeTree(t, files)
	rc := &recorder{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	stateFile := filepath.Join(t.TempDir(), "upload_state.json")
	env := map[string]string{"PARADIGM_API_KEY": secretKey, "PARADIGM_BASE_URL": srv.URL}
	args := []string{"--files-dir", root, "--workspace-id=42", "--tags", "1,2", "--batch-size", "3",
		"--exclude-extensions", "tmp,log,.DS_Store", "--state-file", stateFile}

	code, out, errOut := runCmd(t, env, args...)
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)

	want := map[string][32]byte{}
	for _, p := range []string{"contracts/nda.pdf", "contracts/2024/msa.docx", "notes.txt", "readme.md"} {
		want[filepath.Base(p)] = sha256.Sum256([]byte(files[p]))
	}
	got := map[string][32]byte{}
	for _, a := range rc.got {
		_, dup := got[a.filename]
		assert.False(t, dup, "%s arrived twice", a.filename)
		got[a.filename] = a.sum
		assert.Equal(t, []string{"1", "2"}, a.tags, "tags as repeated fields")
	}
	assert.Equal(t, want, got, "every document arrives once, byte for byte, and nothing else leaves")
	assert.Contains(t, out, "Uploaded:     4 files")
	assert.Contains(t, out, "Skipped:      4")
	assert.Contains(t, out, "3  in --exclude-extensions")
	assert.Contains(t, out, "1  unsupported extension")
	assert.Contains(t, out, "Upload session: 11111111-2222-4333-8444-555555555555")

	st, err := os.Stat(stateFile)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	stateBytes, _ := os.ReadFile(stateFile)
	assert.Contains(t, string(stateBytes), `"path":"contracts/2024/msa.docx"`, "paths relative, forward slashes")

	before := len(rc.seen)
	code, out, _ = runCmd(t, env, args...)
	require.Equal(t, 0, code)
	// Nothing but reads: the preflight's (the workspace, the tags) and the
	// few that verify the state file (counts at the start and the end, the
	// changes), however many files.
	reads := map[string]int{}
	for _, l := range rc.seen[before:] {
		reads[l]++
	}
	assert.Equal(t, 1, reads["GET /api/v3/workspaces/42"])
	assert.Equal(t, 1, reads["GET /api/v3/tags"])
	assert.LessOrEqual(t, reads["GET /api/v3/files"], 5)
	assert.Len(t, reads, 3, "only those: %v", reads)
	assert.Contains(t, out, "Already done: 4")

	for _, s := range []string{out, errOut, string(stateBytes)} {
		assert.NotContains(t, s, secretKey)
	}
}

func TestCommandExitCodes(t *testing.T) {
	rc := &recorder{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	root := writeTree(t, map[string]string{"a.pdf": "a", "b.pdf": "b"})
	env := map[string]string{"PARADIGM_BASE_URL": srv.URL, "PARADIGM_API_KEY": "not-the-key-0000"}

	code, _, errOut := runCmd(t, env, "--files-dir", root, "--workspace-id", "42")
	assert.Equal(t, 2, code)
	assert.Equal(t, 1, strings.Count(errOut, "\n"), "one line: %q", errOut)
	assert.Contains(t, errOut, "API key was rejected")
	assert.NotContains(t, errOut, "not-the-key-0000")
	assert.Empty(t, rc.got)

	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if emptyList(w, r) {
			return
		}
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(400)
		_, _ = w.Write([]byte(`{"error":"uploads_disabled","detail":"Uploads are disabled."}`))
	}))
	defer failing.Close()
	code, out, _ := runCmd(t, map[string]string{"PARADIGM_API_KEY": secretKey, "PARADIGM_BASE_URL": failing.URL},
		"--files-dir", root, "--workspace-id", "42", "--max-fails", "5")
	assert.Equal(t, 1, code)
	assert.Contains(t, out, "a.pdf: HTTP 400 Bad Request: Uploads are disabled.")
	assert.Contains(t, out, "b.pdf: HTTP 400 Bad Request: Uploads are disabled.")
}

func TestBadInputGetsOneLineAndExit2(t *testing.T) {
	root := writeTree(t, map[string]string{"a.pdf": "a"})
	file := filepath.Join(root, "a.pdf")
	base := []string{"--files-dir", root, "--workspace-id", "42", "--api-key", "k", "--base-url", "http://127.0.0.1:1"}
	with := func(extra ...string) []string { return append(append([]string{}, base...), extra...) }
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"batch size 0", with("--batch-size", "0"), nil, "--batch-size must be between 1 and 50 (got 0)"},
		{"batch size 51", with("--batch-size=51"), nil, "--batch-size must be between 1 and 50 (got 51)"},
		{"batch size many", with("--batch-size", "many"), nil, `--batch-size: "many" is not a whole number`},
		{"max fails 0", with("--max-fails", "0"), nil, "--max-fails must be at least 1 (got 0)"},
		{"tag not an integer", with("--tags", "1,two"), nil, `--tags: "two" is not a tag id`},
		{"missing files dir", []string{"--workspace-id", "42", "--api-key", "k"}, nil, "--files-dir is required"},
		{"files dir absent", []string{"--files-dir", filepath.Join(root, "nope"), "--workspace-id", "42", "--api-key", "k"}, nil, "does not exist"},
		{"files dir is a file", []string{"--files-dir", file, "--workspace-id", "42", "--api-key", "k"}, nil, "not a directory"},
		{"workspace not an integer", []string{"--files-dir", root, "--workspace-id", "legal", "--api-key", "k"}, nil, `--workspace-id: "legal" is not a whole number`},
		{"workspace missing", []string{"--files-dir", root, "--api-key", "k"}, nil, "--workspace-id is required"},
		{"base url not http", with("--base-url", "ftp://paradigm"), nil, `--base-url: "ftp://paradigm" is not an http:// or https:// URL`},
		{"base url no scheme", with("--base-url", "paradigm.lighton.ai"), nil, "--base-url"},
		{"no api key", []string{"--files-dir", root, "--workspace-id", "42"}, nil, "no API key: set PARADIGM_API_KEY, or pass --api-key-file or --api-key"},
		{"max file size", with("--max-file-size", "huge"), nil, `--max-file-size: "huge" is not a size`},
		{"unknown flag", with("--colour"), nil, "unknown flag --colour (see paradigm-upload --help)"},
		{"stray argument", with("extra"), nil, "unknown command"},
		{"env value", base, map[string]string{"PARADIGM_BATCH_SIZE": "lots"}, `PARADIGM_BATCH_SIZE: "lots" is not a whole number`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCmd(t, tc.env, tc.args...)
			assert.Equal(t, 2, code)
			assert.Empty(t, out)
			assert.Equal(t, 1, strings.Count(errOut, "\n"), "exactly one line: %q", errOut)
			assert.Contains(t, errOut, tc.want)
			assert.NotContains(t, errOut, "Usage:")
			assert.NotContains(t, errOut, "goroutine")
		})
	}
}

func TestPrecedenceFlagOverEnvOverConfigOverDefault(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "config.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte("batch-size: 7\nmax-fails: 4\ntags: [3, 4]\nparser: v2.1\n"), 0o600))
	c := newRootCmd(&Factory{IOStreams: &iostreams.IOStreams{Out: io.Discard, ErrOut: io.Discard}, Getenv: func(string) string { return "" }}, nil)
	require.NoError(t, c.ParseFlags([]string{"--batch-size", "9"}))
	env := map[string]string{"PARADIGM_MAX_FAILS": "6"}
	src, err := resolveSettings(c.Flags(), cfg, true, func(k string) string { return env[k] }, settingNames(c))
	require.NoError(t, err)
	get := func(name string) string { return c.Flags().Lookup(name).Value.String() }
	assert.Equal(t, "9", get("batch-size"))
	assert.Equal(t, "flag", src["batch-size"].Kind)
	assert.Equal(t, "6", get("max-fails"))
	assert.Equal(t, "env PARADIGM_MAX_FAILS", src["max-fails"].String())
	assert.Equal(t, "3,4", get("tags"))
	assert.Equal(t, "config", src["tags"].Kind)
	assert.Equal(t, "v2.1", get("parser"))
	assert.Equal(t, "100MB", get("max-file-size"))
	assert.Equal(t, "default", src["max-file-size"].Kind)
}

func TestHelpListsExitCodes(t *testing.T) {
	code, out, _ := runCmd(t, nil, "--help")
	assert.Equal(t, 0, code)
	for _, s := range []string{"--files-dir", "--workspace-id", "--batch-size", "--max-fails", "--tags", "--state-file",
		"--include-extensions", "--exclude-extensions", "--parser", "--max-file-size", "Exit codes:", "130"} {
		assert.Contains(t, out, s)
	}
}

func TestNonTerminalStderrGetsPlainLinesWithoutControlCharacters(t *testing.T) {
	files := map[string]string{}
	for i := 0; i < 8; i++ {
		files[fmt.Sprintf("f%d.txt", i)] = fmt.Sprintf("file %d", i)
	}
	root := writeTree(t, files)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if emptyList(w, r) {
			return
		}
		if err := r.ParseMultipartForm(1 << 20); err != nil {
			w.WriteHeader(400)
			return
		}
		time.Sleep(60 * time.Millisecond)
		w.WriteHeader(201)
		fmt.Fprintf(w, `{"id":1,"upload_session_uuid":"s","external_metadata":%s}`, echoExternal(r))
	}))
	defer slow.Close()
	var out, errOut bytes.Buffer
	code := Run(Factory{IOStreams: &iostreams.IOStreams{Out: &out, ErrOut: &errOut, ErrIsTTY: false}, Getenv: func(k string) string {
		return map[string]string{"PARADIGM_API_KEY": secretKey, "PARADIGM_BASE_URL": slow.URL}[k]
	}}, []string{"--files-dir", root, "--workspace-id", "42", "--batch-size", "1", "--progress-interval", "100ms"})
	require.Equal(t, 0, code, errOut.String())
	assert.Contains(t, errOut.String(), "progress: ")
	assert.Regexp(t, `progress: \d+/8 files \(\d+%\), \d+ B of 48 B sent(, [\d.]+ files/s)?(, ETA \w+)?, uploaded \d+, skipped 0, failed 0`, errOut.String())
	for _, s := range []string{out.String(), errOut.String()} {
		for _, r := range s {
			if r < 0x20 && r != '\n' {
				t.Fatalf("control character %q in output:\n%s", r, s)
			}
		}
	}
}

func TestVerbosePrintsALinePerFileAndPerRequestWithoutTheKey(t *testing.T) {
	rc := &recorder{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	root := writeTree(t, map[string]string{"a.pdf": "a", "b.txt": "b", "c.exe": "c"})
	code, _, errOut := runCmd(t, map[string]string{"PARADIGM_API_KEY": secretKey, "PARADIGM_BASE_URL": srv.URL},
		"--files-dir", root, "--workspace-id", "42", "--verbose", "--no-progress")
	require.Equal(t, 0, code, errOut)
	assert.Regexp(t, `(?m)^uploaded +a\.pdf \(document \d, 1 B, 1 attempt, .*\)$`, errOut)
	assert.Regexp(t, `(?m)^uploaded +b\.txt \(document \d`, errOut)
	assert.Regexp(t, `(?m)^skipped +c\.exe: unsupported extension$`, errOut)
	assert.Equal(t, 2, strings.Count(errOut, "http POST /api/v3/files: 201"))
	assert.NotContains(t, errOut, secretKey)
}
