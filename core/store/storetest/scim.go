package storetest

import (
	"context"
	"testing"

	"github.com/jitd/jitd/core/store"
)

func testSCIMResources(t *testing.T, s store.Store) {
	ctx := context.Background()
	set := func(r store.SCIMResource) {
		t.Helper()
		if err := s.Update(ctx, func(tx store.Tx) error { return tx.SetSCIMResource(r) }); err != nil {
			t.Fatal(err)
		}
	}
	get := func(kind string, ids ...string) map[string]store.SCIMResource {
		t.Helper()
		got, err := s.SCIMResources(ctx, "d", kind, ids)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	set(store.SCIMResource{Directory: "d", Kind: "user", ID: "u1", ExternalID: "okta-1"})
	set(store.SCIMResource{Directory: "d", Kind: "user", ID: "u2", ExternalID: "okta-2", Attrs: `{"nickName":"Bo"}`})
	set(store.SCIMResource{Directory: "d", Kind: "group", ID: "u1", ExternalID: "okta-g"})
	set(store.SCIMResource{Directory: "e", Kind: "user", ID: "u1", ExternalID: "other"})
	set(store.SCIMResource{Directory: "d", Kind: "user", ID: "u3", Attrs: `{"locale":"en-GB"}`})                        // attributes, no externalId
	set(store.SCIMResource{Directory: "d", Kind: "user", ID: "u2", ExternalID: "okta-2b", Attrs: `{"nickName":"Bob"}`}) // replaced
	got := get("user", "u1", "u2", "u3", "u4")
	if len(got) != 3 || got["u1"].ExternalID != "okta-1" || got["u1"].Attrs != "" ||
		got["u2"].ExternalID != "okta-2b" || got["u2"].Attrs != `{"nickName":"Bob"}` ||
		got["u3"].ExternalID != "" || got["u3"].Attrs != `{"locale":"en-GB"}` {
		t.Fatalf("SCIMResources = %+v", got)
	}
	if ids, err := s.SCIMByExternalID(ctx, "d", "user", "okta-1"); err != nil || len(ids) != 1 || ids[0] != "u1" {
		t.Fatalf("SCIMByExternalID(okta-1) = %v, %v", ids, err)
	}
	if ids, _ := s.SCIMByExternalID(ctx, "d", "user", "okta-2"); len(ids) != 0 {
		t.Fatalf("a replaced externalId still finds %v", ids)
	}
	if ids, _ := s.SCIMByExternalID(ctx, "d", "user", ""); len(ids) != 0 {
		t.Fatalf("the empty externalId finds %v", ids)
	}
	set(store.SCIMResource{Directory: "d", Kind: "user", ID: "u1"}) // forgotten
	if got := get("user", "u1"); len(got) != 0 {
		t.Fatalf("a forgotten resource still has %v", got)
	}
	if got := get("group", "u1"); got["u1"].ExternalID != "okta-g" {
		t.Fatalf("kinds must not mix: %v", got)
	}
}
