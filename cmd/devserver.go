package cmd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/paradigm-upload/paradigm-upload/internal/devserver"
	"github.com/paradigm-upload/paradigm-upload/internal/scan"
)

type devserverOptions struct {
	Addr        string
	AddrFile    string
	APIKey      string
	MaxSize     string
	Pace        time.Duration
	FailPattern string
	Workspaces  []string
	Latency     time.Duration
	Throttle    float64
	RetryAfter  time.Duration
	ErrorRate   float64
	ResetRate   float64
	Seed        uint64
	DataDir     string
	Discard     bool
	AllowRemote bool
}

func newDevserverCmd(sig Signals, streams IOStreams) *cobra.Command {
	o := &devserverOptions{Addr: "127.0.0.1:8765", MaxSize: "25MB", Pace: 500 * time.Millisecond,
		RetryAfter: time.Second, Seed: 1}
	c := &cobra.Command{
		Use:   "devserver",
		Short: "Run a local stand-in for Paradigm's Files API (for trying, testing and benchmarking)",
		Long: `devserver serves, on loopback, what Paradigm's V3 Files API documents:
POST /api/v3/files, GET /api/v3/files (filters and pagination),
GET /api/v3/files/{id} and GET /api/v3/workspaces, with simulated processing
(pending → parsing → embedding → embedded) and optional injected faults.

Workspaces 1 (personal) and 42 (custom) exist unless --workspace is given.
GET /_devserver/stats returns counters of what arrived.`,
		Example: `  paradigm-upload devserver --api-key dev-key
  paradigm-upload devserver --api-key dev-key --throttle-rate 0.1 \
      --reset-rate 0.05 --seed 7`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return devserverRun(o, sig, streams)
		},
	}
	f := c.Flags()
	f.SortFlags = false
	srv, faults := in(f, groupServer), in(f, groupFaults)
	srv.String(&o.Addr, "addr", "HOST:PORT", "address to listen on (port 0 picks a free port)")
	srv.String(&o.AddrFile, "addr-file", "FILE", "write the server's URL to this file once it listens")
	srv.String(&o.APIKey, "api-key", "KEY", "the key clients must send (or PARADIGM_API_KEY)")
	srv.String(&o.MaxSize, "max-size", "SIZE", "largest file accepted (larger: 413)")
	srv.Duration(&o.Pace, "pace", "time a document spends in each processing stage")
	srv.String(&o.FailPattern, "fail-pattern", "GLOB", "documents whose file name matches end in parsing_failed")
	srv.StringArray(&o.Workspaces, "workspace", "ID:NAME[:TYPE]", "a workspace the key can use (repeatable)")
	srv.String(&o.DataDir, "data-dir", "DIR", "keep received files and a manifest (with sha256) here")
	srv.Bool(&o.Discard, "discard", "keep only counts and hashes of received files (benchmarks)")
	srv.Bool(&o.AllowRemote, "allow-remote", "allow listening on an address other than loopback")
	faults.Duration(&o.Latency, "latency", "delay added to every API request")
	faults.Float64(&o.Throttle, "throttle-rate", "SHARE", "share of requests answered 429 with Retry-After (0 to 1)")
	faults.Duration(&o.RetryAfter, "retry-after", "Retry-After sent with a 429")
	faults.Float64(&o.ErrorRate, "error-rate", "SHARE", "share of requests answered 503 (0 to 1)")
	faults.Float64(&o.ResetRate, "reset-rate", "SHARE", "share of uploads whose connection is dropped, half before and half after the document is stored (0 to 1)")
	faults.Uint64(&o.Seed, "seed", "N", "seed of the fault injection, for reproducible runs")
	return c
}

func (o *devserverOptions) config(getenv func(string) string) (devserver.Config, error) {
	cfg := devserver.Config{
		APIKey: o.APIKey, Pace: o.Pace, FailPattern: o.FailPattern, Latency: o.Latency,
		ThrottleRate: o.Throttle, RetryAfter: o.RetryAfter, ErrorRate: o.ErrorRate, ResetRate: o.ResetRate,
		Seed: o.Seed, DataDir: o.DataDir, Discard: o.Discard,
	}
	if cfg.APIKey == "" {
		cfg.APIKey = getenv("PARADIGM_API_KEY")
	}
	if cfg.APIKey == "" {
		return cfg, usageErrorf("devserver needs a key: pass --api-key or set PARADIGM_API_KEY")
	}
	for name, v := range map[string]float64{"--throttle-rate": o.Throttle, "--error-rate": o.ErrorRate, "--reset-rate": o.ResetRate} {
		if v < 0 || v > 1 {
			return cfg, usageErrorf("%s must be between 0 and 1 (got %g)", name, v)
		}
	}
	var err error
	if cfg.MaxSize, err = scan.ParseSize(o.MaxSize); err != nil {
		return cfg, usageErrorf("--max-size: %v", err)
	}
	for _, w := range o.Workspaces {
		parts := strings.SplitN(w, ":", 3)
		id, err := strconv.ParseInt(parts[0], 10, 64)
		if err != nil || id <= 0 || len(parts) < 2 || parts[1] == "" {
			return cfg, usageErrorf("--workspace: %q is not ID:NAME[:TYPE]", w)
		}
		typ := "custom"
		if len(parts) == 3 {
			typ = parts[2]
		}
		cfg.Workspaces = append(cfg.Workspaces, devserver.Workspace{ID: id, Name: parts[1], Type: typ})
	}
	return cfg, nil
}

func devserverRun(o *devserverOptions, sig Signals, streams IOStreams) error {
	cfg, err := o.config(streams.Getenv)
	if err != nil {
		return err
	}
	host, _, err := net.SplitHostPort(o.Addr)
	if err != nil {
		return usageErrorf("--addr: %q is not host:port", o.Addr)
	}
	if ip := net.ParseIP(host); !o.AllowRemote && host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return usageErrorf("--addr: %s is not a loopback address; pass --allow-remote to serve beyond this machine", host)
	}
	srv, err := devserver.New(cfg)
	if err != nil {
		return usageErrorf("devserver: %v", err)
	}
	defer func() { _ = srv.Close() }()
	ln, err := (&net.ListenConfig{}).Listen(sig.Ctx, "tcp", o.Addr)
	if err != nil {
		return usageErrorf("--addr: %v", err)
	}
	url := "http://" + ln.Addr().String()
	if o.AddrFile != "" {
		if err := os.WriteFile(o.AddrFile, []byte(url+"\n"), 0o644); err != nil {
			_ = ln.Close()
			return usageErrorf("--addr-file: %v", err)
		}
	}
	fmt.Fprintf(streams.ErrOut, "devserver listening on %s (Ctrl-C to stop)\n", url)
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-sig.Stop:
	case <-sig.Ctx.Done():
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	st := srv.Stats()
	fmt.Fprintf(streams.ErrOut, "devserver stopped: %d documents, %d bytes received\n", st.Documents, st.Bytes)
	return nil
}
