package upload

import "github.com/paradigm-upload/paradigm-upload/internal/retry"

// Service is what the uploader needs of Paradigm: uploads and
// replacements, lookups by external id, gets, metadata updates, deletes,
// and listing pages. *api.Client implements it, and so does the decorator
// of it that a run hands the uploader (internal/retry), under which every
// request is tried as the run's one policy says: the uploader itself sends
// each request once. Tests may use a fake.
type Service = retry.Backend
