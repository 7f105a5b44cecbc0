// Package storetest is the conformance suite every store.Store passes. Each
// subtest gets a fresh store from the factory.
package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jitd/jitd/core/audit"
	"github.com/jitd/jitd/core/store"
)

// Test is one conformance test.
type Test struct {
	Name string
	Fn   func(t *testing.T, s store.Store)
}

// Suites are the conformance tests by aggregate, in the order of the
// store's parts: an implementation can be built and checked one part at a
// time.
var Suites = []struct {
	Aggregate string
	Tests     []Test
}{
	{"Grants", []Test{
		{"GrantRoundTrip", testGrantRoundTrip},
		{"GrantNotFound", testGrantNotFound},
		{"DuplicateGrantIsConflict", testDuplicateGrant},
		{"FilterGrants", testFilterGrants},
		{"DueGrantsRespectsStateTimeAndLease", testDueGrants},
		{"ClaimExpiredOldestFirstUnderLease", testClaimExpired},
		{"NextDue", testNextDue},
		{"ReleaseLeases", testReleaseLeases},
		{"RetryGrantsNow", testRetryGrantsNow},
		{"CountGrants", testCountGrants},
		{"GrantsOfDeparted", testGrantsOfDeparted},
		{"FailedUpdateRollsBack", testRollback},
	}},
	{"Audit", []Test{{"AuditChain", testAuditChain}}},
	{"Accounts", []Test{
		{"AccountRoundTrip", testAccountRoundTrip},
		{"DueAccounts", testDueAccounts},
		{"RetryAccountsNow", testRetryAccountsNow},
	}},
	{"Requests", []Test{
		{"RequestsAndApprovals", testRequests},
		{"GrantRequests", testGrantRequests},
		{"Reviews", testReviews},
	}},
	{"SignIns", []Test{
		{"SessionLogouts", testSessionLogouts},
		{"UsedLinks", testUsedLinks},
	}},
	{"Invites", []Test{{"InvitesAndOnboardingRequests", testInvites}}},
	{"Tokens", []Test{
		{"Tokens", testTokens},
		{"TokenLifetime", testTokenLifetime},
	}},
	{"Idempotency", []Test{{"Idempotency", testIdempotency}}},
	{"Mirror", []Test{
		{"PersonByLogin", testPerson},
		{"MirrorUpsertMembersAndSweep", testMirror},
		{"SyncStateRoundTrip", testSyncState},
	}},
	{"Baselines", []Test{
		{"BaselineAndDrift", testBaselineAndDrift},
		{"BaselineMembers", testBaselineMembers},
	}},
	{"SCIM", []Test{{"SCIMResources", testSCIMResources}}},
	{"SessionEnds", []Test{{"SessionEnds", testSessionEnds}}},
	{"Campaigns", []Test{{"CampaignsItemsAndReviewers", testCampaigns}}},
}

// Run runs every suite; newStore returns an empty store, closed by the
// suite. Each test gets a fresh store.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	for _, suite := range Suites {
		t.Run(suite.Aggregate, func(t *testing.T) {
			for _, tc := range suite.Tests {
				t.Run(tc.Name, func(t *testing.T) {
					s := newStore(t)
					t.Cleanup(func() { s.Close() })
					tc.Fn(t, s)
				})
			}
		})
	}
}

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)

// NewGrant returns a valid active grant for tests.
func NewGrant(id string, expires time.Time) store.Grant {
	return store.Grant{
		ID: id, Directory: "demo", GroupID: "g1", GroupName: "admins", UserID: "u-" + id, UserName: "user-" + id,
		State: store.StateActive, Reason: "INC-1", CreatedBy: "admin",
		StartsAt: expires.Add(-time.Hour), ExpiresAt: expires, CreatedAt: expires.Add(-time.Hour), UpdatedAt: expires.Add(-time.Hour),
	}
}

func insert(t *testing.T, s store.Store, gs ...store.Grant) {
	t.Helper()
	err := s.Update(context.Background(), func(tx store.Tx) error {
		for _, g := range gs {
			if err := tx.InsertGrant(g); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("insert: %v", err)
	}
}

func ids(gs []store.Grant) []string {
	out := make([]string, len(gs))
	for i, g := range gs {
		out[i] = g.ID
	}
	return out
}

func testRollback(t *testing.T, s store.Store) {
	boom := errors.New("boom")
	err := s.Update(context.Background(), func(tx store.Tx) error {
		if err := tx.InsertGrant(NewGrant("a", t0)); err != nil {
			return err
		}
		if _, err := tx.AppendAudit(audit.Event{Time: t0, Actor: "x", Action: audit.GrantRequested}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update = %v, want boom", err)
	}
	if _, err := s.Grant(context.Background(), "a"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("grant survived a rolled-back transaction: %v", err)
	}
	if seq, _, _ := s.AuditHead(context.Background()); seq != 0 {
		t.Fatalf("audit head moved to %d in a rolled-back transaction", seq)
	}
}
