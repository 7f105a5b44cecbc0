package scim

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/elimity-com/scim/errors"
	filter "github.com/scim2/filter-parser/v2"

	"github.com/jitd/jitd/connectors"
	"github.com/jitd/jitd/core/store"
)

// listQuery is a listing's parameters, from the URL or a .search body.
type listQuery struct {
	filter     filter.Expression
	startIndex int
	count      int
	attributes []string
	excluded   []string
}

func splitList(s string) []string {
	var out []string
	for _, a := range strings.Split(s, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

func (s *Server) queryFromURL(v url.Values) (listQuery, error) {
	q := listQuery{startIndex: 1, count: s.cfg.MaxResults, attributes: splitList(v.Get("attributes")), excluded: splitList(v.Get("excludedAttributes"))}
	for name, dst := range map[string]*int{"startIndex": &q.startIndex, "count": &q.count} {
		if raw := v.Get(name); raw != "" {
			n, err := strconv.Atoi(raw)
			if err != nil {
				return q, scimErr(errInvalidValue, "%s must be an integer (got %q)", name, raw)
			}
			*dst = n
		}
	}
	if f := v.Get("filter"); strings.TrimSpace(f) != "" {
		e, err := parseFilter(f)
		if err != nil {
			return q, scimErr(errors.ScimErrorInvalidFilter, "%v", err)
		}
		q.filter = e
	}
	q.startIndex = max(q.startIndex, 1)
	q.count = min(max(q.count, 0), s.cfg.MaxResults)
	return q, nil
}

// search serves POST .search: the query in the body (RFC 7644 §3.4.3).
// With no kind (the root), users and groups are searched together.
func (s *Server) search(w http.ResponseWriter, r *http.Request, kind connectors.EntryKind) {
	var body struct {
		Filter             string   `json:"filter"`
		StartIndex         int      `json:"startIndex"`
		Count              *int     `json:"count"`
		Attributes         []string `json:"attributes"`
		ExcludedAttributes []string `json:"excludedAttributes"`
	}
	if err := readJSON(r, &body); err != nil {
		s.fail(w, r, err)
		return
	}
	v := url.Values{"filter": {body.Filter}, "attributes": {strings.Join(body.Attributes, ",")}, "excludedAttributes": {strings.Join(body.ExcludedAttributes, ",")}}
	if body.StartIndex > 0 {
		v.Set("startIndex", strconv.Itoa(body.StartIndex))
	}
	if body.Count != nil {
		v.Set("count", strconv.Itoa(*body.Count))
	}
	q, err := s.queryFromURL(v)
	if err == nil {
		err = s.list(w, r, kind, q)
	}
	if err != nil {
		s.fail(w, r, err)
	}
}

// list answers a query: candidates from the directory (narrowed by the
// filter's equality terms where it can), the whole filter applied here,
// then the page.
func (s *Server) list(w http.ResponseWriter, r *http.Request, kind connectors.EntryKind, q listQuery) error {
	kinds := []connectors.EntryKind{kind}
	if kind == 0 {
		kinds = []connectors.EntryKind{connectors.UserEntry, connectors.GroupEntry}
	}
	if q.filter == nil {
		return s.listPage(w, r, kinds, q)
	}
	// Members are read for the page only, unless the filter asks about them.
	filterOnMembers := q.filter != nil && strings.Contains(strings.ToLower(fmt.Sprint(q.filter)), "members")
	var docs []map[string]any
	for _, k := range kinds {
		entries, err := s.candidates(r.Context(), k, q.filter)
		if err != nil {
			return err
		}
		all, err := s.docs(r, k, entries)
		if err != nil {
			return err
		}
		if k == connectors.GroupEntry && filterOnMembers {
			if err := s.complete(r, all, true); err != nil {
				return err
			}
		}
		for _, doc := range all {
			if q.filter == nil || matches(q.filter, doc) {
				docs = append(docs, doc)
			}
		}
	}
	start := min(q.startIndex-1, len(docs))
	end := min(start+q.count, len(docs))
	page := docs[start:end]
	if err := s.complete(r, page, !filterOnMembers && wanted("members", q)); err != nil {
		return err
	}
	s.writeList(w, q, page, len(docs))
	return nil
}

// listPage answers a query without a filter reading only its page: the
// ids of every entry first (their count, and the order of the pages: by
// id, users before groups; remembered for orderTTL), then the page's
// entries by id. An identity provider's import pages through a large
// directory without each page reading all of it.
func (s *Server) listPage(w http.ResponseWriter, r *http.Request, kinds []connectors.EntryKind, q listQuery) error {
	type ref struct {
		kind connectors.EntryKind
		id   string
	}
	var all []ref
	for _, k := range kinds {
		ids, err := s.order.ids(r.Context(), s, k)
		if err != nil {
			return err
		}
		for _, id := range ids {
			all = append(all, ref{k, id})
		}
	}
	start := min(q.startIndex-1, len(all))
	window := all[start:min(start+q.count, len(all))]
	var page []map[string]any
	for _, k := range kinds {
		var ids []string
		for _, rf := range window {
			if rf.kind == k {
				ids = append(ids, rf.id)
			}
		}
		var entries []connectors.Entry
		for chunk := range slices.Chunk(ids, connectors.MaxQueryIDs) {
			err := s.prov.ReadEntries(r.Context(), connectors.EntryQuery{Kind: k, IDs: chunk, Attrs: s.readAttrs(k)}, func(e connectors.Entry) error {
				entries = append(entries, e)
				return nil
			})
			if err != nil {
				return err
			}
		}
		// An entry deleted between the two reads leaves the page a
		// resource short.
		docs, err := s.docs(r, k, entries)
		if err != nil {
			return err
		}
		page = append(page, docs...)
	}
	if err := s.complete(r, page, wanted("members", q)); err != nil {
		return err
	}
	s.writeList(w, q, page, len(all))
	return nil
}

// docs renders entries of one kind as resources, in id order.
func (s *Server) docs(r *http.Request, kind connectors.EntryKind, entries []connectors.Entry) ([]map[string]any, error) {
	slices.SortFunc(entries, func(a, b connectors.Entry) int { return strings.Compare(a.ID, b.ID) })
	res, err := s.resources(r.Context(), kind, entries)
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, 0, len(entries))
	for _, e := range entries {
		doc, err := s.toDoc(r, e, res[e.ID])
		if err != nil {
			return nil, err
		}
		out = append(out, doc)
	}
	return out, nil
}

// writeList answers a query with its page of resources, projected.
func (s *Server) writeList(w http.ResponseWriter, q listQuery, page []map[string]any, total int) {
	out := make([]map[string]any, 0, len(page))
	for _, d := range page {
		out = append(out, project(d, q))
	}
	s.write(w, http.StatusOK, map[string]any{"schemas": []string{listSchema}, "totalResults": total, "startIndex": q.startIndex, "itemsPerPage": len(out), "Resources": out})
}

// orderTTL is how long the ids of the provisioning area are remembered
// for listings. jitd's own creates and deletes forget them at once;
// entries made or deleted in the directory itself show in unfiltered
// listings within this time (a filter reads the directory).
const orderTTL = 30 * time.Second

// listOrder remembers the sorted ids of each kind of entry.
type listOrder struct {
	mu   sync.Mutex
	read map[connectors.EntryKind]time.Time
	list map[connectors.EntryKind][]string
}

// ids returns the sorted ids of kind's entries, read again when older
// than orderTTL.
func (o *listOrder) ids(ctx context.Context, s *Server, kind connectors.EntryKind) ([]string, error) {
	now := s.clock.Now()
	o.mu.Lock()
	if at, ok := o.read[kind]; ok && now.Sub(at) < orderTTL && !now.Before(at) {
		ids := o.list[kind]
		o.mu.Unlock()
		return ids, nil
	}
	o.mu.Unlock()
	var ids []string
	err := s.prov.ReadEntries(ctx, connectors.EntryQuery{Kind: kind, IDsOnly: true}, func(e connectors.Entry) error {
		ids = append(ids, e.ID)
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(ids)
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.read == nil {
		o.read, o.list = map[connectors.EntryKind]time.Time{}, map[connectors.EntryKind][]string{}
	}
	o.read[kind], o.list[kind] = now, ids
	return ids, nil
}

// forget drops what is remembered of kind: jitd created or deleted one.
func (o *listOrder) forget(kind connectors.EntryKind) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.read, kind)
}

// candidates reads the entries a filter can match: by id, externalId,
// name or a mapped attribute when the filter requires one, else all.
func (s *Server) candidates(ctx context.Context, kind connectors.EntryKind, f filter.Expression) ([]connectors.Entry, error) {
	attrs := s.readAttrs(kind)
	for _, t := range eqTerms(f) {
		v := t.CompareValue.(string)
		p := t.AttributePath
		container := ""
		if uri := p.URI(); uri != "" && !strings.EqualFold(uri, UserSchema) && !strings.EqualFold(uri, GroupSchema) {
			container = uri
		}
		name, sub := p.AttributeName, p.SubAttributeName()
		var queries []connectors.EntryQuery
		switch {
		case container == "" && sub == "" && strings.EqualFold(name, "id"):
			queries = []connectors.EntryQuery{{ID: v}}
		case container == "" && sub == "" && strings.EqualFold(name, "externalId"):
			ids, err := s.store.SCIMByExternalID(ctx, s.dir, kind.String(), v)
			if err != nil {
				return nil, err
			}
			if len(ids) == 0 {
				return nil, nil
			}
			for _, id := range ids {
				queries = append(queries, connectors.EntryQuery{ID: id})
			}
		case container == "" && sub == "" && kind == connectors.UserEntry && strings.EqualFold(name, "userName"),
			container == "" && sub == "" && kind == connectors.GroupEntry && strings.EqualFold(name, "displayName"):
			queries = []connectors.EntryQuery{{Name: v}}
		case kind == connectors.UserEntry:
			if a, ok := s.mapping.attrFor(container, name, sub); ok {
				queries = []connectors.EntryQuery{{Attr: a, Value: v}}
			}
		}
		if queries == nil {
			continue
		}
		var out []connectors.Entry
		for _, q := range queries {
			q.Kind, q.Attrs = kind, attrs
			if err := s.prov.ReadEntries(ctx, q, func(e connectors.Entry) error { out = append(out, e); return nil }); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	var out []connectors.Entry
	err := s.prov.ReadEntries(ctx, connectors.EntryQuery{Kind: kind, Attrs: attrs}, func(e connectors.Entry) error {
		out = append(out, e)
		return nil
	})
	return out, err
}

func (s *Server) readAttrs(kind connectors.EntryKind) []string {
	if kind == connectors.UserEntry {
		return s.mapping.directoryAttrs()
	}
	return nil
}

// resources reads what jitd keeps of entries.
func (s *Server) resources(ctx context.Context, kind connectors.EntryKind, entries []connectors.Entry) (map[string]store.SCIMResource, error) {
	ids := make([]string, len(entries))
	for i, e := range entries {
		ids[i] = e.ID
	}
	return s.store.SCIMResources(ctx, s.dir, kind.String(), ids)
}

// read returns one entry, or a 404.
func (s *Server) read(ctx context.Context, kind connectors.EntryKind, id string) (connectors.Entry, error) {
	var found []connectors.Entry
	err := s.prov.ReadEntries(ctx, connectors.EntryQuery{Kind: kind, ID: id, Attrs: s.readAttrs(kind)}, func(e connectors.Entry) error {
		found = append(found, e)
		return nil
	})
	if err != nil {
		return connectors.Entry{}, err
	}
	if len(found) != 1 {
		return connectors.Entry{}, scimErr(errNotFound, "no %s %s", kind, id)
	}
	return found[0], nil
}

// toDoc renders an entry as a SCIM resource, with what jitd keeps of it;
// the references to other resources are completed by complete.
func (s *Server) toDoc(r *http.Request, e connectors.Entry, res store.SCIMResource) (map[string]any, error) {
	meta := map[string]any{"resourceType": "User", "location": s.location(r, e.Kind, e.ID)}
	if !e.Created.IsZero() {
		meta["created"] = e.Created.UTC().Format(time.RFC3339)
	}
	if !e.Modified.IsZero() {
		meta["lastModified"] = e.Modified.UTC().Format(time.RFC3339)
	}
	doc := map[string]any{"id": e.ID, "meta": meta}
	if res.ExternalID != "" {
		doc["externalId"] = res.ExternalID
	}
	if e.Kind == connectors.GroupEntry {
		meta["resourceType"] = "Group"
		doc["schemas"] = []string{GroupSchema}
		doc["displayName"] = e.Name
		return doc, nil
	}
	doc["userName"] = e.Name
	doc["active"] = e.Enabled
	kept, err := decodeKept(res)
	if err != nil {
		return nil, err
	}
	s.mapping.join(doc, kept, e.Attrs)
	doc["schemas"] = []string{UserSchema}
	if _, ext, ok := lookup(doc, EnterpriseSchema); ok {
		doc["schemas"] = []string{UserSchema, EnterpriseSchema}
		if m, _ := ext.(map[string]any); m != nil {
			if _, mgr, _ := lookup(m, "manager"); mgr != nil {
				if mm, _ := mgr.(map[string]any); mm != nil && mm["value"] != nil {
					mm["$ref"] = s.location(r, connectors.UserEntry, fmt.Sprint(mm["value"]))
				}
			}
		}
	}
	return doc, nil
}

// complete fills in what a resource says of others: a manager's
// displayName and, when asked, a group's members with their display names.
func (s *Server) complete(r *http.Request, docs []map[string]any, withMembers bool) error {
	n := s.names(r.Context())
	var managers []map[string]any
	var groups []map[string]any
	for _, doc := range docs {
		if meta, _ := doc["meta"].(map[string]any); meta["resourceType"] == "Group" {
			if withMembers {
				groups = append(groups, doc)
			}
			continue
		}
		_, ext, _ := lookup(doc, EnterpriseSchema)
		m, _ := ext.(map[string]any)
		_, mgr, _ := lookup(m, "manager")
		if mm, _ := mgr.(map[string]any); mm != nil && mm["value"] != nil {
			managers = append(managers, mm)
		}
	}
	var ids []string
	for _, m := range managers {
		ids = append(ids, fmt.Sprint(m["value"]))
	}
	for _, g := range groups {
		members, err := s.currentMembers(r.Context(), g["id"].(string))
		if err != nil {
			return err
		}
		list := make([]any, 0, len(members))
		for _, uid := range members {
			list = append(list, map[string]any{"value": uid, "type": "User", "$ref": s.location(r, connectors.UserEntry, uid)})
			ids = append(ids, uid)
		}
		g["members"] = list
	}
	if len(ids) == 0 {
		return nil
	}
	if err := n.load(ids); err != nil {
		return err
	}
	for _, m := range managers {
		if d := n.display(fmt.Sprint(m["value"])); d != "" {
			m["displayName"] = d
		}
	}
	for _, g := range groups {
		for _, el := range g["members"].([]any) {
			m := el.(map[string]any)
			if d := n.display(m["value"].(string)); d != "" {
				m["display"] = d
			}
		}
	}
	return nil
}

// names reads users of the provisioning area by id, for the names that
// references carry and the check that members are SCIM's own users: one
// search per MaxQueryIDs ids.
type names struct {
	s     *Server
	ctx   context.Context
	known map[string]connectors.Entry
}

func (s *Server) names(ctx context.Context) *names {
	return &names{s: s, ctx: ctx, known: map[string]connectors.Entry{}}
}

func (n *names) load(ids []string) error {
	var missing []string
	seen := map[string]bool{}
	for _, id := range ids {
		k := strings.ToLower(id)
		if _, ok := n.known[k]; !ok && !seen[k] {
			seen[k] = true
			missing = append(missing, id)
		}
	}
	keep := func(e connectors.Entry) error { n.known[strings.ToLower(e.ID)] = e; return nil }
	for chunk := range slices.Chunk(missing, connectors.MaxQueryIDs) {
		if err := n.s.prov.ReadEntries(n.ctx, connectors.EntryQuery{Kind: connectors.UserEntry, IDs: chunk, Attrs: n.s.displayAttrs()}, keep); err != nil {
			return err
		}
	}
	return nil
}

// has reports whether id is a user of the provisioning area (after load).
func (n *names) has(id string) bool {
	_, ok := n.known[strings.ToLower(id)]
	return ok
}

// display is a user's displayName, else its userName; "" for a user
// outside the provisioning area.
func (n *names) display(id string) string {
	e, ok := n.known[strings.ToLower(id)]
	if !ok {
		return ""
	}
	if a, ok := n.s.mapping.attrs["displayName"]; ok {
		if v := firstValue(e.Attrs, a); v != "" {
			return v
		}
	}
	return e.Name
}

func (s *Server) displayAttrs() []string {
	if a, ok := s.mapping.attrs["displayName"]; ok {
		return []string{a}
	}
	return nil
}

// wanted reports whether a listing returns an attribute (members are
// costly to read, so they are read only when asked for).
func wanted(attr string, q listQuery) bool {
	if len(q.attributes) > 0 {
		return slices.ContainsFunc(q.attributes, func(a string) bool { return topName(a) == strings.ToLower(attr) })
	}
	return !slices.ContainsFunc(q.excluded, func(a string) bool { return topName(a) == strings.ToLower(attr) })
}

// topName is the lower-case top-level attribute of a path, with any core
// schema URN removed ("urn:...:core:2.0:User:name.givenName" → "name");
// an extension attribute keeps its URN.
func topName(path string) string {
	p := strings.ToLower(path)
	for _, urn := range []string{UserSchema, GroupSchema} {
		p = strings.TrimPrefix(p, strings.ToLower(urn)+":")
	}
	if strings.HasPrefix(p, "urn:") {
		return p
	}
	name, _, _ := strings.Cut(p, ".")
	return name
}

// project applies attributes/excludedAttributes (RFC 7644 §3.9): id and
// schemas are always returned, password never is (it never enters a
// resource in the first place).
func project(doc map[string]any, q listQuery) map[string]any {
	if len(q.attributes) == 0 && len(q.excluded) == 0 {
		return doc
	}
	keep := func(key string, list []string) (bool, []string) {
		var subs []string
		hit := false
		for _, a := range list {
			la := strings.ToLower(a)
			for _, urn := range []string{UserSchema, GroupSchema} {
				la = strings.TrimPrefix(la, strings.ToLower(urn)+":")
			}
			lk := strings.ToLower(key)
			switch {
			case la == lk:
				hit = true
			case strings.HasPrefix(la, lk+".") || (strings.HasPrefix(lk, "urn:") && strings.HasPrefix(la, lk+":")):
				hit = true
				subs = append(subs, la[len(lk)+1:])
			}
		}
		return hit, subs
	}
	out := map[string]any{}
	for k, v := range doc {
		if k == "id" || k == "schemas" {
			out[k] = v
			continue
		}
		if len(q.attributes) > 0 {
			hit, subs := keep(k, q.attributes)
			if !hit {
				continue
			}
			if m, ok := v.(map[string]any); ok && len(subs) > 0 {
				part := map[string]any{}
				for sk, sv := range m {
					if slices.Contains(subs, strings.ToLower(sk)) {
						part[sk] = sv
					}
				}
				v = part
			}
			out[k] = v
			continue
		}
		hit, subs := keep(k, q.excluded)
		if hit && len(subs) == 0 {
			continue
		}
		if m, ok := v.(map[string]any); ok && len(subs) > 0 {
			part := map[string]any{}
			for sk, sv := range m {
				if !slices.Contains(subs, strings.ToLower(sk)) {
					part[sk] = sv
				}
			}
			v = part
		}
		out[k] = v
	}
	return out
}

// respond writes one resource, projected as the URL asks.
func (s *Server) respond(w http.ResponseWriter, r *http.Request, status int, doc map[string]any) {
	if status == http.StatusCreated {
		meta, _ := doc["meta"].(map[string]any)
		if loc, ok := meta["location"].(string); ok {
			w.Header().Set("Location", loc)
		}
	}
	s.write(w, status, project(doc, projection(r)))
}

// projection is what a request's attributes and excludedAttributes ask for.
func projection(r *http.Request) listQuery {
	return listQuery{attributes: splitList(r.URL.Query().Get("attributes")), excluded: splitList(r.URL.Query().Get("excludedAttributes"))}
}

func (s *Server) get(w http.ResponseWriter, r *http.Request, kind connectors.EntryKind, id string) error {
	_, doc, err := s.current(r, kind, id, kind == connectors.GroupEntry && wanted("members", projection(r)))
	if err != nil {
		return err
	}
	s.respond(w, r, http.StatusOK, doc)
	return nil
}
