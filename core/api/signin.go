package api

import (
	"errors"
	"net/http"

	"github.com/jitd/jitd/core/auth"
)

// Whoami is the caller as jitd sees them.
type Whoami struct {
	Name string `json:"name"`
	Role string `json:"role"`
	MFA  bool   `json:"mfa"`
	Via  string `json:"via"`
}

func (s *Server) whoami(w http.ResponseWriter, _ *http.Request, p auth.Principal) error {
	writeJSON(w, http.StatusOK, Whoami{Name: p.Name, Role: p.Role, MFA: p.MFA, Via: p.Via})
	return nil
}

func (s *Server) authCallback(w http.ResponseWriter, r *http.Request) {
	p, err := s.oidc.Callback(w, r)
	if err != nil {
		status, text := http.StatusUnauthorized, err.Error()
		if !errors.Is(err, auth.ErrUnauthenticated) {
			s.log.Error("auth: sign-in failed", "err", err)
			status, text = http.StatusBadGateway, "the identity provider cannot be reached; try again later"
		}
		s.renderAction(w, status, actionView{Title: "Not signed in", Text: text})
		return
	}
	mfa := "without"
	if p.MFA {
		mfa = "with"
	}
	s.renderAction(w, http.StatusOK, actionView{Title: "Signed in", Text: "You are " + p.Name + " (" + p.Role + "), signed in " + mfa + " multi-factor authentication."})
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(auth.SessionCookie); err == nil {
		if err := s.sessions.Logout(r.Context(), c.Value); err != nil {
			s.log.Error("auth: sign-out failed", "err", err)
			s.renderAction(w, http.StatusInternalServerError, actionView{Title: "Not signed out", Text: "jitd could not record the sign-out; try again."})
			return
		}
	}
	s.sessions.Clear(w)
	s.renderAction(w, http.StatusOK, actionView{Title: "Signed out"})
}
