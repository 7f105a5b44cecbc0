package notify_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitd/jitd/connectors/demo"
	"github.com/jitd/jitd/core/audit"
	"github.com/jitd/jitd/core/notify"
	"github.com/jitd/jitd/core/policy"
	"github.com/jitd/jitd/core/request"
	"github.com/jitd/jitd/core/store"
	"github.com/jitd/jitd/fixtures/pipeline"
	"github.com/jitd/jitd/fixtures/smtpfake"
	"github.com/jitd/jitd/fixtures/tlsca"
)

type env struct {
	p     *pipeline.Pipeline
	reqs  *request.Manager
	smtp  *smtpfake.Server
	hook  *receiver
	links *notify.Links
	dir   string
	n     *notify.Notifier
	cfg   notify.Config
}

// receiver is a webhook endpoint that keeps what it got.
type receiver struct {
	mu     sync.Mutex
	bodies [][]byte
	hdrs   []http.Header
	status int
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.status != 0 {
		w.Header().Set("Retry-After", "120")
		w.WriteHeader(r.status)
		return
	}
	r.bodies = append(r.bodies, b)
	r.hdrs = append(r.hdrs, req.Header.Clone())
}

func (r *receiver) got() ([][]byte, []http.Header) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]byte(nil), r.bodies...), append([]http.Header(nil), r.hdrs...)
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	conn, err := demo.New(demo.Config{File: filepath.Join(dir, "d.json"), Seed: "../../fixtures/demo/directory.json"})
	if err != nil {
		t.Fatal(err)
	}
	p := pipeline.New(t, "demo", conn, "prod-db-admins")
	if _, err := p.Mirror.Sync(context.Background(), "demo", true); err != nil {
		t.Fatal(err)
	}
	pol, err := policy.Compile([]policy.Rule{{Name: "dba", Match: `request.group == "prod-db-admins"`, MaxDuration: 8 * time.Hour,
		Approvals: []policy.Step{{Any: 1, Users: []string{"bob", "carol"}}}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	files, err := tlsca.Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(files.Cert, files.Key)
	if err != nil {
		t.Fatal(err)
	}
	sm, err := smtpfake.Start(cert)
	if err != nil {
		t.Fatal(err)
	}
	sm.RequireTLS, sm.User, sm.Password = true, "jitd", "s3cret"
	t.Cleanup(sm.Close)
	hook := &receiver{}
	hs := httptest.NewServer(hook)
	t.Cleanup(hs.Close)
	host, port, _ := net.SplitHostPort(sm.Addr)
	portN, _ := strconv.Atoi(port)
	e := &env{p: p, reqs: request.New(request.Config{}, p.Store, pol, p.Grants, p.Clock, slog.New(slog.DiscardHandler)), smtp: sm, hook: hook, dir: dir}
	e.cfg = notify.Config{BaseURL: "https://jitd.example.com", ExpiringSoon: []time.Duration{time.Hour}, Channels: []notify.ChannelConfig{
		{Name: "mail", Kind: notify.KindEmail, From: "jitd <jitd@corp.example>", Address: "{login}@corp.example", To: []string{"security@corp.example"},
			SMTP: notify.SMTPConfig{Host: host, Port: portN, Username: "jitd", PasswordFile: writeFile(t, dir, "smtp.pw", "s3cret\n"), CAFile: files.CA}},
		{Name: "siem", Kind: notify.KindWebhook, URL: hs.URL, SecretFile: writeFile(t, dir, "hook.secret", "hook-secret")},
	}}
	if err := e.cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	e.links, _ = notify.NewLinks([]byte("0123456789abcdef0123456789abcdef"))
	e.n = e.notifier(t)
	// The first pass starts the cursor at the end of the log: nothing
	// before it is announced.
	e.run(t)
	return e
}

func (e *env) notifier(t *testing.T) *notify.Notifier {
	t.Helper()
	n, err := notify.New(e.cfg, e.p.Store, e.links, e.p.Clock, slog.New(slog.DiscardHandler), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (e *env) run(t *testing.T) {
	t.Helper()
	if err := e.n.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func (e *env) mailTo(addr string) []smtpfake.Message {
	var out []smtpfake.Message
	for _, m := range e.smtp.Messages() {
		for _, to := range m.To {
			if to == addr {
				out = append(out, m)
			}
		}
	}
	return out
}

var linkRE = regexp.MustCompile(`https://jitd\.example\.com/act/([A-Za-z0-9_\-.]+)`)

func TestNotify_ApproversGetSignedLinksOverSTARTTLSAndTheWebhookIsSigned(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	r, err := e.reqs.Create(ctx, request.CreateRequest{Requester: "alice", Directory: "demo", Group: "prod-db-admins", Duration: 2 * time.Hour, Reason: "deploy 2.3", Ticket: "CHG-1042"})
	if err != nil {
		t.Fatal(err)
	}
	e.run(t)
	for _, who := range []string{"bob", "carol"} {
		ms := e.mailTo(who + "@corp.example")
		if len(ms) != 1 {
			t.Fatalf("%s got %d mails, want 1 (approval needed)", who, len(ms))
		}
		m := ms[0]
		if !m.TLS || m.Auth != "jitd" {
			t.Errorf("mail to %s: TLS %v, auth %q; want STARTTLS and authentication", who, m.TLS, m.Auth)
		}
		if !strings.Contains(m.Data, "alice asks for prod-db-admins") || !strings.Contains(m.Data, "CHG-1042") {
			t.Errorf("mail to %s does not say what is asked:\n%s", who, m.Data)
		}
		links := linkRE.FindAllStringSubmatch(m.Data, -1)
		if len(links) != 2 {
			t.Fatalf("mail to %s has %d action links, want approve and deny:\n%s", who, len(links), m.Data)
		}
		c, err := e.links.Verify(links[0][1], e.p.Clock.Now())
		if err != nil || c.Login != who || c.Subject != r.ID || c.Action != notify.ActApprove {
			t.Errorf("%s's approve link: %+v %v", who, c, err)
		}
	}
	if len(e.mailTo("alice@corp.example")) != 1 {
		t.Error("the requester was not told the request was made")
	}
	// A tampered link is refused.
	m := e.mailTo("bob@corp.example")[0]
	tok := linkRE.FindStringSubmatch(m.Data)[1]
	if _, err := e.links.Verify(strings.Replace(tok, tok[3:4], string(rune(tok[3]^1)), 1), e.p.Clock.Now()); err == nil {
		t.Error("a tampered link verified")
	}
	// The webhook got both events once each, signed.
	bodies, hdrs := e.hook.got()
	if len(bodies) != 2 {
		t.Fatalf("webhook got %d deliveries, want 2 (created, needs approval)", len(bodies))
	}
	for i, b := range bodies {
		sig := hdrs[i].Get("X-Jitd-Signature")
		var ts int64
		for _, part := range strings.Split(sig, ",") {
			if v, ok := strings.CutPrefix(part, "t="); ok {
				ts, _ = strconv.ParseInt(v, 10, 64)
			}
		}
		if want := notify.WebhookSignature([]byte("hook-secret"), b, time.Unix(ts, 0)); sig != want || ts != e.p.Clock.Now().Unix() {
			t.Errorf("webhook signature %q, want %q", sig, want)
		}
		if hdrs[i].Get("X-Jitd-Delivery") == "" || hdrs[i].Get("X-Jitd-Event") == "" {
			t.Errorf("webhook headers: %v", hdrs[i])
		}
	}
	// Nothing is sent twice.
	e.run(t)
	if n := len(e.smtp.Messages()); n != 3 {
		t.Fatalf("after a second pass %d mails, want still 3", n)
	}

	// Bob approves: the next step (none) means no more approval mail, and
	// alice hears of the approval and of the grant.
	if _, err := e.reqs.Approve(ctx, r.ID, "bob", "ok"); err != nil {
		t.Fatal(err)
	}
	e.run(t)
	alice := e.mailTo("alice@corp.example")
	if len(alice) != 3 || !strings.Contains(alice[1].Data+alice[2].Data, "approved by bob") {
		t.Fatalf("alice got %d mails after approval, want 3", len(alice))
	}
	if len(e.mailTo("carol@corp.example")) != 1 {
		t.Error("carol was asked again after the request was decided")
	}
}

func TestNotify_AChannelThatIsDownDelaysNothingAndIsRetried(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.cfg.MaxAge = 2 * time.Hour
	e.n = e.notifier(t)
	e.smtp.SetFail("mail system down")
	e.hook.mu.Lock()
	e.hook.status = http.StatusTooManyRequests
	e.hook.mu.Unlock()
	id := e.p.Grant("carol", "prod-db-admins")
	g, err := e.p.Store.Grant(ctx, id)
	if err != nil || g.State != store.StateActive {
		t.Fatalf("the grant waited on notifications: %+v %v", g, err)
	}
	e.run(t)
	pending, _ := e.p.Store.Notifications(ctx, store.NotificationFilter{States: []store.NotificationState{store.NotifyPending}})
	if len(pending) == 0 {
		t.Fatal("failed deliveries were not kept for retry")
	}
	for _, n := range pending {
		if n.Event == string(notify.GrantActive) && (n.Attempts != 1 || n.LastError == "") {
			t.Errorf("after a failure: %+v", n)
		}
		if n.Channel == "siem" && n.Event == string(notify.GrantActive) && n.DueAt.Sub(e.p.Clock.Now()) < 2*time.Minute {
			t.Errorf("the webhook's Retry-After: 120 was not honoured: next try in %s", n.DueAt.Sub(e.p.Clock.Now()))
		}
	}
	// Back up: the retry delivers.
	e.smtp.SetFail("")
	e.hook.mu.Lock()
	e.hook.status = 0
	e.hook.mu.Unlock()
	e.p.Clock.Advance(3 * time.Minute)
	e.run(t)
	if len(e.mailTo("carol@corp.example")) != 1 {
		t.Fatal("the grant notice was not delivered once the relay was back")
	}
	if b, _ := e.hook.got(); len(b) != 1 {
		t.Fatalf("webhook got %d after recovery, want 1", len(b))
	}
	// A channel down for longer than max_age is given up, not retried forever.
	e.smtp.SetFail("down again")
	e.p.Queue.RunOnce(ctx)
	if _, err := e.p.Grants.Revoke(ctx, id, "admin", "done"); err != nil {
		t.Fatal(err)
	}
	e.p.Queue.RunOnce(ctx)
	for i := 0; i < 40; i++ {
		e.p.Clock.Advance(15 * time.Minute)
		e.run(t)
	}
	dead, _ := e.p.Store.Notifications(ctx, store.NotificationFilter{States: []store.NotificationState{store.NotifyDead}})
	if len(dead) == 0 {
		t.Fatal("a delivery failing for 10 hours, past max_age (2h), is still pending")
	}
}

func TestNotify_ExpiringReminderFollowsExtensionsWithAnExtendLink(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	id := e.p.Grant("carol", "prod-db-admins") // 8 h
	e.run(t)
	e.p.Clock.Advance(6 * time.Hour)
	if _, err := e.p.Grants.Extend(ctx, id, 2*time.Hour, time.Time{}, "admin", "more"); err != nil {
		t.Fatal(err)
	}
	e.run(t)
	e.p.Clock.Advance(time.Hour + time.Minute) // past the first reminder's time
	e.run(t)
	for _, m := range e.mailTo("carol@corp.example") {
		if strings.Contains(m.Data, "ends soon") || strings.Contains(m.Data, "Access ends soon") {
			t.Fatalf("a reminder for the old end was sent after the extension:\n%s", m.Data)
		}
	}
	e.p.Clock.Advance(2 * time.Hour) // 1 h before the new end
	e.run(t)
	var reminders []smtpfake.Message
	for _, m := range e.mailTo("carol@corp.example") {
		if strings.Contains(m.Data, "ends soon") {
			reminders = append(reminders, m)
		}
	}
	if len(reminders) != 1 {
		t.Fatalf("%d reminders, want 1 for the new end", len(reminders))
	}
	tok := linkRE.FindStringSubmatch(reminders[0].Data)
	if tok == nil {
		t.Fatalf("no extend link:\n%s", reminders[0].Data)
	}
	c, err := e.links.Verify(tok[1], e.p.Clock.Now())
	if err != nil || c.Action != notify.ActExtend || c.Subject != id || c.Login != "carol" {
		t.Fatalf("extend link: %+v %v", c, err)
	}
}

func TestNotify_AfterARestartNothingIsLostOrSentTwice(t *testing.T) {
	e := newEnv(t)
	e.p.Grant("carol", "prod-db-admins")
	// The daemon stops before the notifier ran; a new one starts.
	e.n = e.notifier(t)
	e.run(t)
	e.n = e.notifier(t)
	e.run(t)
	if got := len(e.mailTo("carol@corp.example")); got != 1 {
		t.Fatalf("carol got %d grant notices across restarts, want 1", got)
	}
}

func TestNotify_RefusesToMailInClearText(t *testing.T) {
	e := newEnv(t)
	e.smtp.NoSTARTTLS, e.smtp.RequireTLS = true, false
	e.p.Grant("carol", "prod-db-admins")
	e.run(t)
	if n := len(e.smtp.Messages()); n != 0 {
		t.Fatalf("%d mails went out without STARTTLS", n)
	}
	ns, _ := e.p.Store.Notifications(context.Background(), store.NotificationFilter{States: []store.NotificationState{store.NotifyPending}})
	found := false
	for _, n := range ns {
		found = found || strings.Contains(n.LastError, "does not offer STARTTLS")
	}
	if !found {
		t.Fatal("the refusal is not recorded on the delivery")
	}
}

// slackAPI is a fake of the two Slack Web API methods the bot uses.
type slackAPI struct {
	mu    sync.Mutex
	posts []map[string]any
}

func (s *slackAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if r.Header.Get("Authorization") != "Bearer xoxb-test" {
		io.WriteString(w, `{"ok":false,"error":"invalid_auth"}`)
		return
	}
	switch r.URL.Path {
	case "/api/users.lookupByEmail":
		login, _, _ := strings.Cut(r.URL.Query().Get("email"), "@")
		if login == "nobody" {
			io.WriteString(w, `{"ok":false,"error":"users_not_found"}`)
			return
		}
		io.WriteString(w, `{"ok":true,"user":{"id":"U-`+login+`"}}`)
	case "/api/chat.postMessage":
		var m map[string]any
		json.NewDecoder(r.Body).Decode(&m)
		s.mu.Lock()
		s.posts = append(s.posts, m)
		s.mu.Unlock()
		io.WriteString(w, `{"ok":true,"channel":"D1","ts":"1.2"}`)
	default:
		io.WriteString(w, `{"ok":false,"error":"unknown_method"}`)
	}
}

func TestNotify_SlackBotButtonsAreBoundToTheApprover(t *testing.T) {
	e := newEnv(t)
	api := &slackAPI{}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	e.cfg.Channels = []notify.ChannelConfig{{Name: "slack", Kind: notify.KindSlackBot, APIURL: srv.URL + "/api", Address: "{login}@corp.example",
		Channel: "#security", BotTokenFile: writeFile(t, e.dir, "bot", "xoxb-test"), SigningSecretFile: writeFile(t, e.dir, "sign", "signing")}}
	if err := e.cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	e.n = e.notifier(t)
	e.run(t)
	r, err := e.reqs.Create(context.Background(), request.CreateRequest{Requester: "alice", Directory: "demo", Group: "prod-db-admins", Duration: time.Hour, Reason: "deploy"})
	if err != nil {
		t.Fatal(err)
	}
	e.run(t)
	var toBob map[string]any
	for _, p := range api.posts {
		if p["channel"] == "U-bob" && strings.Contains(p["text"].(string), "Approval needed") {
			toBob = p
		}
	}
	if toBob == nil {
		t.Fatalf("no direct message to bob; posts: %v", api.posts)
	}
	b, _ := json.Marshal(toBob["blocks"])
	var blocks []struct {
		Elements []struct {
			ActionID string `json:"action_id"`
			Value    string `json:"value"`
		} `json:"elements"`
	}
	json.Unmarshal(b, &blocks)
	approve := ""
	for _, bl := range blocks {
		for _, el := range bl.Elements {
			if el.ActionID == "jitd_approve" {
				approve = el.Value
			}
		}
	}
	if approve == "" {
		t.Fatalf("no approve button: %s", b)
	}
	press := func(user string) (notify.SlackPress, error) {
		payload, _ := json.Marshal(map[string]any{"type": "block_actions", "user": map[string]string{"id": user},
			"response_url": "https://hooks.slack.test/r", "actions": []map[string]string{{"action_id": "jitd_approve", "value": approve}}})
		return e.links.ParseSlackPress(url.Values{"payload": {string(payload)}}, e.p.Clock.Now())
	}
	if _, err := press("U-carol"); err == nil {
		t.Fatal("carol pressed bob's button and it counted")
	}
	got, err := press("U-bob")
	if err != nil || got.Claims.Login != "bob" || got.Claims.Subject != r.ID || got.Claims.Action != notify.ActApprove {
		t.Fatalf("bob's press: %+v %v", got, err)
	}
}

func TestVerifySlack_ChecksSignatureAndAge(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	body := []byte("payload=%7B%7D")
	sign := func(ts int64, secret string) http.Header {
		h := http.Header{}
		h.Set("X-Slack-Request-Timestamp", strconv.FormatInt(ts, 10))
		mac := notifyHMAC([]byte(secret), "v0:"+strconv.FormatInt(ts, 10)+":"+string(body))
		h.Set("X-Slack-Signature", "v0="+mac)
		return h
	}
	if err := notify.VerifySlack([]byte("s"), sign(now.Unix(), "s"), body, now); err != nil {
		t.Fatalf("a good signature: %v", err)
	}
	if err := notify.VerifySlack([]byte("s"), sign(now.Unix(), "other"), body, now); err == nil {
		t.Fatal("a wrong secret verified")
	}
	if err := notify.VerifySlack([]byte("s"), sign(now.Add(-10*time.Minute).Unix(), "s"), body, now); err == nil {
		t.Fatal("a ten-minute-old request verified (replay)")
	}
}

func notifyHMAC(key []byte, msg string) string {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(msg))
	return hex.EncodeToString(h.Sum(nil))
}

func TestNotify_OnboardingIsToldToTheSponsorNotTheUnknownContractor(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ob := store.Onboarding{InviteID: "i-1", Login: "c-ann.lee", GivenName: "Ann", Surname: "Lee", Email: "ann@vendor.example", Company: "Vendor",
		Sponsor: "bob", Until: e.p.Clock.Now().Add(14 * 24 * time.Hour), Groups: []string{}}
	r, err := e.reqs.CreateOnboarding(ctx, ob, "demo", "contract C-7", func(store.Tx, store.Request) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	e.run(t)
	bob := e.mailTo("bob@corp.example")
	if len(bob) != 2 || !strings.Contains(bob[0].Data+bob[1].Data, "c-ann.lee asks for an account") || len(linkRE.FindAllString(bob[0].Data+bob[1].Data, -1)) != 2 {
		t.Fatalf("bob got %d mails; want the request and an approval with links", len(bob))
	}
	if _, err := e.reqs.Deny(ctx, r.ID, "bob", "wrong vendor"); err != nil {
		t.Fatal(err)
	}
	e.run(t)
	if bob = e.mailTo("bob@corp.example"); len(bob) != 3 || !strings.Contains(bob[2].Data, "denied by bob") {
		t.Fatalf("bob got %d mails after the denial", len(bob))
	}
	if n := len(e.mailTo("c-ann.lee@corp.example")); n != 0 {
		t.Fatalf("%d mails to a login that has no mailbox yet", n)
	}
}

func TestNotify_PeopleWhoReportToTheRequesterAreNotAsked(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	// In the demo directory alice reports to bob; the rule asks alice or carol.
	pol, err := policy.Compile([]policy.Rule{{Name: "dba", Match: `request.group == "prod-db-admins"`,
		Approvals: []policy.Step{{Any: 1, Users: []string{"alice", "carol"}}}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	reqs := request.New(request.Config{ReportingLineDepth: 1}, e.p.Store, pol, e.p.Grants, e.p.Clock, slog.New(slog.DiscardHandler))
	e.n.CanDecide = reqs.ReportingLine
	if _, err := reqs.Create(ctx, request.CreateRequest{Requester: "bob", Directory: "demo", Group: "prod-db-admins", Duration: time.Hour, Reason: "deploy"}); err != nil {
		t.Fatal(err)
	}
	e.run(t)
	if n := len(e.mailTo("alice@corp.example")); n != 0 {
		t.Fatalf("alice, who reports to bob, got %d mails", n)
	}
	if n := len(e.mailTo("carol@corp.example")); n != 1 {
		t.Fatalf("carol got %d mails, want the approval request", n)
	}
}

// Audit checkpoints reach only the channels that ask for them: a channel
// that keeps everything (a SIEM) lists audit.checkpoint and gets each one;
// the others are not flooded.
func TestNotify_CheckpointsGoOnlyWhereAsked(t *testing.T) {
	e := newEnv(t)
	e.cfg.Channels[1].Events = []notify.Event{notify.AuditCheckpoint, notify.GrantRevoked}
	e.n = e.notifier(t)
	before := len(e.smtp.Messages())
	line := "jitd audit checkpoint 7 abc 1 c2ln"
	err := e.p.Store.Update(context.Background(), func(tx store.Tx) error {
		_, err := tx.AppendAudit(audit.Event{Time: e.p.Clock.Now(), Actor: "jitd", Action: audit.CheckpointMade, Detail: line})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	e.run(t)
	bodies, hdrs := e.hook.got()
	if len(bodies) != 1 || hdrs[0].Get("X-Jitd-Event") != "audit.checkpoint" || !strings.Contains(string(bodies[0]), line) {
		t.Fatalf("the SIEM got %d deliveries: %q", len(bodies), bodies)
	}
	if n := len(e.smtp.Messages()); n != before {
		t.Fatalf("mail, which did not ask for checkpoints, got %d messages", n-before)
	}
}
