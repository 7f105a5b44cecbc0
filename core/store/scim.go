package store

// SCIMExternal is what a SCIM client calls one of the directory's users or
// groups (its externalId).
type SCIMExternal struct {
	Directory  string
	Kind       string // user or group
	ID         string // the directory's id
	ExternalID string
}
