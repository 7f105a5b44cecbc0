package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/jitd/jitd/core/auth"
	"github.com/jitd/jitd/core/invite"
	"github.com/jitd/jitd/core/store"
)

// Invite is a contractor invite as its sponsor and admins see it.
type Invite struct {
	ID        string    `json:"id"`
	Directory string    `json:"directory"`
	Sponsor   string    `json:"sponsor"`
	CreatedBy string    `json:"created_by"`
	MaxUntil  time.Time `json:"max_until"`
	Groups    []string  `json:"groups"`
	Note      string    `json:"note,omitempty"`
	State     string    `json:"state"` // open, used, revoked, expired
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	UsedAt    time.Time `json:"used_at,omitzero"`
	RequestID string    `json:"request_id,omitempty"`
}

func (s *Server) inviteJSON(v store.Invite) Invite {
	return Invite{ID: v.ID, Directory: v.Directory, Sponsor: v.Sponsor, CreatedBy: v.CreatedBy, MaxUntil: v.MaxUntil, Groups: v.Groups,
		Note: v.Note, State: s.invites.State(v), CreatedAt: v.CreatedAt, ExpiresAt: v.ExpiresAt, UsedAt: v.UsedAt, RequestID: v.RequestID}
}

// CreateInviteRequest asks for an invite. Approvers sponsor their own
// contractors (Sponsor empty or their login); admins name the sponsor.
type CreateInviteRequest struct {
	Directory string    `json:"directory,omitempty"`
	Sponsor   string    `json:"sponsor,omitempty"`
	Until     time.Time `json:"until"`
	Groups    []string  `json:"groups,omitempty"`
	Valid     string    `json:"valid,omitempty"` // how long the link works, default 7d
	Note      string    `json:"note,omitempty"`
}

// CreatedInvite is a new invite with its link, shown once: whoever holds
// the token may use the invite.
type CreatedInvite struct {
	Invite Invite `json:"invite"`
	Token  string `json:"token"`
	// Path is where the contractor opens it, on this server: the portal's
	// invite page (the API's is /api/v1/onboarding/TOKEN).
	Path string `json:"path"`
}

// Onboarding is what the holder of an invite link sees.
type Onboarding struct {
	Sponsor   string    `json:"sponsor"`
	Directory string    `json:"directory"`
	MaxUntil  time.Time `json:"max_until"`
	Groups    []string  `json:"groups"`
	Note      string    `json:"note,omitempty"`
	State     string    `json:"state"` // the invite's: open, used, revoked, expired
	ExpiresAt time.Time `json:"expires_at"`
	// Request is where the submission stands once made: its state
	// (pending, approved, denied, expired, failed), login and steps.
	Request *OnboardingRequest `json:"request,omitempty"`
}

// OnboardingRequest is the contractor's view of their request.
type OnboardingRequest struct {
	ID     string `json:"id"`
	State  string `json:"state"`
	Login  string `json:"login"`
	Steps  int    `json:"steps"`
	Done   int    `json:"done"`
	Detail string `json:"detail,omitempty"`
}

// SubmitOnboardingRequest is the contractor's form.
type SubmitOnboardingRequest struct {
	GivenName string    `json:"given_name"`
	Surname   string    `json:"surname"`
	Email     string    `json:"email"`
	Company   string    `json:"company"`
	Until     time.Time `json:"until"`
	Groups    []string  `json:"groups,omitempty"`
	Reason    string    `json:"reason,omitempty"`
}

// InitialPassword is a new account's password, handed out once.
type InitialPassword struct {
	Login    string `json:"login"`
	Password string `json:"password"`
}

func (s *Server) createInvite(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req CreateInviteRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if p.Role != auth.RoleAdmin {
		if req.Sponsor != "" && !strings.EqualFold(req.Sponsor, p.Name) {
			return &Error{Status: http.StatusForbidden, Code: CodeForbidden, Message: "approvers invite contractors they sponsor themselves; leave sponsor empty"}
		}
		req.Sponsor = p.Name
	}
	valid := time.Duration(0)
	if req.Valid != "" {
		d, err := parseFor(req.Valid)
		if err != nil {
			return err
		}
		valid = d
	}
	c, err := s.invites.Create(r.Context(), invite.CreateRequest{Directory: req.Directory, Sponsor: req.Sponsor, Until: req.Until, Groups: req.Groups,
		Valid: valid, Note: req.Note, Actor: p.Name})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, CreatedInvite{Invite: s.inviteJSON(c.Invite), Token: c.Token, Path: "/ui/invite/" + c.Token})
	return nil
}

// mayManage: admins and auditors see every invite; approvers their own.
func mayManage(p auth.Principal, v store.Invite) bool {
	return auth.SeesAll(p.Role) || strings.EqualFold(v.Sponsor, p.Name)
}

func (s *Server) listInvites(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	sponsor := r.URL.Query().Get("sponsor")
	if !auth.SeesAll(p.Role) {
		sponsor = p.Name
	}
	vs, err := s.invites.List(r.Context(), sponsor)
	if err != nil {
		return err
	}
	out := []Invite{}
	for _, v := range vs {
		out = append(out, s.inviteJSON(v))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) revokeInvite(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req RevokeRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	v, err := s.invites.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if !mayManage(p, v) {
		return &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: "no such invite of yours"}
	}
	if strings.TrimSpace(req.Reason) == "" {
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: "a reason is required"}
	}
	v, err = s.invites.Revoke(r.Context(), v.ID, p.Name, req.Reason)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.inviteJSON(v))
	return nil
}

func (s *Server) onboardingJSON(v invite.View) Onboarding {
	out := Onboarding{Sponsor: v.Invite.Sponsor, Directory: v.Invite.Directory, MaxUntil: v.Invite.MaxUntil, Groups: v.Invite.Groups,
		Note: v.Invite.Note, State: v.State, ExpiresAt: v.Invite.ExpiresAt}
	if q := v.Request; q != nil {
		out.Request = &OnboardingRequest{ID: q.ID, State: string(q.State), Login: q.Requester, Steps: len(q.Steps), Done: q.Step}
		if q.State == store.RequestFailed || q.State == store.RequestDenied {
			out.Request.Detail = q.Detail
		}
	}
	return out
}

// The onboarding routes take no sign-in: the link's token is the right to
// use it, and its errors never say whether an invite id exists.

func (s *Server) showOnboarding(w http.ResponseWriter, r *http.Request) {
	v, err := s.invites.Show(r.Context(), r.PathValue("token"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.onboardingJSON(v))
}

func (s *Server) submitOnboarding(w http.ResponseWriter, r *http.Request) {
	var req SubmitOnboardingRequest
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := decode(r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	token := r.PathValue("token")
	_, err := s.invites.Submit(r.Context(), token, invite.Submission{GivenName: req.GivenName, Surname: req.Surname, Email: req.Email,
		Company: req.Company, Until: req.Until, Groups: req.Groups, Reason: req.Reason})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v, err := s.invites.Show(r.Context(), token)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, s.onboardingJSON(v))
}

func (s *Server) onboardingPassword(w http.ResponseWriter, r *http.Request) {
	login, pw, err := s.invites.Password(r.Context(), r.PathValue("token"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, InitialPassword{Login: login, Password: pw})
}

// redactToken keeps an invite's link out of the idempotency record: a
// replay shows the invite, never the link again.
func redactToken(body []byte) []byte {
	var c CreatedInvite
	if json.Unmarshal(body, &c) != nil {
		return nil
	}
	c.Token, c.Path = "", ""
	b, _ := json.Marshal(c)
	return b
}
