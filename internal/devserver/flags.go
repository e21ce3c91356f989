package devserver

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/paradigm-upload/paradigm-upload/internal/scan"
)

// Flags are the devserver command's settings as its command line gives
// them, unchecked: cmd binds each field to a flag (devserver --help),
// Config checks them and builds the server's Config, and ListenAndServe
// runs the command. Their errors name the flags.
type Flags struct {
	Addr        string
	AddrFile    string
	APIKey      string
	MaxSize     string
	Pace        time.Duration
	FailPattern string
	Workspaces  []string
	Latency     time.Duration
	Throttle    float64
	ThrottleN   uint64
	RetryAfter  time.Duration
	ErrorRate   float64
	ResetRate   float64
	Seed        uint64
	DataDir     string
	Discard     bool
	AllowRemote bool
	Quota       string
	QuotaBurst  float64
	Outages     []string
	OutageMode  string
	// The adversarial modes (Config).
	ListChurn      uint64
	MaxPageSize    uint64
	IgnoreWSFilter bool
	NextLoop       string
	DropExternal   bool
	OldPatchSchema bool
}

// DefaultFlags are the command line's defaults.
func DefaultFlags() Flags {
	return Flags{Addr: "127.0.0.1:8765", MaxSize: "25MB", Pace: 500 * time.Millisecond, RetryAfter: time.Second,
		Seed: 1, OutageMode: "503"}
}

// Config checks the settings and builds the server's Config; the key comes
// from PARADIGM_API_KEY (through getenv) when APIKey is empty.
func (o Flags) Config(getenv func(string) string) (Config, error) {
	cfg := Config{
		APIKey: o.APIKey, Pace: o.Pace, FailPattern: o.FailPattern, Latency: o.Latency,
		ThrottleRate: o.Throttle, ThrottleEvery: int(min(o.ThrottleN, 1<<20)), RetryAfter: o.RetryAfter, ErrorRate: o.ErrorRate, ResetRate: o.ResetRate,
		Seed: o.Seed, DataDir: o.DataDir, Discard: o.Discard, ListChurn: int(min(o.ListChurn, 1<<20)),
		MaxPageSize: int(min(o.MaxPageSize, 1<<20)), IgnoreWorkspaceFilter: o.IgnoreWSFilter,
		DropExternalMetadata: o.DropExternal, OldPatchSchema: o.OldPatchSchema,
	}
	if cfg.APIKey == "" {
		cfg.APIKey = getenv("PARADIGM_API_KEY")
	}
	if cfg.APIKey == "" {
		return cfg, fmt.Errorf("devserver needs a key: pass --api-key or set PARADIGM_API_KEY")
	}
	for _, r := range []struct {
		name string
		v    float64
	}{{"--throttle-rate", o.Throttle}, {"--error-rate", o.ErrorRate}, {"--reset-rate", o.ResetRate}} {
		if r.v < 0 || r.v > 1 {
			return cfg, fmt.Errorf("%s must be between 0 and 1 (got %g)", r.name, r.v)
		}
	}
	var err error
	if cfg.MaxSize, err = scan.ParseSize(o.MaxSize); err != nil {
		return cfg, fmt.Errorf("--max-size: %v", err)
	}
	if o.Quota != "" {
		if cfg.Quota.PerMinute, err = ParseQuota(o.Quota); err != nil {
			return cfg, fmt.Errorf("--quota: %v", err)
		}
	}
	if o.QuotaBurst < 0 {
		return cfg, fmt.Errorf("--quota-burst must not be negative (got %g)", o.QuotaBurst)
	}
	cfg.Quota.Burst = o.QuotaBurst
	if o.NextLoop != "" {
		if cfg.NextLoop, err = ParseNextLoop(o.NextLoop); err != nil {
			return cfg, fmt.Errorf("--next-loop: %v", err)
		}
	}
	mode, err := ParseOutageMode(o.OutageMode)
	if err != nil {
		return cfg, fmt.Errorf("--outage-mode: %v", err)
	}
	for _, v := range o.Outages {
		out, err := ParseOutage(v, mode)
		if err != nil {
			return cfg, fmt.Errorf("--outage: %v", err)
		}
		cfg.Outages = append(cfg.Outages, out)
	}
	for _, w := range o.Workspaces {
		parts := strings.SplitN(w, ":", 3)
		id, err := strconv.ParseInt(parts[0], 10, 64)
		if err != nil || id <= 0 || len(parts) < 2 || parts[1] == "" {
			return cfg, fmt.Errorf("--workspace: %q is not ID:NAME[:TYPE]", w)
		}
		typ := "shared"
		if len(parts) == 3 {
			typ = parts[2]
		}
		if typ != "shared" && typ != "personal" && typ != "public" {
			return cfg, fmt.Errorf("--workspace: %q: the type must be shared, personal or public", w)
		}
		cfg.Workspaces = append(cfg.Workspaces, Workspace{ID: id, Name: parts[1], Type: typ})
	}
	return cfg, nil
}

// checkAddr refuses an address that is not host:port, or, unless
// AllowRemote, one beyond this machine.
func (o Flags) checkAddr() error {
	host, _, err := net.SplitHostPort(o.Addr)
	if err != nil {
		return fmt.Errorf("--addr: %q is not host:port", o.Addr)
	}
	if ip := net.ParseIP(host); !o.AllowRemote && host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("--addr: %s is not a loopback address; pass --allow-remote to serve beyond this machine", host)
	}
	return nil
}

// ListenAndServe runs the devserver command: it checks the settings,
// listens on Addr, writes its URL to AddrFile, says on w what it serves,
// and serves until ctx ends, then says what it received. An error before
// it serves is a mistake of the settings or of the address.
func (o Flags) ListenAndServe(ctx context.Context, getenv func(string) string, w io.Writer) error {
	cfg, err := o.Config(getenv)
	if err != nil {
		return err
	}
	if err := o.checkAddr(); err != nil {
		return err
	}
	srv, err := New(cfg)
	if err != nil {
		return fmt.Errorf("devserver: %v", err)
	}
	defer func() { _ = srv.Close() }()
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", o.Addr)
	if err != nil {
		return fmt.Errorf("--addr: %v", err)
	}
	url := "http://" + ln.Addr().String()
	if o.AddrFile != "" {
		if err := os.WriteFile(o.AddrFile, []byte(url+"\n"), 0o644); err != nil {
			_ = ln.Close()
			return fmt.Errorf("--addr-file: %v", err)
		}
	}
	fmt.Fprintf(w, "devserver listening on %s (Ctrl-C to stop)\n", url)
	if q := cfg.Quota; q.PerMinute > 0 {
		fmt.Fprintf(w, "quota: %g requests a minute per key\n", q.PerMinute)
	}
	for _, out := range cfg.Outages {
		fmt.Fprintf(w, "outage: %s for %s from %s after start\n", out.Mode, out.Duration, out.Start)
	}
	if err := Serve(ctx, ln, srv, ServeOptions{}); err != nil {
		return err
	}
	st := srv.Stats()
	fmt.Fprintf(w, "devserver stopped: %d documents, %d bytes received\n", st.Documents, st.Bytes)
	return nil
}
