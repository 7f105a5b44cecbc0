package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/jitd/jitd/core/auth"
	"github.com/jitd/jitd/core/store"
)

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	checks := map[string]string{}
	status := http.StatusOK
	for name, err := range s.ready(ctx) {
		checks[name] = "ok"
		if err != nil {
			checks[name] = err.Error()
			status = http.StatusServiceUnavailable
		}
	}
	writeJSON(w, status, map[string]any{"ready": status == http.StatusOK, "checks": checks})
}

func (s *Server) syncStatus(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	out := []SyncStatus{}
	for _, dir := range s.mirror.Directories() {
		st, err := s.store.SyncState(r.Context(), dir)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		c, err := s.store.MirrorCounts(r.Context(), dir)
		if err != nil {
			return err
		}
		out = append(out, SyncStatus{
			Directory: dir, LastFullAt: st.LastFullAt, LastIncrementalAt: st.LastIncrementalAt, CursorAt: st.CursorAt,
			Incremental: st.Cursor != "", FullSyncs: st.FullSyncs, IncrementalSyncs: st.IncrementalSyncs, CursorExpired: st.CursorExpired,
			Users: c.Users, Groups: c.Groups, Memberships: c.Members, LastError: st.LastError, LastErrorAt: st.LastErrorAt,
		})
		if p, ok := s.mirror.Progress(dir); ok {
			out[len(out)-1].Running = &SyncProgress{Full: p.Full, Phase: p.Phase, Objects: p.Objects, StartedAt: p.Started}
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) syncRun(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	noWriteDeadline(w) // a full sync of a large directory takes minutes
	var req SyncRunRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	dirs := s.mirror.Directories()
	if req.Directory != "" {
		if !slices.Contains(dirs, req.Directory) {
			return &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: fmt.Sprintf("unknown directory %q (configured: %s)", req.Directory, strings.Join(dirs, ", "))}
		}
		dirs = []string{req.Directory}
	}
	out := []SyncRunResult{}
	for _, dir := range dirs {
		res, err := s.mirror.Sync(r.Context(), dir, req.Full)
		one := SyncRunResult{Directory: dir, Full: res.Full, Reason: res.Reason, Changes: res.Changes, Removed: res.Removed, DurationMS: res.Duration.Milliseconds()}
		if err != nil {
			one.Error = err.Error()
		}
		out = append(out, one)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) listDrift(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	ds, err := s.store.Drift(r.Context(), r.URL.Query().Get("directory"))
	if err != nil {
		return err
	}
	out := []Drift{}
	for _, d := range ds {
		out = append(out, Drift{Directory: d.Directory, Group: d.GroupName, User: d.UserName, FirstSeen: d.FirstSeen, LastSeen: d.LastSeen})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) showBaseline(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	dir, name := r.URL.Query().Get("directory"), r.URL.Query().Get("group")
	if dir == "" || name == "" {
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: "directory and group are required"}
	}
	g, err := s.store.MirrorGroup(r.Context(), dir, name)
	if errors.Is(err, store.ErrNotFound) {
		return &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: fmt.Sprintf("no group %q in the mirror of %q (has it synced?)", name, dir)}
	}
	if err != nil {
		return err
	}
	ids, recorded, err := s.store.Baseline(r.Context(), dir, g.ID)
	if err != nil {
		return err
	}
	out := Baseline{Directory: dir, Group: name, Recorded: recorded, Members: []string{}}
	for _, id := range ids {
		login := id
		if u, err := s.store.MirrorUserByID(r.Context(), dir, id); err == nil {
			login = u.Login
		}
		out.Members = append(out.Members, login)
	}
	slices.Sort(out.Members)
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) acceptBaseline(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req AcceptRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	n, err := s.reconcile.Accept(r.Context(), req.Directory, req.Group, req.User, p.Name, req.Reason)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]int{"accepted": n})
	return nil
}

func (s *Server) revertDrift(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req AcceptRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	n, err := s.reconcile.Revert(r.Context(), req.Directory, req.Group, req.User, p.Name, req.Reason)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]int{"reverted": n})
	return nil
}
