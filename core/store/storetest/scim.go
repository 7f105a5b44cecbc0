package storetest

import (
	"context"
	"maps"
	"testing"

	"github.com/jitd/jitd/core/store"
)

func testSCIMExternalIDs(t *testing.T, s store.Store) {
	ctx := context.Background()
	set := func(e store.SCIMExternal) {
		t.Helper()
		if err := s.Update(ctx, func(tx store.Tx) error { return tx.SetSCIMExternalID(e) }); err != nil {
			t.Fatal(err)
		}
	}
	set(store.SCIMExternal{Directory: "d", Kind: "user", ID: "u1", ExternalID: "okta-1"})
	set(store.SCIMExternal{Directory: "d", Kind: "user", ID: "u2", ExternalID: "okta-2"})
	set(store.SCIMExternal{Directory: "d", Kind: "group", ID: "u1", ExternalID: "okta-g"})
	set(store.SCIMExternal{Directory: "e", Kind: "user", ID: "u1", ExternalID: "other"})
	set(store.SCIMExternal{Directory: "d", Kind: "user", ID: "u2", ExternalID: "okta-2b"}) // replaced
	got, err := s.SCIMExternalIDs(ctx, "d", "user", []string{"u1", "u2", "u3"})
	if want := map[string]string{"u1": "okta-1", "u2": "okta-2b"}; err != nil || !maps.Equal(got, want) {
		t.Fatalf("SCIMExternalIDs = %v, %v; want %v", got, err, want)
	}
	if ids, err := s.SCIMByExternalID(ctx, "d", "user", "okta-1"); err != nil || len(ids) != 1 || ids[0] != "u1" {
		t.Fatalf("SCIMByExternalID(okta-1) = %v, %v", ids, err)
	}
	if ids, _ := s.SCIMByExternalID(ctx, "d", "user", "okta-2"); len(ids) != 0 {
		t.Fatalf("a replaced externalId still finds %v", ids)
	}
	set(store.SCIMExternal{Directory: "d", Kind: "user", ID: "u1"}) // forgotten
	if got, _ := s.SCIMExternalIDs(ctx, "d", "user", []string{"u1"}); len(got) != 0 {
		t.Fatalf("a forgotten resource still has %v", got)
	}
	if got, _ := s.SCIMExternalIDs(ctx, "d", "group", []string{"u1"}); got["u1"] != "okta-g" {
		t.Fatalf("kinds must not mix: %v", got)
	}
}
