package notify

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jitd/jitd/core/store"
)

// render builds a delivery's message. stale means the event no longer
// matters (the request was decided, the grant ended or moved its end), and
// the delivery is skipped.
func (n *Notifier) render(ctx context.Context, d store.Notification, dt data) (m Message, stale bool, err error) {
	ev := dt.Event
	m = Message{ID: d.ID, Event: Event(d.Event), Recipient: d.Recipient, Data: map[string]any{
		"event": d.Event, "time": ev.Time, "actor": ev.Actor, "subject": ev.GrantID, "directory": ev.Directory,
		"group": ev.Group, "user": ev.User, "detail": ev.Detail, "audit_seq": ev.Seq}}
	base := strings.TrimRight(n.config().BaseURL, "/")
	switch Event(d.Event) {
	case RequestCreated, NeedsApproval, RequestApproved, RequestDenied, RequestExpired:
		r, err := n.store.Request(ctx, ev.GrantID)
		if err != nil {
			return m, false, err
		}
		m.Link = base + "/api/v1/requests/" + r.ID
		target, outcome := r.Group, "grant "+r.GrantID
		if o := r.Onboarding; o != nil {
			target, outcome = "an account", "account "+r.AccountID
			if len(o.Groups) > 0 {
				target += " with " + strings.Join(o.Groups, ", ")
			}
		}
		what := fmt.Sprintf("%s asks for %s in %s for %s: %s", r.Requester, target, r.Directory, r.Duration, r.Reason)
		if r.Ticket != "" {
			what += " (" + r.Ticket + ")"
		}
		m.Data["request"] = map[string]any{"id": r.ID, "requester": r.Requester, "group": r.Group, "directory": r.Directory,
			"duration": r.Duration.String(), "reason": r.Reason, "ticket": r.Ticket, "state": string(r.State)}
		switch Event(d.Event) {
		case RequestCreated:
			m.Title, m.Text = "Access request "+r.ID, what
		case NeedsApproval:
			if r.State != store.RequestPending || r.Step != dt.Step {
				return m, true, nil
			}
			m.Title = fmt.Sprintf("Approval needed: %s for %s", target, r.Requester)
			m.Text = fmt.Sprintf("%s. Step %d of %d. The request expires at %s.", what, r.Step+1, len(r.Steps), r.ExpiresAt.UTC().Format(time.RFC1123))
			if d.Recipient != "" && n.links != nil {
				for _, k := range []string{ActApprove, ActDeny} {
					c := Claims{Action: k, Subject: r.ID, Login: d.Recipient, Expires: r.ExpiresAt}
					m.Actions = append(m.Actions, Action{Label: label(k), Claims: c, URL: base + "/act/" + n.links.Sign(c)})
				}
			}
		case RequestApproved:
			m.Title, m.Text = "Request approved: "+target, fmt.Sprintf("Request %s of %s for %s was approved by %s; %s.", r.ID, r.Requester, target, ev.Actor, outcome)
		case RequestDenied:
			m.Title, m.Text = "Request denied: "+target, fmt.Sprintf("Request %s of %s for %s was denied by %s: %s", r.ID, r.Requester, target, ev.Actor, ev.Detail)
		case RequestExpired:
			m.Title, m.Text = "Request expired: "+target, fmt.Sprintf("Nobody decided on request %s of %s for %s in time.", r.ID, r.Requester, target)
		}
		return m, false, nil
	case GrantActive, GrantExpiring, GrantRevoked, RevokeFailed:
		g, err := n.store.Grant(ctx, ev.GrantID)
		if err != nil {
			return m, false, err
		}
		m.Link = base + "/api/v1/grants/" + g.ID
		m.Data["grant"] = map[string]any{"id": g.ID, "user": g.UserName, "group": g.GroupName, "directory": g.Directory,
			"state": string(g.State), "expires_at": g.ExpiresAt}
		switch Event(d.Event) {
		case GrantActive:
			m.Title, m.Text = "Access granted: "+g.GroupName, fmt.Sprintf("%s is a member of %s in %s until %s.", g.UserName, g.GroupName, g.Directory, g.ExpiresAt.UTC().Format(time.RFC1123))
		case GrantExpiring:
			if g.State != store.StateActive || !g.ExpiresAt.Equal(dt.Ends) {
				return m, true, nil // ended, or extended (the extension scheduled its own reminders)
			}
			m.Title = "Access ends soon: " + g.GroupName
			m.Text = fmt.Sprintf("%s's membership of %s in %s ends at %s (in %s).", g.UserName, g.GroupName, g.Directory, g.ExpiresAt.UTC().Format(time.RFC1123), time.Duration(dt.Lead))
			if d.Recipient != "" && n.links != nil {
				c := Claims{Action: ActExtend, Subject: g.ID, Login: d.Recipient, Expires: g.ExpiresAt}
				m.Actions = append(m.Actions, Action{Label: "Ask to extend", Claims: c, URL: base + "/act/" + n.links.Sign(c)})
			}
		case GrantRevoked:
			m.Title, m.Text = "Access ended: "+g.GroupName, fmt.Sprintf("%s is no longer a member of %s in %s (%s).", g.UserName, g.GroupName, g.Directory, ev.Detail)
		case RevokeFailed:
			m.Title = "REVOCATION FAILING: " + g.GroupName
			m.Text = fmt.Sprintf("jitd cannot remove %s from %s in %s (grant %s ended %s); it keeps retrying. %s", g.UserName, g.GroupName, g.Directory, g.ID, g.ExpiresAt.UTC().Format(time.RFC3339), ev.Detail)
		}
		return m, false, nil
	case BreakGlass:
		m.Title = "BREAK-GLASS: " + ev.User + " took " + ev.Group
		m.Text = fmt.Sprintf("%s granted themselves %s in %s without approval: %s. A review is open until someone else closes it.", ev.User, ev.Group, ev.Directory, ev.Detail)
		m.Link = base + "/api/v1/reviews"
	case ReviewClosed:
		m.Title, m.Text = "Break-glass review closed", fmt.Sprintf("%s closed the review of %s's use of %s: %s", ev.Actor, ev.User, ev.Group, ev.Detail)
	case Drift:
		m.Title = "Drift: " + ev.User + " in " + ev.Group
		m.Text = fmt.Sprintf("%s is a member of the JIT-managed group %s in %s with no grant and no baseline entry.", ev.User, ev.Group, ev.Directory)
		m.Link = base + "/api/v1/drift"
	case AccountDisableFailed:
		m.Title = "ACCOUNT DISABLE FAILING: " + ev.User
		m.Text = fmt.Sprintf("jitd cannot disable the contractor account %s in %s; it keeps retrying. %s", ev.User, ev.Directory, ev.Detail)
		m.Link = base + "/api/v1/accounts/" + ev.GrantID
	case Offboarded:
		m.Title, m.Text = "Offboarded: "+ev.User, fmt.Sprintf("%s was disabled or removed in %s; jitd revoked their access. %s", ev.User, ev.Directory, ev.Detail)
	case DirectoryDown:
		m.Title = "DIRECTORY NOT ANSWERING: " + ev.Directory
		m.Text = fmt.Sprintf("%s does not answer jitd. Removals and account disables that fall due wait for it and go the moment it answers. %s", ev.Directory, ev.Detail)
		m.Link = base + "/readyz"
	case AuditCheckpoint:
		m.Title = "Audit checkpoint"
		m.Text = "Keep this line where jitd's database cannot be written; `jitd audit verify --checkpoint FILE` proves the audit log still holds what it saw:\n" + ev.Detail
	case DirectoryBack:
		m.Title, m.Text = "Directory answers again: "+ev.Directory, fmt.Sprintf("%s answers again; jitd is retrying the work that waited for it. %s", ev.Directory, ev.Detail)
	}
	return m, false, nil
}

func label(kind string) string {
	switch kind {
	case ActApprove:
		return "Approve"
	case ActDeny:
		return "Deny"
	}
	return "Extend"
}
