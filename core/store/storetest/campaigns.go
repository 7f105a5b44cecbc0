package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jitd/jitd/core/store"
)

func testCampaigns(t *testing.T, s store.Store) {
	ctx := context.Background()
	c := store.Campaign{ID: "c1", Name: "Q1", Schedule: "quarterly", Settings: `{"scope":{}}`, OnNoAnswer: "revoke", State: store.CampaignOpen,
		CreatedBy: "erin", CreatedAt: t0, DueAt: t0.Add(14 * 24 * time.Hour), NextAt: t0.Add(7 * 24 * time.Hour)}
	items := []store.CampaignItem{
		{CampaignID: "c1", Seq: 1, Kind: store.ItemMembership, Source: "baseline", Directory: "d", GroupID: "g1", GroupName: "admins", UserID: "u1", UserName: "alice", Reviewers: []string{"bob", "carol"}},
		{CampaignID: "c1", Seq: 2, Kind: store.ItemMembership, Source: "accepted", Directory: "d", GroupID: "g1", GroupName: "admins", UserID: "u2", UserName: "dave", Reviewers: []string{"carol"}},
		{CampaignID: "c1", Seq: 3, Kind: store.ItemAccount, Source: "contractor", Directory: "d", UserID: "u3", UserName: "ext-x", Ref: "a1", Detail: "sponsor bob", Reviewers: nil},
	}
	err := s.Update(ctx, func(tx store.Tx) error {
		if err := tx.InsertCampaign(c); err != nil {
			return err
		}
		return tx.InsertCampaignItems(items)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.InsertCampaign(c) }); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second insert: %v, want ErrConflict", err)
	}
	got, err := s.Campaign(ctx, "c1")
	if err != nil || got != c {
		t.Fatalf("campaign = %+v, %v; want %+v", got, err, c)
	}
	if _, err := s.Campaign(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing campaign: %v", err)
	}
	if next, ok, err := s.NextCampaignDue(ctx); !ok || err != nil || !next.Equal(c.NextAt) {
		t.Fatalf("next due = %v %v %v", next, ok, err)
	}
	mine, _ := s.CampaignItems(ctx, store.CampaignItemFilter{CampaignID: "c1", Reviewer: "CAROL"})
	if len(mine) != 2 || mine[0].Seq != 1 || mine[1].Seq != 2 || fmt.Sprint(mine[0].Reviewers) != "[bob carol]" {
		t.Fatalf("carol's items = %+v", mine)
	}

	// A decision, a reviewer change and an effect.
	err = s.Update(ctx, func(tx store.Tx) error {
		it, err := tx.CampaignItem("c1", 1)
		if err != nil {
			return err
		}
		it.Decision, it.DecidedBy, it.DecidedAt, it.Comment = store.DecisionRevoke, "bob", t0.Add(time.Hour), "left the team"
		if err := tx.UpdateCampaignItem(it); err != nil {
			return err
		}
		it2, _ := tx.CampaignItem("c1", 2)
		it2.Reviewers = []string{"frank"}
		return tx.UpdateCampaignItem(it2)
	})
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := s.CampaignItems(ctx, store.CampaignItemFilter{Reviewer: "carol"}); len(n) != 1 {
		t.Fatalf("carol's items after reassignment = %+v", n)
	}
	if n, _ := s.CampaignItems(ctx, store.CampaignItemFilter{Reviewer: "frank", Pending: true}); len(n) != 1 || n[0].Seq != 2 {
		t.Fatalf("frank's pending items = %+v", n)
	}
	un, _ := s.CampaignItems(ctx, store.CampaignItemFilter{Unapplied: true})
	if len(un) != 1 || un[0].Seq != 1 || un[0].Comment != "left the team" {
		t.Fatalf("unapplied = %+v", un)
	}
	counts, err := s.CampaignCounts(ctx, "c1")
	if err != nil || counts != (store.CampaignCounts{Items: 3, Pending: 2, Revoke: 1, Unapplied: 1}) {
		t.Fatalf("counts = %+v %v", counts, err)
	}
	if n, err := s.CountCampaignItems(ctx, store.CampaignItemFilter{CampaignID: "c1", Reviewer: "Frank", Pending: true, Limit: 1}); err != nil || n != 1 {
		t.Fatalf("frank's pending items counted %d, %v", n, err)
	}
	if l, _ := s.Campaigns(ctx, store.CampaignFilter{Reviewer: "CAROL"}); len(l) != 1 || l[0].ID != "c1" {
		t.Fatalf("carol's campaigns = %+v", l)
	}
	if l, _ := s.Campaigns(ctx, store.CampaignFilter{Reviewer: "mallory"}); len(l) != 0 {
		t.Fatalf("mallory reviews campaigns %+v", l)
	}
	page, _ := s.CampaignItems(ctx, store.CampaignItemFilter{CampaignID: "c1", AfterSeq: 1, Limit: 1})
	if len(page) != 1 || page[0].Seq != 2 {
		t.Fatalf("page after seq 1 = %+v", page)
	}

	c.State, c.ClosedAt, c.ClosedBy, c.NextAt = store.CampaignClosed, t0.Add(time.Hour), "jitd", time.Time{}
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.UpdateCampaign(c) }); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.NextCampaignDue(ctx); ok {
		t.Fatal("a closed campaign is still due")
	}
	if l, _ := s.Campaigns(ctx, store.CampaignFilter{State: store.CampaignOpen}); len(l) != 0 {
		t.Fatalf("open campaigns = %+v", l)
	}
	if l, _ := s.Campaigns(ctx, store.CampaignFilter{Schedule: "quarterly"}); len(l) != 1 || l[0].ClosedBy != "jitd" {
		t.Fatalf("quarterly campaigns = %+v", l)
	}

	s.Update(ctx, func(tx store.Tx) error { return tx.AddJITGroup("d", "g1", "admins", "u1", t0, "bob") })
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.AddJITGroup("d", "g1", "admins", "u1", t0, "bob") }); err != nil {
		t.Fatalf("recording again: %v", err)
	}
	if g, err := s.JITGroups(ctx, "d", "u1"); err != nil || fmt.Sprint(g) != "[admins]" {
		t.Fatalf("jit groups = %v %v", g, err)
	}
}
