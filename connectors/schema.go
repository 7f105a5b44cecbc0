package connectors

import "context"

// CapSchema is the capability of SchemaChecker.
const CapSchema Capability = "schema"

// SchemaChecker checks a directory's schema against what jitd will write
// there, so that a misconfiguration is caught at start (and by jitd config
// check --online) rather than by the first write that needs it.
type SchemaChecker interface {
	// CheckSchema returns one problem per attribute jitd will write that
	// the directory's schema does not define: those the connector's own
	// settings name, and writes, which map a setting of the caller (such
	// as scim.user_attributes.title) to the attribute it writes. Each
	// problem names the setting to change and, where one is known, what to
	// load into the directory instead.
	CheckSchema(ctx context.Context, writes map[string]string) ([]string, error)
}

// AsSchemaChecker returns c as a SchemaChecker when it has that capability.
func AsSchemaChecker(c Connector) (SchemaChecker, bool) {
	s, ok := c.(SchemaChecker)
	return s, ok && Has(c, CapSchema)
}
