package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/jitd/jitd/core/store"
)

// NewAccount returns an active account ending at ends, deleted a day later.
func NewAccount(id, login string, ends time.Time) store.Account {
	return store.Account{
		ID: id, Directory: "corp", ExternalID: "ext-" + id, Login: login, Email: login + "@vendor.example", GivenName: "Ann", Surname: "Lee",
		Sponsor: "bob", CreatedBy: "admin", Reason: "contract C-7", State: store.AccountActive,
		EndsAt: ends, DeleteAt: ends.Add(24 * time.Hour), CreatedAt: t0.Add(-time.Hour), UpdatedAt: t0.Add(-time.Hour),
	}
}

func insertAccounts(t *testing.T, s store.Store, as ...store.Account) {
	t.Helper()
	err := s.Update(context.Background(), func(tx store.Tx) error {
		for _, a := range as {
			if err := tx.InsertAccount(a); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testAccountRoundTrip(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := NewAccount("acct_1", "ann.lee", t0.Add(time.Hour))
	a.PasswordDelivered, a.DisabledAt = true, t0
	insertAccounts(t, s, a)
	got, err := s.Account(ctx, a.ID)
	if err != nil || !reflect.DeepEqual(got, a) {
		t.Fatalf("Account = %+v, %v\nwant %+v", got, err, a)
	}
	if _, err := s.Account(ctx, "acct_missing"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing account: %v, want ErrNotFound", err)
	}
	// A second live account with the same login in the same directory is a
	// conflict; once the first is deleted, the login is free again.
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.InsertAccount(NewAccount("acct_2", "ann.lee", t0)) }); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second live account with one login: %v, want ErrConflict", err)
	}
	a.State, a.DeletedAt, a.EndReason, a.UpdatedAt, a.Sponsor = store.AccountDeleted, t0.Add(time.Minute), "deleted by admin", t0.Add(time.Minute), "carol"
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.UpdateAccount(a) }); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Account(ctx, a.ID); !reflect.DeepEqual(got, a) {
		t.Fatalf("after update = %+v\nwant %+v", got, a)
	}
	insertAccounts(t, s, NewAccount("acct_2", "ann.lee", t0))
	list, err := s.Accounts(ctx, store.AccountFilter{Sponsor: "bob"})
	if err != nil || len(list) != 1 || list[0].ID != "acct_2" {
		t.Fatalf("Accounts(sponsor bob) = %v, %v", list, err)
	}
	list, _ = s.Accounts(ctx, store.AccountFilter{States: []store.AccountState{store.AccountDeleted}, Login: "ann.lee"})
	if len(list) != 1 || list[0].ID != "acct_1" {
		t.Fatalf("Accounts(deleted ann.lee) = %v", list)
	}
}

func testDueAccounts(t *testing.T, s store.Store) {
	ctx := context.Background()
	now := t0
	ending := NewAccount("a-ending", "a1", now.Add(-time.Second))
	future := NewAccount("a-future", "a2", now.Add(time.Hour))
	retry := NewAccount("a-retry", "a3", now.Add(-time.Hour))
	retry.State, retry.NextAttempt = store.AccountDisableFailed, now
	waiting := NewAccount("a-waiting", "a4", now.Add(-time.Hour))
	waiting.State, waiting.NextAttempt = store.AccountDisabling, now.Add(time.Minute)
	retained := NewAccount("a-retained", "a5", now.Add(-time.Hour))
	retained.State = store.AccountDisabled
	expired := NewAccount("a-delete", "a6", now.Add(-48*time.Hour))
	expired.State = store.AccountDisabled
	creating := NewAccount("a-creating", "a7", now.Add(time.Hour))
	creating.State, creating.NextAttempt = store.AccountCreating, now
	gone := NewAccount("a-gone", "a8", now.Add(-72*time.Hour))
	gone.State = store.AccountDeleted
	insertAccounts(t, s, ending, future, retry, waiting, retained, expired, creating, gone)
	var due []store.Account
	err := s.Update(ctx, func(tx store.Tx) (err error) { due, err = tx.DueAccounts(now, 10); return err })
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range due {
		got = append(got, a.ID)
	}
	if want := "[a-delete a-retry a-ending a-creating]"; fmt.Sprint(got) != want {
		t.Fatalf("DueAccounts = %v, want %s", got, want)
	}
	next, ok, err := s.NextAccountDue(ctx)
	if err != nil || !ok || !next.Equal(expired.DeleteAt) {
		t.Fatalf("NextAccountDue = %v %v %v, want %v", next, ok, err, expired.DeleteAt)
	}
}

// A directory that answers again makes its account steps waiting out a
// backoff due at once, and only its own.
func testRetryAccountsNow(t *testing.T, s store.Store) {
	ctx := context.Background()
	waiting := NewAccount("a-waiting", "a1", t0.Add(-time.Hour))
	waiting.State, waiting.NextAttempt = store.AccountDisabling, t0.Add(5*time.Minute)
	failed := NewAccount("a-failed", "a2", t0.Add(-time.Hour))
	failed.State, failed.NextAttempt = store.AccountDisableFailed, t0.Add(5*time.Minute)
	other := NewAccount("a-other", "a3", t0.Add(-time.Hour))
	other.State, other.NextAttempt, other.Directory = store.AccountDisabling, t0.Add(5*time.Minute), "elsewhere"
	active := NewAccount("a-active", "a4", t0.Add(time.Hour))
	insertAccounts(t, s, waiting, failed, other, active)
	var n int
	if err := s.Update(ctx, func(tx store.Tx) (err error) { n, err = tx.RetryAccountsNow("corp", t0); return err }); err != nil {
		t.Fatal(err)
	}
	var due []store.Account
	s.Update(ctx, func(tx store.Tx) (err error) { due, err = tx.DueAccounts(t0, 10); return err })
	var got []string
	for _, a := range due {
		got = append(got, a.ID)
	}
	slices.Sort(got)
	if n != 2 || fmt.Sprint(got) != "[a-failed a-waiting]" {
		t.Fatalf("RetryAccountsNow = %d, due %v; want 2, [a-failed a-waiting]", n, got)
	}
}
