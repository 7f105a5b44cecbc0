package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Webhook deliveries are JSON, POSTed with these headers:
//
//	X-Jitd-Event:     the event (grant.revoked, ...)
//	X-Jitd-Delivery:  the delivery's id, the same on every retry (deduplicate on it)
//	X-Jitd-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the shared secret>
//
// A receiver recomputes the HMAC, compares in constant time, and refuses a
// timestamp more than a few minutes old.
type webhook struct {
	url    string
	secret []byte
	http   *http.Client
	now    func() time.Time
}

// WebhookSignature returns the X-Jitd-Signature value for body at t.
func WebhookSignature(secret, body []byte, t time.Time) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(ts + "."))
	h.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(h.Sum(nil))
}

func (w *webhook) send(ctx context.Context, m Message) error {
	body := map[string]any{"title": m.Title, "text": m.Text, "link": m.Link, "recipient": m.Recipient}
	for k, v := range m.Data {
		body[k] = v
	}
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(b))
	if err != nil {
		return err
	}
	now := w.now()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Jitd-Event", string(m.Event))
	req.Header.Set("X-Jitd-Delivery", strconv.FormatInt(m.ID, 10))
	req.Header.Set("X-Jitd-Signature", WebhookSignature(w.secret, b, now))
	return postResult(w.http.Do(req))
}

// postResult turns an HTTP response into nil, a retryAfter (429) or an error
// that names the status and the start of the body.
func postResult(resp *http.Response, err error) error {
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode < 300 {
		return nil
	}
	e := fmt.Errorf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(b)))
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		secs, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		return &retryAfter{wait: time.Duration(secs) * time.Second, err: e}
	}
	return e
}
