package portal

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/jitd/jitd/core/api"
	"github.com/jitd/jitd/core/store"
)

// The inbox says what a decider needs: the risk policy saw, a separation
// of duties conflict, what the requester holds now, the step.
func TestInbox_ShowsTheRequestersStanding(t *testing.T) {
	risk := 0.42
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	q := api.Request{ID: "r-1", Requester: "alice", Group: "prod-db-admins", Directory: "demo", Duration: "2h0m0s", Reason: "deploy", Ticket: "CHG-7",
		Steps: []store.ApprovalStep{{Any: 1, Users: []string{"bob"}}, {Any: 2, Groups: []string{"dba"}}}, Step: 1, Risk: &risk,
		Context: &api.RequestContext{Groups: []string{"staff"}, Live: []api.ContextLive{{ID: "g-1", Group: "payments-release", State: "active", ExpiresAt: now.Add(time.Hour)}},
			Separation: []string{"separation of duties (sox): alice already holds payments-release"}, Conflict: true}}
	var b bytes.Buffer
	if err := parsePages()["inbox"].ExecuteTemplate(&b, "layout.html", view{Title: "Waiting for you", Me: &api.Whoami{Name: "bob", Role: "approver"}, Now: now, Data: []api.Request{q}}); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, want := range []string{"alice asks for prod-db-admins", "<dd>2h</dd>", "CHG-7", "step 2 of 2", "<dd>0.42</dd>",
		"Separation of duties refuses this", "alice already holds payments-release", "payments-release (until 2026-12-05 13:00 UTC)", "<dd>staff</dd>"} {
		if !strings.Contains(page, want) {
			t.Errorf("the inbox lacks %q", want)
		}
	}
}

func TestDurationsReadAsPeopleSayThem(t *testing.T) {
	for in, want := range map[string]string{"2h0m0s": "2h", "1h30m0s": "1h30m", "45m0s": "45m", "1m30s": "1m30s"} {
		if got := short(in); got != want {
			t.Errorf("short(%q) = %q, want %q", in, got, want)
		}
	}
	for d, want := range map[time.Duration]string{-time.Second: "ended", 45 * time.Second: "45s", 90 * time.Minute: "1h 30m", 50 * time.Hour: "2d 2h"} {
		if got := left(d); got != want {
			t.Errorf("left(%v) = %q, want %q", d, got, want)
		}
	}
}
