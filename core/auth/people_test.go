package auth_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jitd/jitd/connectors"
	"github.com/jitd/jitd/core/auth"
	"github.com/jitd/jitd/core/store"
	"github.com/jitd/jitd/core/store/sqlite"
)

// Nobody signs in before the first full sync of their directory is done:
// a mirror read halfway could give too small a role, or none.
func TestPerson_WaitsForTheFirstFullSync(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "jitd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	pp := auth.NewPeople(st, "corp", auth.RoleGroups{Admin: []string{"admins"}})
	err = st.Update(ctx, func(tx store.Tx) error {
		return tx.UpsertMirrorUser("corp", connectors.User{ID: "u1", Login: "erin", Enabled: true}, 1)
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pp.Person(ctx, "erin", false); !errors.Is(err, auth.ErrUnauthenticated) || !strings.Contains(err.Error(), "still reading directory corp") {
		t.Fatalf("before the first full sync: %v", err)
	}
	if err := st.Update(ctx, func(tx store.Tx) error { return tx.PutSyncState(store.SyncState{Directory: "corp", FullSyncs: 1}) }); err != nil {
		t.Fatal(err)
	}
	if p, err := pp.Person(ctx, "erin", false); err != nil || p.Role != auth.RoleRequester {
		t.Fatalf("after it: %+v %v", p, err)
	}
}
