package report

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/jitd/jitd/core/policy"
	"github.com/jitd/jitd/core/store"
)

// BreakGlass is one self-granted emergency access and its review.
type BreakGlass struct {
	Review    string    `json:"review"`
	Request   string    `json:"request"`
	Subject   string    `json:"subject"`
	Directory string    `json:"directory"`
	Group     string    `json:"group"`
	Reason    string    `json:"reason"`
	At        time.Time `json:"at"`
	State     string    `json:"state"` // open, closed
	Outcome   string    `json:"outcome,omitempty"`
	ClosedBy  string    `json:"closed_by,omitempty"`
	ClosedAt  time.Time `json:"closed_at,omitzero"`
	Comment   string    `json:"comment,omitempty"`
}

// BreakGlassReport lists the break-glass uses of the period with their
// review outcomes, newest first.
func BreakGlassReport(ctx context.Context, st interface{ store.Requests }, p Period) ([]BreakGlass, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	vs, err := st.Reviews(ctx, "")
	if err != nil {
		return nil, err
	}
	out := []BreakGlass{}
	for _, v := range vs {
		if v.CreatedAt.Before(p.From) || !v.CreatedAt.Before(p.To) {
			continue
		}
		out = append(out, BreakGlass{Review: v.ID, Request: v.RequestID, Subject: v.Subject, Directory: v.Directory, Group: v.Group, Reason: v.Reason,
			At: v.CreatedAt, State: string(v.State), Outcome: v.Outcome, ClosedBy: v.ClosedBy, ClosedAt: v.ClosedAt, Comment: v.Comment})
	}
	return out, nil
}

// WriteBreakGlass writes a break-glass report.
func WriteBreakGlass(w io.Writer, format, title string, rows []BreakGlass) error {
	header := []string{"review", "request", "subject", "directory", "group", "reason", "at", "state", "outcome", "closed_by", "closed_at", "comment"}
	var body [][]string
	open := 0
	for _, r := range rows {
		body = append(body, []string{r.Review, r.Request, r.Subject, r.Directory, r.Group, r.Reason, stamp(r.At), r.State, r.Outcome, r.ClosedBy, stamp(r.ClosedAt), r.Comment})
		if r.State == "open" {
			open++
		}
	}
	return writeTable(w, format, title, fmt.Sprintf("%d uses; %d still wait for review.", len(rows), open), header, body, map[string]any{"title": title, "breakglass": rows})
}

// Overdue is a contractor account past its end that is not disabled.
type Overdue struct {
	Account   string    `json:"account"`
	Directory string    `json:"directory"`
	Login     string    `json:"login"`
	Sponsor   string    `json:"sponsor"`
	EndsAt    time.Time `json:"ends_at"`
	State     string    `json:"state"`
	LastError string    `json:"last_error,omitempty"`
}

// AccountsPastEndReport lists contractor accounts past their end date that
// are not disabled (expected: none; each is a directory that did not
// answer, or jitd not running).
func AccountsPastEndReport(ctx context.Context, st interface{ store.Accounts }, now time.Time) ([]Overdue, error) {
	as, err := st.Accounts(ctx, store.AccountFilter{States: []store.AccountState{store.AccountCreating, store.AccountCreateFailed, store.AccountActive,
		store.AccountDisabling, store.AccountDisableFailed}})
	if err != nil {
		return nil, err
	}
	out := []Overdue{}
	for _, a := range as {
		if a.EndsAt.Before(now) {
			out = append(out, Overdue{Account: a.ID, Directory: a.Directory, Login: a.Login, Sponsor: a.Sponsor, EndsAt: a.EndsAt, State: string(a.State), LastError: a.LastError})
		}
	}
	return out, nil
}

// WriteAccountsPastEnd writes that report.
func WriteAccountsPastEnd(w io.Writer, format, title string, rows []Overdue) error {
	header := []string{"account", "directory", "login", "sponsor", "ends_at", "state", "last_error"}
	var body [][]string
	for _, r := range rows {
		body = append(body, []string{r.Account, r.Directory, r.Login, r.Sponsor, stamp(r.EndsAt), r.State, r.LastError})
	}
	return writeTable(w, format, title, fmt.Sprintf("%d accounts past their end and not disabled (expected: none).", len(rows)), header, body,
		map[string]any{"title": title, "accounts": rows})
}

// Conflict is a person who holds, now, two or more groups of one
// separation-of-duties set.
type Conflict struct {
	Set       string   `json:"set"`
	Directory string   `json:"directory"`
	User      string   `json:"user"`
	Groups    []string `json:"groups"`
}

// ConflictsReport finds, in each directory, the people who hold two or more
// groups of a separation-of-duties set now, counting directory membership
// and live grants alike.
func ConflictsReport(ctx context.Context, st Store, sets []policy.Separation, directories []string) ([]Conflict, error) {
	out := []Conflict{}
	for _, dir := range directories {
		for _, set := range sets {
			held := map[string][]string{} // login -> groups of the set held
			add := func(login, group string) {
				if !slices.Contains(held[login], group) {
					held[login] = append(held[login], group)
				}
			}
			for _, name := range set.Groups {
				g, err := st.MirrorGroup(ctx, dir, name)
				if err == nil {
					members, err := st.MirrorMembers(ctx, dir, g.ID)
					if err != nil {
						return nil, err
					}
					for _, u := range members {
						add(strings.ToLower(u.Login), name)
					}
				}
				gs, err := st.Grants(ctx, store.GrantFilter{Directory: dir, GroupName: name, States: []store.State{store.StateActive, store.StateApplying, store.StatePending}})
				if err != nil {
					return nil, err
				}
				for _, gr := range gs {
					add(strings.ToLower(gr.UserName), name)
				}
			}
			for login, groups := range held {
				if len(groups) > 1 {
					slices.Sort(groups)
					out = append(out, Conflict{Set: set.Name, Directory: dir, User: login, Groups: groups})
				}
			}
		}
	}
	slices.SortFunc(out, func(a, b Conflict) int {
		return strings.Compare(a.Set+"/"+a.Directory+"/"+a.User, b.Set+"/"+b.Directory+"/"+b.User)
	})
	return out, nil
}

// WriteConflicts writes that report.
func WriteConflicts(w io.Writer, format, title string, rows []Conflict) error {
	header := []string{"set", "directory", "user", "groups"}
	var body [][]string
	for _, r := range rows {
		body = append(body, []string{r.Set, r.Directory, r.User, strings.Join(r.Groups, " ")})
	}
	return writeTable(w, format, title, fmt.Sprintf("%d people hold groups that should not be held together.", len(rows)), header, body,
		map[string]any{"title": title, "conflicts": rows})
}

// PastConflict is a stretch of a period in which one person held two groups
// of one separation-of-duties set at once, and what gave them each.
type PastConflict struct {
	Set       string    `json:"set"`
	Directory string    `json:"directory"`
	User      string    `json:"user"`
	Groups    []string  `json:"groups"`
	From      time.Time `json:"from"`
	To        time.Time `json:"to"`
	Via       []string  `json:"via"` // for each group: grant ID, breakglass ID, baseline or drift
}

// PastConflictsReport finds every overlap, within the period, of two
// stretches of access (grants, break-glass, baseline, drift: as the access
// report has them) to two groups of one separation-of-duties set held by
// one person. The baseline is the accepted standing membership as it
// stands now, counted over the whole period; a membership still held ends
// at the period's end.
func PastConflictsReport(ctx context.Context, st Store, sets []policy.Separation, directories []string, p Period, now time.Time) ([]PastConflict, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	drift, err := st.Drift(ctx, "")
	if err != nil {
		return nil, err
	}
	type stretch struct {
		group    string
		from, to time.Time
		via      string
	}
	out := []PastConflict{}
	for _, dir := range directories {
		for _, set := range sets {
			held := map[string][]stretch{} // login -> stretches of the set's groups
			for _, name := range set.Groups {
				rows, err := accessRows(ctx, st, AccessQuery{Directory: dir, Group: name, Period: p}, now, drift)
				if err != nil {
					return nil, err
				}
				for _, a := range rows {
					s := stretch{group: name, from: a.From, to: a.To, via: a.Kind}
					if a.Grant != "" {
						s.via = a.Kind + " " + a.Grant
					}
					if s.from.Before(p.From) {
						s.from = p.From
					}
					if s.to.IsZero() || s.to.After(p.To) {
						s.to = p.To
					}
					if s.from.Before(s.to) {
						login := strings.ToLower(a.User)
						held[login] = append(held[login], s)
					}
				}
			}
			for login, ss := range held {
				for i, a := range ss {
					for _, b := range ss[i+1:] {
						if a.group == b.group {
							continue
						}
						from, to := maxTime(a.from, b.from), minTime(a.to, b.to)
						if !from.Before(to) {
							continue
						}
						x, y := a, b
						if y.group < x.group {
							x, y = y, x
						}
						out = append(out, PastConflict{Set: set.Name, Directory: dir, User: login, Groups: []string{x.group, y.group}, From: from, To: to, Via: []string{x.via, y.via}})
					}
				}
			}
		}
	}
	slices.SortFunc(out, func(a, b PastConflict) int {
		if c := a.From.Compare(b.From); c != 0 {
			return c
		}
		return strings.Compare(a.Set+"/"+a.Directory+"/"+a.User, b.Set+"/"+b.Directory+"/"+b.User)
	})
	return out, nil
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// WritePastConflicts writes that report.
func WritePastConflicts(w io.Writer, format, title string, rows []PastConflict) error {
	header := []string{"set", "directory", "user", "groups", "from", "to", "via"}
	var body [][]string
	for _, r := range rows {
		body = append(body, []string{r.Set, r.Directory, r.User, strings.Join(r.Groups, " "), stamp(r.From), stamp(r.To), strings.Join(r.Via, " + ")})
	}
	return writeTable(w, format, title, fmt.Sprintf("%d times someone held groups that should not be held together.", len(rows)), header, body,
		map[string]any{"title": title, "conflicts": rows})
}
