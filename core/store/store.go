// Package store declares jitd's durable state behind interfaces, one part
// per aggregate (grants, accounts, requests, invites, notifications, tokens,
// the mirror, baselines and drift, SCIM resources, session ends, the audit
// log). Implementations live in sub-packages and all pass the conformance
// suite in store/storetest.
package store

import (
	"context"
	"errors"
)

// Errors returned by every implementation.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("conflict")
)

// Updater runs write transactions.
type Updater interface {
	// Update runs fn in one write transaction; fn's error rolls it back.
	Update(ctx context.Context, fn func(Tx) error) error
}

// Store is jitd's durable state: one part per aggregate, each declared
// beside its types. A consumer declares the parts it uses (an Updater and
// the readers it needs); an implementation provides them all and passes
// store/storetest.
type Store interface {
	Updater
	Grants
	Audit
	Accounts
	Requests
	SignIns
	Invites
	Notifications
	Tokens
	Mirror
	Baselines
	SCIM
	SessionEnds
	Campaigns
	Close() error
}

// Tx is a write transaction: the write part of every aggregate.
type Tx interface {
	GrantsTx
	AuditTx
	AccountsTx
	RequestsTx
	SignInsTx
	InvitesTx
	NotificationsTx
	TokensTx
	IdempotencyTx
	MirrorTx
	BaselinesTx
	SCIMTx
	SessionEndsTx
	CampaignsTx
}
