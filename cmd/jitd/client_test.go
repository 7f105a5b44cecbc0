package main

import (
	"os"
	"path/filepath"
	"testing"
)

// A token named on the command line beats the environment: an exported
// admin token never silently wins over --token-file alice.tok.
func TestToken_FlagsBeatTheEnvironment(t *testing.T) {
	dir := t.TempDir()
	write := func(name, tok string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(tok+"\n"), 0o600)
		return p
	}
	alice, envFile := write("alice.tok", "jitd_alice"), write("env.tok", "jitd_envfile")
	for _, tc := range []struct {
		name               string
		flag, flagFile     string
		env, envFile, want string
	}{
		{name: "--token-file beats JITD_TOKEN", flagFile: alice, env: "jitd_admin", want: "jitd_alice"},
		{name: "--token beats everything", flag: "jitd_flag", flagFile: alice, env: "jitd_admin", envFile: envFile, want: "jitd_flag"},
		{name: "JITD_TOKEN beats JITD_TOKEN_FILE", env: "jitd_admin", envFile: envFile, want: "jitd_admin"},
		{name: "JITD_TOKEN_FILE alone", envFile: envFile, want: "jitd_envfile"},
		{name: "nothing", want: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("JITD_TOKEN", tc.env)
			t.Setenv("JITD_TOKEN_FILE", tc.envFile)
			root := newRoot()
			args := []string{"whoami"}
			if tc.flag != "" {
				args = append(args, "--token", tc.flag)
			}
			if tc.flagFile != "" {
				args = append(args, "--token-file", tc.flagFile)
			}
			if err := root.ParseFlags(args); err != nil {
				t.Fatal(err)
			}
			g := &globals{}
			g.token, _ = root.PersistentFlags().GetString("token")
			g.tokenFile, _ = root.PersistentFlags().GetString("token-file")
			got, err := g.resolveToken()
			if err != nil || got != tc.want {
				t.Fatalf("token = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
