package portal

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/jitd/jitd/core/api"
	"github.com/jitd/jitd/core/auth"
	"github.com/jitd/jitd/core/review"
)

// campaignsPage lists access review campaigns: everyone sees the ones they
// review, admins and auditors all; admins open new ones here.
func (p *Portal) campaignsPage(w http.ResponseWriter, r *http.Request, v viewer) {
	if !v.may(auth.CampaignRead) {
		p.render(w, r, http.StatusForbidden, "message", view{Title: "Access reviews", Me: &v.Whoami, Error: "role " + v.Role + " may not " + string(auth.CampaignRead)})
		return
	}
	state := r.URL.Query().Get("state")
	if state == "all" {
		state = ""
	} else if state == "" {
		state = "open"
	}
	cs, err := v.c.Campaigns(r.Context(), state)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	p.render(w, r, http.StatusOK, "campaigns", view{Title: "Access reviews", Me: &v.Whoami, Nav: "campaigns", Data: struct {
		Campaigns []api.Campaign
		State     string
		CanOpen   bool
	}{cs, r.URL.Query().Get("state"), v.may(auth.CampaignWrite)}})
}

// campaignCreate opens a campaign from the form on the campaigns page.
func (p *Portal) campaignCreate(w http.ResponseWriter, r *http.Request, v viewer) {
	f := r.PostFormValue
	spec := api.CampaignSpec{Name: strings.TrimSpace(f("name")), Duration: strings.TrimSpace(f("due")), OnNoAnswer: f("on_no_answer"),
		EscalateAfter: strings.TrimSpace(f("escalate_after")),
		Scope:         api.CampaignScope{Kind: f("scope"), Groups: fields(f("groups"))},
		Reviewers:     review.Reviewers{Kind: f("reviewers"), Users: fields(f("reviewer"))}}
	c, err := v.c.CreateCampaign(r.Context(), spec)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/ui/campaigns/"+url.PathEscape(c.ID)+"?done=campaign-opened", http.StatusSeeOther)
}

// fields splits a form's comma- or space-separated list.
func fields(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' })
}

// campaignPage shows a campaign and the items the viewer decides (all of
// them, for admins and auditors who ask), each with its decision form.
func (p *Portal) campaignPage(w http.ResponseWriter, r *http.Request, v viewer) {
	q := url.Values{"limit": {"500"}}
	all := r.URL.Query().Get("all") == "1" && auth.SeesAll(v.Role)
	if !all {
		q.Set("mine", "true")
	}
	if r.URL.Query().Get("pending") != "0" {
		q.Set("pending", "true")
	}
	if o := r.URL.Query().Get("offset"); o != "" {
		q.Set("offset", o)
	}
	d, err := v.c.Campaign(r.Context(), r.PathValue("id"), q)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	offset, _ := strconv.Atoi(r.URL.Query().Get("offset"))
	p.render(w, r, http.StatusOK, "campaign", view{Title: "Access review: " + d.Name, Me: &v.Whoami, Nav: "campaigns", Data: struct {
		api.CampaignDetail
		All, Pending, CanDecide, CanClose, SeesAll bool
		Next                                       int
	}{d, all, q.Get("pending") == "true", v.may(auth.CampaignDecide) && d.State == "open", v.may(auth.CampaignWrite) && d.State == "open", auth.SeesAll(v.Role),
		nextOffset(offset, len(d.Items), 500)}})
}

func nextOffset(offset, got, limit int) int {
	if got < limit {
		return 0
	}
	return offset + limit
}

// campaignDecide records the viewer's decision on one item.
func (p *Portal) campaignDecide(w http.ResponseWriter, r *http.Request, v viewer) {
	seq, err := strconv.Atoi(r.PathValue("seq"))
	if err != nil {
		p.render(w, r, http.StatusBadRequest, "message", view{Title: "Access review", Me: &v.Whoami, Error: "No such item."})
		return
	}
	id := r.PathValue("id")
	if _, err := v.c.DecideItem(r.Context(), id, seq, api.DecideItemRequest{Decision: r.PostFormValue("decision"), Comment: strings.TrimSpace(r.PostFormValue("comment"))}); err != nil {
		p.fail(w, r, err)
		return
	}
	back := "/ui/campaigns/" + url.PathEscape(id) + "?done=item-decided"
	if r.PostFormValue("all") == "1" {
		back += "&all=1"
	}
	http.Redirect(w, r, back+fmt.Sprintf("#item-%d", seq+1), http.StatusSeeOther)
}

// campaignClose closes a campaign now.
func (p *Portal) campaignClose(w http.ResponseWriter, r *http.Request, v viewer) {
	id := r.PathValue("id")
	if _, err := v.c.CloseCampaign(r.Context(), id); err != nil {
		p.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/ui/campaigns/"+url.PathEscape(id)+"?done=campaign-closed&pending=0&all=1", http.StatusSeeOther)
}
