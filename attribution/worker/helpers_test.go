package worker_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/attrib-engine/attrib/attribution/worker"
	"github.com/attrib-engine/attrib/catalog"
	"github.com/attrib-engine/attrib/eventstore"
	"github.com/attrib-engine/attrib/eventstore/embedded"
	"github.com/attrib-engine/attrib/internal/kafkatest"
	"github.com/attrib-engine/attrib/internal/testenv"
	"github.com/attrib-engine/attrib/projections/rediscatalog"
	"github.com/attrib-engine/attrib/schemas"
)

func testLogger() *slog.Logger { return kafkatest.Logger() }

// t0 is the start of every test's catalog history.
var t0 = time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

const day = 24 * time.Hour

// roundTrips counts a client's Redis round trips.
type roundTrips = testenv.RedisRoundTrips

// outage makes the worker's Redis connections fail while it is down.
type outage = testenv.Outage

// rig is one test's engine: an embedded broker with the three event
// topics, the catalog projection on the test Redis, and a worker whose
// Redis client counts its round trips and can be cut off.
type rig struct {
	t        testing.TB
	store    *eventstore.Store
	proj     *rediscatalog.Projection
	projRT   *roundTrips
	rdb      *redis.Client // the worker's
	workerRT *roundTrips
	outage   *outage
	clock    *clock
	reg      *prometheus.Registry
	cat      *catalogWriter
	w        *worker.Worker
	cfg      worker.Config
}

// clock is a settable clock for the worker.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// rigOption changes a rig before it starts.
type rigOption func(*rigOptions)

type rigOptions struct {
	worker     []func(*worker.Config)
	dataDir    string
	partitions int
}

// partitions sets the partition count of the event topics (default 4).
func partitions(n int) rigOption {
	return func(o *rigOptions) { o.partitions = n }
}

// workerConfig changes the worker's configuration (which holds the rig's
// store, clients and index when f runs).
func workerConfig(f func(*worker.Config)) rigOption {
	return func(o *rigOptions) { o.worker = append(o.worker, f) }
}

// onDisk keeps the embedded broker's log in a directory, as the
// single-machine setup does (its in-memory log copies a segment whenever
// it grows, which would weigh on a benchmark).
func onDisk(t testing.TB) rigOption {
	dir := t.TempDir()
	return func(o *rigOptions) { o.dataDir = dir }
}

func newRig(t testing.TB, opts ...rigOption) *rig {
	t.Helper()
	r := &rig{t: t, projRT: &roundTrips{}, workerRT: &roundTrips{}, outage: &outage{}, clock: &clock{now: time.Now()}, reg: prometheus.NewRegistry()}
	projClient, projPrefix := testenv.Redis(t)
	projClient.AddHook(r.projRT)
	var workerPrefix string
	r.rdb, workerPrefix = testenv.Redis(t, func(o *redis.Options) {
		addr := o.Addr
		o.Dialer = func(ctx context.Context, network, _ string) (net.Conn, error) {
			return r.outage.Dial(ctx, network, addr)
		}
		o.MaxRetries = -1
	})
	r.rdb.AddHook(r.workerRT)

	ro := rigOptions{partitions: 4}
	for _, o := range opts {
		o(&ro)
	}
	b := kafkatest.StartBroker(t, embedded.Config{DataDir: ro.dataDir})
	r.store = kafkatest.OpenStore(t, b.Addrs(), ro.partitions, schemas.Topics()...)

	var err error
	r.proj, err = rediscatalog.New(rediscatalog.Config{Client: projClient, Prefix: projPrefix, Logger: testLogger()})
	if err != nil {
		t.Fatalf("new projection: %v", err)
	}

	r.cfg.Store, r.cfg.Redis, r.cfg.Prefix, r.cfg.Index = r.store, r.rdb, workerPrefix, codeIndex{r.proj}
	r.cfg.Now, r.cfg.Logger, r.cfg.Registerer, r.cfg.HoldTick, r.cfg.EvictInterval = r.clock.Now, testLogger(), r.reg, 50*time.Millisecond, 50*time.Millisecond
	for _, f := range ro.worker {
		f(&r.cfg)
	}
	r.w, err = worker.New(r.cfg)
	if err != nil {
		t.Fatalf("new worker: %v", err)
	}
	t.Cleanup(func() {
		r.outage.Down.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := r.proj.Drop(ctx); err != nil {
			t.Errorf("drop projection keys: %v", err)
		}
		if err := r.w.Drop(ctx); err != nil {
			t.Errorf("drop worker keys: %v", err)
		}
		_ = r.rdb.Close()
	})
	r.cat = &catalogWriter{t: t, store: r.store, brands: map[string]*catalog.Brand{}}
	return r
}

// run runs a subscriber until the returned stop function is called or the
// test ends; stop waits for it to leave the group.
func (r *rig) run(cfg eventstore.SubscriberConfig) (stop func()) {
	r.t.Helper()
	cfg.Logger = testLogger()
	cfg.SessionTimeout, cfg.RebalanceTimeout, cfg.HeartbeatInterval = 6*time.Second, 6*time.Second, 300*time.Millisecond
	cfg.RetryMin, cfg.RetryMax = 20*time.Millisecond, 300*time.Millisecond
	_, stop = kafkatest.RunSubscriber(r.t, r.store, cfg)
	return stop
}

func (r *rig) runProjection() (stop func()) { return r.run(r.proj.SubscriberConfig()) }
func (r *rig) runWorker() (stop func())     { return r.run(r.w.SubscriberConfig()) }

// waitIndex waits until the projection has applied the whole catalog topic.
func (r *rig) waitIndex() {
	r.t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(30 * time.Second)
	for {
		bounds, err := r.store.Bounds(ctx, schemas.TopicCatalog)
		if err != nil {
			r.t.Fatalf("bounds: %v", err)
		}
		wms, err := r.proj.Watermarks(ctx)
		if err != nil {
			r.t.Fatalf("watermarks: %v", err)
		}
		behind := 0
		for _, b := range bounds {
			if wms[b.Partition].Offset < b.End {
				behind++
			}
		}
		if behind == 0 {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("projection not caught up after 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitCommitted waits until the worker's group has committed every event
// of attrib.orders.
func (r *rig) waitCommitted() {
	r.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		lag, err := r.store.GroupLag(context.Background(), worker.Group, schemas.TopicOrders)
		if err != nil {
			r.t.Fatalf("group lag: %v", err)
		}
		total := int64(0)
		for _, l := range lag {
			total += l
		}
		if total == 0 {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("the worker's group is still %d events behind after 30s", total)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// append appends events to a topic.
func (r *rig) append(topic string, envs ...schemas.Envelope) {
	r.t.Helper()
	if err := r.store.Append(context.Background(), topic, envs...); err != nil {
		r.t.Fatalf("append %d events to %s: %v", len(envs), topic, err)
	}
}

// catalogWriter decides catalog commands with the catalog's deciders, as
// the command processor does, and appends their events with the given
// occurred times.
type catalogWriter struct {
	t      testing.TB
	store  *eventstore.Store
	brands map[string]*catalog.Brand
	log    []schemas.Envelope
}

// do decides cmd, which must succeed, at time when, and returns its events
// without appending them.
func (c *catalogWriter) decide(when time.Time, cmd catalog.BrandCommand) []schemas.Envelope {
	c.t.Helper()
	b := c.brands[cmd.AggregateKey()]
	if b == nil {
		b = &catalog.Brand{}
		c.brands[cmd.AggregateKey()] = b
	}
	evs, err := catalog.Decide(b, cmd, nil)
	if err != nil {
		c.t.Fatalf("%T: %v", cmd, err)
	}
	var out []schemas.Envelope
	for _, ev := range evs {
		env, err := schemas.NewEnvelopeFor(ev, when, when)
		if err != nil {
			c.t.Fatalf("envelope of %T: %v", ev, err)
		}
		dec, err := schemas.DecodeTrusted(env)
		if err != nil {
			c.t.Fatalf("decode %s: %v", env.Type, err)
		}
		b.Evolve(env, dec)
		out = append(out, env)
	}
	c.log = append(c.log, out...)
	return out
}

// do decides cmd at when and appends its events to the catalog topic.
func (c *catalogWriter) do(when time.Time, cmd catalog.BrandCommand) {
	c.t.Helper()
	envs := c.decide(when, cmd)
	if err := c.store.Append(context.Background(), schemas.TopicCatalog, envs...); err != nil {
		c.t.Fatalf("append catalog events: %v", err)
	}
}

func sha(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func fixed(v string) schemas.Payout {
	return schemas.Payout{Type: schemas.PayoutFixed, Value: v, Currency: "RUB"}
}

func percent(v string) schemas.Payout {
	return schemas.Payout{Type: schemas.PayoutPercent, Value: v, Currency: "RUB"}
}

// Ids of the standard catalog.
const (
	acme                                = "brand-acme"
	offerFixed, offerPct, offerHold     = "offer-fixed", "offer-pct", "offer-hold"
	anna, boris, carl, dan, eve         = "creator-anna", "creator-boris", "creator-carl", "creator-dan", "creator-eve"
	reqAnna, reqBoris, reqRevoked       = "req-anna", "req-boris", "req-revoked"
	reqLate, reqHold                    = "req-late", "req-hold"
	codeAnna, codeBoris, codeRevoked    = "ANNA10", "BORIS", "GONE1"
	codeLate, codeHold                  = "LATE", "HOLDME"
	placedAt                            = 3 * time.Hour // orders are placed at t0+3h
	fixedPayout, holdPayout, pctPercent = "150.00", "100.00", "10"
)

// standardCatalog writes a brand with a fixed offer (no hold), a percent
// offer (no hold) and a fixed offer with a one-day hold; codes confirmed at
// t0+1h (ANNA10, BORIS, HOLDME), a code revoked at t0+2h (GONE1) and one
// confirmed only at t0+10h (LATE).
func (c *catalogWriter) standardCatalog() {
	c.t.Helper()
	c.do(at(0), catalog.RegisterBrand{BrandID: acme, Name: "Acme", APIKeyHash: sha("key-acme"), WebhookSecretSalt: "salt-acme"})
	offers := []catalog.PublishOffer{
		{BrandID: acme, OfferID: offerFixed, Name: "Fixed", Payout: fixed(fixedPayout), Countries: []string{"RU"}, Platforms: []string{"instagram"}},
		{BrandID: acme, OfferID: offerPct, Name: "Percent", Payout: percent(pctPercent), Countries: []string{"RU"}, Platforms: []string{"instagram"}},
		{BrandID: acme, OfferID: offerHold, Name: "Held", Payout: fixed(holdPayout), Countries: []string{"RU"}, Platforms: []string{"instagram"}, HoldDays: 1},
	}
	for i, o := range offers {
		c.do(at(time.Duration(i+1)*time.Minute), o)
	}
	reqs := []catalog.RequestCode{
		{BrandID: acme, OfferID: offerFixed, RequestID: reqAnna, CreatorID: anna, Platform: "instagram"},
		{BrandID: acme, OfferID: offerPct, RequestID: reqBoris, CreatorID: boris, Platform: "instagram"},
		{BrandID: acme, OfferID: offerFixed, RequestID: reqRevoked, CreatorID: carl, Platform: "instagram"},
		{BrandID: acme, OfferID: offerFixed, RequestID: reqLate, CreatorID: dan, Platform: "instagram"},
		{BrandID: acme, OfferID: offerHold, RequestID: reqHold, CreatorID: anna, Platform: "instagram"},
	}
	for i, r := range reqs {
		c.do(at(10*time.Minute+time.Duration(i)*time.Minute), r)
	}
	c.do(at(time.Hour), catalog.ConfirmCode{BrandID: acme, RequestID: reqAnna, Code: codeAnna})
	c.do(at(time.Hour+time.Minute), catalog.ConfirmCode{BrandID: acme, RequestID: reqBoris, Code: codeBoris})
	c.do(at(time.Hour+2*time.Minute), catalog.ConfirmCode{BrandID: acme, RequestID: reqRevoked, Code: codeRevoked})
	c.do(at(time.Hour+3*time.Minute), catalog.ConfirmCode{BrandID: acme, RequestID: reqHold, Code: codeHold})
	c.do(at(2*time.Hour), catalog.RevokeCode{BrandID: acme, Code: codeRevoked})
	c.do(at(10*time.Hour), catalog.ConfirmCode{BrandID: acme, RequestID: reqLate, Code: codeLate})
}

// Order events.

var shopSeq atomic.Int64

func orderEnv(t testing.TB, ev schemas.Event, when time.Time) schemas.Envelope {
	t.Helper()
	env, err := schemas.NewEnvelopeFor(ev, when, time.Now())
	if err != nil {
		t.Fatalf("envelope of %T: %v", ev, err)
	}
	return env
}

func shopID() string { return "shop-" + strconv.FormatInt(shopSeq.Add(1), 10) }

func placed(t testing.TB, orderID string, when time.Time, amount string, codes ...string) schemas.Envelope {
	return orderEnv(t, schemas.OrderPlaced{OrderID: orderID, BrandID: acme, ShopEventID: shopID(), PromoCodes: codes, Amount: amount, Currency: "RUB", Country: "RU"}, when)
}

func confirmed(t testing.TB, orderID string, when time.Time) schemas.Envelope {
	return orderEnv(t, schemas.OrderConfirmed{OrderID: orderID, BrandID: acme, ShopEventID: shopID()}, when)
}

func cancelled(t testing.TB, orderID string, when time.Time) schemas.Envelope {
	return orderEnv(t, schemas.OrderCancelled{OrderID: orderID, BrandID: acme, ShopEventID: shopID()}, when)
}

func refunded(t testing.TB, orderID string, when time.Time, amount string) schemas.Envelope {
	return orderEnv(t, schemas.OrderRefunded{OrderID: orderID, BrandID: acme, ShopEventID: shopID(), RefundAmount: amount}, when)
}

// redelivered is env appended again by a retried append: the same event.
func redelivered(env schemas.Envelope) schemas.Envelope { return env }

// resent is env sent again by the shop: a new envelope (event id) with the
// same shop event.
func resent(env schemas.Envelope) schemas.Envelope {
	env.EventID = schemas.NewEventID()
	return env
}

// row is an attribution row read back from attrib.attributions.
type row struct {
	Type     string
	EventID  string
	Version  uint64
	Status   string
	Earnings string
	Net      string
	Reason   string
	Winner   string
	Cause    string
	payload  string
}

func (r row) String() string {
	return fmt.Sprintf("%s v%d status=%s earnings=%s net=%s reason=%s winner=%s cause=%s",
		r.Type, r.Version, r.Status, r.Earnings, r.Net, r.Reason, r.Winner, r.Cause)
}

// readRows reads attrib.attributions from the start to its end: every row
// by order id (of brand acme), in log order. Each row must pass its JSON
// Schema (the worker writes them without the check).
func readRows(t testing.TB, s *eventstore.Store) map[string][]row {
	t.Helper()
	out := make(map[string][]row)
	var mu sync.Mutex
	h := eventstore.HandlerFunc(func(_ context.Context, b *eventstore.Batch) error {
		for _, m := range b.Messages {
			ev, err := schemas.Decode(m.Envelope)
			if err != nil {
				t.Errorf("row at %d/%d: %v", m.Partition, m.Offset, err)
				continue
			}
			r := row{Type: m.Envelope.Type, EventID: m.Envelope.EventID, payload: string(m.Envelope.Payload)}
			var orderID string
			switch p := ev.(type) {
			case *schemas.OrderAttributed:
				orderID, r.Version, r.Status, r.Earnings, r.Net, r.Winner = p.OrderID, p.Version, p.Status, p.Earnings, p.NetAmount, p.PromoCode
			case *schemas.OrderEarningsAdjusted:
				orderID, r.Version, r.Status, r.Earnings, r.Net, r.Winner, r.Cause = p.OrderID, p.Version, p.Status, p.Earnings, p.NetAmount, p.PromoCode, p.Cause
			case *schemas.OrderUnattributed:
				orderID, r.Version, r.Reason = p.OrderID, p.Version, p.Reason
			default:
				t.Errorf("row at %d/%d: unexpected %s", m.Partition, m.Offset, m.Envelope.Type)
				continue
			}
			mu.Lock()
			out[orderID] = append(out[orderID], r)
			mu.Unlock()
		}
		return nil
	})
	if err := s.Replay(context.Background(), schemas.TopicAttributions, h, eventstore.ReplayOptions{}); err != nil {
		t.Fatalf("read attributions: %v", err)
	}
	return out
}

// final returns the row with the highest version of each order, and
// checks that rows of one version are the same row (a re-emission after a
// crash or an outage repeats the row exactly).
func final(t testing.TB, rows map[string][]row) map[string]row {
	t.Helper()
	out := make(map[string]row, len(rows))
	for id, rs := range rows {
		byVersion := map[uint64]row{}
		for _, r := range rs {
			if prev, ok := byVersion[r.Version]; ok && (prev.payload != r.payload || prev.Type != r.Type) {
				t.Errorf("order %s: two different rows of version %d:\n%s\n%s", id, r.Version, prev.payload, r.payload)
			}
			byVersion[r.Version] = r
			if best, ok := out[id]; !ok || r.Version > best.Version {
				out[id] = r
			}
		}
	}
	return out
}

// want is the expected final row of an order. typ "attributed" accepts
// order.attributed and order.earnings_adjusted (which one a row is depends
// on how the events fell into batches); empty cause and winner are not
// checked.
type want struct {
	typ, status, earnings, reason, cause, winner string
	version                                      uint64
}

func (w want) matches(r row) bool {
	return w.typeMatches(r.Type) && r.Status == w.status && r.Earnings == w.earnings && r.Reason == w.reason &&
		r.Version == w.version && (w.cause == "" || r.Cause == w.cause) && (w.winner == "" || r.Winner == w.winner)
}

// waitRows waits until every order's final row matches its want, or fails
// the test listing the differences.
func waitRows(t testing.TB, s *eventstore.Store, wants map[string]want, timeout time.Duration) map[string][]row {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		rows := readRows(t, s)
		fin := final(t, rows)
		var diffs []string
		for id, w := range wants {
			if r, ok := fin[id]; !ok || !w.matches(r) {
				diffs = append(diffs, fmt.Sprintf("  %s: got %v, want %+v", id, fin[id], w))
			}
		}
		if len(diffs) == 0 {
			return rows
		}
		if time.Now().After(deadline) {
			slices.Sort(diffs)
			t.Fatalf("after %v the final rows differ:\n%s", timeout, strings.Join(diffs, "\n"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// dump returns a canonical text of the worker's keys: each key (without
// the prefix) with its hash fields or sorted-set members, sorted.
func dump(t testing.TB, rdb *redis.Client, prefix string) string {
	t.Helper()
	ctx := context.Background()
	var keys []string
	iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Fatalf("scan: %v", err)
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	var b strings.Builder
	for _, k := range keys {
		typ, err := rdb.Type(ctx, k).Result()
		if err != nil {
			t.Fatalf("type %s: %v", k, err)
		}
		fmt.Fprintf(&b, "%s %s\n", strings.TrimPrefix(k, prefix), typ)
		switch typ {
		case "string":
			v, err := rdb.Get(ctx, k).Bytes()
			if err != nil {
				t.Fatalf("get %s: %v", k, err)
			}
			if !strings.HasPrefix(strings.TrimPrefix(k, prefix), "order:") {
				fmt.Fprintf(&b, "  %s\n", v)
				break
			}
			// An order's state: its snapshot.
			fmt.Fprintf(&b, "  %x\n", v)
		case "hash":
			m, err := rdb.HGetAll(ctx, k).Result()
			if err != nil {
				t.Fatalf("hgetall %s: %v", k, err)
			}
			if strings.TrimPrefix(k, prefix) == "brands" {
				// The brands' numbers depend on which batch met a brand
				// first: only the brands are compared.
				var brands []string
				for f := range m {
					if strings.HasPrefix(f, "b") {
						brands = append(brands, f[1:])
					}
				}
				slices.Sort(brands)
				fmt.Fprintf(&b, "  %s\n", strings.Join(brands, " "))
				break
			}
			var fields []string
			for f := range m {
				fields = append(fields, f)
			}
			slices.Sort(fields)
			for _, f := range fields {
				fmt.Fprintf(&b, "  %s = %s\n", f, m[f])
			}
		case "list":
			// A schedule bucket: its distinct entries, with brands for
			// their numbers.
			entries, err := rdb.LRange(ctx, k, 0, -1).Result()
			if err != nil {
				t.Fatalf("lrange %s: %v", k, err)
			}
			hold := strings.HasPrefix(strings.TrimPrefix(k, prefix), "hq:")
			var lines []string
			for _, e := range entries {
				num, orderID, sec, err := worker.ScheduleEntry(e, hold)
				if err != nil {
					t.Fatalf("%s: entry %x: %v", k, e, err)
				}
				brand, err := rdb.HGet(ctx, prefix+"brands", fmt.Sprintf("n%d", num)).Result()
				if err != nil {
					t.Fatalf("%s: brand number %d: %v", k, num, err)
				}
				lines = append(lines, fmt.Sprintf("  %s/%s %d", brand, orderID, sec))
			}
			slices.Sort(lines)
			for _, l := range slices.Compact(lines) {
				fmt.Fprintln(&b, l)
			}
		case "zset":
			zs, err := rdb.ZRangeWithScores(ctx, k, 0, -1).Result()
			if err != nil {
				t.Fatalf("zrange %s: %v", k, err)
			}
			for _, z := range zs {
				fmt.Fprintf(&b, "  %v %v\n", z.Score, z.Member)
			}
		}
	}
	return b.String()
}

// counter returns the value of a counter (summed over its labels) or the
// sample count of a histogram in reg.
func counter(t testing.TB, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			switch {
			case m.GetCounter() != nil:
				total += m.GetCounter().GetValue()
			case m.GetHistogram() != nil:
				total += float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return total
}

// counterWith returns the value of the counter name with label = value.
func counterWith(t testing.TB, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// sumOf returns the sum of the histogram name.
func sumOf(t testing.TB, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				total += m.GetHistogram().GetSampleSum()
			}
		}
	}
	return total
}

// batcher returns a function that makes batches of attrib.orders'
// partition for a handler called directly, at consecutive offsets.
func batcher(partition int) func(envs []schemas.Envelope) *eventstore.Batch {
	offset := int64(0)
	return func(envs []schemas.Envelope) *eventstore.Batch {
		b := &eventstore.Batch{Topic: schemas.TopicOrders, Partition: partition}
		for _, env := range envs {
			raw, _ := json.Marshal(env)
			b.Messages = append(b.Messages, eventstore.Message{Topic: schemas.TopicOrders, Offset: offset, Key: []byte(env.AggregateKey), Value: raw, Envelope: env})
			offset++
		}
		b.Next = offset
		return b
	}
}

// codeIndex is the worker's index on the real Redis catalog projection, as
// cmd/attrib adapts it.
type codeIndex struct{ *rediscatalog.Projection }

func (c codeIndex) Watermarks(ctx context.Context) (map[int]worker.Watermark, error) {
	wms, err := c.Projection.Watermarks(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[int]worker.Watermark, len(wms))
	for p, w := range wms {
		out[p] = worker.Watermark{Offset: w.Offset, OccurredAt: w.OccurredAt}
	}
	return out, nil
}
