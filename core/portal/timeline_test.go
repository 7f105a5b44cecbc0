package portal

import (
	"strings"
	"testing"
	"time"

	"github.com/jitd/jitd/core/api"
)

// Bars sit where their times are: a grant over the first half of the axis
// is drawn on the left half, a break-glass use and drift are marked, and
// every bar has words for people who do not see the picture.
func TestTimeline_PlacesBarsByTime(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	gs := []api.Grant{
		{ID: "g1", Group: "db", User: "alice", State: "revoked", StartsAt: now.Add(-4 * time.Hour), ExpiresAt: now.Add(-time.Hour), EndedAt: now.Add(-2 * time.Hour)},
		{ID: "g2", Group: "db", User: "carol", State: "active", StartsAt: now.Add(-30 * time.Minute), ExpiresAt: now.Add(30 * time.Minute)},
		{ID: "g3", Group: "db", User: "dave", State: "cancelled", StartsAt: now.Add(-time.Hour), ExpiresAt: now},
	}
	rs := []api.Request{{ID: "r1", BreakGlass: true, GrantID: "g2"}}
	spans := accessSpans(gs, rs, func(g api.Grant) string { return g.User })
	spans = append(spans, driftSpans([]api.Drift{{Directory: "d", Group: "db", User: "mallory", FirstSeen: now.Add(-3 * time.Hour), LastSeen: now}},
		func(d api.Drift) string { return d.User }, func(api.Drift) bool { return true })...)
	tl := layout("Members of db", spans, now)
	if len(tl.Rows) != 3 || tl.Rows[0].Name != "alice" || tl.Rows[1].Name != "carol" || tl.Rows[2].Name != "mallory" {
		t.Fatalf("rows: %+v", tl.Rows)
	}
	x := func(at time.Time) float64 {
		lo, hi := now.Add(-4*time.Hour), now.Add(30*time.Minute)
		pad := hi.Sub(lo) / 40
		lo, hi = lo.Add(-pad), hi.Add(pad)
		return tlLabel + float64(tlWidth-tlLabel-10)*float64(at.Sub(lo))/float64(hi.Sub(lo))
	}
	alice := tl.Rows[0].Bars[0]
	if alice.Kind != "grant" || alice.X != x(now.Add(-4*time.Hour)) || alice.X+alice.W != x(now.Add(-2*time.Hour)) {
		t.Fatalf("alice's ended grant ends when it ended, not when it was due: %+v (want %v to %v)", alice, x(now.Add(-4*time.Hour)), x(now.Add(-2*time.Hour)))
	}
	carol := tl.Rows[1].Bars[0]
	if carol.Kind != "breakglass" || !carol.Open || !strings.Contains(carol.Label, "break-glass grant") {
		t.Fatalf("carol's break-glass: %+v", carol)
	}
	if m := tl.Rows[2].Bars[0]; m.Kind != "drift" || !strings.Contains(m.Label, "nobody granted") {
		t.Fatalf("drift: %+v", m)
	}
	if tl.Now != x(now) || len(tl.Ticks) == 0 || len(tl.Bars) != 3 {
		t.Fatalf("now at %v (want %v), %d ticks, %d bars", tl.Now, x(now), len(tl.Ticks), len(tl.Bars))
	}
	if empty := layout("nothing", nil, now); !empty.Empty {
		t.Fatal("no spans, yet something to draw")
	}
}
