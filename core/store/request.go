package store

import (
	"context"
	"slices"
	"time"
)

// RequestState is an access request's place in its lifecycle:
// pending → approved (every step) → a grant; or denied, cancelled, expired
// (nobody decided in time); failed when the approved grant could not be made.
type RequestState string

// Request states.
const (
	RequestPending   RequestState = "pending"
	RequestApproved  RequestState = "approved"
	RequestDenied    RequestState = "denied"
	RequestCancelled RequestState = "cancelled"
	RequestExpired   RequestState = "expired"
	RequestFailed    RequestState = "failed"
)

// RequestStates lists every request state.
var RequestStates = []RequestState{RequestPending, RequestApproved, RequestDenied, RequestCancelled, RequestExpired, RequestFailed}

// Valid reports whether s is a known state.
func (s RequestState) Valid() bool { return slices.Contains(RequestStates, s) }

// ApprovalStep is one step of a request's chain, as policy decided it.
type ApprovalStep struct {
	Any    int      `json:"any"`
	Users  []string `json:"users"`
	Groups []string `json:"groups"`
}

// Request is an access request.
type Request struct {
	ID        string
	Requester string // login in Directory
	Directory string
	Group     string
	Duration  time.Duration
	Reason    string
	Ticket    string
	State     RequestState
	Rule      string         // the policy rule that decided
	Steps     []ApprovalStep // every step must pass, in order
	Step      int            // the step awaiting decisions
	CreatedAt time.Time
	UpdatedAt time.Time
	ExpiresAt time.Time // a pending request expires then
	DecidedAt time.Time
	DecidedBy string
	Detail    string // why it was denied, failed, ...
	GrantID   string
	// Extends is the live grant this request asks to extend ("" for a new
	// grant); BreakGlass marks a request granted at once by the
	// requester's own authority.
	Extends    string
	BreakGlass bool
	// StartsAt, when set, is when the grant begins: an approved request
	// waits with no grant until then (zero: at approval).
	StartsAt time.Time
	// Risk is the score policy saw when the request was made (nil: no
	// risk source configured).
	Risk *float64
	// Onboarding, when set, makes this a contractor's request for an
	// account (and its groups) instead of a group; AccountID is the
	// account made when it was approved.
	Onboarding *Onboarding
	AccountID  string
}

// Approval is one person's decision on a request.
type Approval struct {
	RequestID string
	Approver  string
	Step      int
	Decision  string // approve or deny
	Comment   string
	At        time.Time
}

// RequestFilter selects requests; zero fields match everything.
type RequestFilter struct {
	States    []RequestState
	Requester string
	Directory string
	Limit     int
	Offset    int // skip this many of the newest first (a page)
}

// GrantRequest is the request that made a grant, with its decisions
// oldest first.
type GrantRequest struct {
	Request
	Approvals []Approval
}

// ReviewState is where a break-glass review stands.
type ReviewState string

// Review states.
const (
	ReviewOpen   ReviewState = "open"
	ReviewClosed ReviewState = "closed"
)

// Review is the after-the-fact review of one use of break-glass.
type Review struct {
	ID        string
	RequestID string
	Subject   string // who used break-glass
	Directory string
	Group     string
	Reason    string
	State     ReviewState
	CreatedAt time.Time
	ClosedAt  time.Time
	ClosedBy  string
	Outcome   string // justified or unjustified
	Comment   string
}

// Requests is the store's part for access requests, their approvals and break-glass reviews.
type Requests interface {
	Request(ctx context.Context, id string) (Request, error)
	// Requests lists requests, newest first.
	Requests(ctx context.Context, f RequestFilter) ([]Request, error)
	// Approvals lists a request's decisions, oldest first.
	Approvals(ctx context.Context, requestID string) ([]Approval, error)
	// GrantRequests returns the requests that made these grants (not the
	// ones that extended them), by grant id, each with its decisions.
	GrantRequests(ctx context.Context, grantIDs []string) (map[string]GrantRequest, error)
	// NextRequestDue returns when the earliest pending request expires or
	// approved request starts.
	NextRequestDue(ctx context.Context) (time.Time, bool, error)
	// StartingRequests returns approved requests whose start has come and
	// whose grant is not made yet, earliest first.
	StartingRequests(ctx context.Context, now time.Time, limit int) ([]Request, error)
	// Reviews lists break-glass reviews in state ("" for all), newest first.
	Reviews(ctx context.Context, state ReviewState) ([]Review, error)
}

// RequestsTx is the write transaction's part for access requests, their approvals and break-glass reviews.
type RequestsTx interface {
	Request(id string) (Request, error)
	InsertRequest(r Request) error
	// UpdateRequest replaces every mutable field of the request with r's.
	UpdateRequest(r Request) error
	// InsertApproval records a decision; a second one by the same person on
	// the same request is ErrConflict.
	InsertApproval(a Approval) error
	Approvals(requestID string) ([]Approval, error)
	Review(id string) (Review, error)
	InsertReview(v Review) error
	// UpdateReview stores a review's state, closing time, closer, outcome
	// and comment.
	UpdateReview(v Review) error
	// ExpiredRequests returns pending requests whose expires_at has passed.
	ExpiredRequests(now time.Time, limit int) ([]Request, error)
}
