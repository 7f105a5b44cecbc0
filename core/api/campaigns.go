package api

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jitd/jitd/core/auth"
	"github.com/jitd/jitd/core/conf"
	"github.com/jitd/jitd/core/report"
	"github.com/jitd/jitd/core/review"
	"github.com/jitd/jitd/core/store"
)

// CampaignSpec opens an access review campaign. Durations are Go
// durations or whole days ("14d").
type CampaignSpec struct {
	Name          string           `json:"name"`
	Scope         CampaignScope    `json:"scope"`
	Reviewers     review.Reviewers `json:"reviewers"`
	Duration      string           `json:"duration,omitempty"`
	Remind        []string         `json:"remind,omitempty"`
	EscalateAfter string           `json:"escalate_after,omitempty"`
	OnNoAnswer    string           `json:"on_no_answer,omitempty"`
}

// CampaignScope is what a campaign reviews: standing, members, accounts,
// or grants (from, to).
type CampaignScope struct {
	Kind      string    `json:"kind"`
	Directory string    `json:"directory,omitempty"`
	Groups    []string  `json:"groups,omitempty"`
	From      time.Time `json:"from,omitzero"`
	To        time.Time `json:"to,omitzero"`
}

// Campaign is an access review campaign with its items counted.
type Campaign struct {
	ID            string               `json:"id"`
	Name          string               `json:"name"`
	Schedule      string               `json:"schedule,omitempty"`
	State         string               `json:"state"`
	Scope         CampaignScope        `json:"scope"`
	Reviewers     review.Reviewers     `json:"reviewers"`
	Remind        []string             `json:"remind,omitempty"`
	EscalateAfter string               `json:"escalate_after,omitempty"`
	OnNoAnswer    string               `json:"on_no_answer"`
	CreatedBy     string               `json:"created_by"`
	CreatedAt     time.Time            `json:"created_at"`
	DueAt         time.Time            `json:"due_at"`
	ClosedAt      time.Time            `json:"closed_at,omitzero"`
	ClosedBy      string               `json:"closed_by,omitempty"`
	Counts        store.CampaignCounts `json:"counts"`
	// MyPending counts the items waiting for the caller's decision.
	MyPending int `json:"my_pending"`
}

// CampaignItem is one item under review and its decision.
type CampaignItem struct {
	Seq       int       `json:"seq"`
	Kind      string    `json:"kind"`
	Source    string    `json:"source"`
	Directory string    `json:"directory"`
	Group     string    `json:"group,omitempty"`
	User      string    `json:"user"`
	Ref       string    `json:"ref,omitempty"`
	Detail    string    `json:"detail,omitempty"`
	Reviewers []string  `json:"reviewers"`
	Decision  string    `json:"decision,omitempty"`
	DecidedBy string    `json:"decided_by,omitempty"`
	DecidedAt time.Time `json:"decided_at,omitzero"`
	Comment   string    `json:"comment,omitempty"`
	Effect    string    `json:"effect,omitempty"`
	AppliedAt time.Time `json:"applied_at,omitzero"`
}

// CampaignList lists campaigns, newest first.
type CampaignList struct {
	Campaigns []Campaign `json:"campaigns"`
}

// CampaignDetail is a campaign and a page of its items.
type CampaignDetail struct {
	Campaign
	Items []CampaignItem `json:"items"`
}

// DecideItemRequest decides one item: keep, revoke or jit.
type DecideItemRequest struct {
	Decision string `json:"decision"`
	Comment  string `json:"comment,omitempty"`
}

func (s *Server) campaignJSON(r *http.Request, c store.Campaign, p auth.Principal) (Campaign, error) {
	scope, reviewers, remind, escalate := review.Settings(c)
	out := Campaign{ID: c.ID, Name: c.Name, Schedule: c.Schedule, State: string(c.State), Reviewers: reviewers, OnNoAnswer: c.OnNoAnswer,
		Scope:     CampaignScope{Kind: scope.Kind, Directory: scope.Directory, Groups: scope.Groups, From: scope.From, To: scope.To},
		CreatedBy: c.CreatedBy, CreatedAt: c.CreatedAt, DueAt: c.DueAt, ClosedAt: c.ClosedAt, ClosedBy: c.ClosedBy}
	for _, d := range remind {
		out.Remind = append(out.Remind, conf.FormatDuration(d))
	}
	if escalate > 0 {
		out.EscalateAfter = conf.FormatDuration(escalate)
	}
	var err error
	if out.Counts, err = s.store.CampaignCounts(r.Context(), c.ID); err != nil {
		return out, err
	}
	if c.State == store.CampaignOpen {
		if out.MyPending, err = s.store.CountCampaignItems(r.Context(), store.CampaignItemFilter{CampaignID: c.ID, Reviewer: p.Name, Pending: true}); err != nil {
			return out, err
		}
	}
	return out, nil
}

func itemJSON(it store.CampaignItem) CampaignItem {
	return CampaignItem{Seq: it.Seq, Kind: it.Kind, Source: it.Source, Directory: it.Directory, Group: it.GroupName, User: it.UserName, Ref: it.Ref,
		Detail: it.Detail, Reviewers: it.Reviewers, Decision: it.Decision, DecidedBy: it.DecidedBy, DecidedAt: it.DecidedAt, Comment: it.Comment,
		Effect: it.Effect, AppliedAt: it.AppliedAt}
}

func (s *Server) createCampaign(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req CampaignSpec
	if err := decode(r, &req); err != nil {
		return err
	}
	spec := review.Spec{Name: req.Name, Reviewers: req.Reviewers, OnNoAnswer: req.OnNoAnswer,
		Scope: review.Scope{Kind: req.Scope.Kind, Directory: req.Scope.Directory, Groups: req.Scope.Groups, From: req.Scope.From, To: req.Scope.To}}
	var bad conf.Problems
	parse := func(field, v string) time.Duration {
		if v == "" {
			return 0
		}
		d, err := conf.ParseDuration(v)
		if err != nil {
			bad.Addf(field, "%v", err)
		}
		return d
	}
	spec.Duration = parse("duration", req.Duration)
	spec.EscalateAfter = parse("escalate_after", req.EscalateAfter)
	for i, v := range req.Remind {
		spec.Remind = append(spec.Remind, parse(fmt.Sprintf("remind[%d]", i), v))
	}
	if len(bad) > 0 {
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: strings.Join(bad.Lines(), "; ")}
	}
	c, err := s.reviews.Create(r.Context(), spec, p.Name, "")
	if err != nil {
		return err
	}
	out, err := s.campaignJSON(r, c, p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, out)
	return nil
}

func (s *Server) listCampaigns(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	q := r.URL.Query()
	f := store.CampaignFilter{State: store.CampaignState(q.Get("state"))}
	if f.State != "" && f.State != store.CampaignOpen && f.State != store.CampaignClosed {
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: "state must be open or closed"}
	}
	var err error
	if f.Limit, f.Offset, err = page(q, 100, 1000); err != nil {
		return err
	}
	if !auth.SeesAll(p.Role) {
		f.Reviewer = p.Name // people who review see the campaigns they have items in
	}
	cs, err := s.store.Campaigns(r.Context(), f)
	if err != nil {
		return err
	}
	out := CampaignList{Campaigns: []Campaign{}}
	for _, c := range cs {
		cj, err := s.campaignJSON(r, c, p)
		if err != nil {
			return err
		}
		out.Campaigns = append(out.Campaigns, cj)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) getCampaign(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	c, err := s.store.Campaign(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := store.CampaignItemFilter{CampaignID: c.ID, Pending: q.Get("pending") == "true"}
	if f.Limit, f.Offset, err = page(q, 1000, 10000); err != nil {
		return err
	}
	if q.Get("mine") == "true" || !auth.SeesAll(p.Role) {
		f.Reviewer = p.Name // people who review read their own items only
	}
	if !auth.SeesAll(p.Role) {
		// A campaign with nothing for the caller to review is not theirs to see.
		mine, err := s.store.CampaignItems(r.Context(), store.CampaignItemFilter{CampaignID: c.ID, Reviewer: p.Name, Limit: 1})
		if err != nil {
			return err
		}
		if len(mine) == 0 {
			return &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: "no such campaign among yours"}
		}
	}
	its, err := s.store.CampaignItems(r.Context(), f)
	if err != nil {
		return err
	}
	cj, err := s.campaignJSON(r, c, p)
	if err != nil {
		return err
	}
	out := CampaignDetail{Campaign: cj, Items: []CampaignItem{}}
	for _, it := range its {
		out.Items = append(out.Items, itemJSON(it))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) decideItem(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	seq, err := strconv.Atoi(r.PathValue("seq"))
	if err != nil || seq < 1 {
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: "the item number must be a positive integer"}
	}
	var req DecideItemRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	it, err := s.reviews.Decide(r.Context(), r.PathValue("id"), seq, review.Decider{Login: p.Name, Admin: p.Role == auth.RoleAdmin}, req.Decision, req.Comment)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, itemJSON(it))
	return nil
}

func (s *Server) closeCampaign(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	c, err := s.reviews.Close(r.Context(), r.PathValue("id"), p.Name)
	if err != nil {
		return err
	}
	out, err := s.campaignJSON(r, c, p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) campaignReport(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	format, err := reportFormat(r)
	if err != nil {
		return err
	}
	res, err := report.CampaignReport(r.Context(), s.store, r.URL.Query().Get("id"))
	if err != nil {
		return err
	}
	var b bytes.Buffer
	if err := report.WriteCampaign(&b, format, res); err != nil {
		return err
	}
	writeReport(w, format, &b)
	return nil
}
