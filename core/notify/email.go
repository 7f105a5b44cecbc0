package notify

import (
	"context"
	"crypto/tls"
	"fmt"
	"mime"
	"net"
	"net/mail"
	"net/smtp"
	"strconv"
	"strings"
	"time"

	"github.com/jitd/jitd/connectors"
)

// email sends plain-text mail through an SMTP relay, upgrading the
// connection with STARTTLS (required unless smtp.insecure) before any
// credentials or content go over it.
type email struct {
	addr     string
	host     string
	tls      *tls.Config
	insecure bool
	user     string
	password string
	from     *mail.Address
	to       []string
	address  string
	now      func() time.Time
}

func newEmail(c ChannelConfig, now func() time.Time) (*email, error) {
	port := c.SMTP.Port
	if port == 0 {
		port = 587
	}
	e := &email{addr: net.JoinHostPort(c.SMTP.Host, strconv.Itoa(port)), host: c.SMTP.Host, insecure: c.SMTP.Insecure,
		user: c.SMTP.Username, to: c.To, address: c.Address, now: now}
	from, err := mail.ParseAddress(c.From)
	if err != nil {
		return nil, fmt.Errorf("from: %w", err)
	}
	e.from = from
	e.tls = &tls.Config{ServerName: c.SMTP.Host, MinVersion: tls.VersionTLS12}
	if c.SMTP.CAFile != "" {
		if e.tls.RootCAs, err = connectors.CAPool(c.SMTP.CAFile, false); err != nil {
			return nil, err
		}
	}
	if c.SMTP.Username != "" {
		if e.password, err = c.smtpPassword().Read(); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// recipients are the addresses a message goes to.
func (e *email) recipients(m Message) ([]string, error) {
	list := e.to
	if m.Recipient != "" {
		if e.address == "" {
			return nil, nil
		}
		list = []string{strings.ReplaceAll(e.address, "{login}", m.Recipient)}
	}
	var out []string
	for _, a := range list {
		p, err := mail.ParseAddress(a)
		if err != nil {
			return nil, fmt.Errorf("email: recipient %q: %w", a, err)
		}
		out = append(out, p.Address)
	}
	return out, nil
}

func (e *email) send(ctx context.Context, m Message) error {
	to, err := e.recipients(m)
	if err != nil || len(to) == 0 {
		return err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", e.addr)
	if err != nil {
		return fmt.Errorf("email: %w", err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	c, err := smtp.NewClient(conn, e.host)
	if err != nil {
		return fmt.Errorf("email: %w", err)
	}
	defer c.Close()
	if err := c.Hello("jitd"); err != nil {
		return fmt.Errorf("email: %w", err)
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		if err := c.StartTLS(e.tls); err != nil {
			return fmt.Errorf("email: STARTTLS with %s: %w", e.addr, err)
		}
	} else if !e.insecure {
		return fmt.Errorf("email: %s does not offer STARTTLS; jitd will not send mail in clear text (set smtp.insecure: true to allow it)", e.addr)
	}
	if e.user != "" {
		if err := c.Auth(smtp.PlainAuth("", e.user, e.password, e.host)); err != nil {
			return fmt.Errorf("email: authenticate as %s: %w", e.user, err)
		}
	}
	if err := c.Mail(e.from.Address); err != nil {
		return fmt.Errorf("email: %w", err)
	}
	for _, a := range to {
		if err := c.Rcpt(a); err != nil {
			return fmt.Errorf("email: recipient %s: %w", a, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("email: %w", err)
	}
	if _, err := w.Write(e.compose(m, to)); err != nil {
		return fmt.Errorf("email: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("email: %w", err)
	}
	return c.Quit()
}

// compose writes the message. Header values are encoded (RFC 2047), so a
// group or reason with a line break cannot add headers.
func (e *email) compose(m Message, to []string) []byte {
	var b strings.Builder
	hdr := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	hdr("From", e.from.String())
	hdr("To", strings.Join(to, ", "))
	hdr("Subject", mime.QEncoding.Encode("utf-8", "[jitd] "+oneLine(m.Title)))
	hdr("Date", e.now().Format(time.RFC1123Z))
	hdr("Message-ID", fmt.Sprintf("<jitd-%d-%s@jitd>", m.ID, strings.ReplaceAll(string(m.Event), ".", "-")))
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", `text/plain; charset="utf-8"`)
	hdr("Content-Transfer-Encoding", "8bit")
	hdr("Auto-Submitted", "auto-generated")
	b.WriteString("\r\n")
	body := m.Text + "\n"
	for _, a := range m.Actions {
		body += "\n" + a.Label + ": " + a.URL + "\n"
	}
	if m.Link != "" {
		body += "\nDetails: " + m.Link + "\n"
	}
	if len(m.Actions) > 0 {
		body += "\nThese links act as you. Do not forward this message.\n"
	}
	// Dot-stuffing is done by the SMTP writer; normalise line endings.
	b.WriteString(strings.ReplaceAll(strings.ReplaceAll(body, "\r\n", "\n"), "\n", "\r\n"))
	return []byte(b.String())
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
