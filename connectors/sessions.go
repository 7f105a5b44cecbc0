package connectors

import "context"

// CapSessions is the capability of SessionEnder.
const CapSessions Capability = "sessions"

// SessionEnder ends a user's sign-in sessions in the directory (Okta's
// sessions, Entra's refresh tokens), so that a membership taken away is
// not still used through a session issued before. Ending the sessions of a
// user who has none is success.
type SessionEnder interface {
	EndSessions(ctx context.Context, userID string) error
}

// AsSessionEnder returns c as a SessionEnder when it has that capability.
func AsSessionEnder(c Connector) (SessionEnder, bool) {
	s, ok := c.(SessionEnder)
	return s, ok && Has(c, CapSessions)
}
