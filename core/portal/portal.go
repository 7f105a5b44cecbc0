// Package portal is jitd's web face: server-rendered pages for the people
// jitd exists for (requesters, approvers, sponsors, auditors), without a
// line of JavaScript. Every page is a client of the API, called in the same
// process with the browser's own session, so a page can do exactly what
// the API lets its viewer do and nothing more: one authorisation path.
package portal

import (
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/jitd/jitd/core/api"
	"github.com/jitd/jitd/core/api/apiclient"
	"github.com/jitd/jitd/core/auth"
	"github.com/jitd/jitd/core/clock"
	"github.com/jitd/jitd/core/web"
)

//go:embed templates/*.html static/*
var files embed.FS

// Deps are what the portal serves from.
type Deps struct {
	// API serves the API in this process (api.Server.Local).
	API http.RoundTripper
	// Sessions are the browser sessions; nil means nobody can sign in
	// in a browser (the portal says how to configure it).
	Sessions *auth.Sessions
	// OIDC says /auth/login signs people in with the identity provider.
	OIDC bool
	// Demo, when set, offers the demo sign-in: pick a person of the demo
	// directory. The configuration refuses it beside a real directory.
	Demo *auth.People
	// TLS says the portal is served over HTTPS (HSTS is sent).
	TLS   bool
	Clock clock.Clock
	Log   *slog.Logger
}

// Portal serves the pages under /ui/.
type Portal struct {
	d     Deps
	mux   *http.ServeMux
	pages map[string]*template.Template
}

// New returns the portal.
func New(d Deps) *Portal {
	if d.Clock == nil {
		d.Clock = clock.Real{}
	}
	p := &Portal{d: d, mux: http.NewServeMux(), pages: parsePages()}
	static, _ := fs.Sub(files, "static")
	p.mux.Handle("GET /ui/static/", http.StripPrefix("/ui/static/", http.FileServerFS(static)))
	p.mux.HandleFunc("GET /ui/{$}", p.home)
	p.mux.HandleFunc("GET /ui/signin", p.signinPage)
	p.mux.HandleFunc("POST /ui/signin/demo", p.demoSignIn)
	p.mux.HandleFunc("POST /ui/signout", p.signOut)
	p.page("GET /ui/access", p.myAccess)
	p.page("POST /ui/grants/{id}/giveback", p.giveBack)
	p.page("POST /ui/grants/{id}/extend", p.extend)
	p.page("GET /ui/request", p.requestForm)
	p.page("POST /ui/request", p.requestSubmit)
	p.page("POST /ui/request/preview", p.requestPreview)
	p.page("GET /ui/requests", p.myRequests)
	p.page("GET /ui/requests/{id}", p.requestPage)
	p.page("POST /ui/requests/{id}/{decision}", p.decide)
	p.page("GET /ui/inbox", p.inbox)
	p.page("GET /ui/timeline", p.timelinePage)
	p.page("GET /ui/grants", p.grantsPage)
	p.page("POST /ui/grants/{id}/revoke", p.revoke)
	p.page("GET /ui/all-requests", p.allRequestsPage)
	p.page("GET /ui/drift", p.driftPage)
	p.page("POST /ui/drift/{decision}", p.driftDecide)
	p.page("GET /ui/sync", p.syncPage)
	p.page("POST /ui/sync/run", p.syncRun)
	p.page("GET /ui/reviews", p.reviewsPage)
	p.page("POST /ui/reviews/{id}/close", p.reviewClose)
	p.page("GET /ui/campaigns", p.campaignsPage)
	p.page("POST /ui/campaigns", p.campaignCreate)
	p.page("GET /ui/campaigns/{id}", p.campaignPage)
	p.page("POST /ui/campaigns/{id}/items/{seq}", p.campaignDecide)
	p.page("POST /ui/campaigns/{id}/close", p.campaignClose)
	p.page("GET /ui/tokens", p.tokensPage)
	p.page("POST /ui/tokens/{id}/revoke", p.tokenRevoke)
	p.page("GET /ui/audit", p.auditPage)
	p.page("GET /ui/reports", p.reportsPage)
	p.page("GET /ui/sponsor", p.sponsorPage)
	p.page("POST /ui/invites", p.inviteCreate)
	p.page("POST /ui/invites/{id}/revoke", p.inviteRevoke)
	p.page("POST /ui/accounts/{id}/extend", p.accountExtend)
	p.page("POST /ui/accounts/{id}/disable", p.accountDisable)
	p.mux.HandleFunc("GET /ui/invite/{token}", p.invitePage)
	p.mux.HandleFunc("POST /ui/invite/{token}", p.inviteSubmit)
	p.mux.HandleFunc("POST /ui/invite/{token}/password", p.invitePassword)
	return p
}

func (p *Portal) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	// No script at all, nothing framed, forms only to here.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	if p.d.TLS {
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
	if !strings.HasPrefix(r.URL.Path, "/ui/static/") {
		h.Set("Cache-Control", "no-store")
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead && !web.SameOrigin(r) {
		p.render(w, r, http.StatusForbidden, "message", view{Title: "Refused", Error: "This form was sent from another site. Open jitd and try again from its own page."})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	p.mux.ServeHTTP(w, r)
}

// viewer is the signed-in person a page is for, and their API client.
type viewer struct {
	api.Whoami
	c *apiclient.Client
}

func (v viewer) may(perm auth.Permission) bool { return auth.Allowed(v.Role, perm) }

// pageFunc serves a page for a signed-in viewer.
type pageFunc func(w http.ResponseWriter, r *http.Request, v viewer)

// page registers a page that needs a signed-in viewer; without one, the
// browser is sent to the sign-in page and back.
func (p *Portal) page(pattern string, h pageFunc) {
	p.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		toSignIn := func() {
			back := "/ui/access"
			if r.Method == http.MethodGet {
				back = r.URL.RequestURI()
			}
			http.Redirect(w, r, "/ui/signin?next="+url.QueryEscape(back), http.StatusSeeOther)
		}
		if _, err := r.Cookie(auth.SessionCookie); err != nil {
			toSignIn() // not signed in: nothing to ask the API
			return
		}
		c := p.client(r)
		me, err := c.Whoami(r.Context())
		if err != nil {
			if apiErr, ok := apiError(err); ok && apiErr.Status == http.StatusUnauthorized {
				if p.d.Sessions != nil {
					p.d.Sessions.Clear(w)
				}
				toSignIn()
				return
			}
			p.fail(w, r, err)
			return
		}
		h(w, r, viewer{Whoami: me, c: c})
	})
}

// client calls the API as the browser's session: the cookie and the
// headers the API's same-origin check reads go with every call.
func (p *Portal) client(r *http.Request) *apiclient.Client {
	return apiclient.New("http://"+r.Host, "", &http.Client{Transport: forward{next: p.d.API, from: r}, Timeout: 30 * time.Second})
}

type forward struct {
	next http.RoundTripper
	from *http.Request
}

func (f forward) RoundTrip(req *http.Request) (*http.Response, error) {
	if f.from.Method == http.MethodGet && req.Method != http.MethodGet {
		// A page that is only looked at never changes anything.
		return nil, fmt.Errorf("portal: %s %s asked for %s %s", f.from.Method, f.from.URL.Path, req.Method, req.URL.Path)
	}
	req = req.Clone(req.Context())
	req.Host, req.RemoteAddr = f.from.Host, f.from.RemoteAddr
	for _, h := range []string{"Cookie", "Origin", "Sec-Fetch-Site", "X-Request-Id", "User-Agent"} {
		if v := f.from.Header.Values(h); len(v) > 0 {
			req.Header[h] = v
		}
	}
	return f.next.RoundTrip(req)
}

// fail shows an API error on a page, in the API's own words.
func (p *Portal) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, text := http.StatusInternalServerError, "jitd could not do this; try again, and tell an administrator if it persists."
	if apiErr, ok := apiError(err); ok {
		status, text = apiErr.Status, apiErr.Message
	} else {
		p.d.Log.Error("portal", "path", r.URL.Path, "err", err)
	}
	p.render(w, r, status, "message", view{Title: http.StatusText(status), Error: text})
}
