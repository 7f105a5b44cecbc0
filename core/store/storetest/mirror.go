package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/jitd/jitd/connectors"
	"github.com/jitd/jitd/core/store"
)

// Person says whether a login is an enabled user of any directory, and
// whether any directory was read yet: what a person's token rests on.
func testPerson(t *testing.T, s store.Store) {
	ctx := context.Background()
	check := func(login string, wantFound, wantEnabled, wantSynced bool) {
		t.Helper()
		found, enabled, synced, err := s.Person(ctx, login)
		if err != nil || found != wantFound || enabled != wantEnabled || synced != wantSynced {
			t.Fatalf("Person(%s) = %v %v %v %v; want %v %v %v", login, found, enabled, synced, err, wantFound, wantEnabled, wantSynced)
		}
	}
	check("alice", false, false, false)
	err := s.Update(ctx, func(tx store.Tx) error {
		for _, u := range []struct {
			dir string
			u   connectors.User
		}{{"a", connectors.User{ID: "1", Login: "alice", Enabled: true}}, {"b", connectors.User{ID: "2", Login: "alice", Enabled: false}},
			{"a", connectors.User{ID: "3", Login: "dave", Enabled: false}}} {
			if err := tx.UpsertMirrorUser(u.dir, u.u, 1); err != nil {
				return err
			}
		}
		return tx.PutSyncState(store.SyncState{Directory: "a", Gen: 1, FullSyncs: 1, LastFullAt: t0})
	})
	if err != nil {
		t.Fatal(err)
	}
	check("alice", true, true, true) // enabled in one directory is enough
	check("dave", true, false, true)
	check("mallory", false, false, true)
}

func testMirror(t *testing.T, s store.Store) {
	ctx := context.Background()
	update := func(fn func(tx store.Tx) error) {
		t.Helper()
		if err := s.Update(ctx, fn); err != nil {
			t.Fatal(err)
		}
	}
	alice := connectors.User{ID: "u1", Login: "alice", DN: "uid=alice,o=x", Ref: "uid=alice,o=x", Enabled: true,
		Manager: "uid=bob,o=x", Attributes: map[string]string{"department": "payments", "title": "Engineer"}}
	bob := connectors.User{ID: "u2", Login: "bob", Ref: "uid=bob,o=x", Enabled: true}
	update(func(tx store.Tx) error {
		tx.UpsertMirrorUser("d", alice, 1)
		tx.UpsertMirrorUser("d", bob, 1)
		tx.UpsertMirrorUser("other", connectors.User{ID: "u1", Login: "alice-elsewhere", Ref: "uid=alice,o=x"}, 1)
		tx.UpsertMirrorGroup("d", connectors.Group{ID: "g1", Name: "admins"}, 1)
		return tx.ReplaceMirrorMembers("d", "g1", []string{"uid=alice,o=x", "uid=bob,o=x", "cn=nested-group,o=x"}, false)
	})
	members := func() string {
		us, err := s.MirrorMembers(ctx, "d", "g1")
		if err != nil {
			t.Fatal(err)
		}
		var logins []string
		for _, u := range us {
			logins = append(logins, u.Login)
		}
		return fmt.Sprint(logins)
	}
	if got := members(); got != "[alice bob]" {
		t.Fatalf("members by ref = %s (unknown refs are ignored, other directories too)", got)
	}
	if gs, err := s.MirrorUserGroups(ctx, "d", "u1"); err != nil || fmt.Sprint(gs) != "[admins]" {
		t.Fatalf("MirrorUserGroups(alice) = %v, %v", gs, err)
	}
	if gs, _ := s.MirrorUserGroups(ctx, "other", "u1"); len(gs) != 0 {
		t.Fatalf("groups leak across directories: %v", gs)
	}
	// Member changes: removed and added by ref, unknown refs and unknown
	// groups ignored, applying twice harmless.
	for range 2 {
		update(func(tx store.Tx) error {
			if err := tx.ChangeMirrorMembers("d", "g1", []string{"cn=nobody,o=x"}, []string{"uid=alice,o=x", "cn=nobody-else,o=x"}); err != nil {
				return err
			}
			return tx.ChangeMirrorMembers("d", "no-such-group", []string{"uid=alice,o=x"}, nil)
		})
		if got := members(); got != "[bob]" {
			t.Fatalf("after alice left = %s", got)
		}
	}
	if gs, _ := s.MirrorUserGroups(ctx, "d", "u1"); len(gs) != 0 {
		t.Fatalf("a member change on an unknown group made it: alice in %v", gs)
	}
	update(func(tx store.Tx) error { return tx.ChangeMirrorMembers("d", "g1", []string{"uid=alice,o=x"}, nil) })
	if got := members(); got != "[alice bob]" {
		t.Fatalf("after alice joined again = %s", got)
	}
	if gs, _ := s.MirrorUserGroups(ctx, "other", "u1"); len(gs) != 0 {
		t.Fatalf("a member change leaked across directories: %v", gs)
	}
	update(func(tx store.Tx) error { return tx.ReplaceMirrorMembers("d", "g1", []string{"u2"}, true) })
	if got := members(); got != "[bob]" {
		t.Fatalf("members replaced by id = %s", got)
	}
	if u, err := s.MirrorUser(ctx, "d", "alice"); err != nil || !reflect.DeepEqual(u, alice) {
		t.Fatalf("MirrorUser = %+v, %v", u, err)
	}
	if m, err := s.MirrorManager(ctx, "d", alice); err != nil || m.Login != "bob" {
		t.Fatalf("MirrorManager(alice) = %+v, %v", m, err)
	}
	if _, err := s.MirrorManager(ctx, "d", bob); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("MirrorManager(bob, who has none) = %v", err)
	}
	// Rename keeps identity: same id, new login.
	bob.Login = "robert"
	update(func(tx store.Tx) error { return tx.UpsertMirrorUser("d", bob, 1) })
	if got := members(); got != "[robert]" {
		t.Fatalf("after rename: %s", got)
	}
	// A full sync of generation 2 that sees only alice and the group.
	var swept int
	update(func(tx store.Tx) (err error) {
		tx.UpsertMirrorUser("d", alice, 2)
		tx.UpsertMirrorGroup("d", connectors.Group{ID: "g1", Name: "admins"}, 2)
		swept, err = tx.SweepMirror("d", 2)
		return err
	})
	c, _ := s.MirrorCounts(ctx, "d")
	if swept != 1 || c != (store.MirrorCounts{Users: 1, Groups: 1, Members: 0}) {
		t.Fatalf("sweep removed %d; counts %+v; want bob and his membership gone", swept, c)
	}
	update(func(tx store.Tx) error { return tx.DeleteMirrorGroup("d", "u1") }) // wrong kind: no effect
	if _, err := s.MirrorUser(ctx, "d", "alice"); err != nil {
		t.Fatalf("deleting a group with a user's id removed the user: %v", err)
	}
	update(func(tx store.Tx) error { return tx.DeleteMirrorUser("d", "u1") })
	if _, err := s.MirrorUser(ctx, "d", "alice"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted user still found: %v", err)
	}
	if c, _ := s.MirrorCounts(ctx, "other"); c.Users != 1 {
		t.Fatalf("another directory's mirror changed: %+v", c)
	}
}

func testSyncState(t *testing.T, s store.Store) {
	ctx := context.Background()
	if st, err := s.SyncState(ctx, "d"); !errors.Is(err, store.ErrNotFound) || st.Directory != "d" {
		t.Fatalf("never synced: %+v %v", st, err)
	}
	want := store.SyncState{Directory: "d", Cursor: "abc", Gen: 3, LastFullAt: t0, LastIncrementalAt: t0.Add(time.Second),
		CursorAt: t0.Add(time.Second), LastError: "boom", LastErrorAt: t0.Add(2 * time.Second), FullSyncs: 3, IncrementalSyncs: 7, CursorExpired: 1}
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.PutSyncState(want) }); err != nil {
		t.Fatal(err)
	}
	if got, err := s.SyncState(ctx, "d"); err != nil || got != want {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, want)
	}
}
