package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/jitd/jitd/core/auth"
	"github.com/jitd/jitd/core/scim"
)

// scimPrefix is where SCIM is served. SCIM describes itself (its
// /ServiceProviderConfig, /Schemas and /ResourceTypes), so its routes are
// not in the OpenAPI document.
const scimPrefix = "/scim/v2"

// mountSCIM serves h under /scim/v2 to tokens of the scim role only; every
// other caller gets a SCIM error, as SCIM clients expect.
func (s *Server) mountSCIM(h *scim.Server) {
	serve := func(w http.ResponseWriter, r *http.Request) {
		p, err := s.authenticate(r)
		if err != nil {
			status, detail := http.StatusUnauthorized, "a bearer token of the scim role is required: jitd token create --name <client> --role scim"
			var apiErr *Error
			if errors.As(err, &apiErr) {
				status, detail = apiErr.Status, apiErr.Message
			} else if !errors.Is(err, auth.ErrUnauthenticated) {
				s.fail(w, r, err)
				return
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="jitd-scim"`)
			dropConn(w)
			scimError(w, status, detail)
			return
		}
		if !auth.Allowed(p.Role, auth.SCIMProvision) {
			scimError(w, http.StatusForbidden, "role "+p.Role+" may not use SCIM; SCIM needs a token of the scim role")
			return
		}
		ctx := scim.WithPrefix(scim.WithClient(r.Context(), strings.TrimPrefix(p.Name, auth.SystemPrefix)), scimPrefix)
		r2 := r.WithContext(ctx)
		r2.URL.Path = strings.TrimPrefix(r.URL.Path, scimPrefix)
		r2.URL.RawPath = ""
		h.ServeHTTP(w, r2)
	}
	s.mux.HandleFunc(scimPrefix+"/", serve)
	s.mux.HandleFunc(scimPrefix, serve)
}

func scimError(w http.ResponseWriter, status int, detail string) {
	w.Header().Set("Content-Type", "application/scim+json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:Error"}, "status": strconv.Itoa(status), "detail": detail})
}
