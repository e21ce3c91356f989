package cmd

import (
	"github.com/spf13/cobra"

	"github.com/paradigm-upload/paradigm-upload/internal/devserver"
)

// newDevserverCmd is the devserver command: its flags bind to
// devserver.Flags, which runs it.
func newDevserverCmd(f *Factory) *cobra.Command {
	o := devserver.DefaultFlags()
	c := &cobra.Command{
		Use:   "devserver",
		Short: "Run a local stand-in for Paradigm's Files API (for trying, testing and benchmarking)",
		Long: `devserver serves, on loopback, what Paradigm's V3 Files API documents:
POST/GET /api/v3/files (every documented filter), GET/PATCH/DELETE
/api/v3/files/{id}, POST /api/v3/files/bulk-delete, file tags, GET
/api/v3/tags and /api/v3/workspaces[/{id}], with simulated processing
(pending → parsing → embedding → embedded) and optional faults.

Workspaces 1 (personal) and 42 (shared) exist unless --workspace is given.
--quota counts every API request of the key (token bucket; 429 and
Retry-After beyond it). --outage opens a maintenance window, START after
the server starts, for DURATION: --outage-mode 503 answers the maintenance
503, reset drops every connection, refuse stops listening.

Endpoints for tests (no key): GET /_devserver/stats (counters),
GET /_devserver/documents (current documents), GET|PUT /_devserver/quota
{"per_minute":N,"burst":B}, POST /_devserver/outage
{"duration":"60s","mode":"503"} (DELETE ends it), POST
/_devserver/documents (a document made as another client would:
{"workspace_id","filename","title","content","external_metadata","tags"}),
POST /_devserver/snapshot and POST /_devserver/restore (every document and
the id counter back as at the snapshot: later uploads reuse ids).`,
		Example: `  paradigm-upload devserver --api-key dev-key
  paradigm-upload devserver --api-key dev-key --throttle-rate 0.1 --seed 7
  paradigm-upload devserver --api-key dev-key --quota 1000/min
  paradigm-upload devserver --api-key dev-key --outage 30s+60s \
    --outage-mode refuse`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ctx, cancel := f.Signals.StopContext()
			defer cancel()
			return o.ListenAndServe(ctx, f.Getenv, f.IOStreams.ErrOut)
		},
	}
	fs := c.Flags()
	fs.SortFlags = false
	srv, faults := in(fs, groupServer), in(fs, groupFaults)
	srv.String(&o.Addr, "addr", "HOST:PORT", "address to listen on (port 0 picks a free port)")
	srv.String(&o.AddrFile, "addr-file", "FILE", "write the server's URL to this file once it listens")
	srv.String(&o.APIKey, "api-key", "KEY", "the key clients must send (or PARADIGM_API_KEY)")
	srv.String(&o.MaxSize, "max-size", "SIZE", "largest file accepted (larger: 413)")
	srv.Duration(&o.Pace, "pace", "time a document spends in each processing stage")
	srv.String(&o.FailPattern, "fail-pattern", "GLOB", "documents whose file name matches end in parsing_failed")
	srv.StringArray(&o.Workspaces, "workspace", "ID:NAME[:TYPE]", "a workspace the key can use; TYPE shared (default), personal or public (repeatable)")
	srv.String(&o.DataDir, "data-dir", "DIR", "keep every version of every received file, and a manifest of what happened (with sha256), here")
	srv.Bool(&o.Discard, "discard", "keep only counts and hashes of received files (benchmarks)")
	srv.Bool(&o.AllowRemote, "allow-remote", "allow listening on an address other than loopback")
	faults.Duration(&o.Latency, "latency", "delay added to every API request")
	faults.Float64(&o.Throttle, "throttle-rate", "SHARE", "share of requests answered 429 with Retry-After (0 to 1)")
	faults.Uint64(&o.ThrottleN, "throttle-every", "N", "answer 429 with Retry-After to every Nth request, whatever the pace (a load shedder)")
	faults.Duration(&o.RetryAfter, "retry-after", "Retry-After sent with a --throttle-rate or --throttle-every 429")
	faults.Float64(&o.ErrorRate, "error-rate", "SHARE", "share of requests answered 503 (0 to 1)")
	faults.Float64(&o.ResetRate, "reset-rate", "SHARE", "share of uploads whose connection is dropped, half before and half after the document is stored (0 to 1)")
	faults.Uint64(&o.Seed, "seed", "N", "seed of the fault injection, for reproducible runs")
	faults.String(&o.Quota, "quota", "N/min", "requests allowed per key, as N/min, N/s or N/h (429 and Retry-After beyond)")
	faults.Float64(&o.QuotaBurst, "quota-burst", "N", "requests allowed at once (default: a tenth of the per-minute quota, at least 1)")
	faults.StringArray(&o.Outages, "outage", "START+DURATION", "a maintenance window from the server's start, e.g. 30s+60s (repeatable)")
	faults.String(&o.OutageMode, "outage-mode", "MODE", "what --outage windows do: 503, refuse (stop listening) or reset (drop connections)")
	faults.Uint64(&o.ListChurn, "list-churn", "N", "another uploader at work: before each list page after the first, N documents added or its N oldest deleted, in turn")
	faults.Uint64(&o.MaxPageSize, "max-page-size", "N", "largest page of a list; a larger page_size is lowered silently (default 1000)")
	faults.Bool(&o.IgnoreWSFilter, "ignore-workspace-filter", "GET /api/v3/files lists every workspace's documents, whatever workspace_id says")
	faults.String(&o.NextLoop, "next-loop", "MODE[:N]", "the next link of list pages after the first goes back to page 1 (back) or to the page itself (self); N times, or always")
	faults.Bool(&o.DropExternal, "drop-external-metadata", "store uploads without their external_metadata, and answer without it")
	faults.Bool(&o.OldPatchSchema, "old-patch-schema", "refuse a PATCH that sends a file with 400, as the older schema does")
	return c
}
