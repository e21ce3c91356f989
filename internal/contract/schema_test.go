package contract

import (
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"
)

// A schema is what the OpenAPI schema says of a JSON value: its type,
// whether null is allowed, its enum, and for an object the fields it
// requires and those it may carry. Only facts are transcribed here, each
// from components.schemas in lightonai/lighton-typescript-sdk
// src/types/api.ts (a field without "?" is required), unless noted.
type schema struct {
	name     string
	kind     string // string, integer, number, boolean, array, object, any
	format   string // date-time, uuid
	nullable bool
	enum     []string
	items    *schema            // array elements
	required map[string]*schema // object fields that must be present
	optional map[string]*schema // object fields that may be present
}

func str() *schema                  { return &schema{kind: "string"} }
func integer() *schema              { return &schema{kind: "integer"} }
func number() *schema               { return &schema{kind: "number"} }
func boolean() *schema              { return &schema{kind: "boolean"} }
func anyValue() *schema             { return &schema{kind: "any"} }
func dateTime() *schema             { return &schema{kind: "string", format: "date-time"} }
func uuid() *schema                 { return &schema{kind: "string", format: "uuid"} }
func enum(values ...string) *schema { return &schema{kind: "string", enum: values} }
func arrayOf(items *schema) *schema { return &schema{kind: "array", items: items} }
func nullable(s *schema) *schema    { c := *s; c.nullable = true; return &c }
func object(name string, req, opt map[string]*schema) *schema {
	return &schema{name: name, kind: "object", required: req, optional: opt}
}

// contract is the schemas of the answers the devserver serves.
type contract struct {
	fileRetrieve, fileList, fileCreate                 *schema
	filePage, workspacePage, workspaceDetails, tagPage *schema
	apiError, validationError, maintenance             *schema
}

func schemas() contract {
	documentStatus := enum("pending", "pending_conversion", "converting", "parsing", "parsing_failed", "embedding",
		"embedding_failed", "embedded", "parsed", "fail", "updating") // DocumentStatusEnum
	statusVision := enum("pending", "processing", "embedded", "fail", "-")                          // StatusVisionEnum
	pendingReprocess := nullable(enum("reparse", "rechunk", "reembed", "reembed_vision", "update")) // PendingReprocessEnum | NullEnum
	language := enum("en", "fr", "es", "it", "ar", "nl", "sv", "de", "ja", "zh", "ko")              // LanguageEnum

	createdBy := object("CreatedBy", map[string]*schema{
		"first_name": str(), "id": integer(), "last_name": str(), "username": str(),
	}, nil)
	externalMetadata := object("ExternalMetadataResponse", map[string]*schema{
		"additional_metadata": anyValue(), "doc_type": str(), "external_id": str(),
	}, nil)
	tagItem := object("TagItem", map[string]*schema{"auto_assigned": boolean(), "id": integer(), "name": str()}, nil)
	thumbnail := object("ThumbnailResponse", map[string]*schema{
		"status": enum("MISSING", "PROCESSING", "READY"), "url": nullable(str()),
	}, nil)
	facet := object("DocumentFacetCompactSchema", map[string]*schema{"label": str(), "path": str()},
		map[string]*schema{"attribute_values": {kind: "object"}})
	summary := object("DocumentSummaryResponse", map[string]*schema{"summary": str()}, map[string]*schema{"language": language})
	workspaceInFile := object("WorkspaceInFileResponseSerializerV3", map[string]*schema{
		"id": integer(), "name": str(), "workspace_type": str(),
	}, nil)
	page := object("Page", map[string]*schema{"index": integer(), "markdown": str()}, nil)

	// Fields every file object shares, required in all three.
	common := func() map[string]*schema {
		return map[string]*schema{
			"created_at": dateTime(), "created_by": nullable(createdBy), "extension": str(), "filename": str(),
			"id": integer(), "tags": arrayOf(tagItem), "thumbnail": thumbnail, "total_pages": integer(),
			"updated_at": dateTime(), "upload_session_uuid": nullable(uuid()), "workspace": nullable(workspaceInFile),
		}
	}
	with := func(m map[string]*schema, extra map[string]*schema) map[string]*schema {
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	fileRetrieve := object("FileRetrieveResponseSerializerV3", with(common(), map[string]*schema{
		"content_types": arrayOf(facet), "pending_reprocess": pendingReprocess, "signature": nullable(str()),
		"summaries": arrayOf(summary),
	}), map[string]*schema{
		"content": nullable(str()), "external_metadata": nullable(externalMetadata), "pages": arrayOf(page),
		"parser": nullable(str()), "size": nullable(integer()), "status": documentStatus,
		"status_detail": nullable(str()), "status_vision": statusVision, "title": nullable(str()),
	})
	fileList := object("FileListResponseSerializerV3", with(common(), map[string]*schema{
		"content_types": arrayOf(facet), "pending_reprocess": pendingReprocess,
	}), map[string]*schema{
		"external_metadata": nullable(externalMetadata), "parser": nullable(str()),
		"search_details": nullable(&schema{kind: "object"}), "signature": nullable(str()), "size": nullable(integer()),
		"status": documentStatus, "status_detail": nullable(str()), "status_vision": statusVision,
		"summaries": arrayOf(summary), "title": nullable(str()),
	})
	fileCreate := object("FileCreateResponseSerializerV3", with(common(), map[string]*schema{
		"external_metadata": nullable(externalMetadata), "message": str(), "summaries": arrayOf(summary),
	}), map[string]*schema{
		"status": documentStatus, "status_vision": statusVision, "title": nullable(str()),
	})
	paginated := func(name string, item *schema) *schema {
		return object(name, map[string]*schema{"count": integer(), "results": arrayOf(item)},
			map[string]*schema{"next": nullable(str()), "previous": nullable(str())})
	}

	scopedKey := object("WorkspaceScopedAPIKey", map[string]*schema{
		"created_at": dateTime(), "created_by": str(), "id": str(), "name": str(), "prefix": str(), "role": str(),
		"scope_type": enum("workspace", "global"),
	}, nil)
	sync := object("WorkspaceSync", map[string]*schema{
		"client_id": str(), "datasource_type": str(), "editable": boolean(), "failed_files_count": integer(),
		"filter_criteria": anyValue(), "instance_url": nullable(str()), "last_status": str(), "name": str(),
		"next_import_date": nullable(dateTime()), "site_name": str(), "source_name": str(), "tenant_id": str(),
		"updated_at": nullable(dateTime()),
	}, nil)
	taxonomy := object("WorkspaceTaxonomy", map[string]*schema{
		"classified_files_rate": number(),
		"root_content_types": arrayOf(object("RootContentTypeEntry", map[string]*schema{
			"count": integer(), "label": str(), "path": str(),
		}, nil)),
	}, nil)
	userRole := enum("owner", "editor", "viewer", "") // UserRoleEnum | BlankEnum
	workspaceCommon := func() map[string]*schema {
		return map[string]*schema{
			"created_at": dateTime(), "description": str(), "document_upload_method": str(), "files_count": integer(),
			"id": integer(), "name": str(), "scoped_api_keys": arrayOf(scopedKey), "sync": nullable(sync),
			"updated_at": dateTime(), "user_role": userRole, "workspace_type": str(),
		}
	}
	workspaceList := object("StandardWorkspaceV3ListResponse", with(workspaceCommon(), map[string]*schema{
		"taxonomy": nullable(taxonomy),
	}), nil)
	workspaceDetails := object("StandardWorkspaceV3DetailsResponse", with(workspaceCommon(), map[string]*schema{
		"summaries":    arrayOf(object("WorkspaceSummary", map[string]*schema{"language": str(), "summary": str()}, nil)),
		"used_storage": number(),
	}), nil)
	tag := object("TagListResponseSerializerV3", map[string]*schema{
		"auto_assign": boolean(), "created_at": dateTime(), "description": str(), "document_count": integer(),
		"id": integer(), "name": str(), "updated_at": dateTime(),
	}, nil)

	errorFields := func() map[string]*schema {
		return map[string]*schema{
			"code": integer(), "detail": str(), "doc_url": str(), "error": str(), "id": nullable(str()),
		}
	}
	return contract{
		fileRetrieve: fileRetrieve, fileList: fileList, fileCreate: fileCreate,
		filePage:         paginated("PaginatedFileListResponseSerializerV3List", fileList),
		workspacePage:    paginated("PaginatedStandardWorkspaceV3ListResponseList", workspaceList),
		workspaceDetails: workspaceDetails,
		tagPage:          paginated("PaginatedTagListResponseSerializerV3List", tag),
		apiError:         object("APIV3ErrorResponse", errorFields(), nil),
		validationError: object("APIV3ValidationErrorResponse", errorFields(), map[string]*schema{
			"fields": {kind: "object"}, // of arrays of APIV3FieldError, checked below
		}),
		maintenance: object("ServiceMaintenance503", map[string]*schema{
			"detail": str(), "error": str(), "mode": enum("full_shutdown", "warning_banner"),
		}, map[string]*schema{
			"endpoint_category_names": arrayOf(str()), "reason": str(), "started_at": dateTime(),
		}),
	}
}

// conform reports every way v departs from s, at path.
func conform(path string, v any, s *schema) []string {
	if v == nil {
		if s.nullable || s.kind == "any" {
			return nil
		}
		return []string{path + ": null, but not nullable"}
	}
	var errs []string
	bad := func(format string, a ...any) { errs = append(errs, path+": "+fmt.Sprintf(format, a...)) }
	switch s.kind {
	case "any":
	case "string":
		x, ok := v.(string)
		if !ok {
			bad("%T, want a string", v)
			break
		}
		if len(s.enum) > 0 && !contains(s.enum, x) {
			bad("%q is not one of %q", x, s.enum)
		}
		switch s.format {
		case "date-time":
			if _, err := time.Parse(time.RFC3339Nano, x); err != nil {
				bad("%q is not an RFC 3339 date-time", x)
			}
		case "uuid":
			if h := strings.ReplaceAll(x, "-", ""); len(h) != 32 || !isHex(h) {
				bad("%q is not a UUID", x)
			}
		}
	case "integer":
		if x, ok := v.(float64); !ok || x != float64(int64(x)) {
			bad("%v, want an integer", v)
		}
	case "number":
		if _, ok := v.(float64); !ok {
			bad("%T, want a number", v)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			bad("%T, want a boolean", v)
		}
	case "array":
		x, ok := v.([]any)
		if !ok {
			bad("%T, want an array", v)
			break
		}
		for i, e := range x {
			errs = append(errs, conform(fmt.Sprintf("%s[%d]", path, i), e, s.items)...)
		}
	case "object":
		x, ok := v.(map[string]any)
		if !ok {
			bad("%T, want an object (%s)", v, s.name)
			break
		}
		for _, k := range sortedKeys(s.required) {
			fv, ok := x[k]
			if !ok {
				bad("required field %q of %s missing", k, s.name)
				continue
			}
			errs = append(errs, conform(path+"."+k, fv, s.required[k])...)
		}
		for _, k := range sortedKeys(s.optional) {
			if fv, ok := x[k]; ok {
				errs = append(errs, conform(path+"."+k, fv, s.optional[k])...)
			}
		}
	}
	return errs
}

func contains(list []string, x string) bool {
	for _, e := range list {
		if e == x {
			return true
		}
	}
	return false
}

func isHex(s string) bool { _, err := hex.DecodeString(s); return err == nil }

func sortedKeys(m map[string]*schema) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// The checker itself must catch what it is meant to catch.
func TestConformCatchesDepartures(t *testing.T) {
	c := schemas()
	good := map[string]any{"code": 404.0, "detail": "x", "doc_url": "u", "error": "not_found", "id": nil}
	if errs := conform("$", good, c.apiError); len(errs) > 0 {
		t.Fatalf("a good body refused: %v", errs)
	}
	for name, bad := range map[string]map[string]any{
		"missing":  {"code": 404.0, "detail": "x", "doc_url": "u", "id": "a"},
		"type":     {"code": "404", "detail": "x", "doc_url": "u", "error": "e", "id": "a"},
		"not-null": {"code": 404.0, "detail": nil, "doc_url": "u", "error": "e", "id": "a"},
		"float":    {"code": 404.5, "detail": "x", "doc_url": "u", "error": "e", "id": "a"},
	} {
		if errs := conform("$", bad, c.apiError); len(errs) == 0 {
			t.Errorf("%s: not caught", name)
		}
	}
	m := map[string]any{"detail": "x", "error": "service_maintenance", "mode": "down"}
	if len(conform("$", m, c.maintenance)) == 0 {
		t.Error("an enum value outside the enum not caught")
	}
	m = map[string]any{"detail": "x", "error": "e", "mode": "full_shutdown", "started_at": "yesterday"}
	if len(conform("$", m, c.maintenance)) == 0 {
		t.Error("a date-time that is not one not caught")
	}
	if len(conform("$", map[string]any{"count": 1.0, "results": []any{map[string]any{}}}, c.tagPage)) == 0 {
		t.Error("an array element not checked")
	}
}
