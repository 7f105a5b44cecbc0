package store

import (
	"context"
	"time"
)

// Token kinds.
const (
	// TokenPerson stands for the person whose login is its name: it stops
	// working once no directory has them as an enabled user.
	TokenPerson = "person"
	// TokenSystem stands for a system (a SCIM client, automation); its
	// principal is "system:<name>", never a login.
	TokenSystem = "system"
)

// Token is an API token; only a hash of its secret is stored.
type Token struct {
	ID         string
	Name       string
	Role       string
	Kind       string // TokenPerson or TokenSystem
	SecretHash string
	CreatedAt  time.Time
	ExpiresAt  time.Time // zero: never
	RevokedAt  time.Time // zero: not revoked
}

// Tokens is the store's part for API tokens.
type Tokens interface {
	Token(ctx context.Context, id string) (Token, error)
	// Tokens lists every token (with its hash), oldest first.
	Tokens(ctx context.Context) ([]Token, error)
	CountTokens(ctx context.Context) (int, error)
}

// TokensTx is the write transaction's part for API tokens.
type TokensTx interface {
	InsertToken(t Token) error
	// RevokeToken marks a token revoked at at (idempotent; ErrNotFound if none).
	RevokeToken(id string, at time.Time) error
}
