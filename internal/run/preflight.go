package run

// Preflight: before the first upload, the mistakes of setup — an output
// path that cannot be written, an empty tree, an instance that cannot be
// reached or is not Paradigm, a key or workspace the service refuses —
// each become one line and exit 2, instead of a failure per file or a
// report lost after hours of uploads.

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/paradigm-upload/paradigm-upload/internal/api"
	"github.com/paradigm-upload/paradigm-upload/internal/pace"
	"github.com/paradigm-upload/paradigm-upload/internal/retry"
	"github.com/paradigm-upload/paradigm-upload/internal/scan"
	"github.com/paradigm-upload/paradigm-upload/internal/state"
)

// checkLocal checks what only this machine can tell: the output paths can
// be written, and the tree holds at least one file. It sends nothing, and
// in a dry run it writes nothing either.
func checkLocal(ctx context.Context, o UploadOptions) error {
	dry := o.Upload.DryRun
	if o.Report != "" {
		if err := checkOutputPath(o.Report, !dry); err != nil {
			return Exitf(ExitUsage, "--report: %v", err)
		}
	}
	if o.StateFile != "" {
		// The file written is the target of a link: its folder takes the
		// compaction's temporary file and the lock.
		file, err := state.Resolve(o.StateFile)
		if err != nil {
			return Exit(ExitUsage, stateFileError(err))
		}
		if err := checkOutputPath(file, !dry); err != nil {
			return Exitf(ExitUsage, "--state-file: %v", err)
		}
	}
	if !o.AllowEmpty {
		empty, err := isEmptyTree(ctx, o.Upload.Root)
		if err != nil {
			return Exitf(ExitUsage, "--files-dir: %v", err)
		}
		if empty {
			return Exitf(ExitUsage, "--files-dir %s holds no files at all (a share that is not mounted?); pass --allow-empty if an empty folder is expected",
				o.Upload.Root)
		}
	}
	return nil
}

// checkOutputPath checks that a file can be created at path: its folder
// exists and, when probe is set, a file can be written in it.
func checkOutputPath(path string, probe bool) error {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return fmt.Errorf("%s is a folder; name a file in it", path)
	}
	dir := filepath.Dir(path)
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("folder %s does not exist", dir)
	case err != nil:
		return err
	case !st.IsDir():
		return fmt.Errorf("%s is not a folder", dir)
	case !probe:
		return nil
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".check-*")
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("cannot write in folder %s: %v", dir, err)
	}
	f.Close()
	os.Remove(f.Name())
	return nil
}

// errFound stops a walk at its first entry.
var errFound = errors.New("found")

// isEmptyTree reports whether root holds no file at any depth (nothing for
// the scan to report, not even a skipped file).
func isEmptyTree(ctx context.Context, root string) (bool, error) {
	err := scan.Walk(ctx, root, scan.Filter{}, func(scan.Entry) error { return errFound })
	switch {
	case errors.Is(err, errFound):
		return false, nil
	case err != nil:
		return false, err
	}
	return true, nil
}

// preflightTimeout bounds the preflight: an instance that does not serve
// it in that time is not one to start a run against.
const preflightTimeout = 30 * time.Second

// preflight asks the service, before the first upload, whether the setup
// works: something answers at the base URL, it is a Paradigm API, it
// accepts the key, and the key may use the workspace. One request
// (GET /api/v3/workspaces/{id}) when all is well; when that answer is not
// the workspace, the list of the key's workspaces (GET /api/v3/workspaces,
// which every version of the API serves) decides, so that an instance
// without the single-workspace endpoint is still checked, not skipped.
//
// Transient trouble — a dropped connection, a 5xx, a 429, a refused
// connection, a name that does not resolve for now — is ridden out for up
// to timeout, with the run's retry policy: only a definite answer is a
// mistake of setup (exit 2): refused for the whole time, an unknown host, a
// certificate that cannot be verified, a rejected key, something that is
// not a Paradigm API. A service that stayed unavailable for the whole time
// ends the command with exit 1 (nothing was sent; the rerun will work). An
// answer in the API's documented error format that is neither a refusal of
// the key nor the workspace is the API: the uploads will report. notify,
// when set, is told once when the preflight starts to wait.
func preflight(ctx context.Context, client *api.Client, r *retry.Retrier, workspaceID int64, timeout time.Duration, notify func(string)) error {
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	base := client.BaseURL()
	var once sync.Once
	pr := r.With(retry.Options{RetryRefused: true, Until: r.Now().Add(timeout), OnRetry: func(rt retry.Retry) {
		if notify != nil {
			once.Do(func() {
				notify(fmt.Sprintf("%s does not serve yet (%s); trying again for up to %s (Ctrl-C to stop)", base, unwrapAll(rt.Err), timeout))
			})
		}
	}})
	var ws *api.Workspace
	err := pr.Do(rctx, "get workspace", func(ctx context.Context) (err error) {
		ws, err = client.GetWorkspace(ctx, workspaceID)
		return err
	})
	if err == nil && ws.ID == workspaceID {
		return nil
	}
	if ae, ok := api.AsError(err); ok && ae.StatusCode == http.StatusForbidden {
		return Exitf(ExitUsage, "the API key may not use workspace %d (%s): check the key, and list the workspaces it can use with: paradigm-upload workspaces",
			workspaceID, ae.Error())
	}
	if e := preflightStop(ctx, rctx, err, base, timeout); e != nil {
		return e
	}
	first := err
	if first == nil {
		first = fmt.Errorf("get workspace %d: the answer names workspace %d", workspaceID, ws.ID)
	}
	var list []api.Workspace
	err = pr.Do(rctx, "list workspaces", func(ctx context.Context) (err error) {
		list, err = client.Workspaces(ctx)
		return err
	})
	if err != nil {
		if e := preflightStop(ctx, rctx, err, base, timeout); e != nil {
			return e
		}
		if ae, ok := api.AsError(err); ok && ae.Documented() {
			return nil
		}
		return notParadigm(base, fmt.Sprintf("%s; %s", first, err), checkBaseURL)
	}
	for _, w := range list {
		if w.ID == workspaceID {
			return nil
		}
	}
	return Exitf(ExitUsage, "workspace %d does not exist or this API key cannot use it; list those it can use with: paradigm-upload workspaces",
		workspaceID)
}

// checkTags asks the service, before the first upload, whether every tag
// of --tags exists (GET /api/v3/tags): an upload naming a tag it does not
// have is stored without it (207), so a typo would leave a whole tree
// untagged. A missing tag is one line and exit 2. When the list cannot be
// read (throttled, unavailable, an instance without it), the uploads go
// on: a tag they could not apply then ends the run with exit 1.
func checkTags(ctx context.Context, client *api.Client, r *retry.Retrier, tags []int64, timeout time.Duration) error {
	if len(tags) == 0 {
		return nil
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var missing []int64
	err := r.With(retry.Options{Until: r.Now().Add(timeout)}).Do(rctx, "list tags", func(ctx context.Context) (err error) {
		missing, err = client.MissingTags(ctx, tags)
		return err
	})
	if err != nil {
		if ctx.Err() == nil && errors.As(err, new(*retry.Error)) {
			// The list could not be read for now: the uploads go on, and
			// a tag the service then does not apply (207) ends the run
			// with exit 1.
			return nil
		}
		return preflightStop(ctx, rctx, err, client.BaseURL(), timeout)
	}
	switch len(missing) {
	case 0:
		return nil
	case 1:
		return Exitf(ExitUsage, "--tags: tag %d does not exist at %s (GET /api/v3/tags does not list it); nothing was uploaded",
			missing[0], client.BaseURL())
	}
	ids := make([]string, len(missing))
	for i, id := range missing {
		ids[i] = strconv.FormatInt(id, 10)
	}
	return Exitf(ExitUsage, "--tags: tags %s and %s do not exist at %s (GET /api/v3/tags does not list them); nothing was uploaded",
		strings.Join(ids[:len(ids)-1], ", "), ids[len(ids)-1], client.BaseURL())
}

// preflightStop returns the error that ends the preflight at once: an
// interruption (ctx, the command's), no answer in time (rctx, the
// preflight's), a mistake of setup, or a service that stayed unavailable.
func preflightStop(ctx, rctx context.Context, err error, base string, timeout time.Duration) error {
	var dns *net.DNSError
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil || errors.Is(err, context.Canceled):
		return Exitf(ExitInterrupted, "interrupted before the first upload")
	case errors.Is(err, syscall.ECONNREFUSED), errors.As(err, &dns) && dns.IsNotFound && !dns.IsTemporary,
		api.IsCertificateError(err), errors.As(err, new(*api.RedirectError)):
		// Definite answers: refused for the whole time, no such host,
		// a certificate that cannot be verified, a redirect.
		return setupFailure(err, base)
	case errors.Is(rctx.Err(), context.DeadlineExceeded) && !errors.As(err, new(*retry.Error)):
		return Exitf(ExitUsage, "%s gave no answer in %s: is --base-url right, or is a proxy needed (HTTPS_PROXY)?", base, timeout)
	case errors.As(err, new(*retry.Error)), errors.Is(err, pace.ErrBudget):
		// The retries, or the outage budget, ran out on trouble that may
		// pass.
		return Exitf(ExitFailures, "%s did not serve for %s (%s): nothing was sent; the service is unavailable or in maintenance: run the same command again once it is back",
			base, timeout, unwrapAll(err))
	}
	return setupFailure(err, base)
}

// setupFailure turns an error that only a change of setup can fix into one
// line that says what to check, with exit 2: nothing listening at the base
// URL, https:// to a plain-HTTP server, an unknown host, no answer, a
// certificate that cannot be verified, a rejected key. It returns nil for
// any other error.
func setupFailure(err error, baseURL string) error {
	if err == nil || errors.Is(err, context.Canceled) {
		return nil
	}
	if api.IsCertificateError(err) {
		return Exitf(ExitUsage, "%v: if the instance uses a private certificate authority, pass --ca-cert", err)
	}
	if ae, ok := api.AsError(err); ok && ae.IsAuth() {
		return Exitf(ExitUsage, "the API key was rejected (%s): check --api-key, --api-key-file or PARADIGM_API_KEY", ae.Error())
	}
	var re *api.RedirectError
	if errors.As(err, &re) {
		return Exit(ExitUsage, re)
	}
	var te *api.TransportError
	if !errors.As(err, &te) {
		return nil
	}
	var rh tls.RecordHeaderError
	var dns *net.DNSError
	switch {
	case errors.As(err, &rh) || strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		plain := baseURL
		if u, perr := url.Parse(baseURL); perr == nil {
			u.Scheme = "http"
			plain = u.String()
		}
		return Exitf(ExitUsage, "%s answers plain HTTP, not TLS (%v): use --base-url %s, if that is really the instance", baseURL,
			unwrapAll(err), plain)
	case errors.Is(err, syscall.ECONNREFUSED):
		return Exitf(ExitUsage, "nothing is listening at %s (connection refused): is --base-url right, and the instance up?", baseURL)
	case errors.As(err, &dns):
		return Exitf(ExitUsage, "%s: host %s not found: is --base-url right?", baseURL, dns.Name)
	case isTimeout(err):
		return Exitf(ExitUsage, "%s does not answer (%v): is --base-url right, or is a proxy needed (HTTPS_PROXY)?", baseURL, unwrapAll(err))
	}
	return Exitf(ExitUsage, "cannot reach %s: %v", baseURL, unwrapAll(err))
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// unwrapAll returns the innermost error of err's chain.
func unwrapAll(err error) error {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
}
