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
