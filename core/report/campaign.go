package report

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/jitd/jitd/core/fault"
	"github.com/jitd/jitd/core/store"
)

// CampaignResult is an access review campaign with every item's decision.
type CampaignResult struct {
	ID         string               `json:"id"`
	Name       string               `json:"name"`
	State      string               `json:"state"`
	CreatedBy  string               `json:"created_by"`
	CreatedAt  time.Time            `json:"created_at"`
	DueAt      time.Time            `json:"due_at"`
	ClosedAt   time.Time            `json:"closed_at,omitzero"`
	ClosedBy   string               `json:"closed_by,omitempty"`
	OnNoAnswer string               `json:"on_no_answer"`
	Counts     store.CampaignCounts `json:"counts"`
	Decisions  []Decision           `json:"decisions"`
}

// Decision is one reviewed item and what became of it.
type Decision struct {
	Seq       int       `json:"seq"`
	Kind      string    `json:"kind"`
	Source    string    `json:"source"`
	Directory string    `json:"directory"`
	Group     string    `json:"group,omitempty"`
	User      string    `json:"user"`
	Reviewers []string  `json:"reviewers"`
	Decision  string    `json:"decision"` // "" while undecided
	DecidedBy string    `json:"decided_by,omitempty"`
	DecidedAt time.Time `json:"decided_at,omitzero"`
	Comment   string    `json:"comment,omitempty"`
	Effect    string    `json:"effect,omitempty"` // the grant or account that carried out a revoke
	AppliedAt time.Time `json:"applied_at,omitzero"`
}

var errNoCampaign = fault.New(fault.ErrInvalid, "no campaign")

// CampaignReport reads a campaign's results.
func CampaignReport(ctx context.Context, st store.Campaigns, id string) (CampaignResult, error) {
	if id == "" {
		return CampaignResult{}, fmt.Errorf("%w: name the campaign (id=)", errNoCampaign)
	}
	c, err := st.Campaign(ctx, id)
	if err != nil {
		return CampaignResult{}, err
	}
	out := CampaignResult{ID: c.ID, Name: c.Name, State: string(c.State), CreatedBy: c.CreatedBy, CreatedAt: c.CreatedAt, DueAt: c.DueAt,
		ClosedAt: c.ClosedAt, ClosedBy: c.ClosedBy, OnNoAnswer: c.OnNoAnswer, Decisions: []Decision{}}
	if out.Counts, err = st.CampaignCounts(ctx, id); err != nil {
		return out, err
	}
	items, err := st.CampaignItems(ctx, store.CampaignItemFilter{CampaignID: id})
	if err != nil {
		return out, err
	}
	for _, it := range items {
		out.Decisions = append(out.Decisions, Decision{Seq: it.Seq, Kind: it.Kind, Source: it.Source, Directory: it.Directory, Group: it.GroupName,
			User: it.UserName, Reviewers: it.Reviewers, Decision: it.Decision, DecidedBy: it.DecidedBy, DecidedAt: it.DecidedAt, Comment: it.Comment,
			Effect: it.Effect, AppliedAt: it.AppliedAt})
	}
	return out, nil
}

// WriteCampaign writes a campaign's results.
func WriteCampaign(w io.Writer, format string, c CampaignResult) error {
	header := []string{"item", "kind", "source", "directory", "group", "user", "reviewers", "decision", "decided_by", "decided_at", "comment", "effect", "applied_at"}
	var body [][]string
	for _, d := range c.Decisions {
		body = append(body, []string{fmt.Sprint(d.Seq), d.Kind, d.Source, d.Directory, d.Group, d.User, fmt.Sprint(d.Reviewers), orDash(d.Decision),
			d.DecidedBy, stamp(d.DecidedAt), d.Comment, d.Effect, stamp(d.AppliedAt)})
	}
	n := c.Counts
	summary := fmt.Sprintf("%s, opened by %s on %s, due %s. %d items: %d kept, %d revoked, %d made just-in-time, %d undecided; %d revocations not yet handed on.",
		c.State, c.CreatedBy, stamp(c.CreatedAt), stamp(c.DueAt), n.Items, n.Keep, n.Revoke, n.JIT, n.Pending, n.Unapplied)
	return writeTable(w, format, "Access review: "+c.Name+" ("+c.ID+")", summary, header, body, c)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
