package portal

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/jitd/jitd/core/api"
	"github.com/jitd/jitd/core/api/apiclient"
	"github.com/jitd/jitd/core/auth"
)

// A timeline draws a person's or a group's access as bars over time, in SVG
// made on the server: grants (break-glass ones marked), and drift, the
// memberships nobody granted, for those who may see it. The same facts are
// listed under the picture for people who do not see it.

// Geometry of the picture, in SVG user units.
const (
	tlWidth  = 960
	tlLabel  = 170 // left column with the row names
	tlRowH   = 28
	tlBarH   = 16
	tlTop    = 26 // room for the axis labels
	tlBottom = 8
)

// timeline is what the template draws.
type timeline struct {
	Title  string
	Height int
	Rows   []tlRow
	Ticks  []tlTick
	Now    float64 // x of now
	Bars   []tlBar // every bar, for the list under the picture
	Empty  bool
	Capped bool // more grants than timelineMax: only the newest are drawn
}

type tlRow struct {
	Name string
	Y    int
	Bars []tlBar
}

type tlBar struct {
	X, W                 float64
	Y                    int
	Kind                 string // grant, breakglass, drift, live
	Label, Row           string
	From, To             time.Time
	Open                 bool // still going
	State, Reason, Grant string
}

type tlTick struct {
	X     float64
	Label string
}

// span is one bar before it is placed.
type span struct {
	row, kind, state, reason, grant string
	from, to                        time.Time
	open                            bool
}

// layout places spans on rows against a time axis that covers them all
// and now (at least an hour), with a little room on either side.
func layout(title string, spans []span, now time.Time) timeline {
	t := timeline{Title: title}
	if len(spans) == 0 {
		t.Empty = true
		return t
	}
	lo, hi := now, now
	for _, s := range spans {
		lo = minTime(lo, s.from)
		hi = maxTime(hi, s.to)
	}
	if hi.Sub(lo) < time.Hour {
		lo = hi.Add(-time.Hour)
	}
	pad := hi.Sub(lo) / 40
	lo, hi = lo.Add(-pad), hi.Add(pad)
	x := func(at time.Time) float64 {
		return tlLabel + float64(tlWidth-tlLabel-10)*float64(at.Sub(lo))/float64(hi.Sub(lo))
	}
	var names []string
	for _, s := range spans {
		if !slices.Contains(names, s.row) {
			names = append(names, s.row)
		}
	}
	slices.Sort(names)
	for i, n := range names {
		t.Rows = append(t.Rows, tlRow{Name: n, Y: tlTop + i*tlRowH})
	}
	for _, s := range spans {
		i := slices.Index(names, s.row)
		b := tlBar{X: x(s.from), Y: t.Rows[i].Y + (tlRowH-tlBarH)/2, Kind: s.kind, Row: s.row, From: s.from, To: s.to, Open: s.open,
			State: s.state, Reason: s.reason, Grant: s.grant}
		b.W = max(4, x(s.to)-b.X)
		b.Label = barLabel(b)
		t.Rows[i].Bars = append(t.Rows[i].Bars, b)
		t.Bars = append(t.Bars, b)
	}
	slices.SortFunc(t.Bars, func(a, b tlBar) int { return b.From.Compare(a.From) })
	t.Height = tlTop + len(names)*tlRowH + tlBottom
	t.Now = x(now)
	t.Ticks = ticks(lo, hi, x)
	return t
}

func barLabel(b tlBar) string {
	what := map[string]string{"grant": "grant", "live": "grant, still active", "breakglass": "break-glass grant", "drift": "membership nobody granted (drift)"}[b.Kind]
	end := b.To.UTC().Format("2006-01-02 15:04")
	if b.Open && b.Kind != "drift" {
		end = "ends " + end
	}
	return fmt.Sprintf("%s: %s, %s to %s UTC", b.Row, what, b.From.UTC().Format("2006-01-02 15:04"), end)
}

// ticks are a handful of labelled times along the axis, at round steps.
func ticks(lo, hi time.Time, x func(time.Time) float64) []tlTick {
	span := hi.Sub(lo)
	step, format := 5*time.Minute, "15:04"
	for _, s := range []struct {
		d time.Duration
		f string
	}{{5 * time.Minute, "15:04"}, {15 * time.Minute, "15:04"}, {time.Hour, "15:04"}, {3 * time.Hour, "15:04"}, {6 * time.Hour, "Jan 2 15:04"}, {24 * time.Hour, "Jan 2"}, {7 * 24 * time.Hour, "Jan 2"}, {30 * 24 * time.Hour, "Jan 2006"}} {
		step, format = s.d, s.f
		if span/s.d <= 8 {
			break
		}
	}
	var out []tlTick
	for at := lo.UTC().Truncate(step).Add(step); at.Before(hi); at = at.Add(step) {
		out = append(out, tlTick{X: x(at), Label: at.Format(format)})
	}
	return out
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// accessSpans turns grants (and the break-glass requests among requests)
// into spans on rows named by rowOf.
func accessSpans(gs []api.Grant, rs []api.Request, rowOf func(api.Grant) string) []span {
	glass := map[string]bool{}
	for _, r := range rs {
		if r.BreakGlass && r.GrantID != "" {
			glass[r.GrantID] = true
		}
	}
	var out []span
	for _, g := range gs {
		if g.State == "cancelled" || g.StartsAt.IsZero() {
			continue
		}
		s := span{row: rowOf(g), kind: "grant", state: g.State, reason: g.Reason, grant: g.ID, from: g.StartsAt, to: g.ExpiresAt}
		switch {
		case !g.EndedAt.IsZero():
			s.to = g.EndedAt
		case g.State == "active" || g.State == "pending" || g.State == "applying" || g.State == "revoking" || g.State == "revoke_failed":
			s.open, s.kind = true, "live"
		}
		if glass[g.ID] {
			s.kind = "breakglass"
		}
		if s.to.Before(s.from) {
			s.to = s.from
		}
		out = append(out, s)
	}
	return out
}

func driftSpans(ds []api.Drift, rowOf func(api.Drift) string, keep func(api.Drift) bool) []span {
	var out []span
	for _, d := range ds {
		if keep(d) {
			out = append(out, span{row: rowOf(d), kind: "drift", state: "drift", from: d.FirstSeen, to: d.LastSeen, open: true})
		}
	}
	return out
}

// timelinePage draws one person's access (?user=) or one group's (?group=).
func (p *Portal) timelinePage(w http.ResponseWriter, r *http.Request, v viewer) {
	q := r.URL.Query()
	user, group, dir := strings.TrimSpace(q.Get("user")), strings.TrimSpace(q.Get("group")), strings.TrimSpace(q.Get("directory"))
	if user == "" && group == "" {
		user = v.Name
	}
	t, err := p.timeline(r, v, user, group, dir)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	p.render(w, r, http.StatusOK, "timeline", view{Title: t.Title, Me: &v.Whoami, Nav: "timeline", Data: t})
}

// timeline gathers what the viewer may read about user's or group's
// access and lays it out.
func (p *Portal) timeline(r *http.Request, v viewer, user, group, dir string) (timeline, error) {
	now := p.d.Clock.Now()
	gs, err := v.c.ListGrants(r.Context(), apiclient.GrantFilter{User: user, Group: group, Directory: dir, Limit: timelineMax + 1})
	if err != nil {
		return timeline{}, err
	}
	capped := len(gs) > timelineMax
	gs = gs[:min(len(gs), timelineMax)]
	var rs []api.Request
	if v.may(auth.RequestRead) {
		f := apiclient.RequestFilter{}
		if !auth.SeesAll(v.Role) {
			f.Mine = true
		}
		if rs, err = v.c.ListRequests(r.Context(), f); err != nil {
			return timeline{}, err
		}
	}
	title := "Access of " + user
	rowOf := func(g api.Grant) string { return g.Group }
	driftRow := func(d api.Drift) string { return d.Group }
	keep := func(d api.Drift) bool { return strings.EqualFold(d.User, user) && (dir == "" || d.Directory == dir) }
	if user == "" {
		title = "Members of " + group
		rowOf = func(g api.Grant) string { return g.User }
		driftRow = func(d api.Drift) string { return d.User }
		keep = func(d api.Drift) bool { return d.Group == group && (dir == "" || d.Directory == dir) }
	} else if group != "" {
		title += " to " + group
		inner := keep
		keep = func(d api.Drift) bool { return inner(d) && d.Group == group }
	}
	spans := accessSpans(gs, rs, rowOf)
	if v.may(auth.SyncRead) {
		ds, err := v.c.Drift(r.Context(), dir)
		if err != nil {
			return timeline{}, err
		}
		spans = append(spans, driftSpans(ds, driftRow, keep)...)
	}
	t := layout(title, spans, now)
	t.Capped = capped
	return t, nil
}

// timelineMax is how many grants a timeline draws, the newest; the Grants
// page lists the rest.
const timelineMax = 200
