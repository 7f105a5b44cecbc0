package api_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/jitd/jitd/core/api"
	"github.com/jitd/jitd/core/api/apiclient"
	"github.com/jitd/jitd/core/auth"
	"github.com/jitd/jitd/schema"
)

func loadDoc(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(schema.OpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("schema/openapi.yaml is not a valid OpenAPI document: %v", err)
	}
	return doc
}

func TestOpenAPI_DocumentsEveryRoute(t *testing.T) {
	doc := loadDoc(t)
	e, _ := withOIDC(t) // with browser sign-in, every route is served
	srv := e.srv.Config.Handler.(*api.Server)
	for _, r := range srv.Routes() {
		method, path, _ := strings.Cut(r, " ")
		item := doc.Paths.Find(path)
		if item == nil || item.GetOperation(method) == nil {
			t.Errorf("%s is served but not described in schema/openapi.yaml", r)
		}
	}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			found := false
			for _, r := range srv.Routes() {
				found = found || r == method+" "+path
			}
			if !found {
				t.Errorf("schema/openapi.yaml describes %s %s, which is not served", method, path)
			}
		}
	}
}

// validating checks every request and response against the document.
type validating struct {
	t      *testing.T
	router routers.Router
	mu     sync.Mutex
	errs   []string
	seen   map[string]bool // "METHOD path status" validated
}

func (v *validating) fail(format string, args ...any) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.errs = append(v.errs, strings.TrimSpace(strings.ReplaceAll(fmtS(format, args...), "\n", " ")))
}

func (v *validating) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := context.Background()
	var body []byte
	if req.Body != nil {
		body, _ = io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	route, params, err := v.router.FindRoute(req)
	if err != nil {
		v.fail("%s %s: no such route in the document: %v", req.Method, req.URL.Path, err)
		return http.DefaultTransport.RoundTrip(req)
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
		v.fail("%s %s request: %v", req.Method, req.URL.Path, err)
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	rb, _ := io.ReadAll(resp.Body)
	resp.Body = io.NopCloser(bytes.NewReader(rb))
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
		Body: io.NopCloser(bytes.NewReader(rb)), Options: &openapi3filter.Options{IncludeResponseStatus: true}}
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		v.fail("%s %s response %d: %v", req.Method, req.URL.Path, resp.StatusCode, err)
	}
	v.mu.Lock()
	v.seen[req.Method+" "+route.Path+" "+resp.Status[:3]] = true
	v.mu.Unlock()
	return resp, nil
}

// validated returns an HTTP client whose every request and response is
// checked against the document; the test fails at its end for each mismatch.
func validated(t *testing.T) (*validating, *http.Client) {
	t.Helper()
	router, err := gorillamux.NewRouter(loadDoc(t))
	if err != nil {
		t.Fatal(err)
	}
	v := &validating{t: t, router: router, seen: map[string]bool{}}
	t.Cleanup(func() {
		for _, msg := range v.errs {
			t.Error(msg)
		}
	})
	return v, &http.Client{Transport: v}
}

// exercised fails the test for each "METHOD path status" not seen.
func (v *validating) exercised(want ...string) {
	v.t.Helper()
	for _, w := range want {
		if !v.seen[w] {
			v.t.Errorf("not exercised: %s (seen %v)", w, keys(v.seen))
		}
	}
}

func TestOpenAPI_RequestsAndResponsesMatchTheDocument(t *testing.T) {
	e := newEnv(t)
	v, hc := validated(t)
	var err error
	c := apiclient.New(e.srv.URL, e.tokens[auth.RoleAdmin], hc)
	ctx := context.Background()

	// Successes.
	g, err := c.AddGrant(ctx, api.AddGrantRequest{User: "alice", Group: "prod-db-admins", For: "1h", Reason: "INC-1"})
	if err != nil {
		t.Fatal(err)
	}
	c.AddGrant(ctx, api.AddGrantRequest{User: "bob", Group: "prod-db-admins", Until: e.clock.Now().Add(2 * time.Hour), Reason: "INC-2"})
	c.ExtendGrant(ctx, g.ID, api.ExtendRequest{For: "30m", Reason: "more"})
	c.ListGrants(ctx, apiclient.GrantFilter{States: []string{"active"}, User: "alice", Limit: 10})
	c.Grant(ctx, g.ID)
	c.RevokeGrant(ctx, g.ID, "done")
	e.sched.RunOnce(ctx)
	c.AuditEvents(ctx, g.ID, 50)
	c.VerifyAudit(ctx)
	c.VerifyAuditAgainst(ctx, []string{})
	c.Whoami(ctx)
	c.SyncRun(ctx, api.SyncRunRequest{Directory: "demo"})
	alice := apiclient.New(e.srv.URL, e.tokens["alice"], hc)
	bob := apiclient.New(e.srv.URL, e.tokens["bob"], hc)
	rq, err := alice.CreateRequest(ctx, api.CreateRequestRequest{Group: "prod-db-admins", For: "1h", Reason: "deploy", Ticket: "CHG-1"})
	if err != nil {
		t.Fatal(err)
	}
	alice.ListRequests(ctx, apiclient.RequestFilter{Mine: true, States: []string{"pending"}})
	bob.ListRequests(ctx, apiclient.RequestFilter{PendingMyApproval: true})
	bob.Approve(ctx, rq.ID, "ok")
	alice.Request(ctx, rq.ID)
	rq2, _ := alice.CreateRequest(ctx, api.CreateRequestRequest{Group: "prod-db-admins", For: "1h", Reason: "again"})
	bob.Deny(ctx, rq2.ID, "no")
	rq3, _ := alice.CreateRequest(ctx, api.CreateRequestRequest{Group: "prod-db-admins", For: "1h", Reason: "third"})
	alice.CancelRequest(ctx, rq3.ID)
	alice.CreateRequest(ctx, api.CreateRequestRequest{Group: "prod-db-admins", For: "9h", Reason: "too long"})
	if tk, err := c.CreateToken(ctx, api.CreateTokenRequest{Name: "ci", Role: "auditor", Expires: "90d", System: true}); err == nil {
		c.Tokens(ctx)
		c.RevokeToken(ctx, tk.ID)
	}
	c.RevokeToken(ctx, "t-none")
	carol := apiclient.New(e.srv.URL, e.tokens["carol"], hc)
	bg, err := carol.BreakGlass(ctx, api.BreakGlassRequest{Group: "prod-db-admins", For: "10m", Reason: "SEV1 INC-9"})
	if err != nil {
		t.Fatal(err)
	}
	alice.BreakGlass(ctx, api.BreakGlassRequest{Group: "prod-db-admins", For: "10m", Reason: "not allowed"})
	c.Reviews(ctx, "open")
	c.CloseReview(ctx, bg.Review.ID, api.CloseReviewRequest{Outcome: "justified", Comment: "postmortem done"})
	approved, _ := alice.Request(ctx, rq.ID)
	if ext, err := alice.CreateRequest(ctx, api.CreateRequestRequest{Extends: approved.GrantID, For: "30m", Reason: "more time"}); err != nil || ext.Extends != approved.GrantID || approved.GrantID == "" {
		t.Fatalf("extension: %+v %v", ext, err)
	}
	c.SyncStatus(ctx)
	c.Drift(ctx, "")
	c.Baseline(ctx, "demo", "prod-db-admins")
	if dec, err := c.TestPolicy(ctx, api.PolicyTestRequest{Directory: "demo", User: "alice", Group: "prod-db-admins", For: "2h"}); err != nil || !dec.Allowed || len(dec.Steps) != 1 {
		t.Fatalf("policy test: %+v %v", dec, err)
	}
	c.TestPolicy(ctx, api.PolicyTestRequest{Directory: "demo", User: "nobody", Group: "prod-db-admins", For: "2h"})
	acct, err := c.CreateAccount(ctx, api.CreateAccountRequest{Login: "ann.lee", Email: "ann@vendor.example", GivenName: "Ann", Surname: "Lee",
		Sponsor: "bob", Until: e.clock.Now().Add(24 * time.Hour), Reason: "contract C-7"})
	if err != nil {
		t.Fatal(err)
	}
	c.ListAccounts(ctx, apiclient.AccountFilter{Sponsor: "bob", States: []string{"active"}})
	c.ExtendAccount(ctx, acct.Account.ID, api.ExtendAccountRequest{Until: e.clock.Now().Add(48 * time.Hour), Reason: "renewed"})
	c.DisableAccount(ctx, acct.Account.ID, "left early")
	c.DeleteAccount(ctx, acct.Account.ID, "data request")
	c.Account(ctx, acct.Account.ID)
	c.Account(ctx, "a-nope")
	c.CreateAccount(ctx, api.CreateAccountRequest{Login: "x", Sponsor: "nobody", Until: e.clock.Now().Add(time.Hour), Reason: "r"})
	c.ExtendAccount(ctx, acct.Account.ID, api.ExtendAccountRequest{Until: e.clock.Now().Add(48 * time.Hour), Reason: "too late"})
	// Errors: each must have the documented error body.
	c.AddGrant(ctx, api.AddGrantRequest{User: "mallory", Group: "prod-db-admins", For: "1h", Reason: "x"})
	c.Grant(ctx, "g-nope")
	c.RevokeGrant(ctx, g.ID, "again")
	c.AcceptBaseline(ctx, api.AcceptRequest{Directory: "demo", Group: "prod-db-admins", Reason: "r"})
	apiclient.New(e.srv.URL, "wrong", hc).ListGrants(ctx, apiclient.GrantFilter{})
	apiclient.New(e.srv.URL, e.tokens[auth.RoleAuditor], hc).AddGrant(ctx, api.AddGrantRequest{User: "alice", Group: "prod-db-admins", For: "1h", Reason: "x"})
	for _, p := range []string{"/healthz", "/readyz"} {
		resp, err := hc.Get(e.srv.URL + p)
		if err == nil {
			resp.Body.Close()
		}
	}

	v.exercised("POST /api/v1/grants 201", "POST /api/v1/grants 400", "GET /api/v1/grants/{id} 404",
		"POST /api/v1/grants/{id}/revoke 409", "GET /api/v1/grants 401", "POST /api/v1/grants 403", "GET /api/v1/sync 200",
		"POST /api/v1/accounts 201", "POST /api/v1/accounts 400", "GET /api/v1/accounts 200", "GET /api/v1/accounts/{id} 200", "GET /api/v1/accounts/{id} 404",
		"POST /api/v1/accounts/{id}/extend 200", "POST /api/v1/accounts/{id}/extend 409", "POST /api/v1/accounts/{id}/disable 200", "POST /api/v1/accounts/{id}/delete 200", "POST /api/v1/policy/test 200", "POST /api/v1/policy/test 400",
		"POST /api/v1/requests 201", "POST /api/v1/requests 400", "GET /api/v1/requests 200", "GET /api/v1/requests/{id} 200",
		"POST /api/v1/requests/{id}/approve 200", "POST /api/v1/requests/{id}/deny 200", "POST /api/v1/requests/{id}/cancel 200", "POST /api/v1/tokens 201", "GET /api/v1/tokens 200",
		"POST /api/v1/tokens/{id}/revoke 200", "POST /api/v1/tokens/{id}/revoke 404",
		"POST /api/v1/breakglass 201", "POST /api/v1/breakglass 403", "GET /api/v1/reviews 200", "POST /api/v1/reviews/{id}/close 200")
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func fmtS(format string, args ...any) string { return fmt.Sprintf(format, args...) }
