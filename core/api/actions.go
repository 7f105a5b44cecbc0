package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/jitd/jitd/core/notify"
	"github.com/jitd/jitd/core/request"
	"github.com/jitd/jitd/core/store"
)

// Action links (in email) and Slack buttons act as the person they were sent
// to, within what that person may do: an approve link works only while its
// holder may decide the request, an extend link only asks policy for more
// time. GET shows what the link will do (mail scanners prefetch links, so
// GET never acts); POST does it.

// defaultExtension is how much more time an extend link or button asks for
// when no other length is given.
const defaultExtension = time.Hour

// The page looks like the portal's (its stylesheet), and carries no script.
var actionPage = template.Must(template.New("act").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}} · jitd</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/ui/static/portal.css"></head>
<body>
<header class="top"><span class="brand">jitd</span></header>
<main>
<h1>{{.Title}}</h1>
<p>{{.Text}}</p>
{{if .Form}}<form method="post" class="stack">
{{if eq .Action "deny"}}<label for="reason">Reason</label> <input id="reason" name="reason" required>{{end}}
{{if eq .Action "extend"}}<label for="for">Extend by</label> <input id="for" name="for" value="1h"> <label for="reason">Reason</label> <input id="reason" name="reason" required>{{end}}
<div class="buttons"><button type="submit">{{.Button}}</button></div>
</form>{{end}}
</main>
</body></html>
`))

type actionView struct {
	Title, Text, Action, Button string
	Form                        bool
}

func (s *Server) renderAction(w http.ResponseWriter, status int, v actionView) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer") // the token is in the URL
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	w.WriteHeader(status)
	actionPage.Execute(w, v)
}

func (s *Server) showAction(w http.ResponseWriter, r *http.Request) {
	c, err := s.links.Verify(r.PathValue("token"), s.clock.Now())
	if err != nil {
		s.renderAction(w, http.StatusForbidden, actionView{Title: "This link does not work", Text: err.Error() + ". Use the CLI or ask for a new link."})
		return
	}
	v := actionView{Action: c.Action, Form: true}
	switch c.Action {
	case notify.ActApprove, notify.ActDeny:
		q, err := s.requests.Get(r.Context(), c.Subject)
		if err != nil {
			s.renderAction(w, http.StatusNotFound, actionView{Title: "No such request"})
			return
		}
		v.Title = fmt.Sprintf("%s request %s", label(c.Action), q.ID)
		v.Text = fmt.Sprintf("%s asks for %s in %s for %s: %s (state: %s). You act as %s.", q.Requester, q.Group, q.Directory, q.Duration, q.Reason, q.State, c.Login)
		v.Button = label(c.Action)
	case notify.ActExtend:
		g, err := s.store.Grant(r.Context(), c.Subject)
		if err != nil {
			s.renderAction(w, http.StatusNotFound, actionView{Title: "No such grant"})
			return
		}
		v.Title = "Ask to extend " + g.GroupName
		v.Text = fmt.Sprintf("Your membership of %s in %s ends at %s. Policy decides the extension like a new request.", g.GroupName, g.Directory, g.ExpiresAt.UTC().Format(time.RFC1123))
		v.Button = "Ask"
	}
	s.renderAction(w, http.StatusOK, v)
}

func label(action string) string {
	switch action {
	case notify.ActApprove:
		return "Approve"
	case notify.ActDeny:
		return "Deny"
	}
	return "Extend"
}

func (s *Server) doAction(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	c, err := s.links.Verify(r.PathValue("token"), s.clock.Now())
	if err != nil {
		s.renderAction(w, http.StatusForbidden, actionView{Title: "This link does not work", Text: err.Error() + "."})
		return
	}
	if err := r.ParseForm(); err != nil {
		s.renderAction(w, http.StatusBadRequest, actionView{Title: "Bad form", Text: err.Error()})
		return
	}
	d := defaultExtension
	if f := r.PostForm.Get("for"); f != "" {
		if d, err = parseFor(f); err != nil {
			s.renderAction(w, http.StatusBadRequest, actionView{Title: "Bad length", Text: err.Error()})
			return
		}
	}
	msg, err := s.act(r.Context(), c, r.PostForm.Get("reason"), d, "link")
	if err != nil {
		status, text := s.describe(r, err)
		s.renderAction(w, status, actionView{Title: "Not done", Text: text})
		return
	}
	s.renderAction(w, http.StatusOK, actionView{Title: "Done", Text: msg})
}

// describe turns an action's error into a status and words for a person.
func (s *Server) describe(r *http.Request, err error) (int, string) {
	rec := &buffered{header: http.Header{}, status: http.StatusOK}
	s.fail(rec, r, err)
	var p Error
	json.Unmarshal(rec.body.Bytes(), &p)
	return rec.status, p.Message
}

// act does what a verified link or button says, as its holder.
func (s *Server) act(ctx context.Context, c notify.Claims, reason string, d time.Duration, via string) (string, error) {
	switch c.Action {
	case notify.ActApprove:
		q, err := s.requests.Approve(ctx, c.Subject, c.Login, "approved from a "+via)
		if err != nil {
			return "", err
		}
		if q.State == "approved" {
			return fmt.Sprintf("Request %s is approved; grant %s.", q.ID, q.GrantID), nil
		}
		return fmt.Sprintf("Your approval of request %s is recorded; it now waits for step %d of %d.", q.ID, q.Step+1, len(q.Steps)), nil
	case notify.ActDeny:
		if strings.TrimSpace(reason) == "" {
			reason = "denied from a " + via
		}
		q, err := s.requests.Deny(ctx, c.Subject, c.Login, reason)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("Request %s is denied.", q.ID), nil
	case notify.ActExtend:
		if strings.TrimSpace(reason) == "" {
			reason = "extension asked from a " + via
		}
		// An extend link works once: its holder asks for more time, not for
		// as much as the link's lifetime allows.
		key := c.Key()
		var fresh bool
		if err := s.store.Update(ctx, func(tx store.Tx) (err error) { fresh, err = tx.UseLink(key, c.Expires, s.clock.Now()); return err }); err != nil {
			return "", err
		}
		if !fresh {
			return "", &Error{Status: http.StatusConflict, Code: CodeConflict, Message: "this extend link was used already; ask with jitd request create --extend"}
		}
		q, err := s.requests.Create(ctx, request.CreateRequest{Requester: c.Login, Extends: c.Subject, Duration: d, Reason: reason})
		if err != nil {
			if ferr := s.store.Update(context.WithoutCancel(ctx), func(tx store.Tx) error { return tx.ForgetLink(key) }); ferr != nil {
				s.log.Error("api: could not make an extend link usable again", "err", ferr)
			}
			return "", err
		}
		if q.State == "approved" {
			return fmt.Sprintf("Extended by %s (request %s).", d, q.ID), nil
		}
		return fmt.Sprintf("Extension request %s waits for approval.", q.ID), nil
	}
	return "", &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: "unknown action " + c.Action}
}

// slackActions receives Slack's interactivity callback: the request must be
// signed with one of the Slack bot channels' signing secrets, and the pressed
// button's value must be claims signed by jitd for the Slack user who pressed it.
func (s *Server) slackActions(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	if err != nil {
		writeErr(w, &Error{Status: http.StatusRequestEntityTooLarge, Code: CodeTooLarge, Message: "body too large"})
		return
	}
	now := s.clock.Now()
	verified := false
	for _, sec := range s.slackSecrets {
		verified = verified || notify.VerifySlack(sec, r.Header, body, now) == nil
	}
	if !verified {
		writeErr(w, &Error{Status: http.StatusUnauthorized, Code: CodeUnauthenticated, Message: "not signed by a configured Slack app"})
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		writeErr(w, &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: "not a form"})
		return
	}
	press, err := s.links.ParseSlackPress(form, now)
	if err != nil {
		writeErr(w, &Error{Status: http.StatusForbidden, Code: CodeForbidden, Message: err.Error()})
		return
	}
	text, err := s.act(r.Context(), press.Claims, "", defaultExtension, "Slack button")
	if err != nil {
		_, text = s.describe(r, err)
		text = "Not done: " + text
	}
	if press.ResponseURL != "" && s.slackHTTP != nil {
		// Replace the buttons with the outcome, so nobody presses twice.
		b, _ := json.Marshal(map[string]any{"replace_original": true, "text": text})
		if u, err := url.Parse(press.ResponseURL); err == nil && u.Scheme == "https" {
			req, _ := http.NewRequestWithContext(r.Context(), http.MethodPost, u.String(), bytes.NewReader(b))
			req.Header.Set("Content-Type", "application/json")
			if resp, err := s.slackHTTP.Do(req); err == nil {
				resp.Body.Close()
			} else {
				s.log.Warn("slack: could not update the message", "err", err)
			}
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"text": text})
}
