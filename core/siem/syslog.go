package siem

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jitd/jitd/connectors"
	"github.com/jitd/jitd/core/audit"
)

// facilities are the syslog facilities a sink may use (RFC 5424 6.2.1).
var facilities = map[string]int{"auth": 4, "authpriv": 10, "local0": 16, "local1": 17, "local2": 18, "local3": 19,
	"local4": 20, "local5": 21, "local6": 22, "local7": 23}

// Severities (RFC 5424 6.2.1).
const (
	severityWarning = 4
	severityNotice  = 5
)

// ioTimeout bounds a dial or a write to a receiver that does not answer.
const ioTimeout = 30 * time.Second

// tlsConfig is the client TLS of a syslog or https sink (nil: clear text).
// host is the receiver's host name, checked against its certificate unless
// server_name says otherwise.
func tlsConfig(c SinkConfig, host string) (*tls.Config, error) {
	if c.Insecure {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host}
	if c.ServerName != "" {
		tc.ServerName = c.ServerName
	}
	if c.CAFile != "" {
		pool, err := connectors.CAPool(c.CAFile, false)
		if err != nil {
			return nil, err
		}
		tc.RootCAs = pool
	}
	if c.CertFile != "" && c.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("cert_file: %v", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// syslogSink sends each event as one RFC 5424 message over TCP, framed by
// octet counting (RFC 6587 3.4.1, as RFC 5425 does over TLS). The message
// is the event as JSON; its MSGID is the action. TCP gives no receipts, so
// a batch is confirmed only when the connection is found still open
// before the next one (or on the next pass): a receiver that stopped gets
// everything since the last confirmed batch again.
type syslogSink struct {
	cfg      SinkConfig
	host     string // HOSTNAME of the messages
	pid      string
	facility int
	conn     net.Conn
}

func newSyslogSink(c SinkConfig) *syslogSink {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "-"
	}
	f, ok := facilities[c.Facility]
	if !ok {
		f = facilities["authpriv"]
	}
	return &syslogSink{cfg: c, host: printASCII(host, 255), pid: strconv.Itoa(os.Getpid()), facility: f}
}

func (s *syslogSink) dial(ctx context.Context) error {
	d := &net.Dialer{Timeout: ioTimeout, KeepAlive: 30 * time.Second}
	host, _, _ := net.SplitHostPort(s.cfg.Address)
	tc, err := tlsConfig(s.cfg, host)
	if err != nil {
		return err
	}
	if tc == nil {
		s.conn, err = d.DialContext(ctx, "tcp", s.cfg.Address)
	} else {
		s.conn, err = (&tls.Dialer{NetDialer: d, Config: tc}).DialContext(ctx, "tcp", s.cfg.Address)
	}
	return err
}

func (s *syslogSink) drop() {
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
}

func (s *syslogSink) write(ctx context.Context, evs []audit.Event) error {
	if s.conn == nil {
		if err := s.dial(ctx); err != nil {
			return err
		}
	}
	var buf bytes.Buffer
	for _, e := range evs {
		msg, err := s.message(e)
		if err != nil {
			return err
		}
		fmt.Fprintf(&buf, "%d %s", len(msg), msg)
	}
	s.conn.SetWriteDeadline(time.Now().Add(ioTimeout))
	if _, err := s.conn.Write(buf.Bytes()); err != nil {
		s.drop() // a TLS stream is unusable after a failed write
		return err
	}
	return nil
}

// confirm reports whether the connection is still open: a read that finds
// nothing to read within a millisecond. The receiver never sends, so end
// of stream or an error means it closed (or reset) the connection.
func (s *syslogSink) confirm() bool {
	if s.conn == nil {
		return false
	}
	s.conn.SetReadDeadline(time.Now().Add(time.Millisecond))
	var b [1]byte
	_, err := s.conn.Read(b[:])
	s.conn.SetReadDeadline(time.Time{})
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		return true
	}
	s.drop()
	return false
}

// message is the RFC 5424 form of e:
// <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID - MSG.
func (s *syslogSink) message(e audit.Event) ([]byte, error) {
	body, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}
	sev := severityNotice
	if strings.Contains(e.Action, "fail") || strings.HasPrefix(e.Action, "breakglass.") || strings.HasPrefix(e.Action, "drift.") {
		sev = severityWarning
	}
	msgID := printASCII(e.Action, 32)
	var b bytes.Buffer
	fmt.Fprintf(&b, "<%d>1 %s %s jitd %s %s - ", s.facility*8+sev, e.Time.UTC().Format("2006-01-02T15:04:05.000000Z"), s.host, s.pid, msgID)
	b.Write(body)
	return b.Bytes(), nil
}

// printASCII keeps what a syslog header field allows (PRINTUSASCII, at
// most n characters); an empty field is "-".
func printASCII(s string, n int) string {
	out := strings.Map(func(r rune) rune {
		if r < 33 || r > 126 {
			return '_'
		}
		return r
	}, s)
	if len(out) > n {
		out = out[:n]
	}
	if out == "" {
		return "-"
	}
	return out
}
