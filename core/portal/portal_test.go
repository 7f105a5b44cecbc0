package portal

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Served over TLS, every page tells browsers to come back only over TLS;
// over plain HTTP (loopback) it does not. Every page forbids framing and
// script; a form from another site is refused before anything runs.
func TestPortal_HeadersAndForeignForms(t *testing.T) {
	for _, tls := range []bool{false, true} {
		p := New(Deps{TLS: tls, Log: slog.New(slog.DiscardHandler)})
		rec := httptest.NewRecorder()
		p.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/ui/signin", nil))
		h := rec.Header()
		if got := h.Get("Strict-Transport-Security"); (got != "") != tls {
			t.Errorf("TLS %v: Strict-Transport-Security %q", tls, got)
		}
		csp := h.Get("Content-Security-Policy")
		if !strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "script-src") || !strings.HasPrefix(csp, "default-src 'none'") {
			t.Errorf("CSP %q", csp)
		}
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "Browser sign-in is not configured") {
			t.Errorf("the sign-in page with no way to sign in: %d\n%s", rec.Code, rec.Body)
		}
	}
	p := New(Deps{Log: slog.New(slog.DiscardHandler)})
	req := httptest.NewRequest(http.MethodPost, "/ui/request", strings.NewReader("target=demo/x"))
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	rec := httptest.NewRecorder()
	p.ServeHTTP(rec, req)
	if rec.Code != http.StatusForbidden {
		t.Errorf("a cross-site form: %d", rec.Code)
	}
}
