package connectors

import (
	"fmt"
	"os"
	"strings"
)

// Secret says where a connector's secret lives: a file or an environment
// variable named in the config, never the config itself. Key is the YAML key
// without its _file/_env suffix (bind_password, api_token).
type Secret struct {
	Key  string
	File string
	Env  string
	// What names the secret in messages ("a bind password"); Hint follows
	// the "is required" message.
	What, Hint string
}

// Set reports whether a file or a variable is named.
func (s Secret) Set() bool { return s.File != "" || s.Env != "" }

// Check returns every problem with the source as "key: problem" lines, for a
// config's Validate.
func (s Secret) Check() error {
	switch {
	case !s.Set():
		return fmt.Errorf("%s_file: %s is required: set %s_file or %s_env%s", s.Key, s.What, s.Key, s.Key, s.Hint)
	case s.File != "" && s.Env != "":
		return fmt.Errorf("%s_env: set %s_file or %s_env, not both", s.Key, s.Key, s.Key)
	case s.File != "":
		if _, err := os.Stat(s.File); err != nil {
			return fmt.Errorf("%s_file: %v", s.Key, err)
		}
	case os.Getenv(s.Env) == "":
		return fmt.Errorf("%s_env: environment variable %s is not set", s.Key, s.Env)
	}
	return nil
}

// Read returns the secret, without a trailing line ending. Errors wrap ErrInvalid.
func (s Secret) Read() (string, error) {
	if s.File != "" {
		b, err := os.ReadFile(s.File)
		if err != nil {
			return "", fmt.Errorf("%s_file: %w: %v", s.Key, ErrInvalid, err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	if v := os.Getenv(s.Env); v != "" {
		return v, nil
	}
	return "", fmt.Errorf("%s_env: %s is empty: %w", s.Key, s.Env, ErrInvalid)
}
