// Package contract holds, in its tests only, the contract of Paradigm's V3
// API as this project reads it: for each endpoint that paradigm-upload
// devserver serves, the required fields, types and enum values of its
// answers, transcribed as facts from the service's OpenAPI schema (as
// generated into lightonai/lighton-typescript-sdk src/types/api.ts) and the
// reference documents in shared/reference.
//
// go test ./internal/contract checks the devserver against it. With
// PARADIGM_CONTRACT_BASE_URL, PARADIGM_CONTRACT_API_KEY and
// PARADIGM_CONTRACT_WORKSPACE_ID set, the same checks run against that
// instance too (they upload, change and delete one small document of their
// own in that workspace); without them, that part is skipped.
package contract
