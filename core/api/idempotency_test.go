package api_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/jitd/jitd/core/api"
	"github.com/jitd/jitd/core/api/apiclient"
	"github.com/jitd/jitd/core/auth"
)

func post(t *testing.T, e *env, token, path, key, body string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("POST", e.srv.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func TestIdempotencyKey_RetryReturnsTheFirstResultAndCreatesNothingMore(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	admin := e.tokens[auth.RoleAdmin]
	body := `{"user":"alice","group":"prod-db-admins","for":"1h","reason":"INC-1"}`
	r1, b1 := post(t, e, admin, "/api/v1/grants", "k-1", body)
	r2, b2 := post(t, e, admin, "/api/v1/grants", "k-1", body)
	if r1.StatusCode != 201 || r2.StatusCode != 201 || string(b1) != string(b2) {
		t.Fatalf("first %d %s, retry %d %s: want the same 201", r1.StatusCode, b1, r2.StatusCode, b2)
	}
	if r2.Header.Get("Idempotent-Replayed") != "true" {
		t.Error("a replayed response does not say so")
	}
	gs, err := e.client(admin).ListGrants(ctx, apiclient.GrantFilter{User: "alice"})
	if err != nil || len(gs) != 1 {
		t.Fatalf("grants after a retried create: %d %v, want 1", len(gs), err)
	}

	// The same key with another body is refused, and changes nothing.
	r3, b3 := post(t, e, admin, "/api/v1/grants", "k-1", strings.Replace(body, "alice", "bob", 1))
	if r3.StatusCode != 422 || !strings.Contains(string(b3), "different request") {
		t.Fatalf("key reuse: %d %s, want 422", r3.StatusCode, b3)
	}
	if gs, _ := e.client(admin).ListGrants(ctx, apiclient.GrantFilter{User: "bob"}); len(gs) != 0 {
		t.Fatal("a refused key reuse made a grant")
	}
	// Keys are per caller: alice's k-1 is her own.
	if _, err := e.client(admin).SyncRun(ctx, api.SyncRunRequest{}); err != nil {
		t.Fatal(err)
	}
	r4, _ := post(t, e, e.tokens["alice"], "/api/v1/requests", "k-1", `{"group":"prod-db-admins","for":"1h","reason":"deploy"}`)
	if r4.StatusCode != 201 {
		t.Fatalf("another caller's key: %d, want 201", r4.StatusCode)
	}
	// An error is replayed as well (it changed nothing, and will not).
	r5, b5 := post(t, e, admin, "/api/v1/grants", "k-2", `{"user":"mallory","group":"prod-db-admins","for":"1h","reason":"x"}`)
	r6, b6 := post(t, e, admin, "/api/v1/grants", "k-2", `{"user":"mallory","group":"prod-db-admins","for":"1h","reason":"x"}`)
	if r5.StatusCode != 400 || r6.StatusCode != 400 || string(b5) != string(b6) {
		t.Fatalf("error replay: %d %s / %d %s", r5.StatusCode, b5, r6.StatusCode, b6)
	}
	// A bad key is a 400.
	if r, _ := post(t, e, admin, "/api/v1/grants", "bad\u00e9key", body); r.StatusCode != 400 {
		t.Fatalf("non-ASCII key: %d, want 400", r.StatusCode)
	}
}

func TestIdempotencyKey_AccountPasswordIsNeverReplayed(t *testing.T) {
	e := newEnv(t)
	admin := e.tokens[auth.RoleAdmin]
	until := e.clock.Now().Add(48 * 3600e9).Format("2006-01-02T15:04:05Z")
	body := `{"login":"c-idem","sponsor":"bob","until":"` + until + `","reason":"contract"}`
	r1, b1 := post(t, e, admin, "/api/v1/accounts", "acct-1", body)
	r2, b2 := post(t, e, admin, "/api/v1/accounts", "acct-1", body)
	var first, again api.CreatedAccount
	json.Unmarshal(b1, &first)
	json.Unmarshal(b2, &again)
	if r1.StatusCode != 201 || first.InitialPassword == "" {
		t.Fatalf("create: %d %s", r1.StatusCode, b1)
	}
	if r2.StatusCode != 201 || again.Account.ID != first.Account.ID || again.InitialPassword != "" {
		t.Fatalf("replay: %d %s; want the same account without its password", r2.StatusCode, b2)
	}
}

func TestBadBodies_AreProblemDetailsAndChangeNothing(t *testing.T) {
	e := newEnv(t)
	admin := e.tokens[auth.RoleAdmin]
	for name, tc := range map[string]struct {
		body   string
		status int
		want   string
	}{
		"malformed":      {`{"user":"alice",`, 400, "invalid JSON"},
		"two values":     {`{"user":"alice","group":"prod-db-admins","for":"1h","reason":"r"} {}`, 400, "more than one"},
		"oversized":      {`{"user":"alice","group":"prod-db-admins","for":"1h","reason":"` + strings.Repeat("x", 2<<20) + `"}`, 413, "over"},
		"unknown group":  {`{"user":"alice","group":"no-such","for":"1h","reason":"r"}`, 400, "no-such"},
		"over the limit": {`{"user":"alice","group":"prod-db-admins","for":"9h","reason":"r"}`, 400, "8h"},
	} {
		t.Run(name, func(t *testing.T) {
			resp, b := post(t, e, admin, "/api/v1/grants", "", tc.body)
			var p api.Error
			if err := json.Unmarshal(b, &p); err != nil {
				t.Fatalf("body %q: %v", b, err)
			}
			if resp.StatusCode != tc.status || resp.Header.Get("Content-Type") != "application/problem+json" ||
				p.Status != tc.status || p.Type != "urn:jitd:problem:"+p.Code || p.Title == "" || !strings.Contains(p.Message, tc.want) {
				t.Fatalf("%d %s %s, want %d problem+json mentioning %q", resp.StatusCode, resp.Header.Get("Content-Type"), b, tc.status, tc.want)
			}
		})
	}
	if gs, _ := e.client(admin).ListGrants(context.Background(), apiclient.GrantFilter{}); len(gs) != 0 {
		t.Fatalf("bad input made %d grants", len(gs))
	}
}
