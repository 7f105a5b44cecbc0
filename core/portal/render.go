package portal

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/jitd/jitd/core/api"
)

// view is what every page shows: who is signed in, what went wrong or
// what was done, and the page's own data.
type view struct {
	Title  string
	Me     *api.Whoami
	Nav    string // the menu entry of this page
	Error  string
	Notice string
	Now    time.Time
	Data   any
}

// notices are the fixed messages a redirect after a change may name
// (?done=...): a URL never carries free text onto a page.
var notices = map[string]string{
	"requested":        "Your request is recorded.",
	"approved":         "Your approval is recorded.",
	"denied":           "The request is denied.",
	"cancelled":        "The request is cancelled.",
	"returned":         "The access is given back; it is removed from the directory now.",
	"extension":        "Your extension request is recorded.",
	"invite-revoked":   "The invite is revoked; its link no longer works.",
	"account-extended": "The account's end is moved.",
	"account-disabled": "The account is disabled in the directory now.",
	"revoked":          "The grant is revoked; it is removed from the directory now.",
	"drift-accepted":   "The membership is accepted into the baseline as standing access.",
	"drift-reverted":   "The membership is being removed from the directory.",
	"synced":           "The directory is synced.",
	"review-closed":    "The review is closed.",
	"campaign-opened":  "The campaign is open; its reviewers are told.",
	"item-decided":     "Your decision is recorded; a revoked membership is removed from the directory now.",
	"campaign-closed":  "The campaign is closed; undecided items were decided as it says.",
	"token-revoked":    "The token no longer works.",
	"submitted":        "Your details are sent to your sponsor, who approves your account.",
}

var funcs = template.FuncMap{
	"left": func(now, end time.Time) string { return left(end.Sub(now)) },
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
	"iso":   func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"join":  strings.Join,
	"add":   func(a, b int) int { return a + b },
	"short": short,
	"list":  func(s ...string) []string { return s },
	"score": func(f *float64) string { return fmt.Sprintf("%.2f", *f) },
	"past": func(decision string) string {
		switch decision {
		case "approve":
			return "approved"
		case "deny":
			return "denied"
		}
		return decision
	},
}

// short drops the zero tails of a Go duration: 2h0m0s is 2h.
func short(d string) string {
	if strings.HasSuffix(d, "m0s") {
		d = strings.TrimSuffix(d, "0s")
	}
	if strings.HasSuffix(d, "h0m") {
		d = strings.TrimSuffix(d, "0m")
	}
	return d
}

// left says a duration as people read it: 1h 20m, 3d 4h, 45s.
func left(d time.Duration) string {
	if d <= 0 {
		return "ended"
	}
	d = d.Round(time.Second)
	days, d := d/(24*time.Hour), d%(24*time.Hour)
	h, d := d/time.Hour, d%time.Hour
	m, sec := d/time.Minute, (d%time.Minute)/time.Second
	switch {
	case days > 0:
		return fmt.Sprintf("%dd %dh", days, h)
	case h > 0:
		return fmt.Sprintf("%dh %dm", h, m)
	case m > 0:
		return fmt.Sprintf("%dm", m)
	}
	return fmt.Sprintf("%ds", sec)
}

// parsePages parses each page with the layout around it.
func parsePages() map[string]*template.Template {
	layout := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(files, "templates/layout.html", "templates/partials.html"))
	names, _ := fs.Glob(files, "templates/*.html")
	pages := map[string]*template.Template{}
	for _, n := range names {
		name := strings.TrimSuffix(path.Base(n), ".html")
		if name == "layout" || name == "partials" {
			continue
		}
		pages[name] = template.Must(template.Must(layout.Clone()).ParseFS(files, n))
	}
	return pages
}

// render writes a page; it renders into memory first, so a template
// error is a clean 500, never half a page.
func (p *Portal) render(w http.ResponseWriter, r *http.Request, status int, page string, v view) {
	if v.Now.IsZero() {
		v.Now = p.d.Clock.Now()
	}
	if v.Notice == "" {
		v.Notice = notices[r.URL.Query().Get("done")]
	}
	var b bytes.Buffer
	if err := p.pages[page].ExecuteTemplate(&b, "layout.html", v); err != nil {
		p.d.Log.Error("portal: render", "page", page, "err", err)
		http.Error(w, "jitd could not show this page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b.Bytes())
}
