// Package web holds the small pieces jitd's HTTP handlers share (the API,
// SCIM and the portal): remembering the status a handler answered with,
// and telling a browser's same-origin request from another site's.
package web

import (
	"net/http"
	"net/url"
)

// StatusWriter remembers the status a handler answered with.
type StatusWriter struct {
	http.ResponseWriter
	Status int
}

func (s *StatusWriter) WriteHeader(code int) {
	if s.Status == 0 {
		s.Status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *StatusWriter) Write(b []byte) (int, error) {
	if s.Status == 0 {
		s.Status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (s *StatusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// SameOrigin reports whether a browser request comes from this server's own
// pages: Sec-Fetch-Site says so, or, from browsers without it, Origin names
// this host.
func SameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" {
		return site == "same-origin"
	}
	o, err := url.Parse(r.Header.Get("Origin"))
	return err == nil && o.Host != "" && o.Host == r.Host
}
