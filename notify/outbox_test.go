package notify_test

import (
	"context"
	"errors"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/attrib-engine/attrib/eventstore"
	"github.com/attrib-engine/attrib/notify"
	"github.com/attrib-engine/attrib/schemas"
)

// fixture is one test's log, mail server, directory, markers and metrics.
type fixture struct {
	log     *logEnv
	mail    *mailServer
	dir     *directory
	markers *notify.RedisMarkers
	reg     *prometheus.Registry
}

func newFixture(t *testing.T, mailOpts mailServerOptions) *fixture {
	t.Helper()
	f := &fixture{mail: startMailServer(t, mailOpts), dir: newDirectory(), reg: prometheus.NewRegistry()}
	f.markers, _ = redisMarkers(t)
	f.dir.addCreator("creator-1", "Анна Петрова", "anna@example.com")
	f.dir.addCreator("creator-2", "Boris", "boris@example.com")
	f.dir.addOffer(brand, "offer-1", "Зимняя распродажа", "Brand & Co")
	return f
}

// needLog starts the broker lazily: tests that call Handle directly need none.
func (f *fixture) needLog(t *testing.T) *logEnv {
	t.Helper()
	if f.log == nil {
		f.log = startLog(t)
	}
	return f.log
}

func (f *fixture) smtpSender(t *testing.T) *notify.SMTPSender {
	t.Helper()
	s, err := notify.NewSMTPSender(notify.SMTPConfig{URL: f.mail.url("smtp", "", "Attrib%20%3Cnoreply@attrib.test%3E"), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("smtp sender: %v", err)
	}
	return s
}

// outbox returns a new Outbox (a new process, as far as leases go) sending
// to the fixture's mail server unless cfg has a sender.
func (f *fixture) outbox(t *testing.T, cfg notify.Config) *notify.Outbox {
	t.Helper()
	if cfg.Directory == nil {
		cfg.Directory = f.dir
	}
	if cfg.Markers == nil {
		cfg.Markers = f.markers
	}
	if cfg.Sender == nil {
		cfg.Sender = f.smtpSender(t)
	}
	cfg.Registerer = f.reg
	cfg.Logger = testLogger()
	o, err := notify.NewOutbox(cfg)
	if err != nil {
		t.Fatalf("new outbox: %v", err)
	}
	return o
}

func (f *fixture) counter(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	return counter(t, f.reg, name, labels...)
}

// byMessageID indexes received messages by Message-ID and fails on a
// duplicate.
func byMessageID(t *testing.T, msgs []received) map[string]received {
	t.Helper()
	out := make(map[string]received, len(msgs))
	for _, m := range msgs {
		id := parseMessage(t, m.raw).header.Get("Message-ID")
		if _, dup := out[id]; dup {
			t.Errorf("message %s received twice", id)
		}
		out[id] = m
	}
	return out
}

func now() time.Time { return time.Now().UTC().Truncate(time.Second) }

func TestOutboxEmailsEachDecisionOnce(t *testing.T) {
	f := newFixture(t, mailServerOptions{})
	l := f.needLog(t)
	at := now().Add(-time.Hour)
	conf := confirmed(t, "req-1", "creator-1", "ANNA10", at)
	rej := rejected(t, "req-2", "creator-2", "Your audience is outside our delivery area.", at.Add(time.Minute))
	l.append(t, offerPublished(t, at), conf, rej)

	l.run(t, f.outbox(t, notify.Config{}), "")
	f.mail.waitFor(t, 2)
	l.waitCaughtUp(t, notify.Group)

	got := byMessageID(t, f.mail.received())
	if len(got) != 2 {
		t.Fatalf("got %d emails, want 2", len(got))
	}
	tests := []struct {
		name    string
		env     schemas.Envelope
		rcpt    string
		toName  string
		subject []string
		body    []string
	}{
		{
			name: "confirmed", env: conf, rcpt: "anna@example.com",
			toName:  "Анна Петрова",
			subject: []string{"Brand & Co", "ANNA10"},
			body:    []string{"Hello, Анна Петрова!", "Your promo code: ANNA10", `"Зимняя распродажа"`, "on TikTok", "Request req-1"},
		},
		{
			name: "rejected", env: rej, rcpt: "boris@example.com",
			toName:  "Boris",
			subject: []string{"declined", "Зимняя распродажа"},
			body:    []string{"Hello, Boris!", "Your audience is outside our delivery area.", "Brand & Co has declined", "Request req-2"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := "<" + tc.env.EventID + "@attrib>"
			r, ok := got[id]
			if !ok {
				t.Fatalf("no email with Message-ID %s", id)
			}
			if len(r.to) != 1 || r.to[0] != tc.rcpt || r.from != "noreply@attrib.test" {
				t.Errorf("envelope from %q to %q, want noreply@attrib.test to [%s]", r.from, r.to, tc.rcpt)
			}
			m := parseMessage(t, r.raw)
			to, err := m.header.AddressList("To")
			if err != nil || len(to) != 1 || *to[0] != (mail.Address{Name: tc.toName, Address: tc.rcpt}) {
				t.Errorf("To %v (%v), want %s <%s>", to, err, tc.toName, tc.rcpt)
			}
			if from := m.header.Get("From"); from != `"Attrib" <noreply@attrib.test>` {
				t.Errorf("From %q", from)
			}
			date, err := m.header.Date()
			if err != nil || !date.Equal(tc.env.OccurredAt) {
				t.Errorf("Date %v (%v), want the decision's time %v", date, err, tc.env.OccurredAt)
			}
			for _, s := range tc.subject {
				if !strings.Contains(m.subject, s) {
					t.Errorf("subject %q lacks %q", m.subject, s)
				}
			}
			for _, s := range tc.body {
				if !strings.Contains(m.body, s) {
					t.Errorf("body lacks %q:\n%s", s, m.body)
				}
			}
			state, err := f.markers.State(context.Background(), tc.env.EventID)
			if err != nil || state != "sent" {
				t.Errorf("marker %q (%v), want sent", state, err)
			}
		})
	}
	if n := f.counter(t, "attrib_email_sent_total"); n != 2 {
		t.Errorf("sent counter %v, want 2", n)
	}
}

func TestOutboxRetriesWhenServerFailsFirstAttempt(t *testing.T) {
	f := newFixture(t, mailServerOptions{failData: 1})
	l := f.needLog(t)
	l.append(t, confirmed(t, "req-1", "creator-1", "ANNA10", now()))

	l.run(t, f.outbox(t, notify.Config{}), "")
	f.mail.waitFor(t, 1)
	l.waitCaughtUp(t, notify.Group)

	if got := len(f.mail.received()); got != 1 {
		t.Errorf("%d emails delivered, want 1", got)
	}
	if got := f.mail.dataAttempts(); got != 2 {
		t.Errorf("%d DATA attempts, want 2 (one refused with 451, one accepted)", got)
	}
	if n := f.counter(t, "attrib_email_retries_total"); n < 1 {
		t.Errorf("retries counter %v, want at least 1", n)
	}
	if n := f.counter(t, "attrib_email_sent_total"); n != 1 {
		t.Errorf("sent counter %v, want 1", n)
	}
}

func TestOutboxRestartInSameGroupSendsNothingTwice(t *testing.T) {
	f := newFixture(t, mailServerOptions{})
	l := f.needLog(t)
	at := now()
	l.append(t, confirmed(t, "req-1", "creator-1", "ANNA10", at), rejected(t, "req-2", "creator-2", "No.", at))

	stop := l.run(t, f.outbox(t, notify.Config{}), "")
	f.mail.waitFor(t, 2)
	l.waitCaughtUp(t, notify.Group)
	stop()

	// A new process in the same group, and one more decision so that we know
	// when it has caught up.
	l.run(t, f.outbox(t, notify.Config{}), "")
	later := confirmed(t, "req-3", "creator-2", "BORIS5", at.Add(time.Minute))
	l.append(t, later)
	f.mail.waitFor(t, 3)
	l.waitCaughtUp(t, notify.Group)

	got := byMessageID(t, f.mail.received())
	if len(got) != 3 {
		t.Errorf("%d emails, want 3 (two before the restart, one after)", len(got))
	}
	if _, ok := got["<"+later.EventID+"@attrib>"]; !ok {
		t.Errorf("the decision made after the restart was not emailed")
	}
	// The committed position alone kept the restart from redelivering.
	if n := f.counter(t, "attrib_email_skipped_total", "reason=settled"); n != 0 {
		t.Errorf("settled skips %v, want 0: the restarted group should resume after its committed offset", n)
	}
}

func TestOutboxReplayInNewGroupSendsNothing(t *testing.T) {
	f := newFixture(t, mailServerOptions{})
	l := f.needLog(t)
	at := now()
	l.append(t, confirmed(t, "req-1", "creator-1", "ANNA10", at), rejected(t, "req-2", "creator-2", "No.", at))

	stop := l.run(t, f.outbox(t, notify.Config{}), "")
	f.mail.waitFor(t, 2)
	l.waitCaughtUp(t, notify.Group)
	stop()

	// A new consumer group reads the whole log again; the markers stop it.
	replay := notify.Group + "-replay"
	l.run(t, f.outbox(t, notify.Config{}), replay)
	l.waitCaughtUp(t, replay)

	if got := len(f.mail.received()); got != 2 {
		t.Errorf("%d emails after the replay, want still 2", got)
	}
	if n := f.counter(t, "attrib_email_skipped_total", "reason=settled"); n != 2 {
		t.Errorf("settled skips %v, want 2", n)
	}
}

func TestOutboxWithFileSender(t *testing.T) {
	f := newFixture(t, mailServerOptions{})
	l := f.needLog(t)
	dir := filepath.Join(t.TempDir(), "mail")
	sender := notify.FileSender{Dir: dir}
	at := now()
	conf := confirmed(t, "req-1", "creator-1", "ANNA10", at)
	rej := rejected(t, "req-2", "creator-2", "No.", at)
	l.append(t, conf, rej)

	stop := l.run(t, f.outbox(t, notify.Config{Sender: sender}), "")
	l.waitCaughtUp(t, notify.Group)
	stop()
	files := emlFiles(t, dir)
	if len(files) != 2 {
		t.Fatalf("files %v, want two .eml files", files)
	}
	before := map[string][]byte{}
	for _, env := range []schemas.Envelope{conf, rej} {
		raw, err := os.ReadFile(filepath.Join(dir, env.EventID+".eml"))
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		before[env.EventID] = raw
		if id := parseMessage(t, raw).header.Get("Message-ID"); id != "<"+env.EventID+"@attrib>" {
			t.Errorf("Message-ID %q", id)
		}
	}

	// Replay with the markers lost (a fresh prefix): the files alone keep
	// every message single.
	lost, _ := redisMarkers(t)
	replay := notify.Group + "-replay"
	l.run(t, f.outbox(t, notify.Config{Sender: sender, Markers: lost}), replay)
	l.waitCaughtUp(t, replay)
	if files := emlFiles(t, dir); len(files) != 2 {
		t.Errorf("files after replay %v, want the same two", files)
	}
	for id, raw := range before {
		again, err := os.ReadFile(filepath.Join(dir, id+".eml"))
		if err != nil || string(again) != string(raw) {
			t.Errorf("%s.eml changed on replay (err %v)", id, err)
		}
	}
}

func emlFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("read dir: %v", err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
		if !strings.HasSuffix(e.Name(), ".eml") {
			t.Errorf("stray file %s in the mail dir", e.Name())
		}
	}
	return names
}

func TestOutboxInvalidAddressDoesNotBlockThePartition(t *testing.T) {
	f := newFixture(t, mailServerOptions{})
	l := f.needLog(t)
	f.dir.addCreator("creator-bad", "Bad", "anna at example.com")
	at := now()
	bad := confirmed(t, "req-1", "creator-bad", "BAD1", at)
	good := confirmed(t, "req-2", "creator-2", "BORIS5", at.Add(time.Second))
	l.append(t, bad, good) // one brand: one partition, in this order

	l.run(t, f.outbox(t, notify.Config{}), "")
	f.mail.waitFor(t, 1)
	l.waitCaughtUp(t, notify.Group)

	got := byMessageID(t, f.mail.received())
	if _, ok := got["<"+good.EventID+"@attrib>"]; !ok || len(got) != 1 {
		t.Errorf("emails %v, want only the later decision's", got)
	}
	state, err := f.markers.State(context.Background(), bad.EventID)
	if err != nil || !strings.HasPrefix(state, "failed ") || !strings.Contains(state, "anna at example.com") {
		t.Errorf("marker of the bad address %q (%v), want failed with the address", state, err)
	}
	if n := f.counter(t, "attrib_email_failed_total", "cause=invalid_address"); n != 1 {
		t.Errorf("failed counter %v, want 1", n)
	}
}

func TestOutboxWaitsForTheDirectoryToCatchUp(t *testing.T) {
	f := newFixture(t, mailServerOptions{})
	l := f.needLog(t)
	dec := confirmed(t, "req-1", "creator-new", "NEW1", now())
	l.append(t, dec)

	l.run(t, f.outbox(t, notify.Config{}), "")
	deadline := time.Now().Add(10 * time.Second)
	for f.counter(t, "attrib_email_retries_total") < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the outbox did not retry the unknown creator")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := len(f.mail.received()); got != 0 {
		t.Fatalf("%d emails before the creator is known", got)
	}
	f.dir.addCreator("creator-new", "New", "new@example.com")
	f.mail.waitFor(t, 1)
	l.waitCaughtUp(t, notify.Group)
	if got := f.mail.received(); len(got) != 1 || got[0].to[0] != "new@example.com" {
		t.Errorf("emails %v, want one to new@example.com", got)
	}
}

func TestOutboxDeadLettersUndecodableDecision(t *testing.T) {
	f := newFixture(t, mailServerOptions{})
	l := f.needLog(t)
	at := now()
	poison := schemas.Envelope{
		EventID: schemas.NewEventID(), Type: schemas.TypeCodeConfirmed, SchemaVersion: 1,
		AggregateKey: brand, BrandID: brand, OccurredAt: at, RecordedAt: at,
		Payload: []byte(`{"request_id":"req-1","code":5}`),
	}
	good := confirmed(t, "req-2", "creator-1", "ANNA10", at)
	l.append(t, poison, good)

	o := f.outbox(t, notify.Config{})
	l.run(t, o, "")
	f.mail.waitFor(t, 1)
	l.waitCaughtUp(t, notify.Group)

	bounds, err := l.store.Bounds(context.Background(), "attrib.dlq."+o.SubscriberConfig().Group)
	if err != nil {
		t.Fatalf("dead-letter topic: %v", err)
	}
	dead := int64(0)
	for _, b := range bounds {
		dead += b.End - b.First
	}
	if dead != 1 {
		t.Errorf("%d dead letters, want 1", dead)
	}
}

func TestOutboxSkipsStaleDecisions(t *testing.T) {
	f := newFixture(t, mailServerOptions{})
	l := f.needLog(t)
	old := confirmed(t, "req-1", "creator-1", "OLD1", now().Add(-30*24*time.Hour))
	fresh := confirmed(t, "req-2", "creator-1", "NEW1", now())
	l.append(t, old, fresh)

	l.run(t, f.outbox(t, notify.Config{}), "")
	f.mail.waitFor(t, 1)
	l.waitCaughtUp(t, notify.Group)

	got := byMessageID(t, f.mail.received())
	if _, ok := got["<"+fresh.EventID+"@attrib>"]; !ok || len(got) != 1 {
		t.Errorf("emails %v, want only the fresh decision's", got)
	}
	if n := f.counter(t, "attrib_email_skipped_total", "reason=stale"); n != 1 {
		t.Errorf("stale skips %v, want 1", n)
	}
	if state, _ := f.markers.State(context.Background(), old.EventID); state != "" {
		t.Errorf("stale decision has marker %q, want none", state)
	}
}

// batchOf wraps envelopes in a batch, as the subscriber hands them over.
func batchOf(envs ...schemas.Envelope) *eventstore.Batch {
	b := &eventstore.Batch{Topic: schemas.TopicCatalog}
	for i, e := range envs {
		b.Messages = append(b.Messages, eventstore.Message{Topic: schemas.TopicCatalog, Offset: int64(i), Envelope: e})
	}
	return b
}

// gatedSender blocks in Send until released, to hold a claim.
type gatedSender struct {
	next    notify.Sender
	entered chan struct{}
	release chan struct{}
}

func (g *gatedSender) Send(ctx context.Context, m notify.Message) error {
	g.entered <- struct{}{}
	<-g.release
	return g.next.Send(ctx, m)
}

func TestOutboxConcurrentOwnersSendOnce(t *testing.T) {
	// During a rebalance the former owner finishes its batch while the new
	// owner already fetches it: the claim lets only one of them send.
	f := newFixture(t, mailServerOptions{})
	dec := confirmed(t, "req-1", "creator-1", "ANNA10", now())
	gate := &gatedSender{next: f.smtpSender(t), entered: make(chan struct{}, 1), release: make(chan struct{})}
	first := f.outbox(t, notify.Config{Sender: gate})
	second := f.outbox(t, notify.Config{})
	ctx := context.Background()

	done := make(chan error, 1)
	go func() { done <- first.Handle(ctx, batchOf(dec)) }()
	<-gate.entered
	if err := second.Handle(ctx, batchOf(dec)); err == nil || !strings.Contains(err.Error(), "another worker") {
		t.Errorf("second owner while the first sends: %v, want a retryable 'another worker' error", err)
	}
	close(gate.release)
	if err := <-done; err != nil {
		t.Fatalf("first owner: %v", err)
	}
	if err := second.Handle(ctx, batchOf(dec)); err != nil {
		t.Errorf("second owner after the first sent: %v, want nil (settled)", err)
	}
	if got := len(f.mail.received()); got != 1 {
		t.Errorf("%d emails, want 1", got)
	}
}

func TestOutboxSMTPAnswers(t *testing.T) {
	tests := []struct {
		name      string
		rcpt      error
		wantErr   bool   // Handle returns an error: retried
		wantState string // marker prefix afterwards
		cause     string
	}{
		{name: "unknown mailbox is permanent", rcpt: &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}, wantState: "failed ", cause: "refused"},
		{name: "relay denied is retried", rcpt: &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "relay access denied"}, wantErr: true, wantState: ""},
		{name: "mailbox busy is retried", rcpt: &smtp.SMTPError{Code: 450, EnhancedCode: smtp.EnhancedCode{4, 2, 1}, Message: "mailbox busy"}, wantErr: true, wantState: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, mailServerOptions{rcpt: func(string) error { return tc.rcpt }})
			dec := confirmed(t, "req-1", "creator-1", "ANNA10", now())
			err := f.outbox(t, notify.Config{}).Handle(context.Background(), batchOf(dec))
			if (err != nil) != tc.wantErr {
				t.Errorf("Handle: %v, want error %v", err, tc.wantErr)
			}
			state, serr := f.markers.State(context.Background(), dec.EventID)
			if serr != nil || !strings.HasPrefix(state, tc.wantState) || (tc.wantState == "" && state != "") {
				t.Errorf("marker %q (%v), want %q...", state, serr, tc.wantState)
			}
			if tc.cause != "" {
				if n := f.counter(t, "attrib_email_failed_total", "cause="+tc.cause); n != 1 {
					t.Errorf("failed{cause=%s} = %v, want 1", tc.cause, n)
				}
			}
		})
	}
}

// flakyMarkers fails MarkSent while broken is set.
type flakyMarkers struct {
	notify.Markers
	broken atomic.Bool
}

func (m *flakyMarkers) MarkSent(ctx context.Context, id string) error {
	if m.broken.Load() {
		return errors.New("redis: connection refused")
	}
	return m.Markers.MarkSent(ctx, id)
}

func TestOutboxDoesNotResendWhenOnlyTheMarkerFailed(t *testing.T) {
	f := newFixture(t, mailServerOptions{})
	markers := &flakyMarkers{Markers: f.markers}
	markers.broken.Store(true)
	o := f.outbox(t, notify.Config{Markers: markers})
	dec := confirmed(t, "req-1", "creator-1", "ANNA10", now())

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	err := o.Handle(ctx, batchOf(dec))
	cancel()
	if err == nil || !strings.Contains(err.Error(), "marker is not stored") {
		t.Fatalf("Handle with Redis down after the send: %v, want a 'marker is not stored' error", err)
	}
	markers.broken.Store(false)
	if err := o.Handle(context.Background(), batchOf(dec)); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if got := len(f.mail.received()); got != 1 {
		t.Errorf("%d emails, want 1: the retry must only store the marker", got)
	}
	if state, _ := f.markers.State(context.Background(), dec.EventID); state != "sent" {
		t.Errorf("marker %q, want sent", state)
	}
}

func TestOutboxHandlesPartitionsConcurrently(t *testing.T) {
	f := newFixture(t, mailServerOptions{})
	o := f.outbox(t, notify.Config{})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dec := confirmed(t, "req", "creator-1", "C"+string(rune('A'+i)), now())
			if err := o.Handle(context.Background(), batchOf(dec, dec)); err != nil {
				t.Errorf("Handle: %v", err)
			}
		}()
	}
	wg.Wait()
	if got := len(f.mail.received()); got != 8 {
		t.Errorf("%d emails, want 8", got)
	}
}

func TestConfigValidate(t *testing.T) {
	markers := notify.NewRedisMarkers(nil, notify.RedisMarkersConfig{Retention: 7 * 24 * time.Hour})
	forever := notify.NewRedisMarkers(nil, notify.RedisMarkersConfig{Retention: -1})
	base := notify.Config{Directory: newDirectory(), Markers: markers, Sender: notify.FileSender{Dir: t.TempDir()}}
	tests := []struct {
		name    string
		edit    func(*notify.Config)
		wantErr string
	}{
		{name: "markers expire with MaxAge default", edit: func(*notify.Config) {}, wantErr: "not at least a day longer"},
		{name: "short MaxAge", edit: func(c *notify.Config) { c.MaxAge = 24 * time.Hour }},
		{name: "no MaxAge with expiring markers", edit: func(c *notify.Config) { c.MaxAge = -1 }, wantErr: "unlimited"},
		{name: "no MaxAge with markers kept forever", edit: func(c *notify.Config) { c.MaxAge, c.Markers = -1, forever }},
		{name: "no sender", edit: func(c *notify.Config) { c.Sender = nil }, wantErr: "no sender"},
		{name: "no directory", edit: func(c *notify.Config) { c.Directory = nil }, wantErr: "no directory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base
			tc.edit(&cfg)
			err := cfg.Validate()
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("Validate: %v, want %q", err, tc.wantErr)
			}
		})
	}
	if err := (&notify.Config{Directory: newDirectory(), Markers: notify.NewRedisMarkers(nil, notify.RedisMarkersConfig{}), Sender: notify.FileSender{}}).Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
}
