package portal

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/jitd/jitd/core/api"
	"github.com/jitd/jitd/core/api/apiclient"
	"github.com/jitd/jitd/core/auth"
)

func (p *Portal) home(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, "/ui/access", http.StatusSeeOther)
}

// demoPerson is a person the demo sign-in offers, with the role they get.
type demoPerson struct{ Login, Name, Role string }

type signinData struct {
	OIDC, Demo bool
	People     []demoPerson
	Next       string
}

// localNext is where to go after signing in: a page of the portal, never
// another site.
func localNext(next string) string {
	if !strings.HasPrefix(next, "/ui/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return "/ui/access"
	}
	return next
}

func (p *Portal) signinPage(w http.ResponseWriter, r *http.Request) {
	p.showSignin(w, r, http.StatusOK, "")
}

func (p *Portal) showSignin(w http.ResponseWriter, r *http.Request, status int, problem string) {
	d := signinData{OIDC: p.d.OIDC, Demo: p.d.Demo != nil, Next: localNext(r.FormValue("next"))}
	if p.d.Demo != nil {
		d.People = p.demoPeople(r)
	}
	v := view{Title: "Sign in", Data: d, Error: problem}
	if p.d.Sessions == nil {
		v.Error = "Browser sign-in is not configured: set auth.oidc (with redirect_url) in jitd's configuration."
	}
	p.render(w, r, status, "signin", v)
}

// demoPeople lists the members of the demo's role groups, with the role
// each gets (the first that holds them, as signing in decides).
func (p *Portal) demoPeople(r *http.Request) []demoPerson {
	dm := p.d.Demo
	var out []demoPerson
	seen := map[string]bool{}
	for _, rg := range []struct {
		role   string
		groups []string
	}{{auth.RoleAdmin, dm.Roles.Admin}, {auth.RoleAuditor, dm.Roles.Auditor}, {auth.RoleApprover, dm.Roles.Approver}, {auth.RoleRequester, dm.Roles.Requester}} {
		for _, name := range rg.groups {
			g, err := dm.Store.MirrorGroup(r.Context(), dm.Directory, name)
			if err != nil {
				continue
			}
			members, err := dm.Store.MirrorMembers(r.Context(), dm.Directory, g.ID)
			if err != nil {
				continue
			}
			for _, u := range members {
				if !seen[u.Login] && u.Enabled {
					seen[u.Login] = true
					out = append(out, demoPerson{Login: u.Login, Name: u.DisplayName, Role: rg.role})
				}
			}
		}
	}
	slices.SortFunc(out, func(a, b demoPerson) int { return strings.Compare(a.Login, b.Login) })
	return out
}

func (p *Portal) demoSignIn(w http.ResponseWriter, r *http.Request) {
	if p.d.Demo == nil || p.d.Sessions == nil {
		p.render(w, r, http.StatusNotFound, "message", view{Title: "Not found", Error: "The demo sign-in is not enabled."})
		return
	}
	login := strings.TrimSpace(r.PostFormValue("login"))
	who, err := p.d.Demo.Person(r.Context(), login, false)
	if err != nil {
		p.showSignin(w, r, http.StatusUnauthorized, strings.TrimPrefix(err.Error(), auth.ErrUnauthenticated.Error()+": "))
		return
	}
	p.d.Sessions.Start(w, who)
	http.Redirect(w, r, localNext(r.PostFormValue("next")), http.StatusSeeOther)
}

func (p *Portal) signOut(w http.ResponseWriter, r *http.Request) {
	if p.d.Sessions == nil {
		http.Redirect(w, r, "/ui/signin", http.StatusSeeOther)
		return
	}
	if c, err := r.Cookie(auth.SessionCookie); err == nil {
		if err := p.d.Sessions.Logout(r.Context(), c.Value); err != nil {
			p.fail(w, r, err)
			return
		}
	}
	p.d.Sessions.Clear(w)
	http.Redirect(w, r, "/ui/signin", http.StatusSeeOther)
}

// live are the grant states that still give, or are about to give, access.
var live = []string{"pending", "applying", "active", "apply_failed", "revoking", "revoke_failed"}

// accessData is what a person holds, and what is approved to start later.
type accessData struct {
	Grants   []api.Grant
	Upcoming []api.Request
}

func (p *Portal) myAccess(w http.ResponseWriter, r *http.Request, v viewer) {
	gs, err := v.c.ListGrants(r.Context(), apiclient.GrantFilter{User: v.Name, States: live, Limit: 200})
	if err != nil {
		p.fail(w, r, err)
		return
	}
	d := accessData{Grants: gs}
	if v.may(auth.RequestCreate) {
		rs, err := v.c.ListRequests(r.Context(), apiclient.RequestFilter{Mine: true, States: []string{"approved"}})
		if err != nil {
			p.fail(w, r, err)
			return
		}
		for _, q := range rs {
			if q.GrantID == "" && q.StartsAt.After(p.d.Clock.Now()) {
				d.Upcoming = append(d.Upcoming, q)
			}
		}
	}
	p.render(w, r, http.StatusOK, "access", view{Title: "My access", Me: &v.Whoami, Nav: "access", Data: d})
}

func (p *Portal) giveBack(w http.ResponseWriter, r *http.Request, v viewer) {
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	if reason == "" {
		reason = "given back early from the portal"
	}
	if _, err := v.c.RevokeGrant(r.Context(), r.PathValue("id"), reason); err != nil {
		p.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/ui/access?done=returned", http.StatusSeeOther)
}

// revoke ends someone's grant now (administrators).
func (p *Portal) revoke(w http.ResponseWriter, r *http.Request, v viewer) {
	if _, err := v.c.RevokeGrant(r.Context(), r.PathValue("id"), strings.TrimSpace(r.PostFormValue("reason"))); err != nil {
		p.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/ui/grants?done=revoked", http.StatusSeeOther)
}

func (p *Portal) extend(w http.ResponseWriter, r *http.Request, v viewer) {
	q, err := v.c.CreateRequest(r.Context(), api.CreateRequestRequest{Extends: r.PathValue("id"), For: strings.TrimSpace(r.PostFormValue("for")),
		Reason: strings.TrimSpace(r.PostFormValue("reason"))})
	if err != nil {
		p.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/ui/requests/"+url.PathEscape(q.ID)+"?done=extension", http.StatusSeeOther)
}

// requestData is the request form: the groups on offer, what was typed,
// and what policy would decide about it.
type requestData struct {
	Groups                   []api.ManagedGroup
	Target                   string // directory/group
	For, Reason, Ticket      string
	Start                    string // as the form's datetime-local field has it (UTC)
	Preview                  *api.PolicyDecision
	PreviewError             string
	PreviewDirectory, Picked string
}

func (p *Portal) requestForm(w http.ResponseWriter, r *http.Request, v viewer) {
	p.showRequestForm(w, r, v, http.StatusOK, "", false)
}

// requestPreview shows the form again with what policy would decide; it
// is a POST because the API's policy test is one.
func (p *Portal) requestPreview(w http.ResponseWriter, r *http.Request, v viewer) {
	p.showRequestForm(w, r, v, http.StatusOK, "", true)
}

func (p *Portal) showRequestForm(w http.ResponseWriter, r *http.Request, v viewer, status int, problem string, preview bool) {
	groups, err := v.c.Groups(r.Context())
	if err != nil {
		p.fail(w, r, err)
		return
	}
	d := requestData{Groups: groups, Target: r.FormValue("target"), For: r.FormValue("for"), Reason: r.FormValue("reason"), Ticket: r.FormValue("ticket"),
		Start: r.FormValue("start")}
	if d.For == "" {
		d.For = "1h"
	}
	if preview && d.Target != "" {
		dir, group, _ := strings.Cut(d.Target, "/")
		dec, err := v.c.TestPolicy(r.Context(), api.PolicyTestRequest{Directory: dir, Group: group, For: d.For, Reason: d.Reason, Ticket: d.Ticket})
		if err != nil {
			d.PreviewError = message(err)
		} else {
			d.Preview = &dec
		}
	}
	p.render(w, r, status, "request", view{Title: "Request access", Me: &v.Whoami, Nav: "request", Error: problem, Data: d})
}

func (p *Portal) requestSubmit(w http.ResponseWriter, r *http.Request, v viewer) {
	dir, group, _ := strings.Cut(r.PostFormValue("target"), "/")
	if group == "" {
		p.showRequestForm(w, r, v, http.StatusBadRequest, "Pick the group you need.", false)
		return
	}
	var start time.Time
	if s := strings.TrimSpace(r.PostFormValue("start")); s != "" {
		var err error
		if start, err = time.ParseInLocation("2006-01-02T15:04", s, time.UTC); err != nil {
			p.showRequestForm(w, r, v, http.StatusBadRequest, "Give the start as a day and a time (UTC), or leave it empty to start at approval.", false)
			return
		}
	}
	q, err := v.c.CreateRequest(r.Context(), api.CreateRequestRequest{Directory: dir, Group: group, For: strings.TrimSpace(r.PostFormValue("for")),
		Reason: r.PostFormValue("reason"), Ticket: r.PostFormValue("ticket"), StartsAt: start})
	if err != nil {
		if apiErr, ok := apiError(err); ok && apiErr.Status < 500 {
			p.showRequestForm(w, r, v, apiErr.Status, apiErr.Message, false)
			return
		}
		p.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/ui/requests/"+url.PathEscape(q.ID)+"?done=requested", http.StatusSeeOther)
}

func (p *Portal) myRequests(w http.ResponseWriter, r *http.Request, v viewer) {
	rs, err := v.c.ListRequests(r.Context(), apiclient.RequestFilter{Mine: true})
	if err != nil {
		p.fail(w, r, err)
		return
	}
	p.render(w, r, http.StatusOK, "requests", view{Title: "My requests", Me: &v.Whoami, Nav: "requests", Data: rs})
}

// requestView is one request, and what the viewer may do with it.
type requestView struct {
	api.Request
	Decide, Cancel bool
	// Timeline is the requester's access to the group, for those who may
	// read it (the requester, admins and auditors).
	Timeline *timeline
}

func (p *Portal) requestPage(w http.ResponseWriter, r *http.Request, v viewer) {
	q, err := v.c.Request(r.Context(), r.PathValue("id"))
	if err != nil {
		p.fail(w, r, err)
		return
	}
	rv := requestView{Request: q, Decide: q.State == "pending" && v.may(auth.RequestDecide) && !strings.EqualFold(q.Requester, v.Name),
		Cancel: (q.State == "pending" || (q.State == "approved" && q.GrantID == "" && q.StartsAt.After(p.d.Clock.Now()))) && strings.EqualFold(q.Requester, v.Name)}
	if q.Group != "" && (auth.SeesAll(v.Role) || strings.EqualFold(q.Requester, v.Name)) {
		t, err := p.timeline(r, v, q.Requester, q.Group, q.Directory)
		if err != nil {
			p.fail(w, r, err)
			return
		}
		rv.Timeline = &t
	}
	p.render(w, r, http.StatusOK, "request_show", view{Title: "Request " + q.ID, Me: &v.Whoami, Nav: "requests", Data: rv})
}

func (p *Portal) decide(w http.ResponseWriter, r *http.Request, v viewer) {
	id, comment := r.PathValue("id"), strings.TrimSpace(r.PostFormValue("comment"))
	var err error
	var done string
	switch r.PathValue("decision") {
	case "approve":
		_, err = v.c.Approve(r.Context(), id, comment)
		done = "approved"
	case "deny":
		if comment == "" {
			p.render(w, r, http.StatusBadRequest, "message", view{Title: "Not denied", Me: &v.Whoami, Error: "Say why you deny the request: the requester reads it."})
			return
		}
		_, err = v.c.Deny(r.Context(), id, comment)
		done = "denied"
	case "cancel":
		_, err = v.c.CancelRequest(r.Context(), id)
		done = "cancelled"
	default:
		p.render(w, r, http.StatusNotFound, "message", view{Title: "Not found", Me: &v.Whoami, Error: "No such action."})
		return
	}
	if err != nil {
		p.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/ui/requests/"+url.PathEscape(id)+"?done="+done, http.StatusSeeOther)
}

func (p *Portal) inbox(w http.ResponseWriter, r *http.Request, v viewer) {
	if !v.may(auth.RequestDecide) {
		p.render(w, r, http.StatusForbidden, "message", view{Title: "Approvals", Me: &v.Whoami, Error: "role " + v.Role + " may not " + string(auth.RequestDecide)})
		return
	}
	rs, err := v.c.ListRequests(r.Context(), apiclient.RequestFilter{PendingMyApproval: true})
	if err != nil {
		p.fail(w, r, err)
		return
	}
	rs = slices.DeleteFunc(rs, func(q api.Request) bool { return strings.EqualFold(q.Requester, v.Name) })
	for i := range rs {
		// One at a time: the list leaves out what the requester holds now.
		full, err := v.c.Request(r.Context(), rs[i].ID)
		if err != nil {
			p.fail(w, r, err)
			return
		}
		rs[i] = full
	}
	p.render(w, r, http.StatusOK, "inbox", view{Title: "Waiting for you", Me: &v.Whoami, Nav: "inbox", Data: rs})
}

// message is an error in words for a page.
func message(err error) string {
	if e, ok := apiError(err); ok {
		return e.Message
	}
	return fmt.Sprint(err)
}

// statusOf is the status the API answered with (500 when it did not).
func statusOf(err error) int {
	if e, ok := apiError(err); ok {
		return e.Status
	}
	return http.StatusInternalServerError
}

// apiError is err as the API said it, if the API said it.
func apiError(err error) (*api.Error, bool) {
	var e *api.Error
	return e, errors.As(err, &e)
}
