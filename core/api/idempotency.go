package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/jitd/jitd/core/auth"
	"github.com/jitd/jitd/core/store"
)

// Idempotency keys make create calls safe to retry: a caller that sends the
// same Idempotency-Key again gets the first response back instead of a second
// grant or request. Keys are per caller and remembered for a day.
const (
	idempotencyHeader = "Idempotency-Key"
	idempotencyTTL    = 24 * time.Hour
	// An unfinished first call older than this did not survive (the
	// daemon stopped meanwhile).
	idempotencyStale = 5 * time.Minute
)

// recorder keeps a copy of what a handler writes.
type recorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (r *recorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	r.body.Write(b)
	return r.ResponseWriter.Write(b)
}

// idempotent wraps a create handler: without the header it runs as is; with
// it, the first call runs and its response is stored, a retry with the same
// body gets that response (Idempotent-Replayed: true), and a retry with a
// different body is refused. redact, if set, strips secrets from the body
// before it is stored: a replay never shows them again.
func (s *Server) idempotent(h handlerFunc, redact func([]byte) []byte) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
		key := r.Header.Get(idempotencyHeader)
		if key == "" {
			return h(w, r, p)
		}
		if len(key) > 255 || !printable(key) {
			return &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: idempotencyHeader + " must be 1 to 255 printable ASCII characters"}
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return &Error{Status: http.StatusRequestEntityTooLarge, Code: CodeTooLarge, Message: fmt.Sprintf("the request body is over %d bytes", maxBody)}
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		sum := sha256.New()
		fmt.Fprintf(sum, "%s %s\n", r.Method, r.URL.Path)
		sum.Write(body)
		now := s.clock.Now()
		rec := store.Idempotent{Principal: p.Name, Key: key, Fingerprint: hex.EncodeToString(sum.Sum(nil)), CreatedAt: now}
		var old store.Idempotent
		var seen bool
		if err := s.store.Update(r.Context(), func(tx store.Tx) error {
			old, seen, err = tx.ClaimIdempotent(rec, now.Add(-idempotencyTTL))
			return err
		}); err != nil {
			return err
		}
		if seen {
			switch {
			case old.Fingerprint != rec.Fingerprint:
				return &Error{Status: http.StatusUnprocessableEntity, Code: CodeInvalid, Message: "this Idempotency-Key was used for a different request; use a new key for a new request"}
			case old.Status == 0 && now.Sub(old.CreatedAt) < idempotencyStale:
				return &Error{Status: http.StatusConflict, Code: CodeConflict, Message: "the first request with this Idempotency-Key is still running; retry in a moment", RetryAfter: 1}
			case old.Status == 0:
				return &Error{Status: http.StatusConflict, Code: CodeConflict, Message: "the first request with this Idempotency-Key never finished (the daemon stopped meanwhile); check whether it took effect, then retry with a new key"}
			}
			w.Header().Set("Content-Type", old.ContentType)
			w.Header().Set("Idempotent-Replayed", "true")
			w.WriteHeader(old.Status)
			w.Write(old.Body)
			return nil
		}
		rw := &recorder{ResponseWriter: w}
		herr := h(rw, r, p)
		if herr != nil {
			s.fail(rw, r, herr)
		}
		// The response is sent; remember it even if the caller went away.
		ctx := context.WithoutCancel(r.Context())
		if err := s.store.Update(ctx, func(tx store.Tx) error {
			if rw.status >= 500 {
				return tx.ReleaseIdempotent(p.Name, key)
			}
			body := rw.body.Bytes()
			if redact != nil && rw.status < 300 {
				body = redact(body)
			}
			return tx.FinishIdempotent(p.Name, key, rw.status, rw.Header().Get("Content-Type"), body)
		}); err != nil {
			s.log.Error("api: record idempotent response", "key", key, "err", err)
		}
		return nil
	}
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
