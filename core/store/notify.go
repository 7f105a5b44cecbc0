package store

import "time"

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
