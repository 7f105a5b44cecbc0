package connectors

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"
)

// PollCursor is the cursor of change feeds that poll by modification time
// (Okta's lastUpdated, SCIM's meta.lastModified): changes after Since, and a
// full read due at Full, because polling cannot see deletions.
type PollCursor struct {
	Since time.Time `json:"t"`
	Full  time.Time `json:"f"`
}

// ParsePollCursor reads a cursor made by PollCursor.String; the empty
// cursor (a snapshot) is the zero PollCursor. An unreadable one, or one whose
// full read is due at now, is ErrCursorExpired (name prefixes the error).
func ParsePollCursor(name, cur string, now time.Time) (PollCursor, error) {
	var c PollCursor
	if cur == "" {
		return c, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(cur)
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	if err != nil || c.Since.IsZero() {
		return c, fmt.Errorf("%s: unreadable cursor: %w", name, ErrCursorExpired)
	}
	if !now.Before(c.Full) {
		return c, fmt.Errorf("%s: time for the periodic full read that sees deletions: %w", name, ErrCursorExpired)
	}
	return c, nil
}

// Next is the cursor after a read that started at start: after a snapshot
// a full read is due fullEvery later; newest (zero if nothing was seen) is
// the latest modification read, taken back by overlap for clock skew and
// coarse timestamps.
func (c PollCursor) Next(snapshot bool, start, newest time.Time, fullEvery, overlap time.Duration) PollCursor {
	if snapshot {
		c.Full = start.Add(fullEvery)
		c.Since = start.Add(-time.Minute)
	}
	if !newest.IsZero() {
		c.Since = newest.Add(-overlap)
	}
	return c
}

// String encodes the cursor.
func (c PollCursor) String() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}
