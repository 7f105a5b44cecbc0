// Package reconcile compares each directory's mirror with jitd's grants after
// every sync. It records the baseline of JIT-managed groups, reports (and with
// drift: revert, removes) members nobody granted, marks grants whose
// membership was removed outside jitd, and revokes every grant of a user who
// was disabled or deleted in the directory. It never adds a membership.
package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jitd/jitd/connectors"
	"github.com/jitd/jitd/core/audit"
	"github.com/jitd/jitd/core/clock"
	"github.com/jitd/jitd/core/grant"
	"github.com/jitd/jitd/core/store"
)

// Store is the part of jitd's store reconciliation uses.
type Store interface {
	store.Updater
	store.Accounts
	store.Grants
	store.Mirror
	store.Baselines
}

// Policy is what configuration says about one directory.
type Policy struct {
	// Groups are the JIT-managed group names.
	Groups []string
	// RevokeBaseline removes the members a group has when jitd first sees it.
	RevokeBaseline bool
	// RevertDrift removes members nobody granted (otherwise they are reported).
	RevertDrift bool
}

// Reconciler runs reconciliation.
type Reconciler struct {
	store    Store
	grants   *grant.Manager
	policies atomic.Pointer[map[string]Policy]
	clock    clock.Clock
	log      *slog.Logger
	metrics  *Metrics
	// OnDrift, when set, is told of each new drift (the notification hook).
	OnDrift func(store.Drift)
	// Sponsors, when set, applies the sponsor offboarding rule to the
	// ephemeral accounts of a sponsor who left.
	Sponsors SponsorOffboarder
}

// SponsorOffboarder is the account lifecycle as offboarding sees it.
type SponsorOffboarder interface {
	SponsorGone(ctx context.Context, directory, sponsor, why string) (int, error)
}

// New returns a reconciler. metrics may be nil.
func New(st Store, grants *grant.Manager, policies map[string]Policy, clk clock.Clock, log *slog.Logger, metrics *Metrics) *Reconciler {
	r := &Reconciler{store: st, grants: grants, clock: clk, log: log, metrics: metrics}
	if metrics != nil {
		for dir := range policies { // present at 0 before anything happened
			metrics.offboardedGrants.WithLabelValues(dir)
			metrics.drift.WithLabelValues(dir)
		}
	}
	r.SetPolicies(policies)
	return r
}

// SetPolicies replaces the directories' policies (a configuration
// reload); a reconciliation under way keeps the one it started with.
func (r *Reconciler) SetPolicies(policies map[string]Policy) { r.policies.Store(&policies) }

// Report says what one reconciliation found and did.
type Report struct {
	Directory        string `json:"directory"`
	BaselineRecorded int    `json:"baseline_recorded"`
	DriftNew         int    `json:"drift_new"`
	DriftOpen        int    `json:"drift_open"`
	DriftResolved    int    `json:"drift_resolved"`
	Removed          int    `json:"removed"` // drift or baseline removals queued
	Vanished         int    `json:"vanished"`
	Offboarded       int    `json:"offboarded"`       // grants revoked because their user left
	SponsorAccounts  int    `json:"sponsor_accounts"` // accounts disabled or reassigned because their sponsor left
}

// ErrEmptyMirror: the mirror holds no users although grants exist; offboarding
// everyone is more likely a configuration mistake (a wrong user_base) than the
// truth, so jitd refuses and says so.
var ErrEmptyMirror = errors.New("the mirror has no users")

// Reconcile compares the directory's mirror, read by a sync that started at
// asOf, with the grants. Grants that changed since asOf are left alone: the
// mirror cannot know about them yet.
func (r *Reconciler) Reconcile(ctx context.Context, dir string, asOf time.Time) (Report, error) {
	rep := Report{Directory: dir}
	pol, ok := (*r.policies.Load())[dir]
	if !ok {
		return rep, fmt.Errorf("reconcile: no policy for directory %q", dir)
	}
	st, err := r.store.SyncState(ctx, dir)
	if errors.Is(err, store.ErrNotFound) || st.Gen == 0 {
		return rep, nil // no full sync yet: nothing to compare with
	}
	if err != nil {
		return rep, fmt.Errorf("reconcile: %s: %w", dir, err)
	}
	var errs []error
	for _, name := range pol.Groups {
		if err := r.group(ctx, dir, name, pol, asOf, &rep); err != nil {
			errs = append(errs, fmt.Errorf("group %s: %w", name, err))
		}
	}
	if err := r.offboard(ctx, dir, asOf, &rep); err != nil {
		errs = append(errs, err)
	}
	if err := r.offboardSponsors(ctx, dir, asOf, &rep); err != nil {
		errs = append(errs, err)
	}
	open, err := r.store.Drift(ctx, dir)
	if err == nil {
		rep.DriftOpen = len(open)
		r.metrics.setDrift(dir, len(open))
	}
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return rep, fmt.Errorf("reconcile: %s: %w", dir, err)
	}
	if rep.DriftNew+rep.DriftResolved+rep.Removed+rep.Vanished+rep.Offboarded+rep.BaselineRecorded > 0 {
		r.log.Info("reconcile", "directory", dir, "baseline_recorded", rep.BaselineRecorded, "drift_new", rep.DriftNew,
			"drift_open", rep.DriftOpen, "drift_resolved", rep.DriftResolved, "removed", rep.Removed, "vanished", rep.Vanished, "offboarded", rep.Offboarded)
	}
	return rep, nil
}

// group reconciles one JIT-managed group.
func (r *Reconciler) group(ctx context.Context, dir, name string, pol Policy, asOf time.Time, rep *Report) error {
	g, err := r.store.MirrorGroup(ctx, dir, name)
	if errors.Is(err, store.ErrNotFound) {
		r.log.Warn("reconcile: a JIT-managed group is not in the directory", "directory", dir, "group", name)
		return nil
	}
	if err != nil {
		return err
	}
	members, err := r.store.MirrorMembers(ctx, dir, g.ID)
	if err != nil {
		return err
	}
	// Grants that ended before the mirror was read cannot explain a member.
	grants, err := r.store.Grants(ctx, store.GrantFilter{Directory: dir, GroupID: g.ID, EndedSince: asOf})
	if err != nil {
		return err
	}
	// covered: users whose membership is jitd's business (a grant that is
	// live, on its way out, or that ended after the mirror was read).
	covered := map[string]bool{}
	for _, gr := range grants {
		switch gr.State {
		case store.StateApplying, store.StateActive, store.StateApplyFailed, store.StateRevoking, store.StateRevokeFailed:
			covered[gr.UserID] = true
		case store.StateRevoked:
			if !gr.EndedAt.Before(asOf) {
				covered[gr.UserID] = true
			}
		}
	}
	now := r.clock.Now()
	baseline, recorded, err := r.store.Baseline(ctx, dir, g.ID)
	if err != nil {
		return err
	}
	if !recorded {
		return r.recordBaseline(ctx, dir, g, members, covered, pol, now, rep)
	}
	inBaseline := map[string]bool{}
	for _, id := range baseline {
		inBaseline[id] = true
	}
	isMember := map[string]bool{}
	var drift []connectors.User
	for _, m := range members {
		isMember[m.ID] = true
		if !inBaseline[m.ID] && !covered[m.ID] {
			drift = append(drift, m)
		}
	}
	open, err := r.store.Drift(ctx, dir)
	if err != nil {
		return err
	}
	var fresh []store.Drift
	err = r.store.Update(ctx, func(tx store.Tx) error {
		fresh = fresh[:0]
		drifting := map[string]bool{}
		for _, m := range drift {
			drifting[m.ID] = true
			d := store.Drift{Directory: dir, GroupID: g.ID, UserID: m.ID, GroupName: g.Name, UserName: m.Login, FirstSeen: now, LastSeen: now}
			isNew, err := tx.OpenDrift(d)
			if err != nil {
				return err
			}
			if isNew {
				fresh = append(fresh, d)
				if err := appendEvent(tx, now, audit.DriftDetected, dir, g.Name, m.Login,
					"member of a JIT-managed group with neither a grant nor a baseline entry"); err != nil {
					return err
				}
			}
		}
		for _, d := range open {
			if d.GroupID != g.ID || drifting[d.UserID] {
				continue
			}
			if _, err := tx.CloseDrift(dir, g.ID, d.UserID); err != nil {
				return err
			}
			why := "no longer a member"
			if isMember[d.UserID] {
				why = "now covered by a grant or the baseline"
			}
			rep.DriftResolved++
			if err := appendEvent(tx, now, audit.DriftResolved, dir, g.Name, d.UserName, why); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	rep.DriftNew += len(fresh)
	for _, d := range fresh {
		r.log.Warn("drift: a member nobody granted", "directory", dir, "group", d.GroupName, "user", d.UserName)
		if r.OnDrift != nil {
			r.OnDrift(d)
		}
	}
	if pol.RevertDrift {
		for _, m := range drift {
			if _, err := r.grants.RemoveStanding(ctx, dir, g, m, "jitd", "drift: membership nobody granted (drift: revert)"); err != nil {
				return err
			}
			rep.Removed++
		}
	}
	// Active grants whose membership is gone: removed outside jitd.
	for _, gr := range grants {
		if gr.State == store.StateActive && !gr.Preexisting && gr.VanishedAt.IsZero() && gr.UpdatedAt.Before(asOf) && !isMember[gr.UserID] {
			if err := r.grants.MarkVanished(ctx, gr.ID); err != nil {
				return err
			}
			rep.Vanished++
			r.log.Warn("a granted membership was removed outside jitd", "grant_id", gr.ID, "directory", dir, "group", g.Name, "user", gr.UserName)
		}
	}
	return nil
}

func (r *Reconciler) recordBaseline(ctx context.Context, dir string, g connectors.Group, members []connectors.User, covered map[string]bool, pol Policy, now time.Time, rep *Report) error {
	var base []connectors.User
	for _, m := range members {
		// A membership a grant made never becomes standing access.
		if !covered[m.ID] {
			base = append(base, m)
		}
	}
	var ids, logins []string
	for _, m := range base {
		ids = append(ids, m.ID)
		logins = append(logins, m.Login)
	}
	slices.Sort(logins)
	detail := fmt.Sprintf("%d members when jitd first saw the group", len(base))
	if len(logins) > 0 {
		detail += ": " + strings.Join(logins[:min(len(logins), 50)], ", ")
		if len(logins) > 50 {
			detail += ", …"
		}
	}
	if pol.RevokeBaseline {
		detail += "; baseline: revoke, so they are removed"
		ids = nil
	}
	err := r.store.Update(ctx, func(tx store.Tx) error {
		if err := tx.RecordBaseline(dir, g.ID, ids, now, "jitd"); err != nil {
			return err
		}
		return appendEvent(tx, now, audit.BaselineRecorded, dir, g.Name, "", detail)
	})
	if err != nil {
		return err
	}
	rep.BaselineRecorded += len(base)
	if pol.RevokeBaseline {
		for _, m := range base {
			if _, err := r.grants.RemoveStanding(ctx, dir, g, m, "jitd", "baseline: revoke — standing membership removed"); err != nil {
				return err
			}
			rep.Removed++
		}
	}
	return nil
}

// offboard revokes every live grant of a user who is disabled in, or gone
// from, the directory.
func (r *Reconciler) offboard(ctx context.Context, dir string, asOf time.Time, rep *Report) error {
	// Grants newer than the mirror are left alone: it cannot know their users yet.
	gone, err := r.store.GrantsOfDeparted(ctx, dir, []store.State{store.StateApplying, store.StateActive, store.StateApplyFailed}, asOf)
	if err != nil || len(gone) == 0 {
		return err
	}
	counts, err := r.store.MirrorCounts(ctx, dir)
	if err != nil {
		return err
	}
	if counts.Users == 0 {
		return fmt.Errorf("offboarding skipped: %w although %d grants are live; check the directory's user base and filter", ErrEmptyMirror, len(gone))
	}
	for _, g := range gone {
		left, err := departed(r.store.MirrorUserByID(ctx, dir, g.UserID))
		if err != nil {
			return err
		}
		if left == "" {
			continue // back meanwhile
		}
		why := "offboarded: the user " + left
		if _, err := r.grants.Revoke(ctx, g.ID, "jitd", why); err != nil && !errors.Is(err, grant.ErrConflict) {
			return err
		}
		rep.Offboarded++
		r.metrics.offboarded(dir)
		r.log.Warn("offboarding: grant revoked", "grant_id", g.ID, "directory", dir, "group", g.GroupName, "user", g.UserName, "reason", why)
	}
	return nil
}

// offboardSponsors applies the sponsor rule to live accounts whose sponsor
// is disabled in, or gone from, the directory.
func (r *Reconciler) offboardSponsors(ctx context.Context, dir string, asOf time.Time, rep *Report) error {
	if r.Sponsors == nil {
		return nil
	}
	live, err := r.store.Accounts(ctx, store.AccountFilter{Directory: dir, States: []store.AccountState{store.AccountActive}})
	if err != nil || len(live) == 0 {
		return err
	}
	counts, err := r.store.MirrorCounts(ctx, dir)
	if err != nil {
		return err
	}
	if counts.Users == 0 {
		return fmt.Errorf("sponsor offboarding skipped: %w although %d accounts are live", ErrEmptyMirror, len(live))
	}
	done := map[string]bool{}
	for _, a := range live {
		if done[a.Sponsor] || !a.CreatedAt.Before(asOf) {
			continue
		}
		done[a.Sponsor] = true
		why, err := departed(r.store.MirrorUser(ctx, dir, a.Sponsor))
		if err != nil {
			return err
		}
		if why == "" {
			continue
		}
		n, err := r.Sponsors.SponsorGone(ctx, dir, a.Sponsor, why)
		rep.SponsorAccounts += n
		if err != nil {
			return err
		}
		r.log.Warn("offboarding: sponsor left; accounts handled by the sponsor rule", "directory", dir, "sponsor", a.Sponsor, "accounts", n, "reason", why)
	}
	return nil
}

// departed says how a user looked up in the mirror has left the directory,
// or "" when they have not.
func departed(u connectors.User, err error) (string, error) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return "is no longer in the directory", nil
	case err != nil:
		return "", err
	case !u.Enabled:
		return "is disabled in the directory", nil
	}
	return "", nil
}

func appendEvent(tx store.Tx, at time.Time, action, dir, group, user, detail string) error {
	_, err := tx.AppendAudit(audit.Event{Time: at, Actor: "jitd", Action: action, Directory: dir, Group: group, User: user, Detail: detail})
	return err
}

// Metrics are reconciliation's Prometheus metrics.
type Metrics struct {
	drift            *prometheus.GaugeVec
	offboardedGrants *prometheus.CounterVec
}

// NewMetrics registers the metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		drift: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "jitd_drift_members", Help: "Members of JIT-managed groups with neither a grant nor a baseline entry.",
		}, []string{"directory"}),
		offboardedGrants: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jitd_offboarded_grants_total", Help: "Grants revoked because their user was disabled or deleted in the directory.",
		}, []string{"directory"}),
	}
	reg.MustRegister(m.drift, m.offboardedGrants)
	return m
}

func (m *Metrics) setDrift(dir string, n int) {
	if m != nil {
		m.drift.WithLabelValues(dir).Set(float64(n))
	}
}

func (m *Metrics) offboarded(dir string) {
	if m != nil {
		m.offboardedGrants.WithLabelValues(dir).Inc()
	}
}

// Revert removes drift by hand: the open drift of login (everyone's
// without) in one group leaves the directory through the expiry queue,
// batched, retried and audited with actor, and the finding is closed.
func (r *Reconciler) Revert(ctx context.Context, dir, groupName, login, actor, reason string) (int, error) {
	if strings.TrimSpace(reason) == "" {
		return 0, fmt.Errorf("reconcile: %w: a reason is required to revert drift", grant.ErrInvalid)
	}
	g, open, err := r.openDrift(ctx, dir, groupName, login)
	if err != nil {
		return 0, err
	}
	for i, d := range open {
		u, err := r.store.MirrorUserByID(ctx, dir, d.UserID)
		if err != nil {
			return i, err
		}
		if _, err := r.grants.RemoveStanding(ctx, dir, g, u, actor, "drift reverted: "+reason); err != nil {
			return i, err
		}
		if err := r.store.Update(ctx, func(tx store.Tx) error { _, err := tx.CloseDrift(dir, g.ID, d.UserID); return err }); err != nil {
			return i, err
		}
	}
	return len(open), nil
}

// openDrift finds the open drift of login (anyone's without) in a group.
func (r *Reconciler) openDrift(ctx context.Context, dir, groupName, login string) (connectors.Group, []store.Drift, error) {
	g, err := r.store.MirrorGroup(ctx, dir, groupName)
	if errors.Is(err, store.ErrNotFound) {
		return g, nil, fmt.Errorf("reconcile: %w: no group %q in the mirror of %q", grant.ErrInvalid, groupName, dir)
	}
	if err != nil {
		return g, nil, err
	}
	open, err := r.store.Drift(ctx, dir)
	if err != nil {
		return g, nil, err
	}
	var found []store.Drift
	for _, d := range open {
		if d.GroupID == g.ID && (login == "" || d.UserName == login) {
			found = append(found, d)
		}
	}
	if len(found) == 0 {
		return g, nil, fmt.Errorf("reconcile: %w: no open drift for %s in %s", grant.ErrInvalid, orElse(login, "anyone"), groupName)
	}
	return g, found, nil
}

// Accept adds open drift of a group (one user, or all when login is empty) to
// its baseline: an operator says this standing access is legitimate. It
// returns how many members were accepted.
func (r *Reconciler) Accept(ctx context.Context, dir, groupName, login, actor, reason string) (int, error) {
	if strings.TrimSpace(reason) == "" {
		return 0, fmt.Errorf("reconcile: %w: a reason is required to accept standing access", grant.ErrInvalid)
	}
	g, accept, err := r.openDrift(ctx, dir, groupName, login)
	if err != nil {
		return 0, err
	}
	now := r.clock.Now()
	err = r.store.Update(ctx, func(tx store.Tx) error {
		for _, d := range accept {
			if err := tx.RecordBaseline(dir, g.ID, []string{d.UserID}, now, actor); err != nil {
				return err
			}
			if _, err := tx.CloseDrift(dir, g.ID, d.UserID); err != nil {
				return err
			}
			_, err := tx.AppendAudit(audit.Event{Time: now, Actor: actor, Action: audit.BaselineAccepted, Directory: dir, Group: g.Name, User: d.UserName,
				Detail: "standing membership accepted into the baseline: " + reason})
			if err != nil {
				return err
			}
		}
		return nil
	})
	return len(accept), err
}

func orElse(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
