// Package notify tells people what jitd did, out of the request path. The
// audit log is its source: a notifier reads the events after its cursor,
// turns each into deliveries (one per channel and recipient) and moves the
// cursor in the same transaction, so nothing is lost in a crash and nothing is
// routed twice. Deliveries are sent to Slack, email or a signed webhook and
// retried with backoff; a channel that is down never delays a grant or a
// revocation, which only ever wrote their audit rows.
package notify

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/jitd/jitd/connectors"
)

// Event is a kind of notification.
type Event string

// Events.
const (
	RequestCreated       Event = "request.created"
	NeedsApproval        Event = "request.needs_approval"
	RequestApproved      Event = "request.approved"
	RequestDenied        Event = "request.denied"
	RequestExpired       Event = "request.expired"
	GrantActive          Event = "grant.active"
	GrantExpiring        Event = "grant.expiring" // ahead of the end, with an extend link
	GrantRevoked         Event = "grant.revoked"
	RevokeFailed         Event = "grant.revoke_failed"
	BreakGlass           Event = "breakglass.used"
	ReviewClosed         Event = "review.closed"
	Drift                Event = "drift.found"
	AccountDisableFailed Event = "account.disable_failed"
	Offboarded           Event = "user.offboarded"
	DirectoryDown        Event = "directory.unreachable"
	DirectoryBack        Event = "directory.answering"
	// AuditCheckpoint carries a signed checkpoint of the audit log, for a
	// channel to keep outside jitd's database. Channels receive it only
	// when they list it in events.
	AuditCheckpoint Event = "audit.checkpoint"
)

// optIn are the events a channel receives only when it lists them.
var optIn = map[Event]bool{AuditCheckpoint: true}

// Events lists every event, in the order people read about them.
var Events = []Event{RequestCreated, NeedsApproval, RequestApproved, RequestDenied, RequestExpired, GrantActive, GrantExpiring,
	GrantRevoked, RevokeFailed, BreakGlass, ReviewClosed, Drift, AccountDisableFailed, Offboarded, DirectoryDown, DirectoryBack, AuditCheckpoint}

// Channel kinds.
const (
	KindSlack    = "slack"     // an incoming webhook: one message per event to its channel
	KindSlackBot = "slack_bot" // a bot token: direct messages with Approve/Deny buttons
	KindEmail    = "email"     // SMTP with STARTTLS, to the people concerned
	KindWebhook  = "webhook"   // JSON, signed with HMAC-SHA256
)

// Config is the notify section of the configuration.
type Config struct {
	// BaseURL is how people reach this jitd (https://jitd.example.com):
	// links in messages start with it.
	BaseURL string `yaml:"base_url"`
	// LinkKeyFile holds the key that signs action links and Slack button
	// values; jitd creates it (mode 0600) under data_dir when unset.
	LinkKeyFile string `yaml:"link_key_file"`
	// ExpiringSoon are the lead times of the reminders before a grant ends
	// (default 24h and 1h).
	ExpiringSoon []time.Duration `yaml:"expiring_soon"`
	// MaxAge: a delivery still failing this long after its event is given
	// up (state dead, logged); default 24h.
	MaxAge   time.Duration   `yaml:"max_age"`
	Channels []ChannelConfig `yaml:"channels"`
}

// ChannelConfig is one place notifications go.
type ChannelConfig struct {
	Name string `yaml:"name"`
	Kind string `yaml:"kind"`
	// Events this channel receives (default: all).
	Events []Event `yaml:"events"`

	// slack: the incoming webhook's URL is a secret.
	WebhookURLFile string `yaml:"webhook_url_file"`
	WebhookURLEnv  string `yaml:"webhook_url_env"`

	// slack_bot: the bot token, the app's signing secret (to verify button
	// presses), and the channel for events that concern no one person.
	BotTokenFile      string `yaml:"bot_token_file"`
	BotTokenEnv       string `yaml:"bot_token_env"`
	SigningSecretFile string `yaml:"signing_secret_file"`
	SigningSecretEnv  string `yaml:"signing_secret_env"`
	Channel           string `yaml:"channel"`
	APIURL            string `yaml:"api_url"` // default https://slack.com/api

	// email.
	SMTP    SMTPConfig `yaml:"smtp"`
	From    string     `yaml:"from"`
	To      []string   `yaml:"to"` // for events that concern no one person
	Address string     `yaml:"address"`

	// webhook.
	URL        string `yaml:"url"`
	SecretFile string `yaml:"secret_file"`
	SecretEnv  string `yaml:"secret_env"`
}

// SMTPConfig is an SMTP relay. STARTTLS is required unless Insecure.
type SMTPConfig struct {
	Host         string `yaml:"host"`
	Port         int    `yaml:"port"`
	Username     string `yaml:"username"`
	PasswordFile string `yaml:"password_file"`
	PasswordEnv  string `yaml:"password_env"`
	CAFile       string `yaml:"ca_file"`
	Insecure     bool   `yaml:"insecure"`
}

func (c ChannelConfig) webhookURL() connectors.Secret {
	return connectors.Secret{Key: "webhook_url", File: c.WebhookURLFile, Env: c.WebhookURLEnv, What: "the Slack incoming webhook URL"}
}
func (c ChannelConfig) botToken() connectors.Secret {
	return connectors.Secret{Key: "bot_token", File: c.BotTokenFile, Env: c.BotTokenEnv, What: "the Slack bot token (xoxb-...)"}
}
func (c ChannelConfig) signingSecret() connectors.Secret {
	return connectors.Secret{Key: "signing_secret", File: c.SigningSecretFile, Env: c.SigningSecretEnv, What: "the Slack app's signing secret"}
}
func (c ChannelConfig) smtpPassword() connectors.Secret {
	return connectors.Secret{Key: "smtp.password", File: c.SMTP.PasswordFile, Env: c.SMTP.PasswordEnv, What: "the SMTP password"}
}
func (c ChannelConfig) webhookSecret() connectors.Secret {
	return connectors.Secret{Key: "secret", File: c.SecretFile, Env: c.SecretEnv, What: "the webhook signing secret"}
}

// Defaults fills in what the configuration left out.
func (c *Config) Defaults() {
	if c.ExpiringSoon == nil {
		c.ExpiringSoon = []time.Duration{24 * time.Hour, time.Hour}
	}
	if c.MaxAge == 0 {
		c.MaxAge = 24 * time.Hour
	}
}

// Validate returns every problem, each prefixed with its path under notify.
func (c Config) Validate() error {
	var errs []error
	bad := func(path, format string, args ...any) { errs = append(errs, fmt.Errorf(path+": "+format, args...)) }
	if c.BaseURL != "" {
		if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			bad("base_url", "must be an http(s) URL such as https://jitd.example.com (got %q)", c.BaseURL)
		}
	} else if len(c.Channels) > 0 {
		bad("base_url", "required with channels: links in messages start with it")
	}
	for i, d := range c.ExpiringSoon {
		if d <= 0 {
			bad(fmt.Sprintf("expiring_soon[%d]", i), "must be positive")
		}
	}
	if c.MaxAge < 0 {
		bad("max_age", "must not be negative")
	}
	names := map[string]bool{}
	for i, ch := range c.Channels {
		path := fmt.Sprintf("channels[%d]", i)
		switch {
		case strings.TrimSpace(ch.Name) == "":
			bad(path+".name", "required")
		case names[ch.Name]:
			bad(path+".name", "%q is used by another channel", ch.Name)
		}
		names[ch.Name] = true
		for j, e := range ch.Events {
			if !slices.Contains(Events, e) {
				bad(fmt.Sprintf("%s.events[%d]", path, j), "unknown event %q (one of %s)", e, joinEvents())
			}
		}
		secret := func(s connectors.Secret) {
			if err := s.Check(); err != nil {
				bad(path+"."+strings.SplitN(err.Error(), ": ", 2)[0], "%s", strings.SplitN(err.Error(), ": ", 2)[1])
			}
		}
		switch ch.Kind {
		case KindSlack:
			secret(ch.webhookURL())
		case KindSlackBot:
			secret(ch.botToken())
			secret(ch.signingSecret())
			if ch.APIURL != "" {
				if u, err := url.Parse(ch.APIURL); err != nil || u.Scheme != "https" && !loopbackURL(u) {
					bad(path+".api_url", "must be an https URL")
				}
			}
		case KindEmail:
			if ch.SMTP.Host == "" {
				bad(path+".smtp.host", "required")
			}
			if ch.SMTP.Port < 0 || ch.SMTP.Port > 65535 {
				bad(path+".smtp.port", "must be a port number (default 587)")
			}
			if ch.SMTP.Username != "" {
				secret(ch.smtpPassword())
			}
			if ch.From == "" {
				bad(path+".from", "required (the sender address)")
			}
			if ch.Address != "" && strings.Count(ch.Address, "{login}") != 1 {
				bad(path+".address", "must contain {login} once, e.g. {login}@corp.example (got %q)", ch.Address)
			}
			if ch.Address == "" && len(ch.To) == 0 {
				bad(path+".address", "set address (how a login becomes an email address, e.g. {login}@corp.example) or to")
			}
		case KindWebhook:
			if u, err := url.Parse(ch.URL); err != nil || u.Host == "" || (u.Scheme != "https" && !loopbackURL(u)) {
				bad(path+".url", "must be an https URL (got %q)", ch.URL)
			}
			secret(ch.webhookSecret())
		default:
			bad(path+".kind", "must be slack, slack_bot, email or webhook (got %q)", ch.Kind)
		}
	}
	return errors.Join(errs...)
}

func loopbackURL(u *url.URL) bool {
	h := u.Hostname()
	return u.Scheme == "http" && (h == "127.0.0.1" || h == "::1" || h == "localhost")
}

func joinEvents() string {
	var s []string
	for _, e := range Events {
		s = append(s, string(e))
	}
	return strings.Join(s, ", ")
}

// wants reports whether the channel receives e.
func (c ChannelConfig) wants(e Event) bool {
	return (len(c.Events) == 0 && !optIn[e]) || slices.Contains(c.Events, e)
}

// personal reports whether the channel reaches people one by one.
func (c ChannelConfig) personal() bool { return c.Kind == KindEmail || c.Kind == KindSlackBot }
