package portal

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jitd/jitd/core/api"
	"github.com/jitd/jitd/core/api/apiclient"
	"github.com/jitd/jitd/core/auth"
	"github.com/jitd/jitd/core/store"
)

// The pages of administrators and auditors: everything jitd holds, read
// through the API (so an auditor reads and never changes), long lists
// paged and filtered on the server.

// pageSize is how many rows a long list shows at once.
const pageSize = 50

// pager is where a paged list stands: its filters, and the links to the
// pages before and after.
type pager struct {
	Query      url.Values
	Prev, Next string
}

func (pg *pager) links(path string, offset, got int) {
	link := func(o int) string {
		q := url.Values{}
		for k, v := range pg.Query {
			q[k] = v
		}
		q.Del("offset")
		if o > 0 {
			q.Set("offset", strconv.Itoa(o))
		}
		return path + "?" + q.Encode()
	}
	if offset > 0 {
		pg.Prev = link(max(0, offset-pageSize))
	}
	if got > pageSize {
		pg.Next = link(offset + pageSize)
	}
}

// grantsData is a page of grants and its filters.
type grantsData struct {
	pager
	Grants   []api.Grant
	States   []string
	State    string
	CanWrite bool
}

// allStates are the grant states, for the filter.
var allStates = func() []string {
	var out []string
	for _, st := range store.States {
		out = append(out, string(st))
	}
	return out
}()

func (p *Portal) grantsPage(w http.ResponseWriter, r *http.Request, v viewer) {
	if !p.seesAll(w, r, v, "grants") {
		return
	}
	q := r.URL.Query()
	offset := max(0, atoi(q.Get("offset")))
	f := apiclient.GrantFilter{User: strings.TrimSpace(q.Get("user")), Group: strings.TrimSpace(q.Get("group")), Directory: strings.TrimSpace(q.Get("directory")),
		Limit: pageSize + 1, Offset: offset}
	state := q.Get("state")
	switch state {
	case "":
		f.States = live
	case "all":
	default:
		f.States = []string{state}
	}
	gs, err := v.c.ListGrants(r.Context(), f)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	d := grantsData{pager: pager{Query: q}, States: allStates, State: state, CanWrite: v.may(auth.GrantWrite)}
	d.links("/ui/grants", offset, len(gs))
	d.Grants = gs[:min(len(gs), pageSize)]
	p.render(w, r, http.StatusOK, "grants", view{Title: "Grants", Me: &v.Whoami, Nav: "grants", Data: d})
}

func (p *Portal) allRequestsPage(w http.ResponseWriter, r *http.Request, v viewer) {
	if !p.seesAll(w, r, v, "requests") {
		return
	}
	q := r.URL.Query()
	offset := max(0, atoi(q.Get("offset")))
	f := apiclient.RequestFilter{Limit: pageSize + 1, Offset: offset}
	if st := q.Get("state"); st != "" {
		f.States = []string{st}
	}
	rs, err := v.c.ListRequests(r.Context(), f)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	d := struct {
		pager
		Requests []api.Request
		State    string
	}{pager: pager{Query: q}, State: q.Get("state")}
	d.links("/ui/all-requests", offset, len(rs))
	d.Requests = rs[:min(len(rs), pageSize)]
	p.render(w, r, http.StatusOK, "all_requests", view{Title: "All requests", Me: &v.Whoami, Nav: "all-requests", Data: d})
}

func (p *Portal) driftPage(w http.ResponseWriter, r *http.Request, v viewer) {
	if !p.seesAll(w, r, v, "drift") {
		return
	}
	ds, err := v.c.Drift(r.Context(), "")
	if err != nil {
		p.fail(w, r, err)
		return
	}
	d := struct {
		Drift    []api.Drift
		Baseline *api.Baseline
		CanWrite bool
	}{Drift: ds, CanWrite: v.may(auth.SyncWrite)}
	if dir, group := r.URL.Query().Get("directory"), r.URL.Query().Get("group"); dir != "" && group != "" {
		b, err := v.c.Baseline(r.Context(), dir, group)
		if err != nil {
			p.fail(w, r, err)
			return
		}
		d.Baseline = &b
	}
	p.render(w, r, http.StatusOK, "drift", view{Title: "Drift and baseline", Me: &v.Whoami, Nav: "drift", Data: d})
}

func (p *Portal) driftDecide(w http.ResponseWriter, r *http.Request, v viewer) {
	req := api.AcceptRequest{Directory: r.PostFormValue("directory"), Group: r.PostFormValue("group"), User: r.PostFormValue("user"),
		Reason: strings.TrimSpace(r.PostFormValue("reason"))}
	var err error
	done := "drift-accepted"
	if r.PathValue("decision") == "revert" {
		_, err = v.c.RevertDrift(r.Context(), req)
		done = "drift-reverted"
	} else {
		_, err = v.c.AcceptBaseline(r.Context(), req)
	}
	if err != nil {
		p.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/ui/drift?done="+done, http.StatusSeeOther)
}

func (p *Portal) syncPage(w http.ResponseWriter, r *http.Request, v viewer) {
	if !p.seesAll(w, r, v, "sync") {
		return
	}
	st, err := v.c.SyncStatus(r.Context())
	if err != nil {
		p.fail(w, r, err)
		return
	}
	p.render(w, r, http.StatusOK, "sync", view{Title: "Directories", Me: &v.Whoami, Nav: "sync", Data: struct {
		Status   []api.SyncStatus
		CanWrite bool
	}{st, v.may(auth.SyncWrite)}})
}

func (p *Portal) syncRun(w http.ResponseWriter, r *http.Request, v viewer) {
	if _, err := v.c.SyncRun(r.Context(), api.SyncRunRequest{Directory: r.PostFormValue("directory")}); err != nil {
		p.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/ui/sync?done=synced", http.StatusSeeOther)
}

func (p *Portal) reviewsPage(w http.ResponseWriter, r *http.Request, v viewer) {
	if !v.may(auth.ReviewRead) {
		p.render(w, r, http.StatusForbidden, "message", view{Title: "Break-glass reviews", Me: &v.Whoami, Error: "role " + v.Role + " may not " + string(auth.ReviewRead)})
		return
	}
	state := r.URL.Query().Get("state")
	if state == "" {
		state = "open"
	}
	if state == "all" {
		state = ""
	}
	rs, err := v.c.Reviews(r.Context(), state)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	p.render(w, r, http.StatusOK, "reviews", view{Title: "Break-glass reviews", Me: &v.Whoami, Nav: "reviews", Data: struct {
		Reviews  []api.Review
		State    string
		CanClose bool
	}{rs, r.URL.Query().Get("state"), v.may(auth.ReviewClose)}})
}

func (p *Portal) reviewClose(w http.ResponseWriter, r *http.Request, v viewer) {
	if _, err := v.c.CloseReview(r.Context(), r.PathValue("id"), api.CloseReviewRequest{Outcome: r.PostFormValue("outcome"),
		Comment: strings.TrimSpace(r.PostFormValue("comment"))}); err != nil {
		p.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/ui/reviews?done=review-closed", http.StatusSeeOther)
}

func (p *Portal) tokensPage(w http.ResponseWriter, r *http.Request, v viewer) {
	ts, err := v.c.Tokens(r.Context())
	if err != nil {
		p.fail(w, r, err)
		return
	}
	p.render(w, r, http.StatusOK, "tokens", view{Title: "API tokens", Me: &v.Whoami, Nav: "tokens", Data: ts})
}

func (p *Portal) tokenRevoke(w http.ResponseWriter, r *http.Request, v viewer) {
	if err := v.c.RevokeToken(r.Context(), r.PathValue("id")); err != nil {
		p.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/ui/tokens?done=token-revoked", http.StatusSeeOther)
}

func (p *Portal) auditPage(w http.ResponseWriter, r *http.Request, v viewer) {
	q := r.URL.Query()
	before, _ := strconv.ParseInt(q.Get("before"), 10, 64)
	list, err := v.c.AuditPage(r.Context(), strings.TrimSpace(q.Get("grant")), pageSize+1, max(0, before))
	if err != nil {
		p.fail(w, r, err)
		return
	}
	d := struct {
		api.AuditList
		Grant  string
		Next   string
		Verify *api.VerifyResult
	}{Grant: q.Get("grant")}
	d.Events = list.Events[:min(len(list.Events), pageSize)]
	if len(list.Events) > pageSize {
		nq := url.Values{"before": {strconv.FormatInt(d.Events[len(d.Events)-1].Seq, 10)}}
		if d.Grant != "" {
			nq.Set("grant", d.Grant)
		}
		d.Next = "/ui/audit?" + nq.Encode()
	}
	if q.Get("verify") != "" {
		res, err := v.c.VerifyAudit(r.Context())
		if err != nil {
			p.fail(w, r, err)
			return
		}
		d.Verify = &res
	}
	p.render(w, r, http.StatusOK, "audit", view{Title: "Audit log", Me: &v.Whoami, Nav: "audit", Data: d})
}

// reportsPage offers the auditors' reports: forms whose answers come
// straight from the API (a GET with the session, in HTML, CSV or JSON).
func (p *Portal) reportsPage(w http.ResponseWriter, r *http.Request, v viewer) {
	if !p.seesAll(w, r, v, "reports") {
		return
	}
	groups, err := v.c.Groups(r.Context())
	if err != nil {
		p.fail(w, r, err)
		return
	}
	key, err := v.c.AuditKey(r.Context())
	if err != nil {
		key = "KEY"
	}
	now := p.d.Clock.Now().UTC()
	type periodReport struct{ Name, Title string }
	p.render(w, r, http.StatusOK, "reports", view{Title: "Reports", Me: &v.Whoami, Nav: "reports", Data: struct {
		Groups   []api.ManagedGroup
		From, To string
		Period   []periodReport
		Key      string
	}{groups, now.AddDate(0, -3, 0).Truncate(24 * time.Hour).Format(time.RFC3339), now.Truncate(time.Minute).Add(time.Minute).Format(time.RFC3339),
		[]periodReport{{"lateness", "How late expired access was removed (the promise, measured)"}, {"breakglass", "Break-glass uses and their reviews"}, {"conflicts", "Times someone held groups that should not be held together"}}, key}})
}

// atoi is a page's number from the query; anything else is 0.
func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// seesAll lets admins and auditors through; others get a page that says
// why not (the API would refuse them the whole list too).
func (p *Portal) seesAll(w http.ResponseWriter, r *http.Request, v viewer, what string) bool {
	if auth.SeesAll(v.Role) {
		return true
	}
	p.render(w, r, http.StatusForbidden, "message", view{Title: "Not for role " + v.Role, Me: &v.Whoami,
		Error: "Only administrators and auditors see all " + what + "."})
	return false
}
