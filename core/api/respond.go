package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/jitd/jitd/core/conf"
	"github.com/jitd/jitd/core/fault"
)

// maxBody bounds every request body.
const maxBody = 1 << 20

// kinds maps the fault kinds to answers.
var kinds = []struct {
	kind   error
	status int
	code   string
}{
	{fault.ErrInvalid, http.StatusBadRequest, CodeInvalid},
	{fault.ErrNotFound, http.StatusNotFound, CodeNotFound},
	{fault.ErrForbidden, http.StatusForbidden, CodeForbidden},
	{fault.ErrConflict, http.StatusConflict, CodeConflict},
	{fault.ErrGone, http.StatusGone, CodeGone},
	{fault.ErrDirectory, http.StatusBadGateway, CodeDirectory},
}

// fail maps an error to a response; unexpected errors are logged, not shown.
// The outermost component sentinel decides the answer (the component that
// reported last knows best what the caller asked); its fixed answer, if it
// has one, replaces the error's text (not-found answers never echo what was
// asked).
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var apiErr *Error
	var sentinel *fault.Sentinel
	if !errors.As(err, &apiErr) && errors.As(err, &sentinel) {
		for _, k := range kinds {
			if sentinel.Kind() == k.kind {
				apiErr = &Error{Status: k.status, Code: k.code, Message: sentinel.Answer(err)}
				break
			}
		}
	}
	if apiErr == nil {
		s.log.Error("api: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		apiErr = &Error{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "internal error; see the daemon's log"}
	}
	writeErr(w, apiErr)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, e *Error) {
	p := *e
	p.Type, p.Title = "urn:jitd:problem:"+p.Code, problemTitles[p.Code]
	if p.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(p.RetryAfter))
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	json.NewEncoder(w).Encode(p)
}

func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return &Error{Status: http.StatusRequestEntityTooLarge, Code: CodeTooLarge, Message: fmt.Sprintf("the request body is over %d bytes", maxBody)}
		}
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: "invalid JSON body: " + err.Error()}
	}
	if dec.More() {
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: "invalid JSON body: more than one JSON value"}
	}
	return nil
}

func parseFor(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := conf.ParseDuration(s)
	if err != nil {
		return 0, &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: "for: " + err.Error()}
	}
	if d == 0 {
		return 0, &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: "for: duration must be positive"}
	}
	return d, nil
}
