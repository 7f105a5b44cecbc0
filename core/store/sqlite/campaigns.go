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

const campaignColumns = `id, name, schedule, settings, on_no_answer, state, created_by, created_at, due_at,
	reminders, escalated, closed_at, closed_by, next_at`

func scanCampaign(r scanner) (store.Campaign, error) {
	var c store.Campaign
	var state string
	var created, due, closed, next int64
	err := r.Scan(&c.ID, &c.Name, &c.Schedule, &c.Settings, &c.OnNoAnswer, &state, &c.CreatedBy, &created, &due,
		&c.Reminders, &c.Escalated, &closed, &c.ClosedBy, &next)
	c.State = store.CampaignState(state)
	c.CreatedAt, c.DueAt, c.ClosedAt, c.NextAt = fromNanos(created), fromNanos(due), fromNanos(closed), fromNanos(next)
	return c, err
}

func getCampaign(ctx context.Context, q querier, id string) (store.Campaign, error) {
	c, err := scanCampaign(q.QueryRowContext(ctx, `SELECT `+campaignColumns+` FROM campaigns WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return c, fmt.Errorf("campaign %q: %w", id, store.ErrNotFound)
	}
	return c, err
}

// Campaign returns one campaign.
func (s *Store) Campaign(ctx context.Context, id string) (store.Campaign, error) {
	return getCampaign(ctx, s.read, id)
}

// Campaigns lists campaigns, newest first.
func (s *Store) Campaigns(ctx context.Context, f store.CampaignFilter) ([]store.Campaign, error) {
	var w where
	w.eq("state", string(f.State))
	w.eq("schedule", f.Schedule)
	if f.Reviewer != "" {
		w.conds = append(w.conds, `EXISTS (SELECT 1 FROM campaign_reviewers r WHERE r.campaign_id = campaigns.id AND r.login = ?)`)
		w.args = append(w.args, strings.ToLower(f.Reviewer))
	}
	return queryAll(ctx, s.read, `SELECT `+campaignColumns+` FROM campaigns `+w.newestFirst(f.Limit)+offset(f.Limit, f.Offset), scanCampaign, w.args...)
}

// NextCampaignDue is the earliest next_at of an open campaign.
func (s *Store) NextCampaignDue(ctx context.Context) (time.Time, bool, error) {
	var next sql.NullInt64
	err := s.read.QueryRowContext(ctx, `SELECT min(next_at) FROM campaigns WHERE state = 'open' AND next_at > 0`).Scan(&next)
	if err != nil || !next.Valid {
		return time.Time{}, false, err
	}
	return fromNanos(next.Int64), true, nil
}

func (t *txn) Campaign(id string) (store.Campaign, error) { return getCampaign(t.ctx, t, id) }

func (t *txn) InsertCampaign(c store.Campaign) error {
	_, err := t.exec(`INSERT INTO campaigns (`+campaignColumns+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		c.ID, c.Name, c.Schedule, c.Settings, c.OnNoAnswer, string(c.State), c.CreatedBy, nanos(c.CreatedAt), nanos(c.DueAt),
		c.Reminders, c.Escalated, nanos(c.ClosedAt), c.ClosedBy, nanos(c.NextAt))
	var se sqlite3.Error
	if errors.As(err, &se) && se.Code == sqlite3.ErrConstraint {
		return fmt.Errorf("campaign %q: %w: %v", c.ID, store.ErrConflict, err)
	}
	return err
}

func (t *txn) UpdateCampaign(c store.Campaign) error {
	res, err := t.exec(`UPDATE campaigns SET state = ?, due_at = ?, reminders = ?, escalated = ?, closed_at = ?, closed_by = ?, next_at = ? WHERE id = ?`,
		string(c.State), nanos(c.DueAt), c.Reminders, c.Escalated, nanos(c.ClosedAt), c.ClosedBy, nanos(c.NextAt), c.ID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("campaign %q: %w", c.ID, store.ErrNotFound)
	}
	return nil
}

const itemColumns = `campaign_id, seq, kind, source, directory, group_id, group_name, user_id, user_name, ref, detail,
	reviewers, decision, decided_by, decided_at, comment, effect, applied_at`

func scanItem(r scanner) (store.CampaignItem, error) {
	var it store.CampaignItem
	var reviewers string
	var decided, applied int64
	err := r.Scan(&it.CampaignID, &it.Seq, &it.Kind, &it.Source, &it.Directory, &it.GroupID, &it.GroupName, &it.UserID, &it.UserName,
		&it.Ref, &it.Detail, &reviewers, &it.Decision, &it.DecidedBy, &decided, &it.Comment, &it.Effect, &applied)
	if err != nil {
		return it, err
	}
	it.DecidedAt, it.AppliedAt = fromNanos(decided), fromNanos(applied)
	if err := json.Unmarshal([]byte(reviewers), &it.Reviewers); err != nil {
		return it, fmt.Errorf("campaign %s item %d: reviewers: %w", it.CampaignID, it.Seq, err)
	}
	return it, nil
}

// itemsFrom is the FROM and WHERE of the items a filter selects, with
// their arguments.
func itemsFrom(f store.CampaignItemFilter) (string, []any) {
	var w where
	w.eq("i.campaign_id", f.CampaignID)
	from := `campaign_items i`
	if f.Reviewer != "" {
		from += ` JOIN campaign_reviewers r ON r.campaign_id = i.campaign_id AND r.seq = i.seq AND r.login = ?`
		w.args = append([]any{strings.ToLower(f.Reviewer)}, w.args...)
	}
	if f.Pending {
		w.conds = append(w.conds, `i.decision = ''`)
	}
	if f.Unapplied {
		w.conds = append(w.conds, `i.applied_at = 0 AND i.decision IN ('revoke', 'jit')`)
	}
	if f.AfterSeq > 0 {
		w.conds = append(w.conds, `i.seq > ?`)
		w.args = append(w.args, f.AfterSeq)
	}
	if len(w.conds) > 0 {
		from += ` WHERE ` + strings.Join(w.conds, ` AND `)
	}
	return from, w.args
}

func filterItems(ctx context.Context, q querier, f store.CampaignItemFilter) ([]store.CampaignItem, error) {
	from, args := itemsFrom(f)
	query := `SELECT ` + prefixed("i.", itemColumns) + ` FROM ` + from + ` ORDER BY i.campaign_id, i.seq`
	if f.Limit > 0 {
		query += fmt.Sprintf(` LIMIT %d`, f.Limit)
	}
	return queryAll(ctx, q, query+offset(f.Limit, f.Offset), scanItem, args...)
}

// CountCampaignItems counts the items a filter selects (its Limit and
// Offset aside).
func (s *Store) CountCampaignItems(ctx context.Context, f store.CampaignItemFilter) (int, error) {
	from, args := itemsFrom(f)
	var n int
	err := s.read.QueryRowContext(ctx, `SELECT count(*) FROM `+from, args...).Scan(&n)
	return n, err
}

// CampaignItems lists items in seq order.
func (s *Store) CampaignItems(ctx context.Context, f store.CampaignItemFilter) ([]store.CampaignItem, error) {
	return filterItems(ctx, s.read, f)
}

func (t *txn) CampaignItems(f store.CampaignItemFilter) ([]store.CampaignItem, error) {
	return filterItems(t.ctx, t, f)
}

// CampaignCounts counts a campaign's items by decision.
func (s *Store) CampaignCounts(ctx context.Context, id string) (store.CampaignCounts, error) {
	var c store.CampaignCounts
	err := s.read.QueryRowContext(ctx, `SELECT count(*),
		coalesce(sum(decision = ''), 0), coalesce(sum(decision = 'keep'), 0), coalesce(sum(decision = 'revoke'), 0), coalesce(sum(decision = 'jit'), 0),
		coalesce(sum(applied_at = 0 AND decision IN ('revoke', 'jit')), 0)
		FROM campaign_items WHERE campaign_id = ?`, id).Scan(&c.Items, &c.Pending, &c.Keep, &c.Revoke, &c.JIT, &c.Unapplied)
	return c, err
}

func (t *txn) CampaignItem(campaignID string, seq int) (store.CampaignItem, error) {
	it, err := scanItem(t.QueryRowContext(t.ctx, `SELECT `+itemColumns+` FROM campaign_items WHERE campaign_id = ? AND seq = ?`, campaignID, seq))
	if errors.Is(err, sql.ErrNoRows) {
		return it, fmt.Errorf("campaign %q item %d: %w", campaignID, seq, store.ErrNotFound)
	}
	return it, err
}

func (t *txn) InsertCampaignItems(items []store.CampaignItem) error {
	for _, it := range items {
		_, err := t.exec(`INSERT INTO campaign_items (`+itemColumns+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
			it.CampaignID, it.Seq, it.Kind, it.Source, it.Directory, it.GroupID, it.GroupName, it.UserID, it.UserName, it.Ref, it.Detail,
			reviewersJSON(it.Reviewers), it.Decision, it.DecidedBy, nanos(it.DecidedAt), it.Comment, it.Effect, nanos(it.AppliedAt))
		if err != nil {
			return err
		}
		if err := t.addReviewers(it); err != nil {
			return err
		}
	}
	return nil
}

func (t *txn) UpdateCampaignItem(it store.CampaignItem) error {
	// Decisions and their effects leave the reviewers as they are; only an
	// escalation changes them, and only then is their index rewritten.
	var was string
	err := t.QueryRowContext(t.ctx, `SELECT reviewers FROM campaign_items WHERE campaign_id = ? AND seq = ?`, it.CampaignID, it.Seq).Scan(&was)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("campaign %q item %d: %w", it.CampaignID, it.Seq, store.ErrNotFound)
	}
	if err != nil {
		return err
	}
	reviewers := reviewersJSON(it.Reviewers)
	if _, err := t.exec(`UPDATE campaign_items SET reviewers = ?, decision = ?, decided_by = ?, decided_at = ?, comment = ?, effect = ?, applied_at = ?
		WHERE campaign_id = ? AND seq = ?`,
		reviewers, it.Decision, it.DecidedBy, nanos(it.DecidedAt), it.Comment, it.Effect, nanos(it.AppliedAt), it.CampaignID, it.Seq); err != nil {
		return err
	}
	if reviewers == was {
		return nil
	}
	return t.putReviewers(it)
}

// putReviewers makes the reviewer index say what the item's reviewers say.
func (t *txn) putReviewers(it store.CampaignItem) error {
	if _, err := t.exec(`DELETE FROM campaign_reviewers WHERE campaign_id = ? AND seq = ?`, it.CampaignID, it.Seq); err != nil {
		return err
	}
	return t.addReviewers(it)
}

// addReviewers indexes a new item's reviewers.
func (t *txn) addReviewers(it store.CampaignItem) error {
	for _, login := range it.Reviewers {
		if _, err := t.exec(`INSERT OR IGNORE INTO campaign_reviewers (campaign_id, seq, login) VALUES (?,?,?)`, it.CampaignID, it.Seq, strings.ToLower(login)); err != nil {
			return err
		}
	}
	return nil
}

// prefixed qualifies each of a column list's names with a table alias.
func prefixed(alias, columns string) string {
	names := strings.Split(columns, ",")
	for i, n := range names {
		names[i] = alias + strings.TrimSpace(n)
	}
	return strings.Join(names, ", ")
}

func reviewersJSON(r []string) string {
	if r == nil {
		r = []string{}
	}
	b, _ := json.Marshal(r)
	return string(b)
}

func (t *txn) AddJITGroup(dir, groupID, groupName, userID string, at time.Time, by string) error {
	_, err := t.exec(`INSERT INTO jit_eligible (directory, group_id, user_id, group_name, added_at, added_by) VALUES (?,?,?,?,?,?)
		ON CONFLICT DO UPDATE SET group_name = excluded.group_name`, dir, groupID, userID, groupName, nanos(at), by)
	return err
}

// JITGroups lists the groups a review made just-in-time for a user.
func (s *Store) JITGroups(ctx context.Context, dir, userID string) ([]string, error) {
	return queryAll(ctx, s.read, `SELECT group_name FROM jit_eligible WHERE directory = ? AND user_id = ? ORDER BY group_name`,
		func(r scanner) (string, error) { var n string; return n, r.Scan(&n) }, dir, userID)
}

// BaselineMembers lists a group's baseline members with when and by whom.
func (s *Store) BaselineMembers(ctx context.Context, dir, groupID string) ([]store.BaselineMember, error) {
	return queryAll(ctx, s.read, `SELECT user_id, added_at, added_by FROM baseline_members WHERE directory = ? AND group_id = ? ORDER BY user_id`,
		func(r scanner) (store.BaselineMember, error) {
			var m store.BaselineMember
			var at int64
			err := r.Scan(&m.UserID, &at, &m.AddedBy)
			m.AddedAt = fromNanos(at)
			return m, err
		}, dir, groupID)
}

func (t *txn) RemoveBaselineMember(dir, groupID, userID string) (bool, error) {
	res, err := t.exec(`DELETE FROM baseline_members WHERE directory = ? AND group_id = ? AND user_id = ?`, dir, groupID, userID)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}
