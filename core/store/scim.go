package store

import (
	"context"
)

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

// SCIM is the store's part for what jitd keeps of SCIM resources.
type SCIM interface {
	// SCIMResources returns what jitd keeps of each of ids that has anything.
	SCIMResources(ctx context.Context, directory, kind string, ids []string) (map[string]SCIMResource, error)
	// SCIMByExternalID returns the ids whose externalId is externalID.
	SCIMByExternalID(ctx context.Context, directory, kind, externalID string) ([]string, error)
}

// SCIMTx is the write transaction's part for what jitd keeps of SCIM resources.
type SCIMTx interface {
	// SetSCIMResource records what jitd keeps of a resource; with neither
	// externalId nor attributes, it forgets the resource.
	SetSCIMResource(r SCIMResource) error
}
