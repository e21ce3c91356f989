// Package api is the client of Paradigm's V3 Files API: uploading a file as a
// streamed multipart request, listing and retrieving files, and listing
// workspaces. It owns the wire format and the classification of the service's
// answers into typed errors; it knows nothing of the command line, the state
// file or progress display.
package api
