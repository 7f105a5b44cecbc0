package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jitd/jitd/core/account"
	"github.com/jitd/jitd/core/config"
	"github.com/jitd/jitd/core/grant"
	"github.com/jitd/jitd/core/invite"
	"github.com/jitd/jitd/core/request"
)

// maxBody bounds every request body.
const maxBody = 1 << 20

// sentinels maps the core packages' errors to responses. A fixed message
// replaces the error's text (not-found answers never echo what was asked).
var sentinels = []struct {
	err     error
	status  int
	code    string
	message string
}{
	{grant.ErrInvalid, http.StatusBadRequest, CodeInvalid, ""},
	{grant.ErrNotFound, http.StatusNotFound, CodeNotFound, "no such grant"},
	{grant.ErrConflict, http.StatusConflict, CodeConflict, ""},
	{grant.ErrDirectory, http.StatusBadGateway, CodeDirectory, ""},
	{account.ErrInvalid, http.StatusBadRequest, CodeInvalid, ""},
	{account.ErrNotFound, http.StatusNotFound, CodeNotFound, "no such account"},
	{account.ErrConflict, http.StatusConflict, CodeConflict, ""},
	{account.ErrDirectory, http.StatusBadGateway, CodeDirectory, ""},
	{request.ErrInvalid, http.StatusBadRequest, CodeInvalid, ""},
	{request.ErrNotFound, http.StatusNotFound, CodeNotFound, "no such request"},
	{request.ErrForbidden, http.StatusForbidden, CodeForbidden, ""},
	{request.ErrConflict, http.StatusConflict, CodeConflict, ""},
	{invite.ErrInvalid, http.StatusBadRequest, CodeInvalid, ""},
	{invite.ErrNotFound, http.StatusNotFound, CodeNotFound, ""},
	{invite.ErrGone, http.StatusGone, CodeGone, ""},
}

// fail maps an error to a response; unexpected errors are logged, not shown.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var apiErr *Error
	if !errors.As(err, &apiErr) {
		for _, m := range sentinels {
			if errors.Is(err, m.err) {
				msg := m.message
				if msg == "" {
					msg = strings.TrimPrefix(err.Error(), m.err.Error()+": ")
				}
				apiErr = &Error{Status: m.status, Code: m.code, Message: msg}
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
	d, err := config.ParseDuration(s)
	if err != nil {
		return 0, &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: "for: " + err.Error()}
	}
	if d == 0 {
		return 0, &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: "for: duration must be positive"}
	}
	return d, nil
}
