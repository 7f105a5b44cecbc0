package request

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jitd/jitd/core/policy"
	"github.com/jitd/jitd/core/store"
)

// Onboarder makes what an approved onboarding request asks for: the
// contractor's account and memberships. It returns the account's id, or ""
// when no account was recorded; an error with an id means the account exists
// but something else (a membership) failed.
type Onboarder interface {
	Onboard(ctx context.Context, r store.Request) (accountID string, err error)
}

// CreateOnboarding records a contractor's request for an account: the
// sponsor's approval comes first, then every step policy names for each
// group asked for (as a request with context.onboarding). A group that policy
// refuses refuses the whole request, which records nothing. within runs in the
// transaction that inserts the request (the invite is used up there).
func (m *Manager) CreateOnboarding(ctx context.Context, ob store.Onboarding, directory, reason string, within func(store.Tx, store.Request) error) (store.Request, error) {
	now := m.clock.Now()
	if !ob.Until.After(now) {
		return store.Request{}, fmt.Errorf("%w: the end date must be in the future", ErrInvalid)
	}
	r := store.Request{ID: newID(), Requester: ob.Login, Directory: directory, Duration: ob.Until.Sub(now).Round(time.Second), Reason: reason,
		State: store.RequestPending, Onboarding: &ob, CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(m.config().TTL),
		Steps: []store.ApprovalStep{{Any: 1, Users: []string{ob.Sponsor}, Groups: []string{}}}}
	var rules, refused []string
	for _, g := range ob.Groups {
		others := slices.DeleteFunc(slices.Clone(ob.Groups), func(o string) bool { return o == g })
		dec := m.policy.Load().Decide(policy.Input{User: ob.Login, Directory: directory, Group: g, Duration: r.Duration, Reason: reason,
			Groups: []string{}, Held: others, Time: now, Onboarding: true,
			Attributes: map[string]string{"company": ob.Company, "email": ob.Email, "sponsor": ob.Sponsor}})
		if !dec.Allowed {
			refused = append(refused, g+": "+dec.Reason)
			continue
		}
		rules = append(rules, g+"="+dec.Rule)
		if dec.Auto {
			continue
		}
		for _, s := range dec.Steps {
			step := store.ApprovalStep{Any: max(s.Any, 1), Users: nonNil(s.Users), Groups: nonNil(s.Groups)}
			if !slices.ContainsFunc(r.Steps, func(have store.ApprovalStep) bool { return sameStep(have, step) }) {
				r.Steps = append(r.Steps, step)
			}
		}
	}
	if len(refused) > 0 {
		return store.Request{}, fmt.Errorf("%w: policy refuses %s", ErrInvalid, strings.Join(refused, "; "))
	}
	r.Rule = strings.Join(rules, ",")
	groups := "no groups"
	if len(ob.Groups) > 0 {
		groups = strings.Join(ob.Groups, ", ")
	}
	detail := fmt.Sprintf("onboarding of %s %s (%s, %s) as %s until %s with %s, sponsor %s; %d approval step(s)",
		ob.GivenName, ob.Surname, ob.Company, ob.Email, ob.Login, ob.Until.UTC().Format("2006-01-02 15:04Z"), groups, ob.Sponsor, len(r.Steps))
	err := m.store.Update(ctx, func(tx store.Tx) error {
		if err := tx.InsertRequest(r); err != nil {
			return err
		}
		if err := within(tx, r); err != nil {
			return err
		}
		return appendEvent(tx, r, now, r.Requester, ActionCreated, detail)
	})
	if err != nil {
		return store.Request{}, err
	}
	m.Wake()
	return r, nil
}

func sameStep(a, b store.ApprovalStep) bool {
	return a.Any == b.Any && slices.Equal(a.Users, b.Users) && slices.Equal(a.Groups, b.Groups)
}

// approveOnboarding makes the account and its memberships through the
// Onboarder and records the outcome (with the request's creation, when
// record is set, as approve does).
func (m *Manager) approveOnboarding(ctx context.Context, r store.Request, by string, record func(store.Tx) error) (store.Request, error) {
	var id string
	err := errors.New("contractor onboarding is not set up on this server")
	if m.Onboarder != nil {
		id, err = m.Onboarder.Onboard(ctx, r)
	}
	now := m.clock.Now()
	r.UpdatedAt, r.DecidedAt, r.DecidedBy, r.AccountID = now, now, by, id
	action, detail := ActionApproved, "approved; account "+id
	r.State = store.RequestApproved
	switch {
	case id == "":
		r.State, r.Detail, action, detail = store.RequestFailed, err.Error(), ActionFailed, "approved, but no account: "+err.Error()
	case err != nil:
		r.Detail = err.Error()
		detail += "; but " + err.Error()
	}
	if uerr := m.store.Update(context.WithoutCancel(ctx), func(tx store.Tx) error {
		if record != nil {
			if err := record(tx); err != nil {
				return err
			}
		}
		if err := tx.UpdateRequest(r); err != nil {
			return err
		}
		return appendEvent(tx, r, now, by, action, detail)
	}); uerr != nil {
		return r, uerr
	}
	if r.State == store.RequestFailed {
		return r, fmt.Errorf("%w: approved, but the account could not be made: %v", ErrInvalid, err)
	}
	return r, nil
}
