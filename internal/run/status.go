package run

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"strings"

	"github.com/paradigm-upload/paradigm-upload/internal/api"
	"github.com/paradigm-upload/paradigm-upload/internal/iostreams"
	"github.com/paradigm-upload/paradigm-upload/internal/output"
	"github.com/paradigm-upload/paradigm-upload/internal/retry"
	"github.com/paradigm-upload/paradigm-upload/internal/state"
	"github.com/paradigm-upload/paradigm-upload/internal/track"
)

// StatusOptions configure the status command.
type StatusOptions struct {
	// Connect resolves how to reach the instance the state file names.
	Connect   func(baseURL string) (Conn, error)
	StateFile string
	// Session limits the report to one upload session.
	Session string
	JSON    bool
}

// Status reports how far processing has got for every document a state
// file records; it exits 3 when processing failed for any.
func Status(ctx context.Context, o StatusOptions, streams *iostreams.IOStreams) error {
	snap, err := state.Read(o.StateFile, nil)
	if errors.Is(err, fs.ErrNotExist) {
		return Exitf(ExitUsage, "--state-file %s does not exist", o.StateFile)
	}
	if err != nil {
		return Exit(ExitUsage, stateFileError(err))
	}
	conn, err := o.Connect(snap.Header.BaseURL)
	if err != nil {
		return err
	}
	client, retrier, err := conn.retrying()
	if err != nil {
		return err
	}
	tr := newTrackRequest(snap.Header.WorkspaceID)
	recorded := map[string]bool{}
	snap.Each(func(p string, e state.Entry) {
		if e.UploadSessionUUID != "" {
			recorded[e.UploadSessionUUID] = true
		}
		if o.Session == "" || e.UploadSessionUUID == o.Session {
			tr.add(e.DocumentID, p, e.UploadSessionUUID)
		}
	})
	if o.Session != "" && !recorded[o.Session] {
		return unknownSession(o.Session, o.StateFile, recorded)
	}
	slices.Sort(tr.req.Sessions)
	docs, err := track.Collect(ctx, retry.Wrap(client, retrier), tr.req)
	if err != nil {
		return apiFailure(err, client.BaseURL(), "is it still the instance "+o.StateFile+" was written for?")
	}
	h := output.StatusHeader{StateFile: o.StateFile, BaseURL: snap.Header.BaseURL, WorkspaceID: snap.Header.WorkspaceID}
	if o.JSON {
		if err := output.WriteStatusJSON(streams.Out, h, docs); err != nil {
			return Exit(ExitFailures, err)
		}
	} else {
		output.WriteStatus(streams.Out, h, docs)
	}
	if len(track.Failed(docs)) > 0 {
		return Exit(ExitProcessing, nil)
	}
	return nil
}

// unknownSession is the line for a --session the state file does not
// record, naming (some of) those it does.
func unknownSession(session, stateFile string, recorded map[string]bool) error {
	sessions := slices.Sorted(maps.Keys(recorded))
	var known string
	switch n := len(sessions); {
	case n == 0:
		known = "it records no upload session at all"
	case n == 1:
		known = "it records session " + sessions[0]
	case n <= 5:
		known = "it records sessions " + strings.Join(sessions, ", ")
	default:
		known = fmt.Sprintf("it records %d sessions, among them %s", n, strings.Join(sessions[:5], ", "))
	}
	return Exitf(ExitUsage, "--session %s: %s records no upload in that session; %s", output.Text(session), stateFile, known)
}

// Workspaces lists the workspaces the key can use.
func Workspaces(ctx context.Context, conn Conn, asJSON bool, streams *iostreams.IOStreams) error {
	client, retrier, err := conn.retrying()
	if err != nil {
		return err
	}
	var ws []api.Workspace
	err = retrier.Do(ctx, "list workspaces", func(ctx context.Context) (err error) {
		ws, err = client.Workspaces(ctx)
		return err
	})
	if err != nil {
		return apiFailure(err, client.BaseURL(), checkBaseURL)
	}
	if asJSON {
		err = output.WriteJSON(streams.Out, ws)
	} else {
		err = output.WriteWorkspaces(streams.Out, ws)
	}
	if err != nil {
		return Exit(ExitFailures, err)
	}
	return nil
}
