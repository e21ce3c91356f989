package upload

import (
	"context"

	"github.com/paradigm-upload/paradigm-upload/internal/api"
)

// Service is what the uploader needs of Paradigm. *api.Client implements it;
// tests may use a fake.
type Service interface {
	// Upload sends one file: a new document, or new content for one
	// (api.UploadRequest.Replace).
	Upload(ctx context.Context, r api.UploadRequest) (*api.UploadResult, error)
	// FindByExternalID returns the workspace's document with this external
	// id, or nil when there is none.
	FindByExternalID(ctx context.Context, workspaceID int64, externalID string) (*api.File, error)
	GetFile(ctx context.Context, id int64) (*api.File, error)
	// UpdateFile changes a document's metadata in place.
	UpdateFile(ctx context.Context, id int64, u api.FileUpdate) (*api.File, error)
	// DeleteFiles deletes documents, all or nothing; DeleteFile one.
	DeleteFiles(ctx context.Context, ids []int64) error
	DeleteFile(ctx context.Context, id int64) error
	ListFiles(ctx context.Context, q api.ListQuery, fn func([]api.File) error) error
}
