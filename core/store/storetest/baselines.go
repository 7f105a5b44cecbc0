package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jitd/jitd/core/store"
)

func testBaselineAndDrift(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, ok, err := s.Baseline(ctx, "d", "g1"); ok || err != nil {
		t.Fatalf("baseline before recording: ok=%v err=%v", ok, err)
	}
	err := s.Update(ctx, func(tx store.Tx) error {
		if err := tx.RecordBaseline("d", "g1", nil, t0, "jitd"); err != nil { // an empty group
			return err
		}
		return tx.RecordBaseline("d", "g1", []string{"u2", "u1"}, t0.Add(time.Hour), "admin")
	})
	if err != nil {
		t.Fatal(err)
	}
	if m, ok, err := s.Baseline(ctx, "d", "g1"); !ok || err != nil || fmt.Sprint(m) != "[u1 u2]" {
		t.Fatalf("baseline = %v %v %v", m, ok, err)
	}
	d := store.Drift{Directory: "d", GroupID: "g1", UserID: "u3", GroupName: "admins", UserName: "mallory", FirstSeen: t0, LastSeen: t0}
	var fresh, again bool
	s.Update(ctx, func(tx store.Tx) (err error) { fresh, err = tx.OpenDrift(d); return err })
	d.LastSeen = t0.Add(time.Minute)
	s.Update(ctx, func(tx store.Tx) (err error) { again, err = tx.OpenDrift(d); return err })
	got, _ := s.Drift(ctx, "")
	if !fresh || again || len(got) != 1 || !got[0].FirstSeen.Equal(t0) || !got[0].LastSeen.Equal(t0.Add(time.Minute)) {
		t.Fatalf("drift: new=%v again=%v rows=%+v", fresh, again, got)
	}
	var closed bool
	s.Update(ctx, func(tx store.Tx) (err error) { closed, err = tx.CloseDrift("d", "g1", "u3"); return err })
	if got, _ := s.Drift(ctx, "d"); !closed || len(got) != 0 {
		t.Fatalf("after close: %v %+v", closed, got)
	}
}

func testBaselineMembers(t *testing.T, s store.Store) {
	ctx := context.Background()
	err := s.Update(ctx, func(tx store.Tx) error {
		if err := tx.RecordBaseline("d", "g1", []string{"u1"}, t0, "jitd"); err != nil {
			return err
		}
		return tx.RecordBaseline("d", "g1", []string{"u2"}, t0.Add(time.Hour), "erin")
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.BaselineMembers(ctx, "d", "g1")
	if err != nil || len(got) != 2 || got[0].AddedBy != "jitd" || got[1].AddedBy != "erin" || !got[1].AddedAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("baseline members = %+v, %v", got, err)
	}
	var removed, again bool
	s.Update(ctx, func(tx store.Tx) (err error) { removed, err = tx.RemoveBaselineMember("d", "g1", "u1"); return err })
	s.Update(ctx, func(tx store.Tx) (err error) { again, err = tx.RemoveBaselineMember("d", "g1", "u1"); return err })
	if m, ok, _ := s.Baseline(ctx, "d", "g1"); !removed || again || !ok || fmt.Sprint(m) != "[u2]" {
		t.Fatalf("after removal: removed=%v again=%v baseline=%v recorded=%v", removed, again, m, ok)
	}
}
