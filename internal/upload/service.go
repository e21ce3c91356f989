package upload

import (
	"context"

	"github.com/paradigm-upload/paradigm-upload/internal/api"
)

// Service is what the uploader needs of Paradigm. *api.Client implements it;
// tests may use a fake.
type Service interface {
	// Upload sends one file.
	Upload(ctx context.Context, r api.UploadRequest) (*api.UploadResult, error)
	// FindByExternalID returns the workspace's document with this external
	// id, or nil when there is none.
	FindByExternalID(ctx context.Context, workspaceID int64, externalID string) (*api.File, error)
}
