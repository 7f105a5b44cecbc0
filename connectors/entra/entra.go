// Package entra connects jitd to Microsoft Entra ID through Microsoft Graph
// (msgraph-sdk-go), as an app registration with application permissions and
// a client secret. It syncs users and security groups (delta queries), grants
// membership in assigned security groups (and refuses dynamic, on-premises
// synced and role-assignable groups, saying why), creates contractor
// accounts, and can back each grant with a time-bound PIM for Groups
// assignment. Nothing else in jitd imports the SDK: it is heavy to build.
package entra

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	azauth "github.com/microsoft/kiota-authentication-azure-go"
	khttp "github.com/microsoft/kiota-http-go"
	msgraphsdk "github.com/microsoftgraph/msgraph-sdk-go"
	msgraphgocore "github.com/microsoftgraph/msgraph-sdk-go-core"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"

	"github.com/jitd/jitd/connectors"
	"github.com/jitd/jitd/connectors/entra/entraconfig"
)

// Graph application permissions, named in errors that need them.
const (
	permRead       = "User.Read.All and GroupMember.Read.All (or Group.Read.All)"
	permMembership = "GroupMember.ReadWrite.All"
	permUsers      = "User.ReadWrite.All"
	permRevoke     = "User.RevokeSessions.All"
	permInvite     = "User.Invite.All"
	permPIM        = "PrivilegedAssignmentSchedule.ReadWrite.AzureADGroup"
)

// Config is an Entra ID directory's configuration.
type Config = entraconfig.Config

// AccountsConfig says how contractor accounts are made.
type AccountsConfig = entraconfig.AccountsConfig

// Marker is the employeeType of every account jitd creates.
const Marker = entraconfig.Marker

// Conn is an Entra ID tenant.
type Conn struct {
	cfg     Config
	graph   *msgraphsdk.GraphServiceClient
	adapter *msgraphsdk.GraphRequestAdapter
}

var (
	_ connectors.Connector         = (*Conn)(nil)
	_ connectors.Resolver          = (*Conn)(nil)
	_ connectors.Lister            = (*Conn)(nil)
	_ connectors.MembershipManager = (*Conn)(nil)
)

// New returns a connector for cfg. It does not call Graph until used; Check
// proves the credential and the permissions.
func New(cfg Config) (*Conn, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("entra: %w: %v", connectors.ErrInvalid, err)
	}
	cfg = cfg.WithDefaults()
	base := http.DefaultTransport.(*http.Transport).Clone()
	if cfg.CAFile != "" {
		pool, err := connectors.CAPool(cfg.CAFile, true)
		if err != nil {
			return nil, fmt.Errorf("entra: %w", err)
		}
		base.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	cred := &secretCredential{cfg: cfg, transport: &http.Client{Transport: base, Timeout: cfg.Timeout}}
	if _, err := cred.current(); err != nil {
		return nil, err
	}
	graphURL, _ := url.Parse(cfg.GraphURL)
	auth, err := azauth.NewAzureIdentityAuthenticationProviderWithScopesAndValidHosts(cred,
		[]string{strings.TrimRight(cfg.GraphURL, "/") + "/.default"}, []string{graphURL.Hostname()})
	if err != nil {
		return nil, fmt.Errorf("entra: %w: %v", connectors.ErrInvalid, err)
	}
	// Throttled requests are retried in place only while Retry-After is
	// short; a longer wait comes back as a 429 and becomes a rate limit the
	// expiry queue schedules around.
	retry := &khttp.RetryHandlerOptions{MaxRetries: 3, DelaySeconds: 1,
		ShouldRetry: func(spent time.Duration, _ int, _ *http.Request, resp *http.Response) bool {
			return spent+retryAfter(resp.Header.Get("Retry-After"), time.Second) <= cfg.MaxRetryWait
		}}
	kiota, err := khttp.GetDefaultMiddlewaresWithOptions(retry)
	if err != nil {
		return nil, fmt.Errorf("entra: %v", err)
	}
	opts := msgraphgocore.GraphClientOptions{GraphServiceVersion: "v1.0"}
	middlewares := append([]khttp.Middleware{msgraphgocore.NewGraphTelemetryHandler(&opts)}, kiota...)
	hc := &http.Client{
		Transport:     khttp.NewCustomTransportWithParentTransport(base, middlewares...),
		Timeout:       cfg.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	adapter, err := msgraphsdk.NewGraphRequestAdapterWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(auth, nil, nil, hc)
	if err != nil {
		return nil, fmt.Errorf("entra: %v", err)
	}
	adapter.SetBaseUrl(strings.TrimRight(cfg.GraphURL, "/") + "/v1.0")
	return &Conn{cfg: cfg, graph: msgraphsdk.NewGraphServiceClient(adapter), adapter: adapter}, nil
}

// retryAfter reads a Retry-After header (seconds or an HTTP date); def when absent.
func retryAfter(v string, def time.Duration) time.Duration {
	if v == "" {
		return def
	}
	if n, err := strconv.ParseFloat(v, 64); err == nil {
		return time.Duration(n * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return def
}

// Describe reports the kind and whether grants get a PIM backstop.
func (c *Conn) Describe() connectors.Description {
	return connectors.Description{Kind: "entra", NativeTTL: c.cfg.NativeTTL == "pim"}
}

// Capabilities lists what this tenant offers: accounts only when configured.
func (c *Conn) Capabilities() []connectors.Capability {
	caps := []connectors.Capability{connectors.CapChangeFeed, connectors.CapList, connectors.CapLookup, connectors.CapMembership, connectors.CapSessions}
	if c.cfg.Accounts != nil {
		caps = append(caps, connectors.CapAccounts)
	}
	return caps
}

// Close does nothing: Graph connections are pooled by net/http.
func (c *Conn) Close() error { return nil }

// Check gets a token and reads one user, which needs the read permissions.
func (c *Conn) Check(ctx context.Context) error {
	_, err := c.graph.Users().Get(ctx, listUsersConfig(1))
	return mapErr("check", permRead, err)
}

// secretCredential is the app's credential: a client secret or a
// certificate. Its file is read again when it changes, so a rotated secret
// or certificate takes effect without a restart.
type secretCredential struct {
	cfg       Config
	transport *http.Client
	mu        sync.Mutex
	secret    string
	cred      azcore.TokenCredential
}

func (s *secretCredential) current() (azcore.TokenCredential, error) {
	secret, err := s.cfg.Secret().Read()
	if err != nil {
		return nil, fmt.Errorf("entra: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cred != nil && secret == s.secret {
		return s.cred, nil
	}
	opts := azcore.ClientOptions{
		Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: strings.TrimRight(s.cfg.Authority, "/") + "/"},
		Transport: s.transport,
	}
	var cred azcore.TokenCredential
	if s.cfg.Certificate() {
		certs, key, perr := azidentity.ParseCertificates([]byte(secret), nil)
		if perr != nil {
			return nil, fmt.Errorf("entra: client_certificate: %w: it must hold the certificate and its unencrypted private key in PEM: %v", connectors.ErrInvalid, perr)
		}
		cred, err = azidentity.NewClientCertificateCredential(s.cfg.TenantID, s.cfg.ClientID, certs, key,
			&azidentity.ClientCertificateCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: true})
	} else {
		cred, err = azidentity.NewClientSecretCredential(s.cfg.TenantID, s.cfg.ClientID, secret,
			&azidentity.ClientSecretCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: true})
	}
	if err != nil {
		return nil, fmt.Errorf("entra: app credential: %w: %v", connectors.ErrInvalid, err)
	}
	s.secret, s.cred = secret, cred
	return cred, nil
}

// GetToken implements azcore.TokenCredential.
func (s *secretCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	cred, err := s.current()
	if err != nil {
		return azcore.AccessToken{}, err
	}
	return cred.GetToken(ctx, opts)
}

// mapErr wraps a Graph or identity error in the connector sentinel that says
// what to do; perm names the permission the operation needs.
func mapErr(op, perm string, err error) error {
	if err == nil {
		return nil
	}
	var rl *connectors.RateLimitError
	if errors.As(err, &rl) || errors.Is(err, connectors.ErrInvalid) || errors.Is(err, connectors.ErrPermission) {
		return fmt.Errorf("entra: %s: %w", op, err)
	}
	var authErr *azidentity.AuthenticationFailedError
	if errors.As(err, &authErr) {
		status := 0
		if authErr.RawResponse != nil {
			status = authErr.RawResponse.StatusCode
		}
		if status == http.StatusBadRequest || status == http.StatusUnauthorized {
			return fmt.Errorf("entra: %s: %w: the identity platform refused jitd's app credential (%v); check tenant_id, client_id and client_secret_file or client_certificate_file (an expired or deleted secret or certificate: add a new one under App registrations, Certificates & secrets)", op, connectors.ErrPermission, firstLine(err))
		}
		return fmt.Errorf("entra: %s: %w: %v", op, connectors.ErrUnavailable, firstLine(err))
	}
	var oe *odataerrors.ODataError
	if !errors.As(err, &oe) {
		return fmt.Errorf("entra: %s: %w: %v", op, connectors.ErrUnavailable, err)
	}
	code, msg := "", oe.Error()
	if main := oe.GetErrorEscaped(); main != nil {
		if main.GetCode() != nil {
			code = *main.GetCode()
		}
		if main.GetMessage() != nil {
			msg = *main.GetMessage()
		}
	}
	detail := strings.TrimSpace(code + " " + msg)
	switch status := oe.ResponseStatusCode; {
	case status == http.StatusUnauthorized:
		return fmt.Errorf("entra: %s: %w: Graph refused jitd's token (%s); check the app registration and its client secret", op, connectors.ErrPermission, detail)
	case status == http.StatusForbidden:
		return fmt.Errorf("entra: %s: %w: jitd's app lacks the Graph application permission %s (%s); grant it with admin consent under App registrations, API permissions", op, connectors.ErrPermission, perm, detail)
	case status == http.StatusNotFound:
		return fmt.Errorf("entra: %s: %w: %s", op, connectors.ErrNotFound, detail)
	case status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable || status == http.StatusGatewayTimeout:
		wait := time.Minute
		if oe.ResponseHeaders != nil {
			if v := oe.ResponseHeaders.Get("Retry-After"); len(v) > 0 {
				wait = retryAfter(v[0], time.Minute)
			} else if v := oe.ResponseHeaders.Get("retry-after"); len(v) > 0 {
				wait = retryAfter(v[0], time.Minute)
			}
		}
		return fmt.Errorf("entra: %s: %w", op, &connectors.RateLimitError{Wait: wait, Msg: "Graph throttled the request (" + detail + ")"})
	case status >= 400 && status < 500:
		return fmt.Errorf("entra: %s: %w: %s", op, connectors.ErrInvalid, detail)
	}
	return fmt.Errorf("entra: %s: %w: %s", op, connectors.ErrUnavailable, detail)
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}
