package scim

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/elimity-com/scim/errors"
)

// A directory refuses a write its schema does not allow in its own words
// ("object class 'inetOrgPerson' requires attribute 'sn'"). A SCIM client
// is told the same in SCIM's words, about the SCIM attribute the mapping
// puts there; the directory's answer goes to jitd's log under the request
// id the error carries.

// schemaRefusals read the directory attribute out of a refusal: OpenLDAP's
// and Samba's wording of a missing required attribute, an attribute the
// entry's object classes do not allow, an attribute the schema does not
// define, and a value of the wrong syntax.
var schemaRefusals = []struct {
	re   *regexp.Regexp
	says string // %s is the SCIM attribute
	typ  errors.ScimType
}{
	{regexp.MustCompile(`requires attribute '([A-Za-z0-9-]+)'|mandatory attribute \('([A-Za-z0-9-]+)'\)`), "%s is required by the directory and cannot be removed", errors.ScimTypeInvalidValue},
	{regexp.MustCompile(`attribute '([A-Za-z0-9-]+)' not allowed|[Aa]ttribute ([A-Za-z0-9-]+) (?:is )?not (?:allowed|in the schema of)`), "the directory's users cannot hold %s; ask jitd's administrators to map it elsewhere (scim.user_attributes)", errors.ScimTypeInvalidValue},
	{regexp.MustCompile(`([A-Za-z0-9-]+): attribute type undefined|[Aa]ttribute type ([A-Za-z0-9-]+) (?:is )?(?:undefined|not defined|unknown)`), "the directory does not know where to keep %s; ask jitd's administrators to check the mapping (jitd config check --online)", errors.ScimTypeInvalidValue},
	{regexp.MustCompile(`([A-Za-z0-9-]+): value #\d+ invalid per syntax`), "%s is not a value the directory accepts there (its syntax)", errors.ScimTypeInvalidValue},
}

// refusal turns a directory's refusal of a write into a SCIM error, when
// it names an attribute; ok is false otherwise.
func (s *Server) refusal(err error) (what string, typ errors.ScimType, ok bool) {
	msg := err.Error()
	for _, r := range schemaRefusals {
		m := r.re.FindStringSubmatch(msg)
		if m == nil {
			continue
		}
		attr := ""
		for _, g := range m[1:] {
			if g != "" {
				attr = g
			}
		}
		return fmt.Sprintf(r.says, s.mapping.pathFor(attr)), r.typ, true
	}
	return "", "", false
}

// pathFor names, in SCIM's words, what a directory attribute holds: the
// mapped SCIM attribute, or "an attribute jitd sets itself" for one the
// mapping does not place there (the enabled flag, the login, the name).
func (m mapping) pathFor(attr string) string {
	for _, f := range m.fields {
		if !strings.EqualFold(m.attrs[f.key], attr) {
			continue
		}
		p := f.attr
		switch {
		case f.typ != "":
			p = fmt.Sprintf("%s[type eq %q].value", f.attr, f.typ)
		case f.sub != "" && f.attr != "manager":
			p = f.attr + "." + f.sub
		}
		if f.container != "" {
			p = f.container + ":" + p
		}
		return p
	}
	return "an attribute jitd sets itself (userName, active or password)"
}
