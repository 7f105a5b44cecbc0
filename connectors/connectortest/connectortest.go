// Package connectortest is the conformance suite every connector passes, in
// process and again through the plugin layer. It checks the promises the rest
// of jitd relies on: stable ids, exact lookups, idempotent batched membership
// changes, and per-user results.
package connectortest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/jitd/jitd/connectors"
)

// Fixture is a connector and what the suite may assume about its directory.
type Fixture struct {
	Conn connectors.Connector
	// Users are logins of at least three existing, enabled users.
	Users []string
	// Group is the name of an existing group the suite may change freely; none
	// of Users is a member at the start.
	Group string
}

// Run runs the suite. newFixture is called once per subtest.
func Run(t *testing.T, newFixture func(t *testing.T) Fixture) {
	tests := []struct {
		name string
		fn   func(t *testing.T, f fixture)
	}{
		{"DescribesItself", testDescribe},
		{"LookupIsExact", testLookup},
		{"LookupResistsFilterInjection", testInjection},
		{"AddIsIdempotent", testAddIdempotent},
		{"RemoveIsIdempotentInAnyOrder", testRemoveIdempotent},
		{"RemoveLastMemberLeavesUsableGroup", testRemoveLast},
		{"UnknownUserFailsOnlyItsResult", testUnknownUser},
		{"UnknownGroupIsNotFound", testUnknownGroup},
		{"ListsWhatItManages", testList},
		{"FeedReportsChangesSinceItsCursor", testFeed},
		{"AccountLifecycleTouchesOnlyItsOwn", testAccounts},
		{"ProvisioningStaysInItsArea", testProvisioning},
		{"EndsSessionsOfKnownUsersOnly", testSessions},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw := newFixture(t)
			if len(raw.Users) < 3 {
				t.Fatalf("fixture needs 3 users, has %d", len(raw.Users))
			}
			tc.fn(t, load(t, raw))
		})
	}
}

type fixture struct {
	Fixture
	ctx   context.Context
	res   connectors.Resolver
	mm    connectors.MembershipManager
	users []connectors.User
	group connectors.Group
}

func load(t *testing.T, raw Fixture) fixture {
	t.Helper()
	f := fixture{Fixture: raw, ctx: context.Background()}
	var ok bool
	if f.res, ok = connectors.AsResolver(raw.Conn); !ok {
		t.Fatal("connector has no lookup capability")
	}
	if f.mm, ok = connectors.AsMembershipManager(raw.Conn); !ok {
		t.Fatal("connector has no membership capability")
	}
	for _, login := range raw.Users {
		u, err := f.res.LookupUser(f.ctx, login)
		if err != nil {
			t.Fatalf("LookupUser(%q): %v", login, err)
		}
		f.users = append(f.users, u)
	}
	g, err := f.res.LookupGroup(f.ctx, raw.Group)
	if err != nil {
		t.Fatalf("LookupGroup(%q): %v", raw.Group, err)
	}
	f.group = g
	return f
}

func (f fixture) ids(us ...connectors.User) []string {
	var out []string
	for _, u := range us {
		out = append(out, u.ID)
	}
	return out
}

func (f fixture) isMember(t *testing.T, u connectors.User) bool {
	t.Helper()
	ok, err := f.mm.IsMember(f.ctx, f.group.ID, u.ID)
	if err != nil {
		t.Fatalf("IsMember(%s): %v", u.Login, err)
	}
	return ok
}

func mustAllOK(t *testing.T, op string, want []string, rs []connectors.MemberResult, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", op, err)
	}
	if len(rs) != len(want) {
		t.Fatalf("%s: %d results for %d users", op, len(rs), len(want))
	}
	for i, r := range rs {
		if r.UserID != want[i] {
			t.Fatalf("%s: result %d is for %q, want %q (results are in request order)", op, i, r.UserID, want[i])
		}
		if r.Err != nil {
			t.Fatalf("%s: user %s: %v", op, r.UserID, r.Err)
		}
	}
}

func testDescribe(t *testing.T, f fixture) {
	if f.Conn.Describe().Kind == "" {
		t.Fatal("Describe().Kind is empty")
	}
	if err := f.Conn.Check(f.ctx); err != nil {
		t.Fatalf("Check: %v", err)
	}
	caps := connectors.Capabilities(f.Conn)
	if !slices.IsSorted(caps) || !slices.Contains(caps, connectors.CapMembership) {
		t.Fatalf("capabilities %v: want sorted, with membership", caps)
	}
}

// testSessions: a connector that ends sessions ends a user's (with or
// without any) and says ErrNotFound for someone it does not know.
func testSessions(t *testing.T, f fixture) {
	se, ok := connectors.AsSessionEnder(f.Conn)
	if !ok {
		t.Skip("the connector does not end sessions")
	}
	for range 2 { // twice: ending no sessions is success
		if err := se.EndSessions(f.ctx, f.users[0].ID); err != nil {
			t.Fatalf("EndSessions(%s): %v", f.users[0].Login, err)
		}
	}
	unknown := f.users[0].ID[:len(f.users[0].ID)-1] + "9"
	if unknown == f.users[0].ID {
		unknown = f.users[0].ID[:len(f.users[0].ID)-1] + "8"
	}
	if err := se.EndSessions(f.ctx, unknown); !errors.Is(err, connectors.ErrNotFound) {
		t.Fatalf("EndSessions(unknown) = %v, want ErrNotFound", err)
	}
}

func testLookup(t *testing.T, f fixture) {
	u := f.users[0]
	if u.ID == "" || u.Login != f.Users[0] {
		t.Fatalf("LookupUser(%q) = %+v", f.Users[0], u)
	}
	again, _ := f.res.LookupUser(f.ctx, f.Users[0])
	if again.ID != u.ID {
		t.Fatalf("id is not stable: %q then %q", u.ID, again.ID)
	}
	if f.users[1].ID == u.ID {
		t.Fatal("two users share an id")
	}
	for _, name := range []string{f.Users[0][:len(f.Users[0])-1], f.Users[0] + "x", "no-such-user-7"} {
		if _, err := f.res.LookupUser(f.ctx, name); !errors.Is(err, connectors.ErrNotFound) {
			t.Errorf("LookupUser(%q) = %v, want ErrNotFound (lookups are exact)", name, err)
		}
	}
	if _, err := f.res.LookupGroup(f.ctx, "no-such-group-7"); !errors.Is(err, connectors.ErrNotFound) {
		t.Errorf("LookupGroup(missing) = %v, want ErrNotFound", err)
	}
}

func testInjection(t *testing.T, f fixture) {
	for _, name := range []string{"*", f.Users[0][:1] + "*", "*)(objectClass=*", `\2a`, "x)(|(uid=*", f.Users[0] + ")(uid=*"} {
		if u, err := f.res.LookupUser(f.ctx, name); !errors.Is(err, connectors.ErrNotFound) {
			t.Errorf("LookupUser(%q) = %+v, %v; want ErrNotFound: metacharacters must be matched literally", name, u, err)
		}
		if g, err := f.res.LookupGroup(f.ctx, name); !errors.Is(err, connectors.ErrNotFound) {
			t.Errorf("LookupGroup(%q) = %+v, %v; want ErrNotFound", name, g, err)
		}
	}
}

func testAddIdempotent(t *testing.T, f fixture) {
	a, b := f.users[0], f.users[1]
	rs, err := f.mm.AddMembers(f.ctx, f.group.ID, f.ids(a))
	mustAllOK(t, "add a", f.ids(a), rs, err)
	rs, err = f.mm.AddMembers(f.ctx, f.group.ID, f.ids(a, b)) // a present, b absent
	mustAllOK(t, "add a (present) and b", f.ids(a, b), rs, err)
	rs, err = f.mm.AddMembers(f.ctx, f.group.ID, f.ids(b, a)) // both present
	mustAllOK(t, "add both again", f.ids(b, a), rs, err)
	if !f.isMember(t, a) || !f.isMember(t, b) || f.isMember(t, f.users[2]) {
		t.Fatal("membership after adds is wrong")
	}
}

func testRemoveIdempotent(t *testing.T, f fixture) {
	a, b, c := f.users[0], f.users[1], f.users[2]
	rs, err := f.mm.AddMembers(f.ctx, f.group.ID, f.ids(a, b, c))
	mustAllOK(t, "setup add", f.ids(a, b, c), rs, err)
	rs, err = f.mm.RemoveMembers(f.ctx, f.group.ID, f.ids(a))
	mustAllOK(t, "remove a", f.ids(a), rs, err)
	// [present, absent] and [absent, present]: servers differ on which order fails.
	rs, err = f.mm.RemoveMembers(f.ctx, f.group.ID, f.ids(b, a))
	mustAllOK(t, "remove b (present) and a (absent)", f.ids(b, a), rs, err)
	rs, err = f.mm.RemoveMembers(f.ctx, f.group.ID, f.ids(a, c))
	mustAllOK(t, "remove a (absent) and c (present)", f.ids(a, c), rs, err)
	if f.isMember(t, a) || f.isMember(t, b) || f.isMember(t, c) {
		t.Fatal("a removed member is still a member")
	}
}

func testRemoveLast(t *testing.T, f fixture) {
	a := f.users[0]
	rs, err := f.mm.AddMembers(f.ctx, f.group.ID, f.ids(a))
	mustAllOK(t, "add", f.ids(a), rs, err)
	rs, err = f.mm.RemoveMembers(f.ctx, f.group.ID, f.ids(a))
	mustAllOK(t, "remove the last member", f.ids(a), rs, err)
	if f.isMember(t, a) {
		t.Fatal("still a member")
	}
	if l, ok := connectors.AsLister(f.Conn); ok {
		var members []string
		if err := l.ListMembers(f.ctx, f.group.ID, func(id string) error { members = append(members, id); return nil }); err != nil {
			t.Fatal(err)
		}
		if len(members) != 0 {
			t.Fatalf("emptied group lists members %v (a placeholder must never be reported)", members)
		}
	}
	rs, err = f.mm.AddMembers(f.ctx, f.group.ID, f.ids(a))
	mustAllOK(t, "add to the emptied group", f.ids(a), rs, err)
}

func testUnknownUser(t *testing.T, f fixture) {
	a := f.users[0]
	ghost := "00000000-0000-0000-0000-00000000dead"
	rs, err := f.mm.AddMembers(f.ctx, f.group.ID, []string{ghost, a.ID})
	if err != nil {
		t.Fatalf("add with one unknown user failed as a whole: %v", err)
	}
	if len(rs) != 2 || !errors.Is(rs[0].Err, connectors.ErrNotFound) || rs[1].Err != nil {
		t.Fatalf("results %+v: want NotFound for the unknown user only", rs)
	}
	if !f.isMember(t, a) {
		t.Fatal("known user not added alongside an unknown one")
	}
	rs, err = f.mm.RemoveMembers(f.ctx, f.group.ID, []string{a.ID, ghost})
	if err != nil || len(rs) != 2 || rs[0].Err != nil {
		t.Fatalf("remove with one unknown user: %+v %v", rs, err)
	}
	if f.isMember(t, a) {
		t.Fatal("known user not removed alongside an unknown one")
	}
}

func testUnknownGroup(t *testing.T, f fixture) {
	ghost := "00000000-0000-0000-0000-00000000beef"
	if _, err := f.mm.RemoveMembers(f.ctx, ghost, f.ids(f.users[0])); !errors.Is(err, connectors.ErrNotFound) {
		t.Fatalf("RemoveMembers(unknown group) = %v, want ErrNotFound", err)
	}
	if _, err := f.mm.AddMembers(f.ctx, ghost, f.ids(f.users[0])); !errors.Is(err, connectors.ErrNotFound) {
		t.Fatalf("AddMembers(unknown group) = %v, want ErrNotFound", err)
	}
}

func testList(t *testing.T, f fixture) {
	l, ok := connectors.AsLister(f.Conn)
	if !ok {
		t.Skip("connector does not list")
	}
	var users []string
	if err := l.ListUsers(f.ctx, func(u connectors.User) error { users = append(users, u.ID); return nil }); err != nil {
		t.Fatal(err)
	}
	for _, u := range f.users {
		if !slices.Contains(users, u.ID) {
			t.Fatalf("ListUsers misses %s", u.Login)
		}
	}
	var groups []string
	if err := l.ListGroups(f.ctx, func(g connectors.Group) error { groups = append(groups, g.ID); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(groups, f.group.ID) {
		t.Fatal("ListGroups misses the test group")
	}
	rs, err := f.mm.AddMembers(f.ctx, f.group.ID, f.ids(f.users[0], f.users[1]))
	mustAllOK(t, "add", f.ids(f.users[0], f.users[1]), rs, err)
	var members []string
	if err := l.ListMembers(f.ctx, f.group.ID, func(id string) error { members = append(members, id); return nil }); err != nil {
		t.Fatal(err)
	}
	slices.Sort(members)
	want := f.ids(f.users[0], f.users[1])
	slices.Sort(want)
	if !slices.Equal(members, want) {
		t.Fatalf("ListMembers = %v, want %v", members, want)
	}
	stop := errors.New("stop")
	if err := l.ListUsers(f.ctx, func(connectors.User) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("a callback's error must stop the listing and come back: %v", err)
	}
}

// FeedLog is what one call of a change feed reported.
type FeedLog struct {
	Users   map[string]connectors.User
	Groups  map[string][]string // id -> member refs (Upsert)
	Deleted []string            // ids of deleted users and groups
	Cursor  string              // the cursor the call returned
	// Added and Removed gather MembersChanged: group id -> refs.
	Added, Removed map[string][]string
}

// Collect runs one call of feed from cursor and gathers what it reported.
func Collect(ctx context.Context, feed connectors.ChangeFeed, cursor string) (FeedLog, error) {
	log := FeedLog{Users: map[string]connectors.User{}, Groups: map[string][]string{}, Added: map[string][]string{}, Removed: map[string][]string{}}
	next, err := feed.Changes(ctx, cursor, func(c connectors.Change) error {
		switch {
		case c.Op == connectors.Delete && c.User != nil:
			log.Deleted = append(log.Deleted, c.User.ID)
		case c.Op == connectors.Delete && c.Group != nil:
			log.Deleted = append(log.Deleted, c.Group.ID)
		case c.Op == connectors.MembersChanged:
			log.Added[c.Group.ID] = append(log.Added[c.Group.ID], c.Added...)
			log.Removed[c.Group.ID] = append(log.Removed[c.Group.ID], c.Removed...)
		case c.User != nil:
			log.Users[c.User.ID] = *c.User
		case c.Group != nil:
			log.Groups[c.Group.ID] = c.MemberRefs
		}
		return nil
	})
	log.Cursor = next
	return log, err
}

func collect(t *testing.T, f fixture, feed connectors.ChangeFeed, cursor string) (FeedLog, string) {
	t.Helper()
	log, err := Collect(f.ctx, feed, cursor)
	if err != nil {
		t.Fatalf("Changes(%q): %v", cursor, err)
	}
	return log, log.Cursor
}

func testFeed(t *testing.T, f fixture) {
	feed, ok := connectors.AsChangeFeed(f.Conn)
	if !ok {
		t.Skip("connector has no change feed")
	}
	snap, cur := collect(t, f, feed, "")
	for _, u := range f.users {
		got, ok := snap.Users[u.ID]
		if !ok || got.Ref == "" || got.Login != u.Login {
			t.Fatalf("snapshot: user %s = %+v (present %v); want it, with a Ref", u.Login, got, ok)
		}
	}
	if refs, ok := snap.Groups[f.group.ID]; !ok || len(refs) != 0 {
		t.Fatalf("snapshot: test group present=%v with members %v; want it, empty", ok, refs)
	}
	if cur == "" {
		return // a snapshot-only feed: nothing incremental to check
	}
	rs, err := f.mm.AddMembers(f.ctx, f.group.ID, f.ids(f.users[0]))
	mustAllOK(t, "add", f.ids(f.users[0]), rs, err)
	inc, cur2 := collect(t, f, feed, cur)
	// The group comes back whole, or as the member who joined it.
	want := snap.Users[f.users[0].ID].Ref
	refs, ok := inc.Groups[f.group.ID]
	if !slices.Contains(refs, want) && !slices.Contains(inc.Added[f.group.ID], want) {
		t.Fatalf("after adding %s: group change present=%v refs=%v added=%v; want the member's ref %q", f.users[0].Login, ok, refs, inc.Added[f.group.ID], want)
	}
	// Nothing changed since cur2: the group may be reported again (feeds that
	// poll re-read an overlap), but only as it is.
	again, _ := collect(t, f, feed, cur2)
	if refs, ok := again.Groups[f.group.ID]; ok && !slices.Contains(refs, want) {
		t.Fatalf("with no change, the group came back different: %v, was %v", refs, inc.Groups[f.group.ID])
	}
	if slices.Contains(again.Removed[f.group.ID], want) {
		t.Fatalf("with no change, the feed reported %s leaving the group", f.users[0].Login)
	}
	if len(again.Deleted) > 0 {
		t.Fatalf("with no change, the feed reported deletions: %v", again.Deleted)
	}
	if _, err := feed.Changes(f.ctx, "not-a-cursor", func(connectors.Change) error { return nil }); !errors.Is(err, connectors.ErrCursorExpired) {
		t.Fatalf("garbage cursor: %v, want ErrCursorExpired", err)
	}
}

func testAccounts(t *testing.T, f fixture) {
	am, ok := connectors.AsAccountManager(f.Conn)
	if !ok {
		t.Skip("connector does not manage accounts")
	}
	spec := connectors.AccountSpec{Login: "ann.lee@vendor.example", Email: "ann.lee@vendor.example", GivenName: "Ann", Surname: "Lee", Until: time.Now().Add(30 * 24 * time.Hour)}
	acct, err := am.CreateAccount(f.ctx, spec)
	if err != nil {
		t.Fatalf("CreateAccount: %v", err)
	}
	if acct.ID == "" || acct.Enabled {
		t.Fatalf("staged account = %+v; want an id, disabled", acct)
	}
	if _, err := am.CreateAccount(f.ctx, spec); !errors.Is(err, connectors.ErrInvalid) {
		t.Fatalf("creating an existing login: %v, want ErrInvalid", err)
	}
	enabled := func() bool {
		t.Helper()
		u, err := f.res.LookupUser(f.ctx, spec.Login)
		if err != nil {
			t.Fatalf("LookupUser(%s): %v", spec.Login, err)
		}
		return u.Enabled
	}
	for _, want := range []bool{true, true, false, false, true} { // idempotent both ways
		if err := am.SetAccountEnabled(f.ctx, acct.ID, want); err != nil {
			t.Fatalf("SetAccountEnabled(%v): %v", want, err)
		}
		if got := enabled(); got != want {
			t.Fatalf("after SetAccountEnabled(%v) the account is enabled=%v", want, got)
		}
	}
	if err := am.SetAccountExpiry(f.ctx, acct.ID, spec.Until.Add(7*24*time.Hour)); err != nil {
		t.Fatalf("SetAccountExpiry: %v", err)
	}
	// An account jitd did not create is never touched.
	other := f.users[0]
	if err := am.SetAccountExpiry(f.ctx, other.ID, spec.Until); !errors.Is(err, connectors.ErrPermission) {
		t.Fatalf("moving the end date of a user jitd did not create: %v, want ErrPermission", err)
	}
	if err := am.SetAccountEnabled(f.ctx, other.ID, false); !errors.Is(err, connectors.ErrPermission) {
		t.Fatalf("disabling a user jitd did not create: %v, want ErrPermission", err)
	}
	if err := am.DeleteAccount(f.ctx, other.ID); !errors.Is(err, connectors.ErrPermission) {
		t.Fatalf("deleting a user jitd did not create: %v, want ErrPermission", err)
	}
	if u, err := f.res.LookupUser(f.ctx, other.Login); err != nil || !u.Enabled {
		t.Fatalf("the other user changed: %+v %v", u, err)
	}
	if err := am.DeleteAccount(f.ctx, acct.ID); err != nil {
		t.Fatalf("DeleteAccount: %v", err)
	}
	if _, err := f.res.LookupUser(f.ctx, spec.Login); !errors.Is(err, connectors.ErrNotFound) {
		t.Fatalf("deleted account still found: %v", err)
	}
	if err := am.DeleteAccount(f.ctx, acct.ID); err != nil {
		t.Fatalf("deleting it again: %v, want success", err)
	}
}

func readEntries(t *testing.T, f fixture, p connectors.Provisioner, q connectors.EntryQuery) []connectors.Entry {
	t.Helper()
	var out []connectors.Entry
	if err := p.ReadEntries(f.ctx, q, func(e connectors.Entry) error { out = append(out, e); return nil }); err != nil {
		t.Fatalf("ReadEntries(%+v): %v", q, err)
	}
	return out
}

func testProvisioning(t *testing.T, f fixture) {
	p, ok := connectors.AsProvisioner(f.Conn)
	if !ok {
		t.Skip("connector does not provision")
	}
	attrs := []string{"givenName", "sn", "mail", "title", "manager"}
	boss := f.users[1]
	spec := connectors.EntrySpec{Kind: connectors.UserEntry, Name: "pat.kim", Enabled: true, Password: connectors.RandomPassword(),
		Attrs: map[string][]string{"givenName": {"Pat"}, "sn": {"Kim"}, "mail": {"pat.kim@example.org"}, "manager": {boss.ID}}}
	u, err := p.CreateEntry(f.ctx, spec)
	if err != nil {
		t.Fatalf("CreateEntry(user): %v", err)
	}
	if got := u.Attrs["manager"]; len(got) != 1 || got[0] != boss.ID {
		t.Fatalf("manager = %v; want %s's id %s (references are ids both ways)", got, boss.Login, boss.ID)
	}
	if lu, err := f.res.LookupUser(f.ctx, "pat.kim"); err != nil || lu.Manager != boss.Ref && lu.Manager != boss.ID {
		t.Fatalf("the directory's manager of pat.kim = %q; want %s", lu.Manager, boss.Login)
	}
	if err := p.ModifyEntry(f.ctx, connectors.UserEntry, u.ID, connectors.EntryChange{Attrs: map[string][]string{"manager": {"00000000-0000-0000-0000-00000000beef"}}}); !errors.Is(err, connectors.ErrInvalid) {
		t.Fatalf("a manager who is nobody: %v, want ErrInvalid", err)
	}
	if u.ID == "" || u.Name != "pat.kim" || !u.Enabled || u.Created.IsZero() {
		t.Fatalf("created user = %+v; want an id, the login, enabled, a creation time", u)
	}
	if _, err := p.CreateEntry(f.ctx, spec); !errors.Is(err, connectors.ErrConflict) {
		t.Fatalf("creating an existing login: %v, want ErrConflict", err)
	}
	if got := readEntries(t, f, p, connectors.EntryQuery{Kind: connectors.UserEntry, Attr: "mail", Value: "PAT.KIM@example.org", Attrs: attrs}); len(got) != 1 || got[0].ID != u.ID || got[0].Attrs["mail"][0] != "pat.kim@example.org" {
		t.Fatalf("read by mail = %+v; want the one user with its mail", got)
	}
	if got := readEntries(t, f, p, connectors.EntryQuery{Kind: connectors.UserEntry, Name: "PAT.kim"}); len(got) != 1 || got[0].ID != u.ID {
		t.Fatalf("read by login = %+v; want the one user", got)
	}
	if got := readEntries(t, f, p, connectors.EntryQuery{Kind: connectors.UserEntry, Attr: "mail", Value: "*"}); len(got) != 0 {
		t.Fatalf("a value of * matched %d entries; values must be escaped", len(got))
	}
	if got := readEntries(t, f, p, connectors.EntryQuery{Kind: connectors.UserEntry, IDs: []string{boss.ID, "*", u.ID, "not-an-id)(|(uid=*"}}); len(got) != 1 || got[0].ID != u.ID {
		t.Fatalf("read by ids (the provisioned user, one outside the area, two that are nobody's) = %+v; want the provisioned user only", got)
	}
	if got := readEntries(t, f, p, connectors.EntryQuery{Kind: connectors.UserEntry, IDs: []string{"*"}}); len(got) != 0 {
		t.Fatalf("an id of * matched %d entries", len(got))
	}
	if lu, err := f.res.LookupUser(f.ctx, "pat.kim"); err != nil || lu.ID != u.ID || !lu.Enabled {
		t.Fatalf("LookupUser(pat.kim) = %+v, %v; the provisioned user must be an ordinary directory user", lu, err)
	}
	for _, want := range []bool{false, false, true, true, false} {
		if err := p.ModifyEntry(f.ctx, connectors.UserEntry, u.ID, connectors.EntryChange{Enabled: &want}); err != nil {
			t.Fatalf("ModifyEntry(enabled=%v): %v", want, err)
		}
		if lu, err := f.res.LookupUser(f.ctx, "pat.kim"); err != nil || lu.Enabled != want {
			t.Fatalf("after enabled=%v: %+v, %v", want, lu, err)
		}
	}
	if err := p.ModifyEntry(f.ctx, connectors.UserEntry, u.ID, connectors.EntryChange{Attrs: map[string][]string{"title": {"Engineer"}, "mail": {}}}); err != nil {
		t.Fatalf("ModifyEntry(attrs): %v", err)
	}
	got := readEntries(t, f, p, connectors.EntryQuery{Kind: connectors.UserEntry, ID: u.ID, Attrs: attrs})
	if len(got) != 1 || got[0].Attrs["title"][0] != "Engineer" || len(got[0].Attrs["mail"]) != 0 || got[0].Attrs["givenName"][0] != "Pat" {
		t.Fatalf("after replacing title and removing mail: %+v", got)
	}
	for _, a := range []string{"objectClass", "userPassword", "member", "unicodePwd"} {
		err := p.ModifyEntry(f.ctx, connectors.UserEntry, u.ID, connectors.EntryChange{Attrs: map[string][]string{a: {"x"}}})
		if !errors.Is(err, connectors.ErrPermission) {
			t.Fatalf("writing %s: %v, want ErrPermission", a, err)
		}
	}
	// Outside its area provisioning sees and changes nothing.
	other := f.users[0]
	disable := false
	if err := p.ModifyEntry(f.ctx, connectors.UserEntry, other.ID, connectors.EntryChange{Enabled: &disable}); !errors.Is(err, connectors.ErrNotFound) {
		t.Fatalf("disabling a user outside the provisioning area: %v, want ErrNotFound", err)
	}
	if err := p.DeleteEntry(f.ctx, connectors.UserEntry, other.ID); !errors.Is(err, connectors.ErrNotFound) {
		t.Fatalf("deleting a user outside the provisioning area: %v, want ErrNotFound", err)
	}
	if err := p.DeleteEntry(f.ctx, connectors.GroupEntry, f.group.ID); !errors.Is(err, connectors.ErrNotFound) {
		t.Fatalf("deleting a group outside the provisioning area: %v, want ErrNotFound", err)
	}
	if lu, err := f.res.LookupUser(f.ctx, other.Login); err != nil || !lu.Enabled {
		t.Fatalf("the other user changed: %+v %v", lu, err)
	}

	g, err := p.CreateEntry(f.ctx, connectors.EntrySpec{Kind: connectors.GroupEntry, Name: "scim-team"})
	if err != nil {
		t.Fatalf("CreateEntry(group): %v", err)
	}
	rs, err := f.mm.AddMembers(f.ctx, g.ID, []string{u.ID})
	mustAllOK(t, "AddMembers", []string{u.ID}, rs, err)
	if ok, err := f.mm.IsMember(f.ctx, g.ID, u.ID); err != nil || !ok {
		t.Fatalf("IsMember after add = %v, %v", ok, err)
	}
	if err := p.ModifyEntry(f.ctx, connectors.GroupEntry, g.ID, connectors.EntryChange{Name: "scim-team-2"}); err != nil {
		t.Fatalf("renaming the group: %v", err)
	}
	if lg, err := f.res.LookupGroup(f.ctx, "scim-team-2"); err != nil || lg.ID != g.ID {
		t.Fatalf("LookupGroup(new name) = %+v, %v; want the same group", lg, err)
	}
	if ok, err := f.mm.IsMember(f.ctx, g.ID, u.ID); err != nil || !ok {
		t.Fatalf("a rename lost the member: %v, %v", ok, err)
	}
	if err := p.DeleteEntry(f.ctx, connectors.GroupEntry, g.ID); err != nil {
		t.Fatalf("DeleteEntry(group): %v", err)
	}
	if _, err := f.res.LookupGroup(f.ctx, "scim-team-2"); !errors.Is(err, connectors.ErrNotFound) {
		t.Fatalf("deleted group still found: %v", err)
	}
	if err := p.DeleteEntry(f.ctx, connectors.UserEntry, u.ID); err != nil {
		t.Fatalf("DeleteEntry(user): %v", err)
	}
	if got := readEntries(t, f, p, connectors.EntryQuery{Kind: connectors.UserEntry, ID: u.ID}); len(got) != 0 {
		t.Fatalf("deleted user still read: %+v", got)
	}
	if err := p.DeleteEntry(f.ctx, connectors.UserEntry, u.ID); !errors.Is(err, connectors.ErrNotFound) {
		t.Fatalf("deleting it again: %v, want ErrNotFound", err)
	}
}
