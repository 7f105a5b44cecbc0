package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jitd/jitd/core/audit"
	"github.com/jitd/jitd/core/store"
)

func testAuditChain(t *testing.T, s store.Store) {
	ctx := context.Background()
	for i := range 5 {
		err := s.Update(ctx, func(tx store.Tx) error {
			_, err := tx.AppendAudit(audit.Event{Time: t0.Add(time.Duration(i) * time.Second), Actor: "admin", Action: audit.GrantRequested, GrantID: fmt.Sprint("g", i), Detail: "reason"})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	v := audit.NewVerifier()
	if err := s.WalkAudit(ctx, func(e audit.Event) error { v.Add(e); return nil }); err != nil {
		t.Fatal(err)
	}
	seq, hash, err := s.AuditHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if p := v.Finish(seq, hash); len(p) != 0 || v.Count != 5 {
		t.Fatalf("fresh chain of %d events has problems: %v", v.Count, p)
	}
	evs, _ := s.AuditEvents(ctx, store.AuditFilter{GrantID: "g3"})
	if len(evs) != 1 || evs[0].Seq != 4 || evs[0].Detail != "reason" || !evs[0].Time.Equal(t0.Add(3*time.Second)) {
		t.Fatalf("AuditEvents(g3) = %+v", evs)
	}
	all, _ := s.AuditEvents(ctx, store.AuditFilter{Limit: 2})
	if len(all) != 2 || all[0].Seq != 5 {
		t.Fatalf("AuditEvents(limit 2) should be the newest two, got %+v", all)
	}
	next, _ := s.AuditEvents(ctx, store.AuditFilter{Limit: 2, Before: all[1].Seq})
	if len(next) != 2 || next[0].Seq != 3 || next[1].Seq != 2 {
		t.Fatalf("the next page after %d should be 3 and 2, got %+v", all[1].Seq, next)
	}
	if first, _ := s.AuditEvents(ctx, store.AuditFilter{Limit: 2, Ascending: true}); len(first) != 2 || first[0].Seq != 1 || first[1].Seq != 2 {
		t.Fatalf("the first two, oldest first, should be 1 and 2, got %+v", first)
	}
	after, _ := s.AuditEvents(ctx, store.AuditFilter{Limit: 2, Ascending: true, After: 2})
	if len(after) != 2 || after[0].Seq != 3 || after[1].Seq != 4 {
		t.Fatalf("two events after 2, oldest first, should be 3 and 4, got %+v", after)
	}
}
