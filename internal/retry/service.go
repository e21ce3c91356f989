package retry

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/paradigm-upload/paradigm-upload/internal/api"
)

// Backend is what a run asks of the service; *api.Client implements it,
// and so does Service.
type Backend interface {
	// Upload sends one file: a new document, or new content for one
	// (api.UploadRequest.Replace).
	Upload(ctx context.Context, r api.UploadRequest) (*api.UploadResult, error)
	// Lookup returns the workspace's documents with this external id:
	// normally one, or none; more when someone else gave a document that
	// identity.
	Lookup(ctx context.Context, workspaceID int64, externalID string) ([]api.File, error)
	GetFile(ctx context.Context, id int64) (*api.File, error)
	// UpdateFile changes a document's metadata in place.
	UpdateFile(ctx context.Context, id int64, u api.FileUpdate) (*api.File, error)
	// DeleteFiles deletes documents, all or nothing; DeleteFile one.
	DeleteFiles(ctx context.Context, ids []int64) error
	DeleteFile(ctx context.Context, id int64) error
	// ListPage reads one page of a listing (api.EachPage walks them).
	ListPage(ctx context.Context, q api.ListQuery, next string) (*api.FilePage, error)
	// ContentHash downloads a document's file and returns its sha256.
	ContentHash(ctx context.Context, id int64) (string, error)
}

// Service is a Backend whose every request is tried as the Retrier says.
type Service struct {
	next Backend
	r    *Retrier
}

// Wrap returns b with its requests retried by r.
func Wrap(b Backend, r *Retrier) *Service { return &Service{next: b, r: r} }

// UnconfirmedError is an upload whose answer was lost and about which the
// service could not then be asked: it may hold it. It is not sent again in
// this run; the next run asks.
type UnconfirmedError struct {
	Lost, Err error
}

func (e *UnconfirmedError) Error() string {
	return fmt.Sprintf("its answer was lost (%v), and asking the service whether it stored it failed (%v)", e.Lost, e.Err)
}

func (e *UnconfirmedError) Unwrap() error { return e.Err }

// AmbiguousError is an upload whose answer was lost, after which the
// service was found to hold several documents of its identity, none of
// them (or more than one) with the content sent.
type AmbiguousError struct {
	Lost  error
	Files []api.File
}

func (e *AmbiguousError) Error() string {
	ids := make([]string, len(e.Files))
	for i, f := range e.Files {
		ids[i] = strconv.FormatInt(f.ID, 10)
	}
	return fmt.Sprintf("%d documents carry this file's identity (ids %s); none was touched", len(e.Files), strings.Join(ids, ", "))
}

// Upload sends a file, as a new document or as new content of one. A
// failure the service did not act on is sent again. An upload sent whole
// whose answer was lost is asked about first — a new document by its
// external id, new content by its document's hash — and sent again only
// when the service does not have it; one without an external id cannot be
// asked about, and is not sent again (its error is returned).
func (s *Service) Upload(ctx context.Context, req api.UploadRequest) (*api.UploadResult, error) {
	var out *api.UploadResult
	o := op{name: "upload"}
	if req.Replace != 0 {
		o.name = "replace"
	}
	o.settle = func(ctx context.Context, lost error) (bool, error) {
		var le *api.LostError
		sent := api.UploadResult{StatusCode: 200, Recovered: true}
		if errors.As(lost, &le) {
			sent.Size, sent.ModTime, sent.SHA256 = le.Size, le.ModTime, le.SHA256
		}
		if req.Replace != 0 {
			f, err := s.GetFile(ctx, req.Replace)
			switch {
			case err != nil && isNotFound(err):
				return false, err // deleted meanwhile: the caller decides
			case err != nil:
				return false, &UnconfirmedError{Lost: lost, Err: err}
			case sent.SHA256 != "" && contentHash(f) == sent.SHA256:
				sent.File, out = *f, &sent
				return true, nil
			}
			return false, nil // not replaced: send it again
		}
		if req.External == nil || req.External.ExternalID == "" {
			return false, lost
		}
		files, err := s.Lookup(ctx, req.WorkspaceID, req.External.ExternalID)
		switch {
		case err != nil:
			return false, &UnconfirmedError{Lost: lost, Err: err}
		case len(files) == 0:
			return false, nil // never stored: send it again
		case len(files) > 1:
			var same []api.File
			for _, f := range files {
				if sent.SHA256 != "" && contentHash(&f) == sent.SHA256 {
					same = append(same, f)
				}
			}
			if len(same) != 1 {
				return false, &AmbiguousError{Lost: lost, Files: files}
			}
			files = same
		}
		sent.File, out = files[0], &sent
		return true, nil
	}
	n, err := s.r.do(ctx, o, func(ctx context.Context) error {
		res, err := s.next.Upload(ctx, req)
		if err == nil {
			out = res
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	out.Attempts = n
	return out, nil
}

// contentHash is the sha256 a document's metadata says it holds.
func contentHash(f *api.File) string {
	if f.ExternalMetadata == nil {
		return ""
	}
	s, _ := f.ExternalMetadata.AdditionalMetadata["sha256"].(string)
	return s
}

func isNotFound(err error) bool {
	ae, ok := api.AsError(err)
	return ok && ae.IsNotFound()
}

// Lookup returns the workspace's documents with this external id.
func (s *Service) Lookup(ctx context.Context, workspaceID int64, externalID string) ([]api.File, error) {
	var out []api.File
	err := s.r.Do(ctx, "look up a document", func(ctx context.Context) (err error) {
		out, err = s.next.Lookup(ctx, workspaceID, externalID)
		return err
	})
	return out, err
}

// GetFile returns one document.
func (s *Service) GetFile(ctx context.Context, id int64) (*api.File, error) {
	var out *api.File
	err := s.r.Do(ctx, "get file", func(ctx context.Context) (err error) {
		out, err = s.next.GetFile(ctx, id)
		return err
	})
	return out, err
}

// UpdateFile changes a document's metadata (the same change twice is the
// same as once).
func (s *Service) UpdateFile(ctx context.Context, id int64, u api.FileUpdate) (*api.File, error) {
	var out *api.File
	err := s.r.Do(ctx, "update file", func(ctx context.Context) (err error) {
		out, err = s.next.UpdateFile(ctx, id, u)
		return err
	})
	return out, err
}

// DeleteFiles deletes documents, all or nothing. Sent again after a lost
// answer, it is refused (404) if the first one went through: the caller
// then deletes one by one, where a document already gone counts as deleted.
func (s *Service) DeleteFiles(ctx context.Context, ids []int64) error {
	return s.r.Do(ctx, "delete files", func(ctx context.Context) error { return s.next.DeleteFiles(ctx, ids) })
}

// DeleteFile deletes one document.
func (s *Service) DeleteFile(ctx context.Context, id int64) error {
	return s.r.Do(ctx, "delete file", func(ctx context.Context) error { return s.next.DeleteFile(ctx, id) })
}

// ContentHash downloads a document's file and hashes it.
func (s *Service) ContentHash(ctx context.Context, id int64) (string, error) {
	var out string
	err := s.r.Do(ctx, "download file", func(ctx context.Context) (err error) {
		out, err = s.next.ContentHash(ctx, id)
		return err
	})
	return out, err
}

// ListPage reads one page of a listing; a page that fails is read again,
// not the whole listing.
func (s *Service) ListPage(ctx context.Context, q api.ListQuery, next string) (*api.FilePage, error) {
	var out *api.FilePage
	err := s.r.Do(ctx, "list files", func(ctx context.Context) (err error) {
		out, err = s.next.ListPage(ctx, q, next)
		return err
	})
	return out, err
}
