package api_test

import (
	"crypto/tls"
	"encoding/pem"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paradigm-upload/paradigm-upload/internal/api"
)

func TestInstanceURL(t *testing.T) {
	for raw, want := range map[string]string{
		"https://paradigm.example.com":          "https://paradigm.example.com",
		"https://paradigm.example.com/api/v3":   "https://paradigm.example.com",
		"https://paradigm.example.com/API/V3/":  "https://paradigm.example.com",
		"https://example.com/paradigm/api/v3":   "https://example.com/paradigm",
		"http://127.0.0.1:9":                    "http://127.0.0.1:9",
		"http://localhost:9":                    "http://localhost:9",
		"http://[::1]:9":                        "http://[::1]:9",
		"https://paradigm.example.com/api/v3x/": "https://paradigm.example.com/api/v3x",
	} {
		u, err := api.InstanceURL(raw, false)
		if assert.NoError(t, err, raw) {
			assert.Equal(t, want, u.String(), raw)
		}
	}

	_, err := api.InstanceURL("http://paradigm.example.com", false)
	var plain *api.PlainHTTPError
	require.ErrorAs(t, err, &plain, "plain http to another machine")
	assert.Equal(t, "paradigm.example.com", plain.Host)
	assert.EqualError(t, err, "plain http:// to paradigm.example.com would send the API key unencrypted")
	u, err := api.InstanceURL("http://paradigm.example.com/api/v3", true)
	require.NoError(t, err, "unless allowed")
	assert.Equal(t, "http://paradigm.example.com", u.String())

	_, err = api.InstanceURL("ftp://paradigm", false)
	assert.EqualError(t, err, `"ftp://paradigm" is not an http:// or https:// URL`, "ParseBaseURL's rules first")
	assert.NotErrorAs(t, err, &plain)
}

func TestTLSOptions(t *testing.T) {
	cfg, err := api.TLSOptions{}.Config()
	require.NoError(t, err)
	assert.Nil(t, cfg, "the system's authorities")

	cfg, err = api.TLSOptions{SkipVerify: true}.Config()
	require.NoError(t, err)
	assert.True(t, cfg.InsecureSkipVerify)
	assert.Equal(t, uint16(tls.VersionTLS12), cfg.MinVersion)

	srv := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})) // its own CA
	defer srv.Close()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	require.NoError(t, os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644))
	get := func(cfg *tls.Config) error {
		tr := api.NewTransport(api.TransportOptions{})
		tr.TLSClientConfig = cfg
		resp, err := (&http.Client{Transport: tr}).Get(srv.URL)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	require.Error(t, get(nil), "the test server's CA is no system authority")
	cfg, err = api.TLSOptions{CAFile: ca}.Config()
	require.NoError(t, err)
	assert.False(t, cfg.InsecureSkipVerify)
	assert.NoError(t, get(cfg), "trusted through the CA file")

	bad := filepath.Join(dir, "bad.pem")
	require.NoError(t, os.WriteFile(bad, []byte("not a certificate"), 0o644))
	_, err = api.TLSOptions{CAFile: bad}.Config()
	assert.EqualError(t, err, bad+" holds no PEM certificate")
	_, err = api.TLSOptions{CAFile: filepath.Join(dir, "missing.pem"), SkipVerify: true}.Config()
	assert.ErrorIs(t, err, fs.ErrNotExist, "a CA file that cannot be read is an error, skipped check or not")
}
