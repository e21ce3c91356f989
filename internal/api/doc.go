// Package api is the client of Paradigm's V3 Files API: uploading a file as a
// streamed multipart request (hashed as it goes), replacing, updating and
// deleting documents, listing and retrieving files and workspaces. It owns
// the wire format, the classification of the service's answers into typed
// errors, the refusal to follow redirects, and the stall watchdog of the
// transport; it knows nothing of the command line, the state file or
// progress display.
package api
