package request

import (
	"context"
	"fmt"

	"github.com/jitd/jitd/core/store"
)

// Resume finishes requests whose last approval was recorded but whose grant
// or account was not, because jitd stopped in between: they are approved
// now, by whoever gave that approval. Call it on start, before the expiry
// loop, which would otherwise let them lapse.
func (m *Manager) Resume(ctx context.Context) error {
	pending, err := m.store.Requests(ctx, store.RequestFilter{States: []store.RequestState{store.RequestPending}})
	if err != nil {
		return fmt.Errorf("request: resume: %w", err)
	}
	for _, r := range pending {
		if len(r.Steps) == 0 || r.Step < len(r.Steps) {
			continue
		}
		as, err := m.store.Approvals(ctx, r.ID)
		if err != nil {
			return fmt.Errorf("request: resume %s: %w", r.ID, err)
		}
		by := "jitd"
		if len(as) > 0 {
			by = as[len(as)-1].Approver
		}
		if _, err := m.approve(ctx, r, by, nil); err != nil {
			// Recorded on the request (failed) or retried at the next start.
			m.log.Error("request: resume failed", "request_id", r.ID, "err", err)
			continue
		}
		m.log.Info("request: finished after a restart", "request_id", r.ID)
	}
	return nil
}
