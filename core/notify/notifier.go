package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jitd/jitd/core/backoff"
	"github.com/jitd/jitd/core/clock"
	"github.com/jitd/jitd/core/store"
	"github.com/jitd/jitd/core/work"
)

// Store is the part of jitd's store the notifier uses.
type Store interface {
	store.Updater
	store.Requests
	store.Grants
	store.Mirror
	store.Notifications
	store.Audit
}

// Notifier routes audit events to deliveries and sends them.
type Notifier struct {
	// channels is the configuration and its senders; a reload replaces
	// them together.
	channels atomic.Pointer[channels]
	store    Store
	clock    clock.Clock
	log      *slog.Logger
	links    *Links
	http     *http.Client
	backoff  *backoff.Backoff
	wake     chan struct{}
	sent     *prometheus.CounterVec
	// slackSecrets verify the Slack bot channels' button presses.
	slackSecrets [][]byte
	// CanDecide, when set, drops people the step names whom the requests'
	// own rules keep from deciding (the reporting line); nil asks everyone
	// the step names.
	CanDecide func(ctx context.Context, r store.Request, approver string) error
}

// sender delivers one message on one channel.
type sender interface {
	send(ctx context.Context, m Message) error
}

// Message is one rendered delivery.
type Message struct {
	ID        int64 // the delivery's id, stable across retries
	Event     Event
	Recipient string // a login, or "" for the channel
	Title     string
	Text      string
	// Link opens the object in jitd; Actions are signed links (and Slack
	// buttons) for the recipient.
	Link    string
	Actions []Action
	// Data is the event as the webhook sends it.
	Data map[string]any
}

// Action is a button or link that acts as the recipient.
type Action struct {
	Label  string
	Claims Claims
	URL    string // BaseURL/act/<signed Claims>
}

// retryAfter is a sender's "try again after" (HTTP 429).
type retryAfter struct {
	wait time.Duration
	err  error
}

func (r *retryAfter) Error() string { return r.err.Error() }
func (r *retryAfter) Unwrap() error { return r.err }

// New returns a Notifier for cfg (Defaults applied, Validate passed). hc is
// the HTTP client for Slack and webhooks (nil: a client with a 10 s timeout).
func New(cfg Config, st Store, links *Links, clk clock.Clock, log *slog.Logger, reg prometheus.Registerer, hc *http.Client) (*Notifier, error) {
	cfg.Defaults()
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	n := &Notifier{store: st, clock: clk, log: log, links: links, http: hc,
		backoff: backoff.New(10*time.Second, 10*time.Minute, rand.Uint64()), wake: make(chan struct{}, 1),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "jitd_notifications_total",
			Help: "Notification deliveries by channel and outcome (sent, retry, dead, skipped)."}, []string{"channel", "outcome"})}
	if reg != nil {
		if err := reg.Register(n.sent); err != nil {
			return nil, err
		}
	}
	ch, err := n.open(cfg)
	if err != nil {
		return nil, err
	}
	n.slackSecrets = ch.slackSecrets
	n.channels.Store(ch)
	for _, c := range cfg.Channels { // present at 0 before anything was sent
		for _, outcome := range []string{"sent", "retry", "dead", "skipped"} {
			n.sent.WithLabelValues(c.Name, outcome)
		}
	}
	return n, nil
}

// channels is a configuration with a sender for each of its channels.
type channels struct {
	cfg          Config
	senders      map[string]sender
	slackSecrets [][]byte
}

func (n *Notifier) open(cfg Config) (*channels, error) {
	ch := &channels{cfg: cfg, senders: map[string]sender{}}
	for _, c := range cfg.Channels {
		s, err := newSender(c, n.http, n.links, n.clock)
		if err != nil {
			return nil, fmt.Errorf("notify: channels %s: %w", c.Name, err)
		}
		ch.senders[c.Name] = s
		if c.Kind == KindSlackBot {
			sec, err := c.signingSecret().Read()
			if err != nil {
				return nil, fmt.Errorf("notify: channels %s: %w", c.Name, err)
			}
			ch.slackSecrets = append(ch.slackSecrets, []byte(sec))
		}
	}
	return ch, nil
}

// Reload makes cfg (Defaults applied, Validate passed) route and send the
// deliveries made from now on; deliveries already queued for a channel cfg
// no longer has are given up when they come due. The Slack bot signing
// secrets that verify button presses stay those read at start.
func (n *Notifier) Reload(cfg Config) error {
	cfg.Defaults()
	ch, err := n.open(cfg)
	if err != nil {
		return err
	}
	n.channels.Store(ch)
	return nil
}

func (n *Notifier) config() *Config { return &n.channels.Load().cfg }

func newSender(c ChannelConfig, hc *http.Client, links *Links, clk clock.Clock) (sender, error) {
	switch c.Kind {
	case KindSlack:
		u, err := c.webhookURL().Read()
		if err != nil {
			return nil, err
		}
		return &slackWebhook{url: u, http: hc}, nil
	case KindSlackBot:
		tok, err := c.botToken().Read()
		if err != nil {
			return nil, err
		}
		return newSlackBot(c, tok, hc, links), nil
	case KindEmail:
		return newEmail(c, clk.Now)
	case KindWebhook:
		sec, err := c.webhookSecret().Read()
		if err != nil {
			return nil, err
		}
		return &webhook{url: c.URL, secret: []byte(sec), http: hc, now: clk.Now}, nil
	}
	return nil, fmt.Errorf("unknown kind %q", c.Kind)
}

// SlackSecrets returns the signing secrets of the Slack bot channels, which
// verify their button presses.
func (n *Notifier) SlackSecrets() [][]byte { return n.slackSecrets }

// Wake makes the notifier look for new events now (the store calls it after
// a commit that wrote to the audit log).
func (n *Notifier) Wake() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// Run routes and sends until ctx ends.
func (n *Notifier) Run(ctx context.Context) {
	work.Loop(ctx, n.clock, n.wake, n.pass, n.backoff.Delay, func(err error, wait time.Duration) {
		n.log.Error("notify: pass failed", "err", err, "retry_in", wait)
	})
}

// pass routes every new event, sends what is due, and says when the next
// delivery falls due.
func (n *Notifier) pass(ctx context.Context) (time.Time, bool, error) {
	for {
		k, err := n.route(ctx)
		if err != nil {
			return time.Time{}, false, err
		}
		if k < routePage {
			break
		}
	}
	if err := n.SendDue(ctx); err != nil {
		return time.Time{}, false, err
	}
	return n.store.NextNotificationDue(ctx)
}

// RunOnce routes new events and sends what is due (for tests and the CLI).
func (n *Notifier) RunOnce(ctx context.Context) error {
	_, _, err := n.pass(ctx)
	return err
}

// SendDue sends every due delivery, a few at a time.
func (n *Notifier) SendDue(ctx context.Context) error {
	for {
		var due []store.Notification
		if err := n.store.Update(ctx, func(tx store.Tx) error {
			var err error
			due, err = tx.DueNotifications(n.clock.Now(), 50)
			return err
		}); err != nil {
			return err
		}
		if len(due) == 0 {
			return nil
		}
		var wg sync.WaitGroup
		results := make([]store.Notification, len(due))
		sem := make(chan struct{}, 8)
		for i, d := range due {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				results[i] = n.deliver(ctx, d)
			}()
		}
		wg.Wait()
		if err := n.store.Update(context.WithoutCancel(ctx), func(tx store.Tx) error {
			for _, r := range results {
				if err := tx.UpdateNotification(r); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// deliver sends one delivery and returns it with its new state.
func (n *Notifier) deliver(ctx context.Context, d store.Notification) store.Notification {
	now := n.clock.Now()
	s, ok := n.channels.Load().senders[d.Channel]
	if !ok {
		// The channel was removed from the configuration.
		d.State, d.LastError = store.NotifySkipped, "channel no longer configured"
		n.sent.WithLabelValues(d.Channel, "skipped").Inc()
		return d
	}
	var dt data
	if err := json.Unmarshal([]byte(d.Data), &dt); err != nil {
		d.State, d.LastError = store.NotifyDead, "unreadable: "+err.Error()
		return d
	}
	m, stale, err := n.render(ctx, d, dt)
	if err == nil && stale {
		d.State = store.NotifySkipped
		n.sent.WithLabelValues(d.Channel, "skipped").Inc()
		return d
	}
	if err == nil {
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err = s.send(sctx, m)
		cancel()
	}
	if err == nil {
		d.State, d.SentAt, d.LastError = store.NotifySent, now, ""
		d.Attempts++
		n.sent.WithLabelValues(d.Channel, "sent").Inc()
		return d
	}
	d.Attempts++
	d.LastError = err.Error()
	born := d.CreatedAt
	if dt.Lead > 0 {
		born = dt.Ends.Add(-time.Duration(dt.Lead)) // a reminder is as old as its first due time
	}
	if now.Sub(born) >= n.config().MaxAge {
		d.State = store.NotifyDead
		n.sent.WithLabelValues(d.Channel, "dead").Inc()
		n.log.Error("notify: giving up on a notification", "channel", d.Channel, "event", d.Event, "subject", d.Subject, "recipient", d.Recipient, "attempts", d.Attempts, "err", err)
		return d
	}
	wait := n.backoff.Delay(d.Attempts)
	if ra, ok := errors.AsType[*retryAfter](err); ok && ra.wait > wait {
		wait = ra.wait
	}
	d.DueAt = now.Add(wait)
	n.sent.WithLabelValues(d.Channel, "retry").Inc()
	n.log.Warn("notify: send failed; retrying", "channel", d.Channel, "event", d.Event, "subject", d.Subject, "attempts", d.Attempts, "retry_in", wait, "err", err)
	return d
}
