package compact

import (
	"encoding/hex"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestStringsInternsEachStringOnce(t *testing.T) {
	s := NewStrings()
	assert.Equal(t, uint32(0), s.ID(""), "the empty string is index 0")
	a, b := s.ID("session-a"), s.ID("tags:x,y")
	assert.NotEqual(t, a, b)
	assert.Equal(t, a, s.ID("session-a"), "the same string, the same index")
	assert.Equal(t, "session-a", s.At(a))
	assert.Equal(t, "tags:x,y", s.At(b))
	assert.Equal(t, 3, s.Len())
}

func TestParseHexRoundTripsOnlyWhatItCanGiveBack(t *testing.T) {
	full := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	var d [16]byte
	assert.True(t, ParseHex(d[:], full))
	assert.Equal(t, full[:32], hex.EncodeToString(d[:]))
	for _, bad := range []string{
		full[:31],                      // too short
		"0123456789ABCDEF" + full[16:], // upper case: hex would not give it back
		full[:40] + "g" + full[41:],    // not hex beyond the prefix
		"x" + full[1:],                 // not hex in it
	} {
		assert.False(t, ParseHex(d[:], bad), bad)
	}
}

func TestTimesKeepTheZeroTimeApart(t *testing.T) {
	assert.Equal(t, int64(0), UnixNano(time.Time{}))
	assert.True(t, Time(0).IsZero())
	at := time.Date(2026, 12, 2, 10, 0, 0, 123, time.FixedZone("x", 3600))
	assert.True(t, at.Equal(Time(UnixNano(at))))
	assert.Equal(t, time.UTC, Time(UnixNano(at)).Location())
}
