// Package formats owns the list of file formats Paradigm accepts for upload.
// Both the uploader's default filter (internal/scan) and the local stand-in
// (internal/devserver) read it here, so the two cannot drift apart.
//
// The service publishes two lists that disagree; this project takes their
// union (shared/reference/API-NOTES.md). Each entry below names where it
// comes from:
//
//   - guide: the V3 upload guide, "File Requirements"
//     (shared/reference/000_e8535b280219cab1.txt): PDF, DOCX, DOC, PPTX,
//     PPT, TXT, MD, Markdown, HTML, XLSX, XLS, CSV, RTF, ODT, ODS, ODP.
//   - openapi: the description of POST /api/v3/files in the service's
//     OpenAPI schema ("Accepted file formats", as generated into
//     lightonai/lighton-typescript-sdk src/types/api.ts): csv, doc, docx,
//     htm, html, jpeg, jpg, json, md, odp, odt, pdf, png, ppt, pptx, txt,
//     xhtml, xls, xlsx, yaml, yml.
package formats

import "strings"

// Extensions returns the accepted extensions, lower case and without a dot,
// in a fixed order. The slice is new on every call: callers may keep or
// change it.
func Extensions() []string {
	return []string{
		"pdf",      // guide, openapi
		"doc",      // guide, openapi
		"docx",     // guide, openapi
		"ppt",      // guide, openapi
		"pptx",     // guide, openapi
		"xls",      // guide, openapi
		"xlsx",     // guide, openapi
		"csv",      // guide, openapi
		"txt",      // guide, openapi
		"md",       // guide, openapi
		"markdown", // guide only
		"html",     // guide, openapi
		"htm",      // openapi only
		"xhtml",    // openapi only
		"rtf",      // guide only
		"odt",      // guide, openapi
		"ods",      // guide only
		"odp",      // guide, openapi
		"json",     // openapi only
		"yaml",     // openapi only
		"yml",      // openapi only
		"jpg",      // openapi only
		"jpeg",     // openapi only
		"png",      // openapi only
	}
}

// Supported reports whether ext (with or without its leading dot, in any
// case) is an accepted format.
func Supported(ext string) bool {
	ext = strings.ToLower(strings.TrimPrefix(ext, "."))
	if ext == "" {
		return false
	}
	for _, e := range Extensions() {
		if e == ext {
			return true
		}
	}
	return false
}
