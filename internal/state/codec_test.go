package state

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCodecAgreesWithEncodingJSON(t *testing.T) {
	recs := []Record{
		{Op: OpDone, Path: "a/b.pdf", Size: 10, ModTime: time.Unix(1700000000, 123456789).UTC(), ExternalID: "pu1-0123456789abcdef0123456789abcdef",
			DocumentID: 42, UploadSessionUUID: "550e8400-e29b-41d4-a716-446655440000", At: time.Unix(1700000100, 0).UTC()},
		{Op: OpStarted, Path: "é/日本語 \"quoted\" \\ back\nline<&>.txt", ModTime: time.Unix(0, 1).UTC(), At: time.Unix(5, 0).In(time.FixedZone("x", 3600))},
		{Op: OpAborted, Path: "bad\xffutf8", SHA256: "abc"},
		{Op: OpDone, Path: "neg", Size: -1, DocumentID: -7},
	}
	for _, r := range recs {
		fast := appendRecord(nil, r)
		slow, err := json.Marshal(r)
		require.NoError(t, err)
		assert.JSONEq(t, string(slow), string(fast))
		var a, b Record
		require.NoError(t, decodeRecord(fast, &a))
		require.NoError(t, json.Unmarshal(slow, &b))
		assert.Equal(t, b.Path, a.Path)
		assert.True(t, a.ModTime.Equal(b.ModTime) && a.At.Equal(b.At))
		a.ModTime, b.ModTime, a.At, b.At = time.Time{}, time.Time{}, time.Time{}, time.Time{}
		assert.Equal(t, b, a)
	}
	// A field added by a later version is read through encoding/json.
	var r Record
	require.NoError(t, decodeRecord([]byte(`{"op":"done","path":"x","size":1,"mtime":"2026-01-01T00:00:00Z","future":true,"at":"2026-01-01T00:00:00Z"}`), &r))
	assert.Equal(t, "x", r.Path)
}

func FuzzDecodeRecordMatchesEncodingJSON(f *testing.F) {
	f.Add([]byte(`{"op":"done","path":"a","size":1,"mtime":"2026-01-01T00:00:00Z","document_id":3,"at":"2026-01-01T00:00:00Z"}`))
	f.Add([]byte(`{"op":"started","path":"a\"b","size":-0}`))
	f.Add([]byte(`{"path":"x","size":01}`))
	f.Add([]byte(`{"op":"done","path":"é","mtime":"2024-02-29T23:59:59.123456789Z","at":"2026-04-31T00:00:00Z"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var fast, slow Record
		if decodeFast(b, &fast) != nil {
			return
		}
		if err := json.Unmarshal(b, &slow); err != nil {
			t.Fatalf("fast path accepted what encoding/json refuses (%v): %q", err, b)
		}
		if fast.Path != slow.Path || fast.Op != slow.Op || fast.Size != slow.Size || fast.DocumentID != slow.DocumentID ||
			fast.ExternalID != slow.ExternalID || !fast.ModTime.Equal(slow.ModTime) || !fast.At.Equal(slow.At) {
			t.Fatalf("fast %+v, encoding/json %+v for %q", fast, slow, b)
		}
	})
}

// The fast reading of times agrees with time.Parse on what it accepts, and
// leaves the rest to it.
func TestParseUTCAgreesWithTimeParse(t *testing.T) {
	for _, v := range []string{
		"2026-11-23T23:37:21.49672341Z", "2026-11-23T23:37:21Z", "2026-11-23T23:37:21.1Z", "2026-11-23T23:37:21.123456789Z",
		"2024-02-29T00:00:00Z", "2023-02-29T00:00:00Z", "2026-04-31T12:00:00Z", "2026-12-31T23:59:59.999999999Z",
		"2026-13-01T00:00:00Z", "2026-00-10T00:00:00Z", "2026-01-00T00:00:00Z", "2026-01-01T24:00:00Z", "2026-01-01T00:60:00Z",
		"2026-01-01T00:00:60Z", "2026-01-01T00:00:00.Z", "2026-01-01T00:00:00.1234567890Z", "2026-01-01T00:00:00+01:00",
		"2026-01-01 00:00:00Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "2026-1-01T00:00:00Z", "2026-01-01T00:00:0xZ",
	} {
		want, err := time.Parse(time.RFC3339Nano, v)
		got, ok := parseUTC([]byte(v))
		if !ok {
			continue // time.Parse decides
		}
		require.NoError(t, err, "parseUTC accepted %q, which time.Parse refuses", v)
		assert.True(t, got.Equal(want), "%q: %v, time.Parse %v", v, got, want)
		assert.Equal(t, time.UTC, got.Location(), v)
	}
	got, ok := parseUTC([]byte("2026-11-23T23:37:21.49672341Z"))
	require.True(t, ok, "the form appendRecord writes is read without time.Parse")
	assert.Equal(t, 496723410, got.Nanosecond())
}
