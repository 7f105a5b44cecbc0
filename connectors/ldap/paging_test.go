package ldap_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/jitd/jitd/connectors"
)

// A listing of many pages, after concurrent calls filled the pool with idle
// connections, still reads every page: a paged search keeps its connection
// (OpenLDAP refuses a cookie on another). With a pool of one, a listing
// whose callback calls the connector (managers resolved to ids) does not
// wait forever for the connection it holds.
func TestPagedListingKeepsItsConnection(t *testing.T) {
	for _, conns := range []int{1, 4} {
		t.Run(fmt.Sprint(conns, " connections"), func(t *testing.T) {
			cfg := config(t)
			cfg.PageSize, cfg.Connections = 3, conns
			if err := srv.Reset(context.Background()); err != nil {
				t.Fatal(err)
			}
			c := open(t, cfg)
			ctx := context.Background()
			boss, err := c.CreateEntry(ctx, connectors.EntrySpec{Kind: connectors.UserEntry, Name: "page.boss", Enabled: true, Attrs: map[string][]string{"sn": {"Boss"}}})
			if err != nil {
				t.Fatal(err)
			}
			const n = 20
			for i := range n {
				if _, err := c.CreateEntry(ctx, connectors.EntrySpec{Kind: connectors.UserEntry, Name: fmt.Sprintf("page.%02d", i), Enabled: true,
					Attrs: map[string][]string{"sn": {"P"}, "manager": {boss.ID}}}); err != nil {
					t.Fatal(err)
				}
			}
			var wg sync.WaitGroup // fill the pool with idle connections
			for range conns {
				wg.Go(func() { c.Check(ctx) })
			}
			wg.Wait()
			var got, managed int
			err = c.ReadEntries(ctx, connectors.EntryQuery{Kind: connectors.UserEntry, Attrs: []string{"manager"}}, func(e connectors.Entry) error {
				got++
				if m := e.Attrs["manager"]; len(m) == 1 && m[0] == boss.ID {
					managed++
				}
				return nil
			})
			if err != nil || got != n+1 || managed != n {
				t.Fatalf("listing: %d users, %d with their manager's id, %v; want %d and %d", got, managed, err, n+1, n)
			}
		})
	}
}

// Managers are named by DN in the directory and by id in a listing: the
// DNs of a page are translated with one OR search, not one read each.
func TestListingTranslatesManagersOnePageAtATime(t *testing.T) {
	cfg := config(t)
	cfg.PageSize = 20
	ctx := context.Background()
	if err := srv.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	c := open(t, cfg)
	const n = 30
	bosses := map[string]string{} // user login → manager id
	for i := range n {
		boss, err := c.CreateEntry(ctx, connectors.EntrySpec{Kind: connectors.UserEntry, Name: fmt.Sprintf("boss.%02d", i), Enabled: true, Attrs: map[string][]string{"sn": {"Boss"}}})
		if err != nil {
			t.Fatal(err)
		}
		login := fmt.Sprintf("staff.%02d", i)
		if _, err := c.CreateEntry(ctx, connectors.EntrySpec{Kind: connectors.UserEntry, Name: login, Enabled: true,
			Attrs: map[string][]string{"sn": {"S"}, "manager": {boss.ID}}}); err != nil {
			t.Fatal(err)
		}
		bosses[login] = boss.ID
	}
	before, err := srv.Operations()
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	err = c.ReadEntries(ctx, connectors.EntryQuery{Kind: connectors.UserEntry, Attrs: []string{"manager"}}, func(e connectors.Entry) error {
		if want, ok := bosses[e.Name]; ok {
			if m := e.Attrs["manager"]; len(m) != 1 || m[0] != want {
				t.Errorf("%s's manager = %v, want %s", e.Name, m, want)
			}
			got++
		}
		return nil
	})
	if err != nil || got != n {
		t.Fatalf("listed %d managed users (%v), want %d", got, err, n)
	}
	after, err := srv.Operations()
	if err != nil {
		t.Fatal(err)
	}
	// 60 entries in pages of 20: three pages, and at most one search of
	// managers each (one read per manager would be 30 more).
	if s := after.Sub(before).Search; s > 6 {
		t.Fatalf("the listing cost %d searches, want at most 6 (3 pages, 1 manager lookup per page)", s)
	}
}
