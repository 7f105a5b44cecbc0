package demo_test

import (
	"path/filepath"
	"testing"

	"github.com/jitd/jitd/connectors/connectortest"
	"github.com/jitd/jitd/connectors/demo"
)

// NewFixture makes a demo directory from the shipped demo data.
func newFixture(t *testing.T) connectortest.Fixture {
	c, err := demo.New(demo.Config{File: filepath.Join(t.TempDir(), "dir.json"), Seed: "../../fixtures/demo/directory.json"})
	if err != nil {
		t.Fatal(err)
	}
	return connectortest.Fixture{Conn: c, Users: []string{"alice", "bob", "carol"}, Group: "prod-db-admins"}
}

func TestConformance(t *testing.T) { connectortest.Run(t, newFixture) }

func TestChangesSurviveReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dir.json")
	c, err := demo.New(demo.Config{File: path, Seed: "../../fixtures/demo/directory.json"})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := c.LookupUser(t.Context(), "alice")
	g, _ := c.LookupGroup(t.Context(), "prod-db-admins")
	c.AddMembers(t.Context(), g.ID, []string{u.ID})
	c3, err := demo.New(demo.Config{File: path})
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := c3.IsMember(t.Context(), g.ID, u.ID); !ok {
		t.Fatal("membership lost across reopen")
	}
}
