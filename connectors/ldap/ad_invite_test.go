package ldap_test

import (
	"context"
	"testing"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/jitd/jitd/core/clock"
	"github.com/jitd/jitd/core/policy"
	"github.com/jitd/jitd/fixtures/pipeline"
	"github.com/jitd/jitd/fixtures/samba"
)

// A contractor onboards into Samba AD through an invite, with the directory
// behind the plugin as in the daemon: the sponsor approves, the account signs
// in with the password the link hands out and is in its group; at the
// contract's end it can no longer sign in and the membership is gone.
func TestAD_ContractorOnboardingThroughAnInvite(t *testing.T) {
	cfg := adConfig(t)
	resetDC(t)
	ctx := context.Background()
	conn := throughPlugin(t, "corp-ad", cfg, clock.Real{})
	pol, err := policy.Compile([]policy.Rule{{Name: "contractors", Match: `context.onboarding`}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	o := pipeline.New(t, "corp-ad", conn, "payments-release").Onboarding(pol)
	r, login, pw := o.Contractor("bob", "Zoë", "Ray", "payments-release")
	if login != "c-zoe.ray" {
		t.Fatalf("login %q", login)
	}
	dn := "CN=" + login + "," + samba.ContractorsOU
	bind := func() error {
		l, err := goldap.DialURL(dc.LDAPSURL, goldap.DialWithTLSConfig(dc.TLSConfig()))
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Bind(dn, pw)
	}
	if err := bind(); err != nil {
		t.Fatalf("the contractor cannot sign in: %v", err)
	}
	u, _ := conn.LookupUser(ctx, login)
	g, _ := conn.LookupGroup(ctx, "payments-release")
	if in, err := conn.IsMember(ctx, g.ID, u.ID); err != nil || !in {
		t.Fatalf("not in payments-release: %v %v", in, err)
	}
	o.End(r)
	if err := bind(); err == nil {
		t.Fatal("the account still signs in after the contract's end")
	}
	if in, err := conn.IsMember(ctx, g.ID, u.ID); err != nil || in {
		t.Fatalf("still in payments-release after the end: %v %v", in, err)
	}
}
