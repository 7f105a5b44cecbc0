// Package fault is jitd's one set of domain errors: the kinds of failure
// every component reports (invalid input, not found, a state conflict, not
// allowed, gone, a directory call that failed) and the components' own
// sentinels of those kinds. A caller asks errors.Is(err, fault.ErrNotFound)
// whatever component failed; the API maps kinds, not components, to
// answers.
package fault

import "errors"

// The kinds.
var (
	ErrInvalid   = errors.New("invalid")
	ErrNotFound  = errors.New("not found")
	ErrConflict  = errors.New("state conflict")
	ErrForbidden = errors.New("not allowed")
	ErrGone      = errors.New("no longer available")
	// ErrDirectory: a directory call failed; what jitd recorded stands.
	ErrDirectory = errors.New("directory call failed")
)

// Sentinel is a component's own error of one kind, with its own text
// ("grant not found"). errors.Is matches it and its kind.
type Sentinel struct {
	kind   error
	text   string
	answer string
}

// New returns a sentinel of kind with text.
func New(kind error, text string) *Sentinel { return &Sentinel{kind: kind, text: text} }

// Answered returns s, answering people with answer alone instead of the
// details wrapped with it: a not-found that must not echo what was asked.
func (s *Sentinel) Answered(answer string) *Sentinel {
	s.answer = answer
	return s
}

func (s *Sentinel) Error() string { return s.text }

// Is matches s's kind (identity with s itself is errors.Is's own rule).
func (s *Sentinel) Is(target error) bool { return target == s.kind }

// Kind is the kind s is of.
func (s *Sentinel) Kind() error { return s.kind }

// Answer is what a person is told of err, which wraps s: the fixed answer
// if s has one, else err's text after s's own.
func (s *Sentinel) Answer(err error) string {
	if s.answer != "" {
		return s.answer
	}
	msg := err.Error()
	if len(msg) > len(s.text)+2 && msg[:len(s.text)+2] == s.text+": " {
		return msg[len(s.text)+2:]
	}
	return msg
}
