package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Link actions.
const (
	ActApprove = "approve" // approve a request as Login
	ActDeny    = "deny"    // deny a request as Login
	ActExtend  = "extend"  // ask, as Login, to extend a grant (policy decides)
)

// Claims are what an action link lets its holder do: act as Login on
// Subject, until Expires.
type Claims struct {
	Action  string    `json:"a"`
	Subject string    `json:"s"`
	Login   string    `json:"u"`
	Expires time.Time `json:"x"`
	// SlackUser, when set, is the only Slack user whose button press counts.
	SlackUser string `json:"su,omitempty"`
}

// Key identifies what the claims say, for links that work once.
func (c Claims) Key() string {
	b, _ := json.Marshal(c)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Links signs and checks action links with an HMAC-SHA256 key.
type Links struct{ key []byte }

// ErrBadLink: the link was altered, is for something else, or has expired.
var ErrBadLink = errors.New("invalid or expired link")

// NewLinks returns Links signing with key (at least 32 bytes).
func NewLinks(key []byte) (*Links, error) {
	if len(key) < 32 {
		return nil, fmt.Errorf("notify: the link key must be at least 32 bytes (got %d)", len(key))
	}
	return &Links{key: key}, nil
}

// Sign returns the link token for c.
func (l *Links) Sign(c Claims) string {
	body, _ := json.Marshal(c)
	p := base64.RawURLEncoding.EncodeToString(body)
	return p + "." + base64.RawURLEncoding.EncodeToString(l.mac(p))
}

func (l *Links) mac(payload string) []byte {
	h := hmac.New(sha256.New, l.key)
	h.Write([]byte("jitd-link-v1\n" + payload))
	return h.Sum(nil)
}

// Verify checks a token's signature and expiry at now and returns its claims.
func (l *Links) Verify(token string, now time.Time) (Claims, error) {
	p, sig, ok := strings.Cut(token, ".")
	if !ok {
		return Claims{}, ErrBadLink
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, l.mac(p)) {
		return Claims{}, ErrBadLink
	}
	body, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		return Claims{}, ErrBadLink
	}
	var c Claims
	if json.Unmarshal(body, &c) != nil || c.Login == "" || c.Subject == "" {
		return Claims{}, ErrBadLink
	}
	if !now.Before(c.Expires) {
		return Claims{}, fmt.Errorf("%w: it expired at %s", ErrBadLink, c.Expires.UTC().Format(time.RFC3339))
	}
	return c, nil
}
