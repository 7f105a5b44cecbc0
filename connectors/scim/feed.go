package scim

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"time"

	"github.com/jitd/jitd/connectors"
)

// The change feed reads what meta.lastModified says changed since the
// cursor, with an overlap for clocks and second-granular timestamps. A SCIM
// application cannot say what it deleted: the cursor expires every
// full_sync_every, and the full read that follows catches deletions.

// Changes reports users and groups changed since cur.
func (c *Conn) Changes(ctx context.Context, cur string, fn func(connectors.Change) error) (string, error) {
	start := time.Now()
	snapshot := cur == ""
	in, err := connectors.ParsePollCursor("scim", cur, start)
	if err != nil {
		return "", err
	}
	var newest time.Time
	q := func() url.Values {
		if snapshot {
			return url.Values{}
		}
		return url.Values{"filter": {"meta.lastModified gt " + jsonString(in.Since.UTC().Format(time.RFC3339))}}
	}
	err = list(ctx, c, "/Users", q(), func(u user) error {
		if u.Meta.LastModified.After(newest) {
			newest = u.Meta.LastModified
		}
		cu := u.public()
		return fn(connectors.Change{Op: connectors.Upsert, User: &cu})
	})
	if err != nil {
		return "", fmt.Errorf("%w (with change_feed: true the application must filter on meta.lastModified)", err)
	}
	err = list(ctx, c, "/Groups", q(), func(g group) error {
		if g.Meta.LastModified.After(newest) {
			newest = g.Meta.LastModified
		}
		refs := make([]string, 0, len(g.Members))
		for _, m := range g.Members {
			refs = append(refs, m.Value)
		}
		return fn(connectors.Change{Op: connectors.Upsert, Group: &connectors.Group{ID: g.ID, Name: g.DisplayName}, MemberRefs: refs})
	})
	if err != nil {
		return "", err
	}
	return in.Next(snapshot, start, newest, c.cfg.FullSyncEvery, time.Since(start)+2*time.Second).String(), nil
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
