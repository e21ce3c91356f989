package iostreams

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const secretKey = "sk-very-secret-0123456789"

func TestRedactionIsALastLineOfDefence(t *testing.T) {
	var sink, errSink strings.Builder
	s := &IOStreams{Out: &sink, ErrOut: &errSink}
	s.Guard()
	s.AddSecret(secretKey)
	s.AddSecret("short") // too short to redact safely
	n, err := s.Out.Write([]byte("key=" + secretKey + " short"))
	require.NoError(t, err)
	assert.Equal(t, len("key="+secretKey+" short"), n)
	assert.Equal(t, "key=[REDACTED] short", sink.String())
	fmt.Fprintf(s.ErrOut, "error: %s\n", secretKey)
	assert.Equal(t, "error: [REDACTED]\n", errSink.String(), "stderr too")

	s.Guard() // a second time changes nothing
	fmt.Fprint(s.Out, secretKey)
	assert.Equal(t, "key=[REDACTED] short[REDACTED]", sink.String(), "wrapped once")
}

// The tests that prove the key is never written turn the backstop off.
func TestNoRedactionLeavesSecrets(t *testing.T) {
	var sink strings.Builder
	s := &IOStreams{Out: &sink, ErrOut: io.Discard, NoRedaction: true}
	s.Guard()
	s.AddSecret(secretKey)
	fmt.Fprint(s.Out, secretKey)
	assert.Equal(t, secretKey, sink.String())
}

// Writes from several goroutines reach a writer that is not safe for
// concurrent use one at a time, each whole (the race detector watches).
func TestGuardedWritesStayWhole(t *testing.T) {
	var sink strings.Builder
	s := &IOStreams{Out: &sink, ErrOut: io.Discard}
	s.Guard()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				fmt.Fprintf(s.Out, "goroutine %d line %d\n", g, i)
			}
		}()
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSuffix(sink.String(), "\n"), "\n")
	assert.Len(t, lines, 8*50)
	for _, l := range lines {
		assert.Regexp(t, `^goroutine \d line \d+$`, l)
	}
}
