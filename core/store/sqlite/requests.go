package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/jitd/jitd/core/store"
)

const requestColumns = `id, requester, directory, group_name, duration_ns, reason, ticket, state, rule, steps, step,
	created_at, updated_at, expires_at, decided_at, decided_by, detail, grant_id, extends, breakglass, onboarding, account_id, starts_at, risk`

func scanRequest(r scanner) (store.Request, error) {
	var q store.Request
	var state, steps, onboarding string
	var dur, created, updated, expires, decided, starts int64
	var risk sql.NullFloat64
	err := r.Scan(&q.ID, &q.Requester, &q.Directory, &q.Group, &dur, &q.Reason, &q.Ticket, &state, &q.Rule, &steps, &q.Step,
		&created, &updated, &expires, &decided, &q.DecidedBy, &q.Detail, &q.GrantID, &q.Extends, &q.BreakGlass, &onboarding, &q.AccountID, &starts, &risk)
	if err != nil {
		return q, err
	}
	if risk.Valid {
		q.Risk = &risk.Float64
	}
	if onboarding != "" {
		q.Onboarding = new(store.Onboarding)
		if err := json.Unmarshal([]byte(onboarding), q.Onboarding); err != nil {
			return q, fmt.Errorf("request %s: onboarding: %w", q.ID, err)
		}
	}
	q.State, q.Duration = store.RequestState(state), time.Duration(dur)
	q.CreatedAt, q.UpdatedAt, q.ExpiresAt, q.DecidedAt, q.StartsAt = fromNanos(created), fromNanos(updated), fromNanos(expires), fromNanos(decided), fromNanos(starts)
	if err := json.Unmarshal([]byte(steps), &q.Steps); err != nil {
		return q, fmt.Errorf("request %s: steps: %w", q.ID, err)
	}
	return q, nil
}

func getRequest(ctx context.Context, q querier, id string) (store.Request, error) {
	r, err := scanRequest(q.QueryRowContext(ctx, `SELECT `+requestColumns+` FROM requests WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("request %q: %w", id, store.ErrNotFound)
	}
	return r, err
}

func stepsJSON(steps []store.ApprovalStep) string {
	if steps == nil {
		steps = []store.ApprovalStep{}
	}
	b, _ := json.Marshal(steps)
	return string(b)
}

// Request returns one request.
func (s *Store) Request(ctx context.Context, id string) (store.Request, error) {
	return getRequest(ctx, s.read, id)
}

// Requests lists requests, newest first.
func (s *Store) Requests(ctx context.Context, f store.RequestFilter) ([]store.Request, error) {
	var w where
	in(&w, "state", f.States)
	w.eq("requester", f.Requester)
	w.eq("directory", f.Directory)
	return queryAll(ctx, s.read, `SELECT `+requestColumns+` FROM requests `+w.newestFirst(f.Limit)+offset(f.Limit, f.Offset), scanRequest, w.args...)
}

func scanApproval(r scanner) (store.Approval, error) {
	var a store.Approval
	var at int64
	err := r.Scan(&a.RequestID, &a.Approver, &a.Step, &a.Decision, &a.Comment, &at)
	a.At = fromNanos(at)
	return a, err
}

func approvals(ctx context.Context, q querier, id string) ([]store.Approval, error) {
	return queryAll(ctx, q, `SELECT request_id, approver, step, decision, comment, at FROM approvals WHERE request_id = ? ORDER BY at, approver`, scanApproval, id)
}

// Approvals lists a request's decisions, oldest first.
func (s *Store) Approvals(ctx context.Context, id string) ([]store.Approval, error) {
	return approvals(ctx, s.read, id)
}

// lookupChunk is how many ids one IN (...) lookup names.
const lookupChunk = 500

// GrantRequests returns the requests that made these grants, by grant id,
// each with its decisions: two queries per 500 grants.
func (s *Store) GrantRequests(ctx context.Context, grantIDs []string) (map[string]store.GrantRequest, error) {
	out := map[string]store.GrantRequest{}
	for lo := 0; lo < len(grantIDs); lo += lookupChunk {
		var w where
		in(&w, "grant_id", grantIDs[lo:min(lo+lookupChunk, len(grantIDs))])
		w.conds = append(w.conds, "extends = ''")
		rs, err := queryAll(ctx, s.read, `SELECT `+requestColumns+` FROM requests WHERE `+strings.Join(w.conds, " AND "), scanRequest, w.args...)
		if err != nil {
			return nil, err
		}
		var ids []string
		byID := map[string]string{}
		for _, r := range rs {
			out[r.GrantID] = store.GrantRequest{Request: r}
			ids = append(ids, r.ID)
			byID[r.ID] = r.GrantID
		}
		if len(ids) == 0 {
			continue
		}
		var a where
		in(&a, "request_id", ids)
		as, err := queryAll(ctx, s.read, `SELECT request_id, approver, step, decision, comment, at FROM approvals WHERE `+a.conds[0]+` ORDER BY at, approver`, scanApproval, a.args...)
		if err != nil {
			return nil, err
		}
		for _, ap := range as {
			gr := out[byID[ap.RequestID]]
			gr.Approvals = append(gr.Approvals, ap)
			out[byID[ap.RequestID]] = gr
		}
	}
	return out, nil
}

// startingWhere selects approved requests that wait for their start.
const startingWhere = `state = 'approved' AND grant_id = '' AND onboarding = '' AND extends = '' AND starts_at > 0`

// NextRequestDue returns when the earliest pending request expires or
// approved request starts.
func (s *Store) NextRequestDue(ctx context.Context) (time.Time, bool, error) {
	var n sql.NullInt64
	err := s.read.QueryRowContext(ctx, `SELECT min(t) FROM (
		SELECT min(expires_at) AS t FROM requests WHERE state = 'pending'
		UNION ALL SELECT min(starts_at) FROM requests WHERE `+startingWhere+`)`).Scan(&n)
	if err != nil || !n.Valid {
		return time.Time{}, false, err
	}
	return fromNanos(n.Int64), true, nil
}

// StartingRequests returns approved requests whose start has come and whose
// grant is not made yet, earliest first.
func (s *Store) StartingRequests(ctx context.Context, now time.Time, limit int) ([]store.Request, error) {
	return queryAll(ctx, s.read, `SELECT `+requestColumns+` FROM requests WHERE `+startingWhere+` AND starts_at <= ? ORDER BY starts_at, id LIMIT ?`,
		scanRequest, now.UnixNano(), limit)
}

func (t *txn) Request(id string) (store.Request, error) { return getRequest(t.ctx, t, id) }

func (t *txn) InsertRequest(r store.Request) error {
	onboarding := ""
	if r.Onboarding != nil {
		b, err := json.Marshal(r.Onboarding)
		if err != nil {
			return err
		}
		onboarding = string(b)
	}
	_, err := t.exec(`INSERT INTO requests (`+requestColumns+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		r.ID, r.Requester, r.Directory, r.Group, int64(r.Duration), r.Reason, r.Ticket, string(r.State), r.Rule, stepsJSON(r.Steps), r.Step,
		nanos(r.CreatedAt), nanos(r.UpdatedAt), nanos(r.ExpiresAt), nanos(r.DecidedAt), r.DecidedBy, r.Detail, r.GrantID, r.Extends, r.BreakGlass,
		onboarding, r.AccountID, nanos(r.StartsAt), r.Risk)
	var se sqlite3.Error
	if errors.As(err, &se) && se.Code == sqlite3.ErrConstraint {
		return fmt.Errorf("request %q: %w: %v", r.ID, store.ErrConflict, err)
	}
	return err
}

func (t *txn) UpdateRequest(r store.Request) error {
	res, err := t.exec(`UPDATE requests SET state = ?, step = ?, updated_at = ?, decided_at = ?, decided_by = ?, detail = ?, grant_id = ?, account_id = ? WHERE id = ?`,
		string(r.State), r.Step, nanos(r.UpdatedAt), nanos(r.DecidedAt), r.DecidedBy, r.Detail, r.GrantID, r.AccountID, r.ID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("request %q: %w", r.ID, store.ErrNotFound)
	}
	return nil
}

func (t *txn) InsertApproval(a store.Approval) error {
	_, err := t.exec(`INSERT INTO approvals (request_id, approver, step, decision, comment, at) VALUES (?,?,?,?,?,?)`,
		a.RequestID, a.Approver, a.Step, a.Decision, a.Comment, nanos(a.At))
	var se sqlite3.Error
	if errors.As(err, &se) && se.Code == sqlite3.ErrConstraint {
		return fmt.Errorf("%s already decided on request %s: %w", a.Approver, a.RequestID, store.ErrConflict)
	}
	return err
}

func (t *txn) Approvals(id string) ([]store.Approval, error) { return approvals(t.ctx, t, id) }

func (t *txn) ExpiredRequests(now time.Time, limit int) ([]store.Request, error) {
	return queryAll(t.ctx, t, `SELECT `+requestColumns+` FROM requests WHERE state = 'pending' AND expires_at <= ? ORDER BY expires_at, id LIMIT ?`,
		scanRequest, now.UnixNano(), limit)
}

const reviewColumns = `id, request_id, subject, directory, group_name, reason, state, created_at, closed_at, closed_by, outcome, comment`

func scanReview(r scanner) (store.Review, error) {
	var v store.Review
	var state string
	var created, closed int64
	err := r.Scan(&v.ID, &v.RequestID, &v.Subject, &v.Directory, &v.Group, &v.Reason, &state, &created, &closed, &v.ClosedBy, &v.Outcome, &v.Comment)
	v.State, v.CreatedAt, v.ClosedAt = store.ReviewState(state), fromNanos(created), fromNanos(closed)
	return v, err
}

// Reviews lists break-glass reviews in a state ("" for all), newest first.
func (s *Store) Reviews(ctx context.Context, state store.ReviewState) ([]store.Review, error) {
	var w where
	w.eq("state", string(state))
	return queryAll(ctx, s.read, `SELECT `+reviewColumns+` FROM reviews `+w.newestFirst(0), scanReview, w.args...)
}

func (t *txn) Review(id string) (store.Review, error) {
	v, err := scanReview(t.QueryRowContext(t.ctx, `SELECT `+reviewColumns+` FROM reviews WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return v, fmt.Errorf("review %q: %w", id, store.ErrNotFound)
	}
	return v, err
}

func (t *txn) InsertReview(v store.Review) error {
	_, err := t.exec(`INSERT INTO reviews (`+reviewColumns+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)`,
		v.ID, v.RequestID, v.Subject, v.Directory, v.Group, v.Reason, string(v.State), nanos(v.CreatedAt), nanos(v.ClosedAt), v.ClosedBy, v.Outcome, v.Comment)
	return err
}

func (t *txn) UpdateReview(v store.Review) error {
	_, err := t.exec(`UPDATE reviews SET state = ?, closed_at = ?, closed_by = ?, outcome = ?, comment = ? WHERE id = ?`,
		string(v.State), nanos(v.ClosedAt), v.ClosedBy, v.Outcome, v.Comment, v.ID)
	return err
}
