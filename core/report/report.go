// Package report answers an auditor's questions from what jitd already
// keeps: who had access to a group (or what access a person had) in a
// period and why, and how late each expired grant was removed — the
// promise, measured. Reports are plain rows; Write renders them as JSON,
// CSV or printable HTML.
package report

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/jitd/jitd/core/audit"
	"github.com/jitd/jitd/core/store"
)

// Store is what reports read.
type Store interface {
	store.Grants
	store.Accounts
	store.Requests
	store.Mirror
	store.Baselines
	store.Audit
}

// Period is [From, To).
type Period struct{ From, To time.Time }

// Validate says what is wrong with the period, if anything.
func (p Period) Validate() error {
	switch {
	case p.From.IsZero() || p.To.IsZero():
		return errors.New("a period needs from and to")
	case !p.From.Before(p.To):
		return fmt.Errorf("from (%s) must be before to (%s)", p.From.UTC().Format(time.RFC3339), p.To.UTC().Format(time.RFC3339))
	}
	return nil
}

// AccessQuery selects an access report: one group's members, or one
// person's access (or both), in a directory, over a period.
type AccessQuery struct {
	Directory, Group, User string
	Period
}

// Access is one stretch of access and why it existed.
type Access struct {
	Directory string    `json:"directory"`
	Group     string    `json:"group"`
	User      string    `json:"user"`
	Kind      string    `json:"kind"` // grant, breakglass, baseline, drift
	From      time.Time `json:"from"`
	To        time.Time `json:"to,omitzero"` // zero: still held
	State     string    `json:"state,omitempty"`
	GrantedBy string    `json:"granted_by,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	Ticket    string    `json:"ticket,omitempty"`
	Request   string    `json:"request,omitempty"`
	Approvers []string  `json:"approvers,omitempty"`
	Ended     string    `json:"ended,omitempty"` // why it ended
	Grant     string    `json:"grant,omitempty"`
}

// AccessReport lists who had access, and why, in the period: every grant
// whose time overlaps it (with the request and its approvers, break-glass
// marked), the group's accepted standing members (its baseline), and
// memberships nobody granted (open drift).
func AccessReport(ctx context.Context, st Store, q AccessQuery, now time.Time) ([]Access, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	if q.Group == "" && q.User == "" {
		return nil, errors.New("name a group, a user, or both")
	}
	drift, err := st.Drift(ctx, q.Directory)
	if err != nil {
		return nil, err
	}
	return accessRows(ctx, st, q, now, drift)
}

// accessRows is AccessReport over open drift already read (a bundle reads
// it once for every group).
func accessRows(ctx context.Context, st Store, q AccessQuery, now time.Time, drift []store.Drift) ([]Access, error) {
	gs, err := st.Grants(ctx, store.GrantFilter{Directory: q.Directory, GroupName: q.Group, UserName: q.User})
	if err != nil {
		return nil, err
	}
	var out []Access
	var ids []string
	for _, g := range gs {
		if g.State == store.StateCancelled || g.StartsAt.IsZero() {
			continue
		}
		end := g.EndedAt
		if end.IsZero() && (g.State == store.StateRevoked || !g.ExpiresAt.After(now)) {
			end = g.ExpiresAt
		}
		if !g.StartsAt.Before(q.To) || (!end.IsZero() && !end.After(q.From)) {
			continue
		}
		out = append(out, Access{Directory: g.Directory, Group: g.GroupName, User: g.UserName, Kind: "grant", From: g.StartsAt, To: end, State: string(g.State),
			GrantedBy: g.CreatedBy, Reason: g.Reason, Ended: g.EndReason, Grant: g.ID})
		ids = append(ids, g.ID)
	}
	byGrant, err := st.GrantRequests(ctx, ids)
	if err != nil {
		return nil, err
	}
	for i, a := range out {
		r, ok := byGrant[a.Grant]
		if !ok {
			continue
		}
		a.Request, a.Ticket = r.ID, r.Ticket
		if r.BreakGlass {
			a.Kind = "breakglass"
		}
		for _, ap := range r.Approvals {
			if ap.Decision == "approve" {
				a.Approvers = append(a.Approvers, ap.Approver)
			}
		}
		if len(a.Approvers) == 0 && r.DecidedBy != "" {
			a.Approvers = []string{r.DecidedBy} // policy, or break-glass
		}
		out[i] = a
	}
	if q.Group != "" && q.Directory != "" {
		standing, err := baseline(ctx, st, q)
		if err != nil {
			return nil, err
		}
		out = append(out, standing...)
	}
	for _, d := range drift {
		if (q.Directory != "" && d.Directory != q.Directory) || (q.Group != "" && d.GroupName != q.Group) || (q.User != "" && !strings.EqualFold(d.UserName, q.User)) {
			continue
		}
		if !d.FirstSeen.Before(q.To) || !d.LastSeen.After(q.From) && !d.LastSeen.Equal(q.From) {
			continue
		}
		out = append(out, Access{Directory: d.Directory, Group: d.GroupName, User: d.UserName, Kind: "drift", From: d.FirstSeen,
			Reason: fmt.Sprintf("member nobody granted, seen until %s", d.LastSeen.UTC().Format(time.RFC3339))})
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].From.Equal(out[j].From) {
			return out[i].From.Before(out[j].From)
		}
		return out[i].User < out[j].User
	})
	return out, nil
}

// baseline is the group's accepted standing membership, as it stands now.
func baseline(ctx context.Context, st Store, q AccessQuery) ([]Access, error) {
	g, err := st.MirrorGroup(ctx, q.Directory, q.Group)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	ids, recorded, err := st.Baseline(ctx, q.Directory, g.ID)
	if err != nil || !recorded {
		return nil, err
	}
	var out []Access
	for _, id := range ids {
		login := id
		if u, err := st.MirrorUserByID(ctx, q.Directory, id); err == nil {
			login = u.Login
		}
		if q.User != "" && !strings.EqualFold(login, q.User) {
			continue
		}
		out = append(out, Access{Directory: q.Directory, Group: q.Group, User: login, Kind: "baseline",
			Reason: "standing member accepted into the baseline (held before jitd, or accepted drift)"})
	}
	return out, nil
}

// Removal is how late one expired grant's membership left the directory.
type Removal struct {
	Grant     string        `json:"grant"`
	Directory string        `json:"directory"`
	Group     string        `json:"group"`
	User      string        `json:"user"`
	Due       time.Time     `json:"due"`
	Removed   time.Time     `json:"removed"`
	Late      time.Duration `json:"late_ns"`
}

// Lateness is the removals of grants that expired in the period and their
// distribution. The promise is that no membership outlives its grant by
// more than a second while the directory answers: Over counts those that
// did (a directory outage, or jitd down).
type Lateness struct {
	Period
	Count               int           `json:"count"`
	P50, P90, P99, Max  time.Duration `json:"-"`
	Over                int           `json:"over_1s"`
	Removals            []Removal     `json:"removals"`
	Summary             LatenessStats `json:"summary"`
	StillMembersOverdue []string      `json:"overdue_not_removed"`
}

// LatenessStats are the distribution's points, in seconds.
type LatenessStats struct {
	P50 float64 `json:"p50_s"`
	P90 float64 `json:"p90_s"`
	P99 float64 `json:"p99_s"`
	Max float64 `json:"max_s"`
}

// LatenessReport measures, for every grant that expired in the period, the
// time from its end to the audit record of its removal; grants still
// waiting for removal past their end are listed too.
func LatenessReport(ctx context.Context, st Store, p Period, now time.Time) (Lateness, error) {
	if err := p.Validate(); err != nil {
		return Lateness{}, err
	}
	gs, err := st.Grants(ctx, store.GrantFilter{})
	if err != nil {
		return Lateness{}, err
	}
	due := map[string]store.Grant{}
	out := Lateness{Period: p, StillMembersOverdue: []string{}, Removals: []Removal{}}
	for _, g := range gs {
		if g.ExpiresAt.Before(p.From) || !g.ExpiresAt.Before(p.To) || g.Preexisting {
			continue
		}
		switch {
		case g.State == store.StateRevoked && g.EndReason == "expired":
			due[g.ID] = g
		case (g.State == store.StateActive || g.State == store.StateRevoking || g.State == store.StateRevokeFailed) && g.ExpiresAt.Before(now):
			out.StillMembersOverdue = append(out.StillMembersOverdue, g.ID)
		}
	}
	err = st.WalkAudit(ctx, func(e audit.Event) error {
		g, ok := due[e.GrantID]
		if !ok || e.Action != audit.GrantRevoked {
			return nil
		}
		delete(due, e.GrantID)
		out.Removals = append(out.Removals, Removal{Grant: g.ID, Directory: g.Directory, Group: g.GroupName, User: g.UserName, Due: g.ExpiresAt,
			Removed: e.Time, Late: max(e.Time.Sub(g.ExpiresAt), 0)})
		return nil
	})
	if err != nil {
		return out, err
	}
	lat := make([]time.Duration, 0, len(out.Removals))
	for _, r := range out.Removals {
		lat = append(lat, r.Late)
		if r.Late > time.Second {
			out.Over++
		}
	}
	slices.Sort(lat)
	out.Count = len(lat)
	q := func(f float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(f*float64(len(lat))))]
	}
	out.P50, out.P90, out.P99 = q(0.5), q(0.9), q(0.99)
	if len(lat) > 0 {
		out.Max = lat[len(lat)-1]
	}
	out.Summary = LatenessStats{P50: out.P50.Seconds(), P90: out.P90.Seconds(), P99: out.P99.Seconds(), Max: out.Max.Seconds()}
	slices.SortFunc(out.Removals, func(a, b Removal) int { return cmp.Compare(b.Late, a.Late) })
	return out, nil
}
