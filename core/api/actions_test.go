package api_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitd/jitd/core/api"
	"github.com/jitd/jitd/core/api/apiclient"
	"github.com/jitd/jitd/core/auth"
	"github.com/jitd/jitd/core/notify"
)

func TestActionLinks_ShowWithoutActingThenActAsTheirHolderOnly(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	admin := e.client(e.tokens[auth.RoleAdmin])
	if _, err := admin.SyncRun(ctx, api.SyncRunRequest{}); err != nil {
		t.Fatal(err)
	}
	alice := e.client(e.tokens["alice"])
	q, err := alice.CreateRequest(ctx, api.CreateRequestRequest{Group: "prod-db-admins", For: "1h", Reason: "deploy"})
	if err != nil {
		t.Fatal(err)
	}
	link := func(action, login string, exp time.Time) string {
		return e.srv.URL + "/act/" + e.links.Sign(notify.Claims{Action: action, Subject: q.ID, Login: login, Expires: exp})
	}
	state := func() string {
		r, _ := admin.Request(ctx, q.ID)
		return r.State
	}
	bobs := link(notify.ActApprove, "bob", q.ExpiresAt)
	resp, err := http.Get(bobs)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), "alice asks for prod-db-admins") || resp.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Fatalf("GET: %d %s", resp.StatusCode, page)
	}
	if state() != "pending" {
		t.Fatal("opening the link (as a mail scanner would) acted")
	}
	for name, tc := range map[string]struct {
		url    string
		status int
	}{
		"tampered":        {bobs[:len(bobs)-3] + "AAA", 403},
		"expired":         {link(notify.ActApprove, "bob", e.clock.Now().Add(-time.Second)), 403},
		"requester's own": {link(notify.ActApprove, "alice", q.ExpiresAt), 403},
		"not an approver": {link(notify.ActApprove, "carol", q.ExpiresAt), 403},
	} {
		resp, err := http.PostForm(tc.url, url.Values{})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status || state() != "pending" {
			t.Fatalf("%s: %d (state %s), want %d and nothing done", name, resp.StatusCode, state(), tc.status)
		}
	}
	resp, err = http.PostForm(bobs, url.Values{})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || state() != "approved" {
		t.Fatalf("bob's link: %d, state %s", resp.StatusCode, state())
	}
	r, _ := admin.Request(ctx, q.ID)
	if len(r.Approvals) != 1 || r.Approvals[0].Approver != "bob" {
		t.Fatalf("approvals: %+v", r.Approvals)
	}
	// The extend link asks policy for more time on alice's new grant.
	ext := e.srv.URL + "/act/" + e.links.Sign(notify.Claims{Action: notify.ActExtend, Subject: r.GrantID, Login: "alice", Expires: e.clock.Now().Add(time.Hour)})
	// A refused ask leaves the link usable.
	resp, err = http.PostForm(ext, url.Values{"for": {"10h"}, "reason": {"all week"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("extend link beyond policy: %d, want 400", resp.StatusCode)
	}
	resp, err = http.PostForm(ext, url.Values{"for": {"30m"}, "reason": {"not done yet"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	mine, _ := alice.ListRequests(ctx, apiclient.RequestFilter{Mine: true})
	var extension *api.Request
	for i := range mine {
		if mine[i].Extends == r.GrantID && mine[i].State != "denied" {
			extension = &mine[i]
		}
	}
	// Alice's first request, the refused ask (recorded as refused) and this one.
	if resp.StatusCode != 200 || len(mine) != 3 || extension == nil || extension.State != "pending" || extension.Duration != "30m0s" {
		t.Fatalf("extend link: %d %+v", resp.StatusCode, mine)
	}
	// It works once.
	resp, err = http.PostForm(ext, url.Values{"for": {"30m"}, "reason": {"and again"}})
	if err != nil {
		t.Fatal(err)
	}
	page, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if mine, _ = alice.ListRequests(ctx, apiclient.RequestFilter{Mine: true}); resp.StatusCode != http.StatusConflict || len(mine) != 3 || !strings.Contains(string(page), "used already") {
		t.Fatalf("second use of the extend link: %d, %d requests", resp.StatusCode, len(mine))
	}
}

func slackSign(secret string, ts int64, body string) http.Header {
	h := http.Header{}
	h.Set("Content-Type", "application/x-www-form-urlencoded")
	h.Set("X-Slack-Request-Timestamp", strconv.FormatInt(ts, 10))
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("v0:" + strconv.FormatInt(ts, 10) + ":" + body))
	h.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
	return h
}

func TestSlackActions_OnlySignedPressesByTheRightUserCount(t *testing.T) {
	// Slack's response_url: the outcome replaces the buttons there.
	var mu sync.Mutex
	var updates []map[string]any
	slack := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		json.NewDecoder(r.Body).Decode(&m)
		mu.Lock()
		updates = append(updates, m)
		mu.Unlock()
	}))
	defer slack.Close()
	e := newEnv(t, func(d *api.Deps, _ string) { d.SlackHTTP = slack.Client() })
	ctx := context.Background()
	admin := e.client(e.tokens[auth.RoleAdmin])
	admin.SyncRun(ctx, api.SyncRunRequest{})
	q, err := e.client(e.tokens["alice"]).CreateRequest(ctx, api.CreateRequestRequest{Group: "prod-db-admins", For: "1h", Reason: "deploy"})
	if err != nil {
		t.Fatal(err)
	}
	value := e.links.Sign(notify.Claims{Action: notify.ActApprove, Subject: q.ID, Login: "bob", Expires: q.ExpiresAt, SlackUser: "U-bob"})
	press := func(user, secret string, ts int64) int {
		payload, _ := json.Marshal(map[string]any{"type": "block_actions", "user": map[string]string{"id": user}, "response_url": slack.URL + "/actions/T1/B1",
			"actions": []map[string]string{{"action_id": "jitd_approve", "value": value}}})
		body := url.Values{"payload": {string(payload)}}.Encode()
		req, _ := http.NewRequest("POST", e.srv.URL+"/slack/actions", strings.NewReader(body))
		req.Header = slackSign(secret, ts, body)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	now := e.clock.Now().Unix()
	if got := press("U-bob", "wrong-secret", now); got != 401 {
		t.Fatalf("unsigned press: %d", got)
	}
	if got := press("U-bob", "slack-signing", now-3600); got != 401 {
		t.Fatalf("an hour-old press (replay): %d", got)
	}
	if got := press("U-carol", "slack-signing", now); got != 403 {
		t.Fatalf("carol pressing bob's button: %d", got)
	}
	if r, _ := admin.Request(ctx, q.ID); r.State != "pending" {
		t.Fatal("a refused press acted")
	}
	if got := press("U-bob", "slack-signing", now); got != 200 {
		t.Fatalf("bob's press: %d", got)
	}
	if r, _ := admin.Request(ctx, q.ID); r.State != "approved" {
		t.Fatalf("after bob's press: %s", r.State)
	}
	// Refused presses post nothing back; bob's approval replaces the
	// message, so nobody presses twice.
	mu.Lock()
	defer mu.Unlock()
	if len(updates) != 1 || updates[0]["replace_original"] != true || !strings.Contains(fmt.Sprint(updates[0]["text"]), "is approved") {
		t.Fatalf("response_url got %v", updates)
	}
}
