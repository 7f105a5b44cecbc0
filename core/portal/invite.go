package portal

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/jitd/jitd/core/api"
)

// A contractor's invite link opens these pages; they take no sign-in: the
// link's token is the right to use them, as it is for the API's onboarding
// routes they call (which limit each client address).

// inviteData is the invite form and where the contractor's request stands.
type inviteData struct {
	Token string
	api.Onboarding
	Form     api.SubmitOnboardingRequest
	UntilDay string
	MaxDay   string
	Picked   map[string]bool
	Password *api.InitialPassword
}

func (p *Portal) invitePage(w http.ResponseWriter, r *http.Request) {
	p.showInvite(w, r, http.StatusOK, "", api.SubmitOnboardingRequest{})
}

func (p *Portal) showInvite(w http.ResponseWriter, r *http.Request, status int, problem string, form api.SubmitOnboardingRequest) {
	noReferrer(w)
	tok := r.PathValue("token")
	ob, err := p.client(r).Onboarding(r.Context(), tok)
	if err != nil {
		p.render(w, r, statusOf(err), "message", view{Title: "This invite does not work", Error: message(err) + " Ask your sponsor for a new invite."})
		return
	}
	d := inviteData{Token: tok, Onboarding: ob, Form: form, MaxDay: ob.MaxUntil.UTC().Format(time.DateOnly), Picked: map[string]bool{}}
	if !form.Until.IsZero() {
		d.UntilDay = form.Until.UTC().Format(time.DateOnly)
	}
	for _, g := range form.Groups {
		d.Picked[g] = true
	}
	p.render(w, r, status, "invite", view{Title: "Your access as a contractor", Error: problem, Data: d})
}

func (p *Portal) inviteSubmit(w http.ResponseWriter, r *http.Request) {
	noReferrer(w)
	form := api.SubmitOnboardingRequest{GivenName: strings.TrimSpace(r.PostFormValue("given_name")), Surname: strings.TrimSpace(r.PostFormValue("surname")),
		Email: strings.TrimSpace(r.PostFormValue("email")), Company: strings.TrimSpace(r.PostFormValue("company")), Groups: r.PostForm["groups"],
		Reason: strings.TrimSpace(r.PostFormValue("reason"))}
	day, err := time.Parse(time.DateOnly, r.PostFormValue("until"))
	if err != nil {
		p.showInvite(w, r, http.StatusBadRequest, "Give the last day you need the account, like 2027-01-31.", form)
		return
	}
	form.Until = day.Add(24*time.Hour - time.Second) // through the end of that day, UTC
	if _, err := p.client(r).SubmitOnboarding(r.Context(), r.PathValue("token"), form); err != nil {
		p.showInvite(w, r, statusOf(err), message(err), form)
		return
	}
	http.Redirect(w, r, "/ui/invite/"+url.PathEscape(r.PathValue("token"))+"?done=submitted", http.StatusSeeOther)
}

// invitePassword reveals the initial password, once: jitd forgets it as
// it hands it out.
func (p *Portal) invitePassword(w http.ResponseWriter, r *http.Request) {
	noReferrer(w)
	pw, err := p.client(r).OnboardingPassword(r.Context(), r.PathValue("token"))
	if err != nil {
		p.render(w, r, statusOf(err), "message", view{Title: "No password to show", Error: message(err)})
		return
	}
	p.render(w, r, http.StatusOK, "password", view{Title: "Your account", Data: pw})
}

// noReferrer keeps the invite's token, which is in the page's URL, from
// leaving in a Referer header.
func noReferrer(w http.ResponseWriter) { w.Header().Set("Referrer-Policy", "no-referrer") }
