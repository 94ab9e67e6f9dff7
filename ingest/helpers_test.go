package ingest_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/attrib-engine/attrib/credentials"
	"github.com/attrib-engine/attrib/eventstore"
	"github.com/attrib-engine/attrib/eventstore/embedded"
	"github.com/attrib-engine/attrib/ingest"
	"github.com/attrib-engine/attrib/internal/testenv"
	"github.com/attrib-engine/attrib/projections/rediscatalog"
	"github.com/attrib-engine/attrib/schemas"
)

func testLogger() *slog.Logger {
	level := slog.LevelError + 4 // quiet: the tests provoke warnings on purpose
	if os.Getenv("ATTRIB_TEST_VERBOSE") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// rigOptions tunes a rig.
type rigOptions struct {
	// dataDir: a broker with its log on disk, for tests that stop and
	// restart it.
	dataDir      string
	syncWrites   bool
	writeTimeout time.Duration
	maxBodyBytes int64
	// dedupe replaces the Redis dedupe of the rig (which still exists).
	dedupe func(*redis.Client, string) ingest.Deduper
	// redisHook is added to the rig's Redis client.
	redisHook redis.Hook
	// poolSize of the Redis client (0: go-redis' default).
	poolSize int
}

// rig is one webhook on a real HTTP server, a real embedded broker with the
// orders topic, and the real Redis: the catalog projection holds one brand,
// whose secret derives from a fresh master key, and the dedupe keys live
// under a prefix of the test's own. Everything goes at the end of the test.
type rig struct {
	t       testing.TB
	broker  *embedded.Broker
	store   *eventstore.Store
	redis   *redis.Client
	prefix  string
	dedupe  *ingest.RedisDedupe
	hook    *ingest.Webhook
	srv     *httptest.Server
	client  *http.Client
	reg     *prometheus.Registry
	brand   string
	secret  string
	secrets *ingest.CachedSecrets
}

func newRig(t testing.TB, o rigOptions) *rig {
	t.Helper()
	r := &rig{t: t, reg: prometheus.NewRegistry(), brand: testenv.UniqueName("b_")}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	var err error
	r.redis, r.prefix = testenv.Redis(t, func(opt *redis.Options) {
		if o.poolSize > 0 {
			opt.PoolSize = o.poolSize
		}
	})
	if o.redisHook != nil {
		r.redis.AddHook(o.redisHook)
	}

	r.broker = startBroker(t, embedded.Config{DataDir: o.dataDir, SyncWrites: o.syncWrites})
	wt := o.writeTimeout
	if wt == 0 {
		wt = 10 * time.Second
	}
	r.store, err = eventstore.Open(ctx, eventstore.Config{Brokers: r.broker.Addrs(), Partitions: 4, WriteTimeout: wt, Logger: testLogger()})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = r.store.Close() })
	if err := r.store.EnsureTopics(ctx, eventstore.TopicSpec{Name: schemas.TopicOrders, Partitions: 4}); err != nil {
		t.Fatalf("ensure topic: %v", err)
	}

	// The brand, as registration leaves it: in the catalog projection,
	// with a salt its secret derives from.
	proj, err := rediscatalog.New(rediscatalog.Config{Client: r.redis, Prefix: r.prefix + "catalog:", Logger: testLogger()})
	if err != nil {
		t.Fatalf("projection: %v", err)
	}
	salt := testenv.UniqueName("salt-")
	env, err := schemas.NewEnvelopeFor(schemas.BrandRegistered{BrandID: r.brand, Name: "Acme",
		APIKeyHash: credentials.Hash("ak_test"), WebhookSecretSalt: salt}, time.Now(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := proj.Apply(ctx, &eventstore.Batch{Topic: schemas.TopicCatalog, Messages: []eventstore.Message{{Topic: schemas.TopicCatalog, Envelope: env}}}); err != nil {
		t.Fatalf("apply brand: %v", err)
	}
	key := make(credentials.MasterKey, 32)
	_, _ = rand.Read(key)
	r.secret = key.WebhookSecret(r.brand, salt)
	r.secrets = ingest.NewCachedSecrets(ingest.CatalogSecrets(proj, key), ingest.CacheConfig{})

	r.dedupe = &ingest.RedisDedupe{Client: r.redis, Prefix: r.prefix}
	var dd ingest.Deduper = r.dedupe
	if o.dedupe != nil {
		dd = o.dedupe(r.redis, r.prefix)
	}
	r.hook, err = ingest.New(ingest.Config{Log: r.store, Secrets: r.secrets, Dedupe: dd,
		MaxBodyBytes: o.maxBodyBytes, Logger: testLogger(), Registerer: r.reg})
	if err != nil {
		t.Fatalf("new webhook: %v", err)
	}
	r.srv = httptest.NewServer(r.hook)
	t.Cleanup(r.srv.Close)
	r.client = &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 512}}
	return r
}

func startBroker(t testing.TB, cfg embedded.Config) *embedded.Broker {
	t.Helper()
	cfg.Logger = testLogger()
	b, err := embedded.Start(cfg)
	if err != nil {
		t.Fatalf("start embedded broker: %v", err)
	}
	var once sync.Once
	t.Cleanup(func() { once.Do(b.Close) })
	return b
}

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// reply is a decoded answer.
type reply struct {
	status     int
	Accepted   int `json:"accepted"`
	Duplicates int `json:"duplicates"`
	Error      struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field"`
	} `json:"error"`
	raw    string
	header http.Header
}

// post sends body signed with the brand's secret at the current time.
func (r *rig) post(body string) reply {
	r.t.Helper()
	return r.send(body, map[string]string{
		ingest.HeaderBrandID:   r.brand,
		ingest.HeaderSignature: ingest.Sign(r.secret, time.Now(), []byte(body)),
	})
}

// send posts body with the given headers.
func (r *rig) send(body string, headers map[string]string) reply {
	r.t.Helper()
	req, err := http.NewRequest(http.MethodPost, r.srv.URL+"/v1/webhooks/orders", strings.NewReader(body))
	if err != nil {
		r.t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	return r.do(req)
}

func (r *rig) do(req *http.Request) reply {
	r.t.Helper()
	resp, err := r.client.Do(req)
	if err != nil {
		r.t.Fatalf("POST: %v", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		r.t.Fatalf("read answer: %v", err)
	}
	rep := reply{status: resp.StatusCode, raw: string(raw), header: resp.Header}
	if err := json.Unmarshal(raw, &rep); err != nil {
		r.t.Fatalf("answer %d is not JSON: %q", resp.StatusCode, raw)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		r.t.Errorf("Content-Type %q, want application/json", ct)
	}
	return rep
}

// expect fails the test unless the answer has the status (and, for
// errors, the code and field).
func (rep reply) expect(t testing.TB, status int, code, field string) {
	t.Helper()
	if rep.status != status || rep.Error.Code != code || rep.Error.Field != field {
		t.Fatalf("got %d %s, want %d code %q field %q", rep.status, rep.raw, status, code, field)
	}
	if status >= 400 && rep.Error.Message == "" {
		t.Errorf("error without message: %s", rep.raw)
	}
}

// expectAccepted fails the test unless the answer is 202 with the counts.
func (rep reply) expectAccepted(t testing.TB, accepted, duplicates int) {
	t.Helper()
	if rep.status != http.StatusAccepted || rep.Accepted != accepted || rep.Duplicates != duplicates {
		t.Fatalf("got %d %s, want 202 accepted %d duplicates %d", rep.status, rep.raw, accepted, duplicates)
	}
}

// events reads the orders topic back from the log.
func (r *rig) events() []schemas.Envelope {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var mu sync.Mutex
	var out []schemas.Envelope
	err := r.store.Replay(ctx, schemas.TopicOrders, eventstore.HandlerFunc(func(_ context.Context, b *eventstore.Batch) error {
		mu.Lock()
		defer mu.Unlock()
		for i, m := range b.Messages {
			if reason, rejected := b.Rejected(i); rejected {
				r.t.Errorf("undecodable record at offset %d: %s", m.Offset, reason)
				continue
			}
			out = append(out, m.Envelope)
		}
		return nil
	}), eventstore.ReplayOptions{})
	if err != nil {
		r.t.Fatalf("replay orders: %v", err)
	}
	return out
}

// counter returns the value of a counter of the rig's registry.
func (r *rig) counter(name string, labels ...string) float64 {
	r.t.Helper()
	mfs, err := r.reg.Gather()
	if err != nil {
		r.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue metric
				}
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	return 0
}

// event returns one webhook event object.
func event(id, typ, order string, extra string) string {
	s := fmt.Sprintf(`{"event_id":%q,"type":%q,"order_id":%q,"occurred_at":"2026-11-24T10:00:00Z"`, id, typ, order)
	if extra != "" {
		s += "," + extra
	}
	return s + "}"
}

// placed returns an order.placed event.
func placed(id, order string) string {
	return event(id, schemas.TypeOrderPlaced, order, `"promo_codes":["anna10"],"amount":"2500.00","currency":"RUB","country":"RU"`)
}

func batch(events ...string) string { return `{"events":[` + strings.Join(events, ",") + `]}` }
