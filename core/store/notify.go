package store

import (
	"context"
	"time"
)

// NotificationState is where a delivery stands.
type NotificationState string

// Notification states.
const (
	NotifyPending NotificationState = "pending"
	NotifySent    NotificationState = "sent"
	NotifyDead    NotificationState = "dead"    // retried until too old
	NotifySkipped NotificationState = "skipped" // no longer relevant when due
)

// Notification is one delivery of one event to one channel (and recipient).
type Notification struct {
	ID        int64
	Channel   string
	Event     string
	AuditSeq  int64
	Subject   string // the grant, request or account the event is about
	Recipient string // a login, or "" for the channel itself
	Data      string // JSON the event's renderer reads
	State     NotificationState
	Attempts  int
	DueAt     time.Time
	CreatedAt time.Time
	SentAt    time.Time
	LastError string
}

// NotificationFilter selects notifications; zero fields match everything.
type NotificationFilter struct {
	States  []NotificationState
	Subject string
	Limit   int
}

// Notifications is the store's part for the notification outbox.
type Notifications interface {
	// Notifications lists deliveries, newest first.
	Notifications(ctx context.Context, f NotificationFilter) ([]Notification, error)
	// NextNotificationDue returns when the earliest pending delivery is due.
	NextNotificationDue(ctx context.Context) (time.Time, bool, error)
}

// NotificationsTx is the write transaction's part for the notification outbox.
type NotificationsTx interface {
	// NotifyCursor returns the last audit sequence routed to notifications
	// (ok false: never set).
	NotifyCursor() (int64, bool, error)
	SetNotifyCursor(seq int64) error
	InsertNotification(n Notification) error
	// DueNotifications returns pending deliveries due at now, oldest first.
	DueNotifications(now time.Time, limit int) ([]Notification, error)
	// UpdateNotification stores a delivery's state, attempts, due time,
	// sent time and last error.
	UpdateNotification(n Notification) error
}
