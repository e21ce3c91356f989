package upload

import (
	"fmt"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paradigm-upload/paradigm-upload/internal/api"
	"github.com/paradigm-upload/paradigm-upload/internal/state"
)

// When an error stops the whole run in the middle of a file's attempt — a
// state file that takes no more records (a full disk), a key the service
// refuses — the file still ends as exactly one outcome: the summary, the
// report and the exit code account for every file found.
func TestEveryFileEndsOnceWhenTheRunStopsMidAttempt(t *testing.T) {
	files := map[string]string{}
	for i := 0; i < 12; i++ {
		files[fmt.Sprintf("f%02d.txt", i)] = fmt.Sprintf("content %d", i)
	}
	for name, tc := range map[string]struct {
		set  func(t *testing.T, o *Options, d *docs)
		want func(t *testing.T, err error)
		// interrupted files may have reached the service: the next run
		// asks about them.
		interrupted int
	}{
		"state file refuses records": {
			set: func(t *testing.T, o *Options, _ *docs) {
				st, err := state.Open(filepath.Join(t.TempDir(), "state.json"), state.Header{BaseURL: "http://x", WorkspaceID: 42},
					state.Options{NoSync: true})
				require.NoError(t, err)
				require.NoError(t, st.Close()) // takes no record from now on, as after a write error
				o.State = st
			},
			want: func(t *testing.T, err error) { assert.ErrorContains(t, err, "state file is closed") },
		},
		"key refused mid-run": {
			set: func(_ *testing.T, _ *Options, d *docs) {
				var n atomic.Int32
				d.fault = func(op string, _ *api.UploadRequest) error {
					if op == "POST" && n.Add(1) > 3 {
						return &api.Error{StatusCode: http.StatusUnauthorized, Kind: "authentication_failed"}
					}
					return nil
				}
			},
			want: func(t *testing.T, err error) { assert.ErrorIs(t, err, ErrAuth) },
		},
		"answer lost, then the key refused": {
			set: func(_ *testing.T, _ *Options, d *docs) {
				var n atomic.Int32
				d.fault = func(op string, _ *api.UploadRequest) error {
					switch {
					case op == "POST" && n.Add(1) == 4:
						return &api.AnswerError{Op: "upload", StatusCode: 200, Msg: "the answer names no document (no id)"}
					case op == "FIND":
						return &api.Error{StatusCode: http.StatusUnauthorized, Kind: "authentication_failed"}
					}
					return nil
				}
			},
			want:        func(t *testing.T, err error) { assert.ErrorIs(t, err, ErrAuth) },
			interrupted: 1,
		},
	} {
		t.Run(name, func(t *testing.T) {
			root := tree(t, files)
			d := newDocs()
			sum, err := syncRunErr(t, d, root, "", func(o *Options) {
				o.BatchSize = 1
				tc.set(t, o, d)
			})
			tc.want(t, err)
			total := 0
			for _, oc := range Outcomes() {
				total += sum.Count(oc)
			}
			assert.Equal(t, len(files), total, "every file ends as one outcome: %+v", sum)
			assert.Equal(t, len(files), sum.Found)
			assert.Equal(t, StopFatal, sum.Stopped)
			assert.Equal(t, tc.interrupted, sum.Count(Interrupted))
			assert.Equal(t, len(files)-sum.Count(Uploaded)-tc.interrupted, sum.Count(NotAttempted), "the rest was not attempted")
		})
	}
}
