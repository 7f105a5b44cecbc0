package review_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitd/jitd/connectors/ldap"
	"github.com/jitd/jitd/core/audit"
	"github.com/jitd/jitd/core/fault"
	"github.com/jitd/jitd/core/request"
	"github.com/jitd/jitd/core/review"
	"github.com/jitd/jitd/core/store"
	"github.com/jitd/jitd/fixtures/need"
	"github.com/jitd/jitd/fixtures/pipeline"
	"github.com/jitd/jitd/fixtures/slapd"
)

var (
	srv      *slapd.Server
	startErr error
)

func TestMain(m *testing.M) {
	os.Exit(need.Run(m, need.Fixture{Name: "slapd", Err: &startErr,
		Start: func() (err error) { srv, err = slapd.Start(slapd.Options{}); return err }, Stop: func() { srv.Stop() }}))
}

// standing returns a pipeline on slapd whose prod-db-admins and
// payments-release already hold members when jitd first sees them (their
// baseline), synced once.
func standing(t *testing.T, members map[string][]string) (*pipeline.Pipeline, *ldap.Conn) {
	t.Helper()
	slapd.Need(t, srv, startErr)
	ctx := context.Background()
	if err := srv.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	conn, err := ldap.New(ldap.Config{URL: srv.LDAPSURL, CAFile: srv.CAFile, BindDN: slapd.ServiceDN, BindPasswordFile: filepath.Join(srv.PasswordDir, "service"),
		UserBase: slapd.PeopleBase, GroupBase: slapd.GroupBase, EmptyMember: slapd.EmptyMember, ManagerAttr: "manager"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	for group, logins := range members {
		g, err := conn.LookupGroup(ctx, group)
		if err != nil {
			t.Fatal(err)
		}
		var users []string
		for _, l := range logins {
			u, err := conn.LookupUser(ctx, l)
			if err != nil {
				t.Fatal(err)
			}
			users = append(users, u.ID)
		}
		if _, err := conn.AddMembers(ctx, g.ID, users); err != nil {
			t.Fatal(err)
		}
	}
	p := pipeline.New(t, "corp", conn, "prod-db-admins", "payments-release")
	p.Cycle(true)
	return p, conn
}

func isMember(t *testing.T, conn *ldap.Conn, group, login string) bool {
	t.Helper()
	ctx := context.Background()
	g, err := conn.LookupGroup(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	u, err := conn.LookupUser(ctx, login)
	if err != nil {
		t.Fatal(err)
	}
	in, err := conn.IsMember(ctx, g.ID, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func items(t *testing.T, p *pipeline.Pipeline, id string) map[string]store.CampaignItem {
	t.Helper()
	its, err := p.Store.CampaignItems(context.Background(), store.CampaignItemFilter{CampaignID: id})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]store.CampaignItem{}
	for _, it := range its {
		out[it.GroupName+"/"+it.UserName] = it
	}
	return out
}

// A review of the standing members of JIT-managed groups: the owners
// decide, nobody decides their own access, a revoke leaves real OpenLDAP
// through the expiry queue and the baseline, "make it just-in-time" does
// too and lets policy allow it by request from now on, keep changes
// nothing, and every decision is in the audit log with its comment.
func TestReview_StandingMembersDecidedOnOpenLDAP(t *testing.T) {
	ctx := context.Background()
	p, conn := standing(t, map[string][]string{"prod-db-admins": {"alice", "carol", "dave"}, "payments-release": {"bob"}})
	p.Owners("prod-db-admins", "alice", "bob")

	c, err := p.Reviews.Create(ctx, review.Spec{Name: "Q1 admins", Scope: review.Scope{Kind: review.ScopeStanding},
		Reviewers: review.Reviewers{Kind: review.ReviewersOwners, Users: []string{"erin"}}}, "erin", "")
	if err != nil {
		t.Fatal(err)
	}
	its := items(t, p, c.ID)
	if len(its) != 4 {
		t.Fatalf("items = %v, want the four standing members", its)
	}
	// alice owns the group but does not review herself: bob does.
	if got := its["prod-db-admins/alice"].Reviewers; !slices.Equal(got, []string{"bob"}) {
		t.Fatalf("alice's reviewers = %v, want [bob]", got)
	}
	if got := its["prod-db-admins/carol"].Reviewers; !slices.Equal(got, []string{"alice", "bob"}) {
		t.Fatalf("carol's reviewers = %v", got)
	}
	// payments-release has no owners: the named fallback reviews it.
	if got := its["payments-release/bob"]; !slices.Equal(got.Reviewers, []string{"erin"}) || got.Source != "baseline" {
		t.Fatalf("bob's item = %+v", got)
	}

	alice, carol, dave := its["prod-db-admins/alice"].Seq, its["prod-db-admins/carol"].Seq, its["prod-db-admins/dave"].Seq
	if _, err := p.Reviews.Decide(ctx, c.ID, alice, review.Decider{Login: "alice", Admin: true}, "keep", ""); !errors.Is(err, fault.ErrForbidden) {
		t.Fatalf("alice deciding her own access: %v, want forbidden", err)
	}
	if _, err := p.Reviews.Decide(ctx, c.ID, carol, review.Decider{Login: "dave"}, "keep", ""); !errors.Is(err, fault.ErrForbidden) {
		t.Fatalf("a non-reviewer deciding: %v, want forbidden", err)
	}
	if _, err := p.Reviews.Decide(ctx, c.ID, carol, review.Decider{Login: "bob"}, "maybe", ""); !errors.Is(err, fault.ErrInvalid) {
		t.Fatalf("a bad decision: %v, want invalid", err)
	}
	if _, err := p.Reviews.Decide(ctx, c.ID, carol, review.Decider{Login: "bob"}, "revoke", "left the DBA team"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Reviews.Decide(ctx, c.ID, carol, review.Decider{Login: "alice"}, "keep", ""); !errors.Is(err, fault.ErrConflict) {
		t.Fatalf("deciding twice: %v, want conflict", err)
	}
	if _, err := p.Reviews.Decide(ctx, c.ID, dave, review.Decider{Login: "alice"}, "jit", "needs it twice a year"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Reviews.Decide(ctx, c.ID, alice, review.Decider{Login: "bob"}, "keep", "on call lead"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Queue.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if isMember(t, conn, "prod-db-admins", "carol") || isMember(t, conn, "prod-db-admins", "dave") {
		t.Fatal("a revoked standing membership is still in OpenLDAP")
	}
	if !isMember(t, conn, "prod-db-admins", "alice") || !isMember(t, conn, "payments-release", "bob") {
		t.Fatal("a kept (or undecided) membership was removed")
	}
	// They are out of the baseline: back in the group by hand, they are drift.
	rep := p.Cycle(true)
	if rep.DriftNew != 0 {
		t.Fatalf("drift after the review: %+v", rep)
	}
	g, _ := p.Store.MirrorGroup(ctx, "corp", "prod-db-admins")
	if base, _, _ := p.Store.Baseline(ctx, "corp", g.ID); len(base) != 1 {
		t.Fatalf("baseline after the review = %v, want alice only", base)
	}
	in, err := request.Input(ctx, p.Store, p.Clock.Now(), "corp", "dave")
	if err != nil || !slices.Equal(in.JITGroups, []string{"prod-db-admins"}) {
		t.Fatalf("dave's jit groups = %v %v", in.JITGroups, err)
	}
	if in, _ := request.Input(ctx, p.Store, p.Clock.Now(), "corp", "carol"); len(in.JITGroups) != 0 {
		t.Fatalf("carol (revoked) may ask by request: %v", in.JITGroups)
	}
	decided := 0
	evs, _ := p.Store.AuditEvents(ctx, store.AuditFilter{})
	for _, e := range evs {
		if e.Action == audit.ReviewDecided && e.GrantID == c.ID {
			decided++
			if e.User == "carol" && (e.Actor != "bob" || !strings.Contains(e.Detail, "left the DBA team")) {
				t.Fatalf("carol's decision audited as %+v", e)
			}
		}
	}
	if decided != 3 {
		t.Fatalf("%d decisions audited, want 3", decided)
	}
}

// A campaign whose reviewers never answer, with on_no_answer: revoke, is
// due while jitd is down: after the restart the undecided items are
// revoked by the due date's rule and leave OpenLDAP; reminders and the
// escalation to the reviewer's manager happened before.
func TestReview_NoAnswerRevokedAfterRestart(t *testing.T) {
	ctx := context.Background()
	p, conn := standing(t, map[string][]string{"prod-db-admins": {"carol", "dave"}})
	c, err := p.Reviews.Create(ctx, review.Spec{Name: "no answer", Scope: review.Scope{Kind: review.ScopeStanding, Groups: []string{"prod-db-admins"}},
		Reviewers: review.Reviewers{Kind: review.ReviewersNamed, Users: []string{"alice"}}, Duration: 7 * 24 * time.Hour,
		Remind: []time.Duration{24 * time.Hour}, EscalateAfter: 3 * 24 * time.Hour, OnNoAnswer: "revoke"}, "erin", "")
	if err != nil {
		t.Fatal(err)
	}
	// Escalation: alice's manager, bob, reviews too (carol reports to alice,
	// but her item never goes to herself).
	p.Clock.Advance(3*24*time.Hour + time.Minute)
	if _, _, err := p.Reviews.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	its := items(t, p, c.ID)
	if got := its["prod-db-admins/carol"].Reviewers; !slices.Equal(got, []string{"alice", "bob"}) {
		t.Fatalf("carol's reviewers after escalation = %v", got)
	}
	p.Clock.Advance(3 * 24 * time.Hour) // a day before the due date: the reminder
	next, ok, err := p.Reviews.RunOnce(ctx)
	if err != nil || !ok || !next.Equal(c.DueAt) {
		t.Fatalf("next = %v %v %v, want the due date %v", next, ok, err, c.DueAt)
	}
	p.Restart()
	p.Clock.Set(c.DueAt.Add(time.Hour)) // due while jitd was down
	if _, _, err := p.Reviews.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Queue.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if isMember(t, conn, "prod-db-admins", "carol") || isMember(t, conn, "prod-db-admins", "dave") {
		t.Fatal("an unanswered item of an on_no_answer: revoke campaign is still in OpenLDAP after the due date")
	}
	got, _ := p.Store.Campaign(ctx, c.ID)
	counts, _ := p.Store.CampaignCounts(ctx, c.ID)
	if got.State != store.CampaignClosed || got.ClosedBy != "jitd" || counts.Revoke != 2 || counts.Unapplied != 0 {
		t.Fatalf("campaign = %+v counts %+v", got, counts)
	}
	var actions []string
	evs, _ := p.Store.AuditEvents(ctx, store.AuditFilter{})
	for _, e := range evs {
		if e.GrantID == c.ID {
			actions = append(actions, e.Action)
		}
	}
	for _, want := range []string{audit.ReviewOpened, audit.ReviewEscalated, audit.ReviewReminder, audit.ReviewDecided, audit.ReviewApplied, audit.ReviewClosed} {
		if !slices.Contains(actions, want) {
			t.Fatalf("no %s in the campaign's audit trail %v", want, actions)
		}
	}
}
