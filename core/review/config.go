package review

import (
	"fmt"
	"slices"
	"time"

	"github.com/jitd/jitd/core/conf"
)

// Scope kinds: what a campaign reviews.
const (
	// ScopeStanding: the standing members (baseline and accepted drift) of
	// JIT-managed groups.
	ScopeStanding = "standing"
	// ScopeMembers: every member of groups jitd does not manage.
	ScopeMembers = "members"
	// ScopeAccounts: live contractor accounts and their sponsors.
	ScopeAccounts = "accounts"
	// ScopeGrants: the grants and break-glass uses of a period.
	ScopeGrants = "grants"
)

// Reviewer kinds: who decides an item.
const (
	ReviewersOwners  = "owners"  // the group's owners (an account's sponsor)
	ReviewersManager = "manager" // the person's manager, from the directory
	ReviewersNamed   = "named"   // the users and members of the groups listed
)

// Scope is what a campaign reviews.
type Scope struct {
	Kind      string `yaml:"kind" json:"kind"`
	Directory string `yaml:"directory" json:"directory,omitempty"` // "": every directory
	// Groups: standing — which JIT-managed groups (none: all); members —
	// the groups whose members are reviewed (required).
	Groups []string `yaml:"groups" json:"groups,omitempty"`
	// From and To bound a grants scope; a recurring campaign uses Period
	// (the period just ended) instead.
	From   time.Time     `yaml:"-" json:"from,omitzero"`
	To     time.Time     `yaml:"-" json:"to,omitzero"`
	Period time.Duration `yaml:"period" json:"period,omitempty"`
}

// Reviewers says who decides each item. For owners and manager, Users and
// Groups are who decides when that finds nobody (else the subject's
// manager, else an admin).
type Reviewers struct {
	Kind   string   `yaml:"kind" json:"kind"`
	Users  []string `yaml:"users" json:"users,omitempty"`
	Groups []string `yaml:"groups" json:"groups,omitempty"`
}

// Spec is a campaign to open.
type Spec struct {
	Name      string    `yaml:"name" json:"name"`
	Scope     Scope     `yaml:"scope" json:"scope"`
	Reviewers Reviewers `yaml:"reviewers" json:"reviewers"`
	// Duration is how long reviewers have (default 14 days).
	Duration time.Duration `yaml:"duration" json:"duration,omitempty"`
	// Remind: reminders to reviewers with items left, this long before the due date.
	Remind []time.Duration `yaml:"remind" json:"remind,omitempty"`
	// EscalateAfter: items undecided this long after opening also go to
	// their reviewers' managers (0: never).
	EscalateAfter time.Duration `yaml:"escalate_after" json:"escalate_after,omitempty"`
	// OnNoAnswer is what an item nobody decided by the due date becomes:
	// keep (default) or revoke.
	OnNoAnswer string `yaml:"on_no_answer" json:"on_no_answer,omitempty"`
}

// Schedule is a recurring campaign: Spec opened every Every.
type Schedule struct {
	Spec  `yaml:",inline"`
	Every time.Duration `yaml:"every"`
}

// Config is the reviews section: the recurring campaigns.
type Config struct {
	Campaigns []Schedule `yaml:"campaigns"`
}

// DefaultDuration is how long reviewers have unless a campaign says.
const DefaultDuration = 14 * 24 * time.Hour

// complete fills in defaults.
func (s *Spec) complete() {
	if s.Duration == 0 {
		s.Duration = DefaultDuration
	}
	if s.OnNoAnswer == "" {
		s.OnNoAnswer = "keep"
	}
	slices.SortFunc(s.Remind, func(a, b time.Duration) int { return int(b - a) }) // earliest reminder first
}

// Validate checks a spec (defaults filled in) and returns every problem
// at its path.
func (s Spec) Validate() conf.Problems {
	var p conf.Problems
	if s.Name == "" {
		p.Addf("name", "is required")
	} else if len(s.Name) > 200 {
		p.Addf("name", "must be at most 200 characters")
	}
	switch s.Scope.Kind {
	case ScopeStanding, ScopeAccounts:
	case ScopeMembers:
		if len(s.Scope.Groups) == 0 {
			p.Addf("scope.groups", "name the groups whose members are reviewed")
		}
	case ScopeGrants:
		if s.Scope.Period <= 0 && (s.Scope.From.IsZero() || !s.Scope.To.After(s.Scope.From)) {
			p.Addf("scope", "a grants review needs a period (from before to, or period)")
		}
	case "":
		p.Addf("scope.kind", "is required: standing, members, accounts or grants")
	default:
		p.Addf("scope.kind", "must be standing, members, accounts or grants (got %q)", s.Scope.Kind)
	}
	switch s.Reviewers.Kind {
	case ReviewersOwners, ReviewersManager:
	case ReviewersNamed:
		if len(s.Reviewers.Users)+len(s.Reviewers.Groups) == 0 {
			p.Addf("reviewers", "named reviewers need users or groups")
		}
	case "":
		p.Addf("reviewers.kind", "is required: owners, manager or named")
	default:
		p.Addf("reviewers.kind", "must be owners, manager or named (got %q)", s.Reviewers.Kind)
	}
	if s.Duration < time.Hour || s.Duration > 366*24*time.Hour {
		p.Addf("duration", "must be between 1h and 366d (got %s)", s.Duration)
	}
	for i, r := range s.Remind {
		if r <= 0 || r >= s.Duration {
			p.Addf(fmt.Sprintf("remind[%d]", i), "must be positive and shorter than the duration (%s)", s.Duration)
		}
	}
	if s.EscalateAfter < 0 || (s.EscalateAfter > 0 && s.EscalateAfter >= s.Duration) {
		p.Addf("escalate_after", "must be shorter than the duration (%s)", s.Duration)
	}
	if s.OnNoAnswer != "keep" && s.OnNoAnswer != "revoke" {
		p.Addf("on_no_answer", "must be keep or revoke (got %q)", s.OnNoAnswer)
	}
	return p
}

// Validate checks the recurring campaigns.
func (c *Config) Validate() conf.Problems {
	var p conf.Problems
	seen := map[string]bool{}
	for i := range c.Campaigns {
		s := &c.Campaigns[i]
		s.complete()
		at := fmt.Sprintf("campaigns[%d]", i)
		p.Add(at, s.Spec.Validate())
		if s.Every < 24*time.Hour {
			p.Addf(at+".every", "must be at least 1d (got %s)", s.Every)
		} else if s.Every < s.Duration {
			p.Addf(at+".every", "must not be shorter than the duration (%s): campaigns would overlap", s.Duration)
		}
		if s.Scope.Kind == ScopeGrants && s.Scope.Period <= 0 {
			p.Addf(at+".scope.period", "a recurring grants review needs a period (the time just ended it covers)")
		}
		if seen[s.Name] {
			p.Addf(at+".name", "%q names two campaigns", s.Name)
		}
		seen[s.Name] = true
	}
	return p
}
