package review

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/jitd/jitd/connectors"
	"github.com/jitd/jitd/core/store"
)

// resolver finds reviewers in the mirror, remembering what it read: a
// campaign over 20,000 memberships asks about the same groups and
// managers again and again.
type resolver struct {
	ctx      context.Context
	st       Store
	members  map[[2]string][]string // (directory, group) → member logins
	managers map[[2]string]string   // (directory, login) → manager login ("": none)
}

func newResolver(ctx context.Context, st Store) *resolver {
	return &resolver{ctx: ctx, st: st, members: map[[2]string][]string{}, managers: map[[2]string]string{}}
}

// reviewers returns who decides an item, never its subject: the kind's
// reviewers, else the spec's users and groups, else the subject's manager.
// None means an admin decides.
func (r *resolver) reviewers(it store.CampaignItem, spec Reviewers, owners []string) ([]string, error) {
	var who []string
	switch spec.Kind {
	case ReviewersOwners:
		if it.Kind == store.ItemAccount {
			a, err := r.st.Account(r.ctx, it.Ref)
			if err != nil {
				return nil, err
			}
			who = []string{a.Sponsor}
		} else {
			who = slices.Clone(owners)
		}
	case ReviewersManager:
		m, err := r.manager(it.Directory, it.UserName)
		if err != nil {
			return nil, err
		}
		if m != "" {
			who = []string{m}
		}
	}
	who = others(who, it.UserName)
	if len(who) == 0 || spec.Kind == ReviewersNamed {
		named, err := r.named(it.Directory, spec)
		if err != nil {
			return nil, err
		}
		who = others(append(who, named...), it.UserName)
	}
	if len(who) == 0 {
		m, err := r.manager(it.Directory, it.UserName)
		if err != nil {
			return nil, err
		}
		who = others([]string{m}, it.UserName)
	}
	return who, nil
}

// named lists a spec's users and the members of its groups.
func (r *resolver) named(dir string, spec Reviewers) ([]string, error) {
	who := slices.Clone(spec.Users)
	for _, g := range spec.Groups {
		ms, err := r.groupMembers(dir, g)
		if err != nil {
			return nil, err
		}
		who = append(who, ms...)
	}
	return who, nil
}

func (r *resolver) groupMembers(dir, name string) ([]string, error) {
	key := [2]string{dir, name}
	if ms, ok := r.members[key]; ok {
		return ms, nil
	}
	var logins []string
	g, err := r.st.MirrorGroup(r.ctx, dir, name)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	if err == nil {
		us, err := r.st.MirrorMembers(r.ctx, dir, g.ID)
		if err != nil {
			return nil, err
		}
		for _, u := range us {
			if u.Enabled {
				logins = append(logins, u.Login)
			}
		}
	}
	r.members[key] = logins
	return logins, nil
}

// manager returns login's manager in dir's mirror ("" when none is known).
func (r *resolver) manager(dir, login string) (string, error) {
	key := [2]string{dir, strings.ToLower(login)}
	if m, ok := r.managers[key]; ok {
		return m, nil
	}
	var out string
	u, err := r.st.MirrorUser(r.ctx, dir, login)
	if err == nil {
		var boss connectors.User
		if boss, err = r.st.MirrorManager(r.ctx, dir, u); err == nil && boss.Enabled {
			out = boss.Login
		}
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return "", err
	}
	r.managers[key] = out
	return out, nil
}

// others returns who without subject, empty names and repeats, lower-cased.
func others(who []string, subject string) []string {
	out := []string{}
	for _, w := range who {
		w = strings.ToLower(strings.TrimSpace(w))
		if w != "" && w != strings.ToLower(subject) && !slices.Contains(out, w) {
			out = append(out, w)
		}
	}
	return out
}
