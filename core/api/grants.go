package api

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/jitd/jitd/core/auth"
	"github.com/jitd/jitd/core/grant"
	"github.com/jitd/jitd/core/store"
)

func (s *Server) addGrant(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req AddGrantRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	d, err := parseFor(req.For)
	if err != nil {
		return err
	}
	g, err := s.grants.Add(r.Context(), grant.AddRequest{Directory: req.Directory, User: req.User, Group: req.Group,
		Duration: d, Until: req.Until, Reason: req.Reason, Actor: p.Name})
	if err != nil && errors.Is(err, grant.ErrDirectory) && g.ID != "" {
		// Recorded as apply_failed: say so, with the grant for reference.
		return &Error{Status: http.StatusBadGateway, Code: CodeDirectory, Message: fmt.Sprintf("grant %s recorded as apply_failed: %v", g.ID, strings.TrimPrefix(err.Error(), grant.ErrDirectory.Error()+": "))}
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, grantJSON(g))
	return nil
}

// listGrants lists grants; people who do not see everything see their own.
func (s *Server) listGrants(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	q := r.URL.Query()
	f := store.GrantFilter{Directory: q.Get("directory"), UserName: q.Get("user"), GroupName: q.Get("group"), Limit: 1000}
	if !auth.SeesAll(p.Role) {
		if f.UserName != "" && !strings.EqualFold(f.UserName, p.Name) {
			return &Error{Status: http.StatusForbidden, Code: CodeForbidden, Message: fmt.Sprintf("role %s may read only its own grants", p.Role)}
		}
		f.UserName = p.Name
	}
	for _, st := range q["state"] {
		for _, one := range strings.Split(st, ",") {
			if !store.State(one).Valid() {
				return &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: fmt.Sprintf("unknown state %q (one of %v)", one, store.States)}
			}
			f.States = append(f.States, store.State(one))
		}
	}
	var err error
	if f.Limit, f.Offset, err = page(q, 1000, 10000); err != nil {
		return err
	}
	gs, err := s.store.Grants(r.Context(), f)
	if err != nil {
		return err
	}
	out := GrantList{Grants: []Grant{}}
	for _, g := range gs {
		out.Grants = append(out.Grants, grantJSON(g))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) getGrant(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	g, err := s.store.Grant(r.Context(), r.PathValue("id"))
	if err == nil && !auth.SeesAll(p.Role) && !strings.EqualFold(g.UserName, p.Name) {
		err = store.ErrNotFound // someone else's grant is not there for them
	}
	if errors.Is(err, store.ErrNotFound) {
		return &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: fmt.Sprintf("no grant %q", r.PathValue("id"))}
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, grantJSON(g))
	return nil
}

// page reads a list's limit (1 to most; def when absent) and offset (0 or
// more) from the query.
func page(q url.Values, def, most int) (limit, offset int, err error) {
	limit = def
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > most {
			return 0, 0, &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: fmt.Sprintf("limit must be between 1 and %d", most)}
		}
		limit = n
	}
	if o := q.Get("offset"); o != "" {
		n, err := strconv.Atoi(o)
		if err != nil || n < 0 {
			return 0, 0, &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: "offset must be 0 or more"}
		}
		offset = n
	}
	return limit, offset, nil
}

// ManagedGroup is a JIT-managed group: what people may ask for.
type ManagedGroup struct {
	Directory   string `json:"directory"`
	Group       string `json:"group"`
	MaxDuration string `json:"max_duration,omitempty"`
}

// GroupList lists the JIT-managed groups.
type GroupList struct {
	Groups []ManagedGroup `json:"groups"`
}

func (s *Server) listGroups(w http.ResponseWriter, _ *http.Request, _ auth.Principal) error {
	out := GroupList{Groups: []ManagedGroup{}}
	for _, m := range s.grants.Managed() {
		g := ManagedGroup{Directory: m.Directory, Group: m.Group}
		if m.MaxDuration > 0 {
			g.MaxDuration = m.MaxDuration.String()
		}
		out.Groups = append(out.Groups, g)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) extendGrant(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req ExtendRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	d, err := parseFor(req.For)
	if err != nil {
		return err
	}
	if strings.TrimSpace(req.Reason) == "" {
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: "a reason is required to extend a grant"}
	}
	g, err := s.grants.Extend(r.Context(), r.PathValue("id"), d, req.Until, p.Name, req.Reason)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, grantJSON(g))
	return nil
}

func (s *Server) revokeGrant(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req RevokeRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if !auth.Allowed(p.Role, auth.GrantWrite) {
		// People end their own access early; nobody else's.
		g, err := s.store.Grant(r.Context(), r.PathValue("id"))
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if err != nil || !strings.EqualFold(g.UserName, p.Name) {
			return &Error{Status: http.StatusForbidden, Code: CodeForbidden, Message: "role " + p.Role + " may revoke only its own grants"}
		}
	}
	g, err := s.grants.Revoke(r.Context(), r.PathValue("id"), p.Name, req.Reason)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, grantJSON(g))
	return nil
}
