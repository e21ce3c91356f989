package upload

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/paradigm-upload/paradigm-upload/internal/api"
	"github.com/paradigm-upload/paradigm-upload/internal/clock"
	"github.com/paradigm-upload/paradigm-upload/internal/clock/clocktest"
	"github.com/paradigm-upload/paradigm-upload/internal/pace"
	"github.com/paradigm-upload/paradigm-upload/internal/retry"
)

// docs is an in-memory Service that behaves as API-NOTES.md says the
// service does: one document per external id in the workspace (a POST of a
// known id answers 200 with the existing document and drops the bytes),
// PATCH replaces content in place, bulk delete is all or nothing. Tests
// read its documents and count its requests, and may script faults.
type docs struct {
	mu      sync.Mutex
	next    int64
	byID    map[int64]*doc
	calls   map[string]int
	history []string // every content-changing request: "POST a.txt", "PATCH 3"

	// fault, when set, may fail a request before it is handled.
	fault func(op string, r *api.UploadRequest) error
	// onUpload, when set, sees each upload's context and request.
	onUpload func(ctx context.Context, r api.UploadRequest)
	// dropMeta makes it an instance that keeps no external metadata;
	// oldSchema one that refuses a PATCH with a file (400), as the older
	// schema says.
	dropMeta, oldSchema bool
	// clk is the service's clock, which stamps documents and listings;
	// each run (syncRun) starts a night after the last.
	clk *clocktest.Fake

	// Faults of a listing: pages of at most maxPage; ordering ignored
	// (newest first whatever is asked); next links of pages ≥ 2 that
	// point back to page 1 ("back") or to the page itself ("self");
	// every workspace listed whatever the filter; beforePage called
	// before a page > 1 is served (d.mu held: it may add documents).
	maxPage         int
	ignoreOrdering  bool
	nextLoop        string
	ignoreWorkspace bool
	beforePage      func(d *docs, page int)
}

// add stores a document directly (another integration, a person, another
// workspace). d.mu must be held.
func (d *docs) add(ws int64, name, content string, ext *api.ExternalMetadata) *doc {
	d.next++
	now := d.stamp()
	sum := sha256.Sum256([]byte(content))
	x := &doc{id: d.next, name: name, content: []byte(content), sha: hex.EncodeToString(sum[:]), ext: ext, session: "s-2",
		created: now, changed: now, ws: ws}
	d.byID[x.id] = x
	return x
}

// snapshot and restore stand for a backup of the instance and its restore:
// the documents and the id counter as they were (later uploads reuse ids).
type backup struct {
	byID map[int64]doc
	next int64
}

func (d *docs) snapshot() backup {
	d.mu.Lock()
	defer d.mu.Unlock()
	b := backup{byID: map[int64]doc{}, next: d.next}
	for id, x := range d.byID {
		b.byID[id] = *x
	}
	return b
}

func (d *docs) restore(b backup) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.byID, d.next = map[int64]*doc{}, b.next
	for id, x := range b.byID {
		x := x
		d.byID[id] = &x
	}
}

type doc struct {
	id      int64
	name    string
	content []byte
	sha     string
	ext     *api.ExternalMetadata
	tags    []int64
	session string
	// created and changed are stamped by the service's clock.
	created, changed time.Time
	title            string // "" until set: the name without its extension
	ws               int64  // 42 unless set
}

// retried wraps svc in the run's retry policy (3 retries), waiting on
// clk, as a run wraps its API client.
func retried(svc Service, clk clock.Clock) Service {
	p := pace.New(clk, pace.Options{Policy: pace.Policy{Retries: 3, Base: time.Second, Max: time.Minute}})
	return retry.Wrap(svc, retry.New(p, retry.Options{}))
}

func newDocs() *docs {
	return &docs{byID: map[int64]*doc{}, calls: map[string]int{}, clk: clocktest.New(time.Unix(2e9, 0))}
}

// stamp is the service's time of a change: every change a second apart.
// d.mu must be held.
func (d *docs) stamp() time.Time {
	d.clk.Advance(time.Second)
	return d.clk.Now()
}

func (d *docs) call(op string, r *api.UploadRequest) error {
	d.mu.Lock()
	d.calls[op]++
	f := d.fault
	d.mu.Unlock()
	if f != nil {
		return f(op, r)
	}
	return nil
}

// count returns how many requests of op were made.
func (d *docs) count(op string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.calls[op]
}

// requests returns how many requests of any kind were made.
func (d *docs) requests() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, c := range d.calls {
		n += c
	}
	return n
}

// byKey returns the documents by the path in their metadata.
func (d *docs) byKey() map[string][]*doc {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := map[string][]*doc{}
	for _, x := range d.byID {
		k := ""
		if x.ext != nil {
			k, _ = x.ext.AdditionalMetadata[metaPath].(string)
		}
		out[k] = append(out[k], x)
	}
	return out
}

func (x *doc) file() *api.File {
	ws := x.ws
	if ws == 0 {
		ws = 42
	}
	size := int64(len(x.content))
	title := x.title
	if title == "" {
		title = strings.TrimSuffix(x.name, filepath.Ext(x.name)) // the service's default
	}
	f := &api.File{ID: x.id, Filename: x.name, Title: title, Extension: strings.TrimPrefix(filepath.Ext(x.name), "."),
		Size: &size, Status: "pending", UploadSessionUUID: x.session,
		Workspace: &api.Workspace{ID: ws}, CreatedAt: x.created, UpdatedAt: x.changed}
	if x.ext != nil {
		cp := *x.ext
		f.ExternalMetadata = &cp
	}
	f.Tags = []api.Tag{} // the service's file object always carries its tags
	for _, t := range x.tags {
		f.Tags = append(f.Tags, api.Tag{ID: t})
	}
	return f
}

func (d *docs) Upload(ctx context.Context, r api.UploadRequest) (*api.UploadResult, error) {
	if d.onUpload != nil {
		d.onUpload(ctx, r)
	}
	op := "POST"
	if r.Replace != 0 {
		op = "PATCH"
	}
	if err := d.call(op, &r); err != nil {
		return nil, err
	}
	content, err := os.ReadFile(r.Path)
	if err != nil {
		return nil, err
	}
	info, err := os.Stat(r.Path)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(content)
	sha := hex.EncodeToString(sum[:])
	var ext *api.ExternalMetadata
	if r.External != nil {
		cp := *r.External
		cp.AdditionalMetadata = map[string]any{}
		for k, v := range r.External.AdditionalMetadata {
			cp.AdditionalMetadata[k] = v
		}
		if r.HashKey != "" {
			cp.AdditionalMetadata[r.HashKey] = sha
		}
		if r.SizeKey != "" {
			cp.AdditionalMetadata[r.SizeKey] = strconv.FormatInt(info.Size(), 10)
		}
		if r.MTimeKey != "" {
			cp.AdditionalMetadata[r.MTimeKey] = info.ModTime().UTC().Format(time.RFC3339Nano)
		}
		ext = &cp
	}
	res := &api.UploadResult{Size: info.Size(), ModTime: info.ModTime(), SHA256: sha}
	d.mu.Lock()
	defer d.mu.Unlock()
	if r.Replace != 0 && d.oldSchema {
		return nil, &api.Error{StatusCode: 400, Kind: "validation_error", Detail: "Invalid input.",
			Fields: map[string][]api.FieldError{"file": {{Error: "immutable_field", Detail: "This field is immutable."}}}}
	}
	if r.Replace != 0 {
		x, ok := d.byID[r.Replace]
		if !ok {
			return nil, &api.Error{StatusCode: 404, Kind: "not_found"}
		}
		x.content, x.sha, x.name, x.changed = content, sha, r.Filename, d.stamp()
		if ext != nil {
			x.ext = ext // merged: every key is sent
		}
		if r.SetTags {
			x.tags = slices.Clone(r.Tags)
		}
		d.history = append(d.history, fmt.Sprintf("PATCH %d", x.id))
		res.StatusCode, res.File = 200, *x.file()
		return res, nil
	}
	if d.dropMeta {
		ext = nil
	}
	if ext != nil {
		for _, x := range d.byID {
			if x.ext != nil && x.ext.ExternalID == ext.ExternalID && x.file().Workspace.ID == r.WorkspaceID {
				res.StatusCode, res.File = 200, *x.file() // the existing document; the bytes are dropped
				return res, nil
			}
		}
	}
	d.next++
	now := d.stamp()
	x := &doc{id: d.next, name: r.Filename, content: content, sha: sha, ext: ext, tags: slices.Clone(r.Tags), session: "s-1",
		created: now, changed: now}
	if x.ext == nil {
		x.ext = &api.ExternalMetadata{AdditionalMetadata: map[string]any{metaPath: r.Filename}}
	}
	d.byID[x.id] = x
	d.history = append(d.history, "POST "+r.Filename)
	res.StatusCode, res.File = 201, *x.file()
	return res, nil
}

func (d *docs) Lookup(_ context.Context, ws int64, id string) ([]api.File, error) {
	if err := d.call("FIND", nil); err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []api.File
	for _, id2 := range d.sortedIDs() {
		if x := d.byID[id2]; x.ext != nil && x.ext.ExternalID == id && x.file().Workspace.ID == ws {
			out = append(out, *x.file())
		}
	}
	return out, nil
}

// sortedIDs returns the documents' ids in order. d.mu must be held.
func (d *docs) sortedIDs() []int64 {
	ids := make([]int64, 0, len(d.byID))
	for id := range d.byID {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func (d *docs) GetFile(_ context.Context, id int64) (*api.File, error) {
	if err := d.call("GET", nil); err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	x, ok := d.byID[id]
	if !ok {
		return nil, &api.Error{StatusCode: 404, Kind: "not_found"}
	}
	return x.file(), nil
}

func (d *docs) UpdateFile(_ context.Context, id int64, u api.FileUpdate) (*api.File, error) {
	if err := d.call("UPDATE", nil); err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	x, ok := d.byID[id]
	if !ok {
		return nil, &api.Error{StatusCode: 404, Kind: "not_found"}
	}
	if u.Title != nil {
		x.title = *u.Title
		x.changed = d.stamp()
	}
	if u.Tags != nil {
		x.tags = slices.Clone(*u.Tags)
		x.changed = d.stamp()
	}
	if u.External != nil {
		// Merged into what is stored, as the service does.
		cp := api.ExternalMetadata{AdditionalMetadata: map[string]any{}}
		if x.ext != nil {
			cp.ExternalID, cp.DocType = x.ext.ExternalID, x.ext.DocType
			for k, v := range x.ext.AdditionalMetadata {
				cp.AdditionalMetadata[k] = v
			}
		}
		if u.External.ExternalID != "" {
			cp.ExternalID = u.External.ExternalID
		}
		for k, v := range u.External.AdditionalMetadata {
			cp.AdditionalMetadata[k] = v
		}
		x.ext = &cp
		x.changed = d.stamp()
	}
	d.history = append(d.history, fmt.Sprintf("UPDATE %d", id))
	return x.file(), nil
}

func (d *docs) ContentHash(_ context.Context, id int64) (string, error) {
	if err := d.call("DOWNLOAD", nil); err != nil {
		return "", err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	x, ok := d.byID[id]
	if !ok {
		return "", &api.Error{StatusCode: 404, Kind: "not_found"}
	}
	return x.sha, nil
}

func (d *docs) DeleteFiles(_ context.Context, ids []int64) error {
	if err := d.call("BULK", nil); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(ids) == 0 {
		return &api.Error{StatusCode: 400, Kind: "empty"}
	}
	for _, id := range ids {
		if _, ok := d.byID[id]; !ok {
			return &api.Error{StatusCode: 404, Kind: "not_found", Detail: fmt.Sprintf("unknown id %d", id)}
		}
	}
	for _, id := range ids {
		delete(d.byID, id)
		d.history = append(d.history, fmt.Sprintf("DELETE %d", id))
	}
	return nil
}

func (d *docs) DeleteFile(_ context.Context, id int64) error {
	if err := d.call("DELETE", nil); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.byID[id]; !ok {
		return &api.Error{StatusCode: 404, Kind: "not_found"}
	}
	delete(d.byID, id)
	d.history = append(d.history, fmt.Sprintf("DELETE %d", id))
	return nil
}

// ListPage serves the documents as the service does — its filters of
// creation and change, ordering by creation (newest first unless asked),
// q.PageSize a page; next is "page=N".
func (d *docs) ListPage(_ context.Context, q api.ListQuery, next string) (*api.FilePage, error) {
	if err := d.call("LIST", nil); err != nil {
		return nil, err
	}
	page := 1
	if next != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(next, "page="))
		if err != nil {
			return nil, fmt.Errorf("bad next %q", next)
		}
		page = n
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if page > 1 && d.beforePage != nil {
		d.beforePage(d, page)
	}
	ids := d.sortedIDs()
	if q.Ordering != "created_at" || d.ignoreOrdering {
		slices.Reverse(ids) // newest first
	}
	var all []api.File
	for _, id := range ids {
		x := d.byID[id]
		switch {
		case q.ExternalID != "" && (x.ext == nil || x.ext.ExternalID != q.ExternalID),
			q.WorkspaceID != 0 && !d.ignoreWorkspace && x.file().Workspace.ID != q.WorkspaceID,
			!q.CreatedBefore.IsZero() && !x.created.Before(q.CreatedBefore),
			!q.UpdatedAfter.IsZero() && !x.changed.After(q.UpdatedAfter):
			continue
		}
		all = append(all, *x.file())
	}
	size := max(q.PageSize, 1)
	if d.maxPage > 0 {
		size = min(size, d.maxPage)
	}
	from := min((page-1)*size, len(all))
	p := &api.FilePage{Count: len(all), Results: all[from:min(from+size, len(all))], Date: d.clk.Now().Truncate(time.Second)}
	switch {
	case from+size >= len(all):
	case page >= 2 && d.nextLoop == "back":
		p.Next = "page=1"
	case page >= 2 && d.nextLoop == "self":
		p.Next = "page=" + strconv.Itoa(page)
	default:
		p.Next = "page=" + strconv.Itoa(page+1)
	}
	return p, nil
}
