package output

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paradigm-upload/paradigm-upload/internal/testio"
	"github.com/paradigm-upload/paradigm-upload/internal/upload"
)

func TestLinesCountEveryOutcome(t *testing.T) {
	var buf testio.Buffer
	l := NewLines(&buf, time.Hour)
	l.Found(4, 4000)
	l.Sent(2500)
	for _, o := range []upload.Outcome{upload.Uploaded, upload.Uploaded, upload.Skipped, upload.Failed} {
		l.Done(upload.Result{Outcome: o})
	}
	l.print()
	l.Close()
	line := buf.String()
	assert.True(t, strings.HasPrefix(line, "progress: 4/4 files, 2.5 kB sent, "), line)
	assert.Contains(t, line, "uploaded 2 · skipped 1 · failed 1")
	assert.NotContains(t, line, "\r")
	assert.NotContains(t, line, "\x1b")
}

func TestBarShowsCountsAndTotalGrowsAsFilesAreFound(t *testing.T) {
	var buf testio.Buffer
	b := newBar(&buf, 0)
	b.Found(3, 300)
	b.Done(upload.Result{Outcome: upload.Uploaded})
	b.Found(2, 200) // the scan found more
	b.Done(upload.Result{Outcome: upload.AlreadyDone})
	out := buf.String()
	b.Close()
	// The bar draws "done/total"; its last drawing shows the grown total.
	frames := strings.Split(out, "\r")
	require.NotEmpty(t, frames)
	last := frames[len(frames)-1]
	assert.Regexp(t, `\(2/5\b`, last, "2 of 5 files")
	assert.Contains(t, last, "uploaded 1 · already done 1 · skipped 0 · failed 0")
}
