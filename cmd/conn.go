package cmd

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/paradigm-upload/paradigm-upload/internal/api"
	"github.com/paradigm-upload/paradigm-upload/internal/buildinfo"
	"github.com/paradigm-upload/paradigm-upload/internal/run"
)

// connOptions are the settings every command that talks to Paradigm
// shares: the key, the instance, the config file, and TLS.
type connOptions struct {
	APIKey     string
	APIKeyFile string
	BaseURL    string
	Config     string
	CACert     string
	Insecure   bool
	AllowHTTP  bool
	Timeout    time.Duration

	sources map[string]source
}

func (o *connOptions) bind(f *pflag.FlagSet, withBaseURL bool) {
	g := in(f, groupConnection)
	if withBaseURL {
		if o.BaseURL == "" {
			o.BaseURL = DefaultBaseURL
		}
		g.String(&o.BaseURL, "base-url", "URL", "Paradigm instance URL")
	}
	g.String(&o.APIKey, "api-key", "KEY", "API key (prefer PARADIGM_API_KEY or --api-key-file: a flag is visible to other users)")
	g.String(&o.APIKeyFile, "api-key-file", "FILE", "read the API key from this file (readable by its owner only), or from standard input with -")
	g.String(&o.CACert, "ca-cert", "FILE", "PEM file of the certificate authority of an instance behind a private CA")
	g.Bool(&o.Insecure, "insecure-skip-verify", "do not verify the server's certificate (dangerous: the key can be intercepted)")
	g.Bool(&o.AllowHTTP, "allow-http", "allow plain http:// to a host other than this machine (the key then travels unencrypted)")
	if o.Timeout == 0 {
		o.Timeout = time.Minute
	}
	g.Duration(&o.Timeout, "timeout", "abandon and retry a request when no byte moves either way this long, or when its answer keeps trickling past twice this plus a second per 64 KiB of it")
	g.String(&o.Config, "config", "FILE", "config file (default $XDG_CONFIG_HOME/paradigm-upload/config.yaml when present)")
}

// resolve applies the precedence rule to every flag of c.
func (o *connOptions) resolve(c *cobra.Command, f *Factory) error {
	cfgFile, explicit := o.Config, o.Config != ""
	if !explicit {
		cfgFile = defaultConfigFile(f.Getenv)
	}
	known := settingNames(c.Root())
	for _, w := range unknownEnvironment(f.Environ(), known) {
		f.notices().Warn(w)
	}
	src, err := resolveSettings(c.Flags(), cfgFile, explicit, f.Getenv, known)
	o.sources = src
	return err
}

// rank orders the sources of a setting: a flag beats the environment, which
// beats the config file, which beats the default.
func rank(s source) int {
	switch s.Kind {
	case "flag":
		return 3
	case "env":
		return 2
	case "config":
		return 1
	}
	return 0
}

// key returns the API key, from --api-key or --api-key-file, whichever has
// the stronger source, and registers it for redaction.
func (o *connOptions) key(f *Factory) (string, error) {
	keySrc, fileSrc := o.sources["api-key"], o.sources["api-key-file"]
	useFile := o.APIKeyFile != "" && (o.APIKey == "" || rank(fileSrc) > rank(keySrc))
	if o.APIKey != "" && o.APIKeyFile != "" && rank(fileSrc) == rank(keySrc) {
		return "", usageErrorf("both --api-key and --api-key-file are set (%s); keep one", keySrc)
	}
	var key string
	if useFile {
		k, err := readKeyFile(o.APIKeyFile, f.IOStreams.In)
		if err != nil {
			return "", usageErrorf("--api-key-file: %v", err)
		}
		key = k
	} else {
		key = strings.TrimSpace(o.APIKey)
		if key != "" && keySrc.Kind == "flag" {
			f.notices().Warn("a key given with --api-key is visible to other users of this machine (ps, shell history); prefer PARADIGM_API_KEY or --api-key-file")
		}
	}
	if key == "" {
		return "", usageErrorf("no API key: set PARADIGM_API_KEY, or pass --api-key-file or --api-key (create one at your instance's /settings/api-key)")
	}
	f.IOStreams.AddSecret(key)
	if err := api.CheckKey(key); err != nil {
		return "", usageErrorf("%v (from %s)", err, keySource(useFile, keySrc, fileSrc))
	}
	return key, nil
}

// keySource names where the key came from, for a message.
func keySource(useFile bool, keySrc, fileSrc source) string {
	if useFile {
		return "--api-key-file"
	}
	if keySrc.Kind == "env" || keySrc.Kind == "config" {
		return keySrc.String()
	}
	return "--api-key"
}

// readKeyFile reads a key from a file that only its owner can read, or
// from r when path is "-".
func readKeyFile(path string, r io.Reader) (string, error) {
	var b []byte
	if path == "-" {
		if r == nil {
			return "", fmt.Errorf("no standard input to read the key from")
		}
		line, err := bufio.NewReader(io.LimitReader(r, 64<<10)).ReadString('\n')
		if err != nil && err != io.EOF {
			return "", err
		}
		b = []byte(line)
	} else {
		st, err := os.Stat(path)
		if err != nil {
			return "", err
		}
		if runtime.GOOS != "windows" && st.Mode().Perm()&0o077 != 0 {
			return "", fmt.Errorf("%s can be read by other users (mode %04o); run: chmod 600 %s", path, st.Mode().Perm(), path)
		}
		if b, err = os.ReadFile(path); err != nil {
			return "", err
		}
	}
	key := strings.TrimSpace(string(b))
	if key == "" {
		return "", fmt.Errorf("%s holds no key", path)
	}
	if strings.ContainsAny(key, "\r\n") {
		return "", fmt.Errorf("%s holds more than one line; it must hold the key alone", path)
	}
	return key, nil
}

// baseURL checks the instance URL (api.InstanceURL): http(s), and plain
// http only to this machine unless --allow-http.
func (o *connOptions) baseURL(raw string) (*url.URL, error) {
	u, err := api.InstanceURL(raw, o.AllowHTTP)
	var plain *api.PlainHTTPError
	switch {
	case errors.As(err, &plain):
		return nil, usageErrorf("--base-url: %v; use https://, or pass --allow-http", err)
	case err != nil:
		return nil, usageErrorf("--base-url: %v", err)
	}
	return u, nil
}

// check checks the connection's values that need no file or key: the
// instance URL base and the timeout.
func (o *connOptions) check(base string) (*url.URL, error) {
	u, err := o.baseURL(base)
	if err != nil {
		return nil, err
	}
	if o.Timeout <= 0 {
		return nil, usageErrorf("--timeout must be positive (got %s)", o.Timeout)
	}
	return u, nil
}

// transport builds the HTTP transport: sized for the pool, proxies from the
// standard environment variables, the private CA or the skipped check.
func (o *connOptions) transport(maxConns int, f *Factory) (*http.Transport, error) {
	t := api.NewTransport(api.TransportOptions{MaxConns: maxConns})
	cfg, err := api.TLSOptions{CAFile: o.CACert, SkipVerify: o.Insecure}.Config()
	if err != nil {
		return nil, usageErrorf("--ca-cert: %v", err)
	}
	if o.Insecure {
		f.notices().Warn("--insecure-skip-verify: the server's certificate is NOT checked; anyone on the network path can read the API key and the documents")
	}
	if cfg != nil {
		t.TLSClientConfig = cfg
	}
	return t, nil
}

// conn resolves how to reach the instance at base: its URL checked, the
// transport sized for maxConns concurrent requests, and the key.
func (o *connOptions) conn(base string, maxConns int, f *Factory) (run.Conn, error) {
	u, err := o.check(base)
	if err != nil {
		return run.Conn{}, err
	}
	t, err := o.transport(maxConns, f)
	if err != nil {
		return run.Conn{}, err
	}
	key, err := o.key(f)
	if err != nil {
		return run.Conn{}, err
	}
	return run.Conn{BaseURL: u.String(), Key: key, Transport: t, UserAgent: buildinfo.UserAgent(), Timeout: o.Timeout}, nil
}
