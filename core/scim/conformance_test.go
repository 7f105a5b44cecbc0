package scim_test

import (
	"context"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/jitd/jitd/connectors"
	"github.com/jitd/jitd/connectors/connectortest"
	scimconn "github.com/jitd/jitd/connectors/scim"
	"github.com/jitd/jitd/core/scim"
)

// jitd's own SCIM connector, pointed at jitd's own SCIM server over slapd,
// passes the connector conformance suite: what one side sends, the other
// understands, through a real directory.
func TestOutboundConnectorConformsAgainstThisServer(t *testing.T) {
	connectortest.Run(t, func(t *testing.T) connectortest.Fixture {
		// userType carries the SCIM connector's mark on its accounts; it is
		// not mapped by default (on AD employeeType is often jitd's own
		// accounts marker, which provisioning may never write).
		e := newEnv(t, scim.Config{RequestsPerSecond: 10000, Burst: 10000, MaxInFlight: 64, UserAttributes: map[string]string{"userType": "employeeType"}})
		ctx := context.Background()
		for _, login := range []string{"alice", "ann", "bob"} {
			if _, err := e.conn.CreateEntry(ctx, connectors.EntrySpec{Kind: connectors.UserEntry, Name: login, Enabled: true,
				Attrs: map[string][]string{"givenName": {login}, "sn": {"Test"}}}); err != nil {
				t.Fatal(err)
			}
		}
		for _, g := range []string{"prod-db-admins", "everyone"} {
			if _, err := e.conn.CreateEntry(ctx, connectors.EntrySpec{Kind: connectors.GroupEntry, Name: g}); err != nil {
				t.Fatal(err)
			}
		}
		hs := httptest.NewTLSServer(e.handler)
		t.Cleanup(hs.Close)
		dir := t.TempDir()
		ca := filepath.Join(dir, "ca.pem")
		os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: hs.Certificate().Raw}), 0o600)
		tok := filepath.Join(dir, "token")
		os.WriteFile(tok, []byte("any-token-the-test-server-takes\n"), 0o600)
		c, err := scimconn.New(scimconn.Config{URL: hs.URL + "/scim/v2", TokenFile: tok, CAFile: ca, Accounts: true, ChangeFeed: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return connectortest.Fixture{Conn: c, Users: []string{"alice", "ann", "bob"}, Group: "prod-db-admins"}
	})
}

var _ http.Handler = (*scim.Server)(nil)
