package main

import (
	"encoding/csv"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jitd/jitd/fixtures/poll"
)

// demoMembers returns the logins of a group's members as the example's demo
// directory holds them now.
func demoMembers(t *testing.T, d *proc, group string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(d.dir, "var", "demo-directory.json"))
	if err != nil {
		t.Fatal(err)
	}
	var data struct {
		Users []struct {
			ID    string `json:"id"`
			Login string `json:"login"`
		} `json:"users"`
		Groups []struct {
			Name    string   `json:"name"`
			Members []string `json:"members"`
		} `json:"groups"`
	}
	if err := json.Unmarshal(b, &data); err != nil {
		t.Fatal(err)
	}
	login := map[string]string{}
	for _, u := range data.Users {
		login[u.ID] = u.Login
	}
	var out []string
	for _, g := range data.Groups {
		if g.Name == group {
			for _, m := range g.Members {
				out = append(out, login[m])
			}
		}
	}
	slices.Sort(out)
	return out
}

type campaignJSON struct {
	ID     string
	State  string
	Counts struct{ Items, Pending, Keep, Revoke, JIT int }
	Items  []struct {
		Seq                       int
		User, Decision, DecidedBy string
		Reviewers                 []string
	}
}

func (d *proc) campaign(tok string, args ...string) campaignJSON {
	d.t.Helper()
	out, err := d.as(tok, append(args, "-o", "json")...)
	var c campaignJSON
	if err != nil || json.Unmarshal([]byte(out), &c) != nil {
		d.t.Fatalf("jitd %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return c
}

func (c campaignJSON) item(user string) (seq int, reviewers []string) {
	for _, it := range c.Items {
		if it.User == user {
			return it.Seq, it.Reviewers
		}
	}
	return 0, nil
}

// An access review from the command line: an admin opens it over a
// group's members with their managers as reviewers; each reviewer sees
// and decides only their own items, nobody their own access, an auditor
// nothing; a revocation leaves the directory; closing keeps what nobody
// answered, as the campaign said; the results report lists every decision.
func TestE2E_AccessReviewCampaignFromTheCommandLine(t *testing.T) {
	d := exampleDaemon(t)
	erin, alice, bob, grace := d.token("erin", "admin"), d.token("alice", "requester"), d.token("bob", "approver"), d.token("grace", "auditor")

	if out, err := d.as(alice, "review", "campaign", "create", "--name", "x", "--scope", "members", "--group", "staff", "--reviewers", "manager"); err == nil {
		t.Fatalf("a requester opened a campaign:\n%s", out)
	}
	if out, err := d.as(erin, "review", "campaign", "create", "--name", "x", "--scope", "members", "--reviewers", "manager"); err == nil || !strings.Contains(out, "scope.groups") {
		t.Fatalf("a members campaign without groups: %v\n%s", err, out)
	}
	c := d.campaign(erin, "review", "campaign", "create", "--name", "Staff Q4", "--scope", "members", "--group", "staff",
		"--reviewers", "manager", "--due", "2h", "--remind", "1h", "--on-no-answer", "keep")
	all := d.campaign(erin, "review", "campaign", "show", c.ID)
	if all.Counts.Items != 3 || all.Counts.Pending != 3 {
		t.Fatalf("staff has alice, bob and carol: %+v", all)
	}
	carolSeq, carolRev := all.item("carol")
	aliceSeq, aliceRev := all.item("alice")
	if !slices.Equal(carolRev, []string{"alice"}) || !slices.Equal(aliceRev, []string{"bob"}) {
		t.Fatalf("reviewers are the managers: carol %v, alice %v", carolRev, aliceRev)
	}

	// alice reviews carol, and only carol: not her own access.
	mine := d.campaign(alice, "review", "campaign", "show", c.ID)
	if len(mine.Items) != 1 || mine.Items[0].User != "carol" {
		t.Fatalf("alice's items: %+v", mine.Items)
	}
	for who, try := range map[string][]string{
		"alice decides her own access":        {alice, c.ID, strconv.Itoa(aliceSeq), "keep"},
		"an auditor decides":                  {grace, c.ID, strconv.Itoa(carolSeq), "keep"},
		"bob decides an item that is alice's": {bob, c.ID, strconv.Itoa(carolSeq), "revoke"},
		"a decision that does not exist":      {alice, c.ID, strconv.Itoa(carolSeq), "maybe"},
	} {
		if out, err := d.as(try[0], "review", "campaign", "decide", try[1], try[2], try[3]); err == nil {
			t.Errorf("%s: allowed\n%s", who, out)
		}
	}
	if out, err := d.as(alice, "review", "campaign", "decide", c.ID, strconv.Itoa(carolSeq), "revoke", "--comment", "moved to sales"); err != nil {
		t.Fatalf("alice revokes carol: %v\n%s", err, out)
	}
	if out, err := d.as(alice, "review", "campaign", "decide", c.ID, strconv.Itoa(carolSeq), "keep"); err == nil {
		t.Errorf("a decision changed after it was made:\n%s", out)
	}
	if out, err := d.as(bob, "review", "campaign", "decide", c.ID, strconv.Itoa(aliceSeq), "keep", "--comment", "on the team"); err != nil {
		t.Fatalf("bob keeps alice: %v\n%s", err, out)
	}
	poll.Until(t, 10*time.Second, "carol to leave staff in the directory", func() bool {
		return slices.Equal(demoMembers(t, d, "staff"), []string{"alice", "bob"})
	})

	// Closing: bob's own item (nobody above him) is kept, as on_no_answer says.
	if out, err := d.as(bob, "review", "campaign", "close", c.ID); err == nil {
		t.Errorf("an approver closed a campaign:\n%s", out)
	}
	closed := d.campaign(erin, "review", "campaign", "close", c.ID)
	if closed.State != "closed" || closed.Counts.Keep != 2 || closed.Counts.Revoke != 1 || closed.Counts.Pending != 0 {
		t.Fatalf("closed: %+v", closed)
	}
	if out, err := d.as(alice, "review", "campaign", "list", "--state", "open"); err != nil || strings.Contains(out, c.ID) {
		t.Errorf("a closed campaign listed as open: %v\n%s", err, out)
	}

	out, err := d.as(grace, "report", "campaign", "--id", c.ID, "--format", "csv")
	if err != nil {
		t.Fatalf("report campaign: %v\n%s", err, out)
	}
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(recs) != 4 {
		t.Fatalf("a header and three decisions: %v\n%s", err, out)
	}
	if !strings.Contains(out, "carol") || !strings.Contains(out, "moved to sales") || !strings.Contains(out, "revoke") {
		t.Errorf("the report lacks alice's decision:\n%s", out)
	}
	if out, err := d.jitd("audit", "verify"); err != nil {
		t.Errorf("audit verify: %v\n%s", err, out)
	}
}

// The portal's access review pages: an admin opens a campaign over the
// standing members of JIT-managed groups with their owners as reviewers;
// nobody else may open one, nor post from another site; a reviewer's
// "make it just-in-time" takes the standing membership out of the
// directory.
func TestE2E_PortalAccessReview(t *testing.T) {
	d := exampleDaemon(t)
	alice, bob, erin, grace := signIn(t, d.addr, "alice"), signIn(t, d.addr, "bob"), signIn(t, d.addr, "erin"), signIn(t, d.addr, "grace")
	for _, p := range []*person{alice, bob, erin, grace} {
		if code, body := p.get("/ui/campaigns"); code != http.StatusOK || !strings.Contains(body, "Access reviews") {
			t.Errorf("GET /ui/campaigns: %d\n%s", code, body)
		}
	}
	form := url.Values{"name": {"Release standing access"}, "scope": {"standing"}, "groups": {"payments-release"}, "reviewers": {"owners"}, "due": {"7d"}, "on_no_answer": {"keep"}}
	if code, _ := bob.post("/ui/campaigns", form); code != http.StatusForbidden {
		t.Errorf("an approver opens a campaign: %d", code)
	}
	if code, _ := erin.postFrom("http://evil.example", "/ui/campaigns", form); code != http.StatusForbidden {
		t.Errorf("a cross-site post opens a campaign: %d", code)
	}
	code, loc := erin.post("/ui/campaigns", form)
	m := regexp.MustCompile(`/ui/campaigns/([^?/"]+)\?done=campaign-opened`).FindStringSubmatch(loc)
	if code != http.StatusSeeOther || m == nil {
		t.Fatalf("erin opens a campaign: %d %s", code, loc)
	}
	page := "/ui/campaigns/" + m[1]
	if code, body := alice.get(page); code != http.StatusNotFound {
		t.Errorf("alice, who reviews nothing here, sees the campaign: %d\n%s", code, body)
	}
	_, body := bob.get(page)
	if strings.Contains(body, `name="decision"`) {
		t.Errorf("bob is offered a decision on his own access:\n%s", body)
	}
	_, body = erin.get(page)
	item := regexp.MustCompile(`action="(` + regexp.QuoteMeta(page) + `/items/\d+)"`).FindStringSubmatch(body)
	if item == nil || !strings.Contains(body, "bob") || !strings.Contains(body, "Make just-in-time") {
		t.Fatalf("erin, the group's owner, is not offered bob's standing membership:\n%s", body)
	}
	if code, _ := bob.post(item[1], url.Values{"decision": {"keep"}}); code != http.StatusForbidden {
		t.Errorf("bob keeps his own access: %d", code)
	}
	if code, _ := grace.post(item[1], url.Values{"decision": {"keep"}}); code != http.StatusForbidden {
		t.Errorf("an auditor decides: %d", code)
	}
	if code, loc := erin.post(item[1], url.Values{"decision": {"jit"}, "comment": {"release rights by request from now on"}}); code != http.StatusSeeOther || !strings.Contains(loc, "item-decided") {
		t.Fatalf("erin makes it just-in-time: %d %s", code, loc)
	}
	poll.Until(t, 10*time.Second, "bob's standing membership to leave payments-release", func() bool {
		return len(demoMembers(t, d, "payments-release")) == 0
	})
	if _, body := grace.get(page + "?all=1&pending=0"); !strings.Contains(body, "<strong>jit</strong> by erin") {
		t.Errorf("the auditor does not see the decision:\n%s", body)
	}
	if code, _ := grace.post(page+"/close", nil); code != http.StatusForbidden {
		t.Errorf("an auditor closes the campaign: %d", code)
	}
	if code, loc := erin.post(page+"/close", nil); code != http.StatusSeeOther || !strings.Contains(loc, "campaign-closed") {
		t.Errorf("erin closes: %d %s", code, loc)
	}
}
