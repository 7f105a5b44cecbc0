package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/jitd/jitd/core/audit"
	"github.com/jitd/jitd/core/auth"
	"github.com/jitd/jitd/core/store"
	"github.com/jitd/jitd/core/web"
)

// authenticate finds the caller: an API token (jitd_...) or, with OIDC, an
// ID token as the bearer or a browser session cookie. A cookie never
// authorises a cross-site write: unsafe methods must come from this origin.
func (s *Server) authenticate(r *http.Request) (p auth.Principal, err error) {
	defer func() {
		if err == nil {
			authenticated(r)
		}
	}()
	now := s.clock.Now()
	if bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		bearer = strings.TrimSpace(bearer)
		if strings.HasPrefix(bearer, "jitd_") || s.oidc == nil {
			p, err := auth.Authenticate(r.Context(), s.store, bearer, now)
			var gone *auth.PersonGoneError
			if errors.As(err, &gone) {
				s.auditGone(r.Context(), gone, now)
				return auth.Principal{}, err
			}
			if errors.Is(err, auth.ErrUnauthenticated) {
				return p, fmt.Errorf("%w: invalid API token", auth.ErrUnauthenticated)
			}
			return p, err
		}
		return s.oidc.Authenticate(r.Context(), bearer)
	}
	if c, err := r.Cookie(auth.SessionCookie); err == nil && s.sessions != nil {
		if r.Method != http.MethodGet && r.Method != http.MethodHead && !web.SameOrigin(r) {
			return auth.Principal{}, &Error{Status: http.StatusForbidden, Code: CodeForbidden, Message: "a browser session cannot write from another site (Origin does not match)"}
		}
		return s.sessions.Session(r.Context(), c.Value)
	}
	msg := "an API token is required: Authorization: Bearer <token> (set JITD_TOKEN for the CLI)"
	if s.sessions != nil {
		msg = "sign in: Authorization: Bearer <API token or ID token>, or a browser session (sign in at /ui/signin)"
	}
	return auth.Principal{}, fmt.Errorf("%w: %s", auth.ErrUnauthenticated, msg)
}

// auditGone records, once per token and run, that a person's token was
// refused because the directory disabled or removed them.
func (s *Server) auditGone(ctx context.Context, gone *auth.PersonGoneError, now time.Time) {
	if _, seen := s.goneAudited.LoadOrStore(gone.TokenID, true); seen {
		return
	}
	_, err := store.Append(context.WithoutCancel(ctx), s.store, audit.Event{Time: now, Actor: gone.Login, Action: audit.AuthRefused, User: gone.Login,
		Detail: fmt.Sprintf("token %s refused: %s %s", gone.TokenID, gone.Login, gone.Why)})
	if err != nil {
		s.log.Error("audit a refused token", "token_id", gone.TokenID, "user", gone.Login, "err", err)
	}
}
