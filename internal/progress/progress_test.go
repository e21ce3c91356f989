package progress

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/paradigm-upload/paradigm-upload/internal/upload"
)

// syncBuffer is a bytes.Buffer safe for the display's goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestLinesCountEveryOutcome(t *testing.T) {
	var buf syncBuffer
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
	var buf syncBuffer
	b := NewBar(&buf)
	b.Found(3, 300)
	b.Done(upload.Result{Outcome: upload.Uploaded})
	b.Found(2, 200) // the scan found more
	b.Done(upload.Result{Outcome: upload.AlreadyDone})
	b.Close()
	out := buf.String()
	assert.Contains(t, out, "/5")
	assert.Contains(t, out, "uploaded 1 · skipped 0 · failed 0 · already done 1")
}
