package ldap

import "context"

// UsersByDN is the one search that translates manager DNs, without the
// per-DN reads that follow it for DNs it did not find: tests check that
// each flavour's directory answers it.
func (c *Conn) UsersByDN(ctx context.Context, dns []string) (map[string]string, error) {
	return c.usersByDN(ctx, dns)
}

// CommonBase is commonBase, for its table test.
var CommonBase = commonBase
