package policy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/jitd/jitd/connectors"
)

// RiskConfig names an HTTP risk-score source: jitd asks
// GET URL?user=LOGIN&directory=DIR and reads {"score": 0.0 … 1.0}, the
// request's context.risk. A source that fails or answers nonsense gives
// OnError instead (default 1.0, the highest risk), so risk-based
// auto-approval never fires on a guess.
type RiskConfig struct {
	URL       string        `yaml:"url"`
	TokenFile string        `yaml:"token_file"` // optional bearer token
	TokenEnv  string        `yaml:"token_env"`
	Timeout   time.Duration `yaml:"timeout"` // default 2s
	OnError   *float64      `yaml:"on_error"`
}

func (c RiskConfig) token() connectors.Secret {
	return connectors.Secret{Key: "token", File: c.TokenFile, Env: c.TokenEnv, What: "the risk source's token"}
}

// Validate returns every problem, each prefixed with its key.
func (c RiskConfig) Validate() error {
	var errs []error
	u, err := url.Parse(c.URL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && (u.Hostname() == "127.0.0.1" || u.Hostname() == "::1" || u.Hostname() == "localhost"))) {
		errs = append(errs, fmt.Errorf("url: must be an https URL (got %q)", c.URL))
	}
	if c.token().Set() {
		if err := c.token().Check(); err != nil {
			errs = append(errs, err)
		}
	}
	if c.Timeout < 0 || c.Timeout > time.Minute {
		errs = append(errs, fmt.Errorf("timeout: must be between 0 (default 2s) and 1m"))
	}
	if c.OnError != nil && (*c.OnError < 0 || *c.OnError > 1) {
		errs = append(errs, fmt.Errorf("on_error: must be between 0 and 1"))
	}
	return errors.Join(errs...)
}

// HTTPRisk asks an HTTP service for risk scores.
type HTTPRisk struct {
	cfg     RiskConfig
	token   string
	onError float64
	http    *http.Client
}

// NewHTTPRisk returns a risk source for a validated config.
func NewHTTPRisk(cfg RiskConfig, hc *http.Client) (*HTTPRisk, error) {
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Second
	}
	if hc == nil {
		hc = &http.Client{}
	}
	r := &HTTPRisk{cfg: cfg, onError: 1, http: hc}
	if cfg.OnError != nil {
		r.onError = *cfg.OnError
	}
	if cfg.token().Set() {
		tok, err := cfg.token().Read()
		if err != nil {
			return nil, fmt.Errorf("policy: risk: %w", err)
		}
		r.token = tok
	}
	return r, nil
}

// Score returns login's risk in [0, 1]. When the source fails it returns
// the configured fallback together with the error, for the caller to log
// and record.
func (r *HTTPRisk) Score(ctx context.Context, directory, login string) (float64, error) {
	s, err := r.score(ctx, directory, login)
	if err != nil {
		return r.onError, fmt.Errorf("policy: risk source: %w (using %.2f)", err, r.onError)
	}
	return s, nil
}

func (r *HTTPRisk) score(ctx context.Context, directory, login string) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	u, _ := url.Parse(r.cfg.URL)
	q := u.Query()
	q.Set("user", login)
	q.Set("directory", directory)
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Accept", "application/json")
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	resp, err := r.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("status %s", resp.Status)
	}
	var body struct {
		Score *float64 `json:"score"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&body); err != nil {
		return 0, fmt.Errorf("answer: %w", err)
	}
	if body.Score == nil || *body.Score < 0 || *body.Score > 1 {
		return 0, errors.New(`answer: want {"score": 0.0 … 1.0}`)
	}
	return *body.Score, nil
}
