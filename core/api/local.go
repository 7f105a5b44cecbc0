package api

import (
	"bytes"
	"context"
	"io"
	"net/http"
)

// Local returns a transport that serves requests with this server in the
// same process, through the same authentication and authorisation as a
// call from outside: the portal's pages are clients of the API.
func (s *Server) Local() http.RoundTripper { return local{s} }

type local struct{ s *Server }

func (l local) RoundTrip(req *http.Request) (*http.Response, error) {
	outer := infoOf(req)
	inner := &reqInfo{}
	req = req.WithContext(context.WithValue(req.Context(), infoKey{}, inner))
	if req.Body == nil {
		req.Body = http.NoBody
	}
	rec := &buffered{header: http.Header{}, status: http.StatusOK}
	l.s.mux.ServeHTTP(rec, req)
	if outer.principal == "" {
		outer.principal = inner.principal
	}
	return &http.Response{StatusCode: rec.status, Status: http.StatusText(rec.status), Header: rec.header, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Body: io.NopCloser(&rec.body), ContentLength: int64(rec.body.Len()), Request: req}, nil
}

// buffered is a response written in memory.
type buffered struct {
	header http.Header
	status int
	wrote  bool
	body   bytes.Buffer
}

func (b *buffered) Header() http.Header { return b.header }

func (b *buffered) WriteHeader(status int) {
	if !b.wrote {
		b.status, b.wrote = status, true
	}
}

func (b *buffered) Write(p []byte) (int, error) {
	b.wrote = true
	return b.body.Write(p)
}
