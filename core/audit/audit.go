// Package audit defines jitd's append-only, hash-chained audit log. Each event
// carries the hash of the one before it, so an edited, inserted or deleted row
// breaks the chain and Verify reports where.
package audit

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// Actions recorded in the log.
const (
	GrantRequested    = "grant.requested"           // intent committed, directory call next
	GrantActive       = "grant.active"              // membership is in place
	GrantApplyFailed  = "grant.apply_failed"        // the directory refused or failed the add
	GrantExtended     = "grant.extended"            // expires_at moved
	GrantRevoking     = "grant.revoking"            // claimed for removal
	GrantRevoked      = "grant.revoked"             // removal done (or not needed)
	GrantRevokeFailed = "grant.revoke_failed"       // removal failing past the attempt limit; still retried
	GrantVanished     = "grant.membership_vanished" // removed outside jitd while the grant is active
	SessionsEnded     = "grant.sessions_ended"      // the user's sessions in the directory were ended after the removal
	SessionsEndFailed = "grant.sessions_end_failed" // ending them keeps failing; still retried
	TokenCreated      = "token.created"
	TokenRevoked      = "token.revoked"
	BaselineRecorded  = "baseline.recorded"
	BaselineAccepted  = "baseline.accepted"
	DriftDetected     = "drift.detected" // a member nobody granted
	DriftResolved     = "drift.resolved" // that member is gone
	Offboarded        = "user.offboarded"
	// A directory stopped answering jitd's calls and probes for longer than
	// expiry.alert_after, and answers again; Directory names it.
	DirectoryUnreachable = "directory.unreachable"
	// A signed checkpoint of the log, announced (Detail holds it) so that
	// channels keep a copy outside the database.
	CheckpointMade     = "audit.checkpoint"
	DirectoryAnswering = "directory.answering"
	// Personal fields of events past the retention period were erased
	// (Detail says which events and why).
	PersonalDataErased = "audit.personal_data_erased"

	// Ephemeral accounts; GrantID holds the account id.
	AccountCreating       = "account.creating"        // intent committed, directory call next
	AccountCreated        = "account.created"         // the account exists, enabled
	AccountCreateFailed   = "account.create_failed"   // the directory refused; nothing to undo
	AccountExtended       = "account.extended"        // end date moved
	AccountDisabling      = "account.disabling"       // end reached or ended early
	AccountDisabled       = "account.disabled"        // disabled in the directory
	AccountDisableFailed  = "account.disable_failed"  // disabling failing past the attempt limit; still retried
	AccountDeleting       = "account.deleting"        // retention over, or deleted early
	AccountDeleted        = "account.deleted"         // gone from the directory
	AccountSponsorChanged = "account.sponsor_changed" // the sponsor left; reassigned

	// Access review campaigns; GrantID holds the campaign id.
	ReviewOpened    = "review.opened"    // a campaign opened, its items assigned
	ReviewReminder  = "review.reminder"  // reviewers with items left are reminded
	ReviewEscalated = "review.escalated" // undecided items went to the reviewers' managers
	ReviewDecided   = "review.decided"   // one item decided (keep, revoke, jit), by a reviewer or by the due date
	ReviewApplied   = "review.applied"   // a revoke or jit decision handed to the removal path
	ReviewClosed    = "review.closed"    // the campaign is over

	InviteCreated = "invite.created"  // a sponsor invited a contractor
	InviteUsed    = "invite.used"     // the contractor submitted; an onboarding request exists
	InviteRevoked = "invite.revoked"  // withdrawn before use
	InviteFetched = "invite.password" // the contractor fetched their initial password
	SignedOut     = "auth.signed_out" // a person ended their browser sessions
	AuthRefused   = "auth.refused"    // a person's token refused: the directory disabled or removed them
)

// Event is one row of the audit log.
type Event struct {
	Seq       int64     `json:"seq"`
	Time      time.Time `json:"time"`
	Actor     string    `json:"actor"`
	Action    string    `json:"action"`
	GrantID   string    `json:"grant_id,omitempty"`
	Directory string    `json:"directory,omitempty"`
	Group     string    `json:"group,omitempty"`
	User      string    `json:"user,omitempty"`
	Detail    string    `json:"detail,omitempty"`
	PrevHash  string    `json:"prev_hash"`
	Hash      string    `json:"hash"`
	// Commit is a salted commitment to the personal fields (Actor, User,
	// Detail): the hash covers it instead of them, so that they can be
	// erased after the retention period and the chain still verifies.
	// Events written before commitments have none (and keep their
	// personal fields). Salt is the commitment's salt; erasing an event
	// removes it with the clear values.
	Commit string `json:"commit,omitempty"`
	Salt   string `json:"salt,omitempty"`
}

// Erased is what an erased personal field holds.
const Erased = "(erased)"

// Seal gives e a fresh salt and the commitment to its personal fields.
func Seal(e *Event) {
	var salt [16]byte
	rand.Read(salt[:])
	e.Salt = hex.EncodeToString(salt[:])
	e.Commit = commitment(e.Salt, e.Actor, e.User, e.Detail)
}

// Erase replaces e's personal fields and salt: what is left cannot be
// tied back to a person, and the commitment still holds the chain.
func Erase(e *Event) {
	for _, f := range []*string{&e.Actor, &e.User, &e.Detail} {
		if *f != "" {
			*f = Erased
		}
	}
	e.Salt = ""
}

// IsErased reports whether e's personal fields were erased.
func (e Event) IsErased() bool { return e.Commit != "" && e.Salt == "" }

func commitment(salt, actor, user, detail string) string {
	body, _ := json.Marshal([]string{salt, actor, user, detail})
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

// personalProblem says what is wrong with e's personal fields against its
// commitment, if anything.
func personalProblem(e Event) string {
	switch {
	case e.Commit == "":
		return ""
	case e.Salt != "":
		if commitment(e.Salt, e.Actor, e.User, e.Detail) != e.Commit {
			return "actor, user or detail do not match the event's commitment: row edited"
		}
	default:
		for _, f := range []string{e.Actor, e.User, e.Detail} {
			if f != "" && f != Erased {
				return "personal fields hold values after their erasure: row edited"
			}
		}
	}
	return ""
}

// GenesisHash is the PrevHash of the first event.
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// ComputeHash returns the hash of e chained to e.PrevHash. It covers every field
// except Hash itself; times are hashed at nanosecond precision in UTC.
func ComputeHash(e Event) string {
	sum := sha256.Sum256(canonical(e))
	return hex.EncodeToString(sum[:])
}

// canonical is what an event's hash covers: with a commitment, the
// commitment in place of the personal fields.
func canonical(e Event) []byte {
	if e.Commit != "" {
		body, _ := json.Marshal(struct {
			Seq       int64  `json:"seq"`
			Time      int64  `json:"time"`
			Action    string `json:"action"`
			GrantID   string `json:"grant_id"`
			Directory string `json:"directory"`
			Group     string `json:"group"`
			Commit    string `json:"commit"`
			PrevHash  string `json:"prev_hash"`
		}{e.Seq, e.Time.UnixNano(), e.Action, e.GrantID, e.Directory, e.Group, e.Commit, e.PrevHash})
		return body
	}
	body, _ := json.Marshal(struct {
		Seq       int64  `json:"seq"`
		Time      int64  `json:"time"`
		Actor     string `json:"actor"`
		Action    string `json:"action"`
		GrantID   string `json:"grant_id"`
		Directory string `json:"directory"`
		Group     string `json:"group"`
		User      string `json:"user"`
		Detail    string `json:"detail"`
		PrevHash  string `json:"prev_hash"`
	}{e.Seq, e.Time.UnixNano(), e.Actor, e.Action, e.GrantID, e.Directory, e.Group, e.User, e.Detail, e.PrevHash})
	return body
}

// Problem is one break in the chain.
type Problem struct {
	Seq    int64  `json:"seq"`
	Reason string `json:"reason"`
}

func (p Problem) String() string { return fmt.Sprintf("event %d: %s", p.Seq, p.Reason) }

// Verifier checks events fed to it in sequence order.
type Verifier struct {
	keys     *Keys
	prevSeq  int64
	prevHash string
	Problems []Problem
	Count    int64
}

// NewVerifier starts a verification at the beginning of the log.
func NewVerifier() *Verifier { return &Verifier{prevHash: GenesisHash} }

// NewKeyedVerifier starts a verification of a log keyed with keys.
func NewKeyedVerifier(keys Keys) *Verifier { return &Verifier{keys: &keys, prevHash: GenesisHash} }

// Add checks the next event.
func (v *Verifier) Add(e Event) {
	v.Count++
	if e.Seq != v.prevSeq+1 {
		v.Problems = append(v.Problems, Problem{e.Seq, fmt.Sprintf("sequence jumps from %d: rows deleted or inserted", v.prevSeq)})
	}
	if e.PrevHash != v.prevHash {
		v.Problems = append(v.Problems, Problem{e.Seq, "prev_hash does not match the previous event: chain broken"})
	}
	if v.keys.Hash(e) != e.Hash {
		v.Problems = append(v.Problems, Problem{e.Seq, "hash does not match the content: row edited"})
	}
	if p := personalProblem(e); p != "" {
		v.Problems = append(v.Problems, Problem{e.Seq, p})
	}
	v.prevSeq, v.prevHash = e.Seq, e.Hash
}

// Finish compares the end of the chain with the recorded head (the last seq and
// hash written), which catches rows deleted from the end.
func (v *Verifier) Finish(headSeq int64, headHash string) []Problem {
	if headSeq != v.prevSeq || (headSeq > 0 && headHash != v.prevHash) {
		v.Problems = append(v.Problems, Problem{headSeq, fmt.Sprintf("log ends at event %d but %d was written: rows deleted from the end", v.prevSeq, headSeq)})
	}
	if v.keys != nil && v.prevSeq < v.keys.Since-1 {
		v.Problems = append(v.Problems, Problem{v.prevSeq, fmt.Sprintf("log ends at event %d, before event %d where keying began: rows deleted", v.prevSeq, v.keys.Since-1)})
	}
	return v.Problems
}
