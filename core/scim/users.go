package scim

import (
	"context"
	"encoding/json"
	stderrors "errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/elimity-com/scim/errors"

	"github.com/jitd/jitd/connectors"
	"github.com/jitd/jitd/core/store"
)

func (s *Server) create(w http.ResponseWriter, r *http.Request, kind connectors.EntryKind) error {
	if kind == connectors.GroupEntry {
		return s.createGroup(w, r)
	}
	doc, err := readResource(r, userSchema)
	if err != nil {
		return err
	}
	login, _ := doc["userName"].(string)
	if s.isProtected(kind, login) {
		return s.refuse(r.Context(), kind, login, "create it")
	}
	if err := s.unique(r.Context(), kind, login, ""); err != nil {
		return err
	}
	enabled := true
	if a, ok := doc["active"].(bool); ok {
		enabled = a
	}
	password, _ := doc["password"].(string)
	attrs, kept := s.mapping.split(doc)
	maps.DeleteFunc(attrs, func(_ string, v []string) bool { return len(v) == 0 })
	keptJSON, err := encodeKept(kept)
	if err != nil {
		return err
	}
	e, err := s.prov.CreateEntry(r.Context(), connectors.EntrySpec{Kind: kind, Name: login, Enabled: enabled, Password: password, Attrs: attrs})
	if err != nil {
		return err
	}
	s.order.forget(kind)
	ext, _ := doc["externalId"].(string)
	res := store.SCIMResource{Directory: s.dir, Kind: kind.String(), ID: e.ID, ExternalID: ext, Attrs: keptJSON}
	var also []func(store.Tx) error
	if ext != "" || keptJSON != "" {
		also = append(also, func(tx store.Tx) error { return tx.SetSCIMResource(res) })
	}
	if err := s.audit(r.Context(), UserCreated, login, "", fmt.Sprintf("created %s (id %s, active %v) with %s", login, e.ID, enabled, attrNames(attrs, kept, password != "")), also...); err != nil {
		return err
	}
	// The connector read the entry back after creating it: the answer is
	// what the directory holds, with what jitd keeps.
	out, err := s.toDoc(r, e, res)
	if err != nil {
		return err
	}
	if err := s.complete(r, []map[string]any{out}, false); err != nil {
		return err
	}
	s.respond(w, r, http.StatusCreated, out)
	return nil
}

// unique refuses a name another entry already has (409 uniqueness), so a
// client retrying a create learns the user exists. It asks the whole
// directory, not only the provisioning area: a second "alice" elsewhere
// would make the name ambiguous for every lookup jitd makes.
func (s *Server) unique(ctx context.Context, kind connectors.EntryKind, name, self string) error {
	var clash string
	var err error
	switch {
	case s.resolver != nil && kind == connectors.UserEntry:
		var u connectors.User
		u, err = s.resolver.LookupUser(ctx, name)
		clash = u.ID
	case s.resolver != nil:
		var g connectors.Group
		g, err = s.resolver.LookupGroup(ctx, name)
		clash = g.ID
	default:
		err = s.prov.ReadEntries(ctx, connectors.EntryQuery{Kind: kind, Name: name}, func(e connectors.Entry) error {
			if e.ID != self {
				clash = e.ID
			}
			return nil
		})
	}
	switch {
	case stderrors.Is(err, connectors.ErrNotFound):
		return nil
	case stderrors.Is(err, connectors.ErrInvalid): // already more than one
		return scimErr(errors.ScimErrorUniqueness, "more than one %s is named %q in the directory", kind, name)
	case err != nil:
		return err
	case clash != "" && clash != self:
		return scimErr(errors.ScimErrorUniqueness, "a %s named %q exists (id %s)", kind, name, clash)
	}
	return nil
}

// keep records what jitd keeps of a resource.
func (s *Server) keep(ctx context.Context, res store.SCIMResource) error {
	return s.store.Update(ctx, func(tx store.Tx) error { return tx.SetSCIMResource(res) })
}

// maxKept bounds what jitd keeps of one resource.
const maxKept = 64 << 10

// encodeKept is the stored form of the attributes jitd keeps.
func encodeKept(kept map[string]any) (string, error) {
	if len(kept) == 0 {
		return "", nil
	}
	b, err := json.Marshal(kept)
	if err != nil {
		return "", err
	}
	if len(b) > maxKept {
		return "", scimErr(errInvalidValue, "the attributes jitd keeps for a user (those the directory does not hold) take %d bytes; at most %d are kept", len(b), maxKept)
	}
	return string(b), nil
}

// decodeKept reads the attributes jitd keeps of a resource.
func decodeKept(res store.SCIMResource) (map[string]any, error) {
	kept := map[string]any{}
	if res.Attrs == "" {
		return kept, nil
	}
	d := json.NewDecoder(strings.NewReader(res.Attrs))
	d.UseNumber()
	if err := d.Decode(&kept); err != nil {
		return nil, fmt.Errorf("scim: what jitd keeps of %s %s is unreadable: %w", res.Kind, res.ID, err)
	}
	return kept, nil
}

// attrNames describes what a write set, naming attributes but no values.
func attrNames(attrs map[string][]string, kept map[string]any, password bool) string {
	names := slices.Sorted(maps.Keys(attrs))
	for _, k := range slices.Sorted(maps.Keys(kept)) {
		names = append(names, "scim "+k)
	}
	if password {
		names = append(names, "password")
	}
	if len(names) == 0 {
		return "no attributes"
	}
	return strings.Join(names, ", ")
}

// current reads a resource as a client would GET it (a group's members
// only when asked for), with what jitd keeps of it.
func (s *Server) current(r *http.Request, kind connectors.EntryKind, id string, withMembers bool) (connectors.Entry, map[string]any, error) {
	e, err := s.read(r.Context(), kind, id)
	if err != nil {
		return e, nil, err
	}
	res, err := s.store.SCIMResources(r.Context(), s.dir, kind.String(), []string{id})
	if err != nil {
		return e, nil, err
	}
	doc, err := s.toDoc(r, e, res[id])
	if err != nil {
		return e, nil, err
	}
	return e, doc, s.complete(r, []map[string]any{doc}, withMembers)
}

func (s *Server) replace(w http.ResponseWriter, r *http.Request, kind connectors.EntryKind, id string) error {
	if kind == connectors.GroupEntry {
		return s.replaceGroup(w, r, id)
	}
	doc, err := readResource(r, userSchema)
	if err != nil {
		return err
	}
	e, old, err := s.current(r, kind, id, false)
	if err != nil {
		return err
	}
	if _, ok := doc["active"]; !ok { // PUT without active keeps it
		doc["active"] = e.Enabled
	}
	return s.updateUser(w, r, e, old, doc)
}

func (s *Server) patch(w http.ResponseWriter, r *http.Request, kind connectors.EntryKind, id string) error {
	var req patchRequest
	if err := readJSON(r, &req); err != nil {
		return err
	}
	if !slices.ContainsFunc(req.Schemas, func(x string) bool { return strings.EqualFold(x, patchSchema) }) {
		return scimErr(errInvalidValue, "schemas must hold %s", patchSchema)
	}
	if len(req.Operations) == 0 {
		return scimErr(errInvalidValue, "Operations is empty")
	}
	if kind == connectors.GroupEntry {
		return s.patchGroup(w, r, id, req.Operations)
	}
	e, old, err := s.current(r, kind, id, false)
	if err != nil {
		return err
	}
	doc := deepCopy(old)
	for _, op := range req.Operations {
		if err := applyPatch(doc, op, userSchema); err != nil {
			return err
		}
	}
	delete(doc, "meta")
	delete(doc, "id")
	if _, _, ok := lookup(doc, "active"); !ok {
		doc["active"] = false // unassigned is not active (RFC 7643 §4.1.1)
	}
	valid, err := userSchema.validate(doc)
	if err != nil {
		return err
	}
	return s.updateUser(w, r, e, old, valid)
}

// updateUser writes the difference between a user's old and new resource:
// the directory's values through the mapping, the rest in jitd.
func (s *Server) updateUser(w http.ResponseWriter, r *http.Request, e connectors.Entry, old, doc map[string]any) error {
	ctx := r.Context()
	var change connectors.EntryChange
	before, keptBefore := s.mapping.split(old)
	after, kept := s.mapping.split(doc)
	for a, v := range after {
		if !slices.Equal(before[a], v) {
			if change.Attrs == nil {
				change.Attrs = map[string][]string{}
			}
			change.Attrs[a] = v
		}
	}
	login, _ := doc["userName"].(string)
	if login != "" && login != e.Name {
		for _, name := range []string{e.Name, login} {
			if s.isProtected(connectors.UserEntry, name) {
				return s.refuse(ctx, connectors.UserEntry, name, "rename "+e.Name+" to "+login)
			}
		}
		if err := s.unique(ctx, connectors.UserEntry, login, e.ID); err != nil {
			return err
		}
		change.Name = login
	}
	if a, ok := doc["active"].(bool); ok && a != e.Enabled {
		change.Enabled = &a
	}
	change.Password, _ = doc["password"].(string)
	keptJSON, err := encodeKept(kept)
	if err != nil {
		return err
	}
	// What jitd keeps, before and after, as the resource shows it: old was
	// read with it a moment ago.
	was := store.SCIMResource{Directory: s.dir, Kind: connectors.UserEntry.String(), ID: e.ID}
	was.ExternalID, _ = old["externalId"].(string)
	if was.Attrs, err = encodeKept(keptBefore); err != nil {
		return err
	}
	now := was
	now.Attrs = keptJSON
	now.ExternalID, _ = doc["externalId"].(string)
	var what []string
	if change.Attrs != nil || change.Password != "" {
		what = append(what, "set "+attrNames(change.Attrs, nil, change.Password != ""))
	}
	if change.Name != "" {
		what = append(what, "renamed to "+change.Name)
	}
	if change.Enabled != nil {
		what = append(what, fmt.Sprintf("active %v", *change.Enabled))
	}
	if len(what) > 0 {
		if err := s.prov.ModifyEntry(ctx, connectors.UserEntry, e.ID, change); err != nil {
			return err
		}
	}
	if now.ExternalID != was.ExternalID {
		what = append(what, "externalId")
	}
	if now.Attrs != was.Attrs {
		what = append(what, "attributes jitd keeps")
	}
	if now != was {
		if err := s.keep(ctx, now); err != nil {
			return err
		}
	}
	if len(what) > 0 {
		if err := s.audit(ctx, UserUpdated, e.Name, "", fmt.Sprintf("%s (id %s): %s", e.Name, e.ID, strings.Join(what, "; "))); err != nil {
			return err
		}
	}
	_, out, err := s.current(r, connectors.UserEntry, e.ID, false)
	if err != nil {
		return err
	}
	s.respond(w, r, http.StatusOK, out)
	return nil
}

func (s *Server) delete(w http.ResponseWriter, r *http.Request, kind connectors.EntryKind, id string) error {
	e, err := s.read(r.Context(), kind, id)
	if err != nil {
		return err
	}
	if s.isProtected(kind, e.Name) {
		return s.refuse(r.Context(), kind, e.Name, "delete it")
	}
	if err := s.prov.DeleteEntry(r.Context(), kind, id); err != nil {
		return err
	}
	s.order.forget(kind)
	if err := s.keep(r.Context(), store.SCIMResource{Directory: s.dir, Kind: kind.String(), ID: id}); err != nil {
		return err
	}
	action, user, group := UserDeleted, e.Name, ""
	if kind == connectors.GroupEntry {
		action, user, group = GroupDeleted, "", e.Name
	}
	if err := s.audit(r.Context(), action, user, group, fmt.Sprintf("deleted %s (id %s)", e.Name, id)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// deepCopy copies a JSON value.
func deepCopy(doc map[string]any) map[string]any {
	out := make(map[string]any, len(doc))
	for k, v := range doc {
		out[k] = copyValue(v)
	}
	return out
}

func copyValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		return deepCopy(v)
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = copyValue(x)
		}
		return out
	case []string:
		return slices.Clone(v)
	}
	return v
}
