package scim

import (
	"context"
	stderrors "errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/elimity-com/scim/errors"
	filter "github.com/scim2/filter-parser/v2"

	"github.com/jitd/jitd/connectors"
	"github.com/jitd/jitd/core/audit"
	"github.com/jitd/jitd/core/store"
)

// Groups. Members are changed with batched AddMembers/RemoveMembers calls,
// one per operation however many members it names, so a PATCH of
// thousands of members costs a few directory calls. Groups the
// configuration names are guarded: SCIM may not create, rename, delete
// them or change their members, and it adds only users of its own
// provisioning area to any group.

// refuse audits and answers a write to a group or user the configuration
// names.
func (s *Server) refuse(ctx context.Context, kind connectors.EntryKind, name, what string) error {
	detail := fmt.Sprintf("jitd's configuration names the group %s (for JIT access, a role, break-glass, approvals or separation of duties), so SCIM may not %s", name, what)
	user, group := "", name
	if kind == connectors.UserEntry {
		detail = fmt.Sprintf("jitd's configuration names the user %s (break-glass or approvals), so SCIM may not %s", name, what)
		user, group = name, ""
	}
	if err := s.audit(ctx, WriteRefused, user, group, detail); err != nil {
		return err
	}
	return scimErr(errForbidden, "%s; the directory's administrators manage it", detail)
}

// ProtectedInArea lists the groups the configuration names that lie inside
// the provisioning area. SCIM leaves them alone all the same; the daemon
// warns, since whoever set the area up likely did not mean them to be there.
func (s *Server) ProtectedInArea(ctx context.Context) ([]string, error) {
	var found []string
	for _, name := range (*s.protected.Load())[connectors.GroupEntry] {
		err := s.prov.ReadEntries(ctx, connectors.EntryQuery{Kind: connectors.GroupEntry, Name: name}, func(e connectors.Entry) error {
			found = append(found, e.Name)
			return nil
		})
		if err != nil {
			return found, err
		}
	}
	return found, nil
}

// inArea checks that every id is a user of the provisioning area: SCIM may
// make members of its own users only, never of the organisation's other
// people.
func (s *Server) inArea(ctx context.Context, ids []string) error {
	n := s.names(ctx)
	if err := n.load(ids); err != nil {
		return err
	}
	var outside []string
	for _, id := range ids {
		if !n.has(id) {
			outside = append(outside, id)
		}
	}
	if len(outside) > 0 {
		return scimErr(errInvalidValue, "no such users among those SCIM provisions: %s (SCIM adds only users it manages as members)", summarize(outside))
	}
	return nil
}

// memberIDs reads the values of a members list.
func memberIDs(v any) ([]string, error) {
	var ids []string
	for _, el := range asList(v) {
		id := elementValue(el)
		if id == "" {
			return nil, scimErr(errInvalidValue, "every member needs a value (the user's id)")
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// changeMembers adds or removes users in one batched call. Any user the
// directory refuses fails the request with their ids; those it accepted
// stay changed (adding and removing are idempotent, so a retry is safe).
func (s *Server) changeMembers(ctx context.Context, g connectors.Entry, add bool, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	if s.isProtected(connectors.GroupEntry, g.Name) {
		return s.refuse(ctx, connectors.GroupEntry, g.Name, "change its members")
	}
	if add {
		if err := s.inArea(ctx, ids); err != nil {
			return err
		}
	}
	call, verb := s.members.RemoveMembers, "removed"
	if add {
		call, verb = s.members.AddMembers, "added"
	}
	results, err := call(ctx, g.ID, ids)
	if err != nil {
		return err
	}
	var done, failed []string
	var firstErr error
	for _, res := range results {
		if res.Err != nil && !add && stderrors.Is(res.Err, connectors.ErrNotFound) {
			continue // a user who does not exist is not a member either
		}
		if res.Err != nil {
			failed = append(failed, res.UserID)
			if firstErr == nil {
				firstErr = res.Err
			}
			continue
		}
		done = append(done, res.UserID)
	}
	if len(done) > 0 {
		s.changed()
		err := s.store.Update(ctx, func(tx store.Tx) error {
			_, err := tx.AppendAudit(audit.Event{Time: s.clock.Now(), Actor: "scim:" + clientOf(ctx), Action: MembersChanged, Directory: s.dir, Group: g.Name,
				Detail: fmt.Sprintf("%s %d members of %s (id %s): %s", verb, len(done), g.Name, g.ID, summarize(done))})
			return err
		})
		if err != nil {
			return err
		}
	}
	if len(failed) > 0 {
		if stderrors.Is(firstErr, connectors.ErrNotFound) {
			return scimErr(errInvalidValue, "no such users: %s", summarize(failed))
		}
		return fmt.Errorf("scim: %d of %d members of %s not changed (%s): %w", len(failed), len(ids), g.Name, summarize(failed), firstErr)
	}
	return nil
}

// summarize lists ids, at most ten.
func summarize(ids []string) string {
	if len(ids) <= 10 {
		return strings.Join(ids, ", ")
	}
	return strings.Join(ids[:10], ", ") + fmt.Sprintf(" and %d more", len(ids)-10)
}

func (s *Server) createGroup(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	doc, err := readResource(r, groupSchema)
	if err != nil {
		return err
	}
	name, _ := doc["displayName"].(string)
	ids, err := memberIDs(doc["members"])
	if err != nil {
		return err
	}
	if s.isProtected(connectors.GroupEntry, name) {
		return s.refuse(ctx, connectors.GroupEntry, name, "create it")
	}
	if err := s.unique(ctx, connectors.GroupEntry, name, ""); err != nil {
		return err
	}
	g, err := s.prov.CreateEntry(ctx, connectors.EntrySpec{Kind: connectors.GroupEntry, Name: name})
	if err != nil {
		return err
	}
	s.order.forget(connectors.GroupEntry)
	if err := s.audit(ctx, GroupCreated, "", name, fmt.Sprintf("created %s (id %s)", name, g.ID)); err != nil {
		return err
	}
	if err := s.changeMembers(ctx, g, true, ids); err != nil {
		// A group whose members could not all be added is not what was
		// asked for: take it away again, so the client's retry starts clean.
		if derr := s.prov.DeleteEntry(ctx, connectors.GroupEntry, g.ID); derr == nil {
			s.audit(ctx, GroupDeleted, "", name, fmt.Sprintf("deleted %s (id %s) again: its members could not be added", name, g.ID))
		}
		return err
	}
	ext, _ := doc["externalId"].(string)
	if err := s.keep(ctx, store.SCIMResource{Directory: s.dir, Kind: connectors.GroupEntry.String(), ID: g.ID, ExternalID: ext}); err != nil {
		return err
	}
	_, out, err := s.current(r, connectors.GroupEntry, g.ID, true)
	if err != nil {
		return err
	}
	s.respond(w, r, http.StatusCreated, out)
	return nil
}

// currentMembers lists a group's members.
func (s *Server) currentMembers(ctx context.Context, id string) ([]string, error) {
	var ids []string
	err := s.lister.ListMembers(ctx, id, func(u string) error { ids = append(ids, u); return nil })
	return ids, err
}

// setMembers makes the members exactly ids.
func (s *Server) setMembers(ctx context.Context, g connectors.Entry, ids []string) error {
	have, err := s.currentMembers(ctx, g.ID)
	if err != nil {
		return err
	}
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	had := map[string]bool{}
	var remove []string
	for _, id := range have {
		had[id] = true
		if !want[id] {
			remove = append(remove, id)
		}
	}
	var add []string
	for _, id := range ids {
		if !had[id] {
			add = append(add, id)
			had[id] = true
		}
	}
	if err := s.changeMembers(ctx, g, false, remove); err != nil {
		return err
	}
	return s.changeMembers(ctx, g, true, add)
}

func (s *Server) rename(ctx context.Context, g *connectors.Entry, name string) error {
	if name == "" || name == g.Name {
		return nil
	}
	if s.isProtected(connectors.GroupEntry, g.Name) {
		return s.refuse(ctx, connectors.GroupEntry, g.Name, "rename it to "+name)
	}
	if s.isProtected(connectors.GroupEntry, name) {
		return s.refuse(ctx, connectors.GroupEntry, name, "rename "+g.Name+" to it")
	}
	if err := s.unique(ctx, connectors.GroupEntry, name, g.ID); err != nil {
		return err
	}
	if err := s.prov.ModifyEntry(ctx, connectors.GroupEntry, g.ID, connectors.EntryChange{Name: name}); err != nil {
		return err
	}
	if err := s.audit(ctx, GroupUpdated, "", name, fmt.Sprintf("renamed %s to %s (id %s)", g.Name, name, g.ID)); err != nil {
		return err
	}
	g.Name = name
	return nil
}

func (s *Server) replaceGroup(w http.ResponseWriter, r *http.Request, id string) error {
	ctx := r.Context()
	doc, err := readResource(r, groupSchema)
	if err != nil {
		return err
	}
	ids, err := memberIDs(doc["members"])
	if err != nil {
		return err
	}
	g, old, err := s.current(r, connectors.GroupEntry, id, false)
	if err != nil {
		return err
	}
	name, _ := doc["displayName"].(string)
	if err := s.rename(ctx, &g, name); err != nil {
		return err
	}
	if err := s.setMembers(ctx, g, ids); err != nil {
		return err
	}
	if ext, _ := doc["externalId"].(string); ext != old["externalId"] {
		if err := s.keep(ctx, store.SCIMResource{Directory: s.dir, Kind: connectors.GroupEntry.String(), ID: id, ExternalID: ext}); err != nil {
			return err
		}
	}
	_, out, err := s.current(r, connectors.GroupEntry, id, true)
	if err != nil {
		return err
	}
	s.respond(w, r, http.StatusOK, out)
	return nil
}

// patchGroup applies a group PATCH: members operations become batched
// membership changes, displayName a rename, externalId a record in jitd.
// Success is 204, as Okta and Entra expect.
func (s *Server) patchGroup(w http.ResponseWriter, r *http.Request, id string, ops []patchOp) error {
	ctx := r.Context()
	g, old, err := s.current(r, connectors.GroupEntry, id, false)
	if err != nil {
		return err
	}
	ext, _ := old["externalId"].(string)
	newExt := ext
	batch := &memberBatch{s: s, g: &g}
	for _, op := range ops {
		kind := strings.ToLower(op.Op)
		if kind != "add" && kind != "replace" && kind != "remove" {
			return scimErr(errors.ScimErrorInvalidSyntax, "op must be add, replace or remove (got %q)", op.Op)
		}
		if op.Path == "" {
			obj, ok := op.Value.(map[string]any)
			if !ok || kind == "remove" {
				return scimErr(errors.ScimErrorNoTarget, "an op without a path needs add or replace and an object value")
			}
			for k, v := range obj {
				if strings.EqualFold(k, "schemas") {
					continue
				}
				if strings.EqualFold(k, "id") { // Okta repeats the id when it renames
					if v != g.ID {
						return scimErr(errors.ScimErrorMutability, "id is read-only")
					}
					continue
				}
				if err := s.groupOp(ctx, batch, kind, k, v, &newExt); err != nil {
					return err
				}
			}
			continue
		}
		if err := s.groupOp(ctx, batch, kind, op.Path, op.Value, &newExt); err != nil {
			return err
		}
	}
	if err := batch.flush(ctx); err != nil {
		return err
	}
	if newExt != ext {
		if err := s.keep(ctx, store.SCIMResource{Directory: s.dir, Kind: connectors.GroupEntry.String(), ID: id, ExternalID: newExt}); err != nil {
			return err
		}
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// memberBatch gathers a PATCH's consecutive member changes of one
// direction, so that a thousand members[value eq "…"] removals are one
// directory call. Anything that reads the group or renames it flushes
// first, so it sees the changes before it.
type memberBatch struct {
	s   *Server
	g   *connectors.Entry
	add bool
	ids []string
}

func (b *memberBatch) change(ctx context.Context, add bool, ids []string) error {
	if len(b.ids) > 0 && b.add != add {
		if err := b.flush(ctx); err != nil {
			return err
		}
	}
	b.add = add
	b.ids = append(b.ids, ids...)
	return nil
}

func (b *memberBatch) flush(ctx context.Context) error {
	seen := map[string]bool{}
	var ids []string
	for _, id := range b.ids {
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	b.ids = nil
	return b.s.changeMembers(ctx, *b.g, b.add, ids)
}

func (s *Server) groupOp(ctx context.Context, batch *memberBatch, kind, path string, value any, ext *string) error {
	g := batch.g
	t, err := parsePath(path, nil)
	if err != nil {
		return err
	}
	switch {
	case strings.EqualFold(t.attr, "displayName") && t.where == nil && t.sub == "":
		name, ok := value.(string)
		if kind == "remove" || !ok || name == "" {
			return scimErr(errInvalidValue, "displayName must be a non-empty string")
		}
		if err := batch.flush(ctx); err != nil {
			return err
		}
		return s.rename(ctx, g, name)
	case strings.EqualFold(t.attr, "externalId") && t.where == nil && t.sub == "":
		v, _ := value.(string)
		if kind == "remove" {
			v = ""
		}
		*ext = v
		return nil
	case !strings.EqualFold(t.attr, "members"):
		return scimErr(errors.ScimErrorInvalidPath, "jitd's groups have displayName, externalId and members; %q is none of them", path)
	}
	if t.where != nil {
		if kind != "remove" || t.sub != "" {
			return scimErr(errors.ScimErrorInvalidPath, "a members filter is only for remove")
		}
		ids, err := s.filterMembers(ctx, batch, t.where)
		if err != nil {
			return err
		}
		return batch.change(ctx, false, ids)
	}
	if t.sub != "" {
		return scimErr(errors.ScimErrorInvalidPath, "members have no sub-attribute to change")
	}
	ids, err := memberIDs(value)
	if err != nil {
		return err
	}
	switch {
	case kind == "add":
		return batch.change(ctx, true, ids)
	case kind == "replace":
		if err := batch.flush(ctx); err != nil {
			return err
		}
		return s.setMembers(ctx, *g, ids)
	case value == nil: // remove every member
		if err := batch.flush(ctx); err != nil {
			return err
		}
		all, err := s.currentMembers(ctx, g.ID)
		if err != nil {
			return err
		}
		return batch.change(ctx, false, all)
	}
	return batch.change(ctx, false, ids)
}

// filterMembers returns the members that pass a value filter. The usual
// `value eq "id"` is answered without reading the group.
func (s *Server) filterMembers(ctx context.Context, batch *memberBatch, where filter.Expression) ([]string, error) {
	groupID := batch.g.ID
	if eq, ok := where.(*filter.AttributeExpression); ok && eq.Operator == filter.EQ && strings.EqualFold(eq.AttributePath.AttributeName, "value") && eq.AttributePath.SubAttribute == nil {
		if v, ok := eq.CompareValue.(string); ok {
			return []string{v}, nil
		}
	}
	if err := batch.flush(ctx); err != nil {
		return nil, err
	}
	all, err := s.currentMembers(ctx, groupID)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, id := range all {
		if matches(where, map[string]any{"value": id, "type": "User"}) {
			out = append(out, id)
		}
	}
	return out, nil
}
