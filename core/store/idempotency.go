package store

import "time"

// Idempotent is the recorded outcome of a create call made with an
// Idempotency-Key. Status 0 means the first call has not finished.
type Idempotent struct {
	Principal   string
	Key         string
	Fingerprint string // a hash of the method, path and body
	Status      int
	ContentType string
	Body        []byte
	CreatedAt   time.Time
}

// IdempotencyTx is the write transaction's part for idempotency keys.
type IdempotencyTx interface {
	// ClaimIdempotent records rec as started, unless the principal used the
	// key already: then it returns that record and true. Records created
	// before purgeBefore are removed first.
	ClaimIdempotent(rec Idempotent, purgeBefore time.Time) (Idempotent, bool, error)
	// FinishIdempotent stores the response of a claimed key.
	FinishIdempotent(principal, key string, status int, contentType string, body []byte) error
	// ReleaseIdempotent forgets a claimed key (the call failed in a way a
	// retry may fix).
	ReleaseIdempotent(principal, key string) error
}
