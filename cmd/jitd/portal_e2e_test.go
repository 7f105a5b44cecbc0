package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/jitd/jitd/core/api"
	"github.com/jitd/jitd/core/api/apiclient"
	"github.com/jitd/jitd/fixtures/browser"
	"github.com/jitd/jitd/fixtures/oidcfake"
	"github.com/jitd/jitd/fixtures/poll"
)

// exampleDaemon starts jitd on config.example.yaml, as `make run` does,
// on a free address (and with grants as short as a second, so tests can
// watch one end); it returns once the demo people can sign in.
func exampleDaemon(t *testing.T) *proc {
	t.Helper()
	dir := t.TempDir()
	example, err := os.ReadFile("../../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := filepath.Abs("../../fixtures/demo/directory.json")
	var d *proc
	for try := 0; ; try++ {
		addr := freeAddr(t)
		text := strings.NewReplacer("./fixtures/demo/directory.json", seed, "./var", dir+"/var", "127.0.0.1:8457", addr,
			"min_duration: 1m ", "min_duration: 1s ").Replace(string(example))
		if err := os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		var busy bool
		if d, busy = tryStart(t, dir, addr, nil); !busy {
			break
		}
		if try == 3 {
			t.Fatal("no free address after 4 tries")
		}
	}
	// The first full sync is done: every demo person has their groups.
	poll.Until(t, 20*time.Second, "the first full sync", func() bool {
		out, err := d.jitd("sync", "status", "-o", "json")
		var st []struct {
			FullSyncs int64 `json:"full_syncs"`
		}
		return err == nil && json.Unmarshal([]byte(out), &st) == nil && len(st) == 1 && st[0].FullSyncs >= 1
	})
	return d
}

// person is someone using the portal from a browser-like HTTP client: own
// cookies, redirects not followed, the Origin a browser sends.
type person struct {
	t    *testing.T
	base string
	c    *http.Client
}

func signIn(t *testing.T, addr, login string) *person {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	p := &person{t: t, base: "http://" + addr, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	if login != "" {
		if code, body := p.post("/ui/signin/demo", url.Values{"login": {login}}); code != http.StatusSeeOther {
			t.Fatalf("sign in as %s: %d\n%s", login, code, body)
		}
	}
	return p
}

func (p *person) get(path string) (int, string) {
	p.t.Helper()
	resp, err := p.c.Get(p.base + path)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b) + resp.Header.Get("Location")
}

func (p *person) post(path string, form url.Values) (int, string) {
	p.t.Helper()
	return p.postFrom(p.base, path, form)
}

func (p *person) postFrom(origin, path string, form url.Values) (int, string) {
	p.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, p.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", origin)
	resp, err := p.c.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b) + resp.Header.Get("Location")
}

var requestID = regexp.MustCompile(`/ui/requests/(r-[a-z0-9]+)`)
var grantID = regexp.MustCompile(`/ui/grants/(g-[a-z0-9]+)/giveback`)

// The portal lets each person do what the API lets them, and nothing
// more: every page and action, as every role.
func TestE2E_PortalPagesAreExactlyAsStrictAsTheAPI(t *testing.T) {
	d := exampleDaemon(t)
	alice, bob, carol, erin, grace, nobody := signIn(t, d.addr, "alice"), signIn(t, d.addr, "bob"), signIn(t, d.addr, "carol"),
		signIn(t, d.addr, "erin"), signIn(t, d.addr, "grace"), signIn(t, d.addr, "")

	// Headers every page carries.
	resp, err := alice.c.Get(alice.base + "/ui/access")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for h, want := range map[string]string{"Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
		"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"} {
		if got := resp.Header.Get(h); got != want {
			t.Errorf("%s: %q, want %q", h, got, want)
		}
	}
	u, _ := url.Parse(alice.base)
	for _, c := range alice.c.Jar.Cookies(u) {
		if c.Name != "jitd_session" {
			t.Errorf("unexpected cookie %s", c.Name)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, alice.base+"/ui/signin/demo", strings.NewReader("login=bob"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", alice.base)
	resp, err = signIn(t, d.addr, "").c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if sc := resp.Header.Get("Set-Cookie"); !strings.Contains(sc, "HttpOnly") || !strings.Contains(sc, "SameSite=Strict") {
		t.Errorf("session cookie %q: want HttpOnly and SameSite=Strict", sc)
	}

	// Signing in: a disabled or unknown person cannot.
	if code, body := nobody.post("/ui/signin/demo", url.Values{"login": {"dave"}}); code != http.StatusUnauthorized || !strings.Contains(body, "dave is disabled") {
		t.Errorf("dave signs in: %d\n%s", code, body)
	}
	if code, body := nobody.post("/ui/signin/demo", url.Values{"login": {"mallory"}}); code != http.StatusUnauthorized || !strings.Contains(body, "mallory is not a user") {
		t.Errorf("mallory signs in: %d\n%s", code, body)
	}
	// Nobody signed in is sent to sign in, and back.
	if code, loc := nobody.get("/ui/requests"); code != http.StatusSeeOther || !strings.HasSuffix(loc, "/ui/signin?next=%2Fui%2Frequests") {
		t.Errorf("signed out: %d %s", code, loc)
	}
	// Another site's form is refused before anything happens.
	if code, body := alice.postFrom("http://evil.example", "/ui/request", url.Values{"target": {"demo/prod-db-admins"}, "for": {"1h"}, "reason": {"x"}}); code != http.StatusForbidden || !strings.Contains(body, "another site") {
		t.Errorf("cross-site form: %d", code)
	}

	// Bad input: a clear message, nothing recorded.
	code, body := alice.post("/ui/request", url.Values{"target": {"demo/prod-db-admins"}, "for": {"2 hours"}, "reason": {"deploy"}})
	if code != http.StatusBadRequest || !strings.Contains(body, "2 hours") {
		t.Errorf("bad duration: %d\n%s", code, body)
	}
	if _, body := alice.get("/ui/requests"); !strings.Contains(body, "You have asked for nothing yet") {
		t.Errorf("a refused request was recorded:\n%s", body)
	}
	// The preview: policy's answer for alice herself.
	if _, body := alice.post("/ui/request/preview", url.Values{"target": {"demo/prod-db-admins"}, "for": {"2h"}, "reason": {"deploy"}}); !strings.Contains(body, "Needs approval (rule dba") || !strings.Contains(body, "1 of bob") {
		t.Errorf("preview:\n%s", body)
	}
	if _, body := carol.post("/ui/request/preview", url.Values{"target": {"demo/payments-release"}, "for": {"1h"}, "reason": {"x"}}); !strings.Contains(body, "Needs approval (rule release)") || !strings.Contains(body, "members of payments-release") {
		t.Errorf("carol's preview for payments-release:\n%s", body)
	}

	code, loc := alice.post("/ui/request", url.Values{"target": {"demo/prod-db-admins"}, "for": {"2h"}, "reason": {"deploy"}, "ticket": {"CHG-7"}})
	m := requestID.FindStringSubmatch(loc)
	if code != http.StatusSeeOther || m == nil {
		t.Fatalf("request: %d %s", code, loc)
	}
	rid := m[1]

	pages := []string{"/ui/access", "/ui/request", "/ui/requests", "/ui/inbox", "/ui/requests/" + rid}
	want := map[*person][]int{
		alice: {200, 200, 200, 403, 200},
		bob:   {200, 200, 200, 200, 200}, // he decides it: he sees it
		carol: {200, 200, 200, 403, 404}, // not hers, not hers to decide
		erin:  {200, 200, 200, 200, 200},
		grace: {200, 200, 200, 403, 200},
	}
	names := map[*person]string{alice: "alice", bob: "bob", carol: "carol", erin: "erin", grace: "grace"}
	for who, codes := range want {
		for i, page := range pages {
			if code, body := who.get(page); code != codes[i] {
				t.Errorf("%s GET %s: %d, want %d\n%s", names[who], page, code, codes[i], body)
			}
		}
	}
	if _, body := bob.get("/ui/inbox"); !strings.Contains(body, "alice asks for prod-db-admins") {
		t.Errorf("bob's inbox:\n%s", body)
	}
	for _, who := range []*person{erin} {
		if _, body := who.get("/ui/inbox"); strings.Contains(body, rid) {
			t.Errorf("%s's inbox shows alice's request", names[who])
		}
	}

	// Deciding: only whom policy names.
	for who, want := range map[*person]int{alice: 403, carol: 403, grace: 403, erin: 403} {
		if code, body := who.post("/ui/requests/"+rid+"/approve", url.Values{"comment": {"ok"}}); code != want {
			t.Errorf("%s approves: %d, want %d\n%s", names[who], code, want, body)
		}
	}
	if code, _ := bob.post("/ui/requests/"+rid+"/deny", url.Values{}); code != http.StatusBadRequest {
		t.Errorf("a denial without a reason: %d", code)
	}
	if code, loc := bob.post("/ui/requests/"+rid+"/approve", url.Values{"comment": {"go ahead"}}); code != http.StatusSeeOther || !strings.Contains(loc, "done=approved") {
		t.Fatalf("bob approves: %d %s", code, loc)
	}
	_, body = alice.get("/ui/access")
	g := grantID.FindStringSubmatch(body)
	if g == nil || !strings.Contains(body, "prod-db-admins") {
		t.Fatalf("alice's access after approval:\n%s", body)
	}
	if _, body := carol.get("/ui/access"); strings.Contains(body, g[1]) {
		t.Error("carol sees alice's grant")
	}
	if _, body := alice.get("/ui/requests/" + rid); !strings.Contains(body, "bob approved") || !strings.Contains(body, "go ahead") {
		t.Errorf("the request page does not say who approved:\n%s", body)
	}

	// Giving back: one's own access only.
	for who, want := range map[*person]int{carol: 403, grace: 403, bob: 403} {
		if code, body := who.post("/ui/grants/"+g[1]+"/giveback", url.Values{}); code != want {
			t.Errorf("%s gives back alice's grant: %d, want %d\n%s", names[who], code, want, body)
		}
	}
	if code, loc := alice.post("/ui/grants/"+g[1]+"/giveback", url.Values{}); code != http.StatusSeeOther || !strings.Contains(loc, "done=returned") {
		t.Fatalf("alice gives back: %d %s", code, loc)
	}
	poll.Until(t, 10*time.Second, "the membership to leave the directory", func() bool {
		out, err := d.jitd("grant", "show", g[1])
		return err == nil && strings.Contains(out, "revoked")
	})

	// Signing out ends the session everywhere.
	if code, _ := alice.post("/ui/signout", url.Values{}); code != http.StatusSeeOther {
		t.Errorf("sign out: %d", code)
	}
	if code, _ := alice.get("/ui/access"); code != http.StatusSeeOther {
		t.Errorf("after signing out: %d", code)
	}
}

// The flows people follow, in a real browser: alice asks, bob approves on
// his phone, alice sees her access and gives it back. Every page is checked
// with axe-core and photographed.
func TestBrowser_RequestApproveGiveBack(t *testing.T) {
	b := browser.Start(t)
	d := exampleDaemon(t)
	base := "http://" + d.addr
	shots := browser.Shots(t)

	// The checker finds what it should: a page with no language and an
	// unlabelled field breaks serious rules.
	probe := browser.Person(t, b)
	browser.Step(t, probe, "open a broken page", chromedp.Navigate(`data:text/html,<html><title>x</title><body><input type="text"></body></html>`))
	if bad := browser.Axe(t, probe); len(bad) == 0 {
		t.Fatal("axe-core found nothing wrong with a page that has no language and an unlabelled field")
	}

	alice := browser.Person(t, b)
	browser.Step(t, alice, "open the portal", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS(`button[value="alice"]`)))
	browser.Check(t, alice, shots, "signin")
	// The keyboard reaches everything: the first Tab lands on the skip
	// link, which is then visible, with a focus ring.
	browser.Step(t, alice, "press Tab", chromedp.KeyEvent("\t"))
	focus, err := chromedp.Run(alice, chromedp.Evaluate[[]string](`(() => { const e = document.activeElement, s = getComputedStyle(e);
		return [e.className, s.outlineStyle, String(e.getBoundingClientRect().left >= 0)]; })()`))
	if err != nil || len(focus) != 3 || focus[0] != "skip" || focus[1] == "none" || focus[2] != "true" {
		t.Fatalf("after Tab, the focus is %v (%v); want the visible skip link with a focus ring", focus, err)
	}
	browser.Step(t, alice, "sign in as alice", chromedp.Click(chromedp.CSS(`button[value="alice"]`)), chromedp.WaitVisible(chromedp.CSS(`nav a[aria-current]`)))
	browser.Step(t, alice, "open the request form", chromedp.Navigate(base+"/ui/request"), chromedp.WaitVisible(chromedp.ID("target")),
		chromedp.SetValue(chromedp.ID("target"), "demo/prod-db-admins"), chromedp.SetValue(chromedp.ID("for"), "2h"),
		chromedp.SetValue(chromedp.ID("reason"), "deploy the payments fix"), chromedp.SetValue(chromedp.ID("ticket"), "CHG-42"),
		chromedp.Click(chromedp.CSS(`button.secondary`)), chromedp.WaitVisible(chromedp.CSS(`.preview`)))
	if got := browser.Text(t, alice, ".preview .verdict"); !strings.Contains(got, "Needs approval") {
		t.Fatalf("preview: %q", got)
	}
	browser.Check(t, alice, shots, "request")
	browser.Step(t, alice, "ask", chromedp.Click(chromedp.CSS(`.buttons button:not(.secondary)`)), chromedp.WaitVisible(chromedp.CSS(`.notice`)))
	if got := browser.Text(t, alice, ".notice"); got != "Your request is recorded." {
		t.Fatalf("after asking: %q", got)
	}
	browser.Check(t, alice, shots, "request-pending")

	bob := browser.Person(t, b)
	if err := browser.Phone(bob); err != nil {
		t.Fatal(err)
	}
	browser.Step(t, bob, "sign in as bob", chromedp.Navigate(base+"/ui/inbox"), chromedp.WaitVisible(chromedp.CSS(`button[value="bob"]`)),
		chromedp.Click(chromedp.CSS(`button[value="bob"]`)), chromedp.WaitVisible(chromedp.CSS(`.card`)))
	if got := browser.Text(t, bob, ".card h2"); got != "alice asks for prod-db-admins" {
		t.Fatalf("bob's inbox: %q", got)
	}
	browser.Check(t, bob, shots, "inbox-phone")
	browser.Step(t, bob, "approve", chromedp.SetValue(chromedp.CSS(`.card input[name="comment"]`), "go ahead"),
		chromedp.Click(chromedp.CSS(`.card .buttons button:not(.danger)`)), chromedp.WaitVisible(chromedp.CSS(`.notice`)))
	if got := browser.Text(t, bob, ".notice"); got != "Your approval is recorded." {
		t.Fatalf("after approving: %q", got)
	}

	browser.Step(t, alice, "see my access", chromedp.Navigate(base+"/ui/access"), chromedp.WaitVisible(chromedp.CSS(`table`)))
	if got := browser.Text(t, alice, "tbody tr"); !strings.Contains(got, "prod-db-admins") || !strings.Contains(got, "active") {
		t.Fatalf("alice's access: %q", got)
	}
	browser.Check(t, alice, shots, "access")
	browser.Step(t, alice, "give it back", chromedp.Click(chromedp.CSS(`button.secondary`)), chromedp.WaitVisible(chromedp.CSS(`.notice`)))
	if got := browser.Text(t, alice, ".notice"); !strings.Contains(got, "given back") {
		t.Fatalf("after giving back: %q", got)
	}
	browser.Step(t, alice, "see the timeline", chromedp.Navigate(base+"/ui/timeline"), chromedp.WaitVisible(chromedp.CSS(`figure.timeline svg`)))
	browser.Check(t, alice, shots, "timeline")
	out, err := d.jitd("grant", "list", "--user", "alice")
	if err != nil || strings.Contains(out, "active") {
		t.Fatalf("alice's grants after giving back:\n%s %v", out, err)
	}
}

// jitd request create --wait blocks until the request is decided, saying
// whom it waits for; people read their own grants with the CLI too.
func TestE2E_RequestCreateWaitsForTheDecision(t *testing.T) {
	d := exampleDaemon(t)
	alice, bob := d.token("alice", "requester"), d.token("bob", "approver")
	cmd := exec.Command(jitdBin, "--addr", d.addr, "request", "create", "--group", "prod-db-admins", "--for", "1h", "--reason", "deploy", "--wait")
	cmd.Env = append(os.Environ(), "JITD_TOKEN="+alice, "JITD_TOKEN_FILE=")
	var out, errb lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	poll.Until(t, 10*time.Second, "the CLI to say whom it waits for", func() bool {
		return strings.Contains(errb.String(), "waits for approval, step 1 of 1: 1 of bob")
	})
	select {
	case err := <-done:
		t.Fatalf("returned before a decision: %v\n%s", err, out.String())
	default:
	}
	id := regexp.MustCompile(`request (r-[a-z0-9]+) waits`).FindStringSubmatch(errb.String())[1]
	if o, err := d.as(bob, "approve", id, "--comment", "ok"); err != nil {
		t.Fatalf("approve: %v\n%s", err, o)
	}
	select {
	case err := <-done:
		if err != nil || !strings.Contains(out.String(), "approved") {
			t.Fatalf("after approval: %v\n%s%s", err, out.String(), errb.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("still waiting after the approval")
	}
	// alice lists her own grants; naming someone else's is refused.
	if o, err := d.as(alice, "grant", "list"); err != nil || !strings.Contains(o, "prod-db-admins") || !strings.Contains(o, "alice") {
		t.Fatalf("alice's grant list: %v\n%s", err, o)
	}
	if o, err := d.as(alice, "grant", "list", "--user", "bob"); err == nil || !strings.Contains(o, "may read only its own grants") {
		t.Fatalf("alice lists bob's grants: %v\n%s", err, o)
	}
	// A denied request ends the wait with a failure.
	cmd = exec.Command(jitdBin, "--addr", d.addr, "request", "create", "--group", "payments-release", "--for", "1h", "--reason", "hotfix", "--wait")
	cmd.Env = append(os.Environ(), "JITD_TOKEN="+alice, "JITD_TOKEN_FILE=")
	var out2, errb2 lockedBuffer
	cmd.Stdout, cmd.Stderr = &out2, &errb2
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	poll.Until(t, 10*time.Second, "the second request to wait", func() bool { return strings.Contains(errb2.String(), "waits for approval") })
	id = regexp.MustCompile(`request (r-[a-z0-9]+) waits`).FindStringSubmatch(errb2.String())[1]
	if o, err := d.as(bob, "deny", id, "--reason", "not this week"); err != nil {
		t.Fatalf("deny: %v\n%s", err, o)
	}
	select {
	case err := <-done:
		if err == nil || !strings.Contains(errb2.String(), "is denied") {
			t.Fatalf("after denial: %v\n%s%s", err, out2.String(), errb2.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("still waiting after the denial")
	}
}

// A contractor's invite link opens a form, then a status page, then the
// initial password, once.
func TestE2E_PortalInviteFormStatusAndPasswordOnce(t *testing.T) {
	d := exampleDaemon(t)
	bob := d.token("bob", "approver")
	until := time.Now().AddDate(0, 2, 0).Format(time.DateOnly)
	out, err := d.as(bob, "invite", "create", "--until", until, "--groups", "payments-release", "-o", "json")
	if err != nil {
		t.Fatalf("invite create: %v\n%s", err, out)
	}
	var inv struct{ Path string }
	json.Unmarshal([]byte(out), &inv)
	if !strings.HasPrefix(inv.Path, "/ui/invite/") {
		t.Fatalf("the invite link %q does not open the portal", inv.Path)
	}
	c := signIn(t, d.addr, "")
	resp, err := c.c.Get(c.base + inv.Path)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "bob invites you") || !strings.Contains(string(b), `value="payments-release"`) ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || resp.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Fatalf("the invite page: %d %v\n%s", resp.StatusCode, resp.Header, b)
	}
	form := url.Values{"given_name": {"Zoe"}, "surname": {"Ray"}, "email": {"zoe@vendor.example"}, "company": {"Vendor"}, "until": {"next week"}, "groups": {"payments-release"}}
	if code, body := c.post(inv.Path, form); code != http.StatusBadRequest || !strings.Contains(body, "Give the last day") || !strings.Contains(body, `value="Zoe"`) {
		t.Fatalf("a bad date: %d\n%s", code, body)
	}
	form.Set("until", time.Now().AddDate(0, 1, 0).Format(time.DateOnly))
	// The API's own check, in its words, on the page: a group whose
	// grants are short cannot go with a month-long account.
	if code, body := c.post(inv.Path, form); code != http.StatusBadRequest || !strings.Contains(body, "is granted for at most 2h") {
		t.Fatalf("a group past its longest grant: %d\n%s", code, body)
	}
	form.Del("groups")
	if code, loc := c.post(inv.Path, form); code != http.StatusSeeOther || !strings.Contains(loc, "done=submitted") {
		t.Fatalf("submit: %d %s", code, loc)
	}
	if _, body := c.get(inv.Path); !strings.Contains(body, "pending") || !strings.Contains(body, "0 of 1") {
		t.Fatalf("the status page:\n%s", body)
	}
	out, _ = d.as(bob, "request", "list", "--pending-my-approval", "-o", "json")
	var rs []struct{ ID string }
	json.Unmarshal([]byte(out), &rs)
	if len(rs) != 1 {
		t.Fatalf("bob's pending requests: %s", out)
	}
	if o, err := d.as(bob, "approve", rs[0].ID); err != nil {
		t.Fatalf("approve: %v\n%s", err, o)
	}
	poll.Until(t, 10*time.Second, "the account to exist", func() bool {
		_, body := c.get(inv.Path)
		return strings.Contains(body, "Show my initial password")
	})
	code, body := c.post(inv.Path+"/password", url.Values{})
	if code != 200 || !strings.Contains(body, "zoe.ray") || !strings.Contains(body, "only time jitd shows this password") {
		t.Fatalf("the password page: %d\n%s", code, body)
	}
	if code, body := c.post(inv.Path+"/password", url.Values{}); code == 200 || strings.Contains(body, `class="secret"`) {
		t.Fatalf("the password was shown twice: %d\n%s", code, body)
	}
	if code, body := c.post(inv.Path, form); code < 400 {
		t.Fatalf("the used invite took a second submission: %d\n%s", code, body)
	}

	// The sponsor's page: bob's contractor, to extend or disable; a new
	// invite's link shown once; nobody else's.
	bp, ap := signIn(t, d.addr, "bob"), signIn(t, d.addr, "alice")
	_, body = bp.get("/ui/sponsor")
	acct := regexp.MustCompile(`/ui/accounts/([^/"]+)/extend`).FindStringSubmatch(body)
	if acct == nil || !strings.Contains(body, "zoe.ray") {
		t.Fatalf("bob's contractors:\n%s", body)
	}
	if code, _ := ap.get("/ui/sponsor"); code != http.StatusForbidden {
		t.Errorf("alice sees the sponsor page: %d", code)
	}
	if code, _ := ap.post("/ui/accounts/"+acct[1]+"/disable", url.Values{}); code != http.StatusForbidden {
		t.Errorf("alice disables bob's contractor: %d", code)
	}
	later := time.Now().AddDate(0, 1, 10).Format(time.DateOnly)
	if code, loc := bp.post("/ui/accounts/"+acct[1]+"/extend", url.Values{"until": {later}, "reason": {"project runs on"}}); code != http.StatusSeeOther || !strings.Contains(loc, "account-extended") {
		t.Fatalf("bob extends: %d %s", code, loc)
	}
	if _, body := bp.get("/ui/sponsor"); !strings.Contains(body, later) {
		t.Errorf("the new end date is not shown:\n%s", body)
	}
	if code, loc := bp.post("/ui/accounts/"+acct[1]+"/disable", url.Values{}); code != http.StatusSeeOther || !strings.Contains(loc, "account-disabled") {
		t.Fatalf("bob disables: %d %s", code, loc)
	}
	code, body = bp.post("/ui/invites", url.Values{"until": {later}, "valid": {"3d"}})
	link := regexp.MustCompile(`http://[^<]+/ui/invite/[^<\s]+`).FindString(body)
	if code != http.StatusCreated || link == "" || !strings.Contains(body, "shown only now") {
		t.Fatalf("bob makes an invite: %d\n%s", code, body)
	}
	if _, body := bp.get("/ui/sponsor"); strings.Contains(body, link) {
		t.Error("the invite link is shown again")
	}
	iv := regexp.MustCompile(`/ui/invites/([^/"]+)/revoke`).FindStringSubmatch(body)
	if iv == nil {
		t.Fatalf("no open invite to revoke:\n%s", body)
	}
	if code, _ := bp.post("/ui/invites/"+iv[1]+"/revoke", url.Values{}); code != http.StatusSeeOther {
		t.Fatalf("revoke: %d", code)
	}
	if _, body := c.get(strings.TrimPrefix(link, c.base)); !strings.Contains(body, "This invite is revoked") || strings.Contains(body, "<form") {
		t.Fatalf("a revoked invite's page:\n%s", body)
	}
}

// The oversight pages: what admins and auditors see and do, break-glass
// reviewed from the portal, and timelines that mark it.
func TestE2E_PortalOversightPages(t *testing.T) {
	d := exampleDaemon(t)
	alice, bob, erin, grace := signIn(t, d.addr, "alice"), signIn(t, d.addr, "bob"), signIn(t, d.addr, "erin"), signIn(t, d.addr, "grace")
	names := map[*person]string{alice: "alice", bob: "bob", erin: "erin", grace: "grace"}
	carol := d.token("carol", "requester")
	if out, err := d.as(carol, "breakglass", "--group", "prod-db-admins", "--for", "30m", "--reason", "INC-9 database down"); err != nil {
		t.Fatalf("break glass: %v\n%s", err, out)
	}
	if code, loc := erin.post("/ui/sync/run", url.Values{"directory": {"demo"}}); code != http.StatusSeeOther || !strings.Contains(loc, "synced") {
		t.Fatalf("erin syncs: %d %s", code, loc)
	}

	pages := []string{"/ui/grants", "/ui/all-requests", "/ui/drift", "/ui/sync", "/ui/reviews", "/ui/audit", "/ui/tokens", "/ui/timeline", "/ui/sponsor",
		"/ui/grants?state=all&user=carol", "/ui/audit?verify=1", "/ui/timeline?group=prod-db-admins", "/ui/reports",
		"/api/v1/reports/access?group=prod-db-admins&from=2026-01-01T00:00:00Z&to=2030-01-01T00:00:00Z&format=html"}
	want := map[*person][]int{
		alice: {403, 403, 403, 403, 403, 403, 403, 200, 403, 403, 403, 200, 403, 403},
		bob:   {403, 403, 403, 403, 200, 403, 403, 200, 200, 403, 403, 200, 403, 403},
		erin:  {200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200},
		grace: {200, 200, 200, 200, 200, 200, 403, 200, 200, 200, 200, 200, 200, 200},
	}
	for who, codes := range want {
		for i, page := range pages {
			if code, body := who.get(page); code != codes[i] {
				t.Errorf("%s GET %s: %d, want %d\n%s", names[who], page, code, codes[i], body)
			}
		}
	}
	if _, body := grace.get("/ui/audit?verify=1"); !strings.Contains(body, "The chain is intact") {
		t.Errorf("the audit page's verification:\n%s", body)
	}
	_, body := erin.get("/ui/grants?user=carol")
	g := regexp.MustCompile(`/ui/grants/([^/"]+)/revoke`).FindStringSubmatch(body)
	if g == nil {
		t.Fatalf("carol's break-glass grant is not listed for erin:\n%s", body)
	}
	if _, body := grace.get("/ui/grants?user=carol"); strings.Contains(body, "/revoke") {
		t.Error("an auditor is offered a revoke button")
	}
	if _, body := erin.get("/ui/timeline?group=prod-db-admins"); !strings.Contains(body, `role="img"`) || !strings.Contains(body, "carol: break-glass grant") {
		t.Errorf("the group's timeline does not mark break-glass:\n%s", body)
	}
	if _, body := alice.get("/ui/timeline?user=carol"); strings.Contains(body, "carol: ") {
		t.Error("alice sees carol's timeline")
	}

	// The review: not carol's own, not an auditor's; bob closes it.
	_, body = bob.get("/ui/reviews")
	rv := regexp.MustCompile(`/ui/reviews/([^/"]+)/close`).FindStringSubmatch(body)
	if rv == nil || !strings.Contains(body, "carol broke glass into prod-db-admins") {
		t.Fatalf("bob's reviews:\n%s", body)
	}
	if code, _ := grace.post("/ui/reviews/"+rv[1]+"/close", url.Values{"outcome": {"justified"}, "comment": {"ok"}}); code != http.StatusForbidden {
		t.Errorf("grace closes a review: %d", code)
	}
	if code, loc := bob.post("/ui/reviews/"+rv[1]+"/close", url.Values{"outcome": {"justified"}, "comment": {"the database was down"}}); code != http.StatusSeeOther || !strings.Contains(loc, "review-closed") {
		t.Fatalf("bob closes the review: %d %s", code, loc)
	}

	// Changes: an auditor makes none; an admin revokes.
	for path, form := range map[string]url.Values{"/ui/grants/" + g[1] + "/revoke": {"reason": {"x"}}, "/ui/sync/run": {"directory": {"demo"}},
		"/ui/drift/revert": {"directory": {"demo"}, "group": {"prod-db-admins"}, "reason": {"x"}}} {
		if code, _ := grace.post(path, form); code != http.StatusForbidden {
			t.Errorf("grace POST %s: %d, want 403", path, code)
		}
	}
	if code, loc := erin.post("/ui/grants/"+g[1]+"/revoke", url.Values{"reason": {"incident over"}}); code != http.StatusSeeOther || !strings.Contains(loc, "done=revoked") {
		t.Fatalf("erin revokes: %d %s", code, loc)
	}
	if code, _ := erin.post("/ui/grants/"+g[1]+"/revoke", url.Values{"reason": {""}}); code < 400 {
		t.Errorf("a second revoke without a reason: %d", code)
	}

	// Long lists are paged on the server: 60 requests make two pages.
	ac := apiclient.New(d.addr, d.token("alice", "requester"), nil)
	for i := range 60 {
		if _, err := ac.CreateRequest(context.Background(), api.CreateRequestRequest{Group: "prod-db-admins", For: "1h", Reason: fmt.Sprint("batch ", i)}); err != nil {
			t.Fatal(err)
		}
	}
	rows := regexp.MustCompile(`<tr><td><a href="/ui/requests/`)
	_, first := erin.get("/ui/all-requests?state=pending")
	older := regexp.MustCompile(`href="(/ui/all-requests\?[^"]*offset=50[^"]*)">Older`).FindStringSubmatch(first)
	if n := len(rows.FindAllString(first, -1)); n != 50 || older == nil {
		t.Fatalf("the first page: %d rows, older %v", n, older)
	}
	_, second := erin.get(strings.ReplaceAll(older[1], "&amp;", "&"))
	if n := len(rows.FindAllString(second, -1)); n != 10 || !strings.Contains(second, ">Newer<") || strings.Contains(second, ">Older<") {
		t.Fatalf("the second page: %d rows\n%s", n, second)
	}
}

// jitd login: the authorization code flow with PKCE through a loopback
// listener, the sign-in kept 0600 for the commands that follow, renewed
// with the refresh token when the ID token runs out, forgotten on logout.
func TestE2E_LoginSignsTheCLIInWithTheIdentityProvider(t *testing.T) {
	dir, addr := t.TempDir(), freeAddr(t)
	idp, err := oidcfake.Start("jitd", "s")
	if err != nil {
		t.Fatal(err)
	}
	idp.Public = "jitd-cli"
	t.Cleanup(idp.Close)
	p := writeConfig(t, dir, addr)
	f, _ := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0o600)
	fmt.Fprintf(f, "auth:\n  oidc:\n    issuer: %s\n    client_id: jitd\n    cli_client_id: jitd-cli\n", idp.URL)
	f.Close()
	d := start(t, dir, addr)
	if out, err := d.jitd("sync", "run"); err != nil {
		t.Fatalf("sync: %v\n%s", err, out)
	}
	home := t.TempDir()
	cli := func(args ...string) *exec.Cmd {
		cmd := exec.Command(jitdBin, append([]string{"--addr", addr}, args...)...)
		cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+home, "HOME="+home, "JITD_TOKEN=", "JITD_TOKEN_FILE=")
		return cmd
	}
	idp.SignInNext(map[string]any{"preferred_username": "alice"})
	login := cli("login", "--no-browser")
	var out, errb lockedBuffer
	login.Stdout, login.Stderr = &out, &errb
	if err := login.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- login.Wait() }()
	t.Cleanup(func() { login.Process.Kill() })
	var signIn string
	poll.Until(t, 10*time.Second, "jitd login to print where to sign in", func() bool {
		signIn = regexp.MustCompile(`http://\S+/authorize\?\S+`).FindString(errb.String())
		return signIn != ""
	})
	// The browser: the provider signs alice in and sends it back to the
	// CLI's loopback listener.
	resp, err := http.Get(signIn)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err := <-done; err != nil || !strings.Contains(out.String(), "as alice (requester)") || !strings.Contains(string(page), "signed in to jitd") {
		t.Fatalf("login: %v\n%s%s\n%s", err, out.String(), errb.String(), page)
	}
	kept := filepath.Join(home, "jitd", "login.json")
	if fi, err := os.Stat(kept); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the kept sign-in: %v %v", fi, err)
	}
	whoami := func() (string, error) {
		b, err := cli("whoami").CombinedOutput()
		return string(b), err
	}
	if o, err := whoami(); err != nil || !strings.Contains(o, "alice (requester)") {
		t.Fatalf("whoami after login: %v\n%s", err, o)
	}
	// The ID token runs out: the refresh token renews it.
	var sessions map[string]struct {
		IDToken string    `json:"id_token"`
		Expiry  time.Time `json:"expiry"`
	}
	b, _ := os.ReadFile(kept)
	json.Unmarshal(b, &sessions)
	raw := strings.Replace(string(b), sessions["http://"+addr].Expiry.Format(time.RFC3339Nano), time.Now().Add(-time.Hour).UTC().Format(time.RFC3339Nano), 1)
	os.WriteFile(kept, []byte(raw), 0o600)
	if o, err := whoami(); err != nil || !strings.Contains(o, "alice (requester)") {
		t.Fatalf("whoami with a renewed sign-in: %v\n%s", err, o)
	}
	b, _ = os.ReadFile(kept)
	if strings.Contains(string(b), sessions["http://"+addr].IDToken) {
		t.Fatal("the ID token was not renewed")
	}
	if o, err := cli("logout").CombinedOutput(); err != nil || !strings.Contains(string(o), "signed out of http://"+addr) {
		t.Fatalf("logout: %v\n%s", err, o)
	}
	if o, err := whoami(); err == nil || !strings.Contains(o, "sign in") {
		t.Fatalf("whoami after logout: %v\n%s", err, o)
	}
}

// The other flows, in a real browser: bob invites a contractor, who fills
// in the form, waits, and reads the password once after bob approves;
// carol breaks glass and bob reviews it; erin and grace look over
// everything. Every page passes axe-core and is photographed.
func TestBrowser_InviteBreakGlassAndOversight(t *testing.T) {
	b := browser.Start(t)
	d := exampleDaemon(t)
	base := "http://" + d.addr
	shots := browser.Shots(t)
	signInAs := func(login string) context.Context {
		ctx := browser.Person(t, b)
		browser.Step(t, ctx, "sign in as "+login, chromedp.Navigate(base+"/ui/signin"), chromedp.WaitVisible(chromedp.CSS(`button[value="`+login+`"]`)),
			chromedp.Click(chromedp.CSS(`button[value="`+login+`"]`)), chromedp.WaitVisible(chromedp.CSS(`nav a[aria-current]`)))
		return ctx
	}

	// bob invites.
	bob := signInAs("bob")
	until := time.Now().AddDate(0, 2, 0).Format(time.DateOnly)
	browser.Step(t, bob, "open the contractors page", chromedp.Navigate(base+"/ui/sponsor"), chromedp.WaitVisible(chromedp.ID("until")))
	browser.Check(t, bob, shots, "sponsor")
	browser.Step(t, bob, "make an invite", chromedp.SetValue(chromedp.ID("until"), until), chromedp.SetValue(chromedp.ID("note"), "Welcome to the payments migration"),
		chromedp.Click(chromedp.CSS(`form[action="/ui/invites"] button`)), chromedp.WaitVisible(chromedp.CSS(`.created code`)))
	link := browser.Text(t, bob, ".created code")
	if !strings.HasPrefix(link, base+"/ui/invite/") {
		t.Fatalf("the invite link: %q", link)
	}
	browser.Check(t, bob, shots, "sponsor-invite-made")

	// The contractor, signed in nowhere.
	zoe := browser.Person(t, b)
	browser.Step(t, zoe, "open the invite", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.ID("given_name")))
	browser.Check(t, zoe, shots, "invite")
	browser.Step(t, zoe, "fill in the form", chromedp.SetValue(chromedp.ID("given_name"), "Zoe"), chromedp.SetValue(chromedp.ID("surname"), "Ray"),
		chromedp.SetValue(chromedp.ID("email"), "zoe@vendor.example"), chromedp.SetValue(chromedp.ID("company"), "Vendor Ltd"),
		chromedp.SetValue(chromedp.ID("until"), time.Now().AddDate(0, 1, 0).Format(time.DateOnly)),
		chromedp.Click(chromedp.CSS(`.buttons button`)), chromedp.WaitVisible(chromedp.CSS(`.notice`)))
	if got := browser.Text(t, zoe, ".facts"); !strings.Contains(got, "pending") {
		t.Fatalf("the contractor's status: %q", got)
	}
	browser.Check(t, zoe, shots, "invite-pending")

	browser.Step(t, bob, "approve the contractor", chromedp.Navigate(base+"/ui/inbox"), chromedp.WaitVisible(chromedp.CSS(`.card`)),
		chromedp.Click(chromedp.CSS(`.card .buttons button:not(.danger)`)), chromedp.WaitVisible(chromedp.CSS(`.notice`)))
	poll.Until(t, 10*time.Second, "the account to be made", func() bool {
		out, err := d.jitd("account", "list")
		return err == nil && strings.Contains(out, "zoe.ray") && strings.Contains(out, "active")
	})
	browser.Step(t, zoe, "come back", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS(`form[action$="/password"] button`)))
	browser.Check(t, zoe, shots, "invite-approved")
	browser.Step(t, zoe, "reveal the password", chromedp.Click(chromedp.CSS(`form[action$="/password"] button`)), chromedp.WaitVisible(chromedp.CSS(`code.secret`)))
	if pw := browser.Text(t, zoe, "code.secret"); len(pw) < 12 {
		t.Fatalf("the initial password: %q", pw)
	}
	browser.Check(t, zoe, shots, "invite-password")
	browser.Step(t, zoe, "reload the password page", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`h1`)))
	if s := browser.Text(t, zoe, "main"); strings.Contains(s, "Initial password") {
		t.Fatal("the password was shown a second time")
	}

	// carol breaks glass; bob reviews it.
	carol := d.token("carol", "requester")
	if out, err := d.as(carol, "breakglass", "--group", "prod-db-admins", "--for", "30m", "--reason", "INC-9 database down"); err != nil {
		t.Fatalf("break glass: %v\n%s", err, out)
	}
	browser.Step(t, bob, "open the reviews", chromedp.Navigate(base+"/ui/reviews"), chromedp.WaitVisible(chromedp.CSS(`.card`)))
	browser.Check(t, bob, shots, "reviews")
	browser.Step(t, bob, "close the review", chromedp.SetValue(chromedp.CSS(`.card input[name="comment"]`), "the database was down"),
		chromedp.Click(chromedp.CSS(`.card button[value="justified"]`)), chromedp.WaitVisible(chromedp.CSS(`.notice`)))

	// An access review of the staff group, reviewed by managers.
	out, err := d.jitd("review", "campaign", "create", "--name", "Staff review", "--scope", "members", "--group", "staff", "--reviewers", "manager", "-o", "json")
	var camp struct{ ID string }
	if json.Unmarshal([]byte(out), &camp); err != nil || camp.ID == "" {
		t.Fatalf("campaign create: %v\n%s", err, out)
	}

	// The administrator and the auditor look over everything.
	erin, grace := signInAs("erin"), signInAs("grace")
	for _, pg := range []struct {
		who                   context.Context
		name, path, sel, want string
	}{
		{erin, "grants", "/ui/grants?state=all", "table", "carol"},
		{erin, "timeline-group", "/ui/timeline?group=prod-db-admins", "figure.timeline", "carol"},
		{erin, "all-requests", "/ui/all-requests", "table", "break-glass"},
		{erin, "drift", "/ui/drift?directory=demo&group=payments-release", "main", "Baseline of payments-release"},
		{erin, "sync", "/ui/sync", "table", "demo"},
		{erin, "tokens", "/ui/tokens", "table", "carol"},
		{grace, "audit", "/ui/audit?verify=1", ".notice", "The chain is intact"},
		{grace, "contractors-auditor", "/ui/sponsor", "table", "zoe.ray"},
		{grace, "reports", "/ui/reports", "main", "Who had access, and why"},
		{erin, "campaigns", "/ui/campaigns", "table", "Staff review"},
		{grace, "campaign", "/ui/campaigns/" + camp.ID + "?all=1", "table", "carol"},
	} {
		browser.Step(t, pg.who, "open "+pg.path, chromedp.Navigate(base+pg.path), chromedp.WaitVisible(chromedp.CSS(pg.sel)))
		if got := browser.Text(t, pg.who, pg.sel); !strings.Contains(got, pg.want) {
			t.Errorf("%s: %q, want %q", pg.path, got, pg.want)
		}
		browser.Check(t, pg.who, shots, pg.name)
	}
}

// A request for later, from the portal: approved now, waiting with no
// membership, shown as coming up; a start in the past is refused.
func TestE2E_PortalRequestForLater(t *testing.T) {
	d := exampleDaemon(t)
	alice, bob := signIn(t, d.addr, "alice"), signIn(t, d.addr, "bob")
	form := url.Values{"target": {"demo/payments-release"}, "for": {"1h"}, "reason": {"release 2.4"},
		"start": {time.Now().UTC().Add(-time.Hour).Format("2006-01-02T15:04")}}
	if code, body := alice.post("/ui/request", form); code != http.StatusBadRequest || !strings.Contains(body, "is not in the future") {
		t.Fatalf("a start in the past: %d\n%s", code, body)
	}
	start := time.Now().UTC().Add(3 * time.Hour).Truncate(time.Minute)
	form.Set("start", start.Format("2006-01-02T15:04"))
	code, loc := alice.post("/ui/request", form)
	m := requestID.FindStringSubmatch(loc)
	if code != http.StatusSeeOther || m == nil {
		t.Fatalf("a request for later: %d %s", code, loc)
	}
	if code, loc := bob.post("/ui/requests/"+m[1]+"/approve", url.Values{"comment": {"ok for tonight"}}); code != http.StatusSeeOther {
		t.Fatalf("bob approves: %d %s", code, loc)
	}
	_, body := alice.get("/ui/access")
	if !strings.Contains(body, "Approved, starting later") || !strings.Contains(body, start.Format("2006-01-02 15:04")) || strings.Contains(body, "/giveback") {
		t.Fatalf("alice's access page:\n%s", body)
	}
	if _, body := alice.get("/ui/requests/" + m[1]); !strings.Contains(body, "starts at") || !strings.Contains(body, "Cancel this request") {
		t.Fatalf("the request page:\n%s", body)
	}
	if out, err := d.jitd("grant", "list", "--user", "alice"); err != nil || strings.Contains(out, "payments-release") {
		t.Fatalf("a grant before the start: %v\n%s", err, out)
	}
	if code, loc := alice.post("/ui/requests/"+m[1]+"/cancel", url.Values{}); code != http.StatusSeeOther || !strings.Contains(loc, "cancelled") {
		t.Fatalf("cancel before the start: %d %s", code, loc)
	}

	// The daemon makes the grant when the start comes.
	tok, btok := d.token("alice", "requester"), d.token("bob", "approver")
	out, err := d.as(tok, "request", "create", "--group", "payments-release", "--for", "1h", "--reason", "release 2.5", "--start", "3s", "-o", "json")
	var q struct{ ID string }
	if json.Unmarshal([]byte(out), &q); err != nil || q.ID == "" {
		t.Fatalf("request --start 3s: %v\n%s", err, out)
	}
	if out, err := d.as(btok, "approve", q.ID); err != nil || !strings.Contains(out, "approved") {
		t.Fatalf("approve: %v\n%s", err, out)
	}
	poll.Until(t, 15*time.Second, "the grant to be made at the start", func() bool {
		out, err := d.as(tok, "grant", "list")
		return err == nil && strings.Contains(out, "payments-release") && strings.Contains(out, "active")
	})
}

// Reports from the CLI: who had prod-db-admins and why (with the request
// and its approver), and the lateness of removals, as CSV, JSON and HTML.
func TestE2E_ReportsForAuditors(t *testing.T) {
	d := exampleDaemon(t)
	alice, bob := d.token("alice", "requester"), d.token("bob", "approver")
	out, err := d.as(alice, "request", "create", "--group", "prod-db-admins", "--for", "1h", "--reason", "deploy", "--ticket", "CHG-9", "-o", "json")
	var q struct{ ID string }
	if json.Unmarshal([]byte(out), &q); err != nil || q.ID == "" {
		t.Fatalf("request: %v\n%s", err, out)
	}
	if out, err := d.as(bob, "approve", q.ID); err != nil {
		t.Fatalf("approve: %v\n%s", err, out)
	}
	if out, err := d.jitd("grant", "add", "--user", "carol", "--group", "prod-db-admins", "--for", "2s", "--reason", "INC-3"); err != nil {
		t.Fatalf("grant: %v\n%s", err, out)
	}
	from, to := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339), time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	out, err = d.jitd("report", "access", "--group", "prod-db-admins", "--from", from, "--to", to, "--format", "csv")
	if err != nil {
		t.Fatalf("report access: %v\n%s", err, out)
	}
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(recs) != 3 {
		t.Fatalf("csv: %v\n%s", err, out)
	}
	found := false
	for _, r := range recs[1:] {
		found = found || (r[2] == "alice" && r[8] == "bob" && r[9] == q.ID && r[10] == "CHG-9")
	}
	if !found {
		t.Fatalf("alice's row with bob's approval is missing:\n%s", out)
	}
	poll.Until(t, 15*time.Second, "carol's 2-second grant to be removed", func() bool {
		out, err := d.jitd("grant", "list", "--user", "carol", "--state", "revoked")
		return err == nil && strings.Contains(out, "prod-db-admins")
	})
	out, err = d.jitd("report", "lateness", "--from", from, "--to", to)
	var l struct {
		Count   int `json:"count"`
		Summary struct {
			Max float64 `json:"max_s"`
		} `json:"summary"`
	}
	if json.Unmarshal([]byte(out), &l); err != nil || l.Count != 1 || l.Summary.Max > 1 {
		t.Fatalf("lateness: %v %+v\n%s", err, l, out)
	}
	file := filepath.Join(t.TempDir(), "access.html")
	if out, err := d.jitd("report", "access", "--user", "alice", "--from", from, "--to", to, "--format", "html", "--out", file); err != nil {
		t.Fatalf("html: %v\n%s", err, out)
	}
	if b, _ := os.ReadFile(file); !strings.Contains(string(b), "<table") || !strings.Contains(string(b), "Access of alice") {
		t.Fatalf("the html report:\n%s", b)
	}
	if out, err := d.jitd("report", "access", "--user", "alice", "--from", from, "--to", to, "--out", file); err == nil || !strings.Contains(out, "never overwritten") {
		t.Fatalf("overwrote the report: %v\n%s", err, out)
	}
	if out, err := d.as(alice, "report", "lateness", "--from", from, "--to", to); err == nil || !strings.Contains(out, "may not audit.read") {
		t.Fatalf("alice reads reports: %v\n%s", err, out)
	}
	carol := d.token("carol", "requester")
	if out, err := d.as(carol, "breakglass", "--group", "prod-db-admins", "--for", "10m", "--reason", "INC-4"); err != nil {
		t.Fatalf("break glass: %v\n%s", err, out)
	}
	if out, err := d.jitd("report", "breakglass", "--from", from, "--to", to, "--format", "csv"); err != nil || !strings.Contains(out, "carol") || !strings.Contains(out, "INC-4") {
		t.Fatalf("break-glass report: %v\n%s", err, out)
	}
	if out, err := d.jitd("report", "accounts-past-end"); err != nil || !strings.Contains(out, `"accounts":[]`) {
		t.Fatalf("accounts past their end: %v\n%s", err, out)
	}
	if out, err := d.jitd("report", "conflicts", "--format", "html"); err != nil || !strings.Contains(out, "0 people hold groups") {
		t.Fatalf("conflicts: %v\n%s", err, out)
	}

	// The evidence bundle, checked offline (no daemon address) with the
	// public key; an altered copy fails with exit 3.
	bundle := filepath.Join(t.TempDir(), "evidence.tar.gz")
	if out, err := d.jitd("evidence", "export", "--from", from, "--to", time.Now().Add(time.Hour).UTC().Format(time.RFC3339), "--out", bundle); err != nil {
		t.Fatalf("evidence export: %v\n%s", err, out)
	}
	key, err := d.jitd("audit", "key")
	if err != nil || len(strings.TrimSpace(key)) != 64 {
		t.Fatalf("audit key: %v %q", err, key)
	}
	offline := func(path string) (string, error) {
		b, err := exec.Command(jitdBin, "--addr", "127.0.0.1:1", "audit", "verify", "--bundle", path, "--public-key", strings.TrimSpace(key)).CombinedOutput()
		return string(b), err
	}
	if out, err := offline(bundle); err != nil || !strings.Contains(out, "evidence bundle intact") {
		t.Fatalf("verify the bundle offline: %v\n%s", err, out)
	}
	raw, _ := os.ReadFile(bundle)
	broken := filepath.Join(t.TempDir(), "broken.tar.gz")
	os.WriteFile(broken, append(raw[:len(raw)-40:len(raw)-40], make([]byte, 40)...), 0o600)
	out, err = offline(broken)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Fatalf("a damaged bundle verified: %v\n%s", err, out)
	}
}

// The audit log streams to a file a log shipper reads: every event, in
// order, across a SIGKILL of the daemon (an event may come twice, none is
// lost).
func TestE2E_AuditStreamSurvivesAKill(t *testing.T) {
	dir, addr := t.TempDir(), freeAddr(t)
	p := writeConfig(t, dir, addr)
	stream := filepath.Join(dir, "siem", "audit.jsonl")
	os.MkdirAll(filepath.Dir(stream), 0o700)
	f, _ := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0o600)
	fmt.Fprintf(f, "siem:\n  sinks:\n    - {name: shipper, kind: file, path: %s}\n", stream)
	f.Close()
	d := start(t, dir, addr)
	seen := func() map[int64]int {
		b, _ := os.ReadFile(stream)
		out := map[int64]int{}
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var e struct{ Seq int64 }
			if json.Unmarshal([]byte(line), &e) == nil && e.Seq > 0 {
				out[e.Seq]++
			}
		}
		return out
	}
	if out, err := d.jitd("grant", "add", "--user", "alice", "--group", "prod-db-admins", "--for", "1h", "--reason", "INC-1"); err != nil {
		t.Fatalf("grant: %v\n%s", err, out)
	}
	poll.Until(t, 10*time.Second, "the grant's events in the stream", func() bool {
		b, _ := os.ReadFile(stream)
		return strings.Contains(string(b), `"grant.active"`)
	})
	d.cmd.Process.Signal(syscall.SIGKILL)
	<-d.done
	d = start(t, dir, addr)
	if out, err := d.jitd("grant", "add", "--user", "bob", "--group", "prod-db-admins", "--for", "1h", "--reason", "INC-2"); err != nil {
		t.Fatalf("grant after the restart: %v\n%s", err, out)
	}
	var head int64
	defer func() {
		if t.Failed() {
			t.Logf("head %d, stream %v", head, seen())
		}
	}()
	poll.Until(t, 10*time.Second, "every event in the stream", func() bool {
		out, err := d.jitd("audit", "list", "--limit", "1", "-o", "json")
		var l []struct{ Seq int64 }
		if err != nil || json.Unmarshal([]byte(out), &l) != nil || len(l) == 0 {
			return false
		}
		head = l[0].Seq
		got := seen()
		for s := int64(1); s <= head; s++ {
			if got[s] == 0 {
				return false
			}
		}
		return true
	})
	if resp, err := http.Get("http://" + addr + "/metrics"); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(b), `jitd_siem_lag_events{sink="shipper"}`) {
			t.Errorf("no lag metric")
		}
	}
}
