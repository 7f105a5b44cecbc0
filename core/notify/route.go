package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jitd/jitd/core/audit"
	"github.com/jitd/jitd/core/store"
)

// fromAudit says which notifications an audit action leads to.
var fromAudit = map[string][]Event{
	"request.created":          {RequestCreated, NeedsApproval},
	"request.approval":         {NeedsApproval}, // the next step, if there is one
	"request.approved":         {RequestApproved},
	"request.denied":           {RequestDenied},
	"request.expired":          {RequestExpired},
	audit.GrantActive:          {GrantActive, GrantExpiring},
	audit.GrantExtended:        {GrantExpiring},
	audit.GrantRevoked:         {GrantRevoked},
	audit.GrantRevokeFailed:    {RevokeFailed},
	"breakglass.used":          {BreakGlass},
	"review.closed":            {ReviewClosed},
	audit.DriftDetected:        {Drift},
	audit.AccountDisableFailed: {AccountDisableFailed},
	audit.Offboarded:           {Offboarded},
	audit.DirectoryUnreachable: {DirectoryDown},
	audit.DirectoryAnswering:   {DirectoryBack},
	audit.CheckpointMade:       {AuditCheckpoint},
}

// data is what a delivery carries for its renderer and its send-time checks.
type data struct {
	Event audit.Event `json:"event"`
	// Step is the approval step a needs-approval message is for.
	Step int `json:"step,omitempty"`
	// Lead is how long before the end an expiring reminder is sent, and
	// Ends the end it was scheduled for.
	Lead textDuration `json:"lead,omitempty"`
	Ends time.Time    `json:"ends,omitzero"`
}

// textDuration is a duration stored as Go writes it ("1h0m0s"), as the
// outbox has always kept reminder lead times.
type textDuration time.Duration

func (d *textDuration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	*d = textDuration(v)
	return err
}

func (d textDuration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// route turns the audit events after the cursor into deliveries. It returns
// how many events it read; fewer than the page means it caught up.
func (n *Notifier) route(ctx context.Context) (int, error) {
	var cursor int64
	var set bool
	if err := n.store.Update(ctx, func(tx store.Tx) error {
		var err error
		cursor, set, err = tx.NotifyCursor()
		return err
	}); err != nil {
		return 0, err
	}
	if !set {
		// First start: notify from now on, not about the whole history.
		head, _, err := n.store.AuditHead(ctx)
		if err != nil {
			return 0, err
		}
		return 0, n.store.Update(ctx, func(tx store.Tx) error { return tx.SetNotifyCursor(head) })
	}
	evs, err := n.store.AuditAfter(ctx, cursor, routePage)
	if err != nil || len(evs) == 0 {
		return 0, err
	}
	var out []store.Notification
	for _, ev := range evs {
		ds, err := n.deliveries(ctx, ev)
		if err != nil {
			return 0, fmt.Errorf("notify: route event %d (%s): %w", ev.Seq, ev.Action, err)
		}
		out = append(out, ds...)
	}
	last := evs[len(evs)-1].Seq
	err = n.store.Update(ctx, func(tx store.Tx) error {
		cur, _, err := tx.NotifyCursor()
		if err != nil {
			return err
		}
		if cur != cursor {
			return errCursorMoved
		}
		for _, d := range out {
			if err := tx.InsertNotification(d); err != nil {
				return err
			}
		}
		return tx.SetNotifyCursor(last)
	})
	if errors.Is(err, errCursorMoved) {
		return 0, nil
	}
	return len(evs), err
}

const routePage = 500

var errCursorMoved = errors.New("notify cursor moved")

// deliveries lists the deliveries one audit event makes.
func (n *Notifier) deliveries(ctx context.Context, ev audit.Event) ([]store.Notification, error) {
	var out []store.Notification
	now := n.clock.Now()
	for _, e := range fromAudit[ev.Action] {
		var chans []ChannelConfig
		for _, c := range n.config().Channels {
			if c.wants(e) {
				chans = append(chans, c)
			}
		}
		if len(chans) == 0 {
			continue
		}
		type item struct {
			d   data
			due time.Time
		}
		items := []item{{d: data{Event: ev}, due: now}}
		people, err := n.people(ctx, e, ev)
		if err != nil {
			return nil, err
		}
		switch e {
		case NeedsApproval:
			r, err := n.store.Request(ctx, ev.GrantID)
			if err != nil {
				return nil, err
			}
			if r.State != store.RequestPending || r.Step >= len(r.Steps) {
				continue // auto-approved, or the last step passed
			}
			items[0].d.Step = r.Step
		case GrantExpiring:
			g, err := n.store.Grant(ctx, ev.GrantID)
			if err != nil {
				return nil, err
			}
			items = items[:0]
			for _, lead := range n.config().ExpiringSoon {
				due := g.ExpiresAt.Add(-lead)
				// A reminder only when there is time left to act on it, and
				// none for a lead longer than the grant itself.
				if due.After(now) && due.After(g.StartsAt) {
					items = append(items, item{d: data{Event: ev, Lead: textDuration(lead), Ends: g.ExpiresAt}, due: due})
				}
			}
		}
		for _, it := range items {
			b, _ := json.Marshal(it.d)
			for _, c := range chans {
				recipients := []string{""}
				if c.personal() && len(people) > 0 {
					recipients = people
				}
				for _, who := range recipients {
					out = append(out, store.Notification{Channel: c.Name, Event: string(e), AuditSeq: ev.Seq, Subject: ev.GrantID,
						Recipient: who, Data: string(b), State: store.NotifyPending, DueAt: it.due, CreatedAt: now})
				}
			}
		}
	}
	return out, nil
}

// people lists the logins an event concerns; none means it goes to channels
// only (security events).
func (n *Notifier) people(ctx context.Context, e Event, ev audit.Event) ([]string, error) {
	switch e {
	case RequestCreated, RequestApproved, RequestDenied, RequestExpired:
		// A contractor's onboarding is told to their sponsor: the
		// contractor follows it through their invite link.
		if r, err := n.store.Request(ctx, ev.GrantID); err == nil && r.Onboarding != nil {
			return []string{r.Onboarding.Sponsor}, nil
		}
		fallthrough
	case GrantActive, GrantExpiring, GrantRevoked:
		if ev.User == "" {
			return nil, nil
		}
		return []string{ev.User}, nil
	case NeedsApproval:
		return n.approvers(ctx, ev.GrantID)
	}
	return nil, nil
}

// approvers lists who may decide a request's current step: its users and
// the members of its groups (from the mirror), never the requester, nor
// anyone who decided already.
func (n *Notifier) approvers(ctx context.Context, id string) ([]string, error) {
	r, err := n.store.Request(ctx, id)
	if err != nil {
		return nil, err
	}
	if r.State != store.RequestPending || r.Step >= len(r.Steps) {
		return nil, nil
	}
	decided, err := n.store.Approvals(ctx, id)
	if err != nil {
		return nil, err
	}
	step := r.Steps[r.Step]
	who := slices.Clone(step.Users)
	for _, name := range step.Groups {
		g, err := n.store.MirrorGroup(ctx, r.Directory, name)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		members, err := n.store.MirrorMembers(ctx, r.Directory, g.ID)
		if err != nil {
			return nil, err
		}
		for _, m := range members {
			who = append(who, m.Login)
		}
	}
	var out []string
	for _, w := range who {
		skip := strings.EqualFold(w, r.Requester) || slices.ContainsFunc(out, func(o string) bool { return strings.EqualFold(o, w) }) ||
			slices.ContainsFunc(decided, func(a store.Approval) bool { return strings.EqualFold(a.Approver, w) })
		if !skip && n.CanDecide != nil {
			skip = n.CanDecide(ctx, r, w) != nil
		}
		if !skip {
			out = append(out, w)
		}
	}
	return out, nil
}
