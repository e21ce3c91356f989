package api

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
)

// The rules of reaching an instance that the command line only names: its
// URL as a user writes it, and how its certificate is checked. They sit
// beside TransportOptions (client.go); the flags that set them, and the
// warning that a skipped check deserves, are cmd's.

// InstanceURL checks the URL of an instance as a user gives it:
// ParseBaseURL's rules, a trailing /api/v3 (the API's root, as its
// documentation writes it) dropped since every path sent starts there, and
// plain http:// only to this machine unless allowHTTP — elsewhere the key
// would travel unencrypted (a *PlainHTTPError).
func InstanceURL(raw string, allowHTTP bool) (*url.URL, error) {
	u, err := ParseBaseURL(raw)
	if err != nil {
		return nil, err
	}
	if strings.HasSuffix(strings.ToLower(u.Path), "/api/v3") {
		u.Path = u.Path[:len(u.Path)-len("/api/v3")]
	}
	if u.Scheme == "http" && !allowHTTP && !isLoopback(u.Hostname()) {
		return nil, &PlainHTTPError{Host: u.Hostname()}
	}
	return u, nil
}

// PlainHTTPError refuses plain http:// to a host other than this machine.
type PlainHTTPError struct{ Host string }

func (e *PlainHTTPError) Error() string {
	return fmt.Sprintf("plain http:// to %s would send the API key unencrypted", e.Host)
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// TLSOptions say how the transport checks the instance's certificate.
type TLSOptions struct {
	// CAFile is a PEM file of a private certificate authority, trusted
	// beside the system's (an on-premises instance).
	CAFile string
	// SkipVerify checks no certificate at all: anyone on the network path
	// can then read the key and the documents.
	SkipVerify bool
}

// Config returns the TLS configuration o asks for, to set as a transport's
// TLSClientConfig; nil when the system's authorities serve. An error is
// the CA file's: unreadable, or holding no PEM certificate.
func (o TLSOptions) Config() (*tls.Config, error) {
	if o.CAFile == "" && !o.SkipVerify {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, err
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s holds no PEM certificate", o.CAFile)
		}
		cfg.RootCAs = pool
	}
	cfg.InsecureSkipVerify = o.SkipVerify
	return cfg, nil
}
