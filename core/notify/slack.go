package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// slackWebhook posts to a Slack incoming webhook: one message per event, to
// the channel the webhook was made for.
type slackWebhook struct {
	url  string
	http *http.Client
}

func (s *slackWebhook) send(ctx context.Context, m Message) error {
	b, _ := json.Marshal(slackMessage(m, nil))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if err := postResult(s.http.Do(req)); err != nil {
		return fmt.Errorf("slack webhook: %w", err)
	}
	return nil
}

// slackMessage is the message as Slack blocks: a title, the text, a link to
// the object and, for a bot, buttons whose values are signed claims.
func slackMessage(m Message, buttons []map[string]any) map[string]any {
	text := "*" + slackEscape(m.Title) + "*\n" + slackEscape(m.Text)
	if m.Link != "" {
		text += "\n<" + m.Link + "|details>"
	}
	blocks := []map[string]any{{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": text}}}
	if len(buttons) > 0 {
		blocks = append(blocks, map[string]any{"type": "actions", "block_id": "jitd", "elements": buttons})
	}
	return map[string]any{"text": m.Title + ": " + m.Text, "blocks": blocks}
}

// slackEscape escapes the three characters Slack's mrkdwn treats as control.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// slackBot sends with a bot token: to a person as a direct message (found by
// their email address), with Approve/Deny or Extend buttons that call back
// into jitd (signed, and bound to that Slack user); to Channel otherwise.
type slackBot struct {
	api     string
	token   string
	channel string
	address string
	http    *http.Client
	links   *Links
}

func newSlackBot(c ChannelConfig, token string, hc *http.Client, links *Links) *slackBot {
	api := strings.TrimRight(c.APIURL, "/")
	if api == "" {
		api = "https://slack.com/api"
	}
	return &slackBot{api: api, token: token, channel: c.Channel, address: c.Address, http: hc, links: links}
}

func (s *slackBot) send(ctx context.Context, m Message) error {
	target := s.channel
	var buttons []map[string]any
	if m.Recipient != "" {
		if s.address == "" {
			return nil // no way to find people: channel messages only
		}
		uid, err := s.lookup(ctx, strings.ReplaceAll(s.address, "{login}", m.Recipient))
		if err != nil {
			return err
		}
		target = uid
		for _, a := range m.Actions {
			c := a.Claims
			c.SlackUser = uid
			b := map[string]any{"type": "button", "action_id": "jitd_" + c.Action, "text": map[string]any{"type": "plain_text", "text": a.Label},
				"value": s.links.Sign(c)}
			switch c.Action {
			case ActApprove:
				b["style"] = "primary"
			case ActDeny:
				b["style"] = "danger"
			}
			buttons = append(buttons, b)
		}
	}
	if target == "" {
		return nil // an event for no one in particular, and no channel set
	}
	msg := slackMessage(m, buttons)
	msg["channel"] = target
	var out struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	if err := s.call(ctx, "chat.postMessage", msg, &out); err != nil {
		return err
	}
	return nil
}

// lookup finds a Slack user id by email address.
func (s *slackBot) lookup(ctx context.Context, email string) (string, error) {
	var out struct {
		User struct {
			ID string `json:"id"`
		} `json:"user"`
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.api+"/users.lookupByEmail?email="+url.QueryEscape(email), nil)
	if err != nil {
		return "", err
	}
	if err := s.do(req, "users.lookupByEmail", &out); err != nil {
		return "", err
	}
	return out.User.ID, nil
}

func (s *slackBot) call(ctx context.Context, method string, body, out any) error {
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.api+"/"+method, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	return s.do(req, method, out)
}

// do calls a Web API method: Slack answers 200 with ok false for errors, and
// 429 with Retry-After when rate limited.
func (s *slackBot) do(req *http.Request, method string, out any) error {
	req.Header.Set("Authorization", "Bearer "+s.token)
	resp, err := s.http.Do(req)
	if err != nil {
		return fmt.Errorf("slack %s: %w", method, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusTooManyRequests {
		secs, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		return &retryAfter{wait: time.Duration(secs) * time.Second, err: fmt.Errorf("slack %s: rate limited", method)}
	}
	var raw json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
		return fmt.Errorf("slack %s: HTTP %d, unreadable answer: %w", method, resp.StatusCode, err)
	}
	var status struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	json.Unmarshal(raw, &status)
	if !status.OK {
		return fmt.Errorf("slack %s: %s", method, status.Error)
	}
	return json.Unmarshal(raw, out)
}

// SlackPress is a verified button press from Slack's interactivity callback.
type SlackPress struct {
	Claims      Claims
	UserID      string
	ResponseURL string
}

// ErrSlackSignature: the callback was not signed by Slack with the app's
// signing secret, or is too old to trust.
var ErrSlackSignature = errors.New("slack: bad request signature")

// VerifySlack checks a Slack request's X-Slack-Signature (v0, HMAC-SHA256
// of "v0:<timestamp>:<body>" with the signing secret) and refuses requests
// older than five minutes, so a captured request cannot be replayed later.
func VerifySlack(secret []byte, h http.Header, body []byte, now time.Time) error {
	ts := h.Get("X-Slack-Request-Timestamp")
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return ErrSlackSignature
	}
	if d := now.Sub(time.Unix(secs, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return fmt.Errorf("%w: timestamp %s is too far from now", ErrSlackSignature, ts)
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("v0:" + ts + ":"))
	mac.Write(body)
	want := "v0=" + hex.EncodeToString(mac.Sum(nil))
	if !hmac.Equal([]byte(want), []byte(h.Get("X-Slack-Signature"))) {
		return ErrSlackSignature
	}
	return nil
}

// ParseSlackPress reads a verified interactivity payload (the form field
// "payload") and checks the pressed button's signed claims: valid, unexpired
// and bound to the Slack user who pressed it.
func (l *Links) ParseSlackPress(form url.Values, now time.Time) (SlackPress, error) {
	var p struct {
		Type string `json:"type"`
		User struct {
			ID string `json:"id"`
		} `json:"user"`
		ResponseURL string `json:"response_url"`
		Actions     []struct {
			ActionID string `json:"action_id"`
			Value    string `json:"value"`
		} `json:"actions"`
	}
	if err := json.Unmarshal([]byte(form.Get("payload")), &p); err != nil || p.Type != "block_actions" || len(p.Actions) != 1 {
		return SlackPress{}, fmt.Errorf("slack: not a single button press")
	}
	c, err := l.Verify(p.Actions[0].Value, now)
	if err != nil {
		return SlackPress{}, err
	}
	if c.SlackUser == "" || c.SlackUser != p.User.ID {
		return SlackPress{}, fmt.Errorf("%w: this button was sent to another Slack user", ErrBadLink)
	}
	return SlackPress{Claims: c, UserID: p.User.ID, ResponseURL: p.ResponseURL}, nil
}
