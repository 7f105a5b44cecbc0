package api

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"net/http"
	"slices"
	"time"

	"github.com/jitd/jitd/core/auth"
	"github.com/jitd/jitd/core/policy"
	"github.com/jitd/jitd/core/report"
)

// Reports for auditors, as JSON, CSV or printable HTML (format=).

// reportFormat is the format= a report is asked in (default json).
func reportFormat(r *http.Request) (string, error) {
	format := r.URL.Query().Get("format")
	if format == "" {
		format = report.JSON
	}
	if err := report.CheckFormat(format); err != nil {
		return "", &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: err.Error()}
	}
	return format, nil
}

// reportParams are a report's period (from=, to=) and format.
func reportParams(r *http.Request) (report.Period, string, error) {
	format, err := reportFormat(r)
	if err != nil {
		return report.Period{}, "", err
	}
	p, err := reportPeriod(r)
	return p, format, err
}

// reportPeriod is the period from= to= of a report.
func reportPeriod(r *http.Request) (report.Period, error) {
	q := r.URL.Query()
	var p report.Period
	for _, f := range []struct {
		name string
		into *time.Time
	}{{"from", &p.From}, {"to", &p.To}} {
		t, err := time.Parse(time.RFC3339, q.Get(f.name))
		if err != nil {
			return p, &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: f.name + " must be RFC 3339, e.g. 2026-10-01T00:00:00Z"}
		}
		*f.into = t
	}
	if err := p.Validate(); err != nil {
		return p, &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: err.Error()}
	}
	return p, nil
}

func writeReport(w http.ResponseWriter, format string, body *bytes.Buffer) {
	w.Header().Set("Content-Type", report.ContentType(format))
	w.Header().Set("Cache-Control", "no-store")
	if format == report.HTML {
		w.Header().Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
	}
	w.WriteHeader(http.StatusOK)
	w.Write(body.Bytes())
}

func (s *Server) accessReport(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	p, format, err := reportParams(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	aq := report.AccessQuery{Directory: q.Get("directory"), Group: q.Get("group"), User: q.Get("user"), Period: p}
	if aq.Directory == "" {
		aq.Directory = s.defaultDirectory
	}
	if aq.Group == "" && aq.User == "" {
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: "name a group, a user, or both"}
	}
	noWriteDeadline(w)
	rows, err := report.AccessReport(r.Context(), s.store, aq, s.clock.Now())
	if err != nil {
		return err
	}
	title := "Access"
	if aq.Group != "" {
		title += " to " + aq.Group
	}
	if aq.User != "" {
		title += " of " + aq.User
	}
	title += " from " + p.From.UTC().Format(time.RFC3339) + " to " + p.To.UTC().Format(time.RFC3339)
	var b bytes.Buffer
	if err := report.WriteAccess(&b, format, title, rows); err != nil {
		return err
	}
	writeReport(w, format, &b)
	return nil
}

func (s *Server) latenessReport(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	p, format, err := reportParams(r)
	if err != nil {
		return err
	}
	noWriteDeadline(w)
	l, err := report.LatenessReport(r.Context(), s.store, p, s.clock.Now())
	if err != nil {
		return err
	}
	var b bytes.Buffer
	title := "Revocation lateness from " + p.From.UTC().Format(time.RFC3339) + " to " + p.To.UTC().Format(time.RFC3339)
	if err := report.WriteLateness(&b, format, title, l); err != nil {
		return err
	}
	writeReport(w, format, &b)
	return nil
}

func (s *Server) breakGlassReport(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	p, format, err := reportParams(r)
	if err != nil {
		return err
	}
	rows, err := report.BreakGlassReport(r.Context(), s.store, p)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	if err := report.WriteBreakGlass(&b, format, "Break-glass uses from "+p.From.UTC().Format(time.RFC3339)+" to "+p.To.UTC().Format(time.RFC3339), rows); err != nil {
		return err
	}
	writeReport(w, format, &b)
	return nil
}

func (s *Server) accountsPastEndReport(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	format, err := reportFormat(r)
	if err != nil {
		return err
	}
	now := s.clock.Now()
	rows, err := report.AccountsPastEndReport(r.Context(), s.store, now)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	if err := report.WriteAccountsPastEnd(&b, format, "Contractor accounts past their end at "+now.UTC().Format(time.RFC3339), rows); err != nil {
		return err
	}
	writeReport(w, format, &b)
	return nil
}

func (s *Server) conflictsReport(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	format, err := reportFormat(r)
	if err != nil {
		return err
	}
	scope := s.evidenceScope(report.Period{})
	var b bytes.Buffer
	if q := r.URL.Query(); q.Has("from") || q.Has("to") {
		// A period: every time someone held two groups of a set at once.
		p, _, err := reportParams(r)
		if err != nil {
			return err
		}
		noWriteDeadline(w)
		rows, err := report.PastConflictsReport(r.Context(), s.store, scope.Separations, scope.Directories, p, s.clock.Now())
		if err != nil {
			return err
		}
		title := "Separation-of-duties conflicts from " + p.From.UTC().Format(time.RFC3339) + " to " + p.To.UTC().Format(time.RFC3339)
		if err := report.WritePastConflicts(&b, format, title, rows); err != nil {
			return err
		}
		writeReport(w, format, &b)
		return nil
	}
	rows, err := report.ConflictsReport(r.Context(), s.store, scope.Separations, scope.Directories)
	if err != nil {
		return err
	}
	if err := report.WriteConflicts(&b, format, "Separation-of-duties conflicts at "+s.clock.Now().UTC().Format(time.RFC3339), rows); err != nil {
		return err
	}
	writeReport(w, format, &b)
	return nil
}

func (s *Server) auditKey(w http.ResponseWriter, _ *http.Request, _ auth.Principal) error {
	if s.auditKeys == nil {
		return &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: "this jitd has no audit keys"}
	}
	writeJSON(w, http.StatusOK, map[string]string{"public_key": hex.EncodeToString(s.auditKeys.Sign.Public().(ed25519.PublicKey))})
	return nil
}

// evidence exports the evidence bundle of a period: the reports, the audit
// segment they rest on, a signed checkpoint and a signed manifest.
func (s *Server) evidence(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	p, err := reportPeriod(r)
	if err != nil {
		return err
	}
	if s.auditKeys == nil {
		return &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: "this jitd has no audit keys to sign evidence with"}
	}
	scope := s.evidenceScope(p)
	noWriteDeadline(w)
	var b bytes.Buffer
	if _, err := report.ExportEvidence(r.Context(), s.store, *s.auditKeys, scope, s.clock.Now(), &b); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/gzip")
	w.Header().Set("Content-Disposition", `attachment; filename="jitd-evidence.tar.gz"`)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	w.Write(b.Bytes())
	return nil
}

// evidenceScope is what reports cover: every JIT-managed group, their
// directories, and the separation-of-duties sets of the policy in force.
func (s *Server) evidenceScope(p report.Period) report.EvidenceScope {
	scope := report.EvidenceScope{Period: p}
	for _, m := range s.grants.Managed() {
		scope.Groups = append(scope.Groups, [2]string{m.Directory, m.Group})
		if !slices.Contains(scope.Directories, m.Directory) {
			scope.Directories = append(scope.Directories, m.Directory)
		}
	}
	if pol := s.policyInForce(); pol != nil {
		scope.Separations = pol.Separations()
	}
	return scope
}

// policyInForce is the access-request policy as last loaded (reloads
// included); nil when requests are not served.
func (s *Server) policyInForce() *policy.Policy {
	if s.requests != nil {
		return s.requests.Policy()
	}
	return s.policy
}
