// Package api is jitd's HTTP API under /api/v1: the server, its routes and
// the request and response types (the typed client is apiclient). Requests
// and responses are JSON; errors are RFC 9457 problem details with a stable
// "code" member.
package api

import (
	"time"

	"github.com/jitd/jitd/core/audit"
	"github.com/jitd/jitd/core/store"
)

// Grant is a grant as the API shows it.
type Grant struct {
	ID          string    `json:"id"`
	Directory   string    `json:"directory"`
	Group       string    `json:"group"`
	GroupID     string    `json:"group_id"`
	User        string    `json:"user"`
	UserID      string    `json:"user_id"`
	State       string    `json:"state"`
	Reason      string    `json:"reason"`
	CreatedBy   string    `json:"created_by"`
	Preexisting bool      `json:"preexisting"`
	StartsAt    time.Time `json:"starts_at"`
	ExpiresAt   time.Time `json:"expires_at"`
	CreatedAt   time.Time `json:"created_at"`
	EndedAt     time.Time `json:"ended_at,omitzero"`
	EndReason   string    `json:"end_reason,omitempty"`
	Attempts    int       `json:"attempts,omitempty"`
	NextAttempt time.Time `json:"next_attempt_at,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
}

func grantJSON(g store.Grant) Grant {
	return Grant{
		ID: g.ID, Directory: g.Directory, Group: g.GroupName, GroupID: g.GroupID, User: g.UserName, UserID: g.UserID,
		State: string(g.State), Reason: g.Reason, CreatedBy: g.CreatedBy, Preexisting: g.Preexisting,
		StartsAt: g.StartsAt, ExpiresAt: g.ExpiresAt, CreatedAt: g.CreatedAt, EndedAt: g.EndedAt, EndReason: g.EndReason,
		Attempts: g.Attempts, NextAttempt: g.NextAttempt, LastError: g.LastError,
	}
}

// AddGrantRequest asks for a grant. For takes Go durations or days ("3d");
// Until is RFC 3339. Exactly one is set.
type AddGrantRequest struct {
	Directory string    `json:"directory,omitempty"`
	User      string    `json:"user"`
	Group     string    `json:"group"`
	For       string    `json:"for,omitempty"`
	Until     time.Time `json:"until,omitzero"`
	Reason    string    `json:"reason"`
}

// ExtendRequest moves a grant's end: For is added to the current end; Until
// replaces it.
type ExtendRequest struct {
	For    string    `json:"for,omitempty"`
	Until  time.Time `json:"until,omitzero"`
	Reason string    `json:"reason"`
}

// RevokeRequest ends a grant now.
type RevokeRequest struct {
	Reason string `json:"reason"`
}

// GrantList is a page of grants.
type GrantList struct {
	Grants []Grant `json:"grants"`
}

// AuditList is a page of audit events, newest first.
type AuditList struct {
	Events []audit.Event `json:"events"`
}

// VerifyResult is the outcome of checking the audit chain.
type VerifyResult struct {
	OK       bool            `json:"ok"`
	Events   int64           `json:"events"`
	Problems []audit.Problem `json:"problems"`
	// Keyed says the chain is keyed (from event KeyedSince on), and
	// Checkpoints how many signed checkpoints the log was checked against.
	Keyed       bool  `json:"keyed"`
	KeyedSince  int64 `json:"keyed_since,omitempty"`
	Checkpoints int   `json:"checkpoints"`
}

// VerifyRequest names checkpoints (lines of the checkpoint file) that the
// log must still contain.
type VerifyRequest struct {
	Checkpoints []string `json:"checkpoints"`
}

// Error is an API error, sent as an RFC 9457 problem detail
// (application/problem+json): Type names the problem (urn:jitd:problem:CODE),
// Title says it in words, Message is the "detail" for people, and Code, an
// extension member, is stable for scripts.
type Error struct {
	Type    string `json:"type"`
	Title   string `json:"title"`
	Status  int    `json:"status"`
	Message string `json:"detail"`
	Code    string `json:"code"`
	// RetryAfter, when set, is sent as the Retry-After header (seconds).
	RetryAfter int `json:"-"`
}

func (e *Error) Error() string { return e.Message }

// problemTitles are the short, fixed titles of each code.
var problemTitles = map[string]string{
	CodeInvalid:         "Invalid request",
	CodeNotFound:        "Not found",
	CodeConflict:        "Conflict",
	CodeUnauthenticated: "Authentication required",
	CodeForbidden:       "Forbidden",
	CodeDirectory:       "Directory error",
	CodeTooLarge:        "Request body too large",
	CodeGone:            "No longer available",
	CodeTooMany:         "Too many requests",
	CodeInternal:        "Internal error",
}

// Error codes.
const (
	CodeInvalid         = "invalid_request"
	CodeNotFound        = "not_found"
	CodeConflict        = "conflict"
	CodeUnauthenticated = "unauthenticated"
	CodeForbidden       = "forbidden"
	CodeDirectory       = "directory_error"
	CodeTooLarge        = "too_large"
	CodeGone            = "gone"
	CodeTooMany         = "too_many_requests"
	CodeInternal        = "internal"
)

// SyncStatus is where one directory's mirror stands.
type SyncStatus struct {
	Directory         string    `json:"directory"`
	LastFullAt        time.Time `json:"last_full_at,omitzero"`
	LastIncrementalAt time.Time `json:"last_incremental_at,omitzero"`
	CursorAt          time.Time `json:"cursor_at,omitzero"`
	Incremental       bool      `json:"incremental"` // a cursor is stored: the next sync is incremental
	FullSyncs         int64     `json:"full_syncs"`
	IncrementalSyncs  int64     `json:"incremental_syncs"`
	CursorExpired     int64     `json:"cursor_expired"`
	Users             int       `json:"users"`
	Groups            int       `json:"groups"`
	Memberships       int       `json:"memberships"`
	LastError         string    `json:"last_error,omitempty"`
	LastErrorAt       time.Time `json:"last_error_at,omitzero"`
	// Running is the sync under way, if one is.
	Running *SyncProgress `json:"running,omitempty"`
}

// SyncProgress is a sync under way.
type SyncProgress struct {
	Full      bool      `json:"full"`
	Phase     string    `json:"phase"`
	Objects   int64     `json:"objects"`
	StartedAt time.Time `json:"started_at"`
}

// SyncRunRequest asks for a sync now; an empty Directory means all.
type SyncRunRequest struct {
	Directory string `json:"directory,omitempty"`
	Full      bool   `json:"full,omitempty"`
}

// SyncRunResult is the outcome of one directory's sync.
type SyncRunResult struct {
	Directory  string `json:"directory"`
	Full       bool   `json:"full"`
	Reason     string `json:"reason,omitempty"`
	Changes    int    `json:"changes"`
	Removed    int    `json:"removed"`
	DurationMS int64  `json:"duration_ms"`
	Error      string `json:"error,omitempty"`
}

// Drift is a member of a JIT-managed group that nobody granted.
type Drift struct {
	Directory string    `json:"directory"`
	Group     string    `json:"group"`
	User      string    `json:"user"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
}

// Baseline is a group's standing membership as jitd accepts it.
type Baseline struct {
	Directory string   `json:"directory"`
	Group     string   `json:"group"`
	Recorded  bool     `json:"recorded"`
	Members   []string `json:"members"`
}

// AcceptRequest accepts open drift into a group's baseline (one user, or all).
type AcceptRequest struct {
	Directory string `json:"directory"`
	Group     string `json:"group"`
	User      string `json:"user,omitempty"`
	Reason    string `json:"reason"`
}
