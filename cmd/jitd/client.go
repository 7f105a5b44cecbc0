package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jitd/jitd/core/api/apiclient"
)

func (g *globals) client() (*apiclient.Client, error) {
	token, err := g.resolveToken()
	if err != nil {
		return nil, err
	}
	if g.output != "table" && g.output != "json" {
		return nil, usageErr{fmt.Errorf("--output must be table or json (got %q)", g.output)}
	}
	return apiclient.New(g.addr, token, nil), nil
}

// resolveToken finds the API token, the first of: --token, --token-file,
// JITD_TOKEN, JITD_TOKEN_FILE (a flag on the command line beats the
// environment, so an exported admin token never silently wins over the
// file a command names), and last the sign-in jitd login kept for this
// daemon.
func (g *globals) resolveToken() (string, error) {
	readFile := func(path, from string) (string, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("token file (%s): %w", from, err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	switch {
	case g.token != "":
		return g.token, nil
	case g.tokenFile != "":
		return readFile(g.tokenFile, "--token-file")
	case os.Getenv("JITD_TOKEN") != "":
		return os.Getenv("JITD_TOKEN"), nil
	case os.Getenv("JITD_TOKEN_FILE") != "":
		return readFile(os.Getenv("JITD_TOKEN_FILE"), "JITD_TOKEN_FILE")
	}
	return signedIn(context.Background(), g.addr)
}

func (g *globals) json() bool { return g.output == "json" }

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func table(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0) }

// left describes the time until t, for people.
func left(now, t time.Time) string {
	d := t.Sub(now)
	switch {
	case d <= 0:
		return "-"
	case d < time.Minute:
		return d.Round(time.Second).String()
	case d < 48*time.Hour:
		return d.Round(time.Minute).String()
	}
	return fmt.Sprintf("%dd%dh", int(d.Hours())/24, int(d.Hours())%24)
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}
