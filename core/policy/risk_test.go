package policy

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestHTTPRisk_ScoresAndFailsToTheHighestRisk(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer risk-token" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		if r.URL.Query().Get("directory") != "corp" {
			http.Error(w, "which directory?", http.StatusBadRequest)
			return
		}
		switch r.URL.Query().Get("user") {
		case "alice":
			fmt.Fprint(w, `{"score": 0.12}`)
		case "bob":
			fmt.Fprint(w, `{"score": 1.7}`)
		case "carol":
			fmt.Fprint(w, `{"risk": 0.1}`)
		case "dave":
			<-r.Context().Done() // never answers
		default:
			http.Error(w, "boom", http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	tok := filepath.Join(t.TempDir(), "tok")
	os.WriteFile(tok, []byte("risk-token\n"), 0o600)
	cfg := RiskConfig{URL: srv.URL + "/score", TokenFile: tok, Timeout: 100 * time.Millisecond}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	r, err := NewHTTPRisk(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if s, err := r.Score(ctx, "corp", "alice"); err != nil || s != 0.12 {
		t.Fatalf("alice: %v %v", s, err)
	}
	for user, says := range map[string]string{"bob": "0.0 … 1.0", "carol": "0.0 … 1.0", "dave": "deadline", "eve": "500"} {
		s, err := r.Score(ctx, "corp", user)
		if s != 1 || err == nil || !strings.Contains(err.Error(), says) {
			t.Errorf("%s: %v %v; want 1.0 and an error saying %q", user, s, err, says)
		}
	}
	low := 0.5
	cfg.OnError = &low
	r, _ = NewHTTPRisk(cfg, nil)
	if s, err := r.Score(ctx, "corp", "eve"); s != 0.5 || err == nil {
		t.Fatalf("on_error 0.5: %v %v", s, err)
	}
}

func TestRiskConfig_Validate(t *testing.T) {
	bad := 2.0
	err := RiskConfig{URL: "http://risk.example/score", TokenEnv: "JITD_NO_SUCH_VAR", Timeout: time.Hour, OnError: &bad}.Validate()
	for _, want := range []string{"url: must be an https URL", "token_env: environment variable JITD_NO_SUCH_VAR is not set", "timeout:", "on_error:"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v; want %q", err, want)
		}
	}
}
