package notify_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/attrib-engine/attrib/eventstore"
	"github.com/attrib-engine/attrib/internal/kafkatest"
	"github.com/attrib-engine/attrib/internal/testenv"
	"github.com/attrib-engine/attrib/notify"
	"github.com/attrib-engine/attrib/schemas"
)

func testLogger() *slog.Logger { return kafkatest.Logger() }

// ---- an SMTP server in the test process ----

// received is one message a mailServer accepted.
type received struct {
	from string
	to   []string
	raw  []byte
}

// mailServer is a real SMTP server (go-smtp) on 127.0.0.1:0 that keeps what
// it accepts.
type mailServer struct {
	t    testing.TB
	addr string
	srv  *smtp.Server

	mu       sync.Mutex
	msgs     []received
	attempts int // DATA commands seen
	// failData answers the first failData DATA commands with 451.
	failData int
	// rcpt, when set, answers RCPT TO; nil accepts everyone.
	rcpt func(to string) error
	// users, when set, requires AUTH PLAIN with one of them.
	users map[string]string
	tls   bool // STARTTLS offered (or implicit TLS when implicit)
}

type mailServerOptions struct {
	failData int
	rcpt     func(to string) error
	users    map[string]string
	// cert enables STARTTLS; with implicit, TLS from the first byte.
	cert     *tls.Certificate
	implicit bool
}

func startMailServer(t testing.TB, opts mailServerOptions) *mailServer {
	t.Helper()
	ms := &mailServer{t: t, failData: opts.failData, rcpt: opts.rcpt, users: opts.users}
	ms.srv = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &mailSession{ms: ms}, nil
	}))
	ms.srv.Domain = "mx.test"
	ms.srv.ReadTimeout = 10 * time.Second
	ms.srv.WriteTimeout = 10 * time.Second
	ms.srv.AllowInsecureAuth = opts.cert == nil
	ms.srv.ErrorLog = quietLog{}
	var l net.Listener
	var err error
	if opts.cert != nil {
		ms.srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*opts.cert}}
		ms.tls = true
	}
	if opts.implicit {
		l, err = tls.Listen("tcp", "127.0.0.1:0", ms.srv.TLSConfig)
		ms.srv.TLSConfig = nil // no STARTTLS inside TLS
	} else {
		l, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	ms.addr = l.Addr().String()
	done := make(chan struct{})
	go func() { defer close(done); _ = ms.srv.Serve(l) }()
	// Closing the listener too: a Close before Serve has registered it
	// (a test that skips at once) would leave Serve accepting forever.
	t.Cleanup(func() { _ = ms.srv.Close(); _ = l.Close(); <-done })
	return ms
}

// quietLog drops the server's log lines (refused commands are the point
// of some tests).
type quietLog struct{}

func (quietLog) Printf(string, ...any) {}
func (quietLog) Println(...any)        {}

// url returns the smtp:// URL of the server.
func (ms *mailServer) url(scheme, userinfo, query string) string {
	if userinfo != "" {
		userinfo += "@"
	}
	return scheme + "://" + userinfo + ms.addr + "?from=" + query
}

func (ms *mailServer) received() []received {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return append([]received(nil), ms.msgs...)
}

func (ms *mailServer) dataAttempts() int {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.attempts
}

// waitFor waits until the server holds n messages, or fails the test.
func (ms *mailServer) waitFor(t testing.TB, n int) []received {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := ms.received()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %d emails; have %d", n, len(got))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type mailSession struct {
	ms     *mailServer
	authed bool
	from   string
	to     []string
}

func (s *mailSession) AuthMechanisms() []string {
	if s.ms.users == nil {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *mailSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if want, ok := s.ms.users[user]; ok && want == pass {
			s.authed = true
			return nil
		}
		return smtp.ErrAuthFailed
	}), nil
}

func (s *mailSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.ms.users != nil && !s.authed {
		return smtp.ErrAuthRequired
	}
	s.from = from
	return nil
}

func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.ms.rcpt != nil {
		if err := s.ms.rcpt(to); err != nil {
			return err
		}
	}
	s.to = append(s.to, to)
	return nil
}

func (s *mailSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.ms.mu.Lock()
	defer s.ms.mu.Unlock()
	s.ms.attempts++
	if s.ms.attempts <= s.ms.failData {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "local problem, try again later"}
	}
	s.ms.msgs = append(s.ms.msgs, received{from: s.from, to: append([]string(nil), s.to...), raw: raw})
	return nil
}

func (s *mailSession) Reset()        { s.from, s.to = "", nil }
func (s *mailSession) Logout() error { return nil }

// selfSigned returns a certificate for 127.0.0.1 and a pool that trusts it.
func selfSigned(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "mx.test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, pool
}

// ---- reading a message back ----

// parsed is a message as a mail client sees it.
type parsed struct {
	header  mail.Header
	subject string
	body    string
}

func parseMessage(t testing.TB, raw []byte) parsed {
	t.Helper()
	if bytes.Contains(bytes.ReplaceAll(raw, []byte("\r\n"), nil), []byte("\n")) {
		t.Errorf("message has bare LF line ends:\n%s", raw)
	}
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("parse message: %v\n%s", err, raw)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	if err != nil {
		t.Fatalf("decode subject %q: %v", m.Header.Get("Subject"), err)
	}
	if cte := m.Header.Get("Content-Transfer-Encoding"); cte != "quoted-printable" {
		t.Fatalf("Content-Transfer-Encoding %q, want quoted-printable", cte)
	}
	body, err := io.ReadAll(quotedprintable.NewReader(m.Body))
	if err != nil {
		t.Fatalf("decode body: %v", err)
	}
	return parsed{header: m.Header, subject: subject, body: strings.ReplaceAll(string(body), "\r\n", "\n")}
}

// ---- directory ----

// directory is an in-memory notify.Directory.
type directory struct {
	mu       sync.Mutex
	creators map[string][2]string // id -> name, email
	offers   map[string][2]string // brand/offer -> offer name, brand name
}

func newDirectory() *directory {
	return &directory{creators: map[string][2]string{}, offers: map[string][2]string{}}
}

func (d *directory) addCreator(id, name, email string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.creators[id] = [2]string{name, email}
}

func (d *directory) addOffer(brandID, offerID, offerName, brandName string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.offers[brandID+"/"+offerID] = [2]string{offerName, brandName}
}

func (d *directory) Creator(_ context.Context, id string) (string, string, bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c, ok := d.creators[id]
	return c[0], c[1], ok, nil
}

func (d *directory) Offer(_ context.Context, brandID, offerID string) (string, string, bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	o, ok := d.offers[brandID+"/"+offerID]
	return o[0], o[1], ok, nil
}

// ---- Redis ----

// redisMarkers returns markers under a prefix of their own, deleted at the
// end of the test.
func redisMarkers(t testing.TB) (*notify.RedisMarkers, *redis.Client) {
	t.Helper()
	client, prefix := testenv.Redis(t)
	return notify.NewRedisMarkers(client, notify.RedisMarkersConfig{Prefix: prefix}), client
}

// ---- the log ----

// logEnv is a broker, a store and the catalog topic of one test.
type logEnv struct {
	store *eventstore.Store
}

func startLog(t testing.TB) *logEnv {
	t.Helper()
	s := kafkatest.NewStore(t, 2, schemas.TopicCatalog)
	return &logEnv{store: s}
}

func (l *logEnv) append(t testing.TB, envs ...schemas.Envelope) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.store.Append(ctx, schemas.TopicCatalog, envs...); err != nil {
		t.Fatalf("append: %v", err)
	}
}

// run runs the outbox in group until the returned stop is called (or the
// test ends); stop waits for the subscriber to leave.
func (l *logEnv) run(t testing.TB, o *notify.Outbox, group string) (stop func()) {
	t.Helper()
	cfg := o.SubscriberConfig()
	if group != "" {
		cfg.Group = group
	}
	cfg.Logger = testLogger()
	cfg.SessionTimeout, cfg.RebalanceTimeout = 6*time.Second, 6*time.Second
	cfg.HeartbeatInterval = 300 * time.Millisecond
	cfg.RetryMin, cfg.RetryMax = 20*time.Millisecond, 300*time.Millisecond
	sub, err := eventstore.NewSubscriber(l.store, cfg)
	if err != nil {
		t.Fatalf("new subscriber: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sub.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("subscriber %s: %v", cfg.Group, err)
				}
			case <-time.After(30 * time.Second):
				t.Errorf("subscriber %s did not stop within 30s", cfg.Group)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// waitCaughtUp waits until group has committed every record of the catalog
// topic: everything in the log is settled, so no further email can come.
func (l *logEnv) waitCaughtUp(t testing.TB, group string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		lag, err := l.store.GroupLag(ctx, group, schemas.TopicCatalog)
		cancel()
		total := int64(0)
		for _, n := range lag {
			total += n
		}
		if err == nil && total == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %s did not catch up within 20s: lag %v, err %v", group, lag, err)
		}
		time.Sleep(30 * time.Millisecond)
	}
}

// ---- events ----

const brand = "brand-1"

func confirmed(t testing.TB, request, creator, code string, at time.Time) schemas.Envelope {
	t.Helper()
	env, err := schemas.NewEnvelopeFor(schemas.CodeConfirmed{
		RequestID: request, BrandID: brand, OfferID: "offer-1", CreatorID: creator,
		Platform: "tiktok", Code: code, NormalizedCode: strings.ToUpper(code),
	}, at, at)
	if err != nil {
		t.Fatalf("envelope: %v", err)
	}
	return env
}

func rejected(t testing.TB, request, creator, reason string, at time.Time) schemas.Envelope {
	t.Helper()
	env, err := schemas.NewEnvelopeFor(schemas.CodeRejected{
		RequestID: request, BrandID: brand, OfferID: "offer-1", CreatorID: creator, Reason: reason,
	}, at, at)
	if err != nil {
		t.Fatalf("envelope: %v", err)
	}
	return env
}

func offerPublished(t testing.TB, at time.Time) schemas.Envelope {
	t.Helper()
	env, err := schemas.NewEnvelopeFor(schemas.OfferPublished{
		OfferID: "offer-2", BrandID: brand, Name: "Winter",
		Payout:    schemas.Payout{Type: schemas.PayoutFixed, Value: "100.00", Currency: "RUB"},
		Countries: []string{"RU"}, Platforms: []string{"vk"}, HoldDays: 14, Status: schemas.OfferActive,
	}, at, at)
	if err != nil {
		t.Fatalf("envelope: %v", err)
	}
	return env
}

// ---- metrics ----

// counter returns the value of a counter (with labels "k=v" pairs matching)
// in reg, 0 when absent.
func counter(t testing.TB, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			for _, want := range labels {
				k, v, _ := strings.Cut(want, "=")
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == k && lp.GetValue() == v {
						found = true
					}
				}
				if !found {
					continue metric
				}
			}
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

// isPermanent reports whether err wraps a *notify.PermanentError.
func isPermanent(err error) bool {
	var p *notify.PermanentError
	return errors.As(err, &p)
}
