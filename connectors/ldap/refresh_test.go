package ldap_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/jitd/jitd/connectors"
	"github.com/jitd/jitd/connectors/connectortest"
	"github.com/jitd/jitd/fixtures/slapd"
)

// An entry changed while a full read is still under way (after the server
// sent it, before the read ended) is reported again by the next incremental
// read: the cursor of the full read must not cover a change the read never
// carried.
func TestChanges_ModifiedDuringTheFullReadComesAgain(t *testing.T) {
	slapd.Need(t, srv, startErr)
	big, err := slapd.Start(slapd.Options{Users: 3000, Groups: 40, Memberships: 40000})
	if err != nil {
		t.Fatal(err)
	}
	defer big.Stop()
	admin, err := big.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	cfg := config(t)
	cfg.URL, cfg.CAFile, cfg.BindPasswordFile = big.LDAPSURL, big.CAFile, filepath.Join(big.PasswordDir, "service")
	c := open(t, cfg)

	// The first user and the first group the read carries are changed at once.
	var firstUser, firstGroup string
	cur, err := c.Changes(context.Background(), "", func(ch connectors.Change) error {
		switch {
		case ch.User != nil && firstUser == "":
			firstUser = ch.User.DN
			req := goldap.NewModifyRequest(firstUser, nil)
			req.Replace("displayName", []string{"Changed mid-read"})
			return admin.Modify(req)
		case ch.Group != nil && firstGroup == "" && len(ch.MemberRefs) > 1:
			firstGroup = ch.Group.DN
			req := goldap.NewModifyRequest(firstGroup, nil)
			req.Add("member", []string{"uid=dave," + slapd.PeopleBase})
			return admin.Modify(req)
		}
		return nil
	})
	if err != nil || firstUser == "" || firstGroup == "" {
		t.Fatalf("full read: %v (first user %q, group %q)", err, firstUser, firstGroup)
	}
	var userAgain, groupAgain bool
	if _, err := c.Changes(context.Background(), cur, func(ch connectors.Change) error {
		if ch.User != nil && ch.User.DN == firstUser && ch.User.DisplayName == "Changed mid-read" {
			userAgain = true
		}
		if ch.Group != nil && ch.Group.DN == firstGroup && slices.ContainsFunc(ch.MemberRefs, func(r string) bool { return strings.HasPrefix(r, "uid=dave,") }) {
			groupAgain = true
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !userAgain || !groupAgain {
		t.Fatalf("changed during the full read, not reported by the next incremental read (the mirror would keep the old entry until the next full sync): user %s %v, group %s %v",
			firstUser, userAgain, firstGroup, groupAgain)
	}
}

// A full read is one syncrepl operation, however long it streams: the
// timeout bounds the wait for each entry, not the whole read. go-ldap's own
// request timeout ended the read (a large directory's first sync failed at
// the timeout, every time, and a consumer held up once — the mirror waiting
// for the database — failed a small one), and its reader gives up handing
// an entry over after the timeout. A server that stops sending mid-read is
// still given up on after the timeout.
func TestChanges_TimeoutBoundsTheWaitNotTheRead(t *testing.T) {
	slapd.Need(t, srv, startErr)
	big, err := slapd.Start(slapd.Options{Users: 5000})
	if err != nil {
		t.Fatal(err)
	}
	defer big.Stop()
	cfg := config(t)
	cfg.URL, cfg.CAFile, cfg.BindPasswordFile = big.LDAPSURL, big.CAFile, filepath.Join(big.PasswordDir, "service")
	cfg.Timeout = 300 * time.Millisecond
	c := open(t, cfg)
	ctx := context.Background()
	users := 0
	_, err = c.Changes(ctx, "", func(ch connectors.Change) error {
		if ch.User != nil {
			users++
			if users == 10 {
				time.Sleep(3 * cfg.Timeout) // the consumer held up once, longer than the timeout
			}
		}
		return nil
	})
	if want := 5000 + len(slapd.FixedUsers); err != nil || users != want {
		t.Fatalf("a full read held up once: %d users of %d, %v", users, want, err)
	}

	if err := big.Freeze(); err != nil {
		t.Fatal(err)
	}
	defer big.Thaw()
	start := time.Now()
	_, err = c.Changes(ctx, "", func(connectors.Change) error { return nil })
	if took := time.Since(start); !errors.Is(err, connectors.ErrUnavailable) || took > 10*cfg.Timeout {
		t.Fatalf("a frozen server: %v after %s; want ErrUnavailable within about %s", err, took, cfg.Timeout)
	}
}

// A full read streams the groups without their members and reads each
// group's members on a connection of its own: with connections: 1 it must
// still finish, with every group's members.
func TestChanges_FullReadWithOneConnection(t *testing.T) {
	fixture(t, config(t))
	cfg := config(t)
	cfg.Connections = 1
	c := open(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	log, err := connectortest.Collect(ctx, c, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(log.Groups) == 0 {
		t.Fatal("no groups read")
	}
	for id, refs := range log.Groups {
		var want []string
		if err := c.ListMembers(ctx, id, func(uid string) error { want = append(want, uid); return nil }); err != nil {
			t.Fatal(err)
		}
		if len(refs) != len(want) {
			t.Fatalf("group %s: the full read gave %d members, ListMembers %d", id, len(refs), len(want))
		}
	}
}
