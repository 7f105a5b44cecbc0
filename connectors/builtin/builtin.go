// Package builtin maps connector kinds to their configuration and constructor.
// It is the one registry of built-in kinds: config validation and the plugin
// child (`jitd connector serve <kind>`) both look kinds up here. The entra
// kind's constructor is supplied by the jitd binary (OpenWith), so that only
// the binary links the Microsoft Graph SDK.
package builtin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/jitd/jitd/connectors"
	"github.com/jitd/jitd/connectors/demo"
	"github.com/jitd/jitd/connectors/entra/entraconfig"
	"github.com/jitd/jitd/connectors/ldap"
	"github.com/jitd/jitd/connectors/okta"
	"github.com/jitd/jitd/connectors/scim"
)

// Kind is one built-in connector kind.
type Kind struct {
	// Decode decodes the kind's settings with decode (which must be strict)
	// and validates them, returning every problem.
	Decode func(decode func(any) error) (any, error)
	// Open builds a connector from settings encoded as JSON.
	Open func(directory string, settings []byte) (connectors.Connector, error)
	// EndsSessions says the kind can end a user's sessions (a group's
	// end_sessions is refused for the others).
	EndsSessions bool
}

// endsSessions marks a kind whose connectors end sessions.
func endsSessions(k Kind) Kind {
	k.EndsSessions = true
	return k
}

// Constructor builds a connector from a kind's validated configuration.
type Constructor[C any] func(directory string, cfg C) (connectors.Connector, error)

type validator interface{ Validate() error }

// KindOf makes a Kind from a configuration type and its constructor; open
// nil makes a kind whose connector is built elsewhere (see OpenWith).
func KindOf[C validator](open Constructor[C]) Kind {
	return Kind{
		Decode: func(decode func(any) error) (any, error) {
			var c C
			if err := decode(&c); err != nil {
				return nil, err
			}
			return c, c.Validate()
		},
		Open: func(directory string, settings []byte) (connectors.Connector, error) {
			var c C
			dec := json.NewDecoder(bytes.NewReader(settings))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&c); err != nil {
				return nil, fmt.Errorf("%s: settings: %w: %v", directory, connectors.ErrInvalid, err)
			}
			if err := c.Validate(); err != nil {
				return nil, fmt.Errorf("%s: settings: %w: %v", directory, connectors.ErrInvalid, err)
			}
			if open == nil {
				return nil, fmt.Errorf("%s: connector kind built into the jitd binary only: %w", directory, connectors.ErrInvalid)
			}
			return open(directory, c)
		},
	}
}

var kinds = map[string]Kind{
	"demo":  KindOf(func(_ string, c demo.Config) (connectors.Connector, error) { return demo.New(c) }),
	"ldap":  KindOf(func(_ string, c ldap.Config) (connectors.Connector, error) { return ldap.New(c) }),
	"okta":  endsSessions(KindOf(func(_ string, c okta.Config) (connectors.Connector, error) { return okta.New(c) })),
	"scim":  KindOf(func(_ string, c scim.Config) (connectors.Connector, error) { return scim.New(c) }),
	"entra": endsSessions(KindOf[entraconfig.Config](nil)),
}

// Lookup returns the kind called name.
func Lookup(name string) (Kind, bool) {
	k, ok := kinds[name]
	return k, ok
}

// Names lists the built-in kinds, sorted.
func Names() []string {
	var names []string
	for n := range kinds {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Open builds a connector of a built-in kind (the plugin child's entry point).
func Open(kindName, directory string, settings []byte) (connectors.Connector, error) {
	k, ok := kinds[kindName]
	if !ok {
		return nil, fmt.Errorf("unknown connector kind %q (built in: %v): %w", kindName, Names(), connectors.ErrInvalid)
	}
	return k.Open(directory, settings)
}

// OpenWith is Open with constructors for kinds whose connector is built
// outside this package (entra).
func OpenWith(extra map[string]Kind, kindName, directory string, settings []byte) (connectors.Connector, error) {
	if k, ok := extra[kindName]; ok {
		return k.Open(directory, settings)
	}
	return Open(kindName, directory, settings)
}
