package api

import (
	"net/http"
	"time"

	"github.com/jitd/jitd/core/auth"
	"github.com/jitd/jitd/core/request"
	"github.com/jitd/jitd/core/store"
)

// BreakGlassRequest grants the caller a group at once, without approval.
type BreakGlassRequest struct {
	Directory string `json:"directory,omitempty"`
	Group     string `json:"group"`
	For       string `json:"for"`
	Reason    string `json:"reason"`
	Ticket    string `json:"ticket,omitempty"`
}

// BreakGlassResult is the approved request and the review it opened.
type BreakGlassResult struct {
	Request Request `json:"request"`
	Review  Review  `json:"review"`
}

// Review is the after-the-fact review of one break-glass use.
type Review struct {
	ID        string    `json:"id"`
	RequestID string    `json:"request_id"`
	Subject   string    `json:"subject"`
	Directory string    `json:"directory"`
	Group     string    `json:"group"`
	Reason    string    `json:"reason"`
	State     string    `json:"state"`
	CreatedAt time.Time `json:"created_at"`
	ClosedAt  time.Time `json:"closed_at,omitzero"`
	ClosedBy  string    `json:"closed_by,omitempty"`
	Outcome   string    `json:"outcome,omitempty"`
	Comment   string    `json:"comment,omitempty"`
}

func reviewJSON(v store.Review) Review {
	return Review{ID: v.ID, RequestID: v.RequestID, Subject: v.Subject, Directory: v.Directory, Group: v.Group, Reason: v.Reason,
		State: string(v.State), CreatedAt: v.CreatedAt, ClosedAt: v.ClosedAt, ClosedBy: v.ClosedBy, Outcome: v.Outcome, Comment: v.Comment}
}

// ReviewList lists reviews, newest first.
type ReviewList struct {
	Reviews []Review `json:"reviews"`
}

// CloseReviewRequest closes a review: outcome justified or unjustified.
type CloseReviewRequest struct {
	Outcome string `json:"outcome"`
	Comment string `json:"comment"`
}

func (s *Server) breakGlass(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req BreakGlassRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	d, err := parseFor(req.For)
	if err != nil {
		return err
	}
	if req.Directory == "" {
		req.Directory = s.defaultDirectory
	}
	q, v, err := s.requests.BreakGlass(r.Context(), request.CreateRequest{Requester: p.Name, Directory: req.Directory, Group: req.Group,
		Duration: d, Reason: req.Reason, Ticket: req.Ticket})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, BreakGlassResult{Request: requestJSON(q, nil), Review: reviewJSON(v)})
	return nil
}

func (s *Server) listReviews(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	state := store.ReviewState(r.URL.Query().Get("state"))
	if state != "" && state != store.ReviewOpen && state != store.ReviewClosed {
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: "state must be open or closed"}
	}
	vs, err := s.requests.Reviews(r.Context(), state)
	if err != nil {
		return err
	}
	out := ReviewList{Reviews: []Review{}}
	for _, v := range vs {
		out.Reviews = append(out.Reviews, reviewJSON(v))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) closeReview(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req CloseReviewRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	v, err := s.requests.CloseReview(r.Context(), r.PathValue("id"), p.Name, req.Outcome, req.Comment)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, reviewJSON(v))
	return nil
}
