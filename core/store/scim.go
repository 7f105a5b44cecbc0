package store

// SCIMResource is what jitd keeps of one of the directory's users or groups
// for SCIM clients because the directory cannot hold it: the client's own
// id for it (externalId) and the attributes the mapping does not place in
// the directory.
type SCIMResource struct {
	Directory  string
	Kind       string // user or group
	ID         string // the directory's id
	ExternalID string
	// Attrs is a JSON object of the attributes jitd keeps; "" for none.
	Attrs string
}
