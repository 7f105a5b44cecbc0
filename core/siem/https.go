package siem

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/jitd/jitd/core/audit"
)

// httpsSink posts batches of events, as JSON lines, to a collector. A
// batch is the collector's once it answers 2xx; anything else (or no
// answer) leaves the cursor where it is and the batch is sent again.
// X-Jitd-Batch names the first and last sequence numbers, so a collector
// can drop a batch it has already taken.
type httpsSink struct {
	cfg    SinkConfig
	client *http.Client
	err    error // a TLS setting that cannot be used
}

func newHTTPSSink(c SinkConfig) *httpsSink {
	if c.BatchSize == 0 {
		c.BatchSize = 500
	}
	s := &httpsSink{cfg: c}
	host := ""
	if u, err := url.Parse(c.URL); err == nil {
		host = u.Hostname()
	}
	tc, err := tlsConfig(c, host)
	if err != nil {
		s.err = err
		return s
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	tr.Proxy = http.ProxyFromEnvironment
	s.client = &http.Client{Transport: tr, Timeout: ioTimeout,
		// A redirect would carry the audit log (and the token) elsewhere.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return s
}

func (s *httpsSink) write(ctx context.Context, evs []audit.Event) error {
	if s.err != nil {
		return s.err
	}
	var token string
	if s.cfg.token().Set() {
		t, err := s.cfg.token().Read()
		if err != nil {
			return err
		}
		token = t
	}
	for len(evs) > 0 {
		n := min(len(evs), s.cfg.BatchSize)
		if err := s.post(ctx, evs[:n], token); err != nil {
			return err
		}
		evs = evs[n:]
	}
	return nil
}

func (s *httpsSink) post(ctx context.Context, evs []audit.Event, token string) error {
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	for _, e := range evs {
		if err := enc.Encode(e); err != nil {
			return err
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.URL, &body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	req.Header.Set("User-Agent", "jitd-siem")
	req.Header.Set("X-Jitd-Batch", fmt.Sprintf("%d-%d", evs[0].Seq, evs[len(evs)-1].Seq))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		return nil
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	return fmt.Errorf("the collector answered %s: %s", resp.Status, bytes.TrimSpace(msg))
}
