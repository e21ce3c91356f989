// Package track follows the processing of uploaded documents: it asks the
// service for their status with list requests filtered by upload session,
// in large pages (one request per page, not one per document), and falls
// back to retrieving a document by id only when it is in none of the
// listed sessions. It talks to the service through the Service interface.
package track

import (
	"context"
	"errors"
	"maps"
	"sort"
	"time"

	"github.com/paradigm-upload/paradigm-upload/internal/api"
	"github.com/paradigm-upload/paradigm-upload/internal/clock"
)

// Service is what tracking needs of Paradigm; *api.Client implements it.
type Service interface {
	api.PageLister
	GetFile(ctx context.Context, id int64) (*api.File, error)
}

// StatusMissing is the status of a document the service no longer has.
const StatusMissing = "missing"

// IsFinal reports whether processing has ended, well or badly (a missing
// document included).
func IsFinal(status string) bool {
	switch status {
	case "embedded", "parsed":
		return true
	}
	return IsFailed(status)
}

// IsFailed reports whether processing failed, or the document is gone.
func IsFailed(status string) bool {
	switch status {
	case "parsing_failed", "embedding_failed", "fail", "failed", StatusMissing:
		return true
	}
	return false
}

// Failed returns the documents whose processing failed.
func Failed(docs []Doc) []Doc { return having(docs, IsFailed) }

// Final returns the documents whose processing ended.
func Final(docs []Doc) []Doc { return having(docs, IsFinal) }

func having(docs []Doc, status func(string) bool) []Doc {
	var out []Doc
	for _, d := range docs {
		if status(d.Status) {
			out = append(out, d)
		}
	}
	return out
}

// Doc is one tracked document.
type Doc struct {
	Path         string `json:"path"`
	DocumentID   int64  `json:"document_id"`
	Filename     string `json:"filename,omitempty"`
	Status       string `json:"status"`
	StatusDetail string `json:"status_detail,omitempty"`
	Session      string `json:"upload_session_uuid,omitempty"`
}

// Request names the documents to look up: by id, with the path each came
// from, and the sessions they were uploaded in.
type Request struct {
	WorkspaceID int64
	Sessions    []string
	Paths       map[int64]string // document id → path
}

// Collect returns the current status of every requested document, sorted by
// path. A document the service no longer has is reported with status
// "missing".
func Collect(ctx context.Context, c Service, r Request) ([]Doc, error) {
	found := make(map[int64]api.File, len(r.Paths))
	for _, s := range r.Sessions {
		err := api.ListFiles(ctx, c, api.ListQuery{WorkspaceID: r.WorkspaceID, UploadSessionUUID: s, PageSize: 500},
			func(files []api.File) error {
				for _, f := range files {
					if _, want := r.Paths[f.ID]; want {
						found[f.ID] = f
					}
				}
				return nil
			})
		if err != nil {
			return nil, err
		}
	}
	docs := make([]Doc, 0, len(r.Paths))
	for id, p := range r.Paths {
		f, ok := found[id]
		if !ok {
			got, err := c.GetFile(ctx, id)
			if ae, isAPI := api.AsError(err); isAPI && ae.StatusCode == 404 {
				docs = append(docs, Doc{Path: p, DocumentID: id, Status: StatusMissing, StatusDetail: "the service has no document with this id"})
				continue
			}
			if err != nil {
				return nil, err
			}
			f = *got
		}
		st := f.Status
		if f.PendingReprocess != "" {
			// New content waits to be processed: the status is the
			// previous content's.
			st = "pending"
		}
		docs = append(docs, Doc{Path: p, DocumentID: id, Filename: f.Filename, Status: st,
			StatusDetail: f.StatusDetail, Session: f.UploadSessionUUID})
	}
	sort.Slice(docs, func(i, j int) bool { return docs[i].Path < docs[j].Path })
	return docs, nil
}

// Counts tallies documents by status.
func Counts(docs []Doc) map[string]int {
	m := map[string]int{}
	for _, d := range docs {
		m[d.Status]++
	}
	return m
}

// WaitOptions tune Wait.
type WaitOptions struct {
	// Timeout bounds the whole wait; 0 means no bound.
	Timeout time.Duration
	// MinInterval and MaxInterval bound the time between polls: the
	// interval doubles while nothing changes and drops back when something
	// does. 1 s and 15 s when zero.
	MinInterval, MaxInterval time.Duration
	Clock                    clock.Clock
	// Update is called after each poll with the documents' statuses.
	Update func(docs []Doc)
}

// ErrTimeout is returned by Wait when documents were still being processed
// at the deadline; the statuses returned are the last seen.
var ErrTimeout = errors.New("processing did not finish within the wait timeout")

// Wait polls until every requested document has a final status, ctx is
// done, or the timeout passes.
func Wait(ctx context.Context, c Service, r Request, o WaitOptions) ([]Doc, error) {
	if o.MinInterval <= 0 {
		o.MinInterval = time.Second
	}
	if o.MaxInterval < o.MinInterval {
		o.MaxInterval = max(15*time.Second, o.MinInterval)
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	deadline := time.Time{}
	if o.Timeout > 0 {
		deadline = o.Clock.Now().Add(o.Timeout)
	}
	interval := o.MinInterval
	var last map[string]int
	for {
		docs, err := Collect(ctx, c, r)
		if err != nil {
			return nil, err
		}
		if o.Update != nil {
			o.Update(docs)
		}
		if len(Final(docs)) == len(docs) {
			return docs, nil
		}
		counts := Counts(docs)
		if maps.Equal(counts, last) {
			interval = min(interval*2, o.MaxInterval)
		} else {
			interval = o.MinInterval
		}
		last = counts
		if !deadline.IsZero() {
			left := deadline.Sub(o.Clock.Now())
			if left <= 0 {
				return docs, ErrTimeout
			}
			interval = min(interval, left)
		}
		if err := o.Clock.Sleep(ctx, interval); err != nil {
			return docs, err
		}
	}
}
