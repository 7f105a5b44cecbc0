package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/jitd/jitd/core/store"
)

func testTokens(t *testing.T, s store.Store) {
	ctx := context.Background()
	tok := store.Token{ID: "t1", Name: "admin", Role: "admin", Kind: store.TokenSystem, SecretHash: "abc", CreatedAt: t0}
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.InsertToken(tok) }); err != nil {
		t.Fatal(err)
	}
	got, err := s.Token(ctx, "t1")
	if err != nil || got != tok {
		t.Fatalf("Token = %+v, %v", got, err)
	}
	dup := tok
	dup.ID = "t2"
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.InsertToken(dup) }); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("token with a taken name: %v, want ErrConflict", err)
	}
	if _, err := s.Token(ctx, "zz"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing token: %v", err)
	}
	if n, _ := s.CountTokens(ctx); n != 1 {
		t.Fatalf("CountTokens = %d", n)
	}
}
