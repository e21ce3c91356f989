package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// quotingServer is a raw HTTP/1.1 server that quotes the key back in every
// way it can: in the detail of an error, and in an unsolicited response it
// writes on the idle keep-alive connection after a success, which Go's
// transport reports through the standard logger.
func quotingServer(t *testing.T, key string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serveQuoting(c, key)
		}
	}()
	return "http://" + ln.Addr().String()
}

// externalMetadataField finds the external_metadata field of a multipart
// upload.
var externalMetadataField = regexp.MustCompile(`name="external_metadata"\r\n\r\n(\{.*\})\r\n`)

func serveQuoting(c net.Conn, key string) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		body, _ := io.ReadAll(req.Body)
		var status int
		var answer string
		switch {
		case req.Method == http.MethodGet && strings.HasPrefix(req.URL.Path, "/api/v3/workspaces/"):
			status, answer = 200, `{"id":42,"name":"w","workspace_type":"custom"}`
		case req.Method == http.MethodGet:
			status, answer = 200, `{"count":0,"next":null,"previous":null,"results":[]}`
		case strings.Contains(string(body), `filename="bad.pdf"`):
			status, answer = 400, fmt.Sprintf(`{"error":"invalid_key_usage","detail":"the key %s may not upload this"}`, key)
		default:
			// The answer carries the external metadata sent, as the
			// service's does.
			ext := "null"
			if m := externalMetadataField.FindSubmatch(body); m != nil {
				ext = string(m[1])
			}
			status, answer = 201, `{"id":1,"filename":"a.pdf","status":"pending","upload_session_uuid":"s","external_metadata":`+ext+`}`
		}
		fmt.Fprintf(c, "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", status, len(answer), answer)
		if status == 201 {
			// Then, unasked, more bytes on the idle connection.
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nX-Echo: Bearer %s\r\n\r\n", key)
			return
		}
	}
}

func TestTheKeyQuotedBackReachesNoSink(t *testing.T) {
	base := quotingServer(t, key)
	root := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(root, "a.pdf"), []byte("a"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(root, "bad.pdf"), []byte("b"), 0o644))
	dir := t.TempDir()
	report, state := filepath.Join(dir, "report.json"), filepath.Join(dir, "state")
	sawLog := false
	for _, mode := range [][]string{{"--verbose"}, {"--log-format", "json", "--verbose"}, {"--quiet"}, {}} {
		c := exec.Command("paradigm-upload", append([]string{"--files-dir", root, "--workspace-id", "42", "--base-url", base,
			"--no-progress", "--batch-size", "1", "--max-fails", "5", "--report", report, "--state-file", state}, mode...)...)
		c.Env = append(os.Environ(), "PARADIGM_API_KEY="+key)
		var out, errOut strings.Builder
		c.Stdout, c.Stderr = &out, &errOut
		err := c.Run()
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee, "bad.pdf fails: exit 1 (%v)\n%s%s", mode, out.String(), errOut.String())
		assert.Equal(t, 1, ee.ExitCode(), "%v:\n%s%s", mode, out.String(), errOut.String())
		b, rerr := os.ReadFile(report)
		require.NoError(t, rerr)
		st, rerr := os.ReadFile(state)
		require.NoError(t, rerr)
		for what, s := range map[string]string{"stdout": out.String(), "stderr": errOut.String(), "report": string(b), "state": string(st)} {
			assert.NotContains(t, s, key, "%s of %v", what, mode)
		}
		assert.Contains(t, string(b), "[REDACTED] may not upload this", "the server did quote the key (%v)", mode)
		sawLog = sawLog || strings.Contains(errOut.String(), "Unsolicited response")
		require.NoError(t, os.Remove(state))
	}
	assert.True(t, sawLog, "Go's transport logged the unsolicited answer (else this test shows nothing of that sink)")
}
