package store

import (
	"context"
	"time"
)

// InviteState is where a contractor invite stands. An open invite past its
// ExpiresAt no longer works; nothing needs to change it.
type InviteState string

// Invite states.
const (
	InviteOpen    InviteState = "open"
	InviteUsed    InviteState = "used"
	InviteRevoked InviteState = "revoked"
)

// Invite is a sponsor's single-use invitation to ask for a contractor account.
type Invite struct {
	ID         string
	SecretHash string // hex sha256 of the link's secret
	PublicKey  []byte // X25519; the initial password is sealed to it
	Directory  string
	Sponsor    string
	CreatedBy  string
	MaxUntil   time.Time
	Groups     []string // the groups the contractor may ask for
	Note       string
	State      InviteState
	CreatedAt  time.Time
	ExpiresAt  time.Time
	UsedAt     time.Time
	RequestID  string
	// SealedPassword holds the account's initial password, readable only
	// with the link's secret, until the contractor fetches it.
	SealedPassword []byte
	RevokedBy      string
}

// Onboarding is what a contractor submitted through an invite: the account
// an onboarding request asks for.
type Onboarding struct {
	InviteID  string    `json:"invite"`
	Login     string    `json:"login"`
	GivenName string    `json:"given_name"`
	Surname   string    `json:"surname"`
	Email     string    `json:"email"`
	Company   string    `json:"company"`
	Sponsor   string    `json:"sponsor"`
	Until     time.Time `json:"until"`
	Groups    []string  `json:"groups"`
}

// Invites is the store's part for contractor invites.
type Invites interface {
	Invite(ctx context.Context, id string) (Invite, error)
	// Invites lists invites, newest first; sponsor "" lists all.
	Invites(ctx context.Context, sponsor string) ([]Invite, error)
}

// InvitesTx is the write transaction's part for contractor invites.
type InvitesTx interface {
	Invite(id string) (Invite, error)
	InsertInvite(v Invite) error
	// UpdateInvite stores an invite's state, use, request, sealed password
	// and revoker.
	UpdateInvite(v Invite) error
}
