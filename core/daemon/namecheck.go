package daemon

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jitd/jitd/connectors"
	"github.com/jitd/jitd/core/config"
)

// checkNames resolves every user and group the configuration names against
// the directories (conns: the reachable ones) and reports what does not
// exist, what is disabled, and approval steps that can never be
// satisfied: a group step whose group has no members, a step that asks for
// more approvers than it names. Policy names are looked up in every
// directory; a directory's JIT-managed groups in that directory.
func checkNames(ctx context.Context, cfg *config.Config, conns map[string]connectors.Connector) []string {
	var problems []string
	add := func(path, format string, args ...any) {
		problems = append(problems, path+": "+fmt.Sprintf(format, args...))
	}
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range conns {
			if !yield(n) {
				return
			}
		}
	})
	for i, dc := range cfg.Directories {
		r, ok := resolverOf(conns[dc.Name])
		if !ok {
			continue
		}
		for j, g := range dc.Groups {
			if _, err := r.LookupGroup(ctx, g.Name); errors.Is(err, connectors.ErrNotFound) {
				add(fmt.Sprintf("directories[%d].groups[%d]", i, j), "no group %q in directory %s", g.Name, dc.Name)
			} else if err != nil {
				add(fmt.Sprintf("directories[%d].groups[%d]", i, j), "could not look up %q in %s: %v", g.Name, dc.Name, err)
			}
		}
	}
	// user finds a login in any directory: enabled, disabled or nowhere.
	user := func(login string) (found, enabled bool) {
		for _, n := range names {
			r, ok := resolverOf(conns[n])
			if !ok {
				continue
			}
			if u, err := r.LookupUser(ctx, login); err == nil {
				return true, u.Enabled
			}
		}
		return false, false
	}
	// members counts a group's direct members in the first directory that
	// has it (-1: no directory has it; -2: none could count).
	members := func(group string) int {
		for _, n := range names {
			r, ok := resolverOf(conns[n])
			if !ok {
				continue
			}
			g, err := r.LookupGroup(ctx, group)
			if err != nil {
				continue
			}
			l, ok := connectors.AsLister(conns[n])
			if !ok {
				return -2
			}
			count := 0
			if err := l.ListMembers(ctx, g.ID, func(string) error { count++; return nil }); err != nil {
				return -2
			}
			return count
		}
		return -1
	}
	checkUser := func(path, login, as string) {
		switch found, enabled := user(login); {
		case !found:
			add(path, "no user %q in any directory: %s", login, as)
		case !enabled:
			add(path, "%s is disabled in the directory: %s", login, as)
		}
	}
	checkGroup := func(path, group string) int {
		n := members(group)
		if n == -1 {
			add(path, "no group %q in any directory", group)
		}
		return n
	}
	for i, r := range cfg.Policy.Rules {
		for j, s := range r.Approvals {
			path := fmt.Sprintf("policy.rules[%d].approvals[%d]", i, j)
			approvers := 0
			for _, u := range s.Users {
				checkUser(path+".users", u, "the step can never count that approval")
				if found, enabled := user(u); found && enabled {
					approvers++
				}
			}
			unknown := false
			for _, g := range s.Groups {
				switch n := checkGroup(path+".groups", g); {
				case n == 0:
					add(path+".groups", "group %q has no members: nobody in it can approve", g)
				case n > 0:
					approvers += n
				default:
					unknown = true
				}
			}
			if need := max(s.Any, 1); !unknown && approvers < need {
				add(path, "asks for %d approvals but only %d of the people it names can give one: the step can never be satisfied", need, approvers)
			}
		}
	}
	bg := cfg.Policy.BreakGlass
	for _, u := range bg.Users {
		checkUser("policy.breakglass.users", u, "they could not use break-glass")
	}
	for _, g := range bg.Groups {
		checkGroup("policy.breakglass.groups", g)
	}
	for _, g := range bg.Targets {
		checkGroup("policy.breakglass.targets", g)
	}
	for i, s := range cfg.Policy.Separation {
		for _, g := range s.Groups {
			checkGroup(fmt.Sprintf("policy.separation[%d].groups", i), g)
		}
	}
	if to := cfg.Accounts.ReassignTo; to != "" {
		checkUser("accounts.reassign_to", to, "departed sponsors' contractors could not be handed over")
	}
	if o := cfg.Auth.OIDC; o != nil {
		for role, groups := range map[string][]string{"admin": o.Roles.Admin, "auditor": o.Roles.Auditor, "approver": o.Roles.Approver, "requester": o.Roles.Requester} {
			for _, g := range groups {
				checkGroup("auth.oidc.roles."+role, g)
			}
		}
	}
	slices.Sort(problems)
	return slices.Compact(problems)
}

func resolverOf(c connectors.Connector) (connectors.Resolver, bool) {
	if c == nil {
		return nil, false
	}
	return connectors.AsResolver(c)
}
