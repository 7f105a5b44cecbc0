package store

import (
	"context"
	"time"
)

// CampaignState is where an access review campaign stands.
type CampaignState string

// Campaign states.
const (
	CampaignOpen   CampaignState = "open"
	CampaignClosed CampaignState = "closed"
)

// Campaign is one access review: items under review, each with its
// reviewers, a due date and what happens to an item nobody decided.
type Campaign struct {
	ID   string
	Name string
	// Schedule names the configured recurring campaign that opened it
	// ("" when opened by hand).
	Schedule string
	// Settings is the campaign's scope, reviewers, reminders and escalation
	// as the review package encodes them (JSON).
	Settings   string
	OnNoAnswer string // keep or revoke
	State      CampaignState
	CreatedBy  string
	CreatedAt  time.Time
	DueAt      time.Time
	Reminders  int  // reminders sent so far
	Escalated  bool // undecided items went to their reviewers' managers
	ClosedAt   time.Time
	ClosedBy   string
	// NextAt is when the review loop must act on the campaign next (zero
	// once closed).
	NextAt time.Time
}

// Item kinds and decisions.
const (
	ItemMembership = "membership" // a standing member of a group
	ItemAccount    = "account"    // a contractor account
	ItemGrant      = "grant"      // a grant (or break-glass use) of a period

	DecisionKeep   = "keep"
	DecisionRevoke = "revoke"
	DecisionJIT    = "jit" // remove the standing membership; allowed by request from now on
)

// CampaignItem is one thing under review.
type CampaignItem struct {
	CampaignID string
	Seq        int
	Kind       string
	// Source says why the access exists: baseline, accepted (drift accepted
	// into the baseline), member, contractor, grant, breakglass.
	Source                                          string
	Directory, GroupID, GroupName, UserID, UserName string
	Ref                                             string // the grant's or account's id
	Detail                                          string
	Reviewers                                       []string // who may decide (lower-case logins)
	Decision                                        string   // "" until decided
	DecidedBy                                       string
	DecidedAt                                       time.Time
	Comment                                         string
	// Effect is the id of what a revoke handed to the removal path (a
	// grant or an account); AppliedAt is when (zero: not yet).
	Effect    string
	AppliedAt time.Time
}

// CampaignFilter selects campaigns; zero fields match everything.
type CampaignFilter struct {
	State    CampaignState
	Schedule string
	Reviewer string // campaigns with an item this login may decide
	Limit    int
	Offset   int
}

// CampaignItemFilter selects a campaign's items; zero fields match everything.
type CampaignItemFilter struct {
	CampaignID string
	Reviewer   string // items this login may decide
	Pending    bool   // undecided only
	// Unapplied: revoke and jit decisions whose effect is not handed on yet.
	Unapplied bool
	AfterSeq  int // items with a higher seq (a cursor)
	Limit     int
	Offset    int
}

// CampaignCounts are a campaign's items by decision.
type CampaignCounts struct {
	Items     int `json:"items"`
	Pending   int `json:"pending"`
	Keep      int `json:"keep"`
	Revoke    int `json:"revoke"`
	JIT       int `json:"jit"`
	Unapplied int `json:"unapplied"` // revoke and jit decisions not handed to the removal path yet
}

// Campaigns is the store's part for access review campaigns and the
// just-in-time eligibility their decisions leave.
type Campaigns interface {
	Campaign(ctx context.Context, id string) (Campaign, error)
	// Campaigns lists campaigns, newest first.
	Campaigns(ctx context.Context, f CampaignFilter) ([]Campaign, error)
	// CampaignItems lists items in seq order.
	CampaignItems(ctx context.Context, f CampaignItemFilter) ([]CampaignItem, error)
	// CountCampaignItems counts the items f selects, Limit and Offset aside.
	CountCampaignItems(ctx context.Context, f CampaignItemFilter) (int, error)
	CampaignCounts(ctx context.Context, id string) (CampaignCounts, error)
	// NextCampaignDue is the earliest NextAt of an open campaign.
	NextCampaignDue(ctx context.Context) (time.Time, bool, error)
	// JITGroups lists the groups (by name) a review made just-in-time for a user.
	JITGroups(ctx context.Context, directory, userID string) ([]string, error)
}

// CampaignsTx is the write transaction's part for access review campaigns.
type CampaignsTx interface {
	Campaign(id string) (Campaign, error)
	InsertCampaign(c Campaign) error
	UpdateCampaign(c Campaign) error
	InsertCampaignItems(items []CampaignItem) error
	CampaignItem(campaignID string, seq int) (CampaignItem, error)
	CampaignItems(f CampaignItemFilter) ([]CampaignItem, error)
	// UpdateCampaignItem stores an item's reviewers, decision and effect.
	UpdateCampaignItem(it CampaignItem) error
	// AddJITGroup records that a review made a group just-in-time for a user.
	AddJITGroup(directory, groupID, groupName, userID string, at time.Time, by string) error
}
