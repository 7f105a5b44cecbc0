package portal

import (
	"net/http"
	"strings"
	"time"

	"github.com/jitd/jitd/core/api"
	"github.com/jitd/jitd/core/api/apiclient"
	"github.com/jitd/jitd/core/auth"
)

// Sponsors invite contractors and answer for their accounts: the invites
// they made, the accounts they sponsor, with their end dates, to extend or
// disable. Admins see everyone's.

type sponsorData struct {
	pager
	Invites  []api.Invite
	Accounts []api.Account
	Groups   []api.ManagedGroup
	// Created is an invite just made, with its link: shown this once.
	Created *api.CreatedInvite
	Link    string
	// CanWrite: the viewer sponsors (an auditor only reads).
	CanWrite bool
}

func (p *Portal) sponsorPage(w http.ResponseWriter, r *http.Request, v viewer) {
	p.showSponsor(w, r, v, http.StatusOK, "", nil)
}

func (p *Portal) showSponsor(w http.ResponseWriter, r *http.Request, v viewer, status int, problem string, created *api.CreatedInvite) {
	if !v.may(auth.InviteRead) {
		p.render(w, r, http.StatusForbidden, "message", view{Title: "Contractors", Me: &v.Whoami, Error: "role " + v.Role + " does not sponsor contractors"})
		return
	}
	offset := max(0, atoi(r.URL.Query().Get("offset")))
	d := sponsorData{Created: created, CanWrite: v.may(auth.InviteWrite), pager: pager{Query: r.URL.Query()}}
	var err error
	if d.Invites, err = v.c.Invites(r.Context(), ""); err != nil {
		p.fail(w, r, err)
		return
	}
	if v.may(auth.AccountRead) {
		if d.Accounts, err = v.c.ListAccounts(r.Context(), apiclient.AccountFilter{States: []string{"creating", "create_failed", "active", "disabling", "disable_failed", "disabled"},
			Limit: pageSize + 1, Offset: offset}); err != nil {
			p.fail(w, r, err)
			return
		}
		d.links("/ui/sponsor", offset, len(d.Accounts))
		d.Accounts = d.Accounts[:min(len(d.Accounts), pageSize)]
	}
	if d.Groups, err = v.c.Groups(r.Context()); err != nil {
		p.fail(w, r, err)
		return
	}
	if created != nil {
		d.Link = "http://" + r.Host + created.Path
		if r.TLS != nil || p.d.TLS {
			d.Link = "https://" + r.Host + created.Path
		}
	}
	p.render(w, r, status, "sponsor", view{Title: "Contractors", Me: &v.Whoami, Nav: "sponsor", Error: problem, Data: d})
}

func (p *Portal) inviteCreate(w http.ResponseWriter, r *http.Request, v viewer) {
	day, err := time.Parse(time.DateOnly, r.PostFormValue("until"))
	if err != nil {
		p.showSponsor(w, r, v, http.StatusBadRequest, "Give the latest end date the contractor may choose, like 2027-01-31.", nil)
		return
	}
	c, err := v.c.CreateInvite(r.Context(), api.CreateInviteRequest{Until: day.Add(24*time.Hour - time.Second), Groups: r.PostForm["groups"],
		Valid: strings.TrimSpace(r.PostFormValue("valid")), Note: strings.TrimSpace(r.PostFormValue("note"))})
	if err != nil {
		p.showSponsor(w, r, v, statusOf(err), message(err), nil)
		return
	}
	// The link is shown on this answer and never again: no redirect that
	// would have to carry it.
	p.showSponsor(w, r, v, http.StatusCreated, "", &c)
}

func (p *Portal) inviteRevoke(w http.ResponseWriter, r *http.Request, v viewer) {
	if _, err := v.c.RevokeInvite(r.Context(), r.PathValue("id"), reasonOr(r, "revoked from the portal")); err != nil {
		p.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/ui/sponsor?done=invite-revoked", http.StatusSeeOther)
}

func (p *Portal) accountExtend(w http.ResponseWriter, r *http.Request, v viewer) {
	day, err := time.Parse(time.DateOnly, r.PostFormValue("until"))
	if err != nil {
		p.showSponsor(w, r, v, http.StatusBadRequest, "Give the account's new last day, like 2027-01-31.", nil)
		return
	}
	if _, err := v.c.ExtendAccount(r.Context(), r.PathValue("id"), api.ExtendAccountRequest{Until: day.Add(24*time.Hour - time.Second),
		Reason: strings.TrimSpace(r.PostFormValue("reason"))}); err != nil {
		p.showSponsor(w, r, v, statusOf(err), message(err), nil)
		return
	}
	http.Redirect(w, r, "/ui/sponsor?done=account-extended", http.StatusSeeOther)
}

func (p *Portal) accountDisable(w http.ResponseWriter, r *http.Request, v viewer) {
	if _, err := v.c.DisableAccount(r.Context(), r.PathValue("id"), reasonOr(r, "disabled by the sponsor from the portal")); err != nil {
		p.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/ui/sponsor?done=account-disabled", http.StatusSeeOther)
}

func reasonOr(r *http.Request, def string) string {
	if s := strings.TrimSpace(r.PostFormValue("reason")); s != "" {
		return s
	}
	return def
}
